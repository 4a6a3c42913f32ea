"""Quality of every recipe of a run next to the oracle and the clinical-only model.

For each recipe x endpoint of ``results/tables/performance.tsv``: the external (and internal)
AUC or Harrell C-index with its bootstrap 95 % CI of every component, the demo oracle
(``truth.tsv``'s true response probability or linear predictor against the simulated outcomes of
the same patients, no fitting) and the clinical-only model; then the paired comparisons of each
fusion model with the clinical model and with each existing score (``comparisons.tsv``).

    .venv/bin/python benchmarks/recipes.py --demo resources/demo --results results
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from lifelines.utils import concordance_index
from sklearn.metrics import roc_auc_score

METRIC = {"binary": "auc", "survival": "cindex"}


def oracle(truth: pd.DataFrame, clinical: pd.DataFrame, split: pd.DataFrame, endpoint: str,
           cohort: str) -> float:
    """The true predictor of the demo against the simulated outcome in one cohort."""
    ids = split.patient_id[split.cohort == cohort]
    t, c = truth.loc[ids], clinical.loc[ids]
    if endpoint == "response":
        ok = c.response_3m.notna()
        return roc_auc_score(c.response_3m[ok], t.true_response_prob[ok])
    time, event = c[f"{endpoint}_days"], c[f"{endpoint}_event"]
    return concordance_index(time, -t[f"true_{endpoint}_lp"], event)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("resources/demo"))
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--cohorts", nargs="+", default=["external", "internal"])
    args = ap.parse_args()
    truth = pd.read_csv(args.demo / "truth.tsv", sep="\t").set_index("patient_id")
    clinical = pd.read_csv(args.demo / "clinical.tsv", sep="\t").set_index("patient_id")
    split = pd.read_csv(args.results / "splits.tsv", sep="\t")
    perf = pd.read_csv(args.results / "tables/performance.tsv", sep="\t")
    perf = perf[perf.metric.isin(METRIC.values()) & perf.cohort.isin(args.cohorts)]
    rows = []
    for (recipe, endpoint, cohort), part in perf.groupby(["recipe", "endpoint", "cohort"],
                                                         sort=False):
        for r in part.itertuples():
            rows.append({"recipe": recipe, "endpoint": endpoint, "cohort": cohort,
                         "component": r.component, "metric": r.metric,
                         "estimate [95% CI]": f"{r.estimate:.3f} [{r.ci_lower:.3f}, "
                                              f"{r.ci_upper:.3f}]", "n": r.n,
                         "oracle": round(oracle(truth, clinical, split, endpoint, cohort), 3)})
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    cmp = pd.read_csv(args.results / "tables/comparisons.tsv", sep="\t")
    cmp = cmp[(cmp.component == "fusion") & cmp.cohort.isin(args.cohorts)]
    print()
    print(cmp[["recipe", "endpoint", "cohort", "reference", "metric", "difference", "ci_lower",
               "ci_upper", "p"]].round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
