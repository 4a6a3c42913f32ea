# Deep-learning branch (seeds 000 and 003): tumour-centred multiphase crops per patient, a
# cross-fitted ensemble of 3D CNNs trained on training patients only, and its per-patient DL risk
# scores as the feature block `deep` of the recipes; Grad-CAM maps and radiomics correlations.


rule deep_crop:
    input:
        images=expand("results/imaging/{{patient}}/{phase}/image.nii.gz", phase=PHASES),
        masks=expand("results/imaging/{{patient}}/{phase}/mask.nii.gz", phase=PHASES),
        status="results/imaging/{patient}/phase_check.json",
    output:
        crop="results/deep/crops/{patient}.npz",
        status="results/deep/crops/{patient}.json",
    log:
        "logs/deep/crop/{patient}.log",
    benchmark:
        "results/benchmarks/deep_crop/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        deep=config["deep"],
        phases=PHASES,
        on_error=config["on_patient_error"],
    script:
        "../scripts/deep_crop.py"


rule deep_train:
    input:
        crops=per_patient_only("results/deep/crops/{patient}.npz"),
        status=per_patient_only("results/deep/crops/{patient}.json"),
        split="results/splits.tsv",
        clinical=clinical_table,
    output:
        features="results/features/deep.tsv",
        predictions="results/deep/predictions.tsv",
        excluded="results/deep/excluded.tsv",
        history="results/deep/history.tsv",
        weights="results/deep/model/weights.pt",
        sidecar="results/deep/model/weights.pt.json",
    log:
        "logs/deep/train.log",
    benchmark:
        "results/benchmarks/deep_train.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 2
    # Default demo (160 patients, 32 x 48 x 48 mm crops, 18 networks): 817 MB peak, 848 s CPU.
    resources:
        mem_mb=3000,
        runtime=60,
        gres=deep_gpu_request,
    params:
        deep=config["deep"],
        endpoints=config["endpoints"],
    script:
        "../scripts/deep_train.py"


rule deep_explain:
    input:
        crops=per_patient_only("results/deep/crops/{patient}.npz"),
        weights="results/deep/model/weights.pt",
        sidecar="results/deep/model/weights.pt.json",
        deep="results/features/deep.tsv",
        radiomics="results/features/radiomics.tsv",
        split="results/splits.tsv",
    output:
        figures=report(
            directory("results/figures/deep/gradcam"),
            patterns=["{figure}.png"],
            caption="../report/deep_gradcam.rst",
            category="Models",
            subcategory="Deep learning",
        ),
        correlation=report(
            "results/deep/radiomics_correlation.tsv",
            caption="../report/deep_correlation.rst",
            category="Models",
            subcategory="Deep learning",
        ),
    log:
        "logs/deep/explain.log",
    benchmark:
        "results/benchmarks/deep_explain.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        deep=config["deep"],
        endpoints=config["endpoints"],
    script:
        "../scripts/deep_explain.py"
