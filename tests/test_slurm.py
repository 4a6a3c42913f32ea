"""The workflow on a real Slurm (tests/slurm/start_local_slurm.sh) through profiles/slurm.

config/tiny.yaml on four patients of the tiny demo (two per centre), target the per-patient stage
and the cohort's feature and QC tables: every job must have run as a Slurm job with the resources
its rule declares, and the tables must equal those of a local run of the same patients.
In CI (CI=true) a missing Slurm is a failure; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
START = REPO / "tests" / "slurm" / "start_local_slurm.sh"
TARGETS = ["results/features/radiomics.tsv", "results/qc/imaging_qc.tsv"]
PHASES = ("arterial", "venous")


def _node_state() -> str:
    if not shutil.which("sinfo"):
        return "sinfo not installed"
    run = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                         timeout=30)
    return (run.stdout.strip().splitlines() or [run.stderr.strip() or "no node"])[0]


@pytest.fixture(scope="module")
def slurm():
    """A Slurm cluster with an idle node: the running one, else started by the script."""
    state = _node_state()
    if state not in ("idle", "mixed", "allocated"):
        start = subprocess.run(["bash", str(START)], capture_output=True, text=True,
                               timeout=900)
        state = _node_state()
        if state not in ("idle", "mixed", "allocated"):
            reason = f"no usable Slurm (node state: {state}); {START.name}: {start.stderr[-2000:]}"
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
    return state


def _cohort(tiny_demo: Path, work: Path) -> list[str]:
    """The tiny demo in work/resources/demo_tiny (where tiny.yaml expects it, so the workflow
    takes it as generated), cut to two patients of each centre."""
    demo = work / "resources" / "demo_tiny"
    shutil.copytree(tiny_demo, demo)
    sheet = pd.read_csv(demo / "patients.tsv", sep="\t")
    clinical = pd.read_csv(demo / "clinical.tsv", sep="\t", dtype=str, keep_default_na=False)
    keep = [*sheet[sheet.center == "A"].patient_id[:2], *sheet[sheet.center == "B"].patient_id[:2]]
    sheet[sheet.patient_id.isin(keep)].to_csv(demo / "patients.tsv", sep="\t", index=False)
    clinical[clinical.patient_id.isin(keep)].to_csv(demo / "clinical.tsv", sep="\t", index=False)
    return sorted(keep)


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(work), "--configfile", str(REPO / "config" / "tiny.yaml"),
           *args, *TARGETS]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env, cwd=work)


def _slurm_jobs(run_id: str) -> pd.DataFrame:
    """Jobs of one Snakemake run as Slurm knows them (finished ones stay for MinJobAge)."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "--name", run_id, "-o", "%i|%T|%C|%m|%l|%k"],
        capture_output=True, text=True, check=True, timeout=30).stdout
    rows = [line.split("|") for line in out.strip().splitlines()]
    return pd.DataFrame(rows, columns=["jobid", "state", "cpus", "memory", "time", "comment"])


@pytest.mark.workflow
@pytest.mark.slurm
def test_tiny_on_slurm_equals_local_run(slurm, tiny_demo, tmp_path):
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    patients = _cohort(tiny_demo, on_slurm)
    assert _cohort(tiny_demo, local) == patients

    run = _snakemake(on_slurm, "--workflow-profile", str(REPO / "profiles" / "slurm"),
                     "--slurm-no-account",  # the test cluster has no accounting, hence no accounts
                     "--slurm-init-seconds-before-status-checks", "5")
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    found = re.search(r"SLURM run ID: ([0-9a-f-]{36})", log)
    assert found, "the run did not use the Slurm executor:\n" + log[-3000:]
    run_id = found.group(1)

    # Every job of the run was a Slurm job, completed, with its rule's declared resources.
    jobs = _slurm_jobs(run_id)
    per_patient = {f"rule_{rule}_wildcards_{p}_{ph}" for rule in ("ingest", "radiomics")
                   for p in patients for ph in PHASES}
    per_patient |= {f"rule_{rule}_wildcards_{p}" for rule in ("patient_qc", "deep_crop")
                    for p in patients}  # tiny.yaml's deep crops: their exclusions join the table's
    cohort = {"rule_merge_radiomics", "rule_imaging_qc"}
    assert set(jobs.comment) == per_patient | cohort, sorted(jobs.comment)
    assert len(jobs) == len(per_patient) + len(cohort)  # each once
    assert (jobs.state == "COMPLETED").all(), jobs[jobs.state != "COMPLETED"]
    ingest = jobs[jobs.comment.str.startswith("rule_ingest_")]
    assert set(ingest.memory) == {"3000M"} and set(ingest.time) == {"20:00"}, ingest
    assert set(jobs.cpus) == {"1"}
    # Their logs and benchmarks are where a local run puts them.
    for p in patients:
        for ph in PHASES:
            assert (on_slurm / f"logs/radiomics/{p}_{ph}.log").exists()
            assert (on_slurm / f"results/benchmarks/radiomics/{p}_{ph}.tsv").exists()

    run = _snakemake(local, "--cores", "2")
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    for table in TARGETS:
        a = pd.read_csv(on_slurm / table, sep="\t")
        b = pd.read_csv(local / table, sep="\t")
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=table)
    features = pd.read_csv(on_slurm / TARGETS[0], sep="\t")
    assert list(features.patient_id) == patients and features.shape[1] > 100
    for p in patients:
        status = json.loads((on_slurm / f"results/imaging/{p}/phase_check.json").read_text())
        assert status == json.loads((local / f"results/imaging/{p}/phase_check.json").read_text())
