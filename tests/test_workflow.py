"""The Snakemake workflow: dry runs of both configs, and the tiny config end to end."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pydicom
import pytest

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), *args]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("config", [None, "config/tiny.yaml"])
def test_dry_run(tmp_path, config):
    args = ["-n", "--cores", "2"] + (["--configfile", str(REPO / config)] if config else [])
    run = snakemake(tmp_path, *args)
    assert run.returncode == 0, run.stdout + run.stderr
    # Before the demo exists the plan stops at the checkpoint that generates it.
    assert "demo_cohort" in run.stdout


def test_bad_config_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cv_folds: 1\nunknown: 3\n")
    run = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(bad))
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "'unknown' was unexpected" in out and "cv_folds" in out


@pytest.mark.workflow
def test_tiny_end_to_end(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny_run")
    run = snakemake(work, "--cores", "2", "--configfile", str(REPO / "config" / "tiny.yaml"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]

    perf = pd.read_csv(work / "results/tables/performance.tsv", sep="\t")
    assert list(perf.columns) == ["recipe", "component", "endpoint", "cohort", "metric",
                                  "estimate", "ci_lower", "ci_upper", "n", "n_events"]
    assert set(perf.recipe) == {"PRIME-R", "PRIME-S"}
    assert set(perf.cohort) == {"train_cv", "internal", "external"}
    assert {"clinical", "radiomics", "early_fusion", "fusion"} <= set(perf.component)
    assert set(perf.endpoint) == {"response", "os", "pfs"}
    sheet = pd.read_csv(work / "resources/demo_tiny/patients.tsv", sep="\t")
    external = perf[perf.cohort == "external"]
    assert (external.n == (sheet.center == "B").sum()).all()
    finite = perf.dropna(subset=["estimate"])
    assert ((finite.ci_lower <= finite.estimate) & (finite.estimate <= finite.ci_upper)).all()
    assert finite.estimate.between(0, 1).all()

    features = pd.read_csv(work / "results/features/radiomics.tsv", sep="\t")
    assert len(features) == len(sheet)
    assert any(c.startswith("arterial_original_shape_") for c in features.columns)
    assert any(c.startswith("venous_wavelet-") for c in features.columns)
    assert pd.read_csv(work / "results/qc/excluded.tsv", sep="\t").empty
    split = pd.read_csv(work / "results/splits.tsv", sep="\t")
    assert set(split.patient_id) == set(sheet.patient_id)

    # Every job left a log and every per-patient job a benchmark.
    assert len(list((work / "logs/radiomics").glob("*.log"))) == 2 * len(sheet)
    assert len(list((work / "results/benchmarks/radiomics").glob("*.tsv"))) == 2 * len(sheet)

    # The DICOM headers' identifying values never reach results/ or logs/ (gzip opened).
    needles = set()
    for folder in (work / "resources/demo_tiny/images").glob("*/*"):
        ds = pydicom.dcmread(next(folder.glob("*.dcm")), stop_before_pixels=True)
        needles |= {str(ds.PatientName), ds.PatientID, ds.PatientBirthDate, ds.InstitutionName,
                    ds.AccessionNumber, ds.StudyInstanceUID, ds.SeriesInstanceUID}
    needles = [n.encode() for n in needles if n]
    assert len(needles) > 5 * len(sheet)
    for folder in ("results", "logs"):
        for path in (work / folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if path.suffix == ".gz":
                    data = gzip.decompress(data)
                leaked = [n for n in needles if n in data]
                assert not leaked, (path, leaked[:3])
