"""Tests of hccfusion.imaging.ingest: real DICOM/NIfTI inputs, de-identification, bad inputs.

Tests on real data read ``../shared/data`` (next to the repository) and skip when it is absent;
the mask-geometry tests build small synthetic volumes and always run.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from hccfusion.errors import HccfusionError, PatientInputError
from hccfusion.imaging import acquisition_info, ingest, read_image, read_mask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ABDOMEN = DATA / "real_ct" / "abdomen_totalsegmentator"
DICOM_DIR = ABDOMEN / "example_ct_dicom"
LIVER = 5  # TotalSegmentator label

PATIENT, PHASE = "A001", "arterial"


@pytest.fixture(scope="module")
def data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared real data not available at {DATA}")
    return DATA


@pytest.fixture
def dicom_copy(data, tmp_path) -> Path:
    """A writable copy of the real 20-slice CT series."""
    dst = tmp_path / "series"
    shutil.copytree(DICOM_DIR, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


def _by_position(folder: Path) -> list[Path]:
    files = list(folder.iterdir())
    return sorted(
        files,
        key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]),
    )


def _assert_error(exc: PatientInputError, path: Path | str, *problem: str) -> None:
    msg = str(exc)
    assert exc.patient == PATIENT and exc.phase == PHASE
    assert f"patient {PATIENT}" in msg and f"phase {PHASE}" in msg
    assert str(path) in msg and exc.path == str(path)
    for text in problem:
        assert text in msg, msg


# ------------------------------------------------------------------------------------ errors


def test_patient_input_error_message_and_attributes():
    exc = PatientInputError("mask is empty", patient="A001", phase="arterial", path="/x/y.nii.gz")
    assert isinstance(exc, HccfusionError)
    assert str(exc) == "patient A001, phase arterial, file /x/y.nii.gz: mask is empty"
    assert (exc.reason, exc.patient, exc.phase, exc.path) == (
        "mask is empty",
        "A001",
        "arterial",
        "/x/y.nii.gz",
    )
    assert str(PatientInputError("bad")) == "bad"
    import pickle

    again = pickle.loads(pickle.dumps(exc))
    assert str(again) == str(exc) and again.patient == "A001"


# ------------------------------------------------------------------------------- real inputs


def test_ingest_real_dicom_series(data, tmp_path):
    out_img, out_mask = tmp_path / "out" / "image.nii.gz", tmp_path / "out" / "mask.nii.gz"
    qc = ingest(
        DICOM_DIR,
        ABDOMEN / "example_seg_dicom.nii.gz",
        out_img,
        out_mask,
        patient=PATIENT,
        phase=PHASE,
        label=LIVER,
    )

    assert qc["size"] == [512, 512, 20]
    assert qc["spacing_mm"] == pytest.approx([0.9765625, 0.9765625, 2.0])
    assert qc["hu_min"] == -1024 and 1000 < qc["hu_max"] < 3100
    # The label map is stored LAS (NIfTI convention) on the same grid: reoriented, not rejected.
    assert qc["mask_reoriented"] is True
    assert 50 < qc["hu_mean"] < 150 and 5 < qc["hu_sd"] < 60  # enhanced liver parenchyma
    assert qc["mask_voxels"] == 366708
    assert qc["mask_volume_mm3"] == pytest.approx(366708 * 0.9765625**2 * 2.0)
    assert qc["acquisition"]["n_slices"] == 20 and qc["warnings"] == []

    image = sitk.ReadImage(str(out_img))
    mask = sitk.ReadImage(str(out_mask))
    assert image.GetPixelID() == sitk.sitkInt16 and mask.GetPixelID() == sitk.sitkUInt8
    assert image.GetSize() == (512, 512, 20)
    assert np.allclose(mask.GetOrigin(), image.GetOrigin())
    assert np.allclose(mask.GetDirection(), image.GetDirection())
    assert set(np.unique(sitk.GetArrayViewFromImage(mask))) == {0, 1}

    # No PHI: only NIfTI header fields, and the free-text ones are empty.
    for out in (image, mask):
        keys = set(out.GetMetaDataKeys())
        assert not any("|" in k for k in keys)  # no DICOM tags such as 0010|0010 (name)
        assert not {k for k in keys if "patient" in k.lower() or "name" == k.lower()}
        for free_text in ("descrip", "aux_file", "intent_name"):
            assert out.GetMetaData(free_text).strip() == ""
    header = gzip.open(out_img).read(352)
    source = pydicom.dcmread(next(DICOM_DIR.iterdir()), stop_before_pixels=True)
    for value in (source.StationName, source.DeviceSerialNumber, source.ProtocolName):
        assert str(value).encode() not in header


def test_acquisition_info_is_non_identifying(data):
    info = acquisition_info(DICOM_DIR)
    assert set(info) == {
        "source_format",
        "modality",
        "manufacturer",
        "model",
        "kvp",
        "convolution_kernel",
        "contrast_agent",
        "slice_thickness_mm",
        "spacing_mm",
        "rows",
        "columns",
        "n_slices",
    }
    for key in info:
        assert not any(
            w in key
            for w in (
                "name",
                "id",
                "date",
                "time",
                "institution",
                "uid",
                "station",
                "serial",
                "birth",
                "address",
            )
        )
    assert info["source_format"] == "dicom" and info["modality"] == "CT"
    assert info["manufacturer"] == "SIEMENS" and info["kvp"] == 120.0
    assert info["slice_thickness_mm"] == 3.0 and info["spacing_mm"][2] == pytest.approx(2.0)
    assert (info["rows"], info["columns"], info["n_slices"]) == (512, 512, 20)

    # None of the identifying values in the header leaks into the record.
    ds = pydicom.dcmread(next(DICOM_DIR.iterdir()), stop_before_pixels=True)
    identifying = [
        "InstitutionAddress",
        "StationName",
        "DeviceSerialNumber",
        "StudyDate",
        "AcquisitionTime",
        "IssuerOfPatientID",
        "FrameOfReferenceUID",
        "ProtocolName",
    ]
    text = repr(info)
    for kw in identifying:
        value = str(ds.get(kw, "")).strip()
        if value:
            assert value not in text, kw


def test_read_nifti_volume_as_int16(data):
    path = ABDOMEN / "example_ct.nii.gz"  # stored as int32
    image = read_image(path)
    assert image.GetPixelID() == sitk.sitkInt16 and image.GetSize() == (122, 101, 112)
    info = acquisition_info(path)
    assert info["source_format"] == "nifti" and info["manufacturer"] is None
    assert info["n_slices"] == 112 and info["spacing_mm"] == [3.0, 3.0, 3.0]


# --------------------------------------------------------------------------- bad DICOM input


def test_missing_slice(dicom_copy):
    _by_position(dicom_copy)[10].unlink()
    with pytest.raises(PatientInputError) as info:
        read_image(dicom_copy, patient=PATIENT, phase=PHASE)
    _assert_error(info.value, dicom_copy, "missing slices", "gap of 4.000 mm", "1 slice(s)")


def test_duplicated_slice(dicom_copy):
    src = _by_position(dicom_copy)[7]
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(dicom_copy / "duplicate.dcm")
    with pytest.raises(PatientInputError) as info:
        read_image(dicom_copy, patient=PATIENT, phase=PHASE)
    _assert_error(info.value, dicom_copy, "duplicated slice position")


def test_non_uniform_spacing(dicom_copy):
    for f in _by_position(dicom_copy)[12:]:
        ds = pydicom.dcmread(f)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 0.6]  # one step of 2.6 mm among 2.0 mm steps
        ds.save_as(f)
    with pytest.raises(PatientInputError) as info:
        read_image(dicom_copy, patient=PATIENT, phase=PHASE)
    _assert_error(info.value, dicom_copy, "non-uniform slice spacing", "2.000-2.600 mm")


def test_unreadable_header(dicom_copy):
    bad = _by_position(dicom_copy)[5]
    raw = bytearray(bad.read_bytes())
    raw[128:900] = np.random.default_rng(0).integers(0, 256, 772, dtype=np.uint8).tobytes()
    bad.write_bytes(bytes(raw))
    with pytest.raises(PatientInputError) as info:
        read_image(dicom_copy, patient=PATIENT, phase=PHASE)
    _assert_error(info.value, bad, "unreadable DICOM file")


def test_truncated_pixel_data(dicom_copy):
    bad = _by_position(dicom_copy)[9]
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2])  # header intact, pixel data cut
    with pytest.raises(PatientInputError) as info:
        read_image(dicom_copy, patient=PATIENT, phase=PHASE)
    _assert_error(info.value, bad, "could not be read by GDCM", bad.name)


def test_two_series_need_a_selector(dicom_copy):
    uid = pydicom.uid.generate_uid()
    for f in sorted(dicom_copy.iterdir())[:8]:
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = uid
        ds.SeriesDescription = "Abdomen 5.0 B30f"
        ds.SeriesNumber = 99
        ds.save_as(f)
    with pytest.raises(PatientInputError) as info:
        read_image(dicom_copy, patient=PATIENT, phase=PHASE)
    _assert_error(
        info.value,
        dicom_copy,
        "2 DICOM series",
        "SeriesNumber 99 (Abdomen 5.0 B30f, 8 slices)",
        "CT Body 3.0",
        "12 slices",
    )
    # Original UIDs identify: they never appear in a message (logs, excluded.tsv).
    assert uid not in str(info.value)

    assert read_image(dicom_copy, series=uid).GetSize()[2] == 8
    assert read_image(dicom_copy, series="99").GetSize()[2] == 8
    assert read_image(dicom_copy, series="CT Body 3.0").GetSize()[2] == 12
    with pytest.raises(PatientInputError) as info:
        read_image(dicom_copy, series="portal venous", patient=PATIENT, phase=PHASE)
    _assert_error(info.value, dicom_copy, "'portal venous' matches no series", "SeriesNumber 99")
    assert uid not in str(info.value)


# ----------------------------------------------------------------------- mask checks (synthetic)


def _reference() -> sitk.Image:
    image = sitk.Image([20, 16, 12], sitk.sitkInt16)
    image.SetSpacing((0.8, 0.8, 2.5))
    image.SetOrigin((-10.0, 5.0, -100.0))
    return image


def _mask_file(
    tmp_path: Path, values: np.ndarray | None = None, name: str = "mask.nii.gz", **geometry
) -> Path:
    ref = _reference()
    if values is None:
        values = np.zeros(ref.GetSize()[::-1], np.uint8)
        values[4:8, 5:10, 6:12] = 1
    mask = sitk.GetImageFromArray(values)
    mask.CopyInformation(ref)
    for key, value in geometry.items():
        getattr(mask, f"Set{key}")(value)
    path = tmp_path / name
    sitk.WriteImage(mask, str(path))
    return path


def test_mask_on_image_grid_is_binarised(tmp_path):
    values = np.zeros((12, 16, 20), np.uint8)
    values[2:4, 2:4, 2:4] = 3
    values[6:8, 6:8, 6:8] = 7
    path = _mask_file(tmp_path, values)
    ref = _reference()
    anything = read_mask(path, ref)
    assert anything.GetPixelID() == sitk.sitkUInt8
    assert sitk.GetArrayViewFromImage(anything).sum() == 16
    assert sitk.GetArrayViewFromImage(read_mask(path, ref, label=7)).sum() == 8
    assert anything.GetSpacing() == ref.GetSpacing() and anything.GetOrigin() == ref.GetOrigin()


def test_mask_with_other_spacing(tmp_path):
    path = _mask_file(tmp_path, Spacing=(1.0, 1.0, 2.5))
    with pytest.raises(PatientInputError) as info:
        read_mask(path, _reference(), patient=PATIENT, phase=PHASE)
    _assert_error(
        info.value, path, "geometry does not match", "spacing (1, 1, 2.5) vs image (0.8, 0.8, 2.5)"
    )
    assert "origin" not in str(info.value)


def test_mask_with_other_origin(tmp_path):
    path = _mask_file(tmp_path, Origin=(-10.0, 5.0, -97.5))
    with pytest.raises(PatientInputError) as info:
        read_mask(path, _reference(), patient=PATIENT, phase=PHASE)
    _assert_error(info.value, path, "origin (-10, 5, -97.5) vs image (-10, 5, -100)")


def test_mask_within_tolerance_takes_image_geometry(tmp_path):
    path = _mask_file(tmp_path, Origin=(-10.004, 5.0, -100.0), Spacing=(0.8003, 0.8, 2.5))
    mask = read_mask(path, _reference())
    assert mask.GetOrigin() == _reference().GetOrigin()


def test_empty_mask(tmp_path):
    path = _mask_file(tmp_path, np.zeros((12, 16, 20), np.uint8))
    with pytest.raises(PatientInputError) as info:
        read_mask(path, _reference(), patient=PATIENT, phase=PHASE)
    _assert_error(info.value, path, "mask is empty")
    with pytest.raises(PatientInputError, match="no voxel with label 2"):
        read_mask(_mask_file(tmp_path, name="m1.nii.gz"), _reference(), label=2)


def test_probability_map_rejected(tmp_path):
    values = np.zeros((12, 16, 20), np.float32)
    values[3:6, 3:6, 3:6] = 0.7
    path = _mask_file(tmp_path, values)
    with pytest.raises(PatientInputError) as info:
        read_mask(path, _reference(), patient=PATIENT, phase=PHASE)
    _assert_error(info.value, path, "non-integer values")


def test_flipped_mask_is_reoriented(tmp_path):
    ref = _reference()
    values = np.zeros((12, 16, 20), np.uint8)
    values[2, 3, 4] = 1
    lps = sitk.GetImageFromArray(values)
    lps.CopyInformation(ref)
    las = sitk.DICOMOrient(lps, "LAS")  # same voxels, y axis reversed
    path = tmp_path / "las.nii.gz"
    sitk.WriteImage(las, str(path))
    mask = read_mask(path, ref)
    assert np.array_equal(sitk.GetArrayViewFromImage(mask), values)


def test_slicer_segmentation_label_value(tmp_path):
    values = np.zeros((12, 16, 20), np.uint8)
    values[2:4, 2:4, 2:4] = 1
    values[6:9, 6:9, 6:9] = 4
    seg = sitk.GetImageFromArray(values)
    seg.CopyInformation(_reference())
    for i, (name, value) in enumerate((("tumour", 4), ("liver", 1))):
        seg.SetMetaData(f"Segment{i}_ID", f"Segment_{i + 1}")
        seg.SetMetaData(f"Segment{i}_Name", name)
        seg.SetMetaData(f"Segment{i}_LabelValue", str(value))
        seg.SetMetaData(f"Segment{i}_Layer", "0")
    path = tmp_path / "tumour.seg.nrrd"
    sitk.WriteImage(seg, str(path))
    assert sitk.GetArrayViewFromImage(read_mask(path, _reference())).sum() == 27  # Segment0
    assert sitk.GetArrayViewFromImage(read_mask(path, _reference(), label="liver")).sum() == 8
    with pytest.raises(PatientInputError, match="segment 'spleen' not found; segments: tumour"):
        read_mask(path, _reference(), label="spleen")


def test_ingest_synthetic_nifti_flags_raw_values(tmp_path):
    ref = _reference()
    raw = sitk.GetImageFromArray(np.full((12, 16, 20), 1100, np.uint16))  # stored values, no HU
    raw.CopyInformation(ref)
    raw.SetMetaData("ITK_FileNotes", "DOE^JANE 12345")  # would become the NIfTI descrip field
    image_path = tmp_path / "raw.nrrd"
    sitk.WriteImage(raw, str(image_path))
    out_img, out_mask = tmp_path / "img.nii.gz", tmp_path / "mask.nii.gz"
    qc = ingest(image_path, _mask_file(tmp_path), out_img, out_mask, patient=PATIENT, phase=PHASE)
    assert qc["mask_voxels"] == 4 * 5 * 6 and qc["hu_mean"] == 1100 and qc["hu_sd"] == 0
    assert "implausible for Hounsfield units" in qc["warnings"][0]
    assert qc["acquisition"]["source_format"] == "nrrd"
    written = sitk.ReadImage(str(out_img))
    assert written.GetPixelID() == sitk.sitkInt16
    assert "DOE" not in written.GetMetaData("descrip")
    with pytest.raises(ValueError, match="NIfTI"):
        ingest(
            image_path, _mask_file(tmp_path), tmp_path / "x.nrrd", out_mask, patient="A", phase="v"
        )


# ------------------------------------------------------------- DICOM-SEG and RTSTRUCT (real data)

# IBSI-1 CT radiomics phantom (CC BY-NC 3.0: read in place, never copied into the repository).
IBSI_CT = DATA / "ibsi" / "ibsi_1_ct_radiomics_phantom"
RTSTRUCT = IBSI_CT / "dicom" / "mask" / "DCM_RS_00060.dcm"
IBSI_CT_VOXELS = 125256  # IBSI-1 reference: morph_mask_vox_count_init_roi of configuration A


@pytest.fixture(scope="module")
def phantom_ct(data) -> sitk.Image:
    return read_image(IBSI_CT / "dicom" / "image")


@pytest.fixture(scope="module")
def nifti_gtv(phantom_ct) -> np.ndarray:
    """The NIfTI version of the phantom's GTV-1, on the DICOM series' grid (same geometry)."""
    return sitk.GetArrayFromImage(read_mask(IBSI_CT / "nifti" / "mask" / "mask.nii.gz", phantom_ct))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_rtstruct_reproduces_nifti_mask(phantom_ct, nifti_gtv):
    mask = read_mask(RTSTRUCT, phantom_ct, label="GTV-1")
    got = sitk.GetArrayFromImage(mask)
    assert mask.GetPixelID() == sitk.sitkUInt8
    assert mask.GetOrigin() == phantom_ct.GetOrigin() and mask.GetSize() == phantom_ct.GetSize()
    # Measured: Dice 1.0 and 125256 voxels in both (the IBSI reference voxel count).
    assert _dice(got, nifti_gtv) >= 0.98
    assert abs(int(got.sum()) - int(nifti_gtv.sum())) <= 0.02 * nifti_gtv.sum()
    assert int(nifti_gtv.sum()) == IBSI_CT_VOXELS
    # The single ROI is chosen without a label; the mask folder works like the file.
    assert np.array_equal(sitk.GetArrayFromImage(read_mask(RTSTRUCT.parent, phantom_ct)), got)
    # On a NIfTI reference (no frame of reference UID) only the geometry is checked.
    nifti_ct = read_image(IBSI_CT / "nifti" / "image" / "phantom.nii.gz")
    assert np.array_equal(sitk.GetArrayFromImage(read_mask(RTSTRUCT, nifti_ct)), got)


def _modified_rtstruct(tmp_path: Path, edit) -> Path:
    ds = pydicom.dcmread(RTSTRUCT)
    edit(ds)
    path = tmp_path / "rs.dcm"
    ds.save_as(path)
    return path


def test_rtstruct_unknown_roi(phantom_ct):
    with pytest.raises(PatientInputError) as info:
        read_mask(RTSTRUCT, phantom_ct, label="GTV-2", patient=PATIENT, phase=PHASE)
    _assert_error(info.value, RTSTRUCT, "ROI 'GTV-2' not found", "ROIs: 'GTV-1'")


def test_rtstruct_other_frame_of_reference(phantom_ct, tmp_path):
    def edit(ds):
        ds.StructureSetROISequence[0].ReferencedFrameOfReferenceUID = "1.2.3.4"

    path = _modified_rtstruct(tmp_path, edit)
    with pytest.raises(PatientInputError) as info:
        read_mask(path, phantom_ct, label="GTV-1", patient=PATIENT, phase=PHASE)
    _assert_error(info.value, path, "FrameOfReferenceUID differs from the image's")
    assert "1.2.3.4" not in str(info.value)  # UIDs identify: never in a message


def test_rtstruct_empty_and_off_grid_rois(phantom_ct, tmp_path):
    def no_contours(ds):
        del ds.ROIContourSequence[0].ContourSequence

    path = _modified_rtstruct(tmp_path, no_contours)
    with pytest.raises(PatientInputError) as info:
        read_mask(path, phantom_ct, label="GTV-1", patient=PATIENT, phase=PHASE)
    _assert_error(info.value, path, "ROI 'GTV-1' has no closed planar contour")

    def between_slices(ds):  # shift every contour by half a slice (1.5 mm)
        for contour in ds.ROIContourSequence[0].ContourSequence:
            pts = np.asarray(contour.ContourData, float).reshape(-1, 3)
            pts[:, 2] += 1.5
            contour.ContourData = [f"{v:.4f}" for v in pts.ravel()]

    path = _modified_rtstruct(tmp_path, between_slices)
    with pytest.raises(PatientInputError, match="is not on an image slice"):
        read_mask(path, phantom_ct, label="GTV-1")


@pytest.fixture(scope="module")
def phantom_seg(phantom_ct, nifti_gtv, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A two-segment DICOM-SEG written with highdicom: 1 'GTV-1' (NIfTI mask), 2 'Body'."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = [pydicom.dcmread(f) for f in (IBSI_CT / "dicom" / "image").iterdir()]
    sources.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))  # = the image's z order
    body = (sitk.GetArrayFromImage(phantom_ct) > -500).astype(np.uint8)

    def segment(number, label, kind):
        return hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=kind,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )

    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=np.stack([nifti_gtv, body], axis=-1),
        segmentation_type="BINARY",
        segment_descriptions=[
            segment(1, "GTV-1", codes.SCT.Neoplasm),
            segment(2, "Body", codes.SCT.Tissue),
        ],
        series_instance_uid=hd.UID(),
        series_number=100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="hccfusion",
        manufacturer_model_name="tests",
        software_versions="0",
        device_serial_number="0",
    )
    path = tmp_path_factory.mktemp("seg") / "seg.dcm"
    seg.save_as(path)
    return path, body


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dicom_seg_roundtrip_is_voxel_exact(phantom_ct, nifti_gtv, phantom_seg):
    path, body = phantom_seg
    gtv = read_mask(path, phantom_ct, label="GTV-1")
    assert gtv.GetOrigin() == phantom_ct.GetOrigin()
    assert np.array_equal(sitk.GetArrayFromImage(gtv), nifti_gtv)
    assert np.array_equal(sitk.GetArrayFromImage(read_mask(path, phantom_ct, label=2)), body)
    nifti_ct = read_image(IBSI_CT / "nifti" / "image" / "phantom.nii.gz")
    assert np.array_equal(sitk.GetArrayFromImage(read_mask(path, nifti_ct, label=1)), nifti_gtv)


def test_dicom_seg_errors(phantom_ct, phantom_seg, tmp_path):
    path, _ = phantom_seg
    with pytest.raises(PatientInputError) as info:
        read_mask(path, phantom_ct, label="Liver", patient=PATIENT, phase=PHASE)
    _assert_error(info.value, path, "segment 'Liver' not found", "1 'GTV-1', 2 'Body'")
    with pytest.raises(PatientInputError, match="SEG holds 2 segments; choose one"):
        read_mask(path, phantom_ct)
    with pytest.raises(PatientInputError, match="segment number 3 not found"):
        read_mask(path, phantom_ct, label=3)

    other = pydicom.dcmread(path)
    other.FrameOfReferenceUID = "1.2.3.4"
    moved = tmp_path / "other_frame.dcm"
    other.save_as(moved)
    with pytest.raises(PatientInputError) as info:
        read_mask(moved, phantom_ct, label=1, patient=PATIENT, phase=PHASE)
    _assert_error(info.value, moved, "SEG FrameOfReferenceUID differs from the image's")
    assert "1.2.3.4" not in str(info.value)


def test_ingest_dicom_with_rtstruct(phantom_ct, tmp_path):
    out_img, out_mask = tmp_path / "img.nii.gz", tmp_path / "mask.nii.gz"
    qc = ingest(
        IBSI_CT / "dicom" / "image",
        RTSTRUCT,
        out_img,
        out_mask,
        patient=PATIENT,
        phase=PHASE,
        label="GTV-1",
    )
    assert qc["mask_voxels"] == IBSI_CT_VOXELS and not qc["mask_reoriented"]
    for out in (out_img, out_mask):  # the frame of reference UID is not written out
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(out))
        reader.ReadImageInformation()
        assert "0020|0052" not in reader.GetMetaDataKeys()
        assert "9590" not in reader.GetMetaData("descrip")
