"""Figures for the leaderboard site and the preference-study report, drawn with matplotlib.

Each function returns the figure as SVG text (or writes PNG bytes). Output is byte-reproducible for the same
input and matplotlib version: no pyplot global state (a bare :class:`~matplotlib.figure.Figure`), a fixed SVG
hash salt and no date or creator metadata, text kept as text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_RC = {"svg.hashsalt": "m3t-bench", "svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False}
_METADATA_SVG = {"Date": None, "Creator": None}
_METADATA_PNG = {"Software": None}
#: Colours of system A, "no preference" and system B in the preference chart (colour-blind safe pair + grey).
PREFERENCE_COLOURS = ("#1b7fbd", "#c8c8c8", "#e08a2c")


def save_figure(fig, fmt: str) -> bytes:
    """``fig`` (a bare matplotlib Figure) as ``fmt`` bytes (svg, png), reproducibly: fixed hash salt, no dates."""
    import matplotlib
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format=fmt, metadata=_METADATA_SVG if fmt == "svg" else _METADATA_PNG,
                    bbox_inches="tight", dpi=150)
    return buf.getvalue()


@dataclass(frozen=True)
class Distribution:
    """One panel of :func:`distribution_svg`: ``label`` (e.g. "dtw-jpe body"), per-sample ``values`` (n,),
    their ``unit`` and the aggregate ``value`` of the results file (drawn as a line)."""

    label: str
    values: np.ndarray
    unit: str
    value: float


def distribution_svg(panels: Sequence[Distribution]) -> str:
    """Per-sample distributions as SVG: one histogram per panel (at most 30 bins; two columns from four panels
    on), the aggregate value as a vertical line, n / median / max in the panel title."""
    import matplotlib
    from matplotlib.figure import Figure

    cols = 2 if len(panels) >= 4 else 1
    rows = -(-len(panels) // cols)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4 * cols, 1.6 * rows + 0.2))
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes[len(panels):]:
            ax.set_axis_off()
        for ax, panel in zip(axes, panels):
            values = np.asarray(panel.values, dtype=np.float64)
            bins = int(np.clip(np.ceil(np.sqrt(values.size)), 1, 30))
            ax.hist(values, bins=bins, color="#1b7fbd", alpha=0.8)
            ax.axvline(panel.value, color="#b2182b", linewidth=1.5, label=f"table value {panel.value:.3g}")
            ax.set_title(f"{panel.label}  (n={values.size}, median {np.median(values):.3g}, max "
                         f"{values.max():.3g} {panel.unit})", fontsize=9, loc="left")
            ax.set_xlabel(panel.unit, fontsize=8)
            ax.set_ylabel("samples", fontsize=8)
            ax.legend(fontsize=7, frameon=False, loc="upper right")
        fig.tight_layout()
        return save_figure(fig, "svg").decode("utf-8")


@dataclass(frozen=True)
class PreferenceBar:
    """One bar of :func:`preference_chart`: a question's shares of all votes for system A, no preference and
    system B (sum 1), and the 95% interval of A's share (drawn as a whisker at A's end)."""

    question: str
    shares: tuple[float, float, float]
    a_ci95: tuple[float, float] | None
    n: int


def preference_chart(bars: Sequence[PreferenceBar], system_a: str, system_b: str, *, fmt: str = "png") -> bytes:
    """Horizontal 100% stacked bars (A | no preference | B) per question, percentages printed in the segments,
    A's 95% interval as a whisker: the layout of the paper's Fig. A.2. Returns PNG (default) or SVG bytes."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 0.75 * len(bars) + 1.1))
        ax = fig.subplots()
        labels = (system_a, "no preference", system_b)
        y = np.arange(len(bars))[::-1]
        left = np.zeros(len(bars))
        for k, (label, colour) in enumerate(zip(labels, PREFERENCE_COLOURS)):
            widths = np.array([b.shares[k] * 100 for b in bars])
            ax.barh(y, widths, left=left, color=colour, label=label, height=0.55, edgecolor="white")
            for yi, x0, w in zip(y, left, widths):
                if w >= 6:
                    ax.text(x0 + w / 2, yi, f"{w:.1f}%", ha="center", va="center", fontsize=8)
            left = left + widths
        for yi, bar in zip(y, bars):
            if bar.a_ci95 is not None:
                lo, hi = (c * 100 for c in bar.a_ci95)
                ax.errorbar(bar.shares[0] * 100, yi, xerr=[[bar.shares[0] * 100 - lo], [hi - bar.shares[0] * 100]],
                            fmt="none", ecolor="black", capsize=3, linewidth=1)
        ax.set_yticks(y, [f"{b.question}\n(n={b.n})" for b in bars])
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of votes (%); whisker: 95% interval of the first system's share")
        ax.axvline(50, color="black", linewidth=0.6, linestyle=":")
        ax.legend(ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=8)
        fig.tight_layout()
        return save_figure(fig, fmt)


__all__ = ["Distribution", "PREFERENCE_COLOURS", "PreferenceBar", "distribution_svg", "preference_chart", "save_figure"]
