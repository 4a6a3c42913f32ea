"""Rule omics_de: differential expression between the predicted groups of one recipe's
endpoints (DESeq2 for counts, Wilcoxon + BH otherwise) and their volcano plots."""

from pathlib import Path

import pandas as pd

from hccfusion import runlog
from hccfusion.figures.volcano import volcano_figure
from hccfusion.omics.de import COLUMNS, DEError, differential_expression
from hccfusion.omics.expression import load_expression

log = runlog.to_file(snakemake.log[0])
wc, inp, out, ocfg = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.config["omics"]
figures = Path(out.figures)
figures.mkdir(parents=True, exist_ok=True)
groups = pd.read_csv(inp.groups, sep="\t", dtype={"sample_id": str})
groups = groups[groups.recipe == wc.recipe]
expr = load_expression(inp.expression, ocfg["values"], ocfg["duplicate_genes"])
tables = []
for endpoint, part in groups.groupby("endpoint", sort=False):
    first = part.set_index("sample_id")["first"].astype(bool)
    labels = (part.group[part["first"]].iloc[0] if first.any() else "first",
              part.group[~part["first"]].iloc[0] if (~first).any() else "second")
    try:
        de = differential_expression(expr, first, ocfg["values"], n_cpus=snakemake.threads)
    except DEError as exc:  # e.g. every matched patient in one group: nothing to compare
        log.warning("%s %s: no differential expression: %s", wc.recipe, endpoint, exc)
        continue
    de.insert(0, "second_group", labels[1])
    de.insert(0, "first_group", labels[0])
    de.insert(0, "endpoint", endpoint)
    de.insert(0, "recipe", wc.recipe)
    tables.append(de)
    n_sig = int((de.padj < ocfg["de"]["padj"]).sum())
    log.info("%s %s: %d of %d genes with adjusted p < %g (%s)", wc.recipe, endpoint, n_sig,
             len(de), ocfg["de"]["padj"], de.method.iloc[0])
    volcano_figure(de, title=f"{wc.recipe} {endpoint}", first=labels[0], second=labels[1],
                   padj=ocfg["de"]["padj"], lfc=ocfg["de"]["lfc"],
                   path=figures / f"volcano_{endpoint}")
columns = ["recipe", "endpoint", "first_group", "second_group", *COLUMNS]
table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
table.to_csv(out.table, sep="\t", index=False, float_format="%.6g")
