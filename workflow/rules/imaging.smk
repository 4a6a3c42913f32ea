# Per patient x phase: read the scan and its mask, check them, write de-identified NIfTI.


rule ingest:
    input:
        image=phase_input("image"),
        mask=phase_input("mask"),
    output:
        image="results/imaging/{patient}/{phase}/image.nii.gz",
        mask="results/imaging/{patient}/{phase}/mask.nii.gz",
        qc="results/imaging/{patient}/{phase}/ingest.json",
    log:
        "logs/ingest/{patient}_{phase}.log",
    benchmark:
        "results/benchmarks/ingest/{patient}_{phase}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        series=phase_series,
        on_error=config["on_patient_error"],
    script:
        "../scripts/ingest.py"


rule imaging_qc:
    input:
        per_patient("results/imaging/{patient}/{phase}/ingest.json"),
    output:
        qc="results/qc/imaging_qc.tsv",
    log:
        "logs/imaging_qc.log",
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/imaging_qc.py"
