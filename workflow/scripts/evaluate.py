"""Rule evaluate: validation statistics and figures of one recipe x endpoint."""

from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion import runlog
from hccfusion.evaluate import evaluate_predictions
from hccfusion.figures import calibration as calfig
from hccfusion.figures.algorithms import plot_algorithm_comparison
from hccfusion.figures.decision import plot_decision_curve
from hccfusion.figures.roc import plot_roc
from hccfusion.figures.style import save
from hccfusion.figures.timedep import plot_time_dependent
from hccfusion.sheets import load_clinical
from hccfusion.timeunits import to_months

log = runlog.to_file(snakemake.log[0])
wc, inp, out, cfg = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.config
endpoint = cfg["endpoints"][wc.endpoint]
ecfg = cfg["evaluation"]
predictions = pd.read_csv(inp.predictions, sep="\t")
clinical = load_clinical(inp.clinical).set_index("patient_id")
if endpoint["type"] == "survival":
    outcomes = pd.DataFrame({
        "time": to_months(clinical[endpoint["time"]].astype(float), ecfg["time_unit"]),
        "event": clinical[endpoint["event"]]})
else:
    outcomes = pd.DataFrame({"y": clinical[endpoint["event"]]})
tables = evaluate_predictions(
    wc.recipe, wc.endpoint, endpoint["type"], predictions, outcomes,
    horizons=ecfg["horizons_months"], n_boot=cfg["bootstrap"]["n"], seed=cfg["bootstrap"]["seed"],
    calibration_groups=ecfg["calibration_groups"],
)
for name in ("performance", "comparisons", "calibration", "calibration_summary", "decision"):
    tables[name].to_csv(getattr(out, name), sep="\t", index=False, float_format="%.6g")

figures = Path(out.figures)
figures.mkdir(parents=True, exist_ok=True)
title = f"{wc.recipe} {wc.endpoint}"
algorithms = pd.read_csv(inp.algorithms, sep="\t")
if not algorithms.empty:
    save(plot_algorithm_comparison(algorithms, title=title), figures / "algorithms")
if endpoint["type"] == "binary":
    roc = predictions.assign(outcome=outcomes.y.reindex(predictions.patient_id).to_numpy())
    save(plot_roc(roc, title=title), figures / "roc")
    save(calfig.plot_binary_calibration(tables["calibration"], hue="component", panel="cohort",
                                        title=title), figures / "calibration")
    save(plot_decision_curve(tables["decision"], panel="cohort", title=title), figures / "dca")
else:
    perf = tables["performance"]
    td = {}
    for kind in ("tdauc", "brier"):
        rows = perf[perf.metric.str.match(rf"{kind}_[0-9.]+m$")].copy()
        rows["horizon"] = rows.metric.str.extract(r"_([0-9.]+)m$")[0].astype(float)
        td[kind] = rows
    save(plot_time_dependent(td["tdauc"], td["brier"], panel="cohort", title=title),
         figures / "timedep")
    h = 12.0 if 12 in ecfg["horizons_months"] else float(ecfg["horizons_months"][0])
    curve = tables["calibration"]
    save(calfig.plot_survival_calibration(curve[np.isclose(curve.horizon, h)], horizon=h,
                                          hue="component", panel="cohort", title=title),
         figures / "calibration")
    dca = tables["decision"]
    save(plot_decision_curve(dca[np.isclose(dca.horizon, h)], panel="cohort",
                             title=f"{title}, {h:g} months"), figures / "dca")
log.info("\n%s", tables["performance"].to_string())
