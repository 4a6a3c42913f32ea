"""Rule stratify: risk groups by the frozen training-median cut-off, per cohort and component."""

from pathlib import Path

import pandas as pd

from hccfusion import runlog
from hccfusion.figures.km import forest_figure, km_figure
from hccfusion.sheets import load_clinical
from hccfusion.stratify import (
    COLUMNS,
    higher_is_worse,
    risk_groups,
    stratification_rows,
    subgroups_from_config,
)
from hccfusion.timeunits import to_months

log = runlog.to_file(snakemake.log[0])
wc, inp, cfg = snakemake.wildcards, snakemake.input, snakemake.config
scfg = cfg["stratification"]
figures = Path(snakemake.output.figures)
figures.mkdir(parents=True, exist_ok=True)
predictions = pd.read_csv(inp.predictions, sep="\t")
cutoffs = pd.read_csv(inp.cutoffs, sep="\t").set_index("component")
clinical = load_clinical(inp.clinical).set_index("patient_id")
split = pd.read_csv(inp.split, sep="\t")
subgroups, absent = subgroups_from_config(
    scfg["subgroups"], clinical, split.patient_id[split.cohort == "train"])
adjust_for = [c for c in scfg["adjust_for"] if c in clinical.columns]
for what in absent + [f"adjust_for '{c}'" for c in scfg["adjust_for"] if c not in adjust_for]:
    log.warning("stratification.%s: not in the clinical table %s; left out", what, inp.clinical)
# Groups are compared on survival: the endpoint's own, or for a binary endpoint the first
# survival endpoint of the config.
endpoint = cfg["endpoints"][wc.endpoint]
worse = higher_is_worse(endpoint)  # false for the probability of response
outcome = endpoint if endpoint["type"] == "survival" else next(
    (e for e in cfg["endpoints"].values() if e["type"] == "survival"), None)
rows = []
if outcome is None:
    log.warning("no survival endpoint in the config: nothing to stratify %s on", wc.endpoint)
for (cohort, component), part in predictions.groupby(["cohort", "component"], sort=False):
    if outcome is None:
        break
    part = part.set_index("patient_id")
    missing = int(part.score.isna().sum())
    if missing:  # a model that could not score some patients: say so, stratify the others
        log.warning("%s %s: %d patients without a score left out", cohort, component, missing)
        part = part[part.score.notna()]
    cl = clinical.loc[part.index]
    months = to_months(cl[outcome["time"]], cfg["evaluation"]["time_unit"]).to_numpy()
    event = cl[outcome["event"]].to_numpy()
    # train_cv scores are out of fold: their own training median; the frozen model's elsewhere.
    cutoff = float(cutoffs.loc[component, "cutoff_train_cv" if cohort == "train_cv" else "cutoff"])
    rows.append(stratification_rows(
        wc.recipe, component, wc.endpoint, cohort, part.score.to_numpy(), cutoff, months, event,
        cl.reset_index(), subgroups=subgroups, adjust_for=adjust_for,
        higher_is_worse=worse,
    ))
    if component == "fusion":
        groups = risk_groups(part.score.to_numpy(), cutoff, higher_is_worse=worse)
        km_figure(months, event, groups,
                  title=f"{wc.recipe} {wc.endpoint}: {cohort}", xlabel="Months",
                  path=figures / f"km_{cohort}")
table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COLUMNS)
table.to_csv(snakemake.output.table, sep="\t", index=False, float_format="%.6g")
forest = table[(table.component == "fusion") & (table.cohort != "train_cv")]
for cohort, part in forest.groupby("cohort"):
    forest_figure(part, title=f"{wc.recipe} {wc.endpoint}: {cohort}", path=figures / f"forest_{cohort}")
log.info("%d stratification rows", len(table))
