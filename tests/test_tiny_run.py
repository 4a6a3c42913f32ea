"""config/tiny.yaml end to end: one run of the whole workflow (imaging, habitats, deep learning,
every recipe, omics, paper) shared by the tests of this file, which `--dist loadfile` keeps on
one xdist worker."""

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import yaml
from test_workflow import REPO, snakemake

from hccfusion.benchmarking import summarise


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_demo):
    """config/tiny.yaml end to end, once for the tests of the xdist group "tiny_run", with one
    broken scan excluded under on_patient_error=exclude. Returns (work, demo, sheet, bad row)."""
    work = tmp_path_factory.mktemp("tiny_run")
    # The fixture is the same cohort tiny.yaml generates (seed 1); the workflow takes it as done.
    demo = work / "resources" / "demo_tiny"
    shutil.copytree(tiny_demo, demo)
    sheet = pd.read_csv(demo / "patients.tsv", sep="\t")
    bad = sheet[sheet.center == "B"].iloc[2]
    mask_path = demo / bad.venous_mask
    mask = sitk.ReadImage(str(mask_path))
    sitk.WriteImage(mask * 0, str(mask_path))
    run = snakemake(work, "--cores", "2", "--configfile", str(REPO / "config" / "tiny.yaml"),
                    "--config", "on_patient_error=exclude")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return work, demo, sheet, bad


REPORT_CATEGORIES = ["Cohort", "Imaging QC", "Radiomics", "Models", "Survival", "Transcriptomics",
                     "Reproducibility"]


@pytest.mark.workflow
def test_tiny_report(tiny_run, tmp_path):
    """`snakemake --report` of the tiny run: one HTML file with every category and the benchmark
    summary; headless Chromium renders it to a screenshot that is not blank."""
    work = tiny_run[0]
    run = snakemake(work, "--configfile", str(REPO / "config" / "tiny.yaml"), "--config",
                    "on_patient_error=exclude", "--report", "results/report.html")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    html = (work / "results/report.html").read_text()
    assert len(html) > 500_000, len(html)  # figures are embedded
    for category in REPORT_CATEGORIES:
        assert category in html, category
    for caption in ("Kaplan-Meier curves", "ICC(3,1)", "peak resident memory", "SHAP values"):
        assert caption in html, caption
    bench = pd.read_csv(work / "results/tables/benchmarks.tsv", sep="\t").set_index("rule")
    assert {"ingest", "radiomics", "fit_recipe", "evaluate"} <= set(bench.index)
    assert bench.loc["ingest", "jobs"] == 2 * len(tiny_run[2])

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        message = "chromium is not installed (make sysdeps installs it as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    png = tmp_path / "report.png"
    shot = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000",
         "--window-size=1400,1000", f"--screenshot={png}", (work / "results/report.html").as_uri()],
        capture_output=True, text=True, timeout=180)
    assert png.exists(), shot.stdout + shot.stderr
    assert_not_blank(png)


def assert_not_blank(png: Path) -> None:
    """A rendered page, not an empty one: many distinct grey levels, text-like contrast, and a
    good share of the window not the background colour."""
    from matplotlib.image import imread

    image = imread(png)[..., :3]
    assert image.shape[:2] == (1000, 1400), image.shape
    grey = image.mean(axis=2)
    background = np.median(grey)
    drawn = np.abs(grey - background) > 0.05
    print(f"screenshot: std {grey.std():.4f}, drawn fraction {drawn.mean():.4f}, "
          f"grey levels {len(np.unique((grey * 255).round()))}")
    # The rendered report (navigation bar, text, workflow graph): std 0.24, 20 % drawn, 250 grey
    # levels; a one-heading test page: 0.12, 4 %; a blank page: 0, 0 %.
    assert grey.std() > 0.1
    assert drawn.mean() > 0.1
    assert len(np.unique((grey * 255).round())) > 32


@pytest.mark.workflow
def test_tiny_end_to_end(tiny_run):
    """config/tiny.yaml end to end, with one broken scan excluded under on_patient_error=exclude."""
    work, demo, sheet, bad = tiny_run
    excluded = pd.read_csv(work / "results/qc/excluded.tsv", sep="\t")
    assert list(excluded.patient_id) == [bad.patient_id]
    assert "venous" in excluded.reason[0] and "empty" in excluded.reason[0]
    included = sheet[sheet.patient_id != bad.patient_id]

    perf = pd.read_csv(work / "results/tables/performance.tsv", sep="\t")
    assert list(perf.columns) == ["recipe", "component", "endpoint", "cohort", "metric",
                                  "estimate", "ci_lower", "ci_upper", "n", "n_events"]
    assert set(perf.recipe) == {"PRIME-R", "PRIME-S", "GTR-ITH", "MMF"}
    assert set(perf.cohort) == {"train_cv", "internal", "external"}
    assert {"clinical", "radiomics", "early_fusion", "fusion"} <= set(perf.component)
    assert set(perf.endpoint) == {"response", "os", "pfs"}
    external = perf[perf.cohort == "external"]
    assert (external.n == (included.center == "B").sum()).all()
    finite = perf.dropna(subset=["estimate", "ci_lower"])
    assert ((finite.ci_lower <= finite.estimate + 1e-9)
            & (finite.estimate <= finite.ci_upper + 1e-9)).all()
    # Discrimination is in [0, 1]; Brier scores and the IBS are >= 0 (inverse-probability-of-
    # censoring weights above 1 can push an IPCW Brier score past 1 at a late horizon of a small
    # cohort: 1.09 at 36 months in 9 external patients here). Calibration slopes are unbounded.
    bounded = finite[finite.metric.str.match(r"(auc|cindex|cindex_uno|tdauc_)")]
    assert len(bounded) and bounded.estimate.between(0, 1).all()
    brier = finite[finite.metric.str.match(r"(ibs|brier)")]
    assert len(brier) and (brier.estimate >= 0).all()

    # Explanation: out-of-fold SHAP of each explained component, training patients only, each
    # once; local accuracy holds; figures of the algorithm comparison and the explanation.
    train_ids = set(pd.read_csv(work / "results/splits.tsv", sep="\t").query("cohort == 'train'")
                    .patient_id)
    for recipe, endpoint in (("PRIME-R", "response"), ("PRIME-S", "os"), ("PRIME-S", "pfs")):
        shap = pd.read_csv(work / f"results/models/{recipe}/{endpoint}/shap.tsv", sep="\t")
        assert set(shap.component) == {"clinical", "radiomics"}
        per = shap.groupby(["component", "patient"]).agg(
            s=("shap", "sum"), b=("base_value", "first"), p=("prediction", "first"))
        np.testing.assert_allclose(per.b + per.s, per.p, atol=1e-6)
        assert set(per.index.get_level_values("patient")) <= train_ids
        assert per.groupby("component").size().nunique() == 1
        figures = work / f"results/figures/{recipe}/{endpoint}"
        for name in ("evaluation/algorithms", "explain/shap_summary_radiomics",
                     "explain/shap_importance", "explain/correlation_clinical"):
            assert (figures / f"{name}.png").stat().st_size > 1000, name

    # The other seed systems: GTR-ITH's composite score, MMF's deep block and its comparators.
    comps = perf.groupby("recipe").component.agg(set)
    assert comps["GTR-ITH"] == {"radiomics", "habitats", "early_fusion", "fusion"}
    assert comps["MMF"] == {"deep", "clinical", "early_fusion", "fusion", "mRECIST", "CLIP"}
    cmp = pd.read_csv(work / "results/tables/comparisons.tsv", sep="\t")
    mmf = cmp[(cmp.recipe == "MMF") & (cmp.component == "fusion") & (cmp.cohort == "external")]
    assert set(mmf.reference) == comps["MMF"] - {"fusion"}
    assert mmf.p.between(0, 1).all() and (mmf.metric == "cindex").all()
    effects = pd.read_csv(work / "results/tables/score_effects.tsv", sep="\t")
    gtr = effects[(effects.recipe == "GTR-ITH") & (effects.outcome == "response")]
    assert set(gtr.cohort) == {"train", "internal", "external"}
    assert (gtr.measure == "odds_ratio").all() and (gtr.component == "fusion").all()
    train_or = gtr.set_index("cohort").loc["train"]
    assert train_or.estimate > 1 and train_or.ci_lower < train_or.estimate < train_or.ci_upper
    hrs = effects[(effects.recipe == "MMF") & (effects.measure == "hazard_ratio")]
    assert set(hrs.component) == {"mRECIST", "CLIP"} and hrs.estimate.dropna().gt(0).all()
    # The deep branch: every split patient scored, training patients out of fold, weights hashed.
    deep = pd.read_csv(work / "results/features/deep.tsv", sep="\t")
    assert set(deep.patient_id) == set(included.patient_id)
    assert list(deep.columns) == ["patient_id", "deep_risk_os", "deep_risk_pfs",
                                  "deep_logit_response"]
    assert deep.iloc[:, 1:].notna().all().all()
    folds = pd.read_csv(work / "results/deep/predictions.tsv", sep="\t",
                        dtype={"fold": str}).set_index("patient_id").fold
    assert set(folds[list(train_ids)]) == {"1", "2"}
    assert set(folds.drop(list(train_ids))) == {"full"}
    weights = work / "results/deep/model/weights.pt"
    sidecar = json.loads((work / "results/deep/model/weights.pt.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert len(list((work / "results/figures/deep/gradcam").glob("*.png"))) == 3
    assert len(pd.read_csv(work / "results/deep/radiomics_correlation.tsv", sep="\t")) > 0

    # Response is favourable: its risk groups put low probabilities in "high" (said in the table).
    strat = pd.read_csv(work / "results/tables/stratification.tsv", sep="\t")
    cut_notes = strat[strat.metric == "cutoff"].groupby("endpoint").note.agg(
        lambda n: set(n.fillna("")))
    assert cut_notes["response"] == {"high risk: score <= cutoff (favourable outcome probability)"}
    assert cut_notes["os"] == cut_notes["pfs"] == {""}

    features = pd.read_csv(work / "results/features/radiomics.tsv", sep="\t")
    assert list(features.patient_id) == sorted(included.patient_id)
    assert any(c.startswith("arterial_original_shape_") for c in features.columns)
    assert any(c.startswith("venous_wavelet-") for c in features.columns)
    split = pd.read_csv(work / "results/splits.tsv", sep="\t")
    assert set(split.patient_id) == set(included.patient_id)

    # QC: a picture per patient (the excluded one says why), the cohort table with the reason.
    assert len(list((work / "results/qc/overlays").glob("*.png"))) == len(sheet)
    qc = pd.read_csv(work / "results/qc/imaging_qc.tsv", sep="\t")
    assert len(qc) == 2 * len(sheet)
    assert set(qc.status[qc.patient_id == bad.patient_id]) == {"ok", "excluded"}

    # Robustness filter on training patients only; habitats for every included patient.
    robustness = pd.read_csv(work / "results/features/robustness.tsv", sep="\t")
    assert set(robustness.feature) == set(features.columns) - {"patient_id"}
    assert 0 < robustness.kept.sum() < len(robustness)
    n_train = (split.cohort == "train").sum()
    assert len(list((work / "results/features/perturbed").glob("*.tsv"))) == 2 * min(n_train, 10)
    habitats = pd.read_csv(work / "results/features/habitats.tsv", sep="\t")
    assert list(habitats.patient_id) == sorted(included.patient_id)
    assert habitats.filter(like="_fraction").sum(axis=1).round(6).eq(1).all()

    # The paper target: every figure of the config's set as PDF and PNG, Table 1 and the
    # checklist, none empty (tiny.yaml keeps the defaults, so the set is the default one).
    from hccfusion.paper import figure_stems, paper_spec

    stems = figure_stems(paper_spec(yaml.safe_load((REPO / "config/config.yaml").read_text()),
                                    omics=True))
    paper = work / "results/paper"
    expected = {f"{s}.{x}" for s in stems for x in ("pdf", "png")} | {"table1.tsv", "table1.md"}
    assert expected <= {p.name for p in paper.iterdir()}, expected - {p.name for p in
                                                                       paper.iterdir()}
    for name in expected:
        assert (paper / name).stat().st_size > (5000 if name.endswith(".png") else 200), name
    table1 = pd.read_csv(paper / "table1.tsv", sep="\t")
    tests = [c for c in table1.columns if c.startswith("test_")]
    assert tests and table1[tests].notna().any().all()
    assert table1[[f"p_{c[5:]}" for c in tests]].stack().between(0, 1).all()
    assert (work / "results/checklist.md").stat().st_size > 2000

    # Every job left a log and every per-patient job a benchmark.
    assert len(list((work / "logs/radiomics").glob("*.log"))) == 2 * len(sheet)
    assert len(list((work / "results/benchmarks/radiomics").glob("*.tsv"))) == 2 * len(sheet)
    bench = summarise(work / "results/benchmarks").set_index("rule")
    assert bench.loc["radiomics", "jobs"] == bench.loc["ingest", "jobs"] == 2 * len(sheet)
    assert (bench.max_rss_mb > 0).all() and (bench.total_s > 0).all()
    # Declared memory covers what every rule's jobs used (Snakemake does not enforce it locally).
    table = pd.read_csv(work / "results/tables/benchmarks.tsv", sep="\t").set_index("rule")
    assert table.declared_mem_mb.notna().sum() >= 25, table
    over = table[table.max_rss_mb >= table.declared_mem_mb]
    assert over.empty, over

    # The DICOM headers' identifying values never reach results/ or logs/ (gzip opened).
    # Names, ids, dates and institution are searched as they are; the UIDs of every slice
    # (study, series, frame of reference, SOP instance) by set lookup of every UID-like string.
    needles, uids = set(), set()
    for folder in (work / "resources/demo_tiny/images").glob("*/*"):
        for k, file in enumerate(sorted(folder.glob("*.dcm"))):
            ds = pydicom.dcmread(file, stop_before_pixels=True)
            uids.add(ds.SOPInstanceUID.encode())
            if k == 0:
                needles |= {str(ds.PatientName), ds.PatientID, ds.PatientBirthDate,
                            ds.InstitutionName, ds.AccessionNumber, str(ds.ReferringPhysicianName)}
                uids |= {u.encode() for u in (ds.StudyInstanceUID, ds.SeriesInstanceUID,
                                              ds.FrameOfReferenceUID)}
    needles = [n.encode() for n in needles if n]
    assert len(needles) > 4 * len(sheet) and len(uids) > 20 * len(sheet)
    uid_like = re.compile(rb"\d+(?:\.\d+){3,}")
    for folder in ("results", "logs"):
        for path in (work / folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if path.suffix == ".gz":
                    data = gzip.decompress(data)
                leaked = [n for n in needles if n in data]
                leaked += sorted(uids & set(uid_like.findall(data)))
                assert not leaked, (path, leaked[:3])

    # A second reader's masks for every patient: the ICC becomes inter-observer (no new
    # perturbations), and only the new jobs run.
    readers = work / "reader2"
    readers.mkdir()
    for phase in ("arterial", "venous"):
        paths = []
        for _, row in sheet.iterrows():
            mask = sitk.ReadImage(str(demo / row[f"{phase}_mask"]))
            path = readers / f"{row.patient_id}_{phase}.nii.gz"
            sitk.WriteImage(sitk.BinaryDilate(mask > 0, [1, 1, 1]), str(path))
            paths.append(str(path))
        sheet[f"{phase}_mask_reader2"] = paths
    sheet.to_csv(demo / "patients.tsv", sep="\t", index=False)
    before = {p: p.stat().st_mtime for p in (work / "results/features/perturbed").glob("*.tsv")}
    run = snakemake(work, "results/features/robustness.tsv", "--cores", "2", "--configfile",
                    str(REPO / "config" / "tiny.yaml"), "--config", "on_patient_error=exclude")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout + run.stderr, re.M))
    assert jobs["second_reader"] == str(2 * n_train) and "perturb" not in jobs
    assert len(list((work / "results/features/readers").glob("*.tsv"))) == 2 * n_train
    assert {p: p.stat().st_mtime for p in before} == before
    inter = pd.read_csv(work / "results/features/robustness.tsv", sep="\t").set_index("feature")
    assert 0 < inter.kept.sum() < len(inter)
    # Small tumours drawn 1 voxel wider: volume agrees between readers, though not perfectly.
    assert 0.5 < inter.loc["arterial_original_shape_VoxelVolume", "icc"] < 1
    assert not inter.icc.equals(robustness.set_index("feature").icc)


@pytest.mark.workflow
def test_tiny_omics(tiny_run):
    """The transcriptomic branch of the tiny run: the matched patients are imaged and scored by
    the frozen models, and every comparison with two groups of 2+ samples has its tables."""
    work, demo = tiny_run[0], tiny_run[1]
    matched = pd.read_csv(demo / "expression" / "samples.tsv", sep="\t")
    pred = pd.read_csv(work / "results/omics/predictions.tsv", sep="\t")
    assert set(pred.patient_id) == set(matched.patient_id)
    groups = pd.read_csv(work / "results/omics/groups.tsv", sep="\t")
    assert len(groups) == 3 * len(matched) and set(groups.component) == {"fusion"}
    # Groups are the frozen models' risk groups (training cut-offs), oriented per endpoint.
    fusion = pred[pred.component == "fusion"].set_index(["recipe", "endpoint", "patient_id"])
    for row in groups.itertuples():
        assert fusion.loc[(row.recipe, row.endpoint, row.patient_id), "risk_group"] == \
            row.risk_group
        worse = row.risk_group == ("low" if row.endpoint == "response" else "high")
        assert row.first == worse
    n_genes = sum(1 for _ in open(demo / "expression" / "counts.tsv")) - 1
    testable = groups.groupby(["recipe", "endpoint"])["first"].agg(
        lambda f: min(f.sum(), (~f).sum()) >= 2)
    gsea = pd.read_csv(work / "results/tables/gsea.tsv", sep="\t")
    assert list(gsea.columns[:7]) == ["recipe", "endpoint", "term", "nes", "pval", "fdr",
                                      "leading_edge"]
    for (recipe, endpoint), ok in testable.items():
        de = pd.read_csv(work / f"results/tables/de_{recipe}.tsv", sep="\t")
        rows = de[de.endpoint == endpoint]
        assert len(rows) == (n_genes if ok else 0), (recipe, endpoint)
        if ok:
            assert set(rows.method) == {"deseq2_wald"}
            part = gsea[(gsea.recipe == recipe) & (gsea.endpoint == endpoint)]
            assert len(part) == 50 and part.geneset_version.str.startswith("h.all.v7.0").all()
            assert (work / f"results/figures/omics/{recipe}/de/volcano_{endpoint}.png").exists()
    scores = pd.read_csv(work / "results/tables/immune_scores.tsv", sep="\t")
    assert len(scores) == 28 * len(matched) and scores.normalisation.nunique() == 1
    immune = pd.read_csv(work / "results/tables/immune.tsv", sep="\t")
    assert len(immune) == 28 * int(testable.sum())
    assert (work / "results/figures/omics/gsea_endpoints.png").exists()
