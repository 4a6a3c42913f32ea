"""Visual and tabular quality control of the per-patient imaging branch.

A reviewer of a radiomics study wants to see every segmentation: one PNG per patient with the
mask outlined on slices through the tumour of each phase, and one table with the numbers that
reveal a bad scan or a bad mask (volume, voxel count, spacing, HU statistics, flags).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import SimpleITK as sitk

#: Abdominal soft-tissue window (level 60, width 400 HU), as read on contrast CT of the liver.
WINDOW = (-140.0, 260.0)


def _tumour_slices(mask: np.ndarray, n: int) -> list[int]:
    """Axial slices through the mask: evenly spread over its z extent, largest area first."""
    area = mask.reshape(mask.shape[0], -1).sum(axis=1)
    zs = np.flatnonzero(area)
    if zs.size == 0:
        return [mask.shape[0] // 2] * n
    picks = np.unique(np.linspace(zs[0], zs[-1], n + 2)[1:-1].round().astype(int))
    best = int(np.argmax(area))
    ordered = [best] + [int(z) for z in picks if z != best]
    return (ordered + ordered)[:n]


def overlay_png(
    phases: Mapping[str, tuple[sitk.Image, sitk.Image]],
    out_png: str,
    *,
    title: str = "",
    n_slices: int = 3,
) -> None:
    """Write a PNG: one row per phase, ``n_slices`` axial slices with the mask outlined in red.

    Images are shown in an abdominal window with the physical pixel aspect ratio, so anisotropic
    voxels do not distort the tumour.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(phases)
    fig, axes = plt.subplots(rows, n_slices, figsize=(3.2 * n_slices, 3.2 * rows), squeeze=False)
    for r, (phase, (image, mask)) in enumerate(phases.items()):
        img = sitk.GetArrayViewFromImage(image)
        msk = sitk.GetArrayViewFromImage(mask) > 0
        sx, sy = image.GetSpacing()[:2]
        for c, z in enumerate(_tumour_slices(msk, n_slices)):
            ax = axes[r][c]
            ax.imshow(img[z], cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], aspect=sy / sx,
                      interpolation="nearest")
            if msk[z].any():
                ax.contour(msk[z].astype(float), levels=[0.5], colors="red", linewidths=0.8)
            ax.set_title(f"{phase}, slice {z}", fontsize=9)
            ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png, dpi=80)
    plt.close(fig)


def mask_stats(image: sitk.Image, mask: sitk.Image) -> dict:
    """Voxel count, volume (mm3) and HU statistics inside the mask."""
    img = sitk.GetArrayViewFromImage(image)
    inside = img[sitk.GetArrayViewFromImage(mask) > 0].astype(np.float64)
    voxel_mm3 = float(np.prod(image.GetSpacing()))
    stats = {"mask_voxels": int(inside.size), "mask_volume_mm3": inside.size * voxel_mm3}
    if inside.size:
        stats.update(
            hu_mean=float(inside.mean()),
            hu_sd=float(inside.std(ddof=1)) if inside.size > 1 else 0.0,
            hu_p05=float(np.percentile(inside, 5)),
            hu_p95=float(np.percentile(inside, 95)),
        )
    return stats
