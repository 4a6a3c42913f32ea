"""Write a CT series as one DICOM file per slice (CT Image Storage, explicit VR little endian).

The files carry the geometry a reader needs (ImagePositionPatient, ImageOrientationPatient,
PixelSpacing, SliceThickness, SpacingBetweenSlices), the scanner identity (Manufacturer, model,
kernel, kVp), contrast information and synthetic identifying data (name, MRN, birth date,
institution, accession number, referring physician) that the workflow's de-identification step
must remove. UIDs are derived deterministically from the cohort seed with
``pydicom.uid.generate_uid(entropy_srcs=...)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

from .anatomy import Grid
from .scanner import Acquisition

SERIES_DESCRIPTION = {"arterial": "ARTERIAL", "venous": "PORTAL VENOUS"}
SERIES_NUMBER = {"arterial": 3, "venous": 4}
# Seconds after the start of contrast injection (bolus-tracking protocols: ~35 s and ~70 s).
PHASE_DELAY_S = {"arterial": 35, "venous": 70}


@dataclass(frozen=True)
class StudyInfo:
    """Patient- and study-level attributes shared by both series of a patient."""

    seed: int
    patient_id: str  # the cohort identifier (used only to derive UIDs; not written)
    patient_name: str
    mrn: str
    birth_date: dt.date
    sex: str
    age: int
    study_date: dt.date
    study_time: dt.time
    accession: str
    referring_physician: str

    def uid(self, *parts: str) -> str:
        return generate_uid(entropy_srcs=["hccfusion-demo", str(self.seed), self.patient_id,
                                          *parts])


def _time(t: dt.time, plus_s: float = 0.0) -> str:
    full = dt.datetime.combine(dt.date(2000, 1, 1), t) + dt.timedelta(seconds=plus_s)
    return full.strftime("%H%M%S.%f")[:13]


def _ds(v: float) -> str:
    """Format a float as a DICOM decimal string (at most 16 characters)."""
    s = f"{v:.10f}".rstrip("0").rstrip(".")
    return s if len(s) <= 16 else f"{v:.8g}"


def write_series(hu: np.ndarray, grid: Grid, phase: str, acq: Acquisition, study: StudyInfo,
                 out_dir: Path) -> list[Path]:
    """Write ``hu`` (int16, (z, y, x)) as ``out_dir/IM00001.dcm`` ... and return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    intercept = acq.rescale_intercept
    stored = hu.astype(np.int32) - int(intercept)
    if acq.pixel_representation == 0:
        stored = np.clip(stored, 0, 4095).astype(np.uint16)
        bits_stored = 12
    else:
        stored = np.clip(stored, -32768, 32767).astype(np.int16)
        bits_stored = 16
    series_uid = study.uid("series", phase)
    acq_time = _time(study.study_time, 60 + PHASE_DELAY_S[phase])

    base = Dataset()
    base.SpecificCharacterSet = "ISO_IR 100"
    base.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    base.SOPClassUID = CTImageStorage
    base.StudyDate = base.SeriesDate = base.AcquisitionDate = base.ContentDate = \
        study.study_date.strftime("%Y%m%d")
    base.StudyTime = _time(study.study_time)
    base.SeriesTime = base.AcquisitionTime = base.ContentTime = acq_time
    base.AccessionNumber = study.accession
    base.Modality = "CT"
    base.Manufacturer = acq.manufacturer
    base.InstitutionName = acq.institution
    base.ReferringPhysicianName = study.referring_physician
    base.StudyDescription = "CT ABDOMEN MULTIPHASE LIVER"
    base.SeriesDescription = SERIES_DESCRIPTION[phase]
    base.ManufacturerModelName = acq.model
    base.PatientName = study.patient_name
    base.PatientID = study.mrn
    base.PatientBirthDate = study.birth_date.strftime("%Y%m%d")
    base.PatientSex = study.sex
    base.PatientAge = f"{study.age:03d}Y"
    base.ContrastBolusAgent = "Iohexol 350 mgI/mL"
    base.ContrastBolusRoute = "IV"
    base.ContrastBolusStartTime = _time(study.study_time, 60)
    base.BodyPartExamined = "ABDOMEN"
    base.SliceThickness = _ds(acq.thickness_mm)
    base.KVP = _ds(acq.kvp)
    base.SpacingBetweenSlices = _ds(grid.spacing[2])
    base.ConvolutionKernel = acq.kernel
    base.PatientPosition = "FFS"
    base.StudyInstanceUID = study.uid("study")
    base.SeriesInstanceUID = series_uid
    base.StudyID = study.accession[-6:]
    base.SeriesNumber = SERIES_NUMBER[phase]
    base.AcquisitionNumber = 1
    base.FrameOfReferenceUID = study.uid("frame")
    base.PositionReferenceIndicator = ""
    base.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    base.SamplesPerPixel = 1
    base.PhotometricInterpretation = "MONOCHROME2"
    base.Rows, base.Columns = grid.size[1], grid.size[0]
    base.PixelSpacing = [_ds(grid.spacing[1]), _ds(grid.spacing[0])]
    base.BitsAllocated = 16
    base.BitsStored = bits_stored
    base.HighBit = bits_stored - 1
    base.PixelRepresentation = acq.pixel_representation
    base.WindowCenter = "60" if phase == "arterial" else "50"
    base.WindowWidth = "400"
    base.RescaleIntercept = _ds(intercept)
    base.RescaleSlope = "1"
    base.RescaleType = "HU"

    paths = []
    for k in range(grid.size[2]):
        ds = Dataset()
        ds.update(base)
        sop_uid = study.uid("sop", phase, str(k))
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = k + 1
        z = grid.origin[2] + k * grid.spacing[2]
        ds.ImagePositionPatient = [_ds(grid.origin[0]), _ds(grid.origin[1]), _ds(z)]
        ds.SliceLocation = _ds(z)
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = out_dir / f"IM{k + 1:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
