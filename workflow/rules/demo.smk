# The built-in synthetic demo cohort (hccfusion.demo): images, masks, clinical data, truth.


checkpoint demo_cohort:
    output:
        directory(config["demo"]["out"]),
    log:
        "logs/demo_cohort.log",
    benchmark:
        "results/benchmarks/demo_cohort.tsv"
    conda:
        "../../envs/demo.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        seed=config["demo"]["seed"],
        scale=config["demo"]["scale"],
    script:
        "../scripts/demo_cohort.py"
