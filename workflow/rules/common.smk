# Config and sheet validation, and the input functions every rule uses.
from pathlib import Path

from snakemake.utils import min_version, validate

from hccfusion.config import check_references
from hccfusion.recipes import EXTRA_TABLES, recipe_blocks
from hccfusion.sheets import (
    check_clinical_columns,
    check_same_patients,
    load_clinical,
    load_patients,
    missing_input,
    patients_from_clinical,
    scan_kinds,
)

min_version("9.0")


validate(
    config, str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
)
check_references(config)

PHASES = config["phases"]
# What each patient needs in the sheet; under `exclude` a patient lacking it is excluded alone.
SCAN_KINDS = scan_kinds(config["segmentation"]["method"])
EXCLUDE = config["on_patient_error"] == "exclude"
# A user's own radiomics table replaces the imaging branch (no sheet, no images).
FEATURE_TABLE = config["feature_table"]
RECIPE_ENDPOINTS = [
    (r, e) for r, spec in config["recipes"].items() for e in spec["endpoints"]
]
# The transcriptomic branch images its matched patients for clinical + radiomics only: recipes
# that read habitat or deep-learning features are not scored there.
OMICS_RECIPES = [
    r
    for r, spec in config["recipes"].items()
    if set(recipe_blocks(spec)) <= {"clinical", "radiomics"}
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
        clinical = load_clinical(config["clinical"])
        check_clinical_columns(clinical, config["endpoints"], config["clinical"])
        if FEATURE_TABLE:
            patients = patients_from_clinical(clinical, config["clinical"])
        else:
            patients = load_patients(
                config["patients"],
                PHASES,
                require_masks="mask" in SCAN_KINDS,
                require_boxes="box_prompt" in SCAN_KINDS,
                allow_missing=EXCLUDE,
            )
            check_same_patients(
                patients, clinical, config["patients"], config["clinical"]
            )
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


def missing_scan(sheet, sheet_path):
    """Input-function factory: why {patient} x {phase} cannot be read (an empty required cell,
    a file that does not exist), else ''."""

    def fn(wildcards):
        reason = missing_input(
            sheet(), wildcards.patient, wildcards.phase, SCAN_KINDS, sheet_path()
        )
        return reason or ""

    return fn


scan_missing = missing_scan(lambda: sheets()[0], lambda: config["patients"])


def skip_missing(wildcards, missing):
    """True when the scan is missing under `exclude` (rule ingest then excludes the patient with
    the reason); under `fail` the plan stops, naming patient, phase, sheet, column and file.
    """
    reason = missing(wildcards)
    if reason and not EXCLUDE:
        raise ValueError(
            f"patient {wildcards.patient}, phase {wildcards.phase}: {reason}"
        )
    return bool(reason)


def scan_inputs(wildcards):
    """The scan, and its provided mask when the sheet has one (segmentation or comparison);
    nothing when the scan is missing under `exclude`."""
    if skip_missing(wildcards, scan_missing):
        return {}
    inputs = {"image": phase_input("image")(wildcards)}
    if has_provided_mask(wildcards.patient, wildcards.phase):
        inputs["mask"] = phase_input("mask")(wildcards)
    return inputs


def has_provided_mask(patient, phase):
    patients = sheets()[0]
    value = patients.loc[patient].get(f"{phase}_mask")
    return isinstance(value, str) and bool(value)


def gpu_request(wildcards):
    """Slurm GRES of a segmentation job: one GPU for MedSAM, none otherwise (an empty string
    requests nothing; local runs ignore the resource)."""
    return "gpu:1" if config["segmentation"]["method"] == "medsam" else ""


def deep_gpu_request(wildcards):
    """Slurm GRES of deep_train: one GPU when deep.gpu is set."""
    return "gpu:1" if config["deep"]["gpu"] else ""


def declared_memory():
    """mem_mb each rule declares (constant values only), for the benchmark summary."""
    declared = {}
    for r in workflow.rules:
        mem = r.resources.get("mem_mb")
        # Snakemake 9 wraps each value in a Resource; a callable one has no fixed value.
        value = getattr(mem, "raw", mem)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            declared[r.name] = value
    return declared


def deep_crop_statuses(wildcards):
    """Every patient's deep-crop status when the deep branch is on (its exclusions join the
    cohort's), else nothing."""
    if not config["deep"]["enabled"]:
        return []
    return expand("results/deep/crops/{patient}.json", patient=patient_ids())


def deep_outputs(wildcards):
    """What rule all asks of the deep-learning branch (nothing when it is off)."""
    if not config["deep"]["enabled"]:
        return []
    return ["results/features/deep.tsv", "results/deep/radiomics_correlation.tsv"]


def box_prompt(wildcards):
    value = sheets()[0].loc[wildcards.patient, "box_prompt"]
    return value if isinstance(value, str) else ""


def per_patient_only(pattern):
    """Input function: `pattern` expanded over every patient."""

    def fn(wildcards):
        return expand(pattern, patient=patient_ids())

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
    return [] if FEATURE_TABLE else config["patients"]


def imaging_outputs(wildcards):
    """The imaging branch's QC tables (none when features come from a user's table)."""
    if FEATURE_TABLE:
        return []
    return [
        "results/qc/imaging_qc.tsv",
        "results/qc/segmentation.tsv",
    ]


def training_patients():
    """Patients of the training cohort (after the split checkpoint)."""
    import pandas as pd

    split = pd.read_csv(checkpoints.split.get().output[0], sep="\t")
    return sorted(split.patient_id[split.cohort == "train"])


def reader2_mask(wildcards):
    return sheets()[0].loc[wildcards.patient, f"{wildcards.phase}_mask_reader2"]


def second_reader_patients(patients):
    """Those of `patients` with a second reader's mask for every phase."""
    sheet = sheets()[0]
    cols = [f"{p}_mask_reader2" for p in PHASES]
    return [p for p in patients if sheet.loc[p, cols].notna().all()]


def training_perturbations(wildcards):
    """Per-scan ICC tables of training patients: inter-observer (second reader's masks) when
    training patients have them, else perturbed re-segmentations of a seeded subset of at
    most robustness.max_patients."""
    import random

    patients = training_patients()
    readers = second_reader_patients(patients)
    if readers:
        return expand(
            "results/features/readers/{patient}_{phase}.tsv",
            patient=readers,
            phase=PHASES,
        )
    cap = config["robustness"]["max_patients"]
    if cap is not None and len(patients) > cap:
        patients = sorted(
            random.Random(config["robustness"]["seed"]).sample(patients, cap)
        )
    return expand(
        "results/features/perturbed/{patient}_{phase}.tsv",
        patient=patients,
        phase=PHASES,
    )


def training_scans(kind):
    def fn(wildcards):
        return expand(
            "results/imaging/{patient}/{phase}/{kind}.nii.gz",
            patient=training_patients(),
            phase=PHASES,
            kind=kind,
        )

    return fn


def habitat_outputs(wildcards):
    return ["results/features/habitats.tsv"] if config["habitats"]["enabled"] else []


def recipe_extra_inputs(wildcards):
    """The extra feature tables (habitats, deep) a recipe's blocks and comparators read, and the
    predictions of its fuse_like recipe."""
    recipe = config["recipes"][wildcards.recipe]
    blocks = recipe_blocks(recipe)
    inputs = {b: EXTRA_TABLES[b] for b in blocks if b in EXTRA_TABLES}
    # Its train_cv scores decide early or late (CRM, seeds 003/004).
    if "fuse_like" in recipe:
        inputs["fuse_like"] = (
            f"results/models/{recipe['fuse_like']}/{wildcards.endpoint}/predictions.tsv"
        )
    return inputs


def robustness_input(wildcards):
    on = config["robustness"]["enabled"] and not FEATURE_TABLE
    return ["results/features/robustness.tsv"] if on else []
