# Habitats (intratumour heterogeneity, seed 002): a population clustering of supervoxels fitted
# on training patients only, then per patient habitat maps, ITH metrics and per-habitat radiomics.


rule habitat_model:
    input:
        split="results/splits.tsv",
        images=training_scans("image"),
        masks=training_scans("mask"),
    output:
        "results/habitats/model.json",
    log:
        "logs/habitat_model.log",
    benchmark:
        "results/benchmarks/habitat_model.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        habitats=config["habitats"],
        phases=PHASES,
    script:
        "../scripts/habitat_model.py"


rule habitats:
    input:
        model="results/habitats/model.json",
        images=expand("results/imaging/{{patient}}/{phase}/image.nii.gz", phase=PHASES),
        masks=expand("results/imaging/{{patient}}/{phase}/mask.nii.gz", phase=PHASES),
        status="results/imaging/{patient}/phase_check.json",
        params=resolve(config["habitats"]["params"]),
    output:
        features="results/features/habitats/{patient}.tsv",
        habitat_map="results/habitats/{patient}/habitats.nii.gz",
    log:
        "logs/habitats/{patient}.log",
    benchmark:
        "results/benchmarks/habitats/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        habitats=config["habitats"],
        phases=PHASES,
    script:
        "../scripts/habitats.py"


rule merge_habitats:
    input:
        per_patient_only("results/features/habitats/{patient}.tsv"),
    output:
        report(
            "results/features/habitats.tsv",
            caption="../report/habitats.rst",
            category="Radiomics",
            subcategory="Habitats",
        ),
    log:
        "logs/merge_habitats.log",
    benchmark:
        "results/benchmarks/merge_habitats.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/merge_habitats.py"
