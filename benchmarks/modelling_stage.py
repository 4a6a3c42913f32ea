"""Wall time of the workflow's cohort-level stage (modelling, evaluation, explanation and
stratification of PRIME-R and PRIME-S) on a cohort whose features are already extracted.

Generates the demo's clinical table at ``--scale`` (``paper``: 246 patients, as seed 001), a
radiomics-like table (:func:`modelling.simulate_radiomics`: 1,675 features for the paper scale,
seed 001's count after its ICC filter, three of its latent factors the demo's true outcome
predictors), and runs ``snakemake --cores N`` through the feature-table entry
(``config/examples/feature_table.yaml`` with the default config's settings): rules
``import_features``, ``split``, ``fit_recipe``, ``evaluate``, ``explain``, ``stratify`` and
``cohort_tables``. Prints the wall time, the per-rule time and peak memory from the Snakemake
``benchmark:`` files, and the external AUC / C-index of each component. ``--permute`` runs the
negative control (``audit.permute_training_outcomes``) instead.

    .venv/bin/python benchmarks/modelling_stage.py --scale paper --cores 2
    .venv/bin/python benchmarks/modelling_stage.py --scale paper --cores 2 --permute
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from modelling import N_FEATURES, simulate_radiomics  # noqa: E402

from hccfusion.benchmarking import summarise  # noqa: E402
from hccfusion.config import load_config  # noqa: E402
from hccfusion.demo import generate_demo  # noqa: E402
from hccfusion.demo.oracle import format_metrics, oracle_metrics  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def stage_config(work: Path, base: dict, permute: bool) -> Path:
    """The default config's modelling settings on the feature-table entry of ``work``."""
    example = yaml.safe_load((REPO / "config/examples/feature_table.yaml").read_text())
    keep = ("evaluation", "stratification", "explain", "cv_folds", "bootstrap", "models")
    cfg = {**example, **{k: base[k] for k in keep if k in base},
           "feature_table": str(work / "features.tsv"), "clinical": str(work / "clinical.tsv"),
           "audit": {"permute_training_outcomes": bool(permute)}}
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="paper", choices=sorted(N_FEATURES))
    ap.add_argument("--seed", type=int, default=1, help="demo seed")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--permute", action="store_true", help="negative control")
    ap.add_argument("--keep", type=Path, default=None, help="run here and keep the results")
    args = ap.parse_args(argv)
    base = load_config(REPO / "config" / "config.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        work = (args.keep or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        demo = work / "demo"
        generate_demo(demo, seed=args.seed, scale=args.scale, images=False)
        clinical = pd.read_csv(demo / "clinical.tsv", sep="\t", dtype={"patient_id": str})
        truth = pd.read_csv(demo / "truth.tsv", sep="\t", dtype={"patient_id": str})
        truth = truth.set_index("patient_id").loc[clinical["patient_id"]].reset_index()
        clinical.to_csv(work / "clinical.tsv", sep="\t", index=False)
        simulate_radiomics(truth, N_FEATURES[args.scale], seed=args.seed).to_csv(
            work / "features.tsv", sep="\t", index=False)
        config = stage_config(work, base, args.permute)
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(work), "--cores", str(args.cores), "--configfile", str(config)]
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if run.returncode:
            sys.exit(run.stdout[-3000:] + run.stderr[-5000:])
        print(f"scale {args.scale}: {len(clinical)} patients, {N_FEATURES[args.scale]} radiomics "
              f"features, --cores {args.cores}, permuted outcomes: {args.permute}")
        print(f"wall time of the stage: {wall:.1f} s ({wall / 60:.1f} min)\n")
        print(summarise(work / "results/benchmarks").to_string(index=False, float_format="%.1f"))
        perf = pd.read_csv(work / "results/tables/performance.tsv", sep="\t")
        ext = perf[(perf.cohort == "external") & perf.metric.isin(["auc", "cindex"])]
        print("\nexternal validation:")
        print(ext[["recipe", "endpoint", "component", "metric", "estimate", "ci_lower",
                   "ci_upper", "n", "n_events"]].to_string(index=False, float_format="%.3f"))
        print("\noracle (true predictors against the simulated outcomes, per centre; B is "
              "external):")
        print(format_metrics(oracle_metrics(clinical, truth)))


if __name__ == "__main__":
    main()
