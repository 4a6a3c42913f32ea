"""Rule deep_train: the cross-fitted CNN ensemble on the training patients, the DL scores of
every split patient (block `deep` of the recipes) and the frozen weights."""

import pandas as pd

from hccfusion import runlog
from hccfusion.deep.branch import feature_table, read_crops, training_settings
from hccfusion.deep.train import fit_ensemble
from hccfusion.deep.weights import save_weights
from hccfusion.sheets import load_clinical

log = runlog.to_file(snakemake.log[0])
inp, out, cfg = snakemake.input, snakemake.output, snakemake.params.deep
split = pd.read_csv(inp.split, sep="\t", dtype={"patient_id": str})
crops, gone = read_crops(inp.crops, inp.status, split.patient_id)
gone.to_csv(out.excluded, sep="\t", index=False)
if len(gone):
    log.warning("%d patient(s) without a crop get no DL score (NaN): %s", len(gone),
                ", ".join(gone.patient_id))
train = sorted(set(split.patient_id[split.cohort == "train"]) & set(crops))
clinical = load_clinical(inp.clinical)
result = fit_ensemble(crops, clinical, train, endpoints=snakemake.params.endpoints,
                      threads=snakemake.threads, **training_settings(cfg))
result.predictions.to_csv(out.predictions, sep="\t", index=False, float_format="%.8g")
result.history.to_csv(out.history, sep="\t", index=False, float_format="%.6g")
feature_table(result.predictions, list(split.patient_id), embeddings=cfg["embeddings"]).to_csv(
    out.features, sep="\t", index=False, float_format="%.8g")
save_weights(out.weights, result.state_dicts, result.meta)
log.info("ensemble of %d x %d networks on %d training patients; %d patients scored",
         cfg["n_models"], cfg["folds"] + 1, len(train), len(result.predictions))
