"""Workflow hygiene: lint and format clean, every rule with its log, conda env, threads, memory and
runtime, heavy rules benchmarked, conda environments that match the pip dependencies, a Slurm
profile whose every entry is explained."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RULE_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
# pip name -> conda-forge name where they differ
CONDA_NAME = {"simpleitk": "simpleitk", "snakemake": "snakemake-minimal", "torch": "pytorch"}


def _rules() -> dict[str, str]:
    """Every rule and checkpoint: name -> its text (up to the next top-level statement)."""
    rules = {}
    for path in RULE_FILES:
        text = path.read_text()
        starts = list(re.finditer(r"^(\s*)(?:rule|checkpoint) (\w+):\n", text, re.M))
        for m in starts:
            indent = len(m.group(1))
            end = re.compile(rf"^ {{0,{indent}}}\S", re.M).search(text, m.end())
            rules[m.group(2)] = text[m.end(): end.start() if end else len(text)]
    return rules


def _directive(body: str, name: str) -> str | None:
    m = re.search(rf"^\s+{name}:\s*(.*?)(?=^\s+\w+:|\Z)", body, re.M | re.S)
    return m.group(1).strip() if m else None


RULES = _rules()
# Rules that run jobs (target rules such as `all` have no output).
JOB_RULES = {n: b for n, b in RULES.items() if _directive(b, "output")}


def test_rules_found():
    assert {"ingest", "radiomics", "fit_recipe", "demo_cohort", "split",
            "benchmark_summary"} <= set(JOB_RULES)


@pytest.mark.parametrize("rule", sorted(JOB_RULES))
def test_rule_declares_log_env_threads_memory_runtime(rule):
    body = JOB_RULES[rule]
    log = _directive(body, "log")
    assert log and re.fullmatch(r'"logs/[^"]+\.log",?', log), f"{rule}: log under logs/: {log}"
    output = re.sub(r'f"[^"]*"', "", _directive(body, "output"))  # f-strings are no wildcards
    output = re.sub(r"patterns=\[[^\]]*\]", "", output)  # report patterns neither
    if re.search(r"\{\w+\}", output):
        assert "{" in log, f"{rule}: one log per job (per wildcard value)"
    env = _directive(body, "conda")
    assert env, f"{rule}: no conda env"
    env_path = (REPO / "workflow" / "rules" / env.strip('"')).resolve()
    assert env_path.parent == REPO / "envs" and env_path.exists(), f"{rule}: {env}"
    assert re.search(r"^\s+threads: \d+$", body, re.M), f"{rule}: threads"
    resources = _directive(body, "resources") or ""
    assert re.search(r"mem_mb=\d+", resources), f"{rule}: mem_mb"
    assert re.search(r"runtime=\d+", resources), f"{rule}: runtime"


def test_heavy_rules_are_benchmarked():
    """Per-patient jobs and any job allowed 20 minutes or more write a benchmark file."""
    heavy = []
    for rule, body in JOB_RULES.items():
        runtime = int(re.search(r"runtime=(\d+)", body).group(1))
        if "{patient}" in (_directive(body, "output") or "") or runtime >= 20:
            heavy.append(rule)
            bench = _directive(body, "benchmark")
            assert bench and bench.strip('"').startswith("results/benchmarks/"), f"{rule}: {bench}"
    assert {"ingest", "radiomics", "perturb", "fit_recipe", "patient_qc"} <= set(heavy)


def _requirement(spec: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", spec)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def _env_packages(path: Path) -> dict[str, str]:
    """name -> version bound of a conda env file, conda and pip entries ("=x" written "==x")."""
    env = yaml.safe_load(path.read_text())
    out = {}
    for dep in env["dependencies"]:
        specs = dep["pip"] if isinstance(dep, dict) else [dep]
        for spec in specs:
            if spec.startswith("-"):
                continue
            name, bound = _requirement(spec)
            out[name] = re.sub(r"^=(?!=)", "==", bound)
    return out


def _pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("env", sorted({  # rules without an env fail the test above
    (_directive(b, "conda") or "").strip('"').split("/")[-1] for b in JOB_RULES.values()} - {""}))
def test_conda_env_matches_pip_dependencies(env):
    """`pip install --editable ..` in the env needs every base dependency: each must be in the
    env, with pyproject.toml's bound; the extras of the rules that use the env too."""
    packages = _env_packages(REPO / "envs" / env)
    project = _pyproject()
    extras = {"imaging.yaml": ["imaging", "deep"], "models.yaml": ["models", "explain"],
              "omics.yaml": ["omics"]}.get(env, [])
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    for spec in wanted:
        name, bound = _requirement(spec)
        conda = CONDA_NAME.get(name, name)
        assert conda in packages or name in packages, f"envs/{env} lacks {spec} (pyproject.toml)"
        assert packages.get(conda, packages.get(name)) == bound, (
            f"envs/{env}: {conda}{packages.get(conda)} but pyproject.toml has {spec}")
    assert "--editable .." in (REPO / "envs" / env).read_text()


def test_slurm_profile_every_entry_commented():
    path = REPO / "profiles" / "slurm" / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    assert profile["executor"] == "slurm"
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        is_parent = line.rstrip().endswith(":")
        commented = "#" in line or (i > 0 and lines[i - 1].lstrip().startswith("#")) or is_parent
        assert commented, f"profiles/slurm/config.yaml line {i + 1} has no comment: {line}"
    # Rules named in set-resources exist; the Slurm plugin is a declared dependency.
    assert set(profile["set-resources"]) <= set(JOB_RULES)
    extras = _pyproject()["optional-dependencies"]
    assert any(d.startswith("snakemake-executor-plugin-slurm") for d in extras["cluster"])
    assert "cluster" in extras["all"][0]


def _run(*cmd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)


@pytest.mark.parametrize("config", ["config/config.yaml", "config/tiny.yaml"])
def test_snakemake_lint_clean(config):
    run = _run(sys.executable, "-m", "snakemake", "--lint", "--configfile", config)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


def test_rules_formatted_with_snakefmt():
    run = _run(str(Path(sys.executable).parent / "snakefmt"), "--check", "Snakefile",
               "workflow/rules")
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_rule_runs_a_shell_command():
    """Config values (paths, ids, names) never reach a shell: every job is a Python script, so
    no quoting can go wrong (issue 8, safe identifiers)."""
    directive = re.compile(r"^\s+(shell|run|wrapper|notebook|cwl):", re.M)
    offending = [p.name for p in RULE_FILES if directive.search(p.read_text())]
    assert not offending, offending
    assert all(_directive(body, "script") for body in JOB_RULES.values()), sorted(
        n for n, b in JOB_RULES.items() if not _directive(b, "script"))
