"""Rule omics_tables: the GSEA and ORA tables of every recipe, and the comparative GSEA view of
the endpoints (seed 001, Figure 7C)."""

from pathlib import Path

import pandas as pd

from hccfusion import runlog
from hccfusion.figures.enrichment import endpoint_comparison_figure

log = runlog.to_file(snakemake.log[0])
inp, out, gcfg = snakemake.input, snakemake.output, snakemake.config["omics"]["gsea"]
gsea = pd.concat([pd.read_csv(p, sep="\t") for p in inp.gsea], ignore_index=True)
ora = pd.concat([pd.read_csv(p, sep="\t") for p in inp.ora], ignore_index=True)
gsea.to_csv(out.gsea, sep="\t", index=False, float_format="%.6g")
ora.to_csv(out.ora, sep="\t", index=False, float_format="%.6g")
main = gsea[gsea.collection == gcfg["collections"][0]].copy()
main["label"] = main.recipe + " " + main.endpoint
endpoint_comparison_figure(main, fdr=gcfg["fdr"], title="GSEA by endpoint",
                           path=Path(out.figure).with_suffix(""))
log.info("%d GSEA rows, %d ORA rows", len(gsea), len(ora))
