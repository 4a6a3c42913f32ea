"""Reporting checklist filled from a run's own provenance: CLEAR and TRIPOD+AI.

* CLEAR, the CheckList for EvaluAtion of Radiomics research, 58 items (Kocak B, Baessler B,
  Bakas S, et al. Insights Imaging 2023;14:75).
* TRIPOD+AI, reporting of clinical prediction models that use regression or machine learning,
  27 items with sub-items (Collins GS, Moons KGM, Dhiman P, et al. BMJ 2024;385:e078378).

Every item of both lists appears with its number. Where the run's files answer it (the config,
``results/splits.tsv``, ``results/qc/excluded.tsv``, the acquisition parameters read from the
DICOM headers in ``results/qc/imaging_qc.tsv``, the PyRadiomics parameter file,
``results/features/robustness.tsv``, the model manifests and learner tables, and the performance
and calibration tables) the text says what was done, with the numbers; otherwise the item reads
"To be completed by the authors" (or why it does not apply). The checklist documents the
pipeline; the manuscript still needs its own page numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

__all__ = [
    "AUTHORS",
    "CLEAR_ITEMS",
    "TRIPOD_AI_ITEMS",
    "Item",
    "Provenance",
    "fill_checklist",
    "imaging_protocol",
    "load_provenance",
    "to_markdown",
]

AUTHORS = "To be completed by the authors."

#: CLEAR v1.0: (number, section, item).
CLEAR_ITEMS = [
    (1, "Title", "Relevant title, specifying the radiomic methodology"),
    (2, "Abstract", "Structured summary with relevant information"),
    (3, "Keywords", "Relevant keywords for radiomics"),
    (4, "Introduction", "Scientific or clinical background"),
    (5, "Introduction", "Rationale for using a radiomic approach"),
    (6, "Introduction", "Study objective(s)"),
    (7, "Study design", "Adherence to guidelines or checklists (e.g., CLEAR checklist)"),
    (8, "Study design", "Ethical details (e.g., approval, consent, data protection)"),
    (9, "Study design", "Sample size calculation"),
    (10, "Study design", "Study nature (e.g., retrospective, prospective)"),
    (11, "Study design", "Eligibility criteria"),
    (12, "Study design", "Flowchart for technical pipeline"),
    (13, "Data", "Data source (e.g., private, public)"),
    (14, "Data", "Data overlap"),
    (15, "Data", "Data split methodology"),
    (16, "Data", "Imaging protocol (i.e., image acquisition and processing)"),
    (17, "Data", "Definition of non-radiomic predictor variables"),
    (18, "Data", "Definition of the reference standard (i.e., outcome variable)"),
    (19, "Segmentation", "Segmentation strategy"),
    (20, "Segmentation", "Details of operators performing segmentation"),
    (21, "Pre-processing", "Image pre-processing details"),
    (22, "Pre-processing", "Resampling method and its parameters"),
    (23, "Pre-processing", "Discretization method and its parameters"),
    (24, "Pre-processing", "Image types (e.g., original, filtered, transformed)"),
    (25, "Feature extraction", "Feature extraction method"),
    (26, "Feature extraction", "Feature classes"),
    (27, "Feature extraction", "Number of features"),
    (28, "Feature extraction", "Default configuration statement for remaining parameters"),
    (29, "Data preparation", "Handling of missing data"),
    (30, "Data preparation", "Details of class imbalance"),
    (31, "Data preparation", "Details of segmentation reliability analysis"),
    (32, "Data preparation", "Feature scaling details (e.g., normalization, standardization)"),
    (33, "Data preparation", "Dimension reduction details"),
    (34, "Modeling", "Algorithm details"),
    (35, "Modeling", "Training and tuning details"),
    (36, "Modeling", "Handling of confounders"),
    (37, "Modeling", "Model selection strategy"),
    (38, "Evaluation", "Testing technique (e.g., internal, external)"),
    (39, "Evaluation", "Performance metrics and rationale for choosing"),
    (40, "Evaluation", "Uncertainty evaluation and measures (e.g., confidence intervals)"),
    (41, "Evaluation", "Statistical performance comparison (e.g., DeLong's test)"),
    (42, "Evaluation", "Comparison with non-radiomic and combined methods"),
    (43, "Evaluation", "Interpretability and explainability methods"),
    (44, "Results", "Baseline demographic and clinical characteristics"),
    (45, "Results", "Flowchart for eligibility criteria"),
    (46, "Results", "Feature statistics (e.g., reproducibility, feature selection)"),
    (47, "Results", "Model performance evaluation"),
    (48, "Results", "Comparison with non-radiomic and combined approaches"),
    (49, "Discussion", "Overview of important findings"),
    (50, "Discussion", "Previous works with differences from the current study"),
    (51, "Discussion", "Practical implications"),
    (52, "Discussion", "Strengths and limitations (e.g., bias and generalizability issues)"),
    (53, "Open science", "Sharing images along with segmentation data"),
    (54, "Open science", "Sharing radiomic feature data"),
    (55, "Open science", "Sharing pre-processing scripts or settings"),
    (56, "Open science", "Sharing source code for modeling"),
    (57, "Open science", "Sharing final model files"),
    (58, "Open science", "Sharing a ready-to-use system"),
]

#: TRIPOD+AI: (number, section, item).
TRIPOD_AI_ITEMS = [
    ("1", "Title", "Identify the study as developing or evaluating a prediction model"),
    ("2", "Abstract", "Structured summary (TRIPOD+AI for Abstracts)"),
    ("3a", "Background", "Healthcare context and rationale; existing models"),
    ("3b", "Background", "Target population and intended use in the care pathway"),
    ("3c", "Background", "Known health inequalities between groups"),
    ("4", "Objectives", "Objectives: development, evaluation or both"),
    ("5a", "Data", "Sources of data, and rationale for using them"),
    ("5b", "Data", "Dates of the collected participant data (accrual, follow-up)"),
    ("6a", "Participants", "Study setting, number and location of centres"),
    ("6b", "Participants", "Eligibility criteria"),
    ("6c", "Participants", "Details of any treatments received"),
    ("7", "Data preparation", "Data pre-processing and quality checking"),
    ("8a", "Outcome", "Outcome predicted and time horizon; how and when assessed"),
    ("8b", "Outcome", "Qualifications and demographics of outcome assessors"),
    ("8c", "Outcome", "Blinding of outcome assessment"),
    ("9a", "Predictors", "Choice of initial predictors and any pre-selection"),
    ("9b", "Predictors", "Definition of predictors, how and when measured"),
    ("9c", "Predictors", "Qualifications and demographics of predictor assessors"),
    ("10", "Sample size", "How the study size was arrived at"),
    ("11", "Missing data", "How missing data were handled"),
    ("12a", "Analytical methods", "How the data were used (development, evaluation), partitions"),
    ("12b", "Analytical methods", "How predictors were handled (transformations, scaling)"),
    ("12c", "Analytical methods", "Model type, building, hyperparameter tuning, internal validation"),
    ("12d", "Analytical methods", "Heterogeneity in estimates and performance across clusters"),
    ("12e", "Analytical methods", "Performance measures, with rationale; calibration"),
    ("12f", "Analytical methods", "Model updating (e.g., recalibration) from the evaluation"),
    ("12g", "Analytical methods", "How model predictions were calculated in evaluation"),
    ("13", "Class imbalance", "Methods for class imbalance and recalibration"),
    ("14", "Fairness", "Approaches to address model fairness"),
    ("15", "Model output", "Model output and any classification thresholds"),
    ("16", "Training versus evaluation", "Differences between development and evaluation data"),
    ("17", "Ethical approval", "Ethics committee approval and consent"),
    ("18a", "Open science", "Funding"),
    ("18b", "Open science", "Conflicts of interest"),
    ("18c", "Open science", "Protocol availability"),
    ("18d", "Open science", "Registration"),
    ("18e", "Open science", "Data sharing"),
    ("18f", "Open science", "Code sharing"),
    ("19", "Patient and public involvement", "Patient and public involvement"),
    ("20a", "Participants", "Flow of participants; numbers with and without the outcome"),
    ("20b", "Participants", "Characteristics overall and per data source"),
    ("20c", "Participants", "Comparison of development and evaluation data"),
    ("21", "Model development", "Participants and outcome events in each analysis"),
    ("22", "Model specification", "Details of the full model to allow predictions"),
    ("23a", "Model performance", "Performance estimates with confidence intervals"),
    ("23b", "Model performance", "Heterogeneity of performance across groups"),
    ("24", "Model updating", "Results of any model updating"),
    ("25", "Interpretation", "Overall interpretation of the main results"),
    ("26", "Limitations", "Limitations (e.g., non-representative sample, overfitting)"),
    ("27a", "Usability", "How poor-quality or unavailable input data are handled"),
    ("27b", "Usability", "User interaction and expertise needed"),
    ("27c", "Usability", "Future research and generalisability"),
]


@dataclass
class Item:
    guideline: str
    number: str
    section: str
    item: str
    text: str = AUTHORS
    sources: list[str] = field(default_factory=list)

    @property
    def filled(self) -> bool:
        return self.text != AUTHORS


@dataclass
class Provenance:
    """What a run wrote, each part optional (None when the file is absent)."""

    config: Mapping
    splits: pd.DataFrame | None = None
    excluded: pd.DataFrame | None = None
    imaging_qc: pd.DataFrame | None = None
    robustness: pd.DataFrame | None = None
    radiomics_params: Mapping | None = None
    n_radiomics_features: int | None = None
    manifests: dict[str, Mapping] = field(default_factory=dict)
    algorithms: pd.DataFrame | None = None
    performance: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    clinical: pd.DataFrame | None = None
    paths: dict[str, str] = field(default_factory=dict)


def _tsv(path) -> pd.DataFrame | None:
    if path is None or not Path(path).exists():
        return None
    return pd.read_csv(path, sep="\t")


def load_provenance(config: Mapping, *, splits=None, excluded=None, imaging_qc=None,
                    robustness=None, radiomics_params=None, radiomics=None, manifests=(),
                    algorithms=(), performance=None, calibration=(), clinical=None) -> Provenance:
    """Read a run's files (any may be None or missing) into a :class:`Provenance`."""
    params = None
    if radiomics_params and Path(radiomics_params).exists():
        params = yaml.safe_load(Path(radiomics_params).read_text())
    n_features = None
    if radiomics and Path(radiomics).exists():
        with open(radiomics) as fh:
            n_features = len(fh.readline().rstrip("\n").split("\t")) - 1
    loaded = {}
    for path in manifests:
        p = Path(path)
        p = p / "manifest.json" if p.is_dir() else p
        if p.exists():
            loaded[str(p)] = json.loads(p.read_text())
    algos = [t for t in map(_tsv, algorithms) if t is not None]
    calib = [t for t in map(_tsv, calibration) if t is not None]
    paths = {k: str(v) for k, v in dict(
        splits=splits, excluded=excluded, imaging_qc=imaging_qc, robustness=robustness,
        radiomics_params=radiomics_params, performance=performance).items() if v}
    return Provenance(
        config=config, splits=_tsv(splits), excluded=_tsv(excluded), imaging_qc=_tsv(imaging_qc),
        robustness=_tsv(robustness), radiomics_params=params, n_radiomics_features=n_features,
        manifests=loaded, algorithms=pd.concat(algos, ignore_index=True) if algos else None,
        performance=_tsv(performance),
        calibration=pd.concat(calib, ignore_index=True) if calib else None,
        clinical=_tsv(clinical), paths=paths)


# --- imaging protocol -------------------------------------------------------------------------

_PROTOCOL = {
    "acquisition_manufacturer": "Manufacturer",
    "acquisition_model": "Scanner model",
    "acquisition_kvp": "Tube voltage (kVp)",
    "acquisition_convolution_kernel": "Reconstruction kernel",
    "acquisition_contrast_agent": "Contrast agent",
    "acquisition_slice_thickness_mm": "Slice thickness (mm)",
    "acquisition_source_format": "Source format",
}


def _values(series: pd.Series) -> str:
    v = series.dropna()
    if v.empty:
        return "not recorded"
    if pd.api.types.is_numeric_dtype(v):
        lo, hi = float(v.min()), float(v.max())
        return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g} (median {float(v.median()):g})"
    counts = v.astype(str).value_counts()
    return "; ".join(f"{k} ({n})" for k, n in counts.items())


def imaging_protocol(imaging_qc: pd.DataFrame, splits: pd.DataFrame | None = None
                     ) -> pd.DataFrame:
    """Acquisition parameters (from the DICOM headers) per centre and phase: one row per
    parameter, one column per centre x phase, values as ranges or counts of scans."""
    qc = imaging_qc.copy()
    if splits is not None and "center" in splits:
        qc = qc.merge(splits[["patient_id", "center"]], on="patient_id", how="left")
    else:
        qc["center"] = "all"
    qc["center"] = qc["center"].fillna("unknown")
    cols = [c for c in _PROTOCOL if c in qc.columns]
    table = {}
    for (center, phase), part in qc.groupby(["center", "phase"], sort=True):
        key = f"centre {center}, {phase} (n = {part.patient_id.nunique()})"
        values = {_PROTOCOL[c]: _values(part[c]) for c in cols}
        if "acquisition_spacing_mm" in part:
            inplane = part["acquisition_spacing_mm"].dropna().map(
                lambda s: float(json.loads(s)[0]) if isinstance(s, str) else float("nan"))
            values["In-plane pixel spacing (mm)"] = _values(inplane)
        table[key] = values
    return pd.DataFrame(table)


# --- filling -----------------------------------------------------------------------------------


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "(version not installed here)"


def _cohort_counts(splits: pd.DataFrame) -> str:
    parts = []
    for cohort in ("train", "internal", "external"):
        sub = splits[splits.cohort == cohort]
        if len(sub):
            centres = ", ".join(sorted(sub.center.astype(str).unique())) if "center" in sub else ""
            parts.append(f"{cohort} n = {len(sub)} (centre {centres})")
    return "; ".join(parts)


def _excluded_text(excluded: pd.DataFrame | None) -> str:
    if excluded is None:
        return ""
    if excluded.empty:
        return "No patient was excluded by the per-patient input checks (results/qc/excluded.tsv)."
    reasons = excluded.reason.astype(str).str.split(":").str[0].value_counts()
    listed = "; ".join(f"{r} ({n})" for r, n in reasons.items())
    return (f"{len(excluded)} patients excluded by the per-patient input checks "
            f"(results/qc/excluded.tsv): {listed}.")


def _performance_text(perf: pd.DataFrame) -> str:
    rows = perf[perf.metric.isin(["auc", "cindex", "ibs"]) & (perf.component == "fusion")]
    out = []
    for r in rows.itertuples(index=False):
        out.append(f"{r.recipe} {r.endpoint} {r.cohort} {r.metric} {r.estimate:.3f} "
                   f"(95% CI {r.ci_lower:.3f}-{r.ci_upper:.3f}; n = {r.n}, events = {r.n_events})")
    return "; ".join(out)


def _stratification(cfg: Mapping) -> str:
    """How :func:`hccfusion.split.make_split` split the development centre (``split.stratify_by``
    may be null, or a column that is not an outcome)."""
    column = cfg["split"].get("stratify_by")
    if column is None:
        return "not stratified"
    outcomes = {e.get("event") for e in cfg["endpoints"].values()}
    return (f"stratified by the outcome {column}" if column in outcomes
            else f"stratified by {column} (not an outcome)")


def _kinds(cfg: Mapping) -> set[str]:
    """Endpoint types (``binary``, ``survival``) some recipe models."""
    return {cfg["endpoints"][e]["type"] for r in cfg["recipes"].values() for e in r["endpoints"]}


#: Scalers in words (the ``scale`` step of :func:`hccfusion.preprocess.block_pipeline`).
_SCALERS = {"StandardScaler": "z-score standardisation (training mean and SD)",
            "MinMaxScaler": "min-max scaling to [0, 1] (training range)",
            "RobustScaler": "robust scaling (training median and IQR)"}
_IMPUTERS = {"median": "median", "mean": "mean", "most_frequent": "most frequent value",
             "constant": "a constant"}


def _preprocessing(pre: Mapping) -> dict[str, str]:
    """Imputation and scaling of the block pipeline every model uses, read from
    :func:`hccfusion.preprocess.block_pipeline` itself so the text follows the code."""
    from hccfusion.preprocess import block_pipeline

    steps = block_pipeline(pre, "binary").named_steps
    num, cat = (t for _, t, _ in steps["encode"].transformers)
    scaler = type(steps["scale"]).__name__
    return {"numeric": _IMPUTERS.get(num.strategy, num.strategy),
            "categorical": _IMPUTERS.get(cat.named_steps["impute"].strategy,
                                         cat.named_steps["impute"].strategy),
            "scaling": _SCALERS.get(scaler, scaler)}


#: What :class:`hccfusion.models.learners.LearnerSearch` scores the candidates with (``_score``).
_SEARCH_SCORE = {"binary": "AUC (response)", "survival": "Harrell's C (survival)"}


#: ``models.survival_fusion`` in words (:mod:`hccfusion.models`).
_SURVIVAL_FUSION = {"bma": "Bayesian model averaging with BIC weights",
                    "cox": "a ridge Cox meta-model"}


def _calibration_text(cfg: Mapping, kinds: set[str]) -> str:
    """The statistics of :func:`hccfusion.calibration.binary_calibration_summary` and
    :func:`~hccfusion.calibration.survival_calibration_summary`, for the endpoint types run."""
    parts = []
    if "binary" in kinds:
        parts.append("response: calibration intercept and slope, Hosmer-Lemeshow test "
                     f"({cfg['evaluation'].get('calibration_groups', 10)} groups), ICI, E50, "
                     "E90, Emax")
    if "survival" in kinds:
        parts.append("survival, at each horizon: observed/expected risk, calibration slope, "
                     "ICI, E50, E90")
    return "; ".join(parts)


def fill_checklist(p: Provenance) -> list[Item]:
    """Both checklists, every item, filled where the run's provenance answers it."""
    cfg = p.config
    filled: dict[tuple[str, str], tuple[str, list[str]]] = {}

    def put(guideline, numbers, text, *sources):
        for n in numbers:
            filled[(guideline, str(n))] = (text, list(sources))

    split = cfg["split"]
    put("CLEAR", [7], "This checklist (CLEAR) and TRIPOD+AI were generated from the run's "
        "provenance by hccfusion.checklist (results/checklist.md).")
    demo = cfg.get("demo", {}).get("generate")
    source = ("the built-in synthetic demo cohort (hccfusion demo, seed "
              f"{cfg['demo']['seed']}, scale {cfg['demo']['scale']}); replace with the study's "
              "data sources" if demo else
              f"patient sheet {cfg.get('patients')} and clinical table {cfg.get('clinical')}")
    if cfg.get("feature_table"):
        source += f"; radiomics features from {cfg['feature_table']}"
    put("CLEAR", [13], f"Data: {source}.", "config")
    put("TRIPOD+AI", ["5a"], f"Data: {source}.", "config")
    if p.splits is not None:
        counts = _cohort_counts(p.splits)
        centres = sorted(p.splits.center.astype(str).unique()) if "center" in p.splits else []
        text = (f"{len(p.splits)} patients from {len(centres)} centre(s) ({', '.join(centres)}): "
                f"{counts}. Centre {split['development_center']} split "
                f"{1 - split['internal_fraction']:.0%}:{split['internal_fraction']:.0%} into "
                f"training and internal validation, {_stratification(cfg)} "
                f"(seed {split['seed']}); centre {split['external_center']} is the external "
                "validation cohort, never used for fitting.")
        put("CLEAR", [15, 38], text, "results/splits.tsv", "config")
        put("TRIPOD+AI", ["12a"], text, "results/splits.tsv", "config")
        put("CLEAR", [14], "No overlap: every patient belongs to exactly one of training, "
            f"internal and external ({counts}).", "results/splits.tsv")
        put("TRIPOD+AI", ["6a"], f"{len(centres)} centres: {counts}. Setting and location: "
            + AUTHORS, "results/splits.tsv")
        excluded = _excluded_text(p.excluded)
        put("CLEAR", [45], f"Analysed: {counts}. {excluded} Screening numbers before the "
            "workflow: " + AUTHORS, "results/splits.tsv", "results/qc/excluded.tsv")
        put("TRIPOD+AI", ["20a"], f"Analysed: {counts}. {excluded} Flow before the workflow: "
            + AUTHORS, "results/splits.tsv", "results/qc/excluded.tsv")
    elif p.excluded is not None:
        put("CLEAR", [45], _excluded_text(p.excluded), "results/qc/excluded.tsv")
    if p.imaging_qc is not None:
        protocol = imaging_protocol(p.imaging_qc, p.splits)
        put("CLEAR", [16], f"Acquisition parameters of {p.imaging_qc.patient_id.nunique()} "
            f"patients x {p.imaging_qc.phase.nunique()} phases read from the DICOM headers: see "
            f"'Imaging protocol' below ({protocol.shape[1]} centre x phase columns).",
            "results/qc/imaging_qc.tsv")
    seg = cfg["segmentation"]
    seg_text = {"provided": "masks provided with the images (sheet column <phase>_mask)",
                "box": "automatic segmentation inside box prompts (SimpleITK)",
                "medsam": "MedSAM box-prompt segmentation"}[seg["method"]]
    put("CLEAR", [19], f"Segmentation: {seg_text}; connected components: {seg['components']}; "
        f"masks with fewer than {seg['min_voxels']} voxels are input errors. 3D, per phase "
        f"({', '.join(cfg['phases'])}). Manual refinement, if any: " + AUTHORS, "config")
    rcfg = cfg["radiomics"]
    params = p.radiomics_params or {}
    setting = params.get("setting", {})
    spacing = rcfg.get("spacing_mm")
    put("CLEAR", [21], f"Intensity normalisation: {rcfg['normalisation']}"
        + (f" (window {rcfg['window']} HU)" if rcfg["normalisation"] != "none" else "")
        + (f"; re-segmentation range {setting.get('resegmentRange')} HU" if setting.get(
            "resegmentRange") else "") + f"; PyRadiomics normalize = {setting.get('normalize')}.",
        "config", "radiomics params")
    put("CLEAR", [22], (f"Resampled to {spacing} mm by the workflow ({rcfg['interpolator']} "
                        "interpolation of the image, label-safe resampling of the mask)."
                        if spacing else "No resampling (native grid)."), "config")
    if params:
        disc = (f"fixed bin width {setting['binWidth']}" if "binWidth" in setting else
                f"fixed bin count {setting.get('binCount')}")
        put("CLEAR", [23], f"Discretisation: {disc} (PyRadiomics).", "radiomics params")
        types = params.get("imageType", {})
        desc = []
        for name, opts in types.items():
            desc.append(f"{name} {opts}" if opts else name)
        put("CLEAR", [24], f"Image types: {', '.join(desc)}.", "radiomics params")
        classes = list(params.get("featureClass", {}) or {})
        put("CLEAR", [26], f"Feature classes: {', '.join(classes)}.", "radiomics params")
        shown = {k: v for k, v in setting.items()}
        put("CLEAR", [28], f"Parameter file {rcfg['params']} (settings {shown}); all other "
            "PyRadiomics settings at their defaults.", "radiomics params")
    # PyRadiomics deviates from IBSI-1 for some features and settings, so no blanket claim.
    put("CLEAR", [25], f"PyRadiomics {_version('pyradiomics')} (van Griethuysen et al. 2017), "
        "hand-crafted features; extraction per patient and phase. Which features match the "
        "IBSI-1 definitions, and the known deviations, are listed in "
        "resources/radiomics/IBSI.md; IBSI compliance of this run's settings: " + AUTHORS,
        "environment")
    put("TRIPOD+AI", ["9b"], "Radiomics features from PyRadiomics with the parameter file "
        f"{rcfg['params']} on each phase; clinical variables as typed in the clinical-table "
        "schema (workflow/schemas/clinical.schema.yaml). Timing of measurement: " + AUTHORS,
        "config")
    if p.n_radiomics_features is not None or p.robustness is not None:
        parts = []
        if p.n_radiomics_features is not None:
            parts.append(f"{p.n_radiomics_features} radiomics features extracted "
                         f"({len(cfg['phases'])} phases)")
        if p.robustness is not None:
            kept = int(p.robustness.kept.astype(bool).sum())
            parts.append(f"{kept} of {len(p.robustness)} kept by the ICC filter")
        put("CLEAR", [27], "; ".join(parts) + ".", "results/features/radiomics.tsv",
            "results/features/robustness.tsv")
    rob = cfg["robustness"]
    if p.robustness is not None:
        kept = int(p.robustness.kept.astype(bool).sum())
        text = (f"ICC(3,1) of each feature over training patients (at most "
                f"{rob['max_patients']}), from a second reader's masks where available, else "
                f"{rob['perturbations']} perturbed re-segmentations per patient and phase "
                f"(seed {rob['seed']}); features with ICC <= {rob['icc_threshold']} dropped: "
                f"{kept} of {len(p.robustness)} kept.")
        put("CLEAR", [31], text, "results/features/robustness.tsv", "config")
        put("CLEAR", [46], text + " Selected features per model: results/models/<recipe>/"
            "<endpoint>/selected_features.tsv.", "results/features/robustness.tsv")
    elif not rob["enabled"] or cfg.get("feature_table"):
        put("CLEAR", [31], "Not applicable in this run: the robustness (ICC) filter was off.",
            "config")
    pre = cfg["preprocessing"]
    prep = _preprocessing(pre)
    missing = (f"Features missing in more than {pre['max_missing_fraction']:.0%} of training "
               f"patients dropped, the rest imputed with the training {prep['numeric']} "
               f"(numeric) or {prep['categorical']} (categorical) (fitted on training data "
               "only).")
    if p.clinical is not None:
        frac = p.clinical.isna().mean()
        frac = frac[frac > 0].sort_values(ascending=False)
        if len(frac):
            missing += " Missing in the clinical table: " + ", ".join(
                f"{c} {v:.0%}" for c, v in frac.head(10).items()) + "."
    put("CLEAR", [29], missing, "config", "clinical table")
    put("TRIPOD+AI", ["11"], missing, "config", "clinical table")
    put("CLEAR", [32], f"{prep['scaling'][0].upper()}{prep['scaling'][1:]} of every predictor column of a block "
        "(after imputation, one-hot encoding and the variance filter), fitted on training "
        "patients only.", "hccfusion.preprocess")
    put("TRIPOD+AI", ["12b"], "Categorical clinical variables one-hot encoded; then "
        f"{prep['scaling']} of every column (one-hot columns included); no other "
        "transformation.", "hccfusion.preprocess")
    sel = cfg["models"]["selection"]
    put("CLEAR", [33], f"Response: variance < {pre['variance_threshold_binary']} removed, "
        f"clinical univariate logistic p < {sel['p_threshold']}, imaging elastic-net logistic "
        f"(l1_ratio {cfg['models']['l1_ratio']}, |coef| > {sel['coef_threshold']}, at most "
        f"{sel['max_features']}). Survival: variance < {pre['variance_threshold_survival']} "
        f"removed, Cox-L1 screening ({sel['screen_max']}), elastic-net Cox, top {sel['top_k']}. "
        "Refitted inside every training fit.", "config")
    put("TRIPOD+AI", ["9a"], "All clinical-table columns except "
        f"{', '.join(cfg['clinical_features']['exclude'])} and the outcomes are candidate "
        "predictors; plus the robust radiomics features; selection as in CLEAR item 33.",
        "config")
    mcfg = cfg["models"]
    algos = (f"Candidate learners: response {', '.join(mcfg['learners_binary'])}; survival "
             f"{', '.join(mcfg['learners_survival'])}. Late fusion: stacking of out-of-fold "
             f"probabilities (response), {mcfg['survival_fusion']} (survival); early fusion "
             "(concatenation) as comparator.")
    if p.algorithms is not None:
        chosen = p.algorithms[p.algorithms.chosen.astype(bool)]
        algos += " Chosen: " + "; ".join(
            f"{r.recipe} {r.endpoint} {r.block}: {r.learner} {r.params}"
            for r in chosen.itertuples(index=False)) + "."
    put("CLEAR", [34], algos, "config", "algorithms.tsv")
    tuning = (f"Grid search with {mcfg['inner_folds']}-fold inner cross-validation on training "
              f"patients (grids: {dict(mcfg['grids'])}); train_cv estimates from "
              f"{cfg['cv_folds']}-fold outer cross-validation; seed {mcfg['seed']}.")
    put("CLEAR", [35], tuning, "config")
    kinds = _kinds(cfg)
    score = " or ".join(_SEARCH_SCORE[k] for k in ("binary", "survival") if k in kinds)
    fusion = " and ".join(
        f for k, f in (("binary", "a logistic stacking model (response)"),
                       ("survival", _SURVIVAL_FUSION.get(mcfg["survival_fusion"],
                                                         mcfg["survival_fusion"])
                        + " (survival)")) if k in kinds)
    put("CLEAR", [37], "Per single-block and early-fusion component, the candidate learner and "
        f"grid point with the best mean {mcfg['inner_folds']}-fold inner-CV {score} on the "
        "training patients (ties: the learner listed first). The late-fusion model is not "
        f"chosen: it is {fusion} fitted on the components' out-of-fold scores.", "config")
    put("TRIPOD+AI", ["12c"], algos + " " + tuning, "config", "algorithms.tsv")
    discrimination = [t for k, t in (
        ("binary", "AUC with DeLong CI and Brier score (response)"),
        ("survival", "Harrell's and Uno's C-index, time-dependent AUC and Brier score at "
         f"{cfg['evaluation']['horizons_months']} months and the integrated Brier score "
         "(survival)")) if k in kinds]
    metrics = ("; ".join(discrimination) + f"; calibration ({_calibration_text(cfg, kinds)}); "
               "decision curves.")
    put("CLEAR", [39], metrics, "config")
    put("CLEAR", [40], f"95% confidence intervals: DeLong for AUC, bootstrap "
        f"({cfg['bootstrap']['n']} resamples, seed {cfg['bootstrap']['seed']}) elsewhere.",
        "config")
    put("CLEAR", [41], "Paired comparisons of the fused model against each component "
        "(DeLong for AUC, paired bootstrap for C-index) with p-values: "
        "results/tables/comparisons.tsv.", "config")
    put("CLEAR", [42], "Clinical-only, radiomics-only, early-fusion and late-fusion models are "
        "evaluated on the same patients (results/tables/performance.tsv).", "config")
    put("CLEAR", [48], "See results/tables/performance.tsv and comparisons.tsv (component "
        "column).", "results/tables/performance.tsv")
    put("TRIPOD+AI", ["12e"], metrics, "config")
    if cfg["explain"]["enabled"]:
        put("CLEAR", [43], "Out-of-fold SHAP values (TreeSHAP, linear or permutation explainer; "
            f"background {cfg['explain']['background_size']} patients) of the "
            f"{', '.join(cfg['explain']['components'])} models; correlation matrices of the "
            "selected features.", "config")
    put("TRIPOD+AI", ["12g"], "Frozen training pipelines (imputation, scaling, selection, "
        "learner, fusion weights) applied unchanged to internal and external patients.", "config")
    updating = ("Not applicable: the models frozen on the training patients are applied "
                "unchanged to internal and external patients; nothing is updated or "
                "recalibrated on evaluation data.")
    if "survival" in kinds and "fast_svm" in mcfg["learners_survival"]:
        updating += (" Within training, FastSurvivalSVM scores get survival probabilities from "
                     "a one-covariate Cox recalibration with a Breslow baseline fitted on "
                     "training patients only.")
    put("TRIPOD+AI", ["12f"], updating, "config")
    put("TRIPOD+AI", ["24"], "Not applicable: no model updating.", "config")
    put("CLEAR", [36], f"Multivariable Cox models adjusted for "
        f"{', '.join(cfg['stratification']['adjust_for']) or 'nothing'}; subgroup analyses by "
        f"{', '.join(cfg['stratification']['subgroups'])}. Other confounders: " + AUTHORS,
        "config")
    put("TRIPOD+AI", ["23b"], "Hazard ratios of the risk groups within subgroups "
        f"({', '.join(cfg['stratification']['subgroups'])}) with interaction p: "
        "results/tables/stratification.tsv, paper Figure 6 and supplementary forest plots.",
        "results/tables/stratification.tsv")
    put("TRIPOD+AI", ["12d"], "Performance reported separately per centre (internal = "
        f"centre {split['development_center']}, external = centre {split['external_center']}).",
        "results/splits.tsv")
    put("TRIPOD+AI", ["15"], "Outputs: probability of response; survival risk score with "
        "survival probabilities at the horizons; risk groups by the training-median cut-off "
        "(frozen, in the model manifests).", "manifest.json")
    put("TRIPOD+AI", ["13"], "No resampling or re-weighting for class imbalance; the "
        f"training/internal split is {_stratification(cfg)}; cross-validation folds are "
        "stratified on the outcome (response) or the event indicator (survival, when there are "
        "enough censored patients)" + ("; AUC is insensitive to prevalence" if "binary" in kinds
                                       else "") + ". Recalibration: item 12f.", "config")
    put("CLEAR", [30], "No resampling or re-weighting; training/internal split "
        f"{_stratification(cfg)}.", "config")
    put("CLEAR", [44], "Table 1 (results/paper/table1.tsv, .md) per cohort, with the test of "
        "each variable.", "results/paper/table1.tsv")
    put("TRIPOD+AI", ["20b", "20c"], "Table 1 (results/paper/table1.tsv, .md): overall, per "
        "cohort and development vs external centre, with tests.", "results/paper/table1.tsv")
    put("TRIPOD+AI", ["16"], "Development and evaluation data compared in Table 1 (p-values "
        "development vs external) and in the acquisition parameters (CLEAR item 16).",
        "results/paper/table1.tsv")
    put("TRIPOD+AI", ["7"], "De-identification at ingest, per-patient QC (mask size, "
        "components, border contact, phase registration check), exclusions listed in "
        "results/qc/excluded.tsv.", "results/qc/imaging_qc.tsv")
    put("TRIPOD+AI", ["27a"], "Per-patient input errors stop the run or exclude the patient "
        f"(on_patient_error: {cfg['on_patient_error']}); missing predictors are median-imputed "
        "with the training medians at prediction time.", "config")
    if p.performance is not None:
        text = _performance_text(p.performance)
        put("CLEAR", [47], f"Fused model: {text}. All components and metrics: "
            "results/tables/performance.tsv.", "results/tables/performance.tsv")
        put("TRIPOD+AI", ["23a"], f"Fused model: {text}.", "results/tables/performance.tsv")
        n = p.performance.groupby(["recipe", "endpoint", "cohort"])[["n", "n_events"]].max()
        put("TRIPOD+AI", ["21"], "; ".join(
            f"{r} {e} {c}: n = {int(v.n)}, events = {int(v.n_events)}"
            for (r, e, c), v in n.iterrows()) + ".", "results/tables/performance.tsv")
    if p.calibration is not None:
        cal = p.calibration[p.calibration.component == "fusion"]
        rows = []
        for r in cal.itertuples(index=False):
            at = f" at {r.horizon:g} months" if "horizon" in cal and pd.notna(
                getattr(r, "horizon", None)) else ""
            rows.append(f"{r.recipe} {r.endpoint} {r.cohort}{at}: slope {r.slope:.2f}")
        put("TRIPOD+AI", ["12e"], metrics + " Calibration of the fused model: "
            + "; ".join(rows[:12]) + (" ..." if len(rows) > 12 else "") + ".",
            "calibration_summary.tsv")
    if p.manifests:
        versions = next(iter(p.manifests.values())).get("versions", {})
        files = ", ".join(sorted(str(Path(k).parent) for k in p.manifests))
        text = (f"Final models saved with skops and a manifest (feature lists, cut-offs, "
                f"sha256, versions {versions}): {files}. Apply them with `hccfusion predict`.")
        put("CLEAR", [57], text, "manifest.json")
        put("TRIPOD+AI", ["22"], text, "manifest.json")
    code = ("The workflow (Snakemake, hccfusion package), its config and parameter files "
            "reproduce every number; repository address: " + AUTHORS)
    put("CLEAR", [55], code, "config")
    put("CLEAR", [56], code, "config")
    put("TRIPOD+AI", ["18f"], code, "config")
    put("CLEAR", [54], "Feature tables: results/features/radiomics.tsv; sharing: " + AUTHORS,
        "results/features/radiomics.tsv")
    put("CLEAR", [12], "Technical pipeline: the Snakemake DAG (`snakemake --dag`) and "
        "DESIGN.md section 2.", "workflow")
    put("CLEAR", [9], "Sample size given by availability: " + (
        f"{len(p.splits)} patients." if p.splits is not None else AUTHORS), "results/splits.tsv")
    put("TRIPOD+AI", ["10"], "Study size given by availability: " + (
        f"{len(p.splits)} patients." if p.splits is not None else AUTHORS), "results/splits.tsv")
    endpoints = "; ".join(
        f"{name}: {e['type']} ({e.get('event')}" + (f", time {e['time']}" if "time" in e else "")
        + ")" for name, e in cfg["endpoints"].items())
    put("CLEAR", [18], f"Endpoints (clinical-table columns): {endpoints}. Assessment criteria "
        "and assessors: " + AUTHORS, "config")
    put("TRIPOD+AI", ["8a"], f"Endpoints: {endpoints}; horizons "
        f"{cfg['evaluation']['horizons_months']} months. How and when assessed: " + AUTHORS,
        "config")
    put("CLEAR", [17], "Clinical variables as typed in workflow/schemas/clinical.schema.yaml; "
        f"excluded from prediction: {', '.join(cfg['clinical_features']['exclude'])}.", "config")
    put("CLEAR", [53], AUTHORS)
    put("CLEAR", [58], "`hccfusion predict` applies the saved models to new patients' feature "
        "tables; not a certified clinical system.", "cli")
    put("TRIPOD+AI", ["14"], "Performance within subgroups (CLEAR 36, TRIPOD+AI 23b); no "
        "fairness-specific method. Further: " + AUTHORS, "config")
    items = []
    for number, section, text in CLEAR_ITEMS:
        t, src = filled.get(("CLEAR", str(number)), (AUTHORS, []))
        items.append(Item("CLEAR", str(number), section, text, t, src))
    for number, section, text in TRIPOD_AI_ITEMS:
        t, src = filled.get(("TRIPOD+AI", number), (AUTHORS, []))
        items.append(Item("TRIPOD+AI", number, section, text, t, src))
    return items


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(items: list[Item], protocol: pd.DataFrame | None = None) -> str:
    """The checklist as Markdown: one table per guideline, then the imaging protocol table."""
    lines = ["# Reporting checklist", "",
             "Generated by hccfusion.checklist from this run's provenance. CLEAR: Kocak B et al., "
             "Insights Imaging 2023;14:75. TRIPOD+AI: Collins GS et al., BMJ 2024;385:e078378. "
             f"Items filled from the run: {sum(i.filled for i in items)} of {len(items)}; the "
             "others read \"To be completed by the authors\".", ""]
    for guideline in ("CLEAR", "TRIPOD+AI"):
        part = [i for i in items if i.guideline == guideline]
        lines += [f"## {guideline}", "", "| No. | Section | Item | Reported (from the run) | "
                  "Source |", "|---|---|---|---|---|"]
        for i in part:
            lines.append(f"| {i.number} | {_cell(i.section)} | {_cell(i.item)} | "
                         f"{_cell(i.text)} | {_cell(', '.join(i.sources))} |")
        lines.append("")
    if protocol is not None and not protocol.empty:
        lines += ["## Imaging protocol (CLEAR item 16; from the DICOM headers)", "",
                  "| Parameter | " + " | ".join(map(_cell, protocol.columns)) + " |",
                  "|---|" + "---|" * protocol.shape[1]]
        for name, row in protocol.iterrows():
            lines.append(f"| {_cell(name)} | " + " | ".join(_cell(v) for v in row) + " |")
        lines.append("")
    return "\n".join(lines)
