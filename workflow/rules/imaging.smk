# Per patient x phase: de-identified scan and its tumour mask (provided, box prompt or MedSAM),
# checked; per patient: agreement of the phases' masks and a QC picture.


rule ingest:
    input:
        unpack(scan_inputs),
    output:
        image="results/imaging/{patient}/{phase}/image.nii.gz",
        mask="results/imaging/{patient}/{phase}/mask.nii.gz",
        status="results/imaging/{patient}/{phase}/ingest.json",
    log:
        "logs/ingest/{patient}_{phase}.log",
    benchmark:
        "results/benchmarks/ingest/{patient}_{phase}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
        gres=gpu_request,
    params:
        series=phase_series,
        boxes=box_prompt,
        missing=scan_missing,
        seg=config["segmentation"],
        on_error=config["on_patient_error"],
    script:
        "../scripts/ingest.py"


rule patient_qc:
    input:
        images=expand("results/imaging/{{patient}}/{phase}/image.nii.gz", phase=PHASES),
        masks=expand("results/imaging/{{patient}}/{phase}/mask.nii.gz", phase=PHASES),
        status=expand("results/imaging/{{patient}}/{phase}/ingest.json", phase=PHASES),
    output:
        status="results/imaging/{patient}/phase_check.json",
        png=report(
            "results/qc/overlays/{patient}.png",
            caption="../report/overlays.rst",
            category="Imaging QC",
            subcategory="Overlays",
            labels={"patient": "{patient}"},
        ),
    log:
        "logs/patient_qc/{patient}.log",
    benchmark:
        "results/benchmarks/patient_qc/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=5,
    params:
        phases=PHASES,
        on_error=config["on_patient_error"],
    script:
        "../scripts/patient_qc.py"


rule imaging_qc:
    input:
        ingest=per_patient("results/imaging/{patient}/{phase}/ingest.json"),
        phase_check=per_patient_only("results/imaging/{patient}/phase_check.json"),
    output:
        qc=report(
            "results/qc/imaging_qc.tsv",
            caption="../report/imaging_qc.rst",
            category="Imaging QC",
        ),
        segmentation=report(
            "results/qc/segmentation.tsv",
            caption="../report/segmentation.rst",
            category="Imaging QC",
        ),
    log:
        "logs/imaging_qc.log",
    benchmark:
        "results/benchmarks/imaging_qc.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/imaging_qc.py"
