"""Rule omics_observed: GSEA of the genes ranked by their Cox association with each observed
survival endpoint of the matched patients (when their clinical table has the outcome), the
imaging-free reference of the predicted-group comparisons."""

import pandas as pd

from hccfusion import runlog
from hccfusion.omics.de import cox_ranking
from hccfusion.omics.enrichment import GSEA_COLUMNS, gsea_prerank
from hccfusion.omics.expression import load_expression, log2_expression, read_sample_map
from hccfusion.omics.genesets import read_gmt
from hccfusion.persist import read_table

log = runlog.to_file(snakemake.log[0])
inp, out, cfg = snakemake.input, snakemake.output, snakemake.config
ocfg, gcfg = cfg["omics"], cfg["omics"]["gsea"]
name = gcfg["collections"][0]
collection = read_gmt(snakemake.params.genesets[name], name)
logx = log2_expression(load_expression(inp.expression, ocfg["values"], ocfg["duplicate_genes"]), ocfg["values"])
smap = read_sample_map(inp.samples)
smap = smap[smap.index.isin(logx.columns)]
clinical = read_table(inp.clinical, "clinical").set_index("patient_id")
rows = []
for endpoint, spec in cfg["endpoints"].items():
    if spec["type"] != "survival":
        continue
    cols = [spec["time"], spec["event"]]
    if any(c not in clinical.columns for c in cols):
        log.warning("%s lacks %s: no observed-%s ranking", inp.clinical, " / ".join(cols),
                    endpoint)
        continue
    known = smap[smap.isin(clinical.index)]
    cl = clinical.loc[known.to_numpy(), cols].apply(pd.to_numeric, errors="coerce")
    keep = cl.notna().all(axis=1).to_numpy()
    if keep.sum() < 10 or cl[spec["event"]][keep].sum() < 3:
        log.warning("observed %s: %d samples with outcome, %d events; too few to rank genes",
                    endpoint, int(keep.sum()), int(cl[spec["event"]][keep].sum()))
        continue
    z = cox_ranking(logx[known.index[keep]], cl[spec["time"]][keep], cl[spec["event"]][keep])
    res = gsea_prerank(z.dropna(), collection, permutations=gcfg["permutations"],
                       min_size=gcfg["min_size"], max_size=gcfg["max_size"], seed=gcfg["seed"])
    rows.append(res.assign(recipe="observed", endpoint=endpoint, first_group="hazard",
                           second_group="protection", ranking="cox_score"))
    log.info("observed %s: %d samples, %d sets with FDR < %g", endpoint, int(keep.sum()),
             int((res.fdr < gcfg["fdr"]).sum()), gcfg["fdr"])
cols = ["recipe", "endpoint", *GSEA_COLUMNS, "first_group", "second_group", "ranking"]
table = pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)
table.to_csv(out.gsea, sep="\t", index=False, float_format="%.6g")
