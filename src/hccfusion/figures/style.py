"""One consistent look for every figure, and one way to save it (vector PDF + 300-dpi PNG).

Every plotting function in :mod:`hccfusion.figures` draws inside :func:`figure_style` and saves
with :func:`save`, so the report and ``results/paper/`` share fonts, sizes and colours.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: workflow jobs and CI have no display

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["COHORT_COLOURS", "COMPONENT_COLOURS", "GROUP_COLOURS", "figure_style", "placeholder",
           "save"]

#: Colour-blind-safe (Okabe-Ito) colours, fixed per meaning so a cohort or a component has
#: the same colour in every figure.
COHORT_COLOURS = {"train_cv": "#0072B2", "internal": "#E69F00", "external": "#009E73"}
COMPONENT_COLOURS = {
    "clinical": "#56B4E9",
    "radiomics": "#D55E00",
    "deep": "#CC79A7",
    "early_fusion": "#999999",
    "fusion": "#000000",
}
GROUP_COLOURS = {"low": "#0072B2", "high": "#D55E00"}

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.4,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # TrueType in PDFs, so journals' tools can edit the text
    "svg.fonttype": "none",
}


@contextmanager
def figure_style() -> Iterator[None]:
    """Matplotlib settings of every hccfusion figure (restored on exit)."""
    with plt.rc_context(_RC):
        yield


def placeholder(text: str, *, title: str = "", figsize: tuple[float, float] = (4.0, 1.5)):
    """A figure that only says why there is nothing to draw, so that every expected file is
    still written; ``title`` as the real figure would have it. Returns the Figure."""
    with figure_style():
        fig, ax = plt.subplots(figsize=figsize)
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        if title:
            ax.set_title(title)
    return fig


def save(fig, path: str | PathLike[str], *, dpi: int = 300) -> list[Path]:
    """Save ``fig`` at ``path`` and close it.

    The suffix of ``path`` decides the format (``.png`` at ``dpi``, ``.pdf``/``.svg`` as vectors).
    A path without a suffix is written twice, as ``.pdf`` and ``.png`` (the paper's pair).
    Returns the files written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    targets = [path] if path.suffix else [path.with_suffix(".pdf"), path.with_suffix(".png")]
    for target in targets:
        # A fixed creation date keeps PDFs byte-identical between runs (determinism).
        metadata = {"CreationDate": None} if target.suffix == ".pdf" else None
        fig.savefig(target, dpi=dpi, metadata=metadata)
    plt.close(fig)
    return targets
