"""The verdict: is the swap convincing? Three criteria a viewer would agree with, each with a
threshold.

- identity: most swapped faces are nearer the target's identity centre than the source's;
- identity: on average they are as near the target as the target's own faces are to one another, or
  nearly (a blur that resembles nobody lies ~0.6 from both people; the target's own faces ~0.25);
- detail: the swapped face keeps most of the fine detail of the face it replaced, as a share of its
  contrast (`evaluation.detail`; a smooth oval without eye whites or a lip line keeps ~0.25 of it).

Detail has no upper bound. Noise drawn over a face scores above 1 (20 grey levels: 1.25-1.7), but so
may a real face swapped onto one with less fine structure. Measured as a share of the contrast, the
talking heads of the shared clips lie within 1.3x of one another at 40 px (d6 1.29, d12 1.12, d9
1.09, d18 1.00; `benchmarks/detail_between_people.py`), where the Laplacian's raw variance, the
measure until 2026-12-06, put them 4.3x apart (make-up, light: d9's untouched faces kept 0.36 of
d6's, below the floor however sharp a swap onto him); an evenly lit face with compression grain
scores higher (d0 2.06), a face of few pixels lower. A ceiling would fail real swaps; noise fails on
identity instead. What the share still leaves between the directions of a pair is expression: d6's
tongue and wide-open mouth, drawn by d9's decoder that never saw his mouth open wide, come out
smeared (training's validation swaps after 1,300 steps: A->B 0.25, B->A 0.48), which a viewer sees
too.

The same judgement serves the evaluation of a converted video and the validation swaps during
training, where each direction of the pair is judged on its own (`judge_each`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

# The figures judged, by their metric names (evaluation's; training logs them under `val_swap/`).
SHARE_NEARER_TARGET = "identity/share_closer_to_target"
DISTANCE_TO_TARGET = "identity/mean_distance_to_target"
DETAIL_KEPT = "detail/sharpness_ratio"


@dataclass(frozen=True)
class VerdictThresholds:
    """What "convincing" takes.

    Attributes:
        min_share_nearer_target: share of swapped faces nearer the target than the source, in [0,
            1].
        max_distance_to_target: mean dlib distance of swapped faces to the target's identity centre.
        min_detail_kept: fine detail of the swapped face over the source face's (median), >= 0.
    """

    min_share_nearer_target: float = 0.9
    max_distance_to_target: float = 0.45
    min_detail_kept: float = 0.6


@dataclass(frozen=True)
class FailedCriterion:
    """One criterion that does not hold: the figure, its value, the threshold and what it means."""

    metric: str
    value: float | None
    threshold: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "text": self.text,
        }


@dataclass(frozen=True)
class Verdict:
    """Convincing or not yet, and why not: every failed criterion, by how much."""

    convincing: bool
    failed: tuple[FailedCriterion, ...] = field(default_factory=tuple)
    thresholds: VerdictThresholds = field(default_factory=VerdictThresholds)

    @property
    def text(self) -> str:
        """One line for a person: "convincing", or "not convincing yet: <each failure>"."""
        if self.convincing:
            return "convincing"
        return "not convincing yet: " + "; ".join(criterion.text for criterion in self.failed)

    def to_dict(self) -> dict[str, Any]:
        """``{"convincing": bool, "failed": [{metric, value, threshold, text}], "text": str,
        "thresholds": {...}}`` (JSON)."""
        return {
            "convincing": self.convincing,
            "failed": [criterion.to_dict() for criterion in self.failed],
            "text": self.text,
            "thresholds": asdict(self.thresholds),
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def judge(
    share_nearer_target: float | None,
    mean_distance_to_target: float | None,
    detail_kept: float | None,
    thresholds: VerdictThresholds | None = None,
) -> Verdict:
    """Judge a swap by its three figures; a figure that could not be measured (None or NaN) fails.

    Args:
        share_nearer_target: share of swapped faces nearer the target than the source, in [0, 1].
        mean_distance_to_target: their mean distance to the target's identity centre.
        detail_kept: detail of the swapped faces over the source faces' (median ratio).
        thresholds: what convincing takes (the defaults when None).

    Returns:
        The verdict, naming each failed criterion and by how much it missed.
    """
    t = thresholds or VerdictThresholds()
    # (metric, value, threshold, passes, said when unmeasured, said when it fails), in report order.
    criteria = [
        (
            SHARE_NEARER_TARGET,
            _finite(share_nearer_target),
            t.min_share_nearer_target,
            lambda share: share >= t.min_share_nearer_target,
            "identity: no swapped face was described",
            lambda share: (
                f"identity: {share:.0%} of swapped faces are nearer the target than the source"
                f" (needs {t.min_share_nearer_target:.0%}, {t.min_share_nearer_target - share:.0%}"
                " short)"
            ),
        ),
        (
            DISTANCE_TO_TARGET,
            _finite(mean_distance_to_target),
            t.max_distance_to_target,
            lambda distance: distance <= t.max_distance_to_target,
            "identity: no distance to the target was measured",
            lambda distance: (
                f"identity: mean distance to the target {distance:.2f} (needs <="
                f" {t.max_distance_to_target:.2f}, {distance - t.max_distance_to_target:.2f} too"
                " far)"
            ),
        ),
        (
            DETAIL_KEPT,
            _finite(detail_kept),
            t.min_detail_kept,
            lambda detail: detail >= t.min_detail_kept,
            "detail: not measured",
            lambda detail: (
                f"detail: the swapped face keeps {detail:.2f} of the source face's fine detail"
                f" (needs >= {t.min_detail_kept:.2f}, {t.min_detail_kept - detail:.2f} short): it"
                " looks blurred"
            ),
        ),
    ]
    failed = [
        FailedCriterion(metric, value, threshold, unmeasured if value is None else describe(value))
        for metric, value, threshold, passes, unmeasured, describe in criteria
        if value is None or not passes(value)
    ]
    return Verdict(convincing=not failed, failed=tuple(failed), thresholds=t)


def judge_each(verdicts: Mapping[str, Verdict]) -> Verdict:
    """One verdict over several swaps judged on their own (e.g. the two directions of a pair):
    convincing only when each is, every failure named by its part (``"A→B: detail: ..."``).

    A pooled figure would hide a failing direction behind the other, and the conversion swaps one
    way: after `make run` (d6→d9) B→A kept ~0.6 of the detail, A→B 0.24, the two pooled 0.44.

    Args:
        verdicts: ``{part's name: its verdict}`` (at least one), all with the same thresholds.
    """
    if not verdicts:
        raise ValueError("judge_each() needs at least one verdict")
    failed = tuple(
        replace(criterion, text=f"{part}: {criterion.text}")
        for part, verdict in verdicts.items()
        for criterion in verdict.failed
    )
    thresholds = next(iter(verdicts.values())).thresholds
    convincing = all(verdict.convincing for verdict in verdicts.values())
    return Verdict(convincing=convincing, failed=failed, thresholds=thresholds)


def judge_metrics(
    metrics: dict[str, float], thresholds: VerdictThresholds | None = None
) -> Verdict:
    """`judge` on a flat ``{metric name: value}`` dict with the evaluation's metric names."""
    return judge(
        metrics.get(SHARE_NEARER_TARGET),
        metrics.get(DISTANCE_TO_TARGET),
        metrics.get(DETAIL_KEPT),
        thresholds,
    )
