# The built-in synthetic demo cohort (hccfusion.demo): images, masks, clinical data, truth.


checkpoint demo_cohort:
    output:
        directory(config["demo"]["out"]),
    params:
        seed=config["demo"]["seed"],
        scale=config["demo"]["scale"],
    conda:
        "../../envs/demo.yaml"
    log:
        "logs/demo_cohort.log",
    benchmark:
        "results/benchmarks/demo_cohort.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/demo_cohort.py"
