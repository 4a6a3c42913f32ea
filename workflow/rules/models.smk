# Cohort level: fit each recipe per endpoint on training patients, validate, collect estimates.


rule fit_recipe:
    input:
        clinical=clinical_table,
        features="results/features/radiomics.tsv",
        split="results/splits.tsv",
        robustness=robustness_input,
    output:
        performance="results/models/{recipe}/{endpoint}/performance.tsv",
        predictions="results/models/{recipe}/{endpoint}/predictions.tsv",
    log:
        "logs/fit_recipe/{recipe}_{endpoint}.log",
    benchmark:
        "results/benchmarks/fit_recipe/{recipe}_{endpoint}.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/fit_recipe.py"


rule performance_table:
    input:
        [f"results/models/{r}/{e}/performance.tsv" for r, e in RECIPE_ENDPOINTS],
    output:
        report(
            "results/tables/performance.tsv",
            caption="../report/performance.rst",
            category="Models",
        ),
    log:
        "logs/performance_table.log",
    conda:
        "../../envs/models.yaml"
    script:
        "../scripts/performance_table.py"
