"""Time and peak memory of the deep branch's training (:func:`hccfusion.deep.fit_ensemble`).

Synthetic crops the size of the default demo's (:mod:`hccfusion.deep.synthetic`: 2 phases,
48^3 voxels, a sphere whose radius drives the simulated OS/PFS and response), ``--n-train``
training patients (default 70: the default demo's centre A of 100 patients split 7:3) and
``--n-other`` patients scored by the full ensemble (default 90: 30 internal + 60 external), the
library's default settings (3 members x (5 folds + full) = 18 networks) with ``--threads``
torch threads. Prints wall time, peak resident memory (``ru_maxrss``, the whole process: Python,
torch and the crops), the load average before and after (other jobs may share the cores), and the
out-of-fold and held-out Harrell C-index of OS against the oracle's (the planted radius).

    .venv/bin/python benchmarks/deep_train.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time

import numpy as np
import torch
from sksurv.metrics import concordance_index_censored

from hccfusion.deep import DEFAULTS, Architecture, fit_ensemble
from hccfusion.deep.synthetic import synthetic_cohort


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _cindex(frame, score: str) -> float:
    return float(concordance_index_censored(frame["os_event"].astype(bool), frame["os_days"],
                                            frame[score])[0])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-train", type=int, default=70)
    ap.add_argument("--n-other", type=int, default=90)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    ap.add_argument("--n-models", type=int, default=DEFAULTS["n_models"])
    ap.add_argument("--folds", type=int, default=DEFAULTS["folds"])
    ap.add_argument("--seed", type=int, default=1, help="seed of the synthetic cohort")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)

    load_before = os.getloadavg()
    crops, table = synthetic_cohort(args.n_train + args.n_other, size=(args.size,) * 3,
                                    phases=2, seed=args.seed)
    train_ids = list(table["patient_id"][: args.n_train])
    rss_data = _rss_mb()
    t0 = time.perf_counter()
    result = fit_ensemble(crops, table, train_ids, n_models=args.n_models, folds=args.folds,
                          epochs=args.epochs, threads=args.threads)
    seconds = time.perf_counter() - t0
    load_after = os.getloadavg()
    pred = result.predictions.merge(table, on="patient_id")
    oof, held = pred[pred["fold"] != "full"], pred[pred["fold"] == "full"]
    epochs_run = [n["epochs_run"] for n in result.meta["networks"]]
    out = {
        "n_train": args.n_train, "n_other": args.n_other, "crop": [2, *(args.size,) * 3],
        "threads": args.threads, "networks": len(result.meta["networks"]),
        "settings": result.meta["settings"], "architecture": Architecture().to_dict(),
        "epochs_run_mean": float(np.mean(epochs_run)), "epochs_run_max": int(max(epochs_run)),
        "seconds": round(seconds, 1), "minutes": round(seconds / 60, 2),
        "peak_rss_mb": round(_rss_mb(), 1), "rss_after_data_mb": round(rss_data, 1),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in load_after],
        "cindex_os_oof": round(_cindex(oof, "risk_os"), 3),
        "cindex_os_oof_oracle": round(_cindex(oof, "lp"), 3),
        "cindex_os_heldout": round(_cindex(held, "risk_os"), 3),
        "cindex_os_heldout_oracle": round(_cindex(held, "lp"), 3),
        "torch": torch.__version__, "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    return out


if __name__ == "__main__":
    sys.exit(main() and 0)
