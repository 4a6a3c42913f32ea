# Cohort level: the development / internal / external partition.


checkpoint split:
    input:
        clinical=clinical_table,
        patients=patient_sheet,
        excluded="results/qc/excluded.tsv",
    output:
        "results/splits.tsv",
    log:
        "logs/split.log",
    conda:
        "../../envs/models.yaml"
    params:
        split=config["split"],
        phases=PHASES,
    script:
        "../scripts/split.py"
