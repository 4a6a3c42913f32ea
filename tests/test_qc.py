"""QC overlays and mask statistics on the demo cohort."""

import numpy as np
import pandas as pd
import SimpleITK as sitk
from matplotlib.image import imread

from hccfusion.imaging.ingest import read_image, read_mask
from hccfusion.qc import _tumour_slices, mask_stats, overlay_png


def test_overlay_png_shows_both_phases(tiny_demo, tmp_path):
    sheet = pd.read_csv(tiny_demo / "patients.tsv", sep="\t").set_index("patient_id")
    pid = sheet.index[0]
    phases = {}
    for phase in ("arterial", "venous"):
        image = read_image(tiny_demo / sheet.loc[pid, f"{phase}_image"])
        phases[phase] = (image, read_mask(tiny_demo / sheet.loc[pid, f"{phase}_mask"], image))
    out = tmp_path / "qc.png"
    overlay_png(phases, str(out), title=pid)
    pixels = imread(out)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600
    # The red outline is there: pixels much redder than they are green or blue.
    red = (pixels[..., 0] > 0.8) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert red.sum() > 50


def test_tumour_slices_and_stats():
    mask = np.zeros((20, 10, 10), np.uint8)
    mask[5:15, 3:7, 3:7] = 1
    mask[9, 2:8, 2:8] = 1
    slices = _tumour_slices(mask, 3)
    assert slices[0] == 9 and all(5 <= z < 15 for z in slices) and len(set(slices)) == 3
    image = sitk.GetImageFromArray(np.where(mask > 0, 100.0, 0.0))
    image.SetSpacing((0.5, 0.5, 2.0))
    m = sitk.GetImageFromArray(mask)
    m.CopyInformation(image)
    stats = mask_stats(image, m)
    assert stats["mask_voxels"] == int(mask.sum())
    assert stats["mask_volume_mm3"] == mask.sum() * 0.5
    assert stats["hu_mean"] == 100.0
