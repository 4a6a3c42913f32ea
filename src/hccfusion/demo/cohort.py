"""Simulate the patients of the demo cohort: identity, latent state, clinical values, outcomes,
phantom geometry and acquisition.

Randomness: every patient owns independent generators spawned from
``SeedSequence([seed, centre_code, index, stream])`` (one stream per concept), so a patient is
identical whatever the cohort size, the tables do not depend on whether images are rendered, and
nothing depends on Python's salted ``hash()``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pandas as pd

from . import clinical as clin
from . import outcomes as oc
from .anatomy import Phantom, box_prompt, build_phantom, lesion_diameter_on_grid
from .dicom_series import StudyInfo
from .scales import Scale
from .scanner import Acquisition, sample_acquisitions

CENTRE_CODE = {"A": 0, "B": 1, "TCGA": 2}
ID_PREFIX = {"A": "A", "B": "B", "TCGA": "T"}
NRRD_FRACTION = 0.25
TRUTH_COLUMNS = ["patient_id", "true_response_prob", "true_os_lp", "true_pfs_lp"]
PATIENT_COLUMNS = ["patient_id", "center", "arterial_image", "arterial_mask", "venous_image",
                   "venous_mask", "box_prompt"]
RESPONSE_COLUMNS = ("mrecist_3m", "response_3m")


class Stream(IntEnum):
    """Independent random streams of one patient."""

    LATENT = 0
    CLINICAL = 1
    OUTCOME = 2
    GEOMETRY = 3
    MISSING = 4
    IDENTITY = 5
    NOISE_ARTERIAL = 6
    NOISE_VENOUS = 7


def patient_rng(seed: int, centre: str, index: int, stream: Stream) -> np.random.Generator:
    """The generator of one patient's stream."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), CENTRE_CODE[centre], int(index), int(stream)]))


def patient_id(centre: str, index: int) -> str:
    return f"{ID_PREFIX[centre]}{index + 1:03d}"


@dataclass
class PatientRecord:
    """Everything simulated for one patient (images are rendered later from ``phantom``)."""

    patient_id: str
    centre: str
    index: int
    seed: int
    latents: dict[str, float]
    truth: oc.Truth
    clinical: dict[str, object]
    phantom: Phantom | None
    acquisitions: dict[str, Acquisition]
    mask_format: str  # "nii.gz" or "seg.nrrd"
    study: StudyInfo

    def truth_row(self) -> dict[str, object]:
        return {"patient_id": self.patient_id, "true_response_prob": self.truth.response_prob,
                "true_os_lp": self.truth.os_lp, "true_pfs_lp": self.truth.pfs_lp}

    def sheet_row(self, images_dir: str = "images", masks_dir: str = "masks") -> dict[str, str]:
        row: dict[str, str] = {"patient_id": self.patient_id, "center": self.centre}
        for phase in ("arterial", "venous"):
            row[f"{phase}_image"] = f"{images_dir}/{self.patient_id}/{phase}"
            row[f"{phase}_mask"] = f"{masks_dir}/{self.patient_id}_{phase}.{self.mask_format}"
        row["box_prompt"] = box_prompt(self.phantom) if self.phantom is not None else ""
        return row


def _identity(pid: str, seed: int, age: int, sex: str, start: dt.date,
              rng: np.random.Generator) -> StudyInfo:
    study_date = start - dt.timedelta(days=int(rng.integers(3, 29)))
    years_back = study_date.year - age
    try:
        anniversary = study_date.replace(year=years_back)
    except ValueError:  # 29 February
        anniversary = study_date.replace(year=years_back, day=28)
    birth = anniversary - dt.timedelta(days=int(rng.integers(0, 365)))
    return StudyInfo(
        seed=seed, patient_id=pid, patient_name=f"Synthetic^{pid}",
        mrn=f"MRN{int(rng.integers(10**7, 10**8)):08d}", birth_date=birth, sex=sex, age=age,
        study_date=study_date,
        study_time=dt.time(int(rng.integers(8, 17)), int(rng.integers(0, 60)),
                           int(rng.integers(0, 60))),
        accession=f"ACC{int(rng.integers(10**9, 10**10)):010d}",
        referring_physician=f"Synthetic^Referrer{int(rng.integers(1, 40)):02d}")


def simulate_patient(seed: int, centre: str, index: int, scale: Scale,
                     geometry: bool = True) -> PatientRecord:
    """Simulate one patient. ``geometry=False`` skips the phantom (tumour diameter left empty),
    which is only meant for fast large-sample checks of the outcome model."""
    pid = patient_id(centre, index)
    lat = clin.sample_latents(patient_rng(seed, centre, index, Stream.LATENT))
    values = clin.clinical_values(lat, patient_rng(seed, centre, index, Stream.CLINICAL))
    tr = oc.truth(lat)
    out = oc.simulate_outcomes(tr, patient_rng(seed, centre, index, Stream.OUTCOME))
    start = out.pop("start_date")
    geo_rng = patient_rng(seed, centre, index, Stream.GEOMETRY)
    acqs = sample_acquisitions(centre, geo_rng)
    n_tumours = int(lat["tumour_number"])
    phantom, diameter = None, None
    if geometry:
        phantom = build_phantom(lat, n_tumours, scale, acqs, geo_rng)
        grid = phantom.grids["arterial"]
        diameter = round(max(lesion_diameter_on_grid(t, grid) for t in phantom.tumours), 1)
    values = clin.apply_missingness(values, patient_rng(seed, centre, index, Stream.MISSING))
    row = {"patient_id": pid, "center": centre, **values, "tumour_number": n_tumours,
           "tumour_diameter_mm": diameter, **out}
    if centre == "TCGA":
        for col in RESPONSE_COLUMNS:
            row[col] = None
    row = {col: row[col] for col in clin.CLINICAL_COLUMNS}
    id_rng = patient_rng(seed, centre, index, Stream.IDENTITY)
    study = _identity(pid, seed, int(values["age"]), str(values["sex"]), start, id_rng)
    mask_format = "seg.nrrd" if id_rng.random() < NRRD_FRACTION else "nii.gz"
    return PatientRecord(pid, centre, index, seed, lat, tr, row, phantom, acqs, mask_format,
                         study)


def simulate_centre(seed: int, centre: str, n: int, scale: Scale,
                    geometry: bool = True) -> list[PatientRecord]:
    return [simulate_patient(seed, centre, i, scale, geometry) for i in range(n)]


_INTEGER_COLUMNS = (
    "age", "hbv", "hcv", "cirrhosis", "ecog_ps", "child_pugh_score", "albi_grade", "ast_u_l",
    "alt_u_l", "ldh_u_l", "tumour_number", "pvtt", "extrahepatic_metastasis",
    "subsequent_therapy", "response_3m", "os_days", "os_event", "pfs_days", "pfs_event",
)


def clinical_frame(records: list[PatientRecord]) -> pd.DataFrame:
    """Clinical table; integer columns are nullable ``Int64`` so missing cells stay empty."""
    df = pd.DataFrame([r.clinical for r in records], columns=clin.CLINICAL_COLUMNS)
    for col in _INTEGER_COLUMNS:
        df[col] = pd.array(df[col].tolist(), dtype="Int64")
    for col in df.columns:
        if col not in _INTEGER_COLUMNS and df[col].dtype == object:
            if df[col].dropna().map(lambda v: isinstance(v, float)).all() and \
                    df[col].notna().any():
                df[col] = df[col].astype(float)
    return df


def truth_frame(records: list[PatientRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.truth_row() for r in records], columns=TRUTH_COLUMNS)
