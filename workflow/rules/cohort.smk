# Cohort level: the development / internal / external partition.


checkpoint split:
    input:
        clinical=clinical_table,
        patients=patient_sheet,
        excluded="results/qc/excluded.tsv",
    output:
        report(
            "results/splits.tsv",
            caption="../report/splits.rst",
            category="Cohort",
        ),
    log:
        "logs/split.log",
    benchmark:
        "results/benchmarks/split.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        split=config["split"],
        phases=PHASES,
    script:
        "../scripts/split.py"
