# Robustness (ICC) filter: perturbed re-segmentations of training patients, ICC(3,1) per feature.


rule perturb:
    input:
        image="results/imaging/{patient}/{phase}/image.nii.gz",
        mask="results/imaging/{patient}/{phase}/mask.nii.gz",
        original="results/features/radiomics/{patient}_{phase}.tsv",
        params=resolve(config["radiomics"]["params"]),
    output:
        "results/features/perturbed/{patient}_{phase}.tsv",
    log:
        "logs/perturb/{patient}_{phase}.log",
    benchmark:
        "results/benchmarks/perturb/{patient}_{phase}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        robustness=config["robustness"],
    script:
        "../scripts/perturb.py"


rule robustness:
    input:
        split="results/splits.tsv",
        tables=training_perturbations,
    output:
        report(
            "results/features/robustness.tsv",
            caption="../report/robustness.rst",
            category="Radiomics",
        ),
    log:
        "logs/robustness.log",
    benchmark:
        "results/benchmarks/robustness.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        threshold=config["robustness"]["icc_threshold"],
    script:
        "../scripts/robustness.py"


rule second_reader:
    input:
        image="results/imaging/{patient}/{phase}/image.nii.gz",
        original="results/features/radiomics/{patient}_{phase}.tsv",
        mask=reader2_mask,
        params=resolve(config["radiomics"]["params"]),
    output:
        "results/features/readers/{patient}_{phase}.tsv",
    log:
        "logs/second_reader/{patient}_{phase}.log",
    benchmark:
        "results/benchmarks/second_reader/{patient}_{phase}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        seg=config["segmentation"],
        on_error=config["on_patient_error"],
    script:
        "../scripts/second_reader.py"
