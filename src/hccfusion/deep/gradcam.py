r"""Grad-CAM activation maps of the deep branch (seed 000: "interpretability through activation
maps").

Gradient-weighted class activation mapping (Selvaraju RR et al. Grad-CAM: visual explanations from
deep networks via gradient-based localization. ICCV 2017:618-26), in 3D, on the last conv block of
:class:`~hccfusion.deep.model.CropNet` (the block before global average pooling). For an output
:math:`y` (the risk of a survival endpoint or the logit of a binary one) and the block's
activations :math:`A^k` (channel :math:`k`),

.. math::

    \alpha_k = \frac{1}{V} \sum_{v} \frac{\partial y}{\partial A^k_v}, \qquad
    L = \mathrm{ReLU}\Big(\sum_k \alpha_k A^k\Big),

upsampled trilinearly to the crop's shape. The map shows where the network found evidence that
*raises* the chosen output (a higher risk, a higher probability of response). For an ensemble the
members' maps are averaged. Maps are returned on their own scale (not normalised), non-negative;
:func:`gradcam_overlay_png` scales them to [0, 1] for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hccfusion.deep.model import CropNet

__all__ = ["grad_cam", "gradcam_overlay_png"]


def _one_cam(model: CropNet, x: torch.Tensor, head: str, index: int) -> torch.Tensor:
    model.eval()
    feats = model.conv_features(x)
    out = model.from_features(feats)[head][:, index].sum()
    grad, = torch.autograd.grad(out, feats)
    weights = grad.mean(dim=(2, 3, 4), keepdim=True)
    cam = torch.relu((weights * feats).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=tuple(x.shape[2:]), mode="trilinear", align_corners=False)[:, 0]


def grad_cam(models: CropNet | Sequence[CropNet], crop: np.ndarray, endpoint: str) -> np.ndarray:
    """Grad-CAM map of ``endpoint``'s head for one crop, shape ``(D, H, W)``, ``>= 0``.

    ``crop`` is ``(phases, D, H, W)`` (or ``(D, H, W)`` for one phase); ``models`` one network or
    an ensemble (maps averaged).
    """
    models = [models] if isinstance(models, CropNet) else list(models)
    if not models:
        raise ValueError("no networks for Grad-CAM")
    a = np.asarray(crop, dtype=np.float32)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"crop must be (phases, D, H, W), got shape {a.shape}")
    x = torch.from_numpy(a)[None].requires_grad_(True)  # a graph even for frozen weights
    total = None
    with torch.enable_grad():
        for model in models:
            head, index = model.head_index(endpoint)
            cam = _one_cam(model, x, head, index).detach()
            total = cam if total is None else total + cam
    cam = (total / len(models))[0].double().numpy()
    return np.clip(cam, 0.0, None)


def gradcam_overlay_png(
    crop: np.ndarray,
    cam: np.ndarray,
    path: str | PathLike[str],
    *,
    phase: int = 0,
    slice_index: int | None = None,
    title: str | None = None,
    alpha: float = 0.45,
    dpi: int = 150,
) -> Path:
    """Axial slice of the crop with the Grad-CAM map over it, written as PNG.

    The slice is ``slice_index`` (default the crop's centre slice, which passes through the
    tumour's bounding-box centre: :mod:`hccfusion.deep.crops`); ``phase`` picks the channel shown
    in grey. The map is scaled to [0, 1] by its maximum over the whole volume (so slices of
    different patients are not on a common scale) and drawn with the ``jet`` colour map.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    c = np.asarray(crop, dtype=float)
    if c.ndim == 3:
        c = c[None]
    cam = np.asarray(cam, dtype=float)
    if c.ndim != 4 or cam.shape != c.shape[1:]:
        raise ValueError(f"crop {c.shape} and map {cam.shape} do not match")
    k = c.shape[1] // 2 if slice_index is None else int(slice_index)
    if not 0 <= k < c.shape[1]:
        raise ValueError(f"slice_index {k} outside 0..{c.shape[1] - 1}")
    peak = float(np.max(cam))
    shown = cam[k] / peak if peak > 0 else np.zeros_like(cam[k])
    fig = Figure(figsize=(3.2, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(c[phase, k], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    im = ax.imshow(shown, cmap="jet", vmin=0.0, vmax=1.0, alpha=alpha, interpolation="bilinear")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("Grad-CAM (scaled)", fontsize=7)
    cbar.ax.tick_params(labelsize=6)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
