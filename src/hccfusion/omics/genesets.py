"""Gene-set collections (GMT files), their provenance, and how well a matrix covers them.

A GMT line is ``name <tab> description <tab> gene <tab> gene ...`` (the Broad's format, read by
GSEA, gseapy and Enrichr). Each collection carries a version label written into every output
row that uses it: the file's name (MSigDB and Enrichr put the release there, e.g.
``h.all.v7.0.symbols.gmt``, ``GO_Biological_Process_2021``) and the first 12 hex digits of its
SHA-256, so a result can be traced to the exact file even when a user renames a download.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hccfusion.errors import HccfusionError, name_list

__all__ = ["GeneSetCollection", "GeneSetError", "check_coverage", "read_gmt"]

log = logging.getLogger(__name__)


class GeneSetError(HccfusionError):
    """A GMT file that cannot be read, or a matrix whose genes are in none of its sets."""


@dataclass(frozen=True)
class GeneSetCollection:
    """Gene sets by name, with the collection's name and version label."""

    name: str
    sets: dict[str, list[str]]
    version: str

    def restricted(self, genes) -> dict[str, list[str]]:
        """Every set reduced to ``genes`` (order kept); empty sets dropped."""
        present = set(genes)
        out = {t: [g for g in members if g in present] for t, members in self.sets.items()}
        return {t: m for t, m in out.items() if m}


def read_gmt(path: str | Path, name: str | None = None) -> GeneSetCollection:
    """Read a GMT file; raises :class:`GeneSetError` naming the file when it holds no set."""
    path = Path(path)
    if not path.is_file():
        raise GeneSetError(f"gene-set file {path} does not exist")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GeneSetError(f"gene-set file {path} is not UTF-8 text: {exc}") from exc
    sets: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 3:
            raise GeneSetError(f"gene-set file {path}, line {number}: a GMT line needs a name, a "
                               "description and at least one gene, tab-separated")
        genes = list(dict.fromkeys(g.strip() for g in parts[2:] if g.strip()))
        if parts[0] in sets:
            raise GeneSetError(f"gene-set file {path}: set {parts[0]!r} defined twice")
        sets[parts[0]] = genes
    if not sets:
        raise GeneSetError(f"gene-set file {path} holds no gene set")
    version = f"{path.name} sha256:{hashlib.sha256(data).hexdigest()[:12]}"
    return GeneSetCollection(name=name or path.stem, sets=sets, version=version)


def check_coverage(genes, collection: GeneSetCollection, *, min_size: int = 1,
                   source: str = "expression matrix") -> pd.DataFrame:
    """How many genes of each set the matrix has; warns about the matrix's genes that are in no
    set, errors when no set keeps ``min_size`` genes.

    Gene symbols are compared as they are (HGNC symbols are upper case; a matrix of Ensembl ids
    or of mouse symbols matches nothing and is reported as such). Returns ``term, size,
    n_present``.
    """
    genes = pd.Index(genes)
    universe = {g for members in collection.sets.values() for g in members}
    outside = genes[~genes.isin(list(universe))]
    if len(outside) == len(genes):
        raise GeneSetError(
            f"{source}: none of its {len(genes)} gene(s) is in any set of {collection.version} "
            f"(first genes: {name_list(genes[:5])}); gene symbols (HGNC) are expected")
    if len(outside):
        log.warning("%s: %d of %d gene(s) are in no set of %s (they still count in rankings): "
                    "%s", source, len(outside), len(genes), collection.name, name_list(outside))
    present = set(genes)
    table = pd.DataFrame({
        "term": list(collection.sets),
        "size": [len(m) for m in collection.sets.values()],
        "n_present": [sum(g in present for g in m) for m in collection.sets.values()],
    })
    usable = int((table.n_present >= min_size).sum())
    if usable == 0:
        raise GeneSetError(f"{source}: no set of {collection.version} has {min_size} or more of "
                           f"its genes (largest overlap {int(table.n_present.max())})")
    if usable < len(table):
        log.warning("%s: %d of %d set(s) of %s have fewer than %d of their genes in the matrix "
                    "and are not tested", source, len(table) - usable, len(table),
                    collection.name, min_size)
    return table
