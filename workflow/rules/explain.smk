# Model explanation: out-of-fold SHAP values of each component and the correlation matrix of its
# selected features (seed 001, Figures 3 and 5).

explain_outputs = (
    [f"results/models/{r}/{e}/shap_importance.tsv" for r, e in RECIPE_ENDPOINTS]
    if config["explain"]["enabled"]
    else []
)


rule explain:
    input:
        unpack(recipe_extra_inputs),
        clinical=clinical_table,
        features="results/features/radiomics.tsv",
        split="results/splits.tsv",
        robustness=robustness_input,
        models="results/models/{recipe}/{endpoint}/model_files",
    output:
        shap="results/models/{recipe}/{endpoint}/shap.tsv",
        importance="results/models/{recipe}/{endpoint}/shap_importance.tsv",
        correlation="results/models/{recipe}/{endpoint}/correlation.tsv",
        figures=report(
            directory("results/figures/{recipe}/{endpoint}/explain"),
            patterns=["{figure}.png"],
            caption="../report/explain.rst",
            category="Models",
            subcategory="{recipe} {endpoint}",
            labels={
                "recipe": "{recipe}",
                "endpoint": "{endpoint}",
                "figure": "{figure}",
            },
        ),
    log:
        "logs/explain/{recipe}_{endpoint}.log",
    benchmark:
        "results/benchmarks/explain/{recipe}_{endpoint}.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    script:
        "../scripts/explain.py"
