"""Single-cell option (hccfusion.omics.singlecell) on simulated cells with known signals:
hypoxia planted in the tumour cells of the first group's patients and cytotoxicity in the T cells
of the second group's are found, with the right sign, at the patient level; the other cell
type x signature pairs are not."""

from __future__ import annotations

import logging

import anndata
import numpy as np
import pandas as pd
import pytest

from hccfusion.omics.singlecell import (
    CYTOTOXICITY,
    SingleCellError,
    compare_cell_types,
    signature_scores,
)

HYPOXIA = ["VEGFA", "SLC2A1", "PGK1", "LDHA", "CA9", "BNIP3", "PDK1", "ENO1", "ALDOA", "P4HA1"]


def _cells(seed=0, n_patients=16, cells=40):
    rng = np.random.default_rng(seed)
    genes = HYPOXIA + CYTOTOXICITY + [f"BG{i}" for i in range(300)]
    patients = [f"P{i:02d}" for i in range(n_patients)]
    first = pd.Series([i < n_patients // 2 for i in range(n_patients)], index=patients)
    obs, blocks = [], []
    for p in patients:
        for cell_type in ("tumour", "T cell"):
            base = rng.gamma(2.0, 1.0, len(genes))
            lam = np.tile(base, (cells, 1))
            if cell_type == "tumour" and first[p]:
                lam[:, : len(HYPOXIA)] *= 2.0
            if cell_type == "T cell" and not first[p]:
                lam[:, len(HYPOXIA): len(HYPOXIA) + len(CYTOTOXICITY)] *= 2.0
            blocks.append(rng.poisson(lam * rng.lognormal(0, 0.3, (1, len(genes)))))
            obs += [{"patient": p, "type": cell_type}] * cells
    x = np.vstack(blocks).astype(np.float32)
    adata = anndata.AnnData(X=x, obs=pd.DataFrame(obs, index=[f"c{i}" for i in range(len(obs))]),
                            var=pd.DataFrame(index=genes))
    return adata, first


def test_planted_signals_are_found_per_cell_type_at_the_patient_level(caplog):
    adata, first = _cells()
    signatures = {"hypoxia": HYPOXIA + ["NOT_A_GENE"], "cytotoxicity": CYTOTOXICITY}
    with caplog.at_level(logging.WARNING):
        scores = signature_scores(adata, signatures, cell_type_key="type", patient_key="patient")
    assert "1 of 11 hypoxia gene(s) absent: NOT_A_GENE" in caplog.text
    assert len(scores) == 2 * adata.n_obs
    table = compare_cell_types(scores, first).set_index(["signature", "cell_type"])
    assert len(table) == 4 and (table.n_first == 8).all()
    assert table.loc[("hypoxia", "tumour"), "difference"] > 0
    assert table.loc[("hypoxia", "tumour"), "padj"] < 0.01
    assert table.loc[("cytotoxicity", "T cell"), "difference"] < 0
    assert table.loc[("cytotoxicity", "T cell"), "padj"] < 0.01
    assert table.loc[("hypoxia", "T cell"), "pval"] > 0.01
    assert table.loc[("cytotoxicity", "tumour"), "pval"] > 0.01


def test_missing_columns_genes_and_cells(caplog):
    adata, first = _cells(n_patients=6, cells=5)
    with pytest.raises(SingleCellError, match="obs lacks column.*cell_type"):
        signature_scores(adata, {"x": HYPOXIA}, cell_type_key="cell_type", patient_key="patient")
    with pytest.raises(SingleCellError, match="no signature has 3 genes"):
        signature_scores(adata, {"x": ["A", "B"]}, cell_type_key="type", patient_key="patient")
    scores = signature_scores(adata, {"hypoxia": HYPOXIA}, cell_type_key="type",
                              patient_key="patient")
    with caplog.at_level(logging.WARNING):
        table = compare_cell_types(scores, first.iloc[:5], min_cells=10)
    assert table.empty  # 5 cells per patient and cell type, fewer than min_cells
    assert "1 patient(s) of the single-cell data have no predicted group: P05" in caplog.text
