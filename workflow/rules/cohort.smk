# Cohort level: the development / internal / external partition.


rule split:
    input:
        clinical=clinical_table,
        patients=lambda wc: config["patients"],
        excluded="results/qc/excluded.tsv",
    output:
        "results/splits.tsv",
    params:
        split=config["split"],
        phases=PHASES,
    conda:
        "../../envs/models.yaml"
    log:
        "logs/split.log",
    script:
        "../scripts/split.py"
