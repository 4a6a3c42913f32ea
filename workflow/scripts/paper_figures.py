"""Rule paper_figures: the paper's figure set (seed 001 Figures 3-7, supplementary panels) from
the run's tables, as PDF and 300-dpi PNG in results/paper/."""

from pathlib import Path

import pandas as pd

from hccfusion import runlog
from hccfusion.paper import build_paper, paper_spec
from hccfusion.sheets import load_clinical

log = runlog.to_file(snakemake.log[0])
inp, out, cfg = snakemake.input, snakemake.output, snakemake.config
spec = paper_spec(cfg, omics=bool(inp.omics))
clinical = load_clinical(inp.clinical).set_index("patient_id")
features = pd.read_csv(inp.features, sep="\t").set_index("patient_id")
split = pd.read_csv(inp.split, sep="\t").set_index("patient_id").cohort
files = build_paper(spec, "results", Path(out.pdf[0]).parent, cfg, clinical, features, split)
missing = sorted((set(out.pdf) | set(out.png)) - {str(f) for f in files})
if missing:
    raise RuntimeError(f"paper figures not drawn: {missing}")
log.info("%d paper files: %s", len(files), ", ".join(f.name for f in files))
