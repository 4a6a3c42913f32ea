r"""The outcome model of the demo cohort: 3-month response, overall and progression-free survival.

It encodes the *responder paradox* reported by seed 001 (PRIME): objective response is driven by
tumour geometry and texture plus nutritional status (PNI), whereas survival is driven by systemic
host factors (1-month monocyte change, HBV, hepatic reserve / ALBI, AST, PT change) and by
intratumoral heterogeneity, with weaker tumour-burden terms. All terms use the standardised
latent variables of ``hccfusion.demo.clinical`` (``z_*`` ~ N(0, 1)) and centred binary indicators
(``x - p``, p = population prevalence), so the linear predictors do not depend on the scale at
which images are rendered.

Response (logistic model; mRECIST CR/PR at 3 months)::

    eta_R = a_R - 1.05 z_size - 0.95 z_irregularity - 0.75 z_heterogeneity
            + 1.00 (capsule - 0.55) + 0.80 z_nutrition
            - 0.30 (ecog - 0.35) + 0.30 (tace_haic - 0.40)
    P(response) = 1 / (1 + exp(-eta_R)),   a_R = -0.10

Overall survival (Weibull proportional hazards; Bender et al., Stat Med 2005;24:1713-1723)::

    eta_OS = 0.70 z_monocyte_change + 0.70 (hbv - 0.80) + 0.55 z_liver + 0.40 z_ast
             + 0.40 z_pt_change + 0.50 z_heterogeneity + 0.35 z_necrosis
             + 0.40 (pvtt - p_pvtt) + 0.40 (metastasis - 0.18) + 0.10 z_size
    h_OS(t) = (k_OS / lambda_OS) (t / lambda_OS)^(k_OS - 1) exp(eta_OS),
    k_OS = 1.25, lambda_OS = 930 days

Progression (Weibull PH; PFS = min(progression, death), so PFS <= OS)::

    eta_P = 0.50 (eta_OS - 0.10 z_size) + 0.45 z_size + 0.35 z_irregularity
            + 0.30 z_heterogeneity + 0.25 (n_tumours - 1.75)
    k_P = 1.10, lambda_P = 400 days

Event times are drawn by inversion, T = lambda (-log U / exp(eta))^(1/k); the uniforms of
progression and death are coupled by a Gaussian copula (rho = 0.5), which leaves each
conditional hazard unchanged. Censoring: enrolment uniform between 2020-01-01 and 2024-01-01,
administrative end of follow-up 2025-09-28 (as in seed 001), plus loss to follow-up with an
exponential time (mean 9000 days). Times are whole days >= 1.

mRECIST category: responders are CR with probability 0.2, else PR; non-responders are PD with
probability 1 / (1 + exp(-(-0.40 + 0.8 eta_P))), else SD. Subsequent therapy is given to 62 % of
patients who progress and 10 % of the others.

``truth.tsv`` holds ``true_response_prob`` = P(response), ``true_os_lp`` = eta_OS and
``true_pfs_lp`` = eta_P (the progression hazard's predictor). Coefficients were tuned so that the
oracle (truth vs. simulated outcome) reaches an AUC of about 0.86 and a Harrell C-index of about
0.77 in expectation in both centres (see ``tests/test_demo_outcomes.py``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .clinical import PREVALENCE, PVTT_INTERCEPT, PVTT_SIZE, TUMOUR_NUMBER_P

ENROL_START = dt.date(2020, 1, 1)
ENROL_END = dt.date(2024, 1, 1)
FOLLOW_UP_END = dt.date(2025, 9, 28)

RESPONSE_INTERCEPT = -0.10
RESPONSE_COEF = {
    "size": -1.05, "irregularity": -0.95, "heterogeneity": -0.75, "capsule": 1.00,
    "nutrition": 0.80, "ecog": -0.30, "combo": 0.30,
}
OS_COEF = {
    "monocyte_change": 0.70, "hbv": 0.70, "liver": 0.55, "ast": 0.40, "pt_change": 0.40,
    "heterogeneity": 0.50, "necrosis": 0.35, "pvtt": 0.40, "metastasis": 0.40, "size": 0.10,
}
OS_SHAPE, OS_SCALE = 1.25, 930.0
PFS_COEF = {"size": 0.45, "irregularity": 0.35, "heterogeneity": 0.30, "tumour_number": 0.25}
PFS_OS_WEIGHT = 0.50
PFS_SHAPE, PFS_SCALE = 1.10, 400.0
COPULA_RHO = 0.5
LOSS_MEAN_DAYS = 9000.0


def _pvtt_prevalence() -> float:
    # E[sigmoid(a + b Z)], Z ~ N(0, 1), by Gauss-Hermite quadrature.
    x, w = np.polynomial.hermite_e.hermegauss(40)
    return float(np.sum(w / (1 + np.exp(-(PVTT_INTERCEPT + PVTT_SIZE * x)))) / np.sqrt(2 * np.pi))


CENTRE = {**PREVALENCE, "pvtt": _pvtt_prevalence(),
          "tumour_number": float(np.dot([1, 2, 3], TUMOUR_NUMBER_P))}


def _term(lat: dict[str, float], name: str) -> float:
    return lat[name] - CENTRE.get(name, 0.0)


def response_lp(lat: dict[str, float]) -> float:
    """eta_R, the log-odds of 3-month objective response."""
    return RESPONSE_INTERCEPT + sum(c * _term(lat, k) for k, c in RESPONSE_COEF.items())


def os_lp(lat: dict[str, float]) -> float:
    """eta_OS, the log hazard ratio of death."""
    return sum(c * _term(lat, k) for k, c in OS_COEF.items())


def pfs_lp(lat: dict[str, float]) -> float:
    """eta_P, the log hazard ratio of progression."""
    base = os_lp(lat) - OS_COEF["size"] * lat["size"]
    return PFS_OS_WEIGHT * base + sum(c * _term(lat, k) for k, c in PFS_COEF.items())


@dataclass(frozen=True)
class Truth:
    """The true quantities of one patient (written to ``truth.tsv``)."""

    response_prob: float
    os_lp: float
    pfs_lp: float


def truth(lat: dict[str, float]) -> Truth:
    """Evaluate the three true predictors of one patient."""
    return Truth(1.0 / (1.0 + math.exp(-response_lp(lat))), os_lp(lat), pfs_lp(lat))


def _weibull_time(u: float, lp: float, shape: float, scale: float) -> float:
    return scale * (-math.log(u) / math.exp(lp)) ** (1.0 / shape)


def simulate_outcomes(tr: Truth, rng: np.random.Generator) -> dict[str, object]:
    """Draw response, mRECIST, OS, PFS, censoring and subsequent therapy for one patient.

    Returns the outcome columns of ``clinical.tsv`` plus ``start_date`` (treatment start, used
    for DICOM study dates).
    """
    response = int(rng.random() < tr.response_prob)
    z1, z2 = rng.standard_normal(2)
    u_os = float(ndtr(z1))
    u_pr = float(ndtr(COPULA_RHO * z1 + math.sqrt(1 - COPULA_RHO**2) * z2))
    u_os, u_pr = min(max(u_os, 1e-12), 1 - 1e-12), min(max(u_pr, 1e-12), 1 - 1e-12)
    t_death = _weibull_time(u_os, tr.os_lp, OS_SHAPE, OS_SCALE)
    t_prog = _weibull_time(u_pr, tr.pfs_lp, PFS_SHAPE, PFS_SCALE)

    span = (ENROL_END - ENROL_START).days
    start = ENROL_START + dt.timedelta(days=int(rng.integers(0, span)))
    admin = (FOLLOW_UP_END - start).days
    lost = rng.exponential(LOSS_MEAN_DAYS)
    censor = min(admin, lost)

    os_event = int(t_death <= censor)
    os_t = t_death if os_event else censor
    t_pfs = min(t_prog, t_death)
    pfs_event = int(t_pfs <= censor)
    pfs_t = t_pfs if pfs_event else censor
    os_days = max(1, math.ceil(os_t))
    pfs_days = min(max(1, math.ceil(pfs_t)), os_days)

    if response:
        mrecist = "CR" if rng.random() < 0.2 else "PR"
    else:
        p_pd = 1.0 / (1.0 + math.exp(-(-0.40 + 0.8 * tr.pfs_lp)))
        mrecist = "PD" if rng.random() < p_pd else "SD"
    progressed = bool(pfs_event and t_prog <= t_death)
    subsequent = int(rng.random() < (0.62 if progressed else 0.10))
    return {
        "subsequent_therapy": subsequent, "mrecist_3m": mrecist, "response_3m": response,
        "os_days": os_days, "os_event": os_event, "pfs_days": pfs_days, "pfs_event": pfs_event,
        "start_date": start,
    }
