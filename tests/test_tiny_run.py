"""config/tiny.yaml end to end: one run of the whole workflow (imaging, habitats, deep learning,
every recipe, omics, paper) with two bad patients excluded, shared by the tests of this file
(which `--dist loadfile` keeps on one xdist worker), and a second run without those patients
that must give the same outputs."""

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import yaml
from test_workflow import REPO, snakemake

from hccfusion.benchmarking import summarise


def _break_two_patients(demo: Path) -> list[str]:
    """Two bad patients in a copy of the tiny demo: one with an empty venous mask, one whose
    arterial scan is missing (an empty sheet cell). Returns their ids."""
    sheet = pd.read_csv(demo / "patients.tsv", sep="\t", dtype=str, keep_default_na=False)
    empty = sheet[sheet.center == "B"].iloc[2]
    mask = sitk.ReadImage(str(demo / empty.venous_mask))
    sitk.WriteImage(mask * 0, str(demo / empty.venous_mask))
    missing = sheet.index[sheet.center == "A"][5]
    sheet.loc[missing, "arterial_image"] = ""
    sheet.to_csv(demo / "patients.tsv", sep="\t", index=False)
    return [empty.patient_id, sheet.patient_id[missing]]


def _run_tiny(work: Path, tiny_demo: Path, change) -> Path:
    """config/tiny.yaml end to end under on_patient_error=exclude in ``work``, on a copy of the
    tiny demo changed by ``change``; returns the demo folder."""
    # The fixture is the same cohort tiny.yaml generates (seed 1); the workflow takes it as done.
    demo = work / "resources" / "demo_tiny"
    shutil.copytree(tiny_demo, demo)
    change(demo)
    run = snakemake(work, "--cores", "2", "--configfile", str(REPO / "config" / "tiny.yaml"),
                    "--config", "on_patient_error=exclude")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return demo


# Outputs that differ between two runs by nature: wall times and memory; the QC tables and the
# checklist, which list and count the excluded patients.
_VARYING = ("results/benchmarks/", "results/tables/benchmarks.tsv", "results/qc/",
            "results/checklist.md", "results/report.html")


def _outputs(work: Path) -> dict[str, bytes]:
    """Every file of the run's results/ but the varying ones, by path, as bytes."""
    return {rel: p.read_bytes() for p in sorted((work / "results").rglob("*")) if p.is_file()
            and not (rel := str(p.relative_to(work))).startswith(_VARYING)}


def _same_values(name: str, a: bytes, b: bytes) -> bool:
    """Whether two versions of an output hold the same numbers. Tables and figures must be equal
    byte for byte; three kinds of file hold the same values in bytes that vary: skops models
    (scikit-learn's tree node records carry uninitialised padding bytes), PyTorch weights
    (torch.save writes a random serialization id; their metadata records the training time) and
    the JSON records that hash them (and time the training)."""
    if a == b:
        return True
    if name.endswith(".skops"):
        za, zb = (zipfile.ZipFile(io.BytesIO(x)) for x in (a, b))
        return za.namelist() == zb.namelist() and all(
            (x := za.read(m)) == (y := zb.read(m)) or (m.endswith(".npy") and _same_array(x, y))
            for m in za.namelist())
    if name.endswith(".pt"):
        import torch

        def same(x, y):
            if isinstance(x, torch.Tensor):
                return isinstance(y, torch.Tensor) and torch.equal(x, y)
            if isinstance(x, dict):
                return isinstance(y, dict) and x.keys() == y.keys() and all(
                    same(x[k], y[k]) for k in x)
            if isinstance(x, list | tuple):
                return type(x) is type(y) and len(x) == len(y) and all(map(same, x, y))
            return x == y

        sa, sb = (torch.load(io.BytesIO(x), weights_only=True) for x in (a, b))
        for saved in (sa, sb):
            saved["meta"] = _untimed(json.loads(saved["meta"]))
        return same(sa, sb)
    if name.endswith(".json"):
        return _untimed(json.loads(a)) == _untimed(json.loads(b))
    return False


def _same_array(a: bytes, b: bytes) -> bool:
    """Two .npy files with equal values (field by field for record arrays)."""
    x, y = (np.load(io.BytesIO(v), allow_pickle=False) for v in (a, b))
    if x.dtype != y.dtype:
        return False
    pairs = [(x[f], y[f]) for f in x.dtype.names] if x.dtype.names else [(x, y)]
    return all(np.array_equal(u, v, equal_nan=True) for u, v in pairs)


def _untimed(value):
    """A JSON value without its file hashes and timings."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in ("sha256", "seconds")}
    return [_untimed(v) for v in value] if isinstance(value, list) else value


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_demo):
    """config/tiny.yaml end to end, once for the tests of this file, with two bad patients
    (an empty mask, a missing scan) excluded under on_patient_error=exclude. Returns (work,
    demo, sheet with every patient, the bad patients' ids, the run's outputs as first written)."""
    work = tmp_path_factory.mktemp("tiny_run")
    bad = []
    demo = _run_tiny(work, tiny_demo, lambda d: bad.extend(_break_two_patients(d)))
    sheet = pd.read_csv(demo / "patients.tsv", sep="\t")
    return work, demo, sheet, bad, _outputs(work)


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


def _contents(data: bytes, depth: int = 0):
    """``data`` and whatever it holds: gzip opened, every member of a zip (NumPy .npz, PyTorch
    .pt, skops models), every base64 data URI of an HTML page (the report embeds its files)."""
    yield data
    if depth > 3:
        return
    inner = []
    if data[:2] == b"\x1f\x8b":
        inner.append(gzip.decompress(data))
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inner += [archive.read(name) for name in archive.namelist()]
    for blob in re.findall(rb"data:[\w/+.-]+(?:;[^;,\s\"']+)*;base64,([A-Za-z0-9+/=]+)", data):
        inner.append(base64.b64decode(blob))
    for item in inner:
        yield from _contents(item, depth + 1)


@pytest.mark.workflow
def test_tiny_privacy(tiny_run):
    """The DICOM headers' identifying values of every input series never reach results/, logs/
    or the report, opened down to what they contain (gzip, zip members, embedded files).
    Names, ids, dates and institution are searched as they are; the UIDs of every slice (study,
    series, frame of reference, SOP instance) by set lookup of every UID-like string."""
    work, demo, sheet = tiny_run[:3]
    report = work / "results/report.html"
    if not report.exists():  # test_tiny_report writes it; this test may run alone
        run = snakemake(work, "--configfile", str(REPO / "config" / "tiny.yaml"), "--config",
                        "on_patient_error=exclude", "--report", str(report))
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    needles, uids = set(), set()
    for folder in (demo / "images").glob("*/*"):
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
    files = [p for folder in ("results", "logs") for p in (work / folder).rglob("*") if p.is_file()]
    assert report in files
    opened = {"gzip": 0, "zip": 0, "embedded": 0}
    for path in files:
        for k, data in enumerate(_contents(path.read_bytes())):
            if k:
                opened["embedded" if path == report else "zip" if path.suffix in (
                    ".npz", ".pt", ".skops") else "gzip"] += 1
            leaked = [n for n in needles if n in data]
            leaked += sorted(uids & set(uid_like.findall(data)))
            assert not leaked, (path, leaked[:3])
    # The scan did open what it claims to: NIfTI images, model and crop archives, the report's
    # embedded tables and figures.
    print(f"privacy scan: {len(files)} files, opened {opened}")
    assert opened["gzip"] > len(sheet) and opened["zip"] > 10 and opened["embedded"] > 100, opened


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
    """config/tiny.yaml end to end, with two bad patients excluded under on_patient_error=exclude."""
    work, demo, sheet, bad = tiny_run[:4]
    excluded = pd.read_csv(work / "results/qc/excluded.tsv", sep="\t").set_index("patient_id")
    assert sorted(excluded.index) == sorted(bad)
    assert excluded.reason[bad[0]].startswith("venous: ") and "mask is empty" in \
        excluded.reason[bad[0]]
    # Reported against the phase that failed only (not again for the arterial phase).
    assert excluded.reason[bad[0]].count("mask is empty") == 1
    assert excluded.reason[bad[1]] == (
        f"arterial: patient sheet resources/demo_tiny/patients.tsv, column 'arterial_image': "
        f"empty in row {sheet.index[sheet.patient_id == bad[1]][0] + 2} ({bad[1]})")
    included = sheet[~sheet.patient_id.isin(bad)]

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
    for pid, phase in zip(bad, ("venous", "arterial"), strict=True):
        status = qc[qc.patient_id == pid].set_index("phase").status
        assert status[phase] == "excluded" and set(status) == {"ok", "excluded"}, status

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


@pytest.mark.workflow
def test_tiny_rerun_without_the_excluded_is_identical(tiny_run, tmp_path, tiny_demo):
    """A second run from scratch, in which the two excluded patients were never in the sheet
    nor the clinical table, writes the same tables bit for bit (and the same figures, models
    and features): the run is deterministic (same config and seed, same numbers) and excluding a
    patient leaves every other patient's results as they would be without that patient."""
    bad, first = tiny_run[3], tiny_run[4]

    def drop(demo):
        for name in ("patients.tsv", "clinical.tsv"):
            table = pd.read_csv(demo / name, sep="\t", dtype=str, keep_default_na=False)
            table[~table.patient_id.isin(bad)].to_csv(demo / name, sep="\t", index=False)

    _run_tiny(tmp_path, tiny_demo, drop)
    second = _outputs(tmp_path)
    # The first run has, in addition, only the excluded patients' own files.
    extra = set(first) - set(second)
    assert not set(second) - set(first), set(second) - set(first)
    assert extra and all(any(pid in name for pid in bad) for name in extra), extra
    common = sorted(set(first) & set(second))
    tables = [n for n in common if n.startswith("results/tables/")]
    assert len(tables) >= 10 and len(common) > 900, (len(tables), len(common))
    differ = [n for n in common if not _same_values(n, first[n], second[n])]
    assert not differ, differ
    excluded = pd.read_csv(tmp_path / "results/qc/excluded.tsv", sep="\t")
    assert excluded.empty
