"""Matched RNA-seq cohort: raw counts with pathway and immune signals planted by the true
linear predictors.

Counts follow a negative binomial (gamma-Poisson) model as assumed by DESeq2/edgeR
(Love et al., Genome Biol 2014;15:550): for gene g and sample j,
``K_gj ~ NB(mean = L_j * q_gj, dispersion phi_g)`` with library size ``L_j`` of 20-40 M reads,
``log2 q_gj = mu_g + sum_s beta_gs * signal_j(endpoint_s)`` and a mean-dispersion trend
``phi_g = (0.06 + 2 / sqrt(mean count)) * lognormal``. The genes are the union of the MSigDB
Hallmark (v7.0) and Charoentong et al. 2017 (28 immune cell types) gene sets; they make up only a
part of each library, as a real transcriptome has ~20 000 genes.

Signals are graded by the patient's TRUE predictors (not the noisy outcomes): ``response`` uses
the standardised logit of the true response probability, ``os`` the standardised true OS linear
predictor (standardised within the matched cohort). For each planted set a random 70 % of its
genes get ``beta = d / 1.6`` with ``d ~ U(0.6, 1.0)``, i.e. a log2 fold change of about d between
the upper and lower halves of a standard-normal signal (their means differ by 1.6). Genes that
belong to no planted set carry no signal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HALLMARK_GMT = "h.all.v7.0.symbols.gmt"
IMMUNE_GMT = "Charoentong2017_28immune.gmt"

# (endpoint, term, direction): "up" = higher in responders (response) or in the high-OS-risk
# group (os). After seed 001's transcriptomic findings.
PLANTED_PATHWAYS = [
    ("response", "HALLMARK_INFLAMMATORY_RESPONSE", "up"),
    ("response", "HALLMARK_TNFA_SIGNALING_VIA_NFKB", "up"),
    ("response", "HALLMARK_IL6_JAK_STAT3_SIGNALING", "up"),
    ("response", "HALLMARK_INTERFERON_ALPHA_RESPONSE", "up"),
    ("os", "HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION", "up"),
    ("os", "HALLMARK_HYPOXIA", "up"),
    ("os", "HALLMARK_GLYCOLYSIS", "up"),
    ("os", "HALLMARK_MYC_TARGETS_V1", "up"),
]
PLANTED_IMMUNE = [
    ("response", "Activated CD8 T cell", "up"),
    ("response", "Natural killer T cell", "up"),
    ("response", "Macrophage", "up"),
    ("response", "Type 2 T helper cell", "up"),
    ("os", "MDSC", "up"),
]
PLANTED_GENE_FRACTION = 0.7
LFC_RANGE = (0.6, 1.0)
HALF_MEAN_GAP = 2.0 * np.sqrt(2.0 / np.pi)  # E[Z | Z > 0] - E[Z | Z < 0] for Z ~ N(0, 1)


def default_genesets_dir() -> Path:
    """``resources/genesets`` of the repository containing this package."""
    return Path(__file__).resolve().parents[3] / "resources" / "genesets"


def read_gmt(path: Path) -> dict[str, list[str]]:
    """Read a GMT file (name, description, genes...) into {name: genes}."""
    sets: dict[str, list[str]] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 3:
            sets[parts[0]] = [g for g in parts[2:] if g]
    return sets


def simulate_counts(patient_ids: list[str], response_logit: np.ndarray, os_lp: np.ndarray,
                    rng: np.random.Generator, genesets_dir: Path | None = None,
                    ) -> dict[str, pd.DataFrame]:
    """Simulate counts and return the output tables of ``expression/``.

    Returns ``counts`` (gene + one integer column per sample), ``samples``,
    ``planted_pathways`` and ``planted_immune``.
    """
    gdir = Path(genesets_dir) if genesets_dir is not None else default_genesets_dir()
    hallmark = read_gmt(gdir / HALLMARK_GMT)
    immune = read_gmt(gdir / IMMUNE_GMT)
    genes = sorted({g for s in (*hallmark.values(), *immune.values()) for g in s})
    index = {g: i for i, g in enumerate(genes)}
    n_genes, n = len(genes), len(patient_ids)

    def standardise(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, float)
        sd = v.std()
        return (v - v.mean()) / sd if sd > 0 else np.zeros_like(v)

    signal = {"response": standardise(response_logit), "os": standardise(os_lp)}
    beta = {ep: np.zeros(n_genes) for ep in signal}
    planted = [(ep, term, d, hallmark[term]) for ep, term, d in PLANTED_PATHWAYS] + \
              [(ep, term, d, immune[term]) for ep, term, d in PLANTED_IMMUNE]
    for ep, _term, direction, members in planted:
        members = sorted(set(members))
        k = int(round(PLANTED_GENE_FRACTION * len(members)))
        chosen = rng.choice(members, size=k, replace=False)
        sign = 1.0 if direction == "up" else -1.0
        for g in chosen:
            b = sign * rng.uniform(*LFC_RANGE) / HALF_MEAN_GAP
            i = index[g]
            beta[ep][i] = b if abs(b) > abs(beta[ep][i]) else beta[ep][i]

    mu = rng.normal(3.5, 2.0, n_genes)  # log2 CPM
    lib = rng.uniform(20e6, 40e6, n)
    log2q = mu[:, None] + beta["response"][:, None] * signal["response"][None, :] \
        + beta["os"][:, None] * signal["os"][None, :]
    mean = lib[None, :] * np.exp2(log2q) / 1e6
    typical = np.exp2(mu) * lib.mean() / 1e6
    phi = (0.06 + 2.0 / np.sqrt(typical)) * rng.lognormal(0.0, 0.4, n_genes)
    shape = 1.0 / phi[:, None]
    lam = rng.gamma(shape, mean / shape)
    counts = rng.poisson(lam).astype(np.int64)

    sample_ids = [f"{pid}-01A" for pid in patient_ids]
    counts_df = pd.DataFrame(counts, columns=sample_ids)
    counts_df.insert(0, "gene", genes)
    return {
        "counts": counts_df,
        "samples": pd.DataFrame({"sample_id": sample_ids, "patient_id": patient_ids}),
        "planted_pathways": pd.DataFrame(PLANTED_PATHWAYS,
                                         columns=["endpoint", "term", "direction"]),
        "planted_immune": pd.DataFrame(PLANTED_IMMUNE,
                                       columns=["endpoint", "cell_type", "direction"]),
    }
