"""Demo cohort: DICOM series, masks, box prompts and HU content read back from disk."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from scipy.spatial.distance import pdist

from hccfusion.demo import SCALES
from hccfusion.demo.anatomy import LABELS
from hccfusion.demo.cohort import simulate_patient
from hccfusion.demo.generate import render_patient
from hccfusion.demo.scanner import CENTRE_RANGES

PHASES = ("arterial", "venous")


def read_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder))
    assert files, folder
    reader.SetFileNames(files)
    return reader.Execute()


def _sheets(root: Path):
    for sub, in (("",), ("expression",)):
        base = root / sub
        yield base, pd.read_csv(base / "patients.tsv", sep="\t")


def _rows(root: Path):
    for base, sheet in _sheets(root):
        for _, row in sheet.iterrows():
            yield base, row


def _boxes(text: str) -> np.ndarray:
    return np.array([[float(v) for v in b.split(",")] for b in text.split(";")])


def _mask_points(mask: sitk.Image) -> np.ndarray:
    idx = np.argwhere(sitk.GetArrayFromImage(mask) > 0)[:, ::-1]  # (x, y, z)
    return np.array([mask.TransformIndexToPhysicalPoint([int(v) for v in i]) for i in idx])


def test_series_geometry_masks_and_boxes(tiny_demo):
    sc = SCALES["tiny"]
    clin = pd.concat([pd.read_csv(b / "clinical.tsv", sep="\t") for b, _ in _sheets(tiny_demo)])
    clin = clin.set_index("patient_id")
    for base, row in _rows(tiny_demo):
        boxes = _boxes(row["box_prompt"])
        assert len(boxes) == clin.loc[row["patient_id"], "tumour_number"]
        assert np.all(boxes[:, 3:] - boxes[:, :3] > 4.0)
        rng = CENTRE_RANGES[row["center"]]
        points = {}
        for phase in PHASES:
            img = read_series(base / row[f"{phase}_image"])
            mask = sitk.ReadImage(str(base / row[f"{phase}_mask"]))
            assert img.GetSize()[:2] == (sc.matrix, sc.matrix)
            assert sc.min_slices <= img.GetSize()[2] <= sc.max_slices
            sx, sy, sz = img.GetSpacing()
            assert sx == sy and rng["pixel_spacing_mm"][0] - 0.01 <= sx <= \
                rng["pixel_spacing_mm"][1] + 0.01
            assert rng["slice_spacing_mm"][0] <= sz <= rng["slice_spacing_mm"][1]
            # Same grid, bit for bit (no tolerance needed by downstream geometry checks).
            assert mask.GetSize() == img.GetSize()
            assert mask.GetSpacing() == img.GetSpacing()
            assert mask.GetOrigin() == img.GetOrigin()
            assert np.allclose(mask.GetDirection(), img.GetDirection())
            assert mask.GetPixelID() == sitk.sitkUInt8
            arr = sitk.GetArrayFromImage(mask)
            assert set(np.unique(arr)) == {0, 1}
            pts = _mask_points(mask)
            inside = np.zeros(len(pts), bool)
            for b in boxes:
                inside |= np.all((pts >= b[:3]) & (pts <= b[3:]), axis=1)
            assert inside.all(), row["patient_id"]
            # Every lesion (box) owns voxels in this phase: tumour number = what is in the image.
            for b in boxes:
                assert np.any(np.all((pts >= b[:3]) & (pts <= b[3:]), axis=1))
            # Boxes lie inside the field of view.
            size = np.array(img.GetSize()) - 1
            lo = np.array(img.GetOrigin())
            hi = np.array(img.TransformIndexToPhysicalPoint([int(v) for v in size]))
            assert np.all(boxes[:, :3] >= lo - 1e-6) and np.all(boxes[:, 3:] <= hi + 1e-6)
            points[phase] = (pts, np.array(img.GetSpacing()))
        # Clinical diameter = the largest lesion's max 3D diameter between mask voxel centres.
        dia = clin.loc[row["patient_id"], "tumour_diameter_mm"]
        pts, _ = points["arterial"]
        centre, half = (boxes[:, :3] + boxes[:, 3:]) / 2, (boxes[:, 3:] - boxes[:, :3]) / 2
        owner = np.argmin(np.max(np.abs(pts[:, None] - centre[None]) / half[None], axis=2), 1)
        per_lesion = [pts[owner == k] for k in range(len(boxes))]
        measured = max(pdist(p).max() if len(p) > 1 else 0.0 for p in per_lesion)
        assert measured == pytest.approx(dia, abs=0.051), row["patient_id"]


def test_phases_share_frame_of_reference(tiny_demo):
    for base, row in itertools.islice(_rows(tiny_demo), 6):
        dss = [pydicom.dcmread(next((base / row[f"{p}_image"]).glob("*.dcm")),
                               stop_before_pixels=True) for p in PHASES]
        assert dss[0].FrameOfReferenceUID == dss[1].FrameOfReferenceUID
        assert dss[0].StudyInstanceUID == dss[1].StudyInstanceUID
        assert dss[0].SeriesInstanceUID != dss[1].SeriesInstanceUID


def test_dicom_attributes_and_phi(tiny_demo):
    manufacturers = {}
    for base, row in _rows(tiny_demo):
        files = sorted((base / row["arterial_image"]).glob("*.dcm"))
        ds = pydicom.dcmread(files[0])
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SOPClassUID == pydicom.uid.CTImageStorage
        assert ds.Modality == "CT" and ds.SeriesDescription == "ARTERIAL"
        assert ds.BitsAllocated == 16 and ds.RescaleSlope == 1
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert ds.InstanceNumber == 1 and float(ds.SliceThickness) > 0
        assert ds.Rows == ds.Columns == SCALES["tiny"].matrix
        for key in ("Manufacturer", "ManufacturerModelName", "KVP", "ConvolutionKernel",
                    "ContrastBolusAgent", "SpacingBetweenSlices", "StudyDate", "StudyTime",
                    "AccessionNumber", "ReferringPhysicianName", "PatientSex"):
            assert str(ds.get(key, "")).strip(), key
        pid = row["patient_id"]
        assert str(ds.PatientName) == f"Synthetic^{pid}"
        assert ds.PatientID.startswith("MRN") and ds.PatientID != pid
        assert len(ds.PatientBirthDate) == 8 and ds.PatientBirthDate != pid
        assert ds.InstitutionName and ds.InstitutionName != pid
        ven = pydicom.dcmread(sorted((base / row["venous_image"]).glob("*.dcm"))[0],
                              stop_before_pixels=True)
        assert ven.SeriesDescription == "PORTAL VENOUS"
        manufacturers.setdefault(row["center"], set()).add(ds.Manufacturer)
    assert manufacturers["A"].isdisjoint(manufacturers["B"])


def test_nrrd_masks_are_slicer_segmentations(tiny_demo):
    found = 0
    for base, row in _rows(tiny_demo):
        path = base / row["venous_mask"]
        if not path.name.endswith(".seg.nrrd"):
            continue
        found += 1
        header = path.read_bytes().split(b"\n\n", 1)[0].decode("latin-1")
        assert "Segment0_LabelValue:=1" in header
        img = sitk.ReadImage(str(path))
        keys = set(img.GetMetaDataKeys())
        assert {"Segment0_ID", "Segment0_Name", "Segment0_LabelValue", "Segment0_Layer",
                "Segment0_Color", "Segment0_Extent"} <= keys
        assert img.GetMetaData("Segment0_LabelValue") == "1"
        assert img.GetMetaData("Segment0_Layer") == "0"
        ext = [int(v) for v in img.GetMetaData("Segment0_Extent").split()]
        idx = np.argwhere(sitk.GetArrayFromImage(img) > 0)
        assert ext == [idx[:, 2].min(), idx[:, 2].max(), idx[:, 1].min(), idx[:, 1].max(),
                       idx[:, 0].min(), idx[:, 0].max()]
    assert found >= 2


@pytest.mark.parametrize("centre,index", [("A", 0), ("A", 3), ("B", 1), ("B", 4),
                                          ("TCGA", 2)])
def test_dicom_round_trip_and_hu(tiny_demo, centre, index):
    """Pixels on disk equal the rendered HU; tissues have their phase-specific attenuation."""
    rec = simulate_patient(1, centre, index, SCALES["tiny"])
    rendered = render_patient(rec, with_labels=True)
    base = tiny_demo / ("expression" if centre == "TCGA" else "")
    sheet = pd.read_csv(base / "patients.tsv", sep="\t").set_index("patient_id")
    expect = {  # (arterial range, venous range) of region means, HU
        "liver": ((55, 85), (95, 125)),
        "portal_vein": ((95, 200), (140, 200)),
        "fat": ((-130, -70), (-130, -70)),
    }
    means = {}
    for phase in PHASES:
        img = read_series(base / sheet.loc[rec.patient_id, f"{phase}_image"])
        arr = sitk.GetArrayFromImage(img)
        np.testing.assert_array_equal(arr, rendered[phase]["image"])
        lab = rendered[phase]["labels"]
        for tissue, ranges in expect.items():
            sel = lab == LABELS[tissue]
            if sel.sum() >= 30:
                lo, hi = ranges[PHASES.index(phase)]
                assert lo <= arr[sel].mean() <= hi, (tissue, phase, arr[sel].mean())
        means[phase] = {t: arr[lab == LABELS[t]].mean() for t in ("liver", "tumour_viable")}
    assert means["arterial"]["tumour_viable"] > means["arterial"]["liver"] + 15
    assert means["venous"]["tumour_viable"] < means["venous"]["liver"]


def test_enhancement_pattern_across_cohort(tiny_demo):
    """LI-RADS pattern on the files: arterial hyper-enhancement and venous washout of the
    masked lesion relative to the surrounding liver, on average over patients."""
    diff = {p: [] for p in PHASES}
    for base, row in _rows(tiny_demo):
        for phase in PHASES:
            img = read_series(base / row[f"{phase}_image"])
            mask = sitk.ReadImage(str(base / row[f"{phase}_mask"]))
            arr = sitk.GetArrayFromImage(img).astype(float)
            m = sitk.GetArrayFromImage(mask) > 0
            ring = sitk.GetArrayFromImage(sitk.BinaryDilate(mask, [6, 6, 1])) > 0
            ring &= ~(sitk.GetArrayFromImage(sitk.BinaryDilate(mask, [2, 2, 0])) > 0)
            ring &= (arr > 40) & (arr < 140)  # parenchyma, not fat or vessels
            diff[phase].append(arr[m].mean() - arr[ring].mean())
    assert np.mean(diff["arterial"]) > 10
    assert np.mean(diff["venous"]) < -10


def test_centre_noise_differs(tiny_demo):
    """Centre B images are noisier (liver texture SD) than centre A images."""
    sd = {"A": [], "B": []}
    for base, row in _rows(tiny_demo):
        if row["center"] not in sd:
            continue
        rec = simulate_patient(1, row["center"], int(row["patient_id"][1:]) - 1,
                               SCALES["tiny"])
        arr = sitk.GetArrayFromImage(read_series(base / row["venous_image"])).astype(float)
        lab = render_patient(rec, noise=False, with_labels=True)["venous"]
        clean = lab["image"].astype(float)
        sel = lab["labels"] == LABELS["liver"]
        sd[row["center"]].append(np.std(arr[sel] - clean[sel]))
    assert 8 < np.median(sd["A"]) < 12
    assert 13 < np.median(sd["B"]) < 19
