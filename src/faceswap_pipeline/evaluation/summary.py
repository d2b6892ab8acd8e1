"""The evaluation's figures: one flat `{name: value}` dict, as MLflow metrics and the report's
table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from faceswap_pipeline.evaluation.temporal import flicker_ratio

# What each figure means, in the report's table (and the order it is shown in).
METRIC_DESCRIPTIONS = {
    "identity/share_closer_to_target": (
        "share of described swapped faces nearer the target than the source (higher is better)"
    ),
    "identity/mean_distance_to_target": (
        "mean dlib distance of swapped faces to the target's identity centre (lower is better;"
        " compare with identity/target_spread)"
    ),
    "identity/target_spread": (
        "mean dlib distance of the target's own faces to their centre: what a real face of the"
        " target scores"
    ),
    "identity/mean_distance_to_source": (
        "mean dlib distance of swapped faces to the source's identity centre (higher is better)"
    ),
    "identity/margin": (
        "mean of (distance to source - distance to target): how much nearer the target the swapped"
        " faces are"
    ),
    "identity/described_faces": "swapped faces described (a sample spread over the video)",
    "detail/sharpness_ratio": (
        "fine detail (the Laplacian's share of the contrast) inside the swapped face / the source"
        " face's, median (1: as sharp; a blur scores far below)"
    ),
    "landmarks/error": (
        "mean 68-landmark error, swapped vs source face, / inter-ocular distance (lower is better)"
    ),
    "pose/error_deg": (
        "mean head-pose difference, swapped vs source, degrees (mean of yaw, pitch, roll; the "
        "head's turn from the eye corners and nose, not the expression)"
    ),
    "pose/yaw_error_deg": "mean yaw difference, degrees",
    "pose/pitch_error_deg": "mean pitch difference, degrees",
    "pose/roll_error_deg": "mean roll difference, degrees",
    "temporal/flicker_ratio": (
        "frame-to-frame change in the face region, output / source (1.0: no added flicker)"
    ),
    "temporal/jitter_output": (
        "landmark jitter of the swapped face (second difference / inter-ocular distance)"
    ),
    "temporal/jitter_source": "landmark jitter of the source face, for comparison",
    "temporal/jitter_ratio": "landmark jitter, output / source (1.0: no added jitter)",
    "reconstruction/ssim_a": "SSIM of person A's held-out faces redrawn by the model (1 = perfect)",
    "reconstruction/l1_a": (
        "L1 of person A's held-out faces redrawn (RGB in [0, 1]; lower is better)"
    ),
    "reconstruction/faces_a": "person A's held-out faces scored",
    "reconstruction/ssim_b": "SSIM of person B's held-out faces redrawn by the model (1 = perfect)",
    "reconstruction/l1_b": "L1 of person B's held-out faces redrawn",
    "reconstruction/faces_b": "person B's held-out faces scored",
    "coverage/frames": "frames in the swapped video",
    "coverage/swapped_share": "share of frames where the source person was found and swapped",
    "coverage/face_share": "share of frames where the evaluation found a face in the source",
    "coverage/output_face_share": (
        "share of swapped frames whose swapped face a detector still finds"
    ),
}


def _mean(values: pd.Series) -> float:
    values = values.to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def video_metrics(per_frame: pd.DataFrame, target_spread: float = float("nan")) -> dict[str, float]:
    """Summarise `evaluate_swapped_video`'s per-frame table.

    Identity, detail, landmark and pose figures cover swapped frames; flicker covers frames that are
    swapped or follow a swapped one (a swap appearing or vanishing is flicker too).

    Args:
        per_frame: the table (columns `video.PER_FRAME_COLUMNS`).
        target_spread: the target's own faces' mean distance to their centre
            (`identity.identity_spread`), shown beside the swapped faces' distance.

    Returns:
        ``identity/*``, ``detail/*``, ``landmarks/*``, ``pose/*``, ``temporal/*`` and ``coverage/*``
        figures (NaN where nothing was measured).
    """
    missing = {"swapped", "landmark_error", "change_output", "distance_to_target"} - set(
        per_frame.columns
    )
    if missing:
        raise ValueError(
            f"per_frame lacks the columns {sorted(missing)}: it is not an evaluation table"
        )
    swapped = per_frame["swapped"].astype(bool)
    on_swap = per_frame[swapped]
    described = on_swap.dropna(subset=["distance_to_target", "distance_to_source"])
    around_swap = per_frame[swapped | swapped.shift(1, fill_value=False)]
    jitter_output, jitter_source = _mean(on_swap["jitter_output"]), _mean(on_swap["jitter_source"])
    detail = (
        on_swap["detail_ratio"].to_numpy(dtype=np.float64)
        if "detail_ratio" in on_swap
        else np.zeros(0)
    )
    detail = detail[np.isfinite(detail)]
    margins = described["distance_to_source"] - described["distance_to_target"]
    frames = len(per_frame)
    metrics = {
        "identity/share_closer_to_target": (
            float((described["distance_to_target"] < described["distance_to_source"]).mean())
            if len(described)
            else float("nan")
        ),
        "identity/mean_distance_to_target": _mean(described["distance_to_target"]),
        "identity/target_spread": float(target_spread),
        "identity/mean_distance_to_source": _mean(described["distance_to_source"]),
        "identity/margin": _mean(margins),
        "identity/described_faces": float(len(described)),
        "detail/sharpness_ratio": float(np.median(detail)) if len(detail) else float("nan"),
        "landmarks/error": _mean(on_swap["landmark_error"]),
        "pose/error_deg": _mean(on_swap["pose_error_deg"]),
        "temporal/flicker_ratio": flicker_ratio(
            around_swap["change_output"].to_numpy(), around_swap["change_source"].to_numpy()
        ),
        "temporal/jitter_output": jitter_output,
        "temporal/jitter_source": jitter_source,
        "temporal/jitter_ratio": (
            jitter_output / jitter_source if jitter_source > 0 else float("nan")
        ),
        "coverage/frames": float(frames),
        "coverage/swapped_share": float(swapped.mean()) if frames else float("nan"),
        "coverage/face_share": (
            float(per_frame["face_found"].astype(bool).mean()) if frames else float("nan")
        ),
        "coverage/output_face_share": (
            float(on_swap["output_face_found"].astype(bool).mean())
            if len(on_swap)
            else float("nan")
        ),
    }
    for angle in ("yaw", "pitch", "roll"):
        difference = (on_swap[f"{angle}_output"] - on_swap[f"{angle}_source"]).abs()
        metrics[f"pose/{angle}_error_deg"] = _mean(
            np.minimum(difference % 360, 360 - difference % 360)
        )
    return metrics


def metrics_table(metrics: dict[str, float]) -> pd.DataFrame:
    """The figures as a table: ``metric, value, description``, in the report's order."""
    ordered = [name for name in METRIC_DESCRIPTIONS if name in metrics]
    ordered += sorted(set(metrics) - set(ordered))
    return pd.DataFrame(
        {
            "metric": ordered,
            "value": [float(metrics[name]) for name in ordered],
            "description": [METRIC_DESCRIPTIONS.get(name, "") for name in ordered],
        }
    )
