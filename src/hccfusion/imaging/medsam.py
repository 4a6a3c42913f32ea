"""MedSAM box-prompted tumour segmentation (Ma et al., Nat Commun 15:654, 2024).

MedSAM is the Segment Anything Model (SAM, Kirillov et al., ICCV 2023) with the ViT-B image
encoder, fine-tuned on 1.5 million medical image-mask pairs; given an image and a bounding box it
returns the object inside the box. It is a 2-D model, so a CT volume is segmented slice by slice
on the axial slices the box covers, as MedSAM's own 3-D inference does, and the slice masks are
stacked back into a 3-D mask on the image grid.

Pre- and post-processing follow MedSAM's ``pre_CT_MR.py`` and ``MedSAM_Inference.py``:

* CT slice clipped to a HU window (default level 40, width 400: (-160, 240) HU, MedSAM's abdomen
  window), scaled to 0-255 uint8 and repeated to 3 channels;
* resized to the encoder's input size (1024 x 1024) with bicubic interpolation, rounded to uint8,
  min-max scaled to [0, 1] (MedSAM feeds the encoder directly, without SAM's pixel mean/SD);
* the box, in pixel coordinates ``[x_min, y_min, x_max, y_max]`` of the slice, scaled by
  ``1024 / W`` and ``1024 / H``;
* image embedding (encoder), box embedding (prompt encoder), one mask from the mask decoder
  (``multimask_output=False``), sigmoid, bilinear upsampling of the 256 x 256 logits to the slice
  size, threshold 0.5.

The model classes come from the ``segment-anything`` package (``segment_anything.modeling``).
Its top-level ``__init__`` imports the predictor utilities, which import ``torchvision`` (not
installed here, and not needed by the model), so the ``modeling`` sub-package is loaded on its
own from the installed package directory under a private module name (:func:`sam_modeling`);
it needs only torch. :func:`build_sam` reproduces ``segment_anything.build_sam_vit_b`` (and
``_vit_l`` / ``_vit_h``); a dict of dimensions builds smaller variants (used by the tests, since
no weights can be downloaded here).

The MedSAM checkpoint (``medsam_vit_b.pth``) is a plain ``Sam`` state dict; obtain it from the
MedSAM authors and pass its path to :func:`load_medsam`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from os import PathLike
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import SimpleITK as sitk

from hccfusion.errors import PatientInputError
from hccfusion.imaging.segment import _as_boxes, box_to_index

__all__ = [
    "ENCODERS",
    "MEDSAM_WINDOW",
    "build_sam",
    "load_medsam",
    "sam_modeling",
    "segment_medsam",
]

#: SAM image-encoder configurations of ``segment_anything.build_sam`` (ViT-B is MedSAM's).
ENCODERS: dict[str, dict[str, Any]] = {
    "vit_b": {"embed_dim": 768, "depth": 12, "num_heads": 12, "global_attn_indexes": (2, 5, 8, 11)},
    "vit_l": {"embed_dim": 1024, "depth": 24, "num_heads": 16,
              "global_attn_indexes": (5, 11, 17, 23)},
    "vit_h": {"embed_dim": 1280, "depth": 32, "num_heads": 16,
              "global_attn_indexes": (7, 15, 23, 31)},
}
#: Architecture constants shared by all SAM variants; a spec dict may override them.
_COMMON = {
    "img_size": 1024,
    "patch_size": 16,
    "window_size": 14,
    "prompt_embed_dim": 256,
    "decoder_depth": 2,
    "decoder_mlp_dim": 2048,
    "decoder_num_heads": 8,
    "iou_head_hidden_dim": 256,
}
#: MedSAM's CT window (level 40, width 400 HU).
MEDSAM_WINDOW = (-160.0, 240.0)
_PRIVATE_NAME = "_hccfusion_sam_modeling"


def sam_modeling() -> ModuleType:
    """The ``segment_anything.modeling`` sub-package, imported without the package ``__init__``.

    If ``segment_anything`` is already imported (an environment with torchvision), its own
    ``modeling`` module is returned. Otherwise the sub-package is executed from the installed
    package's directory under a private name, so that ``sys.modules['segment_anything']`` is never
    replaced by a stub; its relative imports (``from .sam import Sam``) resolve within it.
    """
    if "segment_anything" in sys.modules:
        return importlib.import_module("segment_anything.modeling")
    if _PRIVATE_NAME in sys.modules:
        return sys.modules[_PRIVATE_NAME]
    spec = importlib.util.find_spec("segment_anything")  # locates, does not execute
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "MedSAM needs the 'segment-anything' package: pip install segment-anything "
            "(or hccfusion[deep])"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "modeling"
    sub = importlib.util.spec_from_file_location(
        _PRIVATE_NAME, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(sub)
    sys.modules[_PRIVATE_NAME] = module
    try:
        sub.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(_PRIVATE_NAME, None)
        raise
    return module


def _encoder_spec(encoder: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(encoder, str):
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {sorted(ENCODERS)} or a dict, got {encoder!r}")
        return {**_COMMON, **ENCODERS[encoder]}
    unknown = set(encoder) - set(_COMMON) - set(ENCODERS["vit_b"])
    if unknown:
        raise ValueError(f"unknown encoder spec key(s): {', '.join(sorted(unknown))}")
    return {**_COMMON, **ENCODERS["vit_b"], **dict(encoder)}


def build_sam(encoder: str | Mapping[str, Any] = "vit_b"):
    """An untrained SAM model (``segment_anything.modeling.Sam``) in evaluation mode.

    ``encoder`` is ``"vit_b"`` (MedSAM), ``"vit_l"``, ``"vit_h"``, or a dict overriding the
    ViT-B configuration: ``embed_dim``, ``depth``, ``num_heads``, ``global_attn_indexes``,
    ``img_size``, ``patch_size``, ``window_size``, ``prompt_embed_dim``, ``decoder_depth``,
    ``decoder_mlp_dim``, ``decoder_num_heads``, ``iou_head_hidden_dim``. The construction mirrors
    ``segment_anything.build_sam._build_sam`` line by line.
    """
    import torch

    m = sam_modeling()
    s = _encoder_spec(encoder)
    emb = s["img_size"] // s["patch_size"]
    sam = m.Sam(
        image_encoder=m.ImageEncoderViT(
            depth=s["depth"],
            embed_dim=s["embed_dim"],
            img_size=s["img_size"],
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=s["num_heads"],
            patch_size=s["patch_size"],
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=tuple(s["global_attn_indexes"]),
            window_size=s["window_size"],
            out_chans=s["prompt_embed_dim"],
        ),
        prompt_encoder=m.PromptEncoder(
            embed_dim=s["prompt_embed_dim"],
            image_embedding_size=(emb, emb),
            input_image_size=(s["img_size"], s["img_size"]),
            mask_in_chans=16,
        ),
        mask_decoder=m.MaskDecoder(
            num_multimask_outputs=3,
            transformer=m.TwoWayTransformer(
                depth=s["decoder_depth"],
                embedding_dim=s["prompt_embed_dim"],
                mlp_dim=s["decoder_mlp_dim"],
                num_heads=s["decoder_num_heads"],
            ),
            transformer_dim=s["prompt_embed_dim"],
            iou_head_depth=3,
            iou_head_hidden_dim=s["iou_head_hidden_dim"],
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def load_medsam(
    checkpoint: str | PathLike[str],
    *,
    encoder: str | Mapping[str, Any] = "vit_b",
    device: str | None = None,
):
    """Build SAM with ``encoder`` and load MedSAM weights from ``checkpoint``.

    ``checkpoint`` is a ``torch.save``'d state dict (``medsam_vit_b.pth``; a dict wrapping it
    under ``"model"`` or ``"state_dict"`` is unwrapped); it is loaded with ``weights_only=True``
    (no arbitrary code from pickles) and strictly, so a checkpoint that does not match the
    architecture fails loudly. ``device`` defaults to CUDA when available, else CPU. Returns the
    ``Sam`` module in evaluation mode on that device.
    """
    import torch

    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"MedSAM checkpoint not found: {path}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    state = torch.load(path, map_location=device, weights_only=True)
    if isinstance(state, Mapping):
        for key in ("model", "state_dict"):
            if key in state and isinstance(state[key], Mapping):
                state = state[key]
    model = build_sam(encoder)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def _slice_to_tensor(slice_hu: np.ndarray, window: Sequence[float], size: int, device):
    """HU slice -> windowed uint8 -> 3 x size x size float tensor in [0, 1] (MedSAM)."""
    import torch
    import torch.nn.functional as F

    low, high = (float(v) for v in window)
    u8 = np.round((np.clip(slice_hu, low, high) - low) / (high - low) * 255.0)
    x = torch.as_tensor(u8, dtype=torch.float32, device=device)[None, None]
    # MedSAM resizes with skimage (order 3, preserve_range) then casts to uint8.
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    x = x.clamp(0, 255).round()
    x = (x - x.min()) / (x.max() - x.min()).clamp(min=1e-8)
    return x.expand(1, 3, size, size).contiguous()


def segment_medsam(
    image: sitk.Image,
    boxes: str | Iterable[Sequence[float]],
    model,
    *,
    window: Sequence[float] = MEDSAM_WINDOW,
    threshold: float = 0.5,
    clip_to_box: bool = True,
    patient: str | None = None,
    phase: str | None = None,
) -> sitk.Image:
    """Segment the tumour in each physical box with MedSAM, slice by slice; uint8 binary mask.

    Parameters
    ----------
    image:
        CT volume in HU. Slices are taken along the third voxel axis (axial for CT).
    boxes:
        ``box_prompt`` text or ``(x0, y0, z0, x1, y1, z1)`` tuples in LPS mm; each is mapped to
        the voxel index range it covers (:func:`hccfusion.imaging.segment.box_to_index`).
    model:
        A ``Sam`` module from :func:`load_medsam`.
    window:
        HU window mapped to 0-255 (MedSAM's (-160, 240) by default).
    threshold:
        Probability threshold on the upsampled sigmoid output (MedSAM: 0.5).
    clip_to_box:
        Keep only voxels inside the box's in-plane extent; the prompt box encloses the lesion by
        definition, so anything outside is leakage. The output is always confined to the slices
        the box covers.

    Every slice's image embedding is computed once and shared by all boxes on that slice. On
    CPU the ViT-B encoder dominates the time (several seconds per slice).
    """
    import torch
    import torch.nn.functional as F

    parsed = _as_boxes(boxes)
    if not parsed:
        raise PatientInputError("no bounding box given for MedSAM", patient=patient, phase=phase)
    ranges = []
    for box in parsed:
        idx = box_to_index(image, box)
        if idx is None:
            raise PatientInputError(
                f"bounding box {', '.join(f'{v:.1f}' for v in box)} (mm) lies outside the image",
                patient=patient, phase=phase,
            )
        ranges.append(idx)

    arr = sitk.GetArrayViewFromImage(image)  # (z, y, x)
    _, height, width = arr.shape
    device = next(model.parameters()).device
    size = int(model.image_encoder.img_size)
    scale = np.array([size / width, size / height, size / width, size / height])
    out = np.zeros(arr.shape, np.uint8)

    slices = sorted({k for lo, hi in ranges for k in range(int(lo[2]), int(hi[2]) + 1)})
    with torch.no_grad():
        for k in slices:
            on_slice = [(lo, hi) for lo, hi in ranges if lo[2] <= k <= hi[2]]
            x = _slice_to_tensor(np.asarray(arr[k], np.float32), window, size, device)
            embedding = model.image_encoder(x)
            box_px = np.array([[lo[0], lo[1], hi[0], hi[1]] for lo, hi in on_slice], float)
            box_t = torch.as_tensor(box_px * scale, dtype=torch.float32, device=device)[:, None]
            sparse, dense = model.prompt_encoder(points=None, boxes=box_t, masks=None)
            logits, _ = model.mask_decoder(
                image_embeddings=embedding,
                image_pe=model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
            prob = F.interpolate(
                torch.sigmoid(logits), size=(height, width), mode="bilinear", align_corners=False
            )[:, 0].cpu().numpy()
            for (lo, hi), p in zip(on_slice, prob, strict=True):
                seg = p > threshold
                if clip_to_box:
                    keep = np.zeros_like(seg)
                    keep[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] = True
                    seg &= keep
                out[k] |= seg.astype(np.uint8)
    result = sitk.GetImageFromArray(out)
    result.CopyInformation(image)
    return result
