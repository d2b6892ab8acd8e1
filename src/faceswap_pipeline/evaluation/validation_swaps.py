"""Is training getting there? Held-out faces swapped (A→B and B→A) and judged as a converted video
is.

At every validation the same few held-out aligned crops of each person are swapped to the other
person, pasted back into their crop as the conversion pastes a face into a frame (landmark-hull
mask, Reinhard colour transfer, alpha blend), then described with dlib: their distance to the
target's identity centre, the share nearer the target than the source, and the fine detail kept
against the real face (`detail.detail_ratio`). `ValidationSwapCallback` logs them per step, so a
run's MLflow chart shows when the swap becomes convincing, and can stop training once
`verdict.judge` says it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn

from faceswap_pipeline.compositing.blend import alpha_blend
from faceswap_pipeline.compositing.colour import reinhard_lab
from faceswap_pipeline.compositing.masks import landmark_hull_mask
from faceswap_pipeline.evaluation.detail import detail_ratio, inner_face_detail
from faceswap_pipeline.evaluation.identity import distances_to_centre
from faceswap_pipeline.evaluation.verdict import Verdict, VerdictThresholds, judge, judge_each
from faceswap_pipeline.model.augmentation import crop_model_region, model_region_box
from faceswap_pipeline.model.networks import SwapModel

logger = logging.getLogger(__name__)

DIRECTIONS = (("a", "b"), ("b", "a"))


@dataclass(frozen=True)
class HeldOutFace:
    """A held-out aligned face: the crop, RGB uint8 ``(S, S, 3)``, and its 68 landmarks, ``(68, 2)``
    crop px."""

    crop: np.ndarray
    landmarks68: np.ndarray


def spread_picks(available: int, count: int) -> np.ndarray:
    """Indices of at most `count` of `available` held-out faces, spread evenly over them (held-out
    faces come in clip order, so the picks span the clip): sorted, unique, int."""
    if available <= 0 or count <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, available - 1, min(count, available)).round().astype(int))


def pick_held_out_faces(items: Sequence, count: int) -> list[HeldOutFace]:
    """The faces a person's validation swaps judge: `count` of their held-out faces that have
    landmarks, spread over them (`spread_picks`), loaded.

    Args:
        items: the person's held-out `model.data.FaceItem`s, in clip order.
        count: how many to pick (`training.validation_swaps.faces`).
    """
    usable = [item for item in items if item.landmarks68 is not None]
    return [
        HeldOutFace(usable[i].load(), usable[i].landmarks68)
        for i in spread_picks(len(usable), count)
    ]


def composite_swap(
    crop: np.ndarray, landmarks: np.ndarray, swapped_region: np.ndarray, coverage: float
) -> np.ndarray:
    """Paste a swapped model region back into its aligned crop, as the conversion does in a frame.

    Args:
        crop: ``(S, S, 3)`` uint8 RGB, the aligned crop the model region was cut from.
        landmarks: ``(68, 2)`` the crop's face landmarks, crop pixels (the mask's hull).
        swapped_region: ``(T, T, 3)`` uint8 RGB, the model's output for the region.
        coverage: the model's coverage (the region's share of the crop's side, centred).

    Returns:
        ``(S, S, 3)`` uint8 RGB: the crop with the swapped face blended in.
    """
    size = crop.shape[0]
    x0, y0, x1, y1 = model_region_box(size, coverage)
    # The region's exact (fractional) place: an affine map, as the conversion warps the face back.
    scale = (x1 - x0) / swapped_region.shape[1]
    matrix = np.array([[scale, 0.0, x0 + 0.5 * scale - 0.5], [0.0, scale, y0 + 0.5 * scale - 0.5]])
    pasted = cv2.warpAffine(
        swapped_region, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    mask = landmark_hull_mask(landmarks, (size, size))
    return alpha_blend(reinhard_lab(pasted, crop, mask), crop, mask)


def held_out_regions(
    faces: Sequence[HeldOutFace], input_size: int, coverage: float
) -> torch.Tensor:
    """The region of each face's crop the model sees: ``(len(faces), 3, input_size, input_size)``
    float in [0, 1], on the CPU."""
    crops = torch.from_numpy(np.stack([face.crop for face in faces])).permute(0, 3, 1, 2)
    return crop_model_region(crops.float() / 255.0, input_size, coverage)


def perfect_model_detail(
    faces: Sequence[HeldOutFace], input_size: int, coverage: float
) -> np.ndarray:
    """Each face as a perfect model at `input_size` would draw it (its own model region pasted
    back into its crop, as `composite_swap` pastes a swap): its `detail.inner_face_detail`,
    ``(len(faces),)`` float (NaN for a face without landmarks)."""
    if not faces:
        return np.zeros(0)
    regions = held_out_regions(faces, input_size, coverage)
    regions = regions.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return np.array(
        [
            float("nan")
            if face.landmarks68 is None
            else inner_face_detail(
                composite_swap(face.crop, face.landmarks68, region, coverage), face.landmarks68
            )
            for face, region in zip(faces, regions, strict=True)
        ]
    )


def _landmark_box(landmarks: np.ndarray) -> np.ndarray:
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    return np.array([x0, y0, x1, y1], dtype=np.float64)


@dataclass(frozen=True)
class SwappedHeldOut:
    """One direction's held-out faces through the model: its output and the real faces' own model
    regions, each uint8 RGB ``(N, T, T, 3)``, T = the model's input size."""

    swapped: np.ndarray
    real: np.ndarray


def swap_held_out(
    model: SwapModel, faces: Mapping[str, Sequence[HeldOutFace]]
) -> dict[str, SwappedHeldOut]:
    """Each person's held-out faces swapped to the other person (torch only: this half runs where
    dlib is not, as `benchmarks/gpu_check.py` does on a device machine).

    Args:
        model: the swap model (its mode is left as it was), on any device.
        faces: ``{"a": [HeldOutFace], "b": [...]}``; a person without faces is left out.

    Returns:
        ``{"a": SwappedHeldOut, "b": ...}`` keyed by the source person, faces in the given order.
    """
    config = model.config
    swaps: dict[str, SwappedHeldOut] = {}
    for source, target in DIRECTIONS:
        held_out = list(faces.get(source, ()))
        if not held_out:
            continue
        region = held_out_regions(held_out, config.input_size, config.coverage)
        swapped = model.swap(region, target).float().mul(255).round().to(torch.uint8)
        real = region.mul(255).round().to(torch.uint8)
        swaps[source] = SwappedHeldOut(
            swapped.permute(0, 2, 3, 1).cpu().numpy(), real.permute(0, 2, 3, 1).cpu().numpy()
        )
    return swaps


def judge_swapped_held_out(
    faces: Mapping[str, Sequence[HeldOutFace]],
    swaps: Mapping[str, SwappedHeldOut],
    centres: Mapping[str, np.ndarray],
    coverage: float,
    thresholds: VerdictThresholds | None = None,
) -> tuple[dict[str, float], Verdict]:
    """Paste each swapped face back into its crop and judge it with dlib (`validation_swap_scores`'
    second half).

    Args:
        faces: the held-out faces `swap_held_out` was given.
        swaps: its result.
        centres: ``{"a": (128,), "b": (128,)}`` each person's identity centre (mean dlib
            descriptor).
        coverage: the model's coverage (where its region sits in the crop).
        thresholds: the verdict's.

    Returns:
        As `validation_swap_scores`.
    """
    # dlib here, not with the module: the swapping half must import where dlib is not installed.
    from faceswap_pipeline.faces.identity import face_descriptor, landmarks68

    metrics: dict[str, float] = {}
    all_target, all_nearer, all_detail, all_ceiling = [], [], [], []
    verdicts: dict[str, Verdict] = {}
    for source, target in DIRECTIONS:
        if source not in swaps:
            continue
        held_out = list(faces[source])
        # The real faces' own regions, pasted back the same way: what a perfect model at this input
        # size would keep of the detail (the resolution's ceiling on detail kept).
        for face, own in zip(held_out, swaps[source].real, strict=True):
            perfect = composite_swap(face.crop, face.landmarks68, own, coverage)
            all_ceiling.append(detail_ratio(perfect, face.crop, face.landmarks68))
        to_target, to_source, details = [], [], []
        for face, output in zip(held_out, swaps[source].swapped, strict=True):
            picture = composite_swap(face.crop, face.landmarks68, output, coverage)
            points = landmarks68(picture, _landmark_box(face.landmarks68))
            descriptor = face_descriptor(picture, points)[None]
            to_target.append(float(distances_to_centre(descriptor, centres[target])[0]))
            to_source.append(float(distances_to_centre(descriptor, centres[source])[0]))
            details.append(detail_ratio(picture, face.crop, face.landmarks68))
        nearer = np.less(to_target, to_source)
        direction = f"{source}_to_{target}"
        metrics[f"val_swap/distance_to_target_{direction}"] = float(np.mean(to_target))
        metrics[f"val_swap/share_nearer_target_{direction}"] = float(nearer.mean())
        metrics[f"val_swap/detail_kept_{direction}"] = float(np.nanmedian(details))
        verdicts[f"{source.upper()}→{target.upper()}"] = verdict = judge(
            metrics[f"val_swap/share_nearer_target_{direction}"],
            metrics[f"val_swap/distance_to_target_{direction}"],
            metrics[f"val_swap/detail_kept_{direction}"],
            thresholds,
        )
        metrics[f"val_swap/convincing_{direction}"] = float(verdict.convincing)
        all_target += to_target
        all_nearer += nearer.tolist()
        all_detail += details
    if not all_target:
        raise ValueError("validation_swap_scores() needs held-out faces of at least one person")
    metrics["val_swap/distance_to_target"] = float(np.mean(all_target))
    metrics["val_swap/share_nearer_target"] = float(np.mean(all_nearer))
    metrics["val_swap/detail_kept"] = float(np.nanmedian(all_detail))
    metrics["val_swap/detail_ceiling"] = float(np.nanmedian(all_ceiling))
    verdict = judge_each(verdicts)
    metrics["val_swap/convincing"] = float(verdict.convincing)
    return metrics, verdict


def validation_swap_scores(
    model: SwapModel,
    faces: Mapping[str, Sequence[HeldOutFace]],
    centres: Mapping[str, np.ndarray],
    thresholds: VerdictThresholds | None = None,
) -> tuple[dict[str, float], Verdict]:
    """Swap each person's held-out faces to the other person and judge them.

    Args:
        model: the swap model (its mode is left as it was).
        faces: ``{"a": [HeldOutFace], "b": [...]}``.
        centres: ``{"a": (128,), "b": (128,)}`` each person's identity centre (mean dlib
            descriptor).
        thresholds: the verdict's.

    Returns:
        ``(metrics, verdict)``: ``val_swap/distance_to_target``, ``val_swap/share_nearer_target``,
        ``val_swap/detail_kept`` (median), ``val_swap/detail_ceiling`` (the detail kept by the real
        faces' own model regions pasted back: a perfect model's, the most this input size allows),
        ``val_swap/convincing`` (1 or 0: 1 when each direction is), and per direction
        ``val_swap/<metric>_a_to_b`` / ``_b_to_a`` (``convincing`` too); the verdict, each
        direction judged on its own (`verdict.judge_each`): the conversion swaps one way, so a
        pooled figure could pass on the other direction's strength.
    """
    swaps = swap_held_out(model, faces)
    return judge_swapped_held_out(faces, swaps, centres, model.config.coverage, thresholds)


def _direction_figures(metrics: Mapping[str, float]) -> list[str]:
    """``"A→B 100% nearer the target, distance 0.53, detail kept 0.24"`` per direction measured."""
    said = []
    for source, target in DIRECTIONS:
        direction = f"{source}_to_{target}"
        if f"val_swap/detail_kept_{direction}" not in metrics:
            continue
        said.append(
            f"{source.upper()}→{target.upper()}"
            f" {metrics[f'val_swap/share_nearer_target_{direction}']:.0%} nearer the target,"
            f" distance {metrics[f'val_swap/distance_to_target_{direction}']:.2f},"
            f" detail kept {metrics[f'val_swap/detail_kept_{direction}']:.2f}"
        )
    return said


class ValidationSwapCallback(L.Callback):
    """After every validation: swap the held-out faces, log the figures, stop once convincing if
    asked.

    Args:
        faces: ``{"a": [HeldOutFace], "b": [...]}`` (a few per person: ~0.15 s each on a CPU).
        centres: each person's identity centre, ``{"a": (128,), "b": (128,)}``.
        thresholds: the verdict's.
        stop_when_convincing: end training at the first validation whose verdict is "convincing".
    """

    def __init__(
        self,
        faces: Mapping[str, Sequence[HeldOutFace]],
        centres: Mapping[str, np.ndarray],
        thresholds: VerdictThresholds | None = None,
        stop_when_convincing: bool = False,
    ) -> None:
        self.faces = faces
        self.centres = centres
        self.thresholds = thresholds or VerdictThresholds()
        self.stop_when_convincing = stop_when_convincing
        self.latest: dict[str, float] = {}
        self.latest_verdict: Verdict | None = None
        self.stopped = False

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Each step is validated once (`model.trainer.run_training` validates after the fit only
        # a last step the fit did not).
        if trainer.sanity_checking:
            return
        convincing = False
        if trainer.global_rank == 0:
            self.latest, self.latest_verdict = validation_swap_scores(
                pl_module.network, self.faces, self.centres, self.thresholds
            )
            convincing = self.latest_verdict.convincing
            for trainer_logger in trainer.loggers:
                trainer_logger.log_metrics(self.latest, step=trainer.global_step)
            logger.info(
                "validation swaps at step %d: %s (a perfect model at %d px keeps %.2f of the"
                " detail): %s",
                trainer.global_step,
                "; ".join(_direction_figures(self.latest)),
                pl_module.network.config.input_size,
                self.latest["val_swap/detail_ceiling"],
                self.latest_verdict.text,
            )
        # Rank 0 judges; every rank must agree to stop, or DDP would wait forever.
        convincing = trainer.strategy.broadcast(convincing, src=0)
        if self.stop_when_convincing and convincing and trainer.state.fn == TrainerFn.FITTING:
            self.stopped = True
            trainer.should_stop = True
            logger.info("training.stop_when_convincing: stopping at step %d", trainer.global_step)
