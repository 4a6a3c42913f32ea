"""Rule omics_single_cell: hypoxia and cytotoxicity scores per cell type of a configured AnnData
file, compared between the predicted groups of the patients the cells come from (seed 003)."""

from pathlib import Path

import anndata
import pandas as pd

from hccfusion import runlog
from hccfusion.figures.immune import immune_boxplot
from hccfusion.omics.genesets import read_gmt
from hccfusion.omics.singlecell import (
    COMPARISON_COLUMNS,
    CYTOTOXICITY,
    compare_cell_types,
    signature_scores,
)

log = runlog.to_file(snakemake.log[0])
inp, out, scfg = snakemake.input, snakemake.output, snakemake.config["omics"]["single_cell"]
figures = Path(out.figures)
figures.mkdir(parents=True, exist_ok=True)
hallmark = read_gmt(inp.hallmark, "hallmark")
signatures = {"hypoxia": hallmark.sets["HALLMARK_HYPOXIA"], "cytotoxicity": CYTOTOXICITY}
adata = anndata.read_h5ad(inp.anndata)
log.info("%s: %d cells x %d genes", inp.anndata, adata.n_obs, adata.n_vars)
cells = signature_scores(adata, signatures, cell_type_key=scfg["cell_type_key"],
                         patient_key=scfg["patient_key"], source=inp.anndata)
groups = pd.read_csv(inp.groups, sep="\t", dtype={"patient_id": str})
rows = []
for (recipe, endpoint), part in groups.groupby(["recipe", "endpoint"], sort=False):
    first = part.drop_duplicates("patient_id").set_index("patient_id")["first"].astype(bool)
    table = compare_cell_types(cells, first, min_cells=scfg["min_cells"])
    if table.empty:
        log.warning("%s %s: no cell type with 2+ patients per group", recipe, endpoint)
        continue
    rows.append(table.assign(recipe=recipe, endpoint=endpoint))
    # Box plots of the patients' mean scores, one pair per cell type x signature.
    means = cells[cells.patient_id.isin(first.index)].groupby(
        ["patient_id", "signature", "cell_type"]).score.mean().reset_index()
    means = means.assign(sample_id=means.patient_id,
                         cell_type=means.cell_type + ": " + means.signature)
    shown = table.assign(cell_type=table.cell_type + ": " + table.signature)
    means = means[means.cell_type.isin(shown.cell_type)]
    wide_ok = means.pivot(index="sample_id", columns="cell_type", values="score").dropna().index
    immune_boxplot(means[means.sample_id.isin(wide_ok)], first.loc[wide_ok], shown,
                   first_label=part.group[part["first"]].iloc[0] if part["first"].any() else "first",
                   second_label=part.group[~part["first"]].iloc[0]
                   if (~part["first"]).any() else "second",
                   title=f"{recipe} {endpoint}: single cell",
                   path=figures / f"single_cell_{recipe}_{endpoint}")
cols = ["recipe", "endpoint", *COMPARISON_COLUMNS]
table = pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)
table.to_csv(out.table, sep="\t", index=False, float_format="%.6g")
