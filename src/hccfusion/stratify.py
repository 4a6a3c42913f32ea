"""Risk stratification: frozen median cut-off, Kaplan-Meier, log-rank, Cox, subgroups, follow-up.

Seed 001 (Lu D, Sun P, Li H, et al. Multimodal modeling distinguishes treatment response from
overall survival in hepatocellular carcinoma receiving combined interventional and targeted
immunotherapy. J Hepatocell Carcinoma 2026;13:613014): "Patients were stratified into high- and
low-risk groups based on the median risk score from the training set. Kaplan-Meier (KM) survival
curves were estimated, and differences were assessed using the Log rank test. Hazard ratios (HR)
and 95% confidence intervals (CI) were estimated using Cox proportional hazards regression." The
paper repeats the split within treatment regimens and within age, tumour-burden and
extrahepatic-metastasis subgroups, fits a multivariable Cox model before and after adding
subsequent therapy as a covariate, and reports the median follow-up by reverse Kaplan-Meier.

Conventions of this module:

* A risk score is oriented so that larger means worse prognosis (scikit-survival ``predict``).
* Groups are the strings ``"low"`` and ``"high"``; the Cox HR is high vs low.
* Times are in whatever unit the caller gives (the demo cohort uses days); medians come back in
  the same unit.
* Rows with a missing time, event or group are left out (and ``n`` says how many were used).
* An estimate that the data cannot support (one group only, no events in a group, one subgroup
  level only) is NaN with a reason in ``note``, never an error and never an invented number.
  A median that the Kaplan-Meier curve does not reach is ``inf`` ("not reached").

The statistics are lifelines': :class:`~lifelines.KaplanMeierFitter` (product-limit estimator,
exponential Greenwood pointwise bands; the median's interval is where those bands cross 0.5),
:func:`~lifelines.statistics.logrank_test` and :class:`~lifelines.CoxPHFitter` (Efron ties, Wald
intervals and p-values).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times
from scipy import stats

__all__ = [
    "COLUMNS", "GROUPS", "HIGH", "LOW", "MULTIVARIABLE_COLUMNS", "SUBGROUP_COLUMNS",
    "ConstantCovariateError", "Subgroup",
    "group_comparison", "median_followup", "multivariable_cox", "higher_is_worse", "risk_cutoff",
    "risk_groups",
    "stratification_rows", "subgroup_analysis", "subgroups_from_config",
]

LOW, HIGH = "low", "high"
GROUPS = (LOW, HIGH)

#: Columns of ``results/tables/stratification.tsv`` (``note`` says why an estimate is NaN).
COLUMNS = [
    "recipe", "component", "endpoint", "cohort", "analysis", "subgroup", "level", "metric",
    "estimate", "ci_lower", "ci_upper", "p", "n", "n_events", "note",
]
#: More distinct values than this in a categorical column is almost surely an identifier or a
#: numeric column that lacks its cut.
MAX_LEVELS = 10

_T, _E, _G, _X = "_time", "_event", "_group", "_high"


class ConstantCovariateError(ValueError):
    """A Cox covariate takes a single value in the analysed patients, so it has no HR."""


# --- the cut-off ------------------------------------------------------------------------------


def risk_cutoff(train_risk) -> float:
    """The risk cut-off: the median risk score of the **training** cohort (seed 001).

    Pass training-set scores only. The cut-off is learned from data, so, like every other fitted
    quantity of the workflow (DESIGN.md section 5), it must never see internal or external
    patients: it is computed once here and then applied frozen to every cohort with
    :func:`risk_groups`. A cut-off re-computed on a validation cohort would split it in half by
    construction and overstate the separation.

    Non-finite scores raise (a model that emits NaN risks is broken; dropping them would silently
    move the median).
    """
    risk = np.asarray(train_risk, dtype=float).ravel()
    if risk.size == 0:
        raise ValueError("risk_cutoff: no training risk scores")
    if not np.isfinite(risk).all():
        raise ValueError(f"risk_cutoff: {int((~np.isfinite(risk)).sum())} non-finite training "
                         "risk scores")
    return float(np.median(risk))


def risk_groups(risk, cutoff: float, *, higher_is_worse: bool = True):
    """Label each score ``"high"`` (risk >= ``cutoff``) or ``"low"`` (risk < ``cutoff``).

    With ``higher_is_worse=False`` (the probability of a favourable outcome, see
    :func:`higher_is_worse`) the labels are reversed: ``"high"`` risk is a score <= ``cutoff``.
    Ties: a score exactly equal to the cut-off is **high**. With an odd number of training
    patients the median is one of their scores, so the training high group has one patient more
    than the low group; with tied scores at the median the imbalance can be larger. Validation
    cohorts are split by the same frozen number, so their groups are not balanced in general.

    Returns an object array of labels, or a Series with the same index if ``risk`` is a Series.
    Non-finite scores raise.
    """
    cutoff = float(cutoff)
    if not np.isfinite(cutoff):
        raise ValueError(f"risk_groups: the cut-off is {cutoff}")
    values = np.asarray(risk, dtype=float).ravel()
    if not np.isfinite(values).all():
        raise ValueError(f"risk_groups: {int((~np.isfinite(values)).sum())} non-finite risk "
                         "scores")
    at_risk = values >= cutoff if higher_is_worse else values <= cutoff
    labels = np.where(at_risk, HIGH, LOW).astype(object)
    if isinstance(risk, pd.Series):
        return pd.Series(labels, index=risk.index, name="risk_group")
    return labels


def higher_is_worse(endpoint: Mapping) -> bool:
    """Whether a higher score of ``endpoint``'s models means higher risk.

    Survival scores are risks. A binary endpoint's score is the predicted probability of its
    event, which is favourable by default (``favourable: true``, e.g. response): then a *low*
    probability is the high-risk group.
    """
    return not (endpoint.get("type") == "binary" and endpoint.get("favourable", True))


# --- inputs -----------------------------------------------------------------------------------


def _survival_frame(time, event, group=None) -> pd.DataFrame:
    """Time, event (0/1) and optionally group in one frame; incomplete rows dropped."""
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event, dtype=float).ravel()
    if len(time) != len(event):
        raise ValueError(f"{len(time)} times for {len(event)} event indicators")
    data = {_T: time, _E: event}
    if group is not None:
        grp = pd.Series(np.asarray(group, dtype=object).ravel())
        if len(grp) != len(time):
            raise ValueError(f"{len(grp)} group labels for {len(time)} times")
        unknown = sorted({str(g) for g in grp.dropna().unique()} - set(GROUPS))
        if unknown:
            raise ValueError(f"risk groups must be 'low' or 'high', got {unknown}")
        data[_G] = grp.to_numpy()
    frame = pd.DataFrame(data)
    frame = frame[np.isfinite(time) & np.isfinite(event) & frame.notna().all(axis=1).to_numpy()]
    if not frame[_E].isin((0.0, 1.0)).all():
        raise ValueError("event indicators must be 0/1 (or boolean)")
    if (frame[_T] < 0).any():
        raise ValueError("survival times must be non-negative")
    frame[_E] = frame[_E].astype(int)
    return frame  # index = positions in the input, so callers can align other columns


# --- the two-group comparison -----------------------------------------------------------------


def _km_median(time, event, alpha: float) -> tuple[float, float, float]:
    """KM median with the interval where the pointwise (exponential Greenwood) band crosses 0.5."""
    kmf = KaplanMeierFitter(alpha=alpha).fit(time, event)
    ci = median_survival_times(kmf.confidence_interval_)
    return float(kmf.median_survival_time_), float(ci.iloc[0, 0]), float(ci.iloc[0, 1])


def _fit_cox(data: pd.DataFrame, alpha: float) -> CoxPHFitter:
    """Unpenalised Cox fit; non-convergence (monotone likelihood, collinearity) raises."""
    with warnings.catch_warnings():
        # A ConvergenceWarning means a coefficient ran off to infinity: report, do not trust it.
        warnings.simplefilter("error", ConvergenceWarning)
        return CoxPHFitter(alpha=alpha).fit(data, duration_col=_T, event_col=_E)


def _cox_row(cph: CoxPHFitter, term: str) -> tuple[float, float, float, float]:
    """(HR, lower, upper, Wald p) of one term of a fitted Cox model."""
    coef = float(cph.params_[term])
    lo, hi = (float(v) for v in cph.confidence_intervals_.loc[term].iloc[:2])
    p = float(cph.summary.loc[term, "p"])
    return float(np.exp(coef)), float(np.exp(lo)), float(np.exp(hi)), p


def _compare(frame: pd.DataFrame, alpha: float) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(len(frame)), "n_events": int(frame[_E].sum())}
    for g in GROUPS:
        sub = frame[frame[_G] == g]
        out[f"n_{g}"] = int(len(sub))
        out[f"events_{g}"] = int(sub[_E].sum())
        med = _km_median(sub[_T], sub[_E], alpha) if len(sub) else (np.nan, np.nan, np.nan)
        out[f"median_{g}"], out[f"median_{g}_lower"], out[f"median_{g}_upper"] = med
    out.update(logrank_chi2=np.nan, logrank_p=np.nan, hr=np.nan, hr_lower=np.nan,
               hr_upper=np.nan, hr_p=np.nan, note="")

    present = [g for g in GROUPS if out[f"n_{g}"] > 0]
    if not present:
        out["note"] = "no patients"
        return out
    if len(present) < 2:
        out["note"] = f"only the {present[0]}-risk group is present: no comparison"
        return out
    if out["n_events"] == 0:
        out["note"] = "no events: no log-rank test and no HR"
        return out

    high, low = frame[frame[_G] == HIGH], frame[frame[_G] == LOW]
    lr = logrank_test(high[_T], low[_T], high[_E], low[_E], alpha=1 - alpha)
    out["logrank_chi2"], out["logrank_p"] = float(lr.test_statistic), float(lr.p_value)

    empty = [g for g in GROUPS if out[f"events_{g}"] == 0]
    if empty:
        # All events on one side: the Cox partial likelihood is monotone and the MLE of the HR is
        # 0 or infinity, so there is no finite estimate or Wald interval to report.
        out["note"] = f"no events in the {empty[0]}-risk group: HR not estimable"
        return out
    data = pd.DataFrame({_T: frame[_T], _E: frame[_E], _X: (frame[_G] == HIGH).astype(float)})
    try:
        cph = _fit_cox(data, alpha)
        out["hr"], out["hr_lower"], out["hr_upper"], out["hr_p"] = _cox_row(cph, _X)
    except (ConvergenceError, ConvergenceWarning) as exc:
        out["note"] = f"Cox model did not converge: {exc}".splitlines()[0]
    return out


def group_comparison(time, event, group, *, alpha: float = 0.05) -> dict[str, Any]:
    """Compare the survival of the high- and low-risk groups (seed 001, Figure 6).

    * ``n_low``/``n_high``, ``events_low``/``events_high``, ``n``, ``n_events``;
    * ``median_low``, ``median_low_lower``, ``median_low_upper`` (and ``_high``): Kaplan-Meier
      median survival (Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-81) with the interval
      where the exponential-Greenwood pointwise band crosses 0.5 (Brookmeyer R, Crowley J.
      Biometrics 1982;38:29-41); ``inf`` when the curve stays above 0.5;
    * ``logrank_chi2``, ``logrank_p``: log-rank test, 1 degree of freedom (Mantel N. Cancer
      Chemother Rep 1966;50:163-70; Peto R, Peto J. J R Stat Soc A 1972;135:185-207);
    * ``hr``, ``hr_lower``, ``hr_upper``, ``hr_p``: Cox proportional-hazards HR of high vs low
      (Cox DR. J R Stat Soc B 1972;34:187-220), Efron ties, Wald interval and p;
    * ``note``: why the log-rank test or the HR is NaN (one group only, no events at all, no
      events in one group); empty if both are estimated.

    ``group`` holds ``"low"``/``"high"`` labels (:func:`risk_groups`).
    """
    return _compare(_survival_frame(time, event, group), alpha)


def median_followup(time, event, *, alpha: float = 0.05) -> dict[str, Any]:
    """Median follow-up by the reverse Kaplan-Meier method.

    Schemper M, Smith TL. A note on quantifying follow-up in studies of failure time. Control Clin
    Trials 1996;17:343-6. The Kaplan-Meier estimator is applied with the event indicator flipped,
    so that censoring is the "event" and a death censors the observation of follow-up; its median
    estimates how long patients would have been followed had they not died. (The naive median of
    all observed times understates follow-up because deaths cut it short.)

    Returns ``median``, ``ci_lower``, ``ci_upper`` (as in :func:`group_comparison`), ``n``,
    ``n_events`` (deaths), ``n_censored`` and ``note``. With no censored patient the reverse
    curve never falls, so the median is NaN with a reason.
    """
    frame = _survival_frame(time, event)
    out: dict[str, Any] = {"n": int(len(frame)), "n_events": int(frame[_E].sum()),
                           "n_censored": int((frame[_E] == 0).sum()), "note": ""}
    if out["n"] == 0 or out["n_censored"] == 0:
        out.update(median=np.nan, ci_lower=np.nan, ci_upper=np.nan,
                   note="no censored patients: reverse Kaplan-Meier median not estimable"
                   if out["n"] else "no patients")
        return out
    out["median"], out["ci_lower"], out["ci_upper"] = _km_median(frame[_T], 1 - frame[_E], alpha)
    if np.isinf(out["median"]):
        out["note"] = "reverse Kaplan-Meier median not reached"
    return out


# --- subgroups --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subgroup:
    """One subgroup variable: a categorical column, or a numeric column split at ``cut``.

    ``cut``: patients with ``value >= cut`` form the upper level. The cut is a clinical constant
    (age 65) or a number learned from the **training** cohort (:meth:`at_training_median`), never
    a statistic of the cohort being analysed. ``labels`` names the (below, at-or-above) levels
    (default ``"< cut"``, ``">= cut"``).

    ``recode``: for a categorical column, value -> level (e.g. ``{"TACE": "monotherapy", "HAIC":
    "monotherapy", "TACE+HAIC": "combination"}`` for seed 001's treatment regimens); values not
    in the mapping are left out. Level order is the mapping's order, else the sorted values; the
    first level is the reference of the interaction test.
    """

    column: str
    cut: float | None = None
    labels: tuple[str, str] | None = None
    recode: Mapping[Any, str] | None = None

    @classmethod
    def at_training_median(cls, column: str, train_values, labels=None) -> Subgroup:
        """A numeric split at the median of the **training** values of ``column``."""
        values = pd.to_numeric(pd.Series(train_values), errors="coerce").dropna()
        if values.empty:
            raise ValueError(f"subgroup '{column}': no numeric training values for the cut")
        return cls(column=column, cut=float(values.median()),
                   labels=tuple(labels) if labels is not None else None)

    def levels(self, frame: pd.DataFrame) -> tuple[pd.Series, list[str]]:
        """Level of each row of ``frame`` (NaN if missing or not recoded) and the level order."""
        if self.column not in frame.columns:
            raise KeyError(f"subgroup column '{self.column}' is not in the clinical table")
        col = frame[self.column]
        if self.cut is not None:
            values = pd.to_numeric(col, errors="coerce")
            if values.isna().sum() > col.isna().sum():
                raise ValueError(f"subgroup column '{self.column}' has a cut but non-numeric "
                                 "values")
            below, above = self.labels or (f"< {self.cut:g}", f">= {self.cut:g}")
            level = pd.Series(np.where(values >= self.cut, above, below), index=col.index,
                              dtype=object)
            return level.where(values.notna()), [below, above]
        if self.recode is not None:
            # Keys from a YAML config are text; a 0/1 column is numeric: match either.
            level = col.map(
                lambda v: self.recode.get(v, self.recode.get(_level_name(v), np.nan))
                if pd.notna(v) else np.nan
            )
            order = list(dict.fromkeys(self.recode.values()))
            return level.astype(object), order
        level = col.map(lambda v: _level_name(v) if pd.notna(v) else np.nan).astype(object)
        order = sorted(level.dropna().unique(), key=_natural)
        if len(order) > MAX_LEVELS:
            raise ValueError(f"subgroup column '{self.column}' has {len(order)} levels: give a "
                             "numeric cut or a recode mapping")
        return level, order


def subgroups_from_config(specs: Mapping[str, Mapping], clinical: pd.DataFrame,
                          train_ids) -> tuple[dict[str, Subgroup], list[str]]:
    """Subgroups of the config (``stratification.subgroups``) for a clinical table indexed by
    patient id. ``cut: training_median`` is the median of the **training** patients
    (``train_ids``) only. Returns the subgroups and the names of those whose column the clinical
    table lacks (left out; the caller says so)."""
    subgroups, absent = {}, []
    for name, spec in specs.items():
        column = spec["column"]
        if column not in clinical.columns:
            absent.append(f"{name} (column '{column}')")
        elif spec.get("cut") == "training_median":
            subgroups[name] = Subgroup.at_training_median(
                column, clinical.loc[list(train_ids), column], labels=spec.get("labels"))
        else:
            subgroups[name] = _as_subgroup(dict(spec))
    return subgroups, absent


def _level_name(value) -> str:
    # 1.0 and 1 name the same level (a 0/1 column read with NaNs becomes float).
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _natural(label: str):
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _as_subgroup(spec) -> Subgroup:
    if isinstance(spec, Subgroup):
        return spec
    if isinstance(spec, str):
        return Subgroup(column=spec)
    if isinstance(spec, Mapping):
        spec = dict(spec)
        if spec.get("labels") is not None:
            spec["labels"] = tuple(spec["labels"])
        return Subgroup(**spec)
    raise TypeError(f"a subgroup is a column name, a mapping or a Subgroup, not {type(spec)}")


def _interaction_lrt(frame: pd.DataFrame, order: list[str], alpha: float
                     ) -> tuple[float, str]:
    """P-value of the risk group x subgroup interaction, by a likelihood-ratio test.

    Two Cox models on the same patients: group + subgroup (reduced) and group + subgroup +
    group x subgroup (full); 2 (logL_full - logL_reduced) ~ chi2 with (levels - 1) df. The
    likelihood-ratio test rather than the Wald test because it stays valid for several levels at
    once and is better behaved with few events per cell.
    """
    present = [lv for lv in order if (frame["_level"] == lv).any()]
    if len(present) < 2:
        return np.nan, "one subgroup level only: no interaction test"
    for lv in present:
        cell = frame[frame["_level"] == lv]
        for g in GROUPS:
            if not ((cell[_G] == g) & (cell[_E] == 1)).any():
                # The interaction coefficient for this cell would run off to infinity.
                return np.nan, (f"no events in the {g}-risk group of level '{lv}': "
                                "no interaction test")
    high = (frame[_G] == HIGH).astype(float)
    reduced = pd.DataFrame({_T: frame[_T], _E: frame[_E], _X: high})
    full = reduced.copy()
    for i, lv in enumerate(present[1:]):
        dummy = (frame["_level"] == lv).astype(float)
        reduced[f"_lv{i}"] = full[f"_lv{i}"] = dummy
        full[f"_ix{i}"] = dummy * high
    try:
        ll_red = _fit_cox(reduced, alpha).log_likelihood_
        ll_full = _fit_cox(full, alpha).log_likelihood_
    except (ConvergenceError, ConvergenceWarning) as exc:
        return np.nan, f"interaction model did not converge: {exc}".splitlines()[0]
    chi2 = max(0.0, 2.0 * (ll_full - ll_red))
    return float(stats.chi2.sf(chi2, df=len(present) - 1)), ""


SUBGROUP_COLUMNS = [
    "subgroup", "level", "n", "n_events", "n_low", "n_high", "events_low", "events_high",
    "hr", "ci_lower", "ci_upper", "p", "logrank_p", "note", "p_interaction", "interaction_note",
]


def subgroup_analysis(
    frame: pd.DataFrame,
    subgroups: Mapping[str, str | Mapping | Subgroup],
    time_col: str,
    event_col: str,
    group_col: str,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """High- vs low-risk comparison within each level of each subgroup (seed 001, Figure 6D-I).

    ``subgroups`` maps a display name to a categorical column name, a :class:`Subgroup` or a
    mapping with its fields (``column``, ``cut``, ``labels``, ``recode``; config-friendly). Cuts
    must be fixed in advance (a constant, or a training-cohort median passed in), never taken from
    ``frame``.

    One row per subgroup level (columns :data:`SUBGROUP_COLUMNS`): n, events, the Cox HR of high
    vs low with its interval and Wald ``p``, the log-rank p and ``note`` (as
    :func:`group_comparison`), and the subgroup's ``p_interaction`` with ``interaction_note``
    (repeated on each of its levels): the likelihood-ratio test of
    the group x subgroup product terms in a Cox model. A small interaction p says the HR differs
    between levels; per-level p-values alone cannot say that. Patients with a missing subgroup
    value are left out of that subgroup.
    """
    for col in (time_col, event_col, group_col):
        if col not in frame.columns:
            raise KeyError(f"column '{col}' is not in the frame")
    rows = []
    for name, spec in subgroups.items():
        sg = _as_subgroup(spec)
        level, order = sg.levels(frame)
        data = _survival_frame(frame[time_col], frame[event_col], frame[group_col])
        data["_level"] = level.to_numpy()[data.index]
        data = data[data["_level"].notna()]
        p_int, int_note = _interaction_lrt(data, order, alpha)
        for lv in order:
            cell = data[data["_level"] == lv]
            res = _compare(cell, alpha)
            rows.append({
                "subgroup": name, "level": lv, "n": res["n"], "n_events": res["n_events"],
                "n_low": res["n_low"], "n_high": res["n_high"],
                "events_low": res["events_low"], "events_high": res["events_high"],
                "hr": res["hr"], "ci_lower": res["hr_lower"], "ci_upper": res["hr_upper"],
                "p": res["hr_p"], "logrank_p": res["logrank_p"], "note": res["note"],
                "p_interaction": p_int, "interaction_note": int_note,
            })
    return pd.DataFrame(rows, columns=SUBGROUP_COLUMNS)


# --- multivariable Cox ------------------------------------------------------------------------


MULTIVARIABLE_COLUMNS = [
    "covariate", "level", "reference", "hr", "ci_lower", "ci_upper", "p", "n", "n_events",
]


def _design(frame: pd.DataFrame, covariates: Sequence[str], references: Mapping[str, Any]):
    """Numeric design matrix and, per term, (covariate, level, reference)."""
    columns, terms = {}, []
    for col in covariates:
        if col not in frame.columns:
            raise KeyError(f"covariate '{col}' is not in the frame")
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            values = s.astype(float)
            if values.nunique() < 2:
                raise ConstantCovariateError(
                    f"covariate '{col}' is constant ({values.iloc[0]:g}) in the "
                    f"{len(values)} analysed patients: it has no hazard ratio")
            columns[col] = values
            terms.append((col, "", ""))
            continue
        if not (pd.api.types.is_object_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype)
                or pd.api.types.is_string_dtype(s)):
            raise TypeError(f"covariate '{col}' is neither numeric nor categorical "
                            f"(dtype {s.dtype})")
        labels = s.map(_level_name)
        levels = sorted(labels.unique(), key=_natural)
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels = [_level_name(c) for c in s.cat.categories if _level_name(c) in set(levels)]
        if len(levels) < 2:
            raise ConstantCovariateError(
                f"covariate '{col}' is constant ('{levels[0]}') in the {len(s)} analysed "
                "patients: it has no hazard ratio")
        if len(levels) > MAX_LEVELS:
            raise TypeError(f"covariate '{col}' is non-numeric with {len(levels)} levels (an "
                            "identifier?): recode it or leave it out")
        ref = _level_name(references[col]) if col in references else levels[0]
        if ref not in levels:
            raise ValueError(f"reference '{ref}' of covariate '{col}' is not among its levels "
                             f"{levels}")
        for lv in levels:
            if lv != ref:
                columns[f"{col}[{lv}]"] = (labels == lv).astype(float)
                terms.append((col, lv, ref))
    return pd.DataFrame(columns, index=frame.index), terms


def multivariable_cox(
    frame: pd.DataFrame,
    time_col: str,
    event_col: str,
    covariates: Sequence[str],
    *,
    group_col: str | None = "risk_group",
    references: Mapping[str, Any] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Multivariable Cox model of the risk group adjusted for ``covariates`` (seed 001).

    Cox DR. Regression models and life-tables. J R Stat Soc B 1972;34:187-220 (lifelines
    :class:`~lifelines.CoxPHFitter`, Efron ties, Wald intervals). Seed 001 fits it "before and
    after adding subsequent therapy as a covariate": call once with ``covariates=[]`` and once
    with ``["subsequent_therapy"]`` on the same patients.

    ``group_col`` holds ``"low"``/``"high"`` and enters as high vs low (``None``: covariates
    only). Numeric and boolean covariates enter as they are (HR per unit). Categorical (string,
    object, category) covariates are dummy coded against a reference level: ``references[col]``
    if given, else the first level (category order, or sorted); each row names its
    ``reference``. Complete cases only: patients missing any column are left out and ``n`` says
    how many were used.

    Raises :class:`KeyError` for a missing column, :class:`TypeError` for a covariate that is
    neither numeric nor categorical (or a string column with more than :data:`MAX_LEVELS` levels),
    :class:`ConstantCovariateError` for a covariate with one value, each naming the column.

    Returns one row per term: ``covariate, level, reference, hr, ci_lower, ci_upper, p, n,
    n_events`` (the risk group first).
    """
    references = dict(references or {})
    covariates = [c for c in covariates if c != group_col]
    used = [time_col, event_col, *([group_col] if group_col else []), *covariates]
    missing = [c for c in used if c not in frame.columns]
    if missing:
        raise KeyError(f"column '{missing[0]}' is not in the frame")
    data = frame[used].dropna()
    surv = _survival_frame(data[time_col], data[event_col])
    if len(surv) != len(data):
        raise ValueError(f"'{time_col}'/'{event_col}' have non-numeric values")
    surv.index = data.index
    all_terms = []
    design = pd.DataFrame(index=data.index)
    if group_col:
        groups = data[group_col].astype(str)
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            raise ValueError(f"'{group_col}' must hold 'low'/'high', got {unknown}")
        if groups.nunique() < 2:
            raise ConstantCovariateError(f"'{group_col}' has one risk group only "
                                         f"('{groups.iloc[0]}'): no hazard ratio")
        design[group_col] = (groups == HIGH).astype(float)
        all_terms.append((group_col, HIGH, LOW))
    cov_design, terms = _design(data, covariates, references)
    design = pd.concat([design, cov_design], axis=1)
    all_terms += terms
    if design.shape[1] == 0:
        raise ValueError("multivariable_cox: no covariates")
    fit_data = pd.concat([surv, design], axis=1)
    try:
        cph = _fit_cox(fit_data, alpha)
    except (ConvergenceError, ConvergenceWarning) as exc:
        raise ValueError(f"Cox model on {list(design.columns)} did not converge (separation or "
                         f"collinearity): {exc}".splitlines()[0]) from exc
    rows = []
    for term, (cov, lv, ref) in zip(design.columns, all_terms, strict=True):
        hr, lo, hi, p = _cox_row(cph, term)
        rows.append({"covariate": cov, "level": lv, "reference": ref, "hr": hr,
                     "ci_lower": lo, "ci_upper": hi, "p": p, "n": int(len(fit_data)),
                     "n_events": int(fit_data[_E].sum())})
    return pd.DataFrame(rows, columns=MULTIVARIABLE_COLUMNS)


# --- the long table ---------------------------------------------------------------------------


def stratification_rows(
    recipe: str,
    component: str,
    endpoint: str,
    cohort: str,
    risk,
    cutoff: float,
    time,
    event,
    clinical: pd.DataFrame | None = None,
    *,
    subgroups: Mapping[str, str | Mapping | Subgroup] | None = None,
    adjust_for: Sequence[str] = (),
    references: Mapping[str, Any] | None = None,
    alpha: float = 0.05,
    higher_is_worse: bool = True,
) -> pd.DataFrame:
    """The rows of ``results/tables/stratification.tsv`` for one recipe x endpoint x cohort.

    ``higher_is_worse``: whether a higher score is a higher risk, as :func:`higher_is_worse` of the
    endpoint says (false for the probability of response, whose low values form the ``high``
    group).

    ``risk``, ``time``, ``event`` and the rows of ``clinical`` are per patient, in the same
    order. ``cutoff`` is the frozen training median (:func:`risk_cutoff` on the training scores);
    it is never recomputed here. Columns are :data:`COLUMNS`; ``analysis`` is one of:

    * ``groups`` (``subgroup="all"``): ``cutoff``; ``median_survival`` per ``level`` low/high
      (n and n_events of that group); ``hr``, ``logrank_chi2``, ``logrank_p`` at
      ``level="high vs low"`` (log-rank rows carry the p in ``p`` too);
    * ``followup`` (``subgroup="all"``): ``median_followup`` by reverse Kaplan-Meier;
    * ``subgroup`` (one per ``subgroups`` entry, needs ``clinical``): ``hr`` and ``logrank_p``
      per level, and ``interaction_p`` at ``level="group x subgroup"``;
    * ``multivariable`` (if ``adjust_for``, needs ``clinical``): ``hr`` per term (``level`` is
      e.g. ``"risk_group: high vs low"``, ``"treatment: TACE+HAIC vs TACE"``) for the model of the
      risk group alone (``subgroup="unadjusted"``) and with ``adjust_for``
      (``subgroup="adjusted for a, b"``), both on the patients complete for ``adjust_for`` so the
      two HRs are comparable. A covariate that is constant in this cohort gives NaN rows with the
      reason instead of stopping the workflow.

    ``note`` says why an estimate is NaN (or that a median was not reached).
    """
    risk = np.asarray(risk, dtype=float).ravel()
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event, dtype=float).ravel()
    if not (len(risk) == len(time) == len(event)):
        raise ValueError(f"{len(risk)} risk scores, {len(time)} times, {len(event)} events")
    if clinical is not None and len(clinical) != len(risk):
        raise ValueError(f"{len(clinical)} clinical rows for {len(risk)} risk scores")
    if (subgroups or adjust_for) and clinical is None:
        raise ValueError("subgroups and adjust_for need the clinical frame")
    group = risk_groups(risk, cutoff, higher_is_worse=higher_is_worse)
    base = {"recipe": recipe, "component": component, "endpoint": endpoint, "cohort": cohort}
    rows: list[dict[str, Any]] = []

    def add(analysis, subgroup, level, metric, estimate, lower=np.nan, upper=np.nan, p=np.nan,
            n=np.nan, n_events=np.nan, note=""):
        rows.append({**base, "analysis": analysis, "subgroup": subgroup, "level": level,
                     "metric": metric, "estimate": estimate, "ci_lower": lower,
                     "ci_upper": upper, "p": p, "n": n, "n_events": n_events, "note": note})

    res = group_comparison(time, event, group, alpha=alpha)
    n_all, ev_all = res["n"], res["n_events"]
    add("groups", "all", "", "cutoff", float(cutoff), n=n_all, n_events=ev_all,
        note="" if higher_is_worse else "high risk: score <= cutoff (favourable outcome probability)")
    for g in GROUPS:
        med = res[f"median_{g}"]
        note = "median not reached" if np.isinf(med) else "no patients" if np.isnan(med) else ""
        add("groups", "all", g, "median_survival", med, res[f"median_{g}_lower"],
            res[f"median_{g}_upper"], n=res[f"n_{g}"], n_events=res[f"events_{g}"], note=note)
    hl = "high vs low"
    add("groups", "all", hl, "hr", res["hr"], res["hr_lower"], res["hr_upper"], res["hr_p"],
        n_all, ev_all, res["note"])
    lr_note = res["note"] if np.isnan(res["logrank_p"]) else ""
    add("groups", "all", hl, "logrank_chi2", res["logrank_chi2"], p=res["logrank_p"], n=n_all,
        n_events=ev_all, note=lr_note)
    add("groups", "all", hl, "logrank_p", res["logrank_p"], p=res["logrank_p"], n=n_all,
        n_events=ev_all, note=lr_note)

    fu = median_followup(time, event, alpha=alpha)
    add("followup", "all", "", "median_followup", fu["median"], fu["ci_lower"], fu["ci_upper"],
        n=fu["n"], n_events=fu["n_events"], note=fu["note"])

    if subgroups:
        frame = clinical.reset_index(drop=True).copy()
        frame[_T], frame[_E], frame[_G] = time, event, group
        table = subgroup_analysis(frame, subgroups, _T, _E, _G, alpha=alpha)
        for name, part in table.groupby("subgroup", sort=False):
            for r in part.itertuples(index=False):
                add("subgroup", name, r.level, "hr", r.hr, r.ci_lower, r.ci_upper, r.p, r.n,
                    r.n_events, r.note)
                add("subgroup", name, r.level, "logrank_p", r.logrank_p, p=r.logrank_p, n=r.n,
                    n_events=r.n_events, note=r.note if np.isnan(r.logrank_p) else "")
            first = part.iloc[0]
            add("subgroup", name, "group x subgroup", "interaction_p", first["p_interaction"],
                p=first["p_interaction"], n=int(part["n"].sum()),
                n_events=int(part["n_events"].sum()),
                note=first["interaction_note"])

    if adjust_for:
        adjust_for = list(adjust_for)
        absent = [c for c in adjust_for if c not in clinical.columns]
        if absent:
            raise KeyError(f"covariate '{absent[0]}' is not in the clinical table")
        frame = clinical.reset_index(drop=True)[adjust_for].copy()
        frame[_T], frame[_E], frame["risk_group"] = time, event, group
        frame = frame.dropna()
        label = "adjusted for " + ", ".join(adjust_for)
        for model, covs in (("unadjusted", []), (label, adjust_for)):
            try:
                table = multivariable_cox(frame, _T, _E, covs, group_col="risk_group",
                                          references=references, alpha=alpha)
            except (ConstantCovariateError, ValueError) as exc:
                # Constant covariates in this cohort, or a Cox fit that does not converge
                # (separation in a small cohort): NaN with the reason, the run goes on.
                add("multivariable", model, "risk_group: high vs low", "hr", np.nan,
                    n=len(frame), n_events=int(frame[_E].sum()), note=str(exc))
                continue
            for r in table.itertuples(index=False):
                term = f"{r.covariate}: {r.level} vs {r.reference}" if r.level else r.covariate
                add("multivariable", model, term, "hr", r.hr, r.ci_lower, r.ci_upper, r.p, r.n,
                    r.n_events)
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.astype({"n": "Int64", "n_events": "Int64"})
