# The paper (seed 001): Figures 3-7 and supplementary panels composed from the run's tables,
# Table 1 with tests, and the CLEAR / TRIPOD+AI checklist filled from the run's provenance.


include: "paper_inputs.smk"


rule paper_figures:
    input:
        unpack(paper_inputs),
    output:
        pdf=[f"results/paper/{s}.pdf" for s in PAPER_STEMS],
        png=[
            report(
                f"results/paper/{s}.png",
                caption="../report/paper.rst",
                category="Paper",
                labels={"figure": s},
            )
            for s in PAPER_STEMS
        ],
    log:
        "logs/paper/figures.log",
    benchmark:
        "results/benchmarks/paper_figures.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "../scripts/paper_figures.py"


rule table1:
    input:
        clinical=clinical_table,
        split="results/splits.tsv",
    output:
        table="results/paper/table1.tsv",
        markdown=report(
            "results/paper/table1.md",
            caption="../report/table1.rst",
            category="Paper",
        ),
    log:
        "logs/paper/table1.log",
    benchmark:
        "results/benchmarks/table1.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/table1.py"


rule checklist:
    input:
        clinical=clinical_table,
        split="results/splits.tsv",
        excluded="results/qc/excluded.tsv",
        imaging_qc=imaging_outputs,
        robustness=robustness_input,
        features="results/features/radiomics.tsv",
        params=resolve(config["radiomics"]["params"]),
        models=[f"results/models/{r}/{e}/model_files" for r, e in RECIPE_ENDPOINTS],
        algorithms=[
            f"results/models/{r}/{e}/algorithms.tsv" for r, e in RECIPE_ENDPOINTS
        ],
        calibration=[
            f"results/models/{r}/{e}/calibration_summary.tsv"
            for r, e in RECIPE_ENDPOINTS
        ],
        performance="results/tables/performance.tsv",
        table1="results/paper/table1.tsv",
    output:
        report(
            "results/checklist.md",
            caption="../report/checklist.rst",
            category="Reproducibility",
        ),
    log:
        "logs/paper/checklist.log",
    benchmark:
        "results/benchmarks/checklist.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/checklist.py"


rule paper:
    input:
        paper_outputs(),
