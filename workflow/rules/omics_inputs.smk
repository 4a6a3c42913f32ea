# Transcriptomic branch: config values and input functions of the rules in omics.smk.
from hccfusion.sheets import load_patients

OMICS = config["omics"]
# Null paths mean the demo's matched cohort (written by the demo_cohort checkpoint).
_OMICS_DEMO = {
    "expression": "expression/counts.tsv",
    "samples": "expression/samples.tsv",
    "patients": "expression/patients.tsv",
    "clinical": "expression/clinical.tsv",
}


def omics_path(key):
    value = OMICS[key]
    if value is None and key in _OMICS_DEMO:
        return f"{config['demo']['out']}/{_OMICS_DEMO[key]}"
    return value


def omics_input(key):
    """Input function: an omics path (after the demo cohort exists, when it is the demo's)."""

    def fn(wildcards):
        if OMICS[key] is None and config["demo"]["generate"]:
            checkpoints.demo_cohort.get()
        return omics_path(key)

    return fn


# On when asked for and there is a matrix: the user's, or the demo's matched cohort.
OMICS_ON = (
    OMICS["enabled"]
    and bool(OMICS["expression"] or config["demo"]["generate"])
    and bool(OMICS_RECIPES)
)
OMICS_GENESETS = {k: resolve(v) for k, v in OMICS["genesets"].items() if v}
_omics = {}


def omics_sheet():
    """The matched patients' sheet (after the demo cohort exists)."""
    if config["demo"]["generate"]:
        checkpoints.demo_cohort.get()
    if "patients" not in _omics:
        _omics["patients"] = load_patients(
            omics_path("patients"),
            PHASES,
            require_masks="mask" in SCAN_KINDS,
            require_boxes="box_prompt" in SCAN_KINDS,
            allow_missing=EXCLUDE,
        )
    return _omics["patients"]


def omics_sheet_value(column):
    def fn(wildcards):
        sheet = omics_sheet()
        if wildcards.patient not in sheet.index:
            raise ValueError(
                f"patient {wildcards.patient} is not in {omics_path('patients')}"
            )
        value = sheet.loc[wildcards.patient].get(column.format(phase=wildcards.phase))
        return value if isinstance(value, str) else ""

    return fn


omics_scan_missing = missing_scan(omics_sheet, lambda: omics_path("patients"))


def omics_scan_inputs(wildcards):
    if skip_missing(wildcards, omics_scan_missing):
        return {}
    inputs = {"image": omics_sheet_value("{phase}_image")(wildcards)}
    mask = omics_sheet_value("{phase}_mask")(wildcards)
    if mask:
        inputs["mask"] = mask
    return inputs


def omics_per_patient(pattern):
    def fn(wildcards):
        return expand(pattern, patient=list(omics_sheet().patient_id), phase=PHASES)

    return fn


def omics_features(wildcards):
    if OMICS["feature_table"]:
        return OMICS["feature_table"]
    return "results/omics/features/radiomics.tsv"


def omics_outputs(wildcards):
    """What rule all asks of the branch (nothing when it is off)."""
    if not OMICS_ON:
        return []
    return [
        *[f"results/tables/de_{r}.tsv" for r in OMICS_RECIPES],
        "results/tables/gsea.tsv",
        "results/tables/ora.tsv",
        "results/tables/immune.tsv",
        *(
            ["results/tables/single_cell.tsv"]
            if OMICS["single_cell"]["anndata"]
            else []
        ),
    ]
