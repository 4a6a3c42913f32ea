# The report's own table: time and memory of every benchmarked job of the run, summarised per
# rule after everything else of `rule all` (`snakemake --report results/report.html`).
BENCHMARK_SUMMARY = "results/tables/benchmarks.tsv"


rule benchmark_summary:
    input:
        [f for f in rules.all.rule.input if f != BENCHMARK_SUMMARY],
    output:
        report(
            BENCHMARK_SUMMARY,
            caption="../report/benchmarks.rst",
            category="Reproducibility",
        ),
    log:
        "logs/benchmark_summary.log",
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        folder="results/benchmarks",
        declared=declared_memory(),
    script:
        "../scripts/benchmark_summary.py"
