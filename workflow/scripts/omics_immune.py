"""Rule omics_immune: ssGSEA immune-cell scores of the matched samples, Wilcoxon + BH comparison
of each recipe x endpoint's predicted groups, box plots."""

from pathlib import Path

import pandas as pd

from hccfusion import runlog
from hccfusion.figures.immune import immune_boxplot
from hccfusion.omics.de import DEError
from hccfusion.omics.expression import load_expression, log2_expression
from hccfusion.omics.genesets import read_gmt
from hccfusion.omics.immune import COMPARISON_COLUMNS, compare_groups, ssgsea_scores

log = runlog.to_file(snakemake.log[0])
inp, out, ocfg = snakemake.input, snakemake.output, snakemake.config["omics"]
figures = Path(out.figures)
figures.mkdir(parents=True, exist_ok=True)
groups = pd.read_csv(inp.groups, sep="\t", dtype={"sample_id": str})
logx = log2_expression(load_expression(inp.expression, ocfg["values"], ocfg["duplicate_genes"]), ocfg["values"])
logx = logx[groups.sample_id.unique()]  # matched samples only
scores = ssgsea_scores(logx, read_gmt(inp.genesets, "immune"),
                       min_size=ocfg["immune"]["min_size"], threads=snakemake.threads)
scores.to_csv(out.scores, sep="\t", index=False, float_format="%.6g")
rows = []
for (recipe, endpoint), part in groups.groupby(["recipe", "endpoint"], sort=False):
    first = part.set_index("sample_id")["first"].astype(bool)
    labels = (part.group[part["first"]].iloc[0] if first.any() else "first",
              part.group[~part["first"]].iloc[0] if (~first).any() else "second")
    try:
        table = compare_groups(scores, first, first_label=labels[0], second_label=labels[1])
    except DEError as exc:
        log.warning("%s %s: no immune comparison: %s", recipe, endpoint, exc)
        continue
    rows.append(table.assign(recipe=recipe, endpoint=endpoint))
    log.info("%s %s: %d of %d cell types with adjusted p < 0.05", recipe, endpoint,
             int((table.padj < 0.05).sum()), len(table))
    immune_boxplot(scores, first, table, first_label=labels[0], second_label=labels[1],
                   title=f"{recipe} {endpoint}", path=figures / f"immune_{recipe}_{endpoint}")
cols = ["recipe", "endpoint", *COMPARISON_COLUMNS, "normalisation", "geneset_version"]
if rows:
    table = pd.concat(rows, ignore_index=True)
    table["normalisation"] = scores.normalisation.iloc[0]
    table["geneset_version"] = scores.geneset_version.iloc[0]
    table = table[cols]
else:
    table = pd.DataFrame(columns=cols)
table.to_csv(out.table, sep="\t", index=False, float_format="%.6g")
