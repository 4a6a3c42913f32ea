"""Existing HCC clinical scores, computed from the clinical table, as comparators of the models.

The CRM system (seeds 003/004) compares its clinical-radiologic model with the clinical scores in
use. This module computes them from the workflow's clinical table (columns as in
``workflow/schemas/clinical.schema.yaml``), one numeric column per score, coded so that a
higher value means a worse prognosis (the convention of every risk score of the workflow):

==========================  =====================================================  ==========
score                       coding (higher = worse)                                reference
==========================  =====================================================  ==========
``albi``                    continuous ALBI score                                  Johnson 2015
``albi_grade``              1, 2, 3                                                Johnson 2015
``child_pugh_score``        Child-Pugh points 5-15, as given in the table          Pugh 1973
``child_pugh_class``        A = 1, B = 2, C = 3                                    Pugh 1973
``bclc``                    BCLC 2022 stage computed here: 0 = 0, A = 1, B = 2,    Reig 2022
                            C = 3, D = 4
``bclc_given``              the table's own ``bclc`` column, same coding           --
``clip``                    CLIP points 0-6                                        CLIP 1998
``hap_points``              HAP points 0-4                                         Kadalayil 2013
``hap_class``               HAP A = 0, B = 1, C = 2, D = 3                         Kadalayil 2013
``up_to_seven_sum``         tumour number + largest diameter (cm)                  Mazzaferro 2009
``up_to_seven_beyond``      0 = within (sum <= 7), 1 = beyond                      Mazzaferro 2009
==========================  =====================================================  ==========

:data:`SCORES` maps each name to ``(required columns, function, description)``, so that the
workflow and the report can list what each score needs; :data:`LEVELS` holds the labels of the
ordinal codes. :func:`compute_scores` validates the inputs (a bad cell raises a
:class:`~hccfusion.errors.TableError` naming the patient, the column and the problem) and, with
``on_missing="exclude"``, leaves a patient whose inputs to a score are missing out of that score
only, with one row in the exclusions table. :func:`disagreements` cross-counts the BCLC stage
(or Child-Pugh class) given in the table against the one computed here; the given one is never
silently overridden.

Assumptions where the table lacks what a score asks for (also in :func:`describe_scores` and in
``scores.attrs["assumptions"]``):

* **CLIP tumour morphology.** CLIP scores "uninodular and extension <= 50 % of the liver" (0),
  "multinodular and <= 50 %" (1), "massive or > 50 %" (2). The table has no liver-extension
  percentage, so a largest diameter of at least ``clip_massive_mm`` (default 100 mm, the usual
  definition of a massive/huge HCC) stands for "massive or > 50 %", and otherwise
  ``tumour_number >= 2`` for "multinodular".
* **BCLC.** Portal vein tumour thrombus (``pvtt``) stands for macrovascular invasion;
  end-stage liver function is Child-Pugh C (score >= 10); "2-3 nodules each <= 3 cm" is read
  from the largest diameter (all nodules are <= 3 cm when the largest is).
* **Child-Pugh** is taken from ``child_pugh_score``: it is not derived from its five components
  (bilirubin, albumin, PT prolongation or INR, ascites, encephalopathy), whose grading needs
  information a clinical table seldom holds (the laboratory's control PT, the ascites grade).

Hand-written on purpose: no maintained Python library computes these scores on a table. The
PyPI packages found (clincalc, medcalc-bench) are young single-patient calculators without a
table API (and take Child-Pugh only from its five components); the maintained implementation
found (the R package cliot) is not Python. Each score is a few published thresholds, written
here vectorised with numpy.

References
----------
Johnson PJ, Berhane S, Kagebayashi C, et al. Assessment of liver function in patients with
hepatocellular carcinoma: a new evidence-based approach - the ALBI grade. J Clin Oncol
2015;33:550-558.
Pugh RN, Murray-Lyon IM, Dawson JL, et al. Transection of the oesophagus for bleeding
oesophageal varices. Br J Surg 1973;60:646-649.
Reig M, Forner A, Rimola J, et al. BCLC strategy for prognosis prediction and treatment
recommendation: the 2022 update. J Hepatol 2022;76:681-693.
The Cancer of the Liver Italian Program (CLIP) Investigators. A new prognostic system for
hepatocellular carcinoma: a retrospective study of 435 patients. Hepatology 1998;28:751-755.
Kadalayil L, Benini R, Pallan L, et al. A simple prognostic scoring system for patients
receiving transarterial embolisation for hepatocellular cancer. Ann Oncol 2013;24:2565-2570.
Mazzaferro V, Llovet JM, Miceli R, et al. Predicting survival after liver transplantation in
patients with hepatocellular carcinoma beyond the Milan criteria: a retrospective, exploratory
analysis. Lancet Oncol 2009;10:35-43.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from hccfusion.errors import TableError, name_list

__all__ = [
    "ALBI_CUTOFFS",
    "BCLC_STAGES",
    "CLIP_MASSIVE_MM",
    "DEFAULT_SCORES",
    "LEVELS",
    "SCORES",
    "Score",
    "albi_grade",
    "albi_score",
    "bclc_stage",
    "child_pugh_class",
    "clip_score",
    "compute_scores",
    "describe_scores",
    "disagreements",
    "hap_class",
    "hap_points",
    "parse_bclc",
    "up_to_seven_sum",
]

#: ALBI grade cut-offs (Johnson 2015): grade 1 <= -2.60 < grade 2 <= -1.39 < grade 3.
ALBI_CUTOFFS = (-2.60, -1.39)
#: BCLC stages in order; the code of a stage is its position (0 = stage 0 ... 4 = stage D).
BCLC_STAGES = ("0", "A", "B", "C", "D")
#: Default CLIP proxy: a largest diameter >= this many mm counts as "massive or > 50 %".
CLIP_MASSIVE_MM = 100.0
#: CLIP and HAP thresholds of alpha-fetoprotein (ng/mL): CLIP scores AFP >= 400, HAP AFP > 400.
AFP_CUTOFF = 400.0
#: HAP thresholds: albumin < 36 g/L, bilirubin > 17 umol/L, largest diameter > 70 mm.
HAP_ALBUMIN, HAP_BILIRUBIN, HAP_DIAMETER_MM = 36.0, 17.0, 70.0


# --- the scores, vectorised ------------------------------------------------------------------

def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def albi_score(albumin_g_l, bilirubin_umol_l) -> np.ndarray:
    """ALBI score (Johnson et al., J Clin Oncol 2015;33:550-558).

    ``ALBI = 0.66 * log10(bilirubin [umol/L]) - 0.085 * albumin [g/L]``; higher = worse liver
    function.
    """
    return 0.66 * np.log10(_arr(bilirubin_umol_l)) - 0.085 * _arr(albumin_g_l)


def albi_grade(albi) -> np.ndarray:
    """ALBI grade (Johnson 2015): 1 if ALBI <= -2.60, 2 if -2.60 < ALBI <= -1.39, else 3."""
    a = _arr(albi)
    grade = np.where(a <= ALBI_CUTOFFS[0], 1.0, np.where(a <= ALBI_CUTOFFS[1], 2.0, 3.0))
    return np.where(np.isnan(a), np.nan, grade)


def child_pugh_class(score) -> np.ndarray:
    """Child-Pugh class from the Child-Pugh score (Pugh et al., Br J Surg 1973;60:646-649):
    A = 5-6, B = 7-9, C = 10-15, coded 1, 2, 3."""
    s = _arr(score)
    return np.where(np.isnan(s), np.nan, np.where(s <= 6, 1.0, np.where(s <= 9, 2.0, 3.0)))


def bclc_stage(ecog_ps, child_pugh_score, tumour_number, tumour_diameter_mm, pvtt,
               extrahepatic_metastasis) -> np.ndarray:
    """BCLC stage, 2022 update (Reig et al., J Hepatol 2022;76:681-693), coded 0..4.

    * D (4): end-stage liver function (Child-Pugh C, score >= 10) or ECOG-PS > 2;
    * C (3): macrovascular invasion (here: portal vein tumour thrombus) or extrahepatic spread,
      or ECOG-PS 1-2;
    * 0 (0): single nodule <= 2 cm, ECOG-PS 0;
    * A (1): single nodule (any size) or 2-3 nodules each <= 3 cm, ECOG-PS 0;
    * B (2): multinodular beyond A, ECOG-PS 0.

    The size rules use the largest diameter (``tumour_diameter_mm``): 2-3 nodules are all
    <= 3 cm exactly when the largest is.
    """
    ecog, cp = _arr(ecog_ps), _arr(child_pugh_score)
    n, d = _arr(tumour_number), _arr(tumour_diameter_mm)
    invasion = (_arr(pvtt) > 0) | (_arr(extrahepatic_metastasis) > 0)
    stage = np.where(n <= 1, np.where(d <= 20.0, 0.0, 1.0),
                     np.where((n <= 3) & (d <= 30.0), 1.0, 2.0))
    stage = np.where(invasion | (ecog >= 1), 3.0, stage)
    stage = np.where((cp >= 10) | (ecog > 2), 4.0, stage)
    nan = np.isnan(ecog) | np.isnan(cp) | np.isnan(n) | np.isnan(d) | np.isnan(_arr(pvtt)) \
        | np.isnan(_arr(extrahepatic_metastasis))
    return np.where(nan, np.nan, stage)


def clip_score(child_pugh_score, tumour_number, tumour_diameter_mm, afp_ng_ml, pvtt,
               massive_mm: float = CLIP_MASSIVE_MM) -> np.ndarray:
    """CLIP score (The CLIP Investigators, Hepatology 1998;28:751-755), 0-6.

    Child-Pugh A/B/C = 0/1/2; tumour morphology: uninodular and extension <= 50 % = 0,
    multinodular and <= 50 % = 1, massive or > 50 % = 2; AFP >= 400 ng/mL = 1; portal vein
    thrombosis = 1. Morphology proxy (the table has no extension percentage): a largest
    diameter >= ``massive_mm`` is "massive or > 50 %", else ``tumour_number >= 2`` is
    "multinodular".
    """
    cp = child_pugh_class(child_pugh_score) - 1.0
    n, d = _arr(tumour_number), _arr(tumour_diameter_mm)
    morphology = np.where(d >= massive_mm, 2.0, np.where(n >= 2, 1.0, 0.0))
    morphology = np.where(np.isnan(n) | np.isnan(d), np.nan, morphology)
    afp = _arr(afp_ng_ml)
    afp_pt = np.where(np.isnan(afp), np.nan, (afp >= AFP_CUTOFF).astype(float))
    pv = _arr(pvtt)
    pv_pt = np.where(np.isnan(pv), np.nan, (pv > 0).astype(float))
    return cp + morphology + afp_pt + pv_pt


def hap_points(albumin_g_l, afp_ng_ml, bilirubin_umol_l, tumour_diameter_mm) -> np.ndarray:
    """HAP points (Kadalayil et al., Ann Oncol 2013;24:2565-2570), 0-4: one point each for
    albumin < 36 g/L, AFP > 400 ng/mL, bilirubin > 17 umol/L, largest diameter > 70 mm."""
    parts = (_arr(albumin_g_l) < HAP_ALBUMIN, _arr(afp_ng_ml) > AFP_CUTOFF,
             _arr(bilirubin_umol_l) > HAP_BILIRUBIN, _arr(tumour_diameter_mm) > HAP_DIAMETER_MM)
    nan = np.isnan(_arr(albumin_g_l)) | np.isnan(_arr(afp_ng_ml)) \
        | np.isnan(_arr(bilirubin_umol_l)) | np.isnan(_arr(tumour_diameter_mm))
    return np.where(nan, np.nan, np.sum(np.vstack(parts), axis=0).astype(float))


def hap_class(points) -> np.ndarray:
    """HAP class (Kadalayil 2013) from its points: A (0), B (1), C (2), D (> 2), coded 0..3."""
    p = _arr(points)
    return np.where(np.isnan(p), np.nan, np.minimum(p, 3.0))


def up_to_seven_sum(tumour_number, tumour_diameter_mm) -> np.ndarray:
    """Up-to-seven sum (Mazzaferro et al., Lancet Oncol 2009;10:35-43): number of tumours plus
    the largest diameter in cm. Within the criterion when the sum is <= 7."""
    # Summed in mm and divided once, so that e.g. 2 nodules + 50 mm is exactly 7.0.
    return (10.0 * _arr(tumour_number) + _arr(tumour_diameter_mm)) / 10.0


def _beyond_seven(tumour_number, tumour_diameter_mm) -> np.ndarray:
    total_mm = 10.0 * _arr(tumour_number) + _arr(tumour_diameter_mm)
    return np.where(np.isnan(total_mm), np.nan, (total_mm > 70.0).astype(float))


def parse_bclc(value) -> float:
    """Code one BCLC stage label (``0``, ``A``-``D``, case-insensitive) as 0..4; missing ->
    NaN; raises :class:`ValueError` for anything else."""
    if _is_missing(value):
        return math.nan
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
            and float(value) == 0.0:
        return 0.0
    label = str(value).strip().upper()
    if label.startswith("BCLC"):
        label = label[4:].strip(" -")
    if label not in BCLC_STAGES:
        raise ValueError(f"{value!r} is not a BCLC stage (0, A, B, C, D)")
    return float(BCLC_STAGES.index(label))


# --- the registry ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Options:
    clip_massive_mm: float = CLIP_MASSIVE_MM


class Score(NamedTuple):
    """One entry of :data:`SCORES`: the clinical-table columns the score needs, the function
    ``(inputs, options) -> values`` (``inputs``: those columns, numeric, complete rows only) and
    a one-line description."""

    required: tuple[str, ...]
    function: Callable[[pd.DataFrame, _Options], np.ndarray]
    description: str


_TUMOUR = ("tumour_number", "tumour_diameter_mm")

SCORES: dict[str, Score] = {
    "albi": Score(
        ("albumin_g_l", "bilirubin_umol_l"),
        lambda d, o: albi_score(d["albumin_g_l"], d["bilirubin_umol_l"]),
        "ALBI score, 0.66 log10 bilirubin (umol/L) - 0.085 albumin (g/L) (Johnson 2015)"),
    "albi_grade": Score(
        ("albumin_g_l", "bilirubin_umol_l"),
        lambda d, o: albi_grade(albi_score(d["albumin_g_l"], d["bilirubin_umol_l"])),
        "ALBI grade 1-3, cut-offs -2.60 and -1.39 (Johnson 2015)"),
    "child_pugh_score": Score(
        ("child_pugh_score",),
        lambda d, o: _arr(d["child_pugh_score"]),
        "Child-Pugh score 5-15 as given in the table (Pugh 1973)"),
    "child_pugh_class": Score(
        ("child_pugh_score",),
        lambda d, o: child_pugh_class(d["child_pugh_score"]),
        "Child-Pugh class from the score: A 5-6 = 1, B 7-9 = 2, C 10-15 = 3 (Pugh 1973)"),
    "bclc": Score(
        ("ecog_ps", "child_pugh_score", *_TUMOUR, "pvtt", "extrahepatic_metastasis"),
        lambda d, o: bclc_stage(d["ecog_ps"], d["child_pugh_score"], d["tumour_number"],
                                d["tumour_diameter_mm"], d["pvtt"],
                                d["extrahepatic_metastasis"]),
        "BCLC stage computed with the 2022 algorithm, 0 = 0, A = 1, B = 2, C = 3, D = 4 "
        "(Reig 2022)"),
    "bclc_given": Score(
        ("bclc",),
        lambda d, o: _arr(d["bclc"]),
        "BCLC stage as given in the table's bclc column, 0 = 0, A = 1, B = 2, C = 3, D = 4"),
    "clip": Score(
        ("child_pugh_score", *_TUMOUR, "afp_ng_ml", "pvtt"),
        lambda d, o: clip_score(d["child_pugh_score"], d["tumour_number"],
                                d["tumour_diameter_mm"], d["afp_ng_ml"], d["pvtt"],
                                o.clip_massive_mm),
        "CLIP score 0-6: Child-Pugh, tumour morphology, AFP >= 400 ng/mL, portal vein "
        "thrombosis (CLIP Investigators 1998)"),
    "hap_points": Score(
        ("albumin_g_l", "afp_ng_ml", "bilirubin_umol_l", "tumour_diameter_mm"),
        lambda d, o: hap_points(d["albumin_g_l"], d["afp_ng_ml"], d["bilirubin_umol_l"],
                                d["tumour_diameter_mm"]),
        "HAP points 0-4: albumin < 36 g/L, AFP > 400 ng/mL, bilirubin > 17 umol/L, "
        "largest diameter > 70 mm (Kadalayil 2013)"),
    "hap_class": Score(
        ("albumin_g_l", "afp_ng_ml", "bilirubin_umol_l", "tumour_diameter_mm"),
        lambda d, o: hap_class(hap_points(d["albumin_g_l"], d["afp_ng_ml"],
                                          d["bilirubin_umol_l"], d["tumour_diameter_mm"])),
        "HAP class A-D (0, 1, 2, > 2 points) coded 0-3 (Kadalayil 2013)"),
    "up_to_seven_sum": Score(
        _TUMOUR,
        lambda d, o: up_to_seven_sum(d["tumour_number"], d["tumour_diameter_mm"]),
        "Up-to-seven sum: tumour number + largest diameter in cm (Mazzaferro 2009)"),
    "up_to_seven_beyond": Score(
        _TUMOUR,
        lambda d, o: _beyond_seven(d["tumour_number"], d["tumour_diameter_mm"]),
        "Up-to-seven criterion: 0 = within (sum <= 7), 1 = beyond (Mazzaferro 2009)"),
}

#: The scores computed when no names are given (``bclc_given`` is added when the table has a
#: ``bclc`` column).
DEFAULT_SCORES = tuple(name for name in SCORES if name != "bclc_given")

#: Labels of the ordinal codes, for tables and figures.
LEVELS: dict[str, dict[int, str]] = {
    "albi_grade": {1: "1", 2: "2", 3: "3"},
    "child_pugh_class": {1: "A", 2: "B", 3: "C"},
    "bclc": dict(enumerate(BCLC_STAGES)),
    "bclc_given": dict(enumerate(BCLC_STAGES)),
    "hap_class": {0: "A", 1: "B", 2: "C", 3: "D"},
    "up_to_seven_beyond": {0: "within", 1: "beyond"},
}


def _assumptions(opts: _Options) -> dict[str, str]:
    clip = (f"tumour morphology proxy: largest diameter >= {opts.clip_massive_mm:g} mm = "
            "massive or > 50 % of the liver (2 points), else tumour_number >= 2 = multinodular "
            "(1 point), else uninodular (0)")
    bclc = ("pvtt stands for macrovascular invasion; end-stage liver function = Child-Pugh C "
            "(score >= 10); nodule sizes read from the largest diameter")
    cp = "Child-Pugh taken from child_pugh_score (not derived from its five components)"
    return {"clip": clip, "bclc": bclc, "child_pugh_score": cp, "child_pugh_class": cp}


def describe_scores(names: Sequence[str] | None = None, *,
                    clip_massive_mm: float = CLIP_MASSIVE_MM) -> pd.DataFrame:
    """One row per score: ``score, required_columns, description, assumption`` (for the report
    and the workflow's documentation of what each comparator needs and assumes)."""
    names = list(SCORES) if names is None else _check_names(names)
    notes = _assumptions(_Options(float(clip_massive_mm)))
    return pd.DataFrame({
        "score": names,
        "required_columns": [", ".join(SCORES[n].required) for n in names],
        "description": [SCORES[n].description for n in names],
        "assumption": [notes.get(n, "") for n in names],
    })


# --- input validation ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rule:
    what: str  # shown in messages
    lo: float | None = None
    lo_open: bool = False
    hi: float | None = None
    integer: bool = False
    binary: bool = False


_RULES: dict[str, _Rule] = {
    "albumin_g_l": _Rule("albumin (g/L)", lo=0.0, lo_open=True),
    "bilirubin_umol_l": _Rule("total bilirubin (umol/L)", lo=0.0, lo_open=True),
    "afp_ng_ml": _Rule("AFP (ng/mL)", lo=0.0),
    "tumour_diameter_mm": _Rule("largest tumour diameter (mm)", lo=0.0, lo_open=True),
    "tumour_number": _Rule("number of tumours", lo=1.0, integer=True),
    "ecog_ps": _Rule("ECOG performance status", lo=0.0, hi=4.0, integer=True),
    "child_pugh_score": _Rule("Child-Pugh score", lo=5.0, hi=15.0, integer=True),
    "pvtt": _Rule("portal vein tumour thrombus (0/1)", binary=True),
    "extrahepatic_metastasis": _Rule("extrahepatic metastasis (0/1)", binary=True),
}
# Physiological plausibility, to catch a column in other units (g/dL, mg/dL).
_ALBUMIN_MIN_G_L = 10.0
_BILIRUBIN_MEDIAN_MIN = 4.0

# What the Child-Pugh score is made of, and the column names that would hold each part.
_CHILD_PUGH_PARTS = {
    "bilirubin": ("bilirubin_umol_l",),
    "albumin": ("albumin_g_l",),
    "prothrombin time prolongation or INR": ("inr", "pt_prolongation_s", "pt_0m"),
    "ascites grade": ("ascites",),
    "hepatic encephalopathy grade": ("encephalopathy", "hepatic_encephalopathy"),
}


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, str):
        return not v.strip()
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _to_float(v) -> float | None:
    """A cell as float; NaN when missing; None when not a number."""
    if _is_missing(v):
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _cells(ids: pd.Series, mask: np.ndarray, values: Sequence) -> str:
    shown = [f"{pid} ({val!r})" for pid, val in zip(ids[mask], np.asarray(values, dtype=object)
                                                       [mask], strict=True)]
    return name_list(shown, limit=10)


def _parse_column(col: str, raw: pd.Series, ids: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Numeric values of one input column (NaN = missing) and the problems found."""
    problems: list[str] = []
    cells = list(raw.astype(object))
    if col == "bclc":
        out, bad = np.full(len(cells), np.nan), np.zeros(len(cells), bool)
        for i, v in enumerate(cells):
            try:
                out[i] = parse_bclc(v)
            except ValueError:
                bad[i] = True
        if bad.any():
            problems.append(f"column 'bclc': not a BCLC stage (expected 0, A, B, C or D) for "
                            f"patient(s) {_cells(ids, bad, cells)}")
        return out, problems

    parsed = [_to_float(v) for v in cells]
    bad = np.array([p is None for p in parsed])
    values = np.array([np.nan if p is None else p for p in parsed], dtype=float)
    rule = _RULES[col]
    if bad.any():
        problems.append(f"column '{col}': not a number ({rule.what}) for patient(s) "
                        f"{_cells(ids, bad, cells)}")
    ok = ~np.isnan(values)
    if rule.binary:
        wrong = ok & ~np.isin(values, (0.0, 1.0))
        if wrong.any():
            problems.append(f"column '{col}': must be 0 or 1 ({rule.what}) for patient(s) "
                            f"{_cells(ids, wrong, cells)}")
        return values, problems
    if rule.integer:
        wrong = ok & (values != np.round(values))
        if wrong.any():
            problems.append(f"column '{col}': must be a whole number ({rule.what}) for "
                            f"patient(s) {_cells(ids, wrong, cells)}")
    if rule.lo is not None:
        low = ok & ((values <= rule.lo) if rule.lo_open else (values < rule.lo))
        negative = low & (values < 0) if rule.lo >= 0 else np.zeros_like(low)
        op = ">" if rule.lo_open else ">="
        for mask, kind in ((negative, "negative value"), (low & ~negative, "out of range")):
            if mask.any():
                problems.append(f"column '{col}': {kind}, {rule.what} must be {op} "
                                f"{rule.lo:g}, for patient(s) {_cells(ids, mask, cells)}")
    if rule.hi is not None:
        high = ok & (values > rule.hi)
        if high.any():
            problems.append(f"column '{col}': out of range, {rule.what} must be <= "
                            f"{rule.hi:g}, for patient(s) {_cells(ids, high, cells)}")
    if col == "albumin_g_l":
        tiny = ok & (values > 0) & (values < _ALBUMIN_MIN_G_L)
        if tiny.any():
            problems.append(f"column 'albumin_g_l': albumin below {_ALBUMIN_MIN_G_L:g} g/L is "
                            "implausible (g/dL? multiply by 10) for patient(s) "
                            f"{_cells(ids, tiny, cells)}")
    if col == "bilirubin_umol_l" and ok.any() and np.median(values[ok]) < _BILIRUBIN_MEDIAN_MIN:
        problems.append(f"column 'bilirubin_umol_l': median {np.median(values[ok]):g} is "
                        "implausible in umol/L (mg/dL? multiply by 17.1)")
    return values, problems


def _patient_ids(clinical: pd.DataFrame) -> pd.Series:
    if "patient_id" in clinical.columns:
        ids = clinical["patient_id"]
    elif clinical.index.name == "patient_id":
        ids = clinical.index.to_series()
    else:
        raise TableError("clinical table: no 'patient_id' column")
    ids = pd.Series(ids.to_numpy(), dtype=object)
    empty = ids.map(_is_missing)
    if empty.any():
        raise TableError(f"clinical table: {int(empty.sum())} row(s) without a patient_id "
                         f"(row(s) {name_list(np.flatnonzero(empty.to_numpy()) + 1)})")
    ids = ids.astype(str)
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise TableError(f"clinical table: duplicated patient_id: {name_list(dup)}")
    return ids


def _check_names(names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in SCORES]
    if unknown:
        raise ValueError(f"unknown clinical score(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(SCORES)}")
    return names


def _child_pugh_hint(columns) -> str:
    have = [part for part, cols in _CHILD_PUGH_PARTS.items() if any(c in columns for c in cols)]
    lack = [part for part in _CHILD_PUGH_PARTS if part not in have]
    text = ("; the Child-Pugh score is not derived from its five components here (add a "
            "child_pugh_score column, 5-15)")
    if have:
        text += f": the table has {', '.join(have)}"
        text += f" but lacks {', '.join(lack)}" if lack else ""
    return text


def _missing_columns(names: list[str], columns) -> None:
    lines = []
    for name in names:
        req = SCORES[name].required
        absent = [c for c in req if c not in columns]
        if absent:
            line = (f"score '{name}' needs column(s) {', '.join(req)}; the clinical table lacks "
                    f"{', '.join(absent)}")
            if "child_pugh_score" in absent:
                line += _child_pugh_hint(columns)
            lines.append(line)
    if lines:
        raise TableError("; ".join(lines))


# --- the entry points ------------------------------------------------------------------------

def compute_scores(
    clinical: pd.DataFrame,
    names: Sequence[str] | None = None,
    *,
    on_missing: str = "error",
    clip_massive_mm: float = CLIP_MASSIVE_MM,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute clinical scores from the clinical table.

    Args:
        clinical: one row per patient with a ``patient_id`` column (or index) and the columns
            each requested score needs (:data:`SCORES`).
        names: scores to compute, in this order (default: :data:`DEFAULT_SCORES`, plus
            ``bclc_given`` when the table has a ``bclc`` column).
        on_missing: ``"error"``: a missing input of a requested score raises, naming the
            patients and columns; ``"exclude"``: that patient gets NaN for that score only and a
            row in the exclusions table.
        clip_massive_mm: CLIP morphology proxy threshold (see the module docstring).

    Returns:
        ``(scores, exclusions)``: ``scores`` is indexed by ``patient_id`` (table order) with one
        float column per score, higher = worse; ``scores.attrs["assumptions"]`` records the
        assumptions of the computed scores and ``scores.attrs["clip_massive_mm"]`` the proxy
        threshold. ``exclusions`` has columns ``patient_id, score, reason``.

    Raises:
        TableError: a requested score's column is absent (names the score and the columns it
            needs), a cell is not a number or out of range (names patient, column and problem),
            patient ids are missing or duplicated, or an input is missing and
            ``on_missing="error"``.
        ValueError: unknown score name or ``on_missing`` value.
    """
    if on_missing not in ("error", "exclude"):
        raise ValueError(f"on_missing must be 'error' or 'exclude', not {on_missing!r}")
    if not (isinstance(clip_massive_mm, (int, float)) and clip_massive_mm > 0):
        raise ValueError(f"clip_massive_mm must be a positive number of mm, not "
                         f"{clip_massive_mm!r}")
    if names is None:
        names = [*DEFAULT_SCORES, *(["bclc_given"] if "bclc" in clinical.columns else [])]
    names = _check_names(names)
    ids = _patient_ids(clinical)
    _missing_columns(names, clinical.columns)

    needed = list(dict.fromkeys(c for n in names for c in SCORES[n].required))
    inputs: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for col in needed:
        inputs[col], found = _parse_column(col, clinical[col], ids)
        problems += found
    if problems:
        raise TableError("clinical table: " + "; ".join(problems))
    data = pd.DataFrame(inputs, index=pd.Index(ids, name="patient_id"))

    if on_missing == "error":
        lines = []
        for col in needed:
            miss = data[col].isna().to_numpy()
            if miss.any():
                users = [n for n in names if col in SCORES[n].required]
                lines.append(f"column '{col}' (needed by {', '.join(users)}) is missing for "
                             f"patient(s) {name_list(ids[miss])}")
        if lines:
            raise TableError("clinical table: missing values (pass on_missing='exclude' to "
                             "leave those patients out of the affected scores only): "
                             + "; ".join(lines))

    opts = _Options(float(clip_massive_mm))
    scores = pd.DataFrame(index=data.index)
    excluded = []
    for name in names:
        req = list(SCORES[name].required)
        part = data[req]
        complete = part.notna().all(axis=1).to_numpy()
        values = np.full(len(data), np.nan)
        if complete.any():
            values[complete] = SCORES[name].function(part[complete], opts)
        scores[name] = values
        for pid, row in zip(ids[~complete], part[~complete].itertuples(index=False),
                            strict=True):
            cols = [c for c, v in zip(req, row, strict=True) if pd.isna(v)]
            excluded.append((pid, name, f"missing {', '.join(cols)}"))
    notes = _assumptions(opts)
    scores.attrs["assumptions"] = {n: notes[n] for n in names if n in notes}
    scores.attrs["clip_massive_mm"] = opts.clip_massive_mm
    exclusions = pd.DataFrame(excluded, columns=["patient_id", "score", "reason"])
    return scores, exclusions


#: Given columns that :func:`disagreements` compares with the computed score of the same name.
_GIVEN = {
    "bclc": ("bclc", "bclc_given"),
    "child_pugh_class": ("child_pugh_class", None),
}


def _given_child_pugh(clinical: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    codes = {"A": 1.0, "B": 2.0, "C": 3.0}
    cells = list(clinical["child_pugh_class"].astype(object))
    out, bad = np.full(len(cells), np.nan), np.zeros(len(cells), bool)
    for i, v in enumerate(cells):
        if _is_missing(v):
            continue
        label = str(v).strip().upper()
        if label in codes:
            out[i] = codes[label]
        else:
            bad[i] = True
    if bad.any():
        raise TableError("clinical table: column 'child_pugh_class': not a Child-Pugh class "
                         f"(A, B or C) for patient(s) {_cells(ids, bad, cells)}")
    return out


def disagreements(clinical: pd.DataFrame, score: str = "bclc") -> pd.DataFrame:
    """Cross-count a stage or class given in the clinical table against the computed one.

    ``score`` is ``"bclc"`` (the table's ``bclc`` column vs the BCLC 2022 stage computed by
    :func:`bclc_stage`) or ``"child_pugh_class"`` (the table's ``child_pugh_class`` vs the class
    of ``child_pugh_score``). Patients missing either value are left out. Returns one row per
    observed (given, computed) pair: ``given, computed`` (labels), ``n``, ``agree`` and
    ``patients`` (comma-separated ids), sorted with the disagreements first; the number of
    disagreeing patients is ``df.loc[~df.agree, "n"].sum()``. Nothing is overridden: both
    values stay available (``bclc`` and ``bclc_given`` in :func:`compute_scores`).
    """
    if score not in _GIVEN:
        raise ValueError(f"disagreements: score must be one of {', '.join(_GIVEN)}, "
                         f"not {score!r}")
    given_col, given_score = _GIVEN[score]
    names = [score] + ([given_score] if given_score else [])
    if given_col not in clinical.columns:
        raise TableError(f"clinical table: no '{given_col}' column to compare the computed "
                         f"'{score}' with")
    scores, _ = compute_scores(clinical, names, on_missing="exclude")
    computed = scores[score].to_numpy()
    if given_score:
        given = scores[given_score].to_numpy()
    else:
        given = _given_child_pugh(clinical, scores.index.to_series())
    keep = ~np.isnan(computed) & ~np.isnan(given)
    labels = LEVELS[score]
    frame = pd.DataFrame({
        "patient_id": scores.index[keep],
        "given": [labels[int(v)] for v in given[keep]],
        "computed": [labels[int(v)] for v in computed[keep]],
    })
    rows = []
    for (g, c), grp in frame.groupby(["given", "computed"], sort=True):
        rows.append((g, c, len(grp), g == c, ", ".join(grp["patient_id"])))
    out = pd.DataFrame(rows, columns=["given", "computed", "n", "agree", "patients"])
    return out.sort_values(["agree", "given", "computed"], kind="stable").reset_index(drop=True)
