"""How much of the demo's oracle a model can reach from its training patients at all.

The oracle of ``truth.tsv`` scores each patient with the *true* linear predictor, whose
coefficients were never estimated. A model must estimate them from the training patients (70 in
the default demo: 7:3 of centre A's 100). This benchmark fits the best possible such model, the
correctly specified one on the *true latent variables* (a logistic regression on exactly the
terms of the response model; a Cox model on exactly the terms of the OS model, lifelines), on 70
training patients of centre A, and scores centre B (60 patients), over ``--seeds`` demo seeds
(clinical and outcomes only, no images; :func:`hccfusion.demo.cohort.simulate_centre`). Its ratio
to the oracle is the ceiling of any learned model at this sample size, before the model has to
find these variables among a thousand radiomics features and measure them through images.

    .venv/bin/python benchmarks/learnability.py --seeds 20
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.utils import concordance_index
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from hccfusion.demo import outcomes as oc
from hccfusion.demo.cohort import simulate_centre
from hccfusion.demo.scales import SCALES


def _frame(records, terms) -> pd.DataFrame:
    rows = []
    for r in records:
        row = {k: oc._term(r.latents, k) for k in terms}
        row.update(response=int(r.clinical["response_3m"]), os_days=float(r.clinical["os_days"]),
                   os_event=int(r.clinical["os_event"]), true_prob=r.truth.response_prob,
                   true_os=r.truth.os_lp)
        rows.append(row)
    return pd.DataFrame(rows)


def one_seed(seed: int, n_train: int, scale) -> dict:
    terms = sorted(set(oc.RESPONSE_COEF) | set(oc.OS_COEF))
    a = _frame(simulate_centre(seed, "A", 100, scale, geometry=False), terms)
    b = _frame(simulate_centre(seed, "B", 60, scale, geometry=False), terms)
    train = a.sample(n=n_train, random_state=seed)
    resp = list(oc.RESPONSE_COEF)
    fit = LogisticRegression(C=1e6, max_iter=5000).fit(train[resp], train.response)
    os_terms = list(oc.OS_COEF)
    cox = CoxPHFitter().fit(train[[*os_terms, "os_days", "os_event"]], "os_days", "os_event")
    return {
        "seed": seed,
        "oracle_auc": roc_auc_score(b.response, b.true_prob),
        "fitted_auc": roc_auc_score(b.response, fit.predict_proba(b[resp])[:, 1]),
        "oracle_c": concordance_index(b.os_days, -b.true_os, b.os_event),
        "fitted_c": concordance_index(b.os_days, -cox.predict_partial_hazard(b[os_terms]),
                                      b.os_event),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--n-train", type=int, default=70)
    args = ap.parse_args(argv)
    table = pd.DataFrame([one_seed(20260620 + s, args.n_train, SCALES["default"])
                          for s in range(args.seeds)])
    table["auc_ratio"] = table.fitted_auc / table.oracle_auc
    table["c_ratio"] = table.fitted_c / table.oracle_c
    print(table.to_string(index=False, float_format="%.3f"))
    summary = table.drop(columns="seed").agg(["mean", "std", "min", "max"])
    print("\n" + summary.to_string(float_format="%.3f"))
    print(f"\nshare of seeds with the fitted ratio >= 0.92: AUC "
          f"{np.mean(table.auc_ratio >= 0.92):.2f}, C-index {np.mean(table.c_ratio >= 0.92):.2f}")


if __name__ == "__main__":
    main()
