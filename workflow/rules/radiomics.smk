# Per patient x phase radiomics with PyRadiomics, then one wide table for the cohort.


rule radiomics:
    input:
        image="results/imaging/{patient}/{phase}/image.nii.gz",
        mask="results/imaging/{patient}/{phase}/mask.nii.gz",
        status="results/imaging/{patient}/{phase}/ingest.json",
        phase_check="results/imaging/{patient}/phase_check.json",
        params=resolve(config["radiomics"]["params"]),
    output:
        "results/features/radiomics/{patient}_{phase}.tsv",
    log:
        "logs/radiomics/{patient}_{phase}.log",
    benchmark:
        "results/benchmarks/radiomics/{patient}_{phase}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "../scripts/radiomics.py"


if FEATURE_TABLE:

    rule import_features:
        input:
            table=FEATURE_TABLE,
            clinical=clinical_table,
        output:
            features=report(
                "results/features/radiomics.tsv",
                caption="../report/radiomics.rst",
                category="Radiomics",
            ),
            excluded=report(
                "results/qc/excluded.tsv",
                caption="../report/excluded.rst",
                category="Cohort",
            ),
        log:
            "logs/import_features.log",
        benchmark:
            "results/benchmarks/import_features.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=5,
        script:
            "../scripts/import_features.py"

else:

    rule merge_radiomics:
        input:
            rows=per_patient("results/features/radiomics/{patient}_{phase}.tsv"),
            deep=deep_crop_statuses,
        output:
            features=report(
                "results/features/radiomics.tsv",
                caption="../report/radiomics.rst",
                category="Radiomics",
            ),
            excluded=report(
                "results/qc/excluded.tsv",
                caption="../report/excluded.rst",
                category="Cohort",
            ),
        log:
            "logs/merge_radiomics.log",
        benchmark:
            "results/benchmarks/merge_radiomics.tsv"
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
