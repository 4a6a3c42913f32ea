# Transcriptomic branch (seed 001, Figure 7): patients with matched CT and RNA-seq go through the
# per-patient imaging branch, the frozen models score them, and their predicted groups are
# compared on expression (DE, GSEA, ORA, ssGSEA immune infiltration).

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
OMICS_ON = OMICS["enabled"] and bool(OMICS["expression"] or config["demo"]["generate"])
OMICS_GENESETS = {k: resolve(v) for k, v in OMICS["genesets"].items() if v}
_omics = {}


def omics_sheet():
    """The matched patients' sheet (after the demo cohort exists)."""
    from hccfusion.sheets import load_patients

    if config["demo"]["generate"]:
        checkpoints.demo_cohort.get()
    if "patients" not in _omics:
        _omics["patients"] = load_patients(
            omics_path("patients"),
            PHASES,
            require_masks=config["segmentation"]["method"] == "provided",
            require_boxes=config["segmentation"]["method"] in ("box", "medsam"),
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


def omics_scan_inputs(wildcards):
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
        *[f"results/tables/de_{r}.tsv" for r in config["recipes"]],
        "results/tables/gsea.tsv",
        "results/tables/ora.tsv",
        "results/tables/immune.tsv",
        *(
            ["results/tables/single_cell.tsv"]
            if OMICS["single_cell"]["anndata"]
            else []
        ),
    ]


use rule ingest as omics_ingest with:
    input:
        unpack(omics_scan_inputs),
    output:
        image="results/omics/imaging/{patient}/{phase}/image.nii.gz",
        mask="results/omics/imaging/{patient}/{phase}/mask.nii.gz",
        status="results/omics/imaging/{patient}/{phase}/ingest.json",
    log:
        "logs/omics/ingest/{patient}_{phase}.log",
    benchmark:
        "results/benchmarks/omics_ingest/{patient}_{phase}.tsv"
    params:
        series=omics_sheet_value("{phase}_series"),
        boxes=omics_sheet_value("box_prompt"),
        seg=config["segmentation"],
        on_error=config["on_patient_error"],


use rule patient_qc as omics_patient_qc with:
    input:
        images=expand(
            "results/omics/imaging/{{patient}}/{phase}/image.nii.gz", phase=PHASES
        ),
        masks=expand(
            "results/omics/imaging/{{patient}}/{phase}/mask.nii.gz", phase=PHASES
        ),
        status=expand(
            "results/omics/imaging/{{patient}}/{phase}/ingest.json", phase=PHASES
        ),
    output:
        status="results/omics/imaging/{patient}/phase_check.json",
        png="results/omics/qc/overlays/{patient}.png",
    log:
        "logs/omics/patient_qc/{patient}.log",


use rule radiomics as omics_radiomics with:
    input:
        image="results/omics/imaging/{patient}/{phase}/image.nii.gz",
        mask="results/omics/imaging/{patient}/{phase}/mask.nii.gz",
        status="results/omics/imaging/{patient}/{phase}/ingest.json",
        phase_check="results/omics/imaging/{patient}/phase_check.json",
        params=resolve(config["radiomics"]["params"]),
    output:
        "results/omics/features/radiomics/{patient}_{phase}.tsv",
    log:
        "logs/omics/radiomics/{patient}_{phase}.log",
    benchmark:
        "results/benchmarks/omics_radiomics/{patient}_{phase}.tsv"


rule omics_merge_radiomics:
    input:
        omics_per_patient("results/omics/features/radiomics/{patient}_{phase}.tsv"),
    output:
        features="results/omics/features/radiomics.tsv",
        excluded="results/omics/excluded.tsv",
    log:
        "logs/omics/merge_radiomics.log",
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        phases=PHASES,
    script:
        "../scripts/merge_radiomics.py"


rule omics_score:
    input:
        models=[f"results/models/{r}/{e}/model_files" for r, e in RECIPE_ENDPOINTS],
        features=omics_features,
        clinical=omics_input("clinical"),
        samples=omics_input("samples"),
        expression=omics_input("expression"),
    output:
        predictions="results/omics/predictions.tsv",
        groups="results/omics/groups.tsv",
    log:
        "logs/omics/score.log",
    benchmark:
        "results/benchmarks/omics_score.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    params:
        component=OMICS["component"],
    script:
        "../scripts/omics_score.py"


rule omics_de:
    input:
        expression=omics_input("expression"),
        groups="results/omics/groups.tsv",
    output:
        table="results/tables/de_{recipe}.tsv",
        figures=directory("results/figures/omics/{recipe}/de"),
    log:
        "logs/omics/de_{recipe}.log",
    benchmark:
        "results/benchmarks/omics_de/{recipe}.tsv"
    conda:
        "../../envs/omics.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/omics_de.py"


rule omics_enrichment:
    input:
        de="results/tables/de_{recipe}.tsv",
        expression=omics_input("expression"),
        groups="results/omics/groups.tsv",
        genesets=list(OMICS_GENESETS.values()),
    output:
        gsea="results/omics/{recipe}/gsea.tsv",
        ora="results/omics/{recipe}/ora.tsv",
        figures=directory("results/figures/omics/{recipe}/enrichment"),
    log:
        "logs/omics/enrichment_{recipe}.log",
    benchmark:
        "results/benchmarks/omics_enrichment/{recipe}.tsv"
    conda:
        "../../envs/omics.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        genesets=OMICS_GENESETS,
    script:
        "../scripts/omics_enrichment.py"


rule omics_observed:
    input:
        expression=omics_input("expression"),
        samples=omics_input("samples"),
        clinical=omics_input("clinical"),
        genesets=list(OMICS_GENESETS.values()),
    output:
        gsea="results/omics/observed/gsea.tsv",
    log:
        "logs/omics/observed.log",
    benchmark:
        "results/benchmarks/omics_observed.tsv"
    conda:
        "../../envs/omics.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        genesets=OMICS_GENESETS,
    script:
        "../scripts/omics_observed.py"


rule omics_tables:
    input:
        gsea=[f"results/omics/{r}/gsea.tsv" for r in config["recipes"]]
        + ["results/omics/observed/gsea.tsv"],
        ora=[f"results/omics/{r}/ora.tsv" for r in config["recipes"]],
    output:
        gsea="results/tables/gsea.tsv",
        ora="results/tables/ora.tsv",
        figure="results/figures/omics/gsea_endpoints.pdf",
    log:
        "logs/omics/tables.log",
    conda:
        "../../envs/omics.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/omics_tables.py"


rule omics_immune:
    input:
        expression=omics_input("expression"),
        groups="results/omics/groups.tsv",
        genesets=OMICS_GENESETS["immune"],
    output:
        scores="results/tables/immune_scores.tsv",
        table="results/tables/immune.tsv",
        figures=directory("results/figures/omics/immune"),
    log:
        "logs/omics/immune.log",
    benchmark:
        "results/benchmarks/omics_immune.tsv"
    conda:
        "../../envs/omics.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "../scripts/omics_immune.py"


rule omics_single_cell:
    input:
        anndata=OMICS["single_cell"]["anndata"] or [],
        groups="results/omics/groups.tsv",
        hallmark=OMICS_GENESETS["hallmark"],
    output:
        table="results/tables/single_cell.tsv",
        figures=directory("results/figures/omics/single_cell"),
    log:
        "logs/omics/single_cell.log",
    benchmark:
        "results/benchmarks/omics_single_cell.tsv"
    conda:
        "../../envs/omics.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    script:
        "../scripts/omics_single_cell.py"
