"""Resume: a run killed (SIGKILL, as a cluster or a power cut would) in the middle of the
per-patient stage and restarted recomputes only what had not finished, never takes a partial
file as done, and ends with the tables of an uninterrupted run.

config/tiny.yaml on four patients of the tiny demo (as tests/test_slurm.py), targets the
per-patient stage and the cohort's feature and QC tables.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_slurm import TARGETS, _cohort

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "radiomics")  # per patient x phase: logs/<rule>/<p>_<ph>.log


def _command(work: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(work), "--configfile", str(REPO / "config" / "tiny.yaml"),
            "--cores", "2", *args, *TARGETS]


def _env() -> dict:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def _jobs(work: Path) -> tuple[set[str], set[str]]:
    """(finished, running) per-patient jobs as ``rule:patient_phase``: a job's benchmark file
    is written when it ends, its log when its script starts."""
    finished, started = set(), set()
    for rule in STAGES:
        finished |= {f"{rule}:{p.stem}" for p in (work / "results/benchmarks" / rule).glob("*.tsv")}
        started |= {f"{rule}:{p.stem}" for p in (work / "logs" / rule).glob("*.log")}
    return finished, started - finished


def _planned(work: Path) -> set[str]:
    """Per-patient jobs a dry run would run now."""
    run = subprocess.run(_command(work, "-n"), capture_output=True, text=True, env=_env(),
                         timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    plan = set()
    for block in re.split(r"\n(?=\[|rule )", run.stdout):
        rule = re.search(r"^rule (\w+):", block, re.M)
        wc = re.search(r"wildcards: patient=(\w+), phase=(\w+)", block)
        if rule and wc and rule.group(1) in STAGES:
            plan.add(f"{rule.group(1)}:{wc.group(1)}_{wc.group(2)}")
    return plan


def _outputs(work: Path, job: str) -> list[Path]:
    rule, name = job.split(":")
    if rule == "radiomics":
        return [work / f"results/features/radiomics/{name}.tsv"]
    patient, phase = name.rsplit("_", 1)
    folder = work / "results/imaging" / patient / phase
    return [folder / "image.nii.gz", folder / "mask.nii.gz", folder / "ingest.json"]


@pytest.mark.workflow
def test_killed_run_resumes_without_redoing_finished_jobs(tiny_demo, tmp_path):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    patients = _cohort(tiny_demo, killed)
    assert _cohort(tiny_demo, reference) == patients

    proc = subprocess.Popen(_command(killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env(), start_new_session=True)
    deadline = time.monotonic() + 900
    try:
        while True:  # kill once a few jobs have finished while another one is running
            finished, running = _jobs(killed)
            if len(finished) >= 4 and running:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no kill point within 15 min"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished, running = _jobs(killed)
    assert running, "nothing was running at the kill"
    before = {p: p.stat().st_mtime_ns for job in finished for p in _outputs(killed, job)}
    assert all(p.exists() for p in before)

    # The restart plans every unfinished job (a killed job's outputs may exist, partially) and
    # none of the finished ones.
    plan = _planned(killed)
    assert running <= plan, running - plan
    assert not (finished & plan), finished & plan
    every = {f"{rule}:{p}_{ph}" for rule in STAGES for p in patients
             for ph in ("arterial", "venous")}
    assert plan == every - finished

    # A killed Snakemake leaves its lock: the documented restart is --unlock, then the run.
    for args in (["--unlock"], []):
        run = subprocess.run(_command(killed, *args), capture_output=True, text=True,
                             env=_env(), timeout=900)
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert {p: p.stat().st_mtime_ns for p in before} == before  # finished work kept as it was
    run = subprocess.run(_command(reference), capture_output=True, text=True, env=_env(),
                         timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    for table in TARGETS:
        pd.testing.assert_frame_equal(pd.read_csv(killed / table, sep="\t"),
                                      pd.read_csv(reference / table, sep="\t"),
                                      check_exact=True, obj=table)

