"""MedSAM loading and slice-by-slice inference path (hccfusion.imaging.medsam).

No MedSAM weights can be downloaded in the test environment, so a small SAM with the same classes
is built, saved as a state dict and loaded back through :func:`load_medsam`; the checks are on
geometry (mask on the image grid, confined to the box slices), not on segmentation quality.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

pytest.importorskip("torch")
if importlib.util.find_spec("segment_anything") is None:
    pytest.skip("segment-anything not installed", allow_module_level=True)

import torch  # noqa: E402

from hccfusion.errors import PatientInputError  # noqa: E402
from hccfusion.imaging import read_image  # noqa: E402
from hccfusion.imaging.medsam import (  # noqa: E402
    ENCODERS,
    build_sam,
    load_medsam,
    sam_modeling,
    segment_medsam,
)
from hccfusion.imaging.segment import box_to_index, parse_boxes  # noqa: E402

SMALL = {
    "embed_dim": 32,
    "depth": 2,
    "num_heads": 2,
    "global_attn_indexes": (1,),
    "img_size": 256,
    "prompt_embed_dim": 32,
    "decoder_mlp_dim": 64,
    "decoder_num_heads": 2,
    "iou_head_hidden_dim": 32,
}


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("medsam") / "small_medsam.pth"
    torch.save(build_sam(SMALL).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def demo_case(tiny_demo):
    row = pd.read_csv(tiny_demo / "patients.tsv", sep="\t").iloc[1]  # A002: three lesions
    return read_image(tiny_demo / row["arterial_image"]), row["box_prompt"]


def _box_region(image, boxes, in_plane=True):
    arr = np.zeros(sitk.GetArrayViewFromImage(image).shape, bool)
    for box in parse_boxes(boxes):
        lo, hi = box_to_index(image, box)
        if in_plane:
            arr[lo[2] : hi[2] + 1, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] = True
        else:
            arr[lo[2] : hi[2] + 1] = True
    return arr


def test_modeling_imported_without_package_init():
    # In a fresh interpreter: the model classes load, the package __init__ (and torchvision) not.
    code = (
        "import sys\n"
        "from hccfusion.imaging.medsam import sam_modeling\n"
        "m = sam_modeling()\n"
        "assert {'Sam', 'ImageEncoderViT', 'PromptEncoder', 'MaskDecoder', 'TwoWayTransformer'}"
        " <= set(dir(m))\n"
        "assert 'segment_anything' not in sys.modules and 'torchvision' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert sam_modeling() is sam_modeling()


def test_default_is_vit_b():
    assert ENCODERS["vit_b"] == {
        "embed_dim": 768, "depth": 12, "num_heads": 12, "global_attn_indexes": (2, 5, 8, 11)
    }
    sam = build_sam()  # SAM ViT-B as in segment_anything.build_sam_vit_b
    assert sam.image_encoder.img_size == 1024
    assert len(sam.image_encoder.blocks) == 12
    assert sam.image_encoder.pos_embed.shape == (1, 64, 64, 768)
    assert sum(p.numel() for p in sam.parameters()) == 93_735_472
    with pytest.raises(ValueError, match="encoder"):
        build_sam("vit_x")
    with pytest.raises(ValueError, match="unknown"):
        build_sam({"embed_dims": 8})


def test_load_and_segment_small_model(small_checkpoint, demo_case):
    image, boxes = demo_case
    model = load_medsam(small_checkpoint, encoder=SMALL, device="cpu")
    assert not model.training and next(model.parameters()).device.type == "cpu"
    ref = build_sam(SMALL)
    ref.load_state_dict(torch.load(small_checkpoint, weights_only=True))
    for (k, v), (_, w) in zip(model.state_dict().items(), ref.state_dict().items(), strict=True):
        assert torch.equal(v, w), k

    n_slices = int(_box_region(image, boxes, in_plane=False).any((1, 2)).sum())
    segment_medsam(image, boxes, model)  # warm-up: torch's first call allocates and plans
    start = time.perf_counter()
    seg = segment_medsam(image, boxes, model)
    per_slice = (time.perf_counter() - start) / n_slices
    print(f"\nsmall MedSAM ({SMALL['img_size']} px input): {per_slice * 1e3:.0f} ms per slice")
    assert seg.GetSize() == image.GetSize() and seg.GetSpacing() == image.GetSpacing()
    assert seg.GetOrigin() == image.GetOrigin() and seg.GetPixelID() == sitk.sitkUInt8
    arr = sitk.GetArrayViewFromImage(seg)
    assert set(np.unique(arr)) <= {0, 1}
    assert not (arr.astype(bool) & ~_box_region(image, boxes)).any()

    # Threshold 0 accepts every pixel: the mask is exactly the boxes (in-plane clipped) ...
    full = sitk.GetArrayFromImage(segment_medsam(image, boxes, model, threshold=0.0))
    np.testing.assert_array_equal(full.astype(bool), _box_region(image, boxes))
    # ... and, unclipped, exactly the slices the boxes cover.
    slab = segment_medsam(image, boxes, model, threshold=0.0, clip_to_box=False)
    np.testing.assert_array_equal(
        sitk.GetArrayViewFromImage(slab).astype(bool), _box_region(image, boxes, in_plane=False)
    )


def test_load_errors(small_checkpoint, tmp_path, demo_case):
    with pytest.raises(FileNotFoundError):
        load_medsam(tmp_path / "missing.pth", encoder=SMALL)
    with pytest.raises(RuntimeError):  # strict loading: a checkpoint of another architecture
        load_medsam(small_checkpoint, encoder={**SMALL, "depth": 3})
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"model": torch.load(small_checkpoint, weights_only=True)}, wrapped)
    model = load_medsam(wrapped, encoder=SMALL)
    image, _ = demo_case
    with pytest.raises(PatientInputError, match="outside"):
        segment_medsam(image, "900,900,900,910,910,910", model)
    with pytest.raises(PatientInputError, match="no bounding box"):
        segment_medsam(image, None, model)
