"""The evaluation report: plots over time (matplotlib) and one self-contained HTML page (PNGs
inlined)."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; figures are only saved
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from faceswap_pipeline.evaluation.verdict import VerdictThresholds


def _time_axis(per_frame: pd.DataFrame) -> np.ndarray:
    return per_frame["time_s"].to_numpy(dtype=np.float64)


def plot_identity(per_frame: pd.DataFrame, max_distance_to_target: float | None = None) -> Figure:
    """Distance of each described swapped face to the target's and the source's identity centres.

    Args:
        per_frame: `evaluate_swapped_video`'s table.
        max_distance_to_target: the verdict's threshold, drawn as a line (None: the default's).

    Returns:
        A matplotlib figure (not shown).
    """
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.subplots()
    described = per_frame.dropna(subset=["distance_to_target"])
    times = _time_axis(described)
    axes.plot(
        times, described["distance_to_target"], "o-", label="to target person", color="tab:green"
    )
    axes.plot(
        times, described["distance_to_source"], "s-", label="to source person", color="tab:red"
    )
    if max_distance_to_target is None:
        max_distance_to_target = VerdictThresholds().max_distance_to_target
    axes.axhline(
        max_distance_to_target,
        color="grey",
        linestyle="--",
        linewidth=1,
        label="convincing below (verdict)",
    )
    axes.set_xlabel("time (s)")
    axes.set_ylabel("dlib descriptor distance")
    axes.set_title("Identity of the swapped face")
    axes.legend(loc="best", fontsize="small")
    axes.grid(alpha=0.3)
    return figure


def plot_flicker(per_frame: pd.DataFrame) -> Figure:
    """Frame-to-frame change in the face region (output and source) and landmark jitter, over time.

    Args:
        per_frame: `evaluate_swapped_video`'s table.

    Returns:
        A matplotlib figure with two panels (not shown).
    """
    figure = Figure(figsize=(8, 5), layout="constrained")
    change_axes, jitter_axes = figure.subplots(2, 1, sharex=True)
    times = _time_axis(per_frame)
    change_axes.plot(
        times, per_frame["change_source"], label="source", color="tab:blue", linewidth=1
    )
    change_axes.plot(
        times, per_frame["change_output"], label="swapped", color="tab:orange", linewidth=1
    )
    swapped = per_frame["swapped"].astype(bool).to_numpy()
    if len(times) and not swapped.all():
        change_axes.fill_between(
            times,
            0,
            1,
            where=~swapped,
            transform=change_axes.get_xaxis_transform(),
            color="grey",
            alpha=0.15,
            label="not swapped",
        )
    change_axes.set_ylabel("mean |Δ luma| in face box")
    change_axes.set_title("Flicker: change since the previous frame")
    change_axes.legend(loc="upper right", fontsize="small")
    change_axes.grid(alpha=0.3)
    jitter_axes.plot(
        times, per_frame["jitter_source"], label="source", color="tab:blue", linewidth=1
    )
    jitter_axes.plot(
        times, per_frame["jitter_output"], label="swapped", color="tab:orange", linewidth=1
    )
    jitter_axes.set_xlabel("time (s)")
    jitter_axes.set_ylabel("landmark jitter / eye distance")
    jitter_axes.legend(loc="upper right", fontsize="small")
    jitter_axes.grid(alpha=0.3)
    return figure


def png_bytes(image: np.ndarray | Figure) -> bytes:
    """A figure or an ``(H, W, 3)`` uint8 RGB image as PNG bytes."""
    buffer = io.BytesIO()
    if isinstance(image, Figure):
        image.savefig(buffer, format="png", dpi=100)
    else:
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(
                f"png_bytes() takes an (H, W, 3) uint8 RGB image, got {array.dtype} {array.shape}"
            )
        Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _format(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value)}"
    return f"{value:.3f}"


def _verdict_html(verdict: Mapping[str, Any]) -> str:
    """The verdict as a coloured box: "Convincing", or "Not convincing yet" and each failed
    criterion."""
    if verdict.get("convincing"):
        return '<div class="verdict yes"><b>Verdict: convincing.</b> Every criterion holds.</div>'
    failures = "".join(
        f"<li>{html.escape(str(item.get('text', '')))}</li>" for item in verdict.get("failed", [])
    )
    return f'<div class="verdict no"><b>Verdict: not convincing yet.</b><ul>{failures}</ul></div>'


def _figure_html(png: bytes, caption: str) -> str:
    """One captioned image of the report."""
    caption_html = html.escape(caption)
    return f"<figure>{_image_tag(png, caption)}<figcaption>{caption_html}</figcaption></figure>"


def render_report_html(
    table: pd.DataFrame,
    frames: Mapping[str, np.ndarray],
    figures: Mapping[str, Figure],
    facts: Mapping[str, str],
    verdict: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained HTML page: the verdict, facts, the figures' table, original | swapped
    frames, plots.

    Args:
        table: `summary.metrics_table` output (``metric, value, description``).
        frames: ``{caption: (H, W, 3) uint8 RGB}`` original | swapped pairs.
        figures: ``{title: matplotlib Figure}``.
        facts: ``{label: text}`` shown above the table (video, model, MLflow run, ...).
        verdict: `verdict.Verdict.to_dict()`, shown first (None: no verdict section).

    Returns:
        The HTML text (UTF-8); every image is an inline PNG, so the file stands alone.
    """
    rows = "\n".join(
        f"<tr><td><code>{html.escape(str(r.metric))}</code></td><td"
        f" class=num>{_format(r.value)}</td><td>{html.escape(str(r.description))}</td></tr>"
        for r in table.itertuples()
    )
    fact_items = "\n".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in facts.items()
    )
    frame_items = (
        "\n".join(_figure_html(png_bytes(image), caption) for caption, image in frames.items())
        or "<p>No swapped frame to show.</p>"
    )
    verdict_section = _verdict_html(verdict) if verdict else ""
    plot_items = "\n".join(
        _figure_html(png_bytes(figure), title) for title, figure in figures.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Face swap evaluation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 75em; color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .3em .8em; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ display: inline-block; margin: .5em; }} img {{ max-width: 100%; }}
figcaption {{ font-size: .85em; color: #555; }}
.verdict {{ padding: .8em 1.2em; border-radius: .4em; font-size: 1.15em; }}
.verdict.yes {{ background: #e3f4e3; border: 2px solid #2e7d32; }}
.verdict.no {{ background: #fdecea; border: 2px solid #c62828; }}
</style></head><body>
<h1>Face swap evaluation</h1>
{verdict_section}
<p><b>SYNTHETIC media:</b> the right-hand frames are face-swapped.</p>
<ul>{fact_items}</ul>
<h2>Figures</h2>
<table><tr><th>metric</th><th>value</th><th>meaning</th></tr>
{rows}
</table>
<h2>Original | swapped</h2>
{frame_items}
<h2>Over time</h2>
{plot_items}
</body></html>
"""
