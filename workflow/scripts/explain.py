"""Rule explain: out-of-fold SHAP values and selected-feature correlations of one recipe x
endpoint, from the saved models and the training patients they were fitted on."""

from pathlib import Path

import pandas as pd

from hccfusion import runlog
from hccfusion.explain import (
    correlation_table,
    explain_components,
    feature_correlation,
    selected_features,
    shap_importance,
)
from hccfusion.figures.correlation import correlation_figure
from hccfusion.figures.shap import shap_comparison_figure, shap_summary_figure
from hccfusion.models import model_seed, training_data
from hccfusion.persist import load_models
from hccfusion.recipes import EXTRA_TABLES, model_config, read_inputs, recipe_cohort

log = runlog.to_file(snakemake.log[0])
wc, inp, out, cfg = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.config
ecfg = cfg["explain"]
clinical, radiomics, split, robust, extra = read_inputs(
    inp.clinical, inp.features, inp.split, inp.robustness,
    {name: inp[name] for name in EXTRA_TABLES if name in inp.keys()})
cohort = recipe_cohort(clinical, radiomics, split, robust, extra)
mcfg = model_config(cfg)
endpoint = cfg["endpoints"][wc.endpoint]
X, y, _, _ = training_data(cohort, endpoint, mcfg)
fitted = load_models(inp.models).recipes[(wc.recipe, wc.endpoint)]
components = {c: fitted.components[c] for c in ecfg["components"] if c in fitted.components}
log.info("explaining %s on %d training patients", ", ".join(components), len(X))

values = explain_components(
    components, X, y, kind=endpoint["type"], folds=cfg["cv_folds"], seed=model_seed(mcfg),
    background_size=ecfg["background_size"], max_evals=ecfg["max_evals"])
values.to_csv(out.shap, sep="\t", index=False, float_format="%.10g")
by_component = {c: values[values.component == c] for c in components}
importance = pd.concat([shap_importance(v).reset_index().assign(component=c)
                        for c, v in by_component.items()], ignore_index=True)
importance.to_csv(out.importance, sep="\t", index=False, float_format="%.6g")

figures = Path(out.figures)
figures.mkdir(parents=True, exist_ok=True)
title = f"{wc.recipe} {wc.endpoint}"
pairs = []
for c, v in by_component.items():
    # One block: its "<block>__" prefix says nothing on the figure.
    shown = v.assign(feature=v.feature.str.replace(f"^{c}__", "", regex=True))
    shap_summary_figure(shown, figures / f"shap_summary_{c}", title=f"{title}: {c}")
    corr = feature_correlation(selected_features(components[c], X))
    pairs.append(correlation_table(corr).assign(component=c))
    if corr.r.shape[0] >= 2:
        correlation_figure(corr, figures / f"correlation_{c}", title=f"{title}: {c}")
if by_component:
    shap_comparison_figure({f"{title}: {c}": v for c, v in by_component.items()},
                           figures / "shap_importance")
pd.concat(pairs, ignore_index=True).to_csv(out.correlation, sep="\t", index=False,
                                           float_format="%.6g")
log.info("\n%s", importance.groupby("component").head(5).to_string())
