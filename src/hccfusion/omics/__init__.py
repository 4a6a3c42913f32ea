"""The transcriptomic branch: imaging risk groups linked to tumour biology (seed 001, Figure 7).

Patients with matched CT and RNA-seq (TCGA-LIHC with TCIA images, or the demo's matched cohort)
are scored by the frozen imaging models; their predicted groups are then compared on expression:

* :mod:`~hccfusion.omics.expression`: the expression matrix, the sample -> patient map and their
  checks; normalised log2 expression;
* :mod:`~hccfusion.omics.groups`: the predicted groups of each recipe and endpoint, oriented so
  that the first group is the one the endpoint is about (predicted responders, high risk);
* :mod:`~hccfusion.omics.de`: differential expression (DESeq2 for counts, a Wilcoxon rank-sum
  test with Benjamini-Hochberg for normalised values) and per-gene Cox rankings;
* :mod:`~hccfusion.omics.genesets`: GMT files, their provenance, and gene coverage checks;
* :mod:`~hccfusion.omics.enrichment`: GSEA prerank, over-representation, leading edges;
* :mod:`~hccfusion.omics.immune`: ssGSEA immune infiltration and group comparisons.
"""
