"""Rule fit_recipe: one recipe x endpoint fitted on training patients; predictions, frozen
risk cut-offs, model files and the tables of the fit (algorithm comparison, selection, fusion)."""

import numpy as np
import pandas as pd

from hccfusion import runlog
from hccfusion.evaluate import monthly_survival
from hccfusion.persist import median_cutoffs, save_models, table_sha256
from hccfusion.recipes import CHOICE_COLUMNS, EXTRA_TABLES, fusion_choice, read_inputs, run_recipe
from hccfusion.score_effects import effect_rows, score_values

log = runlog.to_file(snakemake.log[0])
wc, inp, out, cfg = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.config
clinical, radiomics, split, robust, extra = read_inputs(
    inp.clinical, inp.features, inp.split, inp.robustness,
    {name: inp[name] for name in EXTRA_TABLES if name in inp.keys()})
groups, choice = [], pd.DataFrame(columns=CHOICE_COLUMNS)
if "fuse_like" in inp.keys():  # early or late, as the referenced recipe did better on train_cv
    groups, choice = fusion_choice(wc.recipe, wc.endpoint, cfg,
                                   pd.read_csv(inp.fuse_like, sep="\t"), clinical)
choice.to_csv(out.choice, sep="\t", index=False, float_format="%.6g")
_, predictions, details = run_recipe(
    wc.recipe, wc.endpoint, cfg, clinical, radiomics, split, robust=robust, extra=extra,
    with_details=True, performance=False, early_groups=groups,
)
fitted = details.fitted
endpoint = cfg["endpoints"][wc.endpoint]
if endpoint["type"] == "survival":
    surv = monthly_survival(details.survival, cfg["evaluation"]["horizons_months"],
                            cfg["evaluation"]["time_unit"])
    predictions = predictions.merge(surv, on=["patient_id", "cohort", "component"], how="left")
predictions.to_csv(out.predictions, sep="\t", index=False, float_format="%.8g")

# Frozen cut-offs, from training patients only: the final models' median training score (for
# internal, external and new patients) and the out-of-fold median (for the train_cv groups;
# pandas' median skips a patient a fold model could not score).
apparent = median_cutoffs(fitted, details.training)
oof = predictions[predictions.cohort == "train_cv"].groupby("component").score.median()
cutoffs = pd.DataFrame({"component": list(apparent), "cutoff": list(apparent.values()),
                        "cutoff_train_cv": [oof.get(c, np.nan) for c in apparent]})
cutoffs.to_csv(out.cutoffs, sep="\t", index=False, float_format="%.10g")
save_models(out.models, {(wc.recipe, wc.endpoint): fitted},
            cutoffs={(wc.recipe, wc.endpoint): apparent},
            training_data_hash=table_sha256(details.training), config=cfg,
            time_unit=cfg["evaluation"]["time_unit"],
            horizons_months=cfg["evaluation"]["horizons_months"])
# Scores that are one number (composite score, existing clinical scores): OR / HR per unit.
data = details.cohort.data
scores = {c: pd.Series(v, index=data.index) for c, v in score_values(fitted, data).items()}
effect_rows(wc.recipe, wc.endpoint, scores, data["cohort"], data, cfg["endpoints"]).to_csv(
    out.effects, sep="\t", index=False, float_format="%.6g")
details.algorithm_scores.to_csv(out.algorithms, sep="\t", index=False, float_format="%.6g")
details.selected_features.to_csv(out.selected, sep="\t", index=False)
details.fusion_weights.to_csv(out.fusion, sep="\t", index=False, float_format="%.6g")
log.info("%d predictions; cut-offs\n%s", len(predictions), cutoffs.to_string())
