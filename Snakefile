# hccfusion: CT radiomics + clinical prognosis for unresectable HCC.
# `snakemake --cores N` runs the whole workflow on the config (default: the built-in demo cohort).
from pathlib import Path

# Only the default config when none is given on the command line: Snakemake would otherwise
# merge a user's recipes and endpoints into the demo's instead of replacing them.
if not config:

    configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/imaging.smk"
include: "workflow/rules/radiomics.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/habitats.smk"
include: "workflow/rules/deep.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/stratify.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/omics.smk"
include: "workflow/rules/paper.smk"


rule all:
    default_target: True
    input:
        "results/tables/performance.tsv",
        "results/tables/stratification.tsv",
        "results/qc/excluded.tsv",
        imaging_outputs,
        habitat_outputs,
        deep_outputs,
        explain_outputs,
        omics_outputs,
        paper_targets,
        "results/tables/benchmarks.tsv",


# After rule all: the benchmark summary waits for everything rule all asks for.
include: "workflow/rules/report.smk"
