# Transcriptomic branch (seed 001, Figure 7): patients with matched CT and RNA-seq go through the
# per-patient imaging branch, the frozen models score them, and their predicted groups are
# compared on expression (DE, GSEA, ORA, ssGSEA immune infiltration).


include: "omics_inputs.smk"


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
        missing=omics_scan_missing,
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
        rows=omics_per_patient("results/omics/features/radiomics/{patient}_{phase}.tsv"),
    output:
        features="results/omics/features/radiomics.tsv",
        excluded="results/omics/excluded.tsv",
    log:
        "logs/omics/merge_radiomics.log",
    benchmark:
        "results/benchmarks/omics_merge_radiomics.tsv"
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
        models=[
            f"results/models/{r}/{e}/model_files"
            for r, e in RECIPE_ENDPOINTS
            if r in OMICS_RECIPES
        ],
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
        table=report(
            "results/tables/de_{recipe}.tsv",
            caption="../report/omics_de.rst",
            category="Transcriptomics",
            subcategory="Differential expression",
        ),
        figures=report(
            directory("results/figures/omics/{recipe}/de"),
            patterns=["{figure}.png"],
            caption="../report/omics_de.rst",
            category="Transcriptomics",
            subcategory="Differential expression",
        ),
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
        figures=report(
            directory("results/figures/omics/{recipe}/enrichment"),
            patterns=["{figure}.png"],
            caption="../report/omics_gsea.rst",
            category="Transcriptomics",
            subcategory="Enrichment",
        ),
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
        gsea=[f"results/omics/{r}/gsea.tsv" for r in OMICS_RECIPES]
        + ["results/omics/observed/gsea.tsv"],
        ora=[f"results/omics/{r}/ora.tsv" for r in OMICS_RECIPES],
    output:
        gsea=report(
            "results/tables/gsea.tsv",
            caption="../report/omics_gsea.rst",
            category="Transcriptomics",
            subcategory="Enrichment",
        ),
        ora=report(
            "results/tables/ora.tsv",
            caption="../report/omics_gsea.rst",
            category="Transcriptomics",
            subcategory="Enrichment",
        ),
        figure="results/figures/omics/gsea_endpoints.pdf",
        png=report(
            "results/figures/omics/gsea_endpoints.png",
            caption="../report/omics_gsea.rst",
            category="Transcriptomics",
            subcategory="Enrichment",
        ),
    log:
        "logs/omics/tables.log",
    benchmark:
        "results/benchmarks/omics_tables.tsv"
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
        table=report(
            "results/tables/immune.tsv",
            caption="../report/omics_immune.rst",
            category="Transcriptomics",
            subcategory="Immune infiltration",
        ),
        figures=report(
            directory("results/figures/omics/immune"),
            patterns=["{figure}.png"],
            caption="../report/omics_immune.rst",
            category="Transcriptomics",
            subcategory="Immune infiltration",
        ),
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
