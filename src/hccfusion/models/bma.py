r"""Late fusion of survival models by Bayesian model averaging (PRIME-S, seed 001).

Each modality ``k`` (clinical, radiomics, ...) contributes one fitted survival model ``M_k``
with survival function :math:`S_k(t \mid x)`. Bayesian model averaging (Raftery AE. Bayesian
model selection in social research. Sociol Methodol 1995;25:111-63; Hoeting JA, Madigan D,
Raftery AE, Volinsky CT. Stat Sci 1999;14:382-417) predicts with the posterior-weighted mixture

.. math::

    S_{\mathrm{BMA}}(t \mid x) = \sum_k w_k\, S_k(t \mid x), \qquad
    w_k = P(M_k \mid D) = \frac{\exp(-\mathrm{BIC}_k / 2)}{\sum_j \exp(-\mathrm{BIC}_j / 2)},

with equal prior model probabilities and the BIC approximation of each model's evidence on the
training data :math:`D`. For proportional-hazards models Volinsky CT, Madigan D, Raftery AE,
Kronmal RA (Bayesian model averaging in proportional hazards models: assessing the risk of a
stroke. J R Stat Soc C 1997;46:433-48) and Volinsky CT, Raftery AE (Bayesian information
criterion for censored survival models. Biometrics 2000;56:256-62) use the Cox partial likelihood
with the number of events ``d`` as sample size:

.. math::

    \mathrm{BIC}_k = -2\, \ell_k(\hat\beta_k) + p_k \log d .

Here ``l_k`` is the Cox partial log-likelihood (Breslow ties) of the training outcomes given
modality ``k``'s **out-of-fold** risk score ``r_k`` (standardised; ``p_k = 1`` coefficient
``beta_k``): the risk of each training patient comes from the modality's whole pipeline
(preprocessing, selection, learner) fitted without that patient, so a modality that merely
overfits earns no evidence. ``beta_k`` is constrained to be ``>= 0`` (``nonnegative``): a modality
whose out-of-fold risk ranks patients backwards is worth no more than the null model and its own
survival function, which ranks them the other way, must not be rewarded for it. Every ``p_k`` is
1, so the penalty cancels in the weights and ``w_k`` is proportional to the maximised partial
likelihood; it is kept in ``bic_`` for reporting. Nothing of the internal or external cohorts is
used: weights come from the training data alone.

``predict`` returns a risk score for concordance: the restricted mean time lost up to the last
training event time ``tau``, :math:`\int_0^{\tau} (1 - S_{\mathrm{BMA}}(t \mid x))\,dt` (higher =
shorter survival). Not the last follow-up time: a random survival forest's survival function ends
at its last event time, and the integral must exist for every base model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted
from sksurv.base import SurvivalAnalysisMixin
from sksurv.functions import StepFunction

from hccfusion.models.breslow import cox_fit_1d, survival_at
from hccfusion.models.learners import frozen

__all__ = ["BayesianModelAveraging", "bma_weights"]


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def bma_weights(oof_risk: np.ndarray, event, time, *, nonnegative: bool = True):
    """BIC weights of models from their out-of-fold risk scores (module docstring).

    ``oof_risk`` is ``(n_patients, n_models)``. Returns ``(weights, bic, loglik, beta)``; ``beta``
    is per standard deviation of each risk score.
    """
    oof_risk = np.asarray(oof_risk, dtype=float)
    event = np.asarray(event, dtype=bool)
    d = max(int(event.sum()), 1)
    k = oof_risk.shape[1]
    bic, loglik, beta = np.zeros(k), np.zeros(k), np.zeros(k)
    for j in range(k):
        r = oof_risk[:, j]
        sd = np.std(r)
        z = (r - r.mean()) / sd if sd > 0 else np.zeros_like(r)
        beta[j], loglik[j] = cox_fit_1d(z, event, time, nonnegative=nonnegative)
        bic[j] = -2 * loglik[j] + np.log(d)
    rel = -(bic - bic.min()) / 2
    w = np.exp(rel)
    return w / w.sum(), bic, loglik, beta


class BayesianModelAveraging(SurvivalAnalysisMixin, BaseEstimator):
    """Bayesian model averaging of survival pipelines (module docstring).

    ``fit`` refits every base estimator on all training data (``estimators_``), computes their
    out-of-fold risk scores with ``cv`` folds stratified on the event (``oof_``) and the BIC
    weights. With ``fold_search="frozen"`` (default) the out-of-fold fits reuse the learner and
    hyper-parameters each base pipeline chose on all training data (preprocessing and selection
    are refitted in every fold); ``"full"`` repeats the whole learner search in every fold.

    Attributes: ``estimators_``, ``oof_``, ``weights_`` (dict), ``bic_``, ``loglik_``, ``coef_``
    (Cox coefficient of each standardised out-of-fold risk), ``event_times_``, ``tau_``.
    """

    def __init__(self, estimators: Sequence[tuple[str, object]], cv: int = 5,
                 random_state: int = 0, fold_search: str = "frozen", nonnegative: bool = True):
        self.estimators = estimators
        self.cv = cv
        self.random_state = random_state
        self.fold_search = fold_search
        self.nonnegative = nonnegative

    def fit(self, X, y):
        from hccfusion.models.survival import event_splits

        if self.fold_search not in ("frozen", "full"):
            raise ValueError(f"fold_search must be 'frozen' or 'full', got {self.fold_search!r}")
        event = y[y.dtype.names[0]].astype(bool)
        time = y[y.dtype.names[1]].astype(float)
        self.estimators_ = [(name, clone(est).fit(X, y)) for name, est in self.estimators]
        oof = np.zeros((len(y), len(self.estimators)))
        for tr, te in event_splits(y, self.cv, self.random_state):
            for j, (_, fitted) in enumerate(self.estimators_):
                template = (frozen(fitted) if self.fold_search == "frozen"
                            else clone(self.estimators[j][1]))
                oof[te, j] = template.fit(_take(X, tr), y[tr]).predict(_take(X, te))
        self.oof_ = oof
        w, self.bic_, self.loglik_, self.coef_ = bma_weights(
            oof, event, time, nonnegative=self.nonnegative)
        self.weight_array_ = w
        self.event_times_ = np.unique(time[event])
        self.tau_ = float(self.event_times_[-1]) if self.event_times_.size else 0.0
        return self

    @property
    def weights_(self) -> dict[str, float]:
        """Posterior model probability of each base model."""
        check_is_fitted(self, "weight_array_")
        return {name: float(w) for (name, _), w in
                zip(self.estimators, self.weight_array_, strict=True)}

    def predict_survival(self, X, times) -> np.ndarray:
        """Mixture survival probabilities ``(n_patients, len(times))``."""
        check_is_fitted(self, "weight_array_")
        times = np.atleast_1d(np.asarray(times, dtype=float))
        out = np.zeros((len(X), len(times)))
        for (_, est), w in zip(self.estimators_, self.weight_array_, strict=True):
            if w > 0:
                out += w * survival_at(est, X, times)
        return np.clip(out, 0.0, 1.0)

    def predict_survival_function(self, X, return_array: bool = False):
        """Mixture survival step functions (jumps at the training event times)."""
        values = self.predict_survival(X, self.event_times_)
        if return_array:
            return values
        return np.array([StepFunction(self.event_times_, v) for v in values], dtype=object)

    def predict(self, X) -> np.ndarray:
        """Restricted mean time lost up to ``tau_`` under the mixture (higher = worse)."""
        grid = self.event_times_[self.event_times_ <= self.tau_]
        if grid.size == 0:
            return np.zeros(len(X))
        surv = self.predict_survival(X, grid)
        widths = np.diff(np.append(grid, self.tau_))
        return (1.0 - surv) @ widths
