"""What any model fitted on the demo's training patients can reach, on the demo's actual split.

The quality target of the modelling issue compares the workflow's external AUC and C-index with
the oracle of ``truth.tsv``, which scores each patient with the *true* linear predictor of the
*latent* variables. A fitted model is limited three times over: it must estimate coefficients
from the training patients (here 70), it sees the latents only through noisy clinical variables
and image features, and it must find those among a thousand candidates. This benchmark puts a
figure on each limit, on the same training / internal / external patients as the workflow run
whose ``results/`` it reads:

``oracle``
    truth.tsv against the simulated outcomes (no fitting).
``latent model``
    the correctly specified model (logistic regression on exactly the terms of the response
    model; Cox model on exactly the terms of the OS model) on the *true latents*, fitted on the
    training patients: the ceiling at this sample size with perfect measurement and selection.
``proxy model``
    the same model on the *observed* candidates that measure each latent best (highest
    |Spearman| with it among the training patients, over the clinical variables and the robust
    radiomics features), normal-scores transformed on the training patients: the ceiling with
    the workflow's measurements and a selection that knows the true model (an oracle selection).
``workflow``
    the fusion component of the run (``results/models/<recipe>/<endpoint>/performance.tsv``).

It also prints, for each proxy, its rank among all candidates by univariate association with
the outcome in the training patients (training AUC or C-index distance from 0.5): a feature
ranked in the hundreds cannot be found by any data-driven selection on these patients.

    .venv/bin/python benchmarks/attainable.py --demo resources/demo --results results

The latents are regenerated from the demo seed (the generator's per-patient random streams);
the script checks that they reproduce ``truth.tsv``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.utils import concordance_index
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import QuantileTransformer

from hccfusion.demo import outcomes as oc
from hccfusion.demo.cohort import simulate_centre
from hccfusion.demo.scales import SCALES

COHORTS = ("train", "internal", "external")
NON_CANDIDATES = {"patient_id", "center", "mrecist_3m", "response_3m", "os_days", "os_event",
                  "pfs_days", "pfs_event", "subsequent_therapy", "ldh_u_l"}


def latent_terms(seed: int, scale: str, ids: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The centred latent terms of the outcome models and the true predictors, per patient."""
    sc = SCALES[scale]
    rows, truth = {}, {}
    for centre, n in (("A", sc.n_a), ("B", sc.n_b)):
        for r in simulate_centre(seed, centre, n, sc, geometry=False):
            rows[r.patient_id] = {k: oc._term(r.latents, k)
                                  for k in set(oc.RESPONSE_COEF) | set(oc.OS_COEF)}
            truth[r.patient_id] = {"prob": r.truth.response_prob, "os_lp": r.truth.os_lp}
    return pd.DataFrame(rows).T.loc[ids], pd.DataFrame(truth).T.loc[ids]


def candidates(clinical: pd.DataFrame, radiomics: pd.DataFrame) -> pd.DataFrame:
    """Every numeric candidate predictor: clinical variables (categoricals one-hot) and the
    robust radiomics features."""
    cl = clinical.drop(columns=[c for c in clinical.columns if c in NON_CANDIDATES])
    cl = pd.get_dummies(cl, dtype=float)
    return pd.concat([cl.astype(float), radiomics.astype(float)], axis=1)


def scores(outcome: str, y: pd.DataFrame, score: pd.Series, cohort: pd.Series) -> dict:
    out = {}
    for c in COHORTS:
        m = cohort == c
        if outcome == "response":
            out[c] = roc_auc_score(y.response_3m[m], score[m])
        else:
            out[c] = concordance_index(y.os_days[m], -score[m], y.os_event[m])
    return out


def fit_score(outcome: str, X: pd.DataFrame, y: pd.DataFrame, train: pd.Series) -> pd.Series:
    if outcome == "response":
        model = LogisticRegression(C=1e6, max_iter=10000).fit(X[train], y.response_3m[train])
        return pd.Series(model.decision_function(X), index=X.index)
    data = X.assign(_t=y.os_days, _e=y.os_event)
    model = CoxPHFitter(penalizer=1e-4).fit(data[train], "_t", "_e")
    return pd.Series(np.log(model.predict_partial_hazard(X).to_numpy()), index=X.index)


def univariate_strength(outcome: str, X: pd.DataFrame, y: pd.DataFrame) -> pd.Series:
    if outcome == "response":
        return X.apply(lambda x: abs(roc_auc_score(y.response_3m, x) - 0.5))
    return X.apply(lambda x: abs(concordance_index(y.os_days, x, y.os_event) - 0.5))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", default="resources/demo")
    ap.add_argument("--results", default="results")
    ap.add_argument("--seed", type=int, default=20260620)
    ap.add_argument("--scale", default="default")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    clinical = pd.read_csv(f"{args.demo}/clinical.tsv", sep="\t").set_index("patient_id")
    split = pd.read_csv(f"{args.results}/splits.tsv", sep="\t").set_index("patient_id")
    rob = pd.read_csv(f"{args.results}/features/robustness.tsv", sep="\t")
    radiomics = pd.read_csv(f"{args.results}/features/radiomics.tsv", sep="\t")
    radiomics = radiomics.set_index("patient_id")[list(rob.feature[rob.kept])]
    ids = radiomics.index.intersection(split.index)
    cohort, y = split.cohort.loc[ids], clinical.loc[ids]
    train = cohort == "train"
    terms, truth = latent_terms(args.seed, args.scale, ids)
    stored = pd.read_csv(f"{args.demo}/truth.tsv", sep="\t").set_index("patient_id").loc[ids]
    if not np.allclose(stored.true_response_prob, truth.prob, atol=1e-5):
        raise SystemExit("regenerated latents do not reproduce truth.tsv: wrong --seed/--scale?")

    X = candidates(clinical.loc[ids], radiomics.loc[ids])
    X = X.loc[:, X[train].std() > 0]
    X = X.fillna(X[train].median())
    normal = QuantileTransformer(n_quantiles=int(train.sum()), output_distribution="normal")
    Z = pd.DataFrame(normal.fit(X[train]).transform(X), index=ids, columns=X.columns)
    perf = pd.concat([pd.read_csv(f, sep="\t")  # per-endpoint tables: a partial run suffices
                      for f in sorted(Path(args.results).glob("models/*/*/performance.tsv"))])
    print(f"{int(train.sum())} training, {int((cohort == 'internal').sum())} internal, "
          f"{int((cohort == 'external').sum())} external patients; {X.shape[1]} candidates\n")

    for outcome, coef, metric in (("response", oc.RESPONSE_COEF, "auc"),
                                  ("os", oc.OS_COEF, "cindex")):
        lat = terms[list(coef)].astype(float)
        proxy = {k: Z.columns[int(np.argmax(
            [abs(spearmanr(Z[c][train], lat[k][train])[0]) for c in Z.columns]))]
                 for k in coef}
        strength = univariate_strength(outcome, Z[train], y[train])
        rank = strength.rank(ascending=False, method="min")
        oracle = truth.prob if outcome == "response" else truth.os_lp
        rows = {
            "oracle": scores(outcome, y, oracle, cohort),
            "latent model": scores(outcome, y, fit_score(outcome, lat, y, train), cohort),
            "proxy model": scores(outcome, y, fit_score(
                outcome, Z[sorted(set(proxy.values()))], y, train), cohort),
        }
        wf = perf[(perf.endpoint == outcome) & (perf.component == "fusion")
                  & (perf.metric == metric)].set_index("cohort").estimate
        rows["workflow fusion"] = {"train": wf.get("train_cv", np.nan),
                                   "internal": wf.get("internal", np.nan),
                                   "external": wf.get("external", np.nan)}
        table = pd.DataFrame(rows).T[list(COHORTS)]
        table["ratio to oracle (external)"] = table.external / table.external["oracle"]
        print(f"== {outcome} ({metric}; workflow 'train' = its out-of-fold train_cv)")
        print(table.to_string(float_format="%.3f"))
        print(f"target 0.92 x oracle = {0.92 * table.external['oracle']:.3f}\n")
        proxies = pd.DataFrame({
            "coefficient": pd.Series(coef),
            "proxy": pd.Series(proxy),
            "spearman_train": [abs(spearmanr(Z[proxy[k]][train], lat[k][train])[0])
                               for k in coef],
            "rank_of_proxy": [int(rank[proxy[k]]) for k in coef],
        })
        print(f"proxies (rank among {len(rank)} candidates by univariate training association; "
              f"the strongest candidate reaches {strength.max():.3f} from 0.5)")
        print(proxies.to_string(float_format="%.2f") + "\n")


if __name__ == "__main__":
    main()
