# Input functions and file lists of the paper rules (workflow/rules/paper.smk).
from hccfusion.paper import figure_stems, paper_spec

PAPER_SPEC = paper_spec(config, OMICS_ON)
PAPER_STEMS = figure_stems(PAPER_SPEC)


def paper_outputs(wildcards=None):
    """Every file of the paper target: figures (PDF + PNG), Table 1, the checklist."""
    return [
        *[f"results/paper/{s}.{x}" for s in PAPER_STEMS for x in ("pdf", "png")],
        "results/paper/table1.tsv",
        "results/paper/table1.md",
        "results/checklist.md",
    ]


def paper_targets(wildcards):
    """What rule all asks of the paper (nothing unless paper.enabled)."""
    return paper_outputs() if config["paper"]["enabled"] else []


def _model_tables(recipe_endpoint, names):
    if recipe_endpoint is None:
        return []
    r, e = recipe_endpoint
    return [f"results/models/{r}/{e}/{n}" for n in names]


def paper_inputs(wildcards):
    """The tables the figures are composed from (nothing is refitted)."""
    spec = PAPER_SPEC
    shap = ["shap.tsv"] if spec.shap_components else []
    common = [
        "predictions.tsv",
        "algorithms.tsv",
        "selected_features.tsv",
        "cutoffs.tsv",
        "performance.tsv",
        "calibration.tsv",
        "calibration_summary.tsv",
        "decision_curve.tsv",
        *shap,
    ]
    models = _model_tables(spec.response, common) + _model_tables(
        spec.survival, [*common, "stratification.tsv"]
    )
    omics = []
    if spec.omics:
        first = spec.response or spec.survival
        omics = [
            *omics_outputs(wildcards),
            "results/tables/immune_scores.tsv",
            "results/omics/groups.tsv",
            f"results/figures/omics/{first[0]}/enrichment",
        ]
    return {
        "clinical": clinical_table(wildcards),
        "features": "results/features/radiomics.tsv",
        "split": "results/splits.tsv",
        "models": models,
        "omics": omics,
    }
