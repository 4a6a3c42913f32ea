# Risk groups by the frozen training-median cut-off: Kaplan-Meier, log-rank, Cox, subgroups.


rule stratify:
    input:
        predictions="results/models/{recipe}/{endpoint}/predictions.tsv",
        cutoffs="results/models/{recipe}/{endpoint}/cutoffs.tsv",
        clinical=clinical_table,
        split="results/splits.tsv",
    output:
        table="results/models/{recipe}/{endpoint}/stratification.tsv",
        figures=report(
            directory("results/figures/{recipe}/{endpoint}/stratification"),
            patterns=["{figure}.png"],
            caption="../report/km.rst",
            category="Survival",
            subcategory="{recipe} {endpoint}",
            labels={
                "recipe": "{recipe}",
                "endpoint": "{endpoint}",
                "figure": "{figure}",
            },
        ),
    log:
        "logs/stratify/{recipe}_{endpoint}.log",
    benchmark:
        "results/benchmarks/stratify/{recipe}_{endpoint}.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/stratify.py"
