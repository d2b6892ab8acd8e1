"""How much fine detail real people's faces have, in the verdict's own measure: why "detail kept"
has a floor and no ceiling.

For each clip, the median over its faces of `evaluation.detail.inner_face_detail`: the Laplacian's
share of the contrast inside the inner face with the face at `DETAIL_FACE_PX`, one picture's half of
`detail_ratio`. A perfect swap of person X onto person Y
scores about X's figure over Y's, so the spread between people is what an upper bound on detail
kept would wrongly fail.

    .venv/bin/python benchmarks/detail_between_people.py                  # the shared clips
    .venv/bin/python benchmarks/detail_between_people.py --videos CLIPS/*.mp4 --faces 40
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from shared_faces import SHARED_VIDEOS, extract_clip

from faceswap_pipeline.evaluation.detail import DETAIL_FACE_PX, inner_face_detail


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--videos",
        nargs="+",
        type=Path,
        default=sorted(SHARED_VIDEOS.glob("*.mp4")),
        help="clips of one person each (default: ../shared/data/videos)",
    )
    parser.add_argument("--faces", type=int, default=40, help="faces sampled per clip")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "faceswap_training_faces"
    )
    args = parser.parse_args()

    medians = {}
    print(f"| clip | faces | median inner-face detail at {DETAIL_FACE_PX:g} px |")
    print("|---|---:|---:|")
    for video in args.videos:
        crops, table = extract_clip(video, args.cache)
        # One person's track: a clip of several people would mix them.
        rows = table[table["track"] == table["track"].mode().iloc[0]]
        rows = rows.sample(min(args.faces, len(rows)), random_state=0)
        details = [
            inner_face_detail(
                crops[row.face_id],
                np.asarray(row.landmarks68_crop, dtype=np.float64).reshape(68, 2),
            )
            for row in rows.itertuples()
        ]
        medians[video.stem] = float(np.nanmedian(details))
        print(f"| {video.stem} | {len(details)} | {medians[video.stem]:.3g} |")
    most, least = max(medians, key=medians.get), min(medians, key=medians.get)
    print(
        f"\nmost detail / least: {medians[most] / medians[least]:.1f}x ({most} {medians[most]:.3g},"
        f" {least} {medians[least]:.3g}): a perfect swap of {most} onto {least} keeps about that"
        " much of the source's detail"
    )


if __name__ == "__main__":
    main()
