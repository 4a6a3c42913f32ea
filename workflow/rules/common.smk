# Config and sheet validation, and the input functions every rule uses.
from pathlib import Path

from snakemake.utils import min_version, validate

from hccfusion.config import check_references
from hccfusion.sheets import (
    check_clinical_columns,
    check_same_patients,
    load_clinical,
    load_patients,
)

min_version("9.0")


validate(
    config, str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
)
check_references(config)

PHASES = config["phases"]
RECIPE_ENDPOINTS = [
    (r, e) for r, spec in config["recipes"].items() for e in spec["endpoints"]
]


wildcard_constraints:
    patient=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    phase="|".join(PHASES),
    recipe="|".join(config["recipes"]),
    endpoint="|".join(config["endpoints"]),


def resolve(path):
    """A path from the config: the working directory first, then the workflow's folder."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return str(p)
    shipped = Path(workflow.basedir) / p
    return str(shipped) if shipped.exists() else str(p)


_sheets = {}


def sheets():
    """The validated patient sheet and clinical table (after the demo cohort exists)."""
    if config["demo"]["generate"]:
        checkpoints.demo_cohort.get()
    if not _sheets:
        patients = load_patients(config["patients"], PHASES)
        clinical = load_clinical(config["clinical"])
        check_clinical_columns(clinical, config["endpoints"], config["clinical"])
        check_same_patients(patients, clinical, config["patients"], config["clinical"])
        _sheets.update(patients=patients, clinical=clinical)
    return _sheets["patients"], _sheets["clinical"]


def patient_ids():
    return list(sheets()[0].patient_id)


def phase_input(kind):
    """Input function: the image or mask of {patient} x {phase} from the sheet."""

    def fn(wildcards):
        patients = sheets()[0]
        if wildcards.patient not in patients.index:
            raise ValueError(
                f"patient {wildcards.patient} is not in {config['patients']}"
            )
        return patients.loc[wildcards.patient, f"{wildcards.phase}_{kind}"]

    return fn


def phase_series(wildcards):
    value = sheets()[0].loc[wildcards.patient, f"{wildcards.phase}_series"]
    return value if isinstance(value, str) and value else ""


def per_patient(pattern):
    """Input function: `pattern` expanded over every patient and phase."""

    def fn(wildcards):
        return expand(pattern, patient=patient_ids(), phase=PHASES)

    return fn


def clinical_table(wildcards):
    sheets()
    return config["clinical"]


def patient_sheet(wildcards):
    sheets()
    return config["patients"]
