# Cohort level: fit each recipe per endpoint on training patients, validate, collect estimates.


rule fit_recipe:
    input:
        unpack(recipe_extra_inputs),
        clinical=clinical_table,
        features="results/features/radiomics.tsv",
        split="results/splits.tsv",
        robustness=robustness_input,
    output:
        predictions="results/models/{recipe}/{endpoint}/predictions.tsv",
        cutoffs="results/models/{recipe}/{endpoint}/cutoffs.tsv",
        models=directory("results/models/{recipe}/{endpoint}/model_files"),
        algorithms="results/models/{recipe}/{endpoint}/algorithms.tsv",
        selected="results/models/{recipe}/{endpoint}/selected_features.tsv",
        fusion="results/models/{recipe}/{endpoint}/fusion_weights.tsv",
        effects="results/models/{recipe}/{endpoint}/score_effects.tsv",
        choice="results/models/{recipe}/{endpoint}/fusion_choice.tsv",
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


rule evaluate:
    input:
        predictions="results/models/{recipe}/{endpoint}/predictions.tsv",
        algorithms="results/models/{recipe}/{endpoint}/algorithms.tsv",
        clinical=clinical_table,
    output:
        performance="results/models/{recipe}/{endpoint}/performance.tsv",
        comparisons="results/models/{recipe}/{endpoint}/comparisons.tsv",
        calibration="results/models/{recipe}/{endpoint}/calibration.tsv",
        calibration_summary="results/models/{recipe}/{endpoint}/calibration_summary.tsv",
        decision="results/models/{recipe}/{endpoint}/decision_curve.tsv",
        figures=report(
            directory("results/figures/{recipe}/{endpoint}/evaluation"),
            patterns=["{figure}.png"],
            caption="../report/evaluation.rst",
            category="Models",
            subcategory="{recipe} {endpoint}",
            labels={
                "recipe": "{recipe}",
                "endpoint": "{endpoint}",
                "figure": "{figure}",
            },
        ),
    log:
        "logs/evaluate/{recipe}_{endpoint}.log",
    benchmark:
        "results/benchmarks/evaluate/{recipe}_{endpoint}.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/evaluate.py"


rule cohort_tables:
    input:
        performance=[
            f"results/models/{r}/{e}/performance.tsv" for r, e in RECIPE_ENDPOINTS
        ],
        comparisons=[
            f"results/models/{r}/{e}/comparisons.tsv" for r, e in RECIPE_ENDPOINTS
        ],
        stratification=[
            f"results/models/{r}/{e}/stratification.tsv" for r, e in RECIPE_ENDPOINTS
        ],
        score_effects=[
            f"results/models/{r}/{e}/score_effects.tsv" for r, e in RECIPE_ENDPOINTS
        ],
    output:
        performance=report(
            "results/tables/performance.tsv",
            caption="../report/performance.rst",
            category="Models",
        ),
        comparisons=report(
            "results/tables/comparisons.tsv",
            caption="../report/comparisons.rst",
            category="Models",
        ),
        stratification=report(
            "results/tables/stratification.tsv",
            caption="../report/stratification.rst",
            category="Survival",
        ),
        score_effects=report(
            "results/tables/score_effects.tsv",
            caption="../report/score_effects.rst",
            category="Models",
        ),
    log:
        "logs/cohort_tables.log",
    benchmark:
        "results/benchmarks/cohort_tables.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/cohort_tables.py"
