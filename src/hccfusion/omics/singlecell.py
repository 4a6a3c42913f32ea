"""Single-cell option (seed 003): hypoxia and cytotoxicity scores per cell type, compared between
the predicted groups of the patients the cells come from.

Scores are scanpy's ``tl.score_genes`` (Wolf FA, Angerer P, Theis FJ. SCANPY. Genome Biol 2018;
19:15), the method of Tirosh I, Izar B, Prakadan SM, et al. Science 2016;352:189-96 (also Satija
R, et al. Nat Biotechnol 2015;33:495-502): a cell's mean log expression of the signature minus
the mean of control genes drawn from the same expression bins, so a signature of highly
expressed genes does not score high for that reason alone. Signatures:

* hypoxia: MSigDB HALLMARK_HYPOXIA (Liberzon A, et al. Cell Syst 2015;1:417-25);
* cytotoxicity: the 12 cytotoxic effector genes of Guo X, Zhang Y, Zheng L, et al. Nat Med 2018;
  24:978-85 (PRF1, IFNG, GNLY, NKG7, GZMB, GZMA, GZMH, KLRK1, KLRB1, KLRD1, CTSW, CST7).

Comparisons are per cell type on the patients' mean scores (pseudobulk): cells of one patient
are not independent replicates, and treating them as such inflates significance (Squair JW,
Gautier M, Kathe C, et al. Nat Commun 2021;12:5692). Two-sided Wilcoxon rank-sum test of the
first vs the second group's patients, Benjamini-Hochberg over cell types and signatures.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from hccfusion.errors import HccfusionError, name_list
from hccfusion.omics.de import benjamini_hochberg

__all__ = ["COMPARISON_COLUMNS", "CYTOTOXICITY", "SingleCellError", "compare_cell_types",
           "signature_scores"]

log = logging.getLogger(__name__)

CYTOTOXICITY = ["PRF1", "IFNG", "GNLY", "NKG7", "GZMB", "GZMA", "GZMH", "KLRK1", "KLRB1",
                "KLRD1", "CTSW", "CST7"]
MIN_SIGNATURE_GENES = 3
COMPARISON_COLUMNS = ["signature", "cell_type", "n_first", "n_second", "median_first",
                      "median_second", "difference", "pval", "padj"]


class SingleCellError(HccfusionError):
    """An AnnData file without the columns or genes the scores need."""


def signature_scores(adata, signatures: dict[str, list[str]], *, cell_type_key: str,
                     patient_key: str, seed: int = 0, source: str = "AnnData") -> pd.DataFrame:
    """Per-cell scores: ``cell, patient_id, cell_type, signature, score``.

    ``adata.X`` should hold log-normalised expression; integer counts are normalised first
    (``normalize_total`` to 10 000 per cell, ``log1p``), with a note in the log. Signature genes
    absent from the data are counted in a warning; a signature with fewer than 3 genes present
    is left out with a warning.
    """
    import scanpy as sc

    absent = [k for k in (cell_type_key, patient_key) if k not in adata.obs.columns]
    if absent:
        raise SingleCellError(f"{source}: obs lacks column(s) {', '.join(absent)} (columns: "
                              f"{name_list(adata.obs.columns)})")
    adata = adata.copy()
    x = adata.X[: min(adata.n_obs, 200)]
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    if np.all(x == np.round(x)) and x.max() > 20:
        log.info("%s: integer counts; normalised to 10 000 per cell and log1p-transformed", source)
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
    genes = set(adata.var_names)
    rows = []
    for name, members in signatures.items():
        present = [g for g in dict.fromkeys(members) if g in genes]
        if len(present) < len(set(members)):
            log.warning("%s: %d of %d %s gene(s) absent: %s", source, len(set(members)) -
                        len(present), len(set(members)), name,
                        name_list(sorted(set(members) - genes)))
        if len(present) < MIN_SIGNATURE_GENES:
            log.warning("%s: %s left out (%d genes present, %d needed)", source, name,
                        len(present), MIN_SIGNATURE_GENES)
            continue
        sc.tl.score_genes(adata, present, score_name="_score", random_state=seed,
                          ctrl_size=min(50, max(1, adata.n_vars - len(present))))
        rows.append(pd.DataFrame({
            "cell": adata.obs_names.to_numpy(),
            "patient_id": adata.obs[patient_key].astype(str).to_numpy(),
            "cell_type": adata.obs[cell_type_key].astype(str).to_numpy(),
            "signature": name, "score": adata.obs["_score"].to_numpy(dtype=float)}))
    if not rows:
        raise SingleCellError(f"{source}: no signature has {MIN_SIGNATURE_GENES} genes in the data")
    return pd.concat(rows, ignore_index=True)


def compare_cell_types(cell_scores: pd.DataFrame, first: pd.Series, *,
                       min_cells: int = 10) -> pd.DataFrame:
    """Patients' mean score per cell type and signature, first vs second group (``first``:
    patient_id -> bool); :data:`COMPARISON_COLUMNS`. A patient contributes to a cell type when
    it has ``min_cells`` cells of it; comparisons with fewer than 2 patients in a group are
    left out. ``difference`` is the Hodges-Lehmann shift of the patient means."""
    first = pd.Series(first).astype(bool)
    cells = cell_scores[cell_scores.patient_id.isin(first.index)]
    unknown = sorted(set(cell_scores.patient_id) - set(first.index))
    if unknown:
        log.warning("%d patient(s) of the single-cell data have no predicted group: %s",
                    len(unknown), name_list(unknown))
    agg = cells.groupby(["signature", "cell_type", "patient_id"]).score.agg(["mean", "size"])
    agg = agg[agg["size"] >= min_cells].reset_index()
    rows = []
    for (signature, cell_type), part in agg.groupby(["signature", "cell_type"]):
        is_first = first.loc[part.patient_id].to_numpy()
        a, b = part["mean"].to_numpy()[is_first], part["mean"].to_numpy()[~is_first]
        if min(len(a), len(b)) < 2:
            log.warning("%s in %s: %d and %d patients with %d+ cells; not compared", signature,
                        cell_type, len(a), len(b), min_cells)
            continue
        rows.append({"signature": signature, "cell_type": cell_type, "n_first": len(a),
                     "n_second": len(b), "median_first": np.median(a),
                     "median_second": np.median(b),
                     "difference": float(np.median(np.subtract.outer(a, b))),
                     "pval": stats.mannwhitneyu(a, b, alternative="two-sided").pvalue})
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS[:-1])
    table["padj"] = benjamini_hochberg(table.pval)
    return table[COMPARISON_COLUMNS]
