r"""Where a trained pair's detail goes: each checkpoint's held-out faces reconstructed (A→A, B→B)
and swapped (A→B, B→A), pasted back into their crops as the validation swaps are, and measured.

For each checkpoint (a pair training's `last.ckpt`, e.g. one `time_to_convincing.py` leaves in its
preview folder), the judged network (the moving average where the run keeps one) draws the held-out
faces of both people, the same faces the training holds out (its `val_fraction` and `val_max_faces`,
then `--faces` spread over them). Per direction, medians over the faces:
- **detail kept**: `evaluation.detail.detail_ratio`, the validation swaps' figure (drawn face over
  the real one, inner face at 40 px);
- **following the source**: the correlation of the drawn face's Laplacian with the real face's
  inside the same inner face. A reconstruction should follow it closely; a swap follows the
  source's pose and expression (eye and mouth edges in the same places) but should not carry its
  texture, so a swap whose detail rises with this figure is copying the source (glasses, teeth,
  hair), one whose detail rises without it draws its own.
A swap that reconstructs each person sharply but keeps little detail when swapped has a decoder
that does not carry over to the other person's codes; one that keeps little in both is soft.

Before the checkpoints, a row of **the people's own faces**: what a perfect model at the
checkpoints' input size would keep. For A→A and B→B the real faces' own model regions pasted back
(the validation's `detail_ceiling`, per direction). A→B and B→A have no true answer; their stand-in
is the target's own faces pasted back the same way, each source face against the `--matched`
faces of the target (of all the target's faces) whose mouths open the most alike, over the source
face's real detail: the detail the target's own face has at that size with that mouth (an open
mouth's teeth and lips are much of a face's detail; eyes and brows are not matched). A swap far
above that row draws texture the target does not have (the source's glasses, patterns of its own);
the following figure tells which.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml
from shared_faces import PROJECT, SHARED_VIDEOS, extract_clip, loaders, log_warnings_only
from time_to_convincing import CLIPS

from faceswap_pipeline.evaluation.detail import (
    DETAIL_FACE_PX,
    detail_ratio,
    inner_face_detail,
    inner_faces,
    mouth_opening,
    target_own_detail,
)
from faceswap_pipeline.evaluation.validation_swaps import (
    DIRECTIONS,
    HeldOutFace,
    composite_swap,
    held_out_regions,
    perfect_model_detail,
    pick_held_out_faces,
    spread_picks,
)
from faceswap_pipeline.faces.quality import grey_laplacian
from faceswap_pipeline.model.lightning_module import SwapLightningModule, read_checkpoint_info
from faceswap_pipeline.model.networks import SwapModel

PRESET = PROJECT / "conf" / "base" / "parameters_training.yml"


def held_out_faces(
    pair: tuple[str, str], count: int, cache: Path
) -> tuple[dict[str, list[HeldOutFace]], dict[str, list[HeldOutFace]]]:
    """Each person's held-out faces as the training holds them out (the preset's `val_fraction`
    and `val_max_faces`), `count` of them spread over the span, and up to 200 of all the person's
    faces spread over the clip: ``({"a": [...], "b": [...]}, {"a": [...], "b": [...]})``."""
    from faceswap_pipeline.pipelines.training.nodes import face_items, select_training_faces

    params = yaml.safe_load(PRESET.read_text())["training"]
    clips = [extract_clip(SHARED_VIDEOS / CLIPS[name], cache) for name in pair]
    (crops_a, table_a), (crops_b, table_b) = clips
    faces_a, faces_b = loaders(crops_a), loaders(crops_b)
    table = select_training_faces(faces_a, table_a, faces_b, table_b, params)
    held_out, every = {}, {}
    for person, faces in (("a", faces_a), ("b", faces_b)):
        rows = table[(table["person"] == person) & (table["split"] == "val")]
        # As `bank_rows` keeps at most `val_max_faces`, spread over the held-out span.
        rows = rows.iloc[spread_picks(len(rows), params["val_max_faces"])]
        held_out[person] = pick_held_out_faces(face_items(rows, faces, person), count)
        every[person] = pick_held_out_faces(
            face_items(table[table["person"] == person], faces, person), 200
        )
    return held_out, every


def judged_network(checkpoint: Path) -> tuple[SwapModel, int]:
    """The network a run is judged by (its moving average, where it keeps one) and its step."""
    module = SwapLightningModule.load_from_checkpoint(checkpoint, map_location="cpu")
    return module.network.eval(), read_checkpoint_info(checkpoint).step


def laplacian_correlation(drawn: np.ndarray, real: np.ndarray, landmarks68: np.ndarray) -> float:
    """Correlation of the two pictures' Laplacians (grey) inside the real face's inner face, the
    face at `DETAIL_FACE_PX`: 1 when the drawn face's fine detail is the real face's."""
    regions = inner_faces([real, drawn], landmarks68, DETAIL_FACE_PX)
    if regions is None:
        return float("nan")
    pictures, mask = regions
    real_edges, drawn_edges = (grey_laplacian(picture)[mask] for picture in pictures)
    return float(np.corrcoef(real_edges, drawn_edges)[0, 1])


def own_faces_row(
    held_out: dict[str, list[HeldOutFace]],
    every: dict[str, list[HeldOutFace]],
    input_size: int,
    coverage: float,
    matched: int,
) -> dict[str, float]:
    """What a perfect model at `input_size` keeps, per direction (`measure`'s keys): a person's own
    held-out faces, and for a swap `evaluation.detail.target_own_detail` (the target's `matched`
    faces of `every` with the nearest mouth opening); medians over the source's held-out faces."""
    figures = {}
    for source, target in DIRECTIONS:
        faces = held_out[source]
        real = np.array([inner_face_detail(face.crop, face.landmarks68) for face in faces])
        own = perfect_model_detail(faces, input_size, coverage)
        figures[f"{source.upper()}→{source.upper()}"] = float(np.nanmedian(own / real))
        figures[f"{source.upper()}→{target.upper()}"] = target_own_detail(
            real,
            np.array([mouth_opening(face.landmarks68) for face in faces]),
            perfect_model_detail(every[target], input_size, coverage),
            np.array([mouth_opening(face.landmarks68) for face in every[target]]),
            matched,
        )
    return figures


def measure(network: SwapModel, faces: dict[str, list[HeldOutFace]]) -> dict[str, tuple]:
    """``{"A→A": (detail kept, following the source), "A→B": ...}``, medians over the faces."""
    config = network.config
    figures = {}
    for source, target in DIRECTIONS:
        region = held_out_regions(faces[source], config.input_size, config.coverage)
        for person in (source, target):
            with torch.no_grad():
                drawn = network(region, person).mul(255).round().to(torch.uint8)
            details, followed = [], []
            for face, output in zip(faces[source], drawn.permute(0, 2, 3, 1).numpy(), strict=True):
                picture = composite_swap(face.crop, face.landmarks68, output, config.coverage)
                details.append(detail_ratio(picture, face.crop, face.landmarks68))
                followed.append(laplacian_correlation(picture, face.crop, face.landmarks68))
            figures[f"{source.upper()}→{person.upper()}"] = (
                float(np.nanmedian(details)),
                float(np.nanmedian(followed)),
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", metavar="NAME=CKPT")
    parser.add_argument("--pair", default="d12/d18", help=f"A/B, of {', '.join(CLIPS)}")
    parser.add_argument("--faces", type=int, default=20, help="held-out faces per person")
    parser.add_argument(
        "--matched",
        type=int,
        default=5,
        help="target faces with the nearest mouth opening per source face, in the own-faces row",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "faceswap_training_faces"
    )
    args = parser.parse_args()
    log_warnings_only()

    pair = tuple(args.pair.split("/"))
    faces, every = held_out_faces(pair, args.faces, args.cache)
    print(
        f"{args.pair}: {len(faces['a'])} and {len(faces['b'])} held-out faces; detail kept /"
        " following the source (Laplacian correlation), medians"
    )
    columns = ("A→A", "B→B", "A→B", "B→A")
    print("| checkpoint | step | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---|" * len(columns))
    for index, entry in enumerate(args.checkpoints):
        name, _, path = entry.partition("=")
        network, step = judged_network(Path(path))
        if index == 0:  # the own faces' row, at the first checkpoint's input size
            config = network.config
            own = own_faces_row(faces, every, config.input_size, config.coverage, args.matched)
            cells = [f"{own[c]:.2f} / –" for c in columns]
            label = f"the people's own faces, perfect at {config.input_size} px"
            print(f"| {label} | – | " + " | ".join(cells) + " |", flush=True)
        figures = measure(network, faces)
        cells = [f"{figures[c][0]:.2f} / {figures[c][1]:.2f}" for c in columns]
        print(f"| {name} | {step} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
