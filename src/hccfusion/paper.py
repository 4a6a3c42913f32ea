"""The paper's figure set (seed 001, Figures 3-7 and the supplementary calibration, decision-curve
and subgroup panels), composed from the tables the workflow already wrote: nothing is refitted.

Seed 001: Lu D, Sun P, Li H, et al. J Hepatocell Carcinoma 2026;13:613014. Each panel is its own
file, named ``figure<N><panel>_<what>`` (``figureS_<what>`` for supplementary panels), written as
vector PDF and 300-dpi PNG in the house style of :mod:`hccfusion.figures.style`, with the panel
letter in its top-left corner. :func:`figure_stems` lists the files a configuration produces, so
the workflow can declare them before anything has run; :func:`build_paper` draws them.

Panels and their sources (``results/models/<recipe>/<endpoint>/``):

* Figure 3: Spearman correlation of the response model's selected clinical and radiomics
  features on the training patients (raw values; ``selected_features.tsv``).
* Figure 4 (response recipe): A selected features by outcome (training), B algorithm comparison
  (``algorithms.tsv``), C ROC per cohort (``predictions.tsv``), D.. SHAP summaries (``shap.tsv``).
* Figure 5 (survival recipe): A SHAP importance, B algorithm comparison, C C-index per component
  and cohort (``performance.tsv``), D time-dependent AUC and Brier score, E selected features by
  training risk group, F.. SHAP summaries.
* Figure 6: Kaplan-Meier by risk group per cohort (A-C) and within the first configured subgroup
  (D, treatment regimen); the other subgroups are supplementary.
* Figure 7 (when the transcriptomic branch ran): volcano plots, comparative GSEA, leading-edge
  heatmap (the branch's own figure, copied), over-representation, immune infiltration.
* Supplementary: calibration and decision curves of both recipes, subgroup forest plots.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.figures.style import figure_style, placeholder, save

__all__ = ["COHORT_TITLES", "PaperSpec", "build_paper", "figure_stems", "paper_spec"]

COHORT_TITLES = {"train_cv": "Training (out of fold)", "internal": "Internal validation",
                 "external": "External validation"}
_KM_COHORTS = (("A", "train_cv"), ("B", "internal"), ("C", "external"))
_FOREST_COHORTS = ("internal", "external")


@dataclass(frozen=True)
class PaperSpec:
    """What the paper shows: the response and survival recipe x endpoint (either may be None),
    the SHAP components, the subgroups, whether the transcriptomic branch ran."""

    response: tuple[str, str] | None
    survival: tuple[str, str] | None
    shap_components: tuple[str, ...] = ()
    subgroups: tuple[str, ...] = ()
    omics: bool = False
    horizon: float = 12.0
    extra: Mapping = field(default_factory=dict)


def _pick(config: Mapping, kind: str, given: str | None) -> tuple[str, str] | None:
    """``recipe/endpoint`` from the config's paper section, else the first of that kind."""
    if given:
        recipe, _, endpoint = given.partition("/")
        if recipe not in config["recipes"] or endpoint not in config["recipes"][recipe][
                "endpoints"]:
            raise ValueError(f"paper: '{given}' is not a recipe/endpoint of the config")
        return recipe, endpoint
    for recipe, spec in config["recipes"].items():
        for endpoint in spec["endpoints"]:
            if config["endpoints"][endpoint]["type"] == kind:
                return recipe, endpoint
    return None


def paper_spec(config: Mapping, omics: bool) -> PaperSpec:
    """The :class:`PaperSpec` of a validated workflow config (``omics``: the branch is on)."""
    pcfg = config.get("paper", {})
    horizons = config["evaluation"]["horizons_months"]
    explain = config["explain"]
    return PaperSpec(
        response=_pick(config, "binary", pcfg.get("response")),
        survival=_pick(config, "survival", pcfg.get("survival")),
        shap_components=tuple(explain["components"]) if explain["enabled"] else (),
        subgroups=tuple(config["stratification"]["subgroups"]),
        omics=omics,
        horizon=12.0 if 12 in horizons else float(horizons[0]),
    )


def figure_stems(spec: PaperSpec) -> list[str]:
    """File names (without suffix) of every panel ``spec`` produces, in figure order."""
    stems: list[str] = []
    letters = "ABCDEFGHIJ"
    if spec.response:
        r, e = spec.response
        stems += ["figure3_correlation", "figure4A_selected_features", "figure4B_algorithms",
                  "figure4C_roc"]
        stems += [f"figure4{letters[3 + i]}_shap_{c}" for i, c in enumerate(spec.shap_components)]
    if spec.survival:
        if spec.shap_components:
            stems.append("figure5A_shap_importance")
        stems += ["figure5B_algorithms", "figure5C_cindex", "figure5D_timedep",
                  "figure5E_risk_features"]
        stems += [f"figure5{letters[5 + i]}_shap_{c}" for i, c in enumerate(spec.shap_components)]
        stems += [f"figure6{letter}_km_{cohort}" for letter, cohort in _KM_COHORTS]
        if spec.subgroups:
            stems.append(f"figure6D_km_{spec.subgroups[0]}")
            stems += [f"figureS_km_{s}" for s in spec.subgroups[1:]]
    if spec.omics:
        if spec.response:
            stems.append(f"figure7A_volcano_{spec.response[1]}")
        if spec.survival:
            stems.append(f"figure7B_volcano_{spec.survival[1]}")
        stems += ["figure7C_gsea", "figure7D_leading_edge"]
        stems += [f"figure7E_ora_{e}" for _, e in filter(None, (spec.response, spec.survival))]
        stems += [f"figure7F_immune_{e}" for _, e in filter(None, (spec.response, spec.survival))]
    for recipe_endpoint in filter(None, (spec.response, spec.survival)):
        r, e = recipe_endpoint
        stems += [f"figureS_calibration_{r}_{e}", f"figureS_dca_{r}_{e}"]
    if spec.survival:
        r, e = spec.survival
        stems += [f"figureS_forest_{r}_{e}_{c}" for c in _FOREST_COHORTS]
    return stems


# --- helpers ---------------------------------------------------------------------------------


def _letter(stem: str) -> str:
    """Panel letter of a stem (``figure4C_roc`` -> ``C``); empty for single-panel figures."""
    head = stem.split("_", 1)[0]
    return head[-1] if head[-1].isalpha() and head[-2].isdigit() else ""


def _save(fig, out: Path, stem: str) -> list[Path]:
    letter = _letter(stem)
    if letter:
        fig.text(0.005, 0.995, letter, fontsize=12, fontweight="bold", ha="left", va="top")
    return save(fig, out / stem)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as they are; two-level text columns as 0/1 codes; others dropped."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values):
            out[col] = values.astype(float)
        elif values.dropna().nunique() == 2:
            levels = sorted(values.dropna().unique(), key=str)
            out[f"{col}={levels[1]}"] = values.map({levels[0]: 0.0, levels[1]: 1.0})
    return pd.DataFrame(out, index=frame.index)


def _selected_matrix(selected: pd.DataFrame, components, clinical: pd.DataFrame,
                     radiomics: pd.DataFrame, patients) -> pd.DataFrame:
    """Raw values of the features selected by ``components`` for ``patients``."""
    rows = selected[selected.component.isin(components)].drop_duplicates(["block", "feature"])
    parts = []
    for block, source in (("clinical", clinical), ("radiomics", radiomics)):
        names = [f for f in rows.feature[rows.block == block] if f in source.columns]
        if names:
            parts.append(_numeric(source.loc[list(patients), names]))
    if not parts:
        return pd.DataFrame(index=list(patients))
    return pd.concat(parts, axis=1)


def _shap_summaries(values: pd.DataFrame, components, stems, out, title) -> list[Path]:
    from hccfusion.figures.shap import plot_shap_summary

    files = []
    for stem, component in zip(stems, components, strict=True):
        v = values[values.component == component]
        v = v.assign(feature=v.feature.str.replace(f"^{component}__", "", regex=True))
        with figure_style():
            files += _save(plot_shap_summary(v, title=f"{title}: {component}"), out, stem)
    return files


# --- figures ---------------------------------------------------------------------------------


def _figure3_4(spec, models, out, clinical, radiomics, split, config, outcome) -> list[Path]:
    from hccfusion.explain import feature_correlation
    from hccfusion.figures.algorithms import plot_algorithm_comparison
    from hccfusion.figures.correlation import plot_correlation
    from hccfusion.figures.features import plot_feature_heatmap
    from hccfusion.figures.roc import plot_roc

    r, e = spec.response
    d = models / r / e
    title = f"{r} {e}"
    files = []
    train = split.index[split == "train"]
    selected = _read(d / "selected_features.tsv")
    X = _selected_matrix(selected, ["clinical", "radiomics"], clinical, radiomics, train)
    with figure_style():
        if X.shape[1] >= 2:
            fig = plot_correlation(feature_correlation(X), title=f"{title}: selected features")
        else:
            fig = placeholder(f"{title}: fewer than two selected features")
        files += _save(fig, out, "figure3_correlation")
        y = outcome.reindex(train).map({1: "responder", 0: "non-responder"})
        fig = (plot_feature_heatmap(X, y, order=["non-responder", "responder"],
                                    colours={"non-responder": "#D55E00",
                                             "responder": "#0072B2"},
                                    title=f"{title}: selected features (training)")
               if X.shape[1] else placeholder("no selected features"))
        files += _save(fig, out, "figure4A_selected_features")
    algorithms = _read(d / "algorithms.tsv")
    files += _save(plot_algorithm_comparison(algorithms, title=title), out, "figure4B_algorithms")
    predictions = _read(d / "predictions.tsv")
    roc = predictions.assign(outcome=outcome.reindex(predictions.patient_id).to_numpy())
    roc["cohort"] = roc.cohort.map(COHORT_TITLES).fillna(roc.cohort)
    files += _save(plot_roc(roc, title=title), out, "figure4C_roc")
    if spec.shap_components:
        stems = _shap_stems(spec, "figure4")
        files += _shap_summaries(_read(d / "shap.tsv"), spec.shap_components, stems, out, title)
    return files


def _shap_stems(spec: PaperSpec, figure: str) -> list[str]:
    ends = tuple(f"_shap_{c}" for c in spec.shap_components)
    return [s for s in figure_stems(spec) if s.startswith(figure) and s.endswith(ends)]


def _figure5(spec, models, out, clinical, radiomics, split, config) -> list[Path]:
    from hccfusion.figures.algorithms import plot_algorithm_comparison
    from hccfusion.figures.features import plot_feature_heatmap
    from hccfusion.figures.performance import plot_metric_comparison
    from hccfusion.figures.shap import plot_shap_importance
    from hccfusion.figures.timedep import plot_time_dependent
    from hccfusion.stratify import higher_is_worse, risk_groups

    r, e = spec.survival
    d = models / r / e
    title = f"{r} {e}"
    files = []
    if spec.shap_components:
        import matplotlib.pyplot as plt

        values = _read(d / "shap.tsv")
        with figure_style():
            fig, axes = plt.subplots(1, len(spec.shap_components), squeeze=False,
                                     figsize=(4.2 * len(spec.shap_components), 3.6))
            for ax, c in zip(axes[0], spec.shap_components, strict=True):
                v = values[values.component == c]
                v = v.assign(feature=v.feature.str.replace(f"^{c}__", "", regex=True))
                plot_shap_importance(v, max_display=10, title=f"{title}: {c}", ax=ax)
            fig.tight_layout()
            files += _save(fig, out, "figure5A_shap_importance")
    files += _save(plot_algorithm_comparison(_read(d / "algorithms.tsv"), title=title), out,
                   "figure5B_algorithms")
    perf = _read(d / "performance.tsv")
    with figure_style():
        files += _save(plot_metric_comparison(perf, "cindex", title=title), out,
                       "figure5C_cindex")
    td = {}
    for kind in ("tdauc", "brier"):
        rows = perf[perf.metric.str.match(rf"{kind}_[0-9.]+m$")].copy()
        rows["horizon"] = rows.metric.str.extract(r"_([0-9.]+)m$")[0].astype(float)
        td[kind] = rows
    files += _save(plot_time_dependent(td["tdauc"], td["brier"], panel="cohort", title=title),
                   out, "figure5D_timedep")
    predictions = _read(d / "predictions.tsv")
    cutoffs = _read(d / "cutoffs.tsv").set_index("component")
    # Patients a model could not score are left out, as in Figure 6 and the stratify step.
    fused = predictions[(predictions.cohort == "train_cv") & (predictions.component == "fusion")
                        & predictions.score.notna()]
    train = split.index[split == "train"]
    selected = _read(d / "selected_features.tsv")
    X = _selected_matrix(selected, ["clinical", "radiomics"], clinical, radiomics, train)
    with figure_style():
        if len(fused) and X.shape[1]:
            groups = pd.Series(risk_groups(fused.score.to_numpy(),
                                           float(cutoffs.loc["fusion", "cutoff_train_cv"]),
                                           higher_is_worse=higher_is_worse(
                                               config["endpoints"][e])),
                               index=fused.patient_id.to_numpy())
            fig = plot_feature_heatmap(X, groups, order=["low", "high"],
                                       title=f"{title}: selected features by risk group "
                                             "(training, out of fold)")
        else:
            fig = placeholder("no fused training predictions or no selected features")
        files += _save(fig, out, "figure5E_risk_features")
    if spec.shap_components:
        stems = _shap_stems(spec, "figure5")
        files += _shap_summaries(_read(d / "shap.tsv"), spec.shap_components, stems, out, title)
    return files


def _figure6(spec, models, out, clinical, split, config) -> list[Path]:
    from hccfusion.figures.km import km_figure
    from hccfusion.figures.km_grid import km_grid_figure
    from hccfusion.stratify import higher_is_worse, risk_groups, subgroups_from_config
    from hccfusion.timeunits import to_months

    r, e = spec.survival
    d = models / r / e
    endpoint = config["endpoints"][e]
    predictions = _read(d / "predictions.tsv")
    predictions = predictions[(predictions.component == "fusion") & predictions.score.notna()]
    cutoffs = _read(d / "cutoffs.tsv").set_index("component")
    worse = higher_is_worse(endpoint)
    frames = []
    for cohort, part in predictions.groupby("cohort", sort=False):
        column = "cutoff_train_cv" if cohort == "train_cv" else "cutoff"
        cl = clinical.loc[part.patient_id]
        frames.append(pd.DataFrame({
            "patient_id": part.patient_id.to_numpy(), "cohort": COHORT_TITLES.get(cohort, cohort),
            "time": to_months(cl[endpoint["time"]].astype(float),
                              config["evaluation"]["time_unit"]).to_numpy(),
            "event": cl[endpoint["event"]].to_numpy(),
            "group": risk_groups(part.score.to_numpy(), float(cutoffs.loc["fusion", column]),
                                 higher_is_worse=worse)}))
    data = pd.concat(frames, ignore_index=True)
    files = []
    for letter, cohort in _KM_COHORTS:
        part = data[data.cohort == COHORT_TITLES[cohort]]
        fig = km_figure(part.time, part.event, part.group, title=f"{r} {e}: {COHORT_TITLES[cohort]}",
                        xlabel="Months")
        files += _save(fig, out, f"figure6{letter}_km_{cohort}")
    subgroups, _ = subgroups_from_config(
        {k: v for k, v in config["stratification"]["subgroups"].items() if k in spec.subgroups},
        clinical, split.index[split == "train"])
    for i, name in enumerate(spec.subgroups):
        stem = f"figure6D_km_{name}" if i == 0 else f"figureS_km_{name}"
        with figure_style():
            if name in subgroups:
                level, order = subgroups[name].levels(clinical)
                frame = data.assign(level=level.reindex(data.patient_id).to_numpy())
                fig = km_grid_figure(frame, row="level", col="cohort", levels=order,
                                     title=f"{r} {e}: risk groups by {name}")
            else:
                fig = placeholder(f"subgroup '{name}': its column is not in the clinical table")
            files += _save(fig, out, stem)
    return files


def _figure7(spec, results, out, config) -> list[Path]:
    from hccfusion.figures.enrichment import endpoint_comparison_figure, ora_figure
    from hccfusion.figures.immune import immune_boxplot
    from hccfusion.figures.volcano import volcano_figure

    tables = results / "tables"
    ocfg = config["omics"]
    files = []
    pairs = [(letter, re) for letter, re in (("A", spec.response), ("B", spec.survival)) if re]
    for letter, (r, e) in pairs:
        de_path = tables / f"de_{r}.tsv"
        de = _read(de_path) if de_path.exists() else pd.DataFrame()
        de = de[de.endpoint == e] if len(de) else de
        stem = f"figure7{letter}_volcano_{e}"
        if len(de):
            fig = volcano_figure(de, title=f"{r} {e}", first=de.first_group.iloc[0],
                                 second=de.second_group.iloc[0], padj=ocfg["de"]["padj"],
                                 lfc=ocfg["de"]["lfc"])
        else:
            with figure_style():
                fig = placeholder(f"{r} {e}: no differential expression")
        with figure_style():
            files += _save(fig, out, stem)
    gsea = _read(tables / "gsea.tsv")
    collection = ocfg["gsea"]["collections"][0]
    keep = [f"{r} {e}" for _, (r, e) in pairs]
    main = gsea[gsea.collection == collection].assign(label=lambda g: g.recipe + " " + g.endpoint)
    main = main[main.label.isin(keep)]
    fig = endpoint_comparison_figure(main, fdr=ocfg["gsea"]["fdr"],
                                     title=f"GSEA ({collection}) by endpoint")
    with figure_style():
        files += _save(fig, out, "figure7C_gsea")
    files += _copy_leading_edge(spec, results, out)
    ora = _read(tables / "ora.tsv")
    for _, (r, e) in pairs:
        part = ora[(ora.recipe == r) & (ora.endpoint == e)]
        if len(part):
            part = part[part.collection == part.collection.iloc[0]].sort_values("pval")
        fig = ora_figure(part, title=f"{r} {e}: over-representation")
        with figure_style():
            files += _save(fig, out, f"figure7E_ora_{e}")
    scores = _read(tables / "immune_scores.tsv")
    immune = _read(tables / "immune.tsv")
    groups = pd.read_csv(results / "omics" / "groups.tsv", sep="\t", dtype={"sample_id": str})
    for _, (r, e) in pairs:
        g = groups[(groups.recipe == r) & (groups.endpoint == e)]
        comparison = immune[(immune.recipe == r) & (immune.endpoint == e)]
        stem = f"figure7F_immune_{e}"
        if len(g) and len(comparison):
            first = g.set_index("sample_id")["first"].astype(bool)
            fig = immune_boxplot(scores, first, comparison,
                                 first_label=g.group[g["first"]].iloc[0],
                                 second_label=g.group[~g["first"]].iloc[0], title=f"{r} {e}")
        else:
            with figure_style():
                fig = placeholder(f"{r} {e}: no immune comparison")
        with figure_style():
            files += _save(fig, out, stem)
    return files


def _copy_leading_edge(spec, results, out) -> list[Path]:
    """The branch's leading-edge heatmap (it needs the expression matrix): copied, not redrawn."""
    r, e = spec.response or spec.survival
    src = results / "figures" / "omics" / r / "enrichment" / f"leading_edge_{e}"
    files = []
    for suffix in (".pdf", ".png"):
        target = out / f"figure7D_leading_edge{suffix}"
        if src.with_suffix(suffix).exists():
            shutil.copyfile(src.with_suffix(suffix), target)
        else:
            with figure_style():
                save(placeholder(f"{r} {e}: no enriched set with a leading edge"), target)
        files.append(target)
    return files


def _supplementary(spec, models, out, config) -> list[Path]:
    from hccfusion.figures import calibration as calfig
    from hccfusion.figures.decision import plot_decision_curve
    from hccfusion.figures.km import forest_figure

    files = []
    h = spec.horizon
    for kind, recipe_endpoint in (("binary", spec.response), ("survival", spec.survival)):
        if not recipe_endpoint:
            continue
        r, e = recipe_endpoint
        d = models / r / e
        title = f"{r} {e}"
        curve = _read(d / "calibration.tsv")
        summary = _read(d / "calibration_summary.tsv")
        dca = _read(d / "decision_curve.tsv")
        if kind == "binary":
            fig = calfig.plot_binary_calibration(curve, hue="component", panel="cohort",
                                                 summary=summary, title=title)
            dfig = plot_decision_curve(dca, panel="cohort", title=title)
        else:
            at = np.isclose(curve.horizon, h)
            fig = calfig.plot_survival_calibration(
                curve[at], horizon=h, hue="component", panel="cohort",
                summary=summary[np.isclose(summary.horizon, h)], title=title)
            dfig = plot_decision_curve(dca[np.isclose(dca.horizon, h)], panel="cohort",
                                       title=f"{title}, {h:g} months")
        files += _save(fig, out, f"figureS_calibration_{r}_{e}")
        files += _save(dfig, out, f"figureS_dca_{r}_{e}")
    if spec.survival:
        r, e = spec.survival
        table = _read(models / r / e / "stratification.tsv")
        for cohort in _FOREST_COHORTS:
            part = table[(table.component == "fusion") & (table.cohort == cohort)]
            if (part.analysis == "subgroup").any():
                fig = forest_figure(part, title=f"{r} {e}: {COHORT_TITLES[cohort]}")
            else:
                with figure_style():
                    fig = placeholder(f"{r} {e} {cohort}: no subgroup rows")
            files += _save(fig, out, f"figureS_forest_{r}_{e}_{cohort}")
    return files


def build_paper(spec: PaperSpec, results: str | Path, out: str | Path, config: Mapping,
                clinical: pd.DataFrame, radiomics: pd.DataFrame,
                split: pd.Series) -> list[Path]:
    """Draw every panel of :func:`figure_stems` into ``out``; returns the files written.

    ``results`` is the workflow's results folder (``models/``, ``tables/``, ``omics/``,
    ``figures/omics/``); ``clinical`` and ``radiomics`` are indexed by patient, ``split`` maps
    patients to ``train``/``internal``/``external``.
    """
    results, out = Path(results), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = results / "models"
    files: list[Path] = []
    if spec.response:
        event = config["endpoints"][spec.response[1]]["event"]
        files += _figure3_4(spec, models, out, clinical, radiomics, split, config,
                            clinical[event])
    if spec.survival:
        files += _figure5(spec, models, out, clinical, radiomics, split, config)
        files += _figure6(spec, models, out, clinical, split, config)
    if spec.omics:
        files += _figure7(spec, results, out, config)
    files += _supplementary(spec, models, out, config)
    return files
