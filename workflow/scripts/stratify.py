"""Rule stratify: risk groups by the frozen training-median cut-off, per cohort and component."""

import pandas as pd

from hccfusion import runlog
from hccfusion.figures.km import forest_figure, km_figure
from hccfusion.sheets import load_clinical
from hccfusion.stratify import Subgroup, stratification_rows
from hccfusion.timeunits import to_months

log = runlog.to_file(snakemake.log[0])
wc, inp, cfg = snakemake.wildcards, snakemake.input, snakemake.config
endpoint = cfg["endpoints"][wc.endpoint]
scfg = cfg["stratification"]
predictions = pd.read_csv(inp.predictions, sep="\t")
cutoffs = pd.read_csv(inp.cutoffs, sep="\t").set_index("component")
clinical = load_clinical(inp.clinical).set_index("patient_id")
split = pd.read_csv(inp.split, sep="\t").set_index("patient_id")
train = split.index[split.cohort == "train"]
# Cuts from training patients only (a fixed number otherwise).
subgroups = {}
for name, spec in scfg["subgroups"].items():
    if spec["column"] not in clinical.columns:
        log.warning("subgroup %s: no column %s in the clinical table; left out", name,
                    spec["column"])
        continue
    if spec.get("cut") == "training_median":
        subgroups[name] = Subgroup.at_training_median(
            spec["column"], clinical.loc[train, spec["column"]], labels=spec.get("labels"))
    else:
        subgroups[name] = Subgroup(spec["column"], cut=spec.get("cut"),
                                   labels=spec.get("labels"), recode=spec.get("recode"))
if endpoint["type"] == "survival":
    time_col, event_col = endpoint["time"], endpoint["event"]
else:  # a binary endpoint's groups are stratified on overall survival
    time_col, event_col = cfg["endpoints"]["os"]["time"], cfg["endpoints"]["os"]["event"]
rows, km_panels = [], []
for (cohort, component), part in predictions.groupby(["cohort", "component"], sort=False):
    part = part.set_index("patient_id")
    missing = int(part.score.isna().sum())
    if missing:  # a model that could not score some patients: say so, stratify the others
        log.warning("%s %s: %d patients without a score left out", cohort, component, missing)
        part = part[part.score.notna()]
    cl = clinical.loc[part.index]
    months = to_months(cl[time_col], cfg["evaluation"]["time_unit"])
    # train_cv scores are out of fold: their own training median; the frozen model's elsewhere.
    column = "cutoff_train_cv" if cohort == "train_cv" else "cutoff"
    cutoff = float(cutoffs.loc[component, column])
    rows.append(stratification_rows(
        wc.recipe, component, wc.endpoint, cohort, part.score.to_numpy(), cutoff,
        months.to_numpy(), cl[event_col].to_numpy(), cl.reset_index(),
        subgroups=subgroups, adjust_for=[c for c in scfg["adjust_for"] if c in cl.columns],
    ))
    if component == "fusion":
        from hccfusion.stratify import risk_groups

        groups = risk_groups(part.score.to_numpy(), cutoff)
        km_figure(months.to_numpy(), cl[event_col].to_numpy(), groups,
                  title=f"{wc.recipe} {wc.endpoint}: {cohort}", xlabel="Months",
                  path=f"{snakemake.output.figures}/km_{cohort}")
table = pd.concat(rows, ignore_index=True)
table.to_csv(snakemake.output.table, sep="\t", index=False, float_format="%.6g")
forest = table[(table.component == "fusion") & (table.cohort != "train_cv")]
for cohort, part in forest.groupby("cohort"):
    forest_figure(part, title=f"{wc.recipe} {wc.endpoint}: {cohort}",
                  path=f"{snakemake.output.figures}/forest_{cohort}")
log.info("%d stratification rows", len(table))
