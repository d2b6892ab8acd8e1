"""SHA-256 of every decoded frame of a video, and of all of them together: proves that a refactoring
left the output unchanged (same model file, same input, same parameters).

    .venv/bin/kedro run --pipelines conversion && .venv/bin/python benchmarks/frame_hashes.py
    .venv/bin/python benchmarks/frame_hashes.py data/07_model_output/swapped.mp4 --frames
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import av

PROJECT = Path(__file__).resolve().parents[1]


def frame_hashes(video: Path) -> list[str]:
    """The SHA-256 of each frame's RGB24 pixels, in decoding order."""
    with av.open(str(video)) as container:
        return [
            hashlib.sha256(frame.to_ndarray(format="rgb24").tobytes()).hexdigest()
            for frame in container.decode(video=0)
        ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "video", type=Path, nargs="?", default=PROJECT / "data/07_model_output/swapped.mp4"
    )
    parser.add_argument("--frames", action="store_true", help="print every frame's hash too")
    args = parser.parse_args()
    hashes = frame_hashes(args.video)
    if args.frames:
        for index, digest in enumerate(hashes):
            print(f"{index:6d} {digest}")
    combined = hashlib.sha256("".join(hashes).encode()).hexdigest()
    print(f"{args.video}: {len(hashes)} frames, all frames sha256 {combined}")


if __name__ == "__main__":
    main()
