"""Expression matrices: reading, checks, the sample -> patient map, normalised log2 values.

An expression matrix is a TSV with one row per gene: the first column holds gene symbols, every
other column is one sample (TCGA aliquot barcodes such as ``TCGA-2Y-A9GS-01A``, or any id). The
values are one of :data:`VALUE_TYPES`:

* ``counts``: raw read counts (HTSeq / STAR ``ReadsPerGene``), non-negative integers; analysed
  with DESeq2's negative-binomial model (Love MI, Huber W, Anders S. Genome Biol 2014;15:550);
* ``tpm`` / ``fpkm``: normalised, non-negative; analysed as ``log2(x + 1)``;
* ``log2``: already log2-transformed normalised values (e.g. ``log2(FPKM + 1)``); any sign.

Checks are strict where the analysis would be wrong (an error naming the file, gene and sample)
and lenient where it can go on (a warning that says how many): a negative value or a fraction
among counts, a missing or non-numeric value and a duplicated sample id are errors; a duplicated
gene symbol keeps its most expressed row (the usual collapse of TCGA's Ensembl -> symbol map)
with a warning naming the genes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.errors import TableError, name_list

__all__ = [
    "VALUE_TYPES", "ExpressionError", "load_expression", "log2_expression", "match_samples",
    "read_sample_map",
]

log = logging.getLogger(__name__)

VALUE_TYPES = ("counts", "tpm", "fpkm", "log2")


class ExpressionError(TableError):
    """An expression matrix or sample map that cannot be analysed (names file, gene, sample)."""


def _cells(frame: pd.DataFrame, mask: np.ndarray) -> list[str]:
    rows, cols = np.nonzero(mask)
    return [f"{frame.index[r]}/{frame.columns[c]}={frame.iat[r, c]:g}"
            for r, c in zip(rows, cols, strict=True)]


def _lines_without_gene(path: Path) -> list[int]:
    """Line numbers (1-based, header = 1) of the non-blank data lines whose first field is
    empty; read again only to report them (pandas skips blank lines, so its row numbers are
    not line numbers)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        next(fh, None)
        return [n for n, line in enumerate(fh, start=2)
                if line.strip() and not line.split("\t", 1)[0].strip()]


DUPLICATE_GENES = ("error", "keep_most_expressed")


def load_expression(path: str | Path, values: str, duplicates: str = "error") -> pd.DataFrame:
    """Read an expression matrix: genes x samples, float values, gene symbols as the index.

    ``values`` is one of :data:`VALUE_TYPES` and decides the checks (see the module docstring).
    A gene symbol on several rows is an error naming the symbols and lines, unless
    ``duplicates="keep_most_expressed"`` (config ``omics.duplicate_genes``: several Ensembl ids
    mapped to one symbol), which keeps the row of highest mean with a warning.
    Raises :class:`ExpressionError` naming the file and the offending genes / samples.
    """
    if duplicates not in DUPLICATE_GENES:
        raise ExpressionError(f"duplicate_genes must be one of {', '.join(DUPLICATE_GENES)}, "
                              f"not {duplicates!r}")
    if values not in VALUE_TYPES:
        raise ExpressionError(f"expression values must be one of {', '.join(VALUE_TYPES)}, "
                              f"not {values!r}")
    path = Path(path)
    if not path.is_file():
        raise ExpressionError(f"expression matrix {path} does not exist")
    try:
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ExpressionError(f"expression matrix {path} is not a readable TSV: {exc}") from exc
    if raw.shape[1] < 2 or raw.empty:
        raise ExpressionError(f"expression matrix {path}: needs a gene column and at least one "
                              "sample column, with at least one gene")
    genes = raw.iloc[:, 0].str.strip()
    if (genes == "").any():
        raise ExpressionError(f"expression matrix {path}: {int((genes == '').sum())} row(s) "
                              "without a gene symbol in the first column (line(s) "
                              f"{name_list(_lines_without_gene(path), 5)})")
    # pandas renames a repeated header (S1, S1.1): the header line itself tells duplicates.
    try:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline().rstrip("\r\n").split("\t")
    except UnicodeDecodeError as exc:
        raise ExpressionError(f"expression matrix {path}: the header is not UTF-8 text: "
                              f"{exc}") from exc
    samples = pd.Index([h.strip() for h in header[1:]])
    dup_samples = samples[samples.duplicated()].unique()
    if len(dup_samples):
        raise ExpressionError(f"expression matrix {path}: duplicated sample id(s) "
                              f"{name_list(dup_samples)}")
    text = raw.iloc[:, 1:].set_axis(pd.Index(genes, name="gene"), axis=0).set_axis(samples, axis=1)
    frame = text.apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce"))
    bad = frame.isna().to_numpy()
    if bad.any():
        cells = [f"{text.index[r]}/{text.columns[c]}={text.iat[r, c]!r}"
                 for r, c in zip(*np.nonzero(bad), strict=True)]
        raise ExpressionError(f"expression matrix {path}: {int(bad.sum())} missing or "
                              f"non-numeric value(s) (gene/sample=value): {name_list(cells, 10)}")
    frame = frame.astype(float)
    arr = frame.to_numpy()
    if values != "log2":
        neg = arr < 0
        if neg.any():
            raise ExpressionError(f"expression matrix {path}: {int(neg.sum())} negative value(s) "
                                  f"in {values} (gene/sample=value): "
                                  f"{name_list(_cells(frame, neg), 10)}")
    if values == "counts":
        frac = arr != np.round(arr)
        if frac.any():
            raise ExpressionError(
                f"expression matrix {path}: {int(frac.sum())} non-integer value(s) given as raw "
                f"counts (gene/sample=value): {name_list(_cells(frame, frac), 10)}; set the "
                "values to tpm, fpkm or log2 if the matrix is normalised")
    dup = frame.index[frame.index.duplicated()].unique()
    if len(dup) and duplicates == "error":
        lines = {g: [str(i + 2) for i in np.flatnonzero(frame.index == g)] for g in dup}
        where = [f"{g} (lines {', '.join(ln)})" for g, ln in lines.items()]
        raise ExpressionError(
            f"expression matrix {path}: {len(dup)} gene symbol(s) on several rows: "
            f"{name_list(where, 10)}; merge them, or set omics.duplicate_genes: "
            "keep_most_expressed to keep the most expressed row of each")
    if len(dup):
        # Keep the most expressed row of each symbol (several Ensembl ids -> one symbol).
        order = frame.mean(axis=1).to_numpy().argsort(kind="stable")[::-1]
        kept = frame.iloc[order]
        kept = kept[~kept.index.duplicated(keep="first")]
        frame = kept.loc[[g for g in dict.fromkeys(frame.index)]]
        log.warning("expression matrix %s: %d duplicated gene symbol(s), the most expressed row "
                    "of each kept: %s", path, len(dup), name_list(dup))
    frame.attrs.update(source=str(path), values=values)
    return frame


def log2_expression(frame: pd.DataFrame, values: str) -> pd.DataFrame:
    """Normalised log2 expression for ranks, ssGSEA and heatmaps.

    Counts become ``log2(CPM + 1)`` (counts per million of each sample's library: the library
    size is the one sample-level factor that must not reach a between-sample comparison);
    TPM / FPKM become ``log2(x + 1)``; ``log2`` values are returned as they are.
    """
    if values == "counts":
        lib = frame.sum(axis=0)
        empty = lib.index[lib <= 0]
        if len(empty):
            where = frame.attrs.get("source")
            raise ExpressionError(f"{f'expression matrix {where}: ' if where else ''}samples "
                                  f"with no counts at all: {name_list(empty)}")
        return np.log2(frame / lib * 1e6 + 1.0)
    if values in ("tpm", "fpkm"):
        return np.log2(frame + 1.0)
    return frame.copy()


def read_sample_map(path: str | Path) -> pd.Series:
    """The expression sample -> imaging patient map (TSV ``sample_id``, ``patient_id``).

    Returns a Series indexed by ``sample_id``. A missing column, an empty id, a sample listed
    twice and a patient with several samples (e.g. two aliquots of one tumour: choose one) are
    errors naming them.
    """
    path = Path(path)
    if not path.is_file():
        raise ExpressionError(f"sample map {path} does not exist")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ExpressionError(f"sample map {path} is not a readable TSV: {exc}") from exc
    absent = [c for c in ("sample_id", "patient_id") if c not in table.columns]
    if absent:
        raise ExpressionError(f"sample map {path} lacks column(s) {', '.join(absent)}")
    table = table.apply(lambda s: s.str.strip())
    empty = table[(table.sample_id == "") | (table.patient_id == "")]
    if len(empty):
        raise ExpressionError(f"sample map {path}: {len(empty)} row(s) with an empty sample_id "
                              "or patient_id")
    for col, what in (("sample_id", "sample"), ("patient_id", "patient")):
        dup = table[col][table[col].duplicated()].unique()
        if len(dup):
            raise ExpressionError(f"sample map {path}: {what}(s) listed more than once: "
                                  f"{name_list(dup)} (one expression sample per patient)")
    return pd.Series(table.patient_id.to_numpy(), index=pd.Index(table.sample_id, name="sample_id"),
                     name="patient_id")


def match_samples(samples: pd.Index, sample_map: pd.Series, patients, *,
                  source: str = "expression matrix") -> pd.Series:
    """Samples of the matrix that map to a scored patient: Series sample_id -> patient_id.

    ``patients`` are the patients with predictions. Samples absent from the map and mapped
    patients without a prediction are left out with a warning that counts and names them;
    no sample matching any patient is an error.
    """
    samples = pd.Index(samples)
    patients = set(map(str, patients))
    unmapped = samples.difference(sample_map.index)
    if len(unmapped):
        log.warning("%s: %d of %d sample(s) not in the sample map, left out: %s", source,
                    len(unmapped), len(samples), name_list(unmapped))
    mapped = sample_map[sample_map.index.isin(samples)]
    unscored = mapped[~mapped.isin(patients)]
    if len(unscored):
        log.warning("%s: %d sample(s) map to a patient without a prediction (not imaged, or "
                    "excluded), left out: %s", source, len(unscored),
                    name_list(f"{s}->{p}" for s, p in unscored.items()))
    matched = mapped[mapped.isin(patients)]
    if matched.empty:
        raise ExpressionError(
            f"{source}: no sample matches a scored patient (samples {name_list(samples, 5)}; "
            f"patients {name_list(sorted(patients), 5)}); check the sample map")
    return matched
