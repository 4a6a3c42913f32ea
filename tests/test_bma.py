"""Bayesian model averaging of survival models (PRIME-S): BIC weights from out-of-fold Cox
evidence that favour the informative modality and sum to 1, and a proper mixture survival."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from hccfusion.models.bma import BayesianModelAveraging, bma_weights
from hccfusion.models.breslow import cox_fit_1d, survival_at
from hccfusion.models.learners import harrell_c


def _data(n=260, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)),
                     columns=["clin_a", "clin_b", "clin_c", "rad_a", "rad_b", "rad_c"])
    lp = 0.9 * X.clin_a - 0.7 * X.clin_b + 0.5 * X.clin_c  # only the clinical block matters
    t = rng.exponential(size=n) / (np.exp(lp) / 700)
    c = rng.uniform(300, 2500, n)
    return X, Surv.from_arrays(event=t <= c, time=np.minimum(t, c))


def _block(cols):
    return Pipeline([("cols", ColumnTransformer([("keep", "passthrough", cols)])),
                     ("cox", CoxPHSurvivalAnalysis(alpha=0.1))])


BASES = [("clinical", _block(["clin_a", "clin_b", "clin_c"])),
         ("radiomics", _block(["rad_a", "rad_b", "rad_c"]))]


@pytest.fixture(scope="module")
def fitted():
    X, y = _data()
    return BayesianModelAveraging(BASES, cv=5, random_state=0).fit(X.iloc[:200], y[:200]), X, y


def test_weights_sum_to_one_and_favour_the_informative_modality(fitted):
    bma, _, _ = fitted
    w = bma.weights_
    assert set(w) == {"clinical", "radiomics"} and sum(w.values()) == pytest.approx(1.0)
    assert w["clinical"] > 0.99 and bma.loglik_[0] > bma.loglik_[1]
    assert bma.oof_.shape == (200, 2)


def test_weights_are_the_bic_formula_on_out_of_fold_risk(fitted):
    bma, _, y = fitted
    y = y[:200]
    d = int(y["event"].sum())
    bic = []
    for j in range(2):
        r = bma.oof_[:, j]
        frame = pd.DataFrame({"z": (r - r.mean()) / r.std(), "T": y["time"], "E": y["event"]})
        ll = CoxPHFitter().fit(frame, "T", "E").log_likelihood_  # no tied times: Efron = Breslow
        bic.append(-2 * ll + np.log(d))
    bic = np.array(bic)
    np.testing.assert_allclose(bma.bic_, bic, rtol=1e-7)
    expected = np.exp(-(bic - bic.min()) / 2)
    np.testing.assert_allclose(bma.weight_array_, expected / expected.sum(), rtol=1e-6)
    # With equal-quality modalities the weights are balanced.
    z = np.random.default_rng(1).normal(size=(200, 1))
    w, *_ = bma_weights(np.hstack([bma.oof_[:, :1], bma.oof_[:, :1]]), y["event"], y["time"])
    np.testing.assert_allclose(w, [0.5, 0.5])
    # An anti-concordant score is worth the null model (beta >= 0), not a strong model.
    w, _, ll, beta = bma_weights(np.hstack([-bma.oof_[:, :1], z]), y["event"], y["time"])
    assert beta[0] == 0.0 and ll[0] == pytest.approx(cox_fit_1d(np.zeros(200), y["event"],
                                                               y["time"])[1])


def test_mixture_survival_is_proper_and_is_the_weighted_sum(fitted):
    bma, X, y = fitted
    Xte = X.iloc[200:]
    times = np.linspace(1, y["time"][:200].max(), 40)
    mix = bma.predict_survival(Xte, times)
    parts = [survival_at(est, Xte, times) for _, est in bma.estimators_]
    np.testing.assert_allclose(mix, sum(w * p for w, p in zip(bma.weight_array_, parts,
                                                               strict=True)))
    assert ((mix >= 0) & (mix <= 1)).all() and (np.diff(mix, axis=1) <= 1e-12).all()
    lo, hi = np.minimum(*parts), np.maximum(*parts)
    assert ((mix >= lo - 1e-12) & (mix <= hi + 1e-12)).all()
    # predict is the restricted mean time lost: ranks like survival, and concordant.
    risk = bma.predict(Xte)
    assert harrell_c(y[200:], risk) > 0.68
    s_mid = bma.predict_survival(Xte, [times[20]])[:, 0]
    assert np.corrcoef(risk, s_mid)[0, 1] < -0.9
    fns = bma.predict_survival_function(Xte[:2])
    assert len(fns) == 2 and fns[0].x[0] == bma.event_times_[0]


def test_forced_equal_weights_change_the_mixture(fitted):
    bma, X, _ = fitted
    Xte = X.iloc[200:210]
    before = bma.predict_survival(Xte, [500.0])
    bma2 = BayesianModelAveraging(BASES, cv=5, random_state=0)
    bma2.__dict__.update({k: v for k, v in bma.__dict__.items() if k.endswith("_")})
    bma2.weight_array_ = np.array([0.5, 0.5])
    after = bma2.predict_survival(Xte, [500.0])
    assert not np.allclose(before, after)
