"""Net benefit (binary and survival) against its definition, hand computations and real data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.datasets import load_veterans_lung_cancer, load_whas500
from sksurv.nonparametric import kaplan_meier_estimator

from hccfusion.decision_curve import (
    COLUMNS,
    TREAT_ALL,
    TREAT_NONE,
    decision_curve,
    default_thresholds,
    net_benefit,
    survival_decision_curve,
    survival_net_benefit,
)


def _breast_cancer_predictions():
    """Held-out probabilities of a benign tumour (class 1) from a logistic regression."""
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    return y_te, model.fit(X_tr, y_tr).predict_proba(X_te)[:, 1]


def test_references_threshold_zero_and_perfect_model():
    y, prob = _breast_cancer_predictions()
    prevalence = y.mean()
    dca = decision_curve(y, {"logistic": prob, "perfect": y.astype(float)})
    assert list(dca.columns) == COLUMNS
    assert set(dca.model) == {"logistic", "perfect", TREAT_ALL, TREAT_NONE}
    at = dca.set_index(["model", "threshold"]).net_benefit
    pt = default_thresholds()
    # at threshold 0 everyone is treated: net benefit = prevalence
    for model in ("logistic", "perfect", TREAT_ALL):
        assert at[model, 0.0] == pytest.approx(prevalence)
    assert (at[TREAT_NONE] == 0).all()
    np.testing.assert_allclose(at[TREAT_ALL], prevalence - (1 - prevalence) * pt / (1 - pt))
    # a perfect model treats exactly the events at every threshold
    np.testing.assert_allclose(at["perfect"], prevalence)
    # a good model beats both references over the clinically relevant range
    mid = (pt >= 0.2) & (pt <= 0.8)
    assert (at["logistic"].to_numpy()[mid] > np.maximum(at[TREAT_ALL].to_numpy()[mid], 0)).all()


def test_binary_net_benefit_by_hand():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.2])
    # pt 0.5: treat 0.9 (TP) and 0.6 (FP): 1/5 - 1/5 * 1 = 0
    # pt 0.3: treat 0.9, 0.4 (TP) and 0.6 (FP): 2/5 - 1/5 * 0.3/0.7
    nb = net_benefit(y, p, [0.5, 0.3, 0.95])
    np.testing.assert_allclose(nb, [0.0, 0.4 - 0.2 * 0.3 / 0.7, 0.0])
    with pytest.raises(ValueError):
        net_benefit(y, p, [0.2, 1.0])


def test_survival_net_benefit_by_hand():
    time = np.arange(1.0, 9.0)
    event = np.array([1, 0, 1, 1, 0, 1, 0, 0])
    risk = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.3, 0.05])
    # pt 0.5: treated t = 1 (event), 2 (cens), 3 (event), 5 (cens); KM at 4.5:
    #   3/4 * 1/2 = 3/8; NB = (1 - 3/8) * 4/8 - 3/8 * 4/8 * 0.5/0.5 = 0.125
    # pt 0.2: treated t = 1e, 2c, 3e, 4e, 5c, 7c; KM at 4.5: 5/6 * 3/4 * 2/3 = 5/12;
    #   NB = 7/12 * 6/8 - 5/12 * 6/8 * 0.2/0.8
    # pt 0.95: nobody treated: 0
    nb = survival_net_benefit(time, event, risk, 4.5, [0.5, 0.2, 0.95])
    np.testing.assert_allclose(nb, [0.125, 7 / 12 * 0.75 - 5 / 12 * 0.75 * 0.25, 0.0])
    # treat all: KM at 4.5 of everyone = 7/8 * 5/6 * 4/5 = 7/12; at pt 0.5: 5/12 - 7/12
    dca = survival_decision_curve(time, event, {"m": risk}, 4.5, [0.5])
    assert dca.set_index("model").net_benefit[TREAT_ALL] == pytest.approx(-1 / 6)


def test_survival_without_censoring_equals_binary_net_benefit():
    # veterans' lung cancer, patients who died (no censoring): KM at t is the plain fraction
    X, y = load_veterans_lung_cancer()
    died = y["Status"]
    t = y["Survival_in_days"][died]
    risk = 1 - X["Karnofsky_score"].to_numpy()[died] / 100
    horizon = 100.0
    pt = np.linspace(0.0, 0.9, 19)
    np.testing.assert_allclose(
        survival_net_benefit(t, np.ones_like(t), risk, horizon, pt),
        net_benefit(t <= horizon, risk, pt),
        atol=1e-12,
    )


def test_survival_net_benefit_undefined_beyond_follow_up():
    time = np.array([1.0, 2.0, 3.0, 10.0, 12.0])
    event = np.array([1, 0, 0, 1, 0])
    risk = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    # at pt 0.5 the treated group (t = 1, 2, 3) is followed for 3 only, with survivors: NaN
    nb = survival_net_benefit(time, event, risk, 5.0, [0.05, 0.5])
    assert np.isfinite(nb[0]) and np.isnan(nb[1])


def test_survival_decision_curve_bootstrap_on_whas500():
    X, y = load_whas500()
    horizon = 365.0
    # a crude 1-year risk from age alone; a model everyone would reach for first
    risk = np.clip((X["age"].to_numpy() - 30) / 80, 0, 0.99)
    pt = np.array([0.0, 0.2, 0.4])
    dca = survival_decision_curve(
        y["lenfol"], y["fstat"], {"age": risk}, horizon, pt, n_boot=60, seed=1
    )
    again = survival_decision_curve(
        y["lenfol"], y["fstat"], {"age": risk}, horizon, pt, n_boot=60, seed=1
    )
    assert dca.equals(again)
    by = dca.set_index(["model", "threshold"])
    # at threshold 0 everyone is treated: NB = 1 - KM(t), the cohort's 1-year mortality
    km_t, km_s = kaplan_meier_estimator(y["fstat"], y["lenfol"])
    mortality = 1 - km_s[np.searchsorted(km_t, horizon, side="right") - 1]
    assert by.loc[(TREAT_ALL, 0.0)].net_benefit == pytest.approx(mortality)
    assert by.loc[("age", 0.0)].net_benefit == pytest.approx(mortality)
    finite = dca[dca.model != TREAT_NONE]
    assert (finite.ci_lower <= finite.net_benefit).all()
    assert (finite.net_benefit <= finite.ci_upper).all()
    assert (dca[dca.model == TREAT_NONE][["ci_lower", "ci_upper"]] == 0).all().all()
    with pytest.raises(ValueError, match="reserved"):
        decision_curve([0, 1], {TREAT_ALL: [0.1, 0.2]})


def test_binary_bootstrap_ci_brackets_estimate():
    y, prob = _breast_cancer_predictions()
    dca = decision_curve(y, {"logistic": prob}, [0.1, 0.5, 0.9], n_boot=200, seed=0)
    ours = dca[dca.model == "logistic"]
    assert (ours.ci_lower < ours.net_benefit).all() and (ours.net_benefit < ours.ci_upper).all()
    assert decision_curve(y, {"logistic": prob}, [0.5]).ci_lower.isna().all()
