"""Detail kept at which face size: what a perfect model of each input size and what blurs keep of a
clip's faces, measured at the picture's own scale and with the faces brought to smaller sizes.

Why `evaluation.detail.DETAIL_FACE_PX` is what it is: at a video's own scale the Laplacian's
variance is the finest pixels' (noise, compression), which no model of 64 or 128 px reproduces and
a 1 px blur removes; at a fixed face size it is the eyes, brows and lip line. A "perfect model"
here is the real face's own model region (cut at the model's input size) pasted back the way the
validation swaps paste a swapped face into the aligned crop. The rows marked "converted" go through
the conversion itself (`FaceSwapConverter`: cut from the frame, enlarged and pasted into the frame)
on the same faces' frames, with a 64 px model that hands its input back: the detail the paste into
the frame keeps of a perfect model. With `--checkpoint` a trained pair's A→B swaps are measured both
ways as well.

    .venv/bin/python benchmarks/detail_scale.py [--clip person_b_d9.mp4] [--every 40]
        [--checkpoint data/06_models/checkpoints/last.ckpt --source person_a_d6.mp4]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from shared_faces import SHARED_VIDEOS, extract_clip

from faceswap_pipeline.evaluation.detail import DETAIL_FACE_PX, detail_ratio
from faceswap_pipeline.evaluation.validation_swaps import composite_swap
from faceswap_pipeline.faces.identity import landmarks68
from faceswap_pipeline.model import ModelConfig, SwapModel
from faceswap_pipeline.model.augmentation import crop_model_region
from faceswap_pipeline.pipelines.conversion.params import parse_params
from faceswap_pipeline.swapping import video as swapping
from faceswap_pipeline.swapping.faces import FaceSwapConverter
from faceswap_pipeline.video.decode import iter_frames

FACE_SIZES = tuple(dict.fromkeys((None, 128, 96, 64, 48, 40, 32, DETAIL_FACE_PX)))
# face_extraction.margin of the presets: the conversion cuts faces as the training crops were cut.
ALIGNMENT_MARGIN = 0.2


def _as_uint8(region: torch.Tensor) -> np.ndarray:
    """A model region, float (3, T, T) in [0, 1] → RGB uint8 (T, T, 3)."""
    return region.permute(1, 2, 0).mul(255).round().clamp(0, 255).byte().numpy()


def _faces(clip: str, every: int, cache: Path):
    """Every n-th face of the clip: (aligned crop, its 68 landmarks in crop px, frame index)."""
    crops, table = extract_clip(SHARED_VIDEOS / clip, cache)
    for row in table.iloc[::every].itertuples():
        landmarks = np.asarray(row.landmarks68_crop, np.float64).reshape(68, 2)
        yield crops[row.face_id], landmarks, int(row.frame_index)


def _converted(clip: str, frame_indices: list[int], coverage: float, model):
    """The clip's frames through the conversion: (source frame, its face's 68 landmarks in frame
    px, {name: converted frame}) per frame."""
    wanted = set(frame_indices)
    frames = [frame for frame in iter_frames(SHARED_VIDEOS / clip) if frame.index in wanted]
    params = parse_params({"precision": "fp32", "identity": {"swap_all_faces": True}})
    config = ModelConfig(architecture="original", input_size=64, width=0.1, coverage=coverage)
    trained = swapping.build_converter(
        model or SwapModel(config).eval(), None, params, "b", ALIGNMENT_MARGIN
    )
    size = trained.geometry.input_size
    converters = {
        f"perfect {size} px, converted": FaceSwapConverter(
            lambda faces: faces.copy(), trained.geometry, trained.detector, None, params
        )
    }
    if model is not None:
        converters["trained A→B, converted"] = trained
    results = {name: list(converter.run(frames)) for name, converter in converters.items()}
    for position, frame in enumerate(frames):
        found = trained.detector.detect([frame.rgb])[0]
        if not len(found):
            continue
        points = landmarks68(frame.rgb, found.boxes[int(np.argmax(found.scores))])
        yield frame.rgb, points, {name: runs[position].swapped for name, runs in results.items()}


def _pictures(crop, landmarks, coverage, model) -> dict[str, np.ndarray]:
    """The variants of one aligned crop whose detail is measured against the crop."""
    faces = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255
    pictures = {}
    for size in (64, 128, 256):
        region = _as_uint8(crop_model_region(faces, size, coverage)[0])
        pictures[f"perfect {size} px"] = composite_swap(crop, landmarks, region, coverage)
    for sigma in (1, 2, 4):
        pictures[f"blur {sigma} px"] = cv2.GaussianBlur(crop, (0, 0), sigma)
    if model is not None:
        config = model.config
        region = crop_model_region(faces, config.input_size, config.coverage)
        with torch.no_grad():
            swapped = _as_uint8(model.swap(region, "b")[0].float())
        pictures["trained A→B"] = composite_swap(crop, landmarks, swapped, config.coverage)
    return pictures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", default="person_b_d9.mp4", help="a clip of ../shared/data/videos")
    parser.add_argument("--every", type=int, default=40, help="every n-th face of the clip")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a pair's last.ckpt")
    parser.add_argument("--source", default="person_a_d6.mp4", help="with --checkpoint: A's clip")
    parser.add_argument("--coverage", type=float, default=0.625)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "faceswap_training_faces"
    )
    args = parser.parse_args()

    model = None
    if args.checkpoint:
        from faceswap_pipeline.model.lightning_module import SwapLightningModule

        module = SwapLightningModule.load_from_checkpoint(args.checkpoint, map_location="cpu")
        model = module.export_model()
        model.eval()
    clip = args.source if model is not None else args.clip
    ratios: dict[tuple, list[float]] = {}
    frame_indices = []
    for crop, landmarks, frame_index in _faces(clip, args.every, args.cache):
        frame_indices.append(frame_index)
        for name, picture in _pictures(crop, landmarks, args.coverage, model).items():
            for face_px in FACE_SIZES:
                ratio = detail_ratio(picture, crop, landmarks, face_px)
                ratios.setdefault((name, face_px), []).append(ratio)
    for frame, landmarks, pictures in _converted(clip, frame_indices, args.coverage, model):
        for name, picture in pictures.items():
            for face_px in FACE_SIZES:
                ratio = detail_ratio(picture, frame, landmarks, face_px)
                ratios.setdefault((name, face_px), []).append(ratio)
    names = list(dict.fromkeys(name for name, _ in ratios))
    count = len(ratios[(names[0], None)])
    print(
        f"\ndetail kept (median of {count} faces of {clip}, in the aligned crop or, converted, in"
        " their frames), by the face size it is measured at"
    )
    sizes = ["own scale" if size is None else f"{size:g} px" for size in FACE_SIZES]
    print("| picture | " + " | ".join(sizes) + " |")
    print("|---|" + "---:|" * len(FACE_SIZES))
    for name in names:
        cells = [f"{np.nanmedian(ratios[(name, size)]):.2f}" for size in FACE_SIZES]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
