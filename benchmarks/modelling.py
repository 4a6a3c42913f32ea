"""Time of the cohort-level modelling (rule ``fit_recipe``) per endpoint, as the workflow runs it.

For each endpoint (response, OS, PFS) of the default configuration this runs
:func:`hccfusion.recipes.run_recipe` on the demo cohort's clinical table plus a radiomics table,
i.e. every component (clinical, radiomics, early fusion, late fusion) with its selection and
learner search, the nested out-of-fold ``train_cv`` estimates, validation and the performance
rows, in one process with one BLAS thread (the workflow runs one such job per recipe x
endpoint). Wall and CPU seconds are printed per endpoint: the fit (``fit_recipe``), the extra
tables of ``with_details`` and the whole run (which adds validation and the bootstrap CIs).

The radiomics table is simulated (the demo has no feature table without rendering and
extracting images), with the size and structure of real ones: ``--features`` columns (default:
1,121 for the default demo, the number its robustness filter keeps; 1,675 for the paper scale,
seed 001's count after the ICC filter) driven by 24 latent factors, three of which are the
demo's true response logit, OS and PFS linear predictors, plus feature noise, varied units and
skewness. ``--radiomics`` takes a real table instead (e.g. ``results/features/radiomics.tsv``).

    .venv/bin/python benchmarks/modelling.py --scale paper
    .venv/bin/python benchmarks/modelling.py --scale default --endpoints response
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hccfusion.config import load_config  # noqa: E402
from hccfusion.demo import generate_demo  # noqa: E402
from hccfusion.split import make_split  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_FEATURES = {"tiny": 600, "default": 1121, "paper": 1675}


def simulate_radiomics(truth: pd.DataFrame, n_features: int, seed: int = 0) -> pd.DataFrame:
    """A radiomics-like table: correlated feature families driven by latent factors, three of
    them the true response logit and OS / PFS linear predictors of the demo."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    p = truth["true_response_prob"].clip(1e-6, 1 - 1e-6).to_numpy()
    known = np.column_stack([np.log(p / (1 - p)), truth["true_os_lp"], truth["true_pfs_lp"]])
    known = (known - known.mean(axis=0)) / known.std(axis=0)
    factors = np.column_stack([known, rng.normal(size=(n, 21))])
    loadings = rng.normal(size=(factors.shape[1], n_features)) * (rng.random(
        (factors.shape[1], n_features)) < 0.15)
    loadings[:3] *= 0.6  # the outcome factors are a minor part of each feature's variance
    values = factors @ loadings + rng.normal(size=(n, n_features))
    scale = np.exp(rng.normal(0, 2, n_features))
    skewed = rng.random(n_features) < 0.4
    values = np.where(skewed, np.exp(0.5 * values / values.std(axis=0)), values) * scale + scale
    phases = np.where(np.arange(n_features) < n_features // 2, "arterial", "venous")
    names = [f"{ph}_wavelet-LLH_glszm_F{j}" for j, ph in enumerate(phases)]
    table = pd.DataFrame(values, columns=names)
    table.insert(0, "patient_id", truth["patient_id"].to_numpy())
    return table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="paper", choices=sorted(N_FEATURES))
    ap.add_argument("--seed", type=int, default=1, help="demo seed")
    ap.add_argument("--features", type=int, default=None, help="simulated radiomics features")
    ap.add_argument("--radiomics", type=Path, default=None, help="a real radiomics table")
    ap.add_argument("--endpoints", nargs="+", default=["response", "os", "pfs"])
    ap.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.WARNING)
    from hccfusion.recipes import model_config, run_recipe
    from hccfusion.sheets import load_clinical

    cfg = load_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        generate_demo(out, seed=args.seed, scale=args.scale, images=False)
        clinical = load_clinical(out / "clinical.tsv").reset_index(drop=True)
        truth = pd.read_csv(out / "truth.tsv", sep="\t", dtype={"patient_id": str})
    if args.radiomics is not None:
        radiomics = pd.read_csv(args.radiomics, sep="\t", dtype={"patient_id": str})
    else:
        n_feat = args.features or N_FEATURES[args.scale]
        truth = truth.set_index("patient_id").loc[clinical["patient_id"]].reset_index()
        radiomics = simulate_radiomics(truth, n_feat, seed=args.seed)
    split = make_split(clinical, cfg)
    n_train = int((split["cohort"] == "train").sum())
    print(f"scale {args.scale}: {len(clinical)} patients ({n_train} training), "
          f"{radiomics.shape[1] - 1} radiomics features, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")

    from hccfusion import models

    timings = {}
    fit_recipe = models.fit_recipe

    def timed_fit(*a, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        res = fit_recipe(*a, **kw)
        timings["fit"] = (time.perf_counter() - t0, time.process_time() - c0)
        return res

    import hccfusion.recipes as recipes

    recipe_details = recipes.recipe_details

    def timed_details(*a, **kw):
        t0 = time.perf_counter()
        res = recipe_details(*a, **kw)
        timings["details"] = time.perf_counter() - t0
        return res

    recipes.fit_recipe = timed_fit
    recipes.recipe_details = timed_details
    rows = []
    for endpoint in args.endpoints:
        recipe = next(r for r, spec in cfg["recipes"].items() if endpoint in spec["endpoints"])
        t0, c0 = time.perf_counter(), time.process_time()
        perf, _, details = run_recipe(recipe, endpoint, copy.deepcopy(cfg), clinical, radiomics,
                                      split, with_details=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        chosen = details.algorithm_scores[details.algorithm_scores.chosen]
        ext = perf[(perf.cohort == "external") & perf.metric.isin(["auc", "cindex"])]
        rows.append({
            "endpoint": endpoint, "fit wall s": timings["fit"][0], "fit cpu s": timings["fit"][1],
            "details s": timings["details"], "run wall s": wall, "run cpu s": cpu,
            "chosen": ", ".join(f"{b}={lrn}" for b, lrn in zip(chosen.block, chosen.learner,
                                                                  strict=True)),
            "external": ", ".join(f"{c} {e:.2f}" for c, e in zip(ext.component, ext.estimate,
                                                                 strict=True)),
        })
        print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="%.1f"), flush=True)
    table = pd.DataFrame(rows)
    print("\n" + table.to_string(index=False, float_format="%.1f"))
    print(f"\ntotal: fit {table['fit wall s'].sum():.1f} s wall, run "
          f"{table['run wall s'].sum():.1f} s wall ({table['run cpu s'].sum():.1f} s CPU); "
          f"model_config seed {model_config(cfg)['models']['seed']}")


if __name__ == "__main__":
    main()
