"""Rule omics_enrichment: GSEA prerank of each endpoint's DE ranking, over-representation of its
up- and down-regulated genes, leading-edge heatmaps, for one recipe."""

from pathlib import Path

import pandas as pd

from hccfusion import runlog
from hccfusion.figures.enrichment import leading_edge_heatmap, ora_figure
from hccfusion.omics.de import ranking
from hccfusion.omics.enrichment import (
    GSEA_COLUMNS,
    ORA_COLUMNS,
    gsea_prerank,
    leading_edge_genes,
    over_representation,
)
from hccfusion.omics.expression import load_expression, log2_expression
from hccfusion.omics.genesets import check_coverage, read_gmt

log = runlog.to_file(snakemake.log[0])
wc, inp, out, ocfg = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.config["omics"]
figures = Path(out.figures)
figures.mkdir(parents=True, exist_ok=True)
gcfg, ocfg_ora, dcfg = ocfg["gsea"], ocfg["ora"], ocfg["de"]
collections = {name: read_gmt(path, name) for name, path in snakemake.params.genesets.items()}
de_all = pd.read_csv(inp.de, sep="\t", dtype={"gene": str})
expr = load_expression(inp.expression, ocfg["values"], ocfg["duplicate_genes"])
logx = log2_expression(expr, ocfg["values"])
groups = pd.read_csv(inp.groups, sep="\t", dtype={"sample_id": str})
for names, min_size in ((gcfg["collections"], gcfg["min_size"]),
                        (ocfg_ora["collections"], ocfg_ora["min_size"])):
    for name in names:
        if name in collections:
            check_coverage(expr.index, collections[name], min_size=min_size,
                           source=inp.expression)
gsea_rows, ora_rows = [], []
for endpoint, de in de_all.groupby("endpoint", sort=False):
    first_label, second_label = de.first_group.iloc[0], de.second_group.iloc[0]
    keys = {"recipe": wc.recipe, "endpoint": endpoint}
    rnk = ranking(de)
    for name in gcfg["collections"]:
        if name not in collections:
            continue  # e.g. KEGG, which only a user can supply
        res = gsea_prerank(rnk, collections[name], permutations=gcfg["permutations"],
                           min_size=gcfg["min_size"], max_size=gcfg["max_size"],
                           seed=gcfg["seed"], threads=snakemake.threads)
        gsea_rows.append(res.assign(**keys, first_group=first_label, second_group=second_label,
                                    ranking=de.method.iloc[0]))
        sig = res[res.fdr < gcfg["fdr"]]
        log.info("%s %s %s: %d of %d sets with FDR < %g", wc.recipe, endpoint, name, len(sig),
                 len(res), gcfg["fdr"])
        if name == gcfg["collections"][0]:
            part = groups[(groups.recipe == wc.recipe) & (groups.endpoint == endpoint)]
            first = part.set_index("sample_id")["first"].astype(bool)
            leading_edge_heatmap(logx, leading_edge_genes(res, fdr=gcfg["fdr"]), first,
                                 first_label=first_label, second_label=second_label,
                                 title=f"{wc.recipe} {endpoint}: leading edges ({name})",
                                 path=figures / f"leading_edge_{endpoint}")
    tested = de[de.padj.notna()]
    significant = tested[tested.padj < dcfg["padj"]]
    for direction, genes in (("up", significant.gene[significant.log2fc >= dcfg["lfc"]]),
                             ("down", significant.gene[significant.log2fc <= -dcfg["lfc"]])):
        log.info("%s %s: %d %s-regulated genes for ORA", wc.recipe, endpoint, len(genes),
                 direction)
        for name in ocfg_ora["collections"]:
            if name not in collections:
                continue
            res = over_representation(genes, tested.gene, collections[name], direction=direction,
                                      min_size=ocfg_ora["min_size"],
                                      max_size=ocfg_ora["max_size"])
            ora_rows.append(res.assign(**keys))
    for name in ocfg_ora["collections"]:
        part = [r for r in ora_rows if len(r) and r.endpoint.iloc[0] == endpoint
                and r.collection.iloc[0] == name]
        if name in collections:
            ora_figure(pd.concat(part) if part else pd.DataFrame(columns=ORA_COLUMNS),
                       title=f"{wc.recipe} {endpoint}: {name}",
                       path=figures / f"ora_{endpoint}_{name}")
front = ["recipe", "endpoint"]
gsea_cols = front + GSEA_COLUMNS + ["first_group", "second_group", "ranking"]
ora_cols = front + ORA_COLUMNS
gsea = pd.concat(gsea_rows, ignore_index=True)[gsea_cols] if gsea_rows else \
    pd.DataFrame(columns=gsea_cols)
ora = pd.concat([r for r in ora_rows if len(r)], ignore_index=True)[ora_cols] \
    if any(len(r) for r in ora_rows) else pd.DataFrame(columns=ora_cols)
gsea.to_csv(out.gsea, sep="\t", index=False, float_format="%.6g")
ora.to_csv(out.ora, sep="\t", index=False, float_format="%.6g")
