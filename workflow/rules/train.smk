CELL = f"{RESULTS}/cells/{{model}}/{{problem}}/{{strategy}}/{{cell}}.nc"


rule train:
    """Every seed of one grid cell: trained parameters, history, snapshots and status in one NetCDF file."""
    input:
        inputs_of("cells", CELL),
    output:
        CELL,
    log:
        f"{RESULTS}/logs/cells/{{model}}/{{problem}}/{{strategy}}/{{cell}}.log",
    # wall and CPU seconds and peak memory of every job, summed up by `python -m sciml costs` (docs/BENCHMARKS.md)
    benchmark:
        f"{RESULTS}/benchmarks/cells/{{model}}/{{problem}}/{{strategy}}/{{cell}}.tsv"
    conda:
        "../../envs/sciml.yaml"
    threads: config["threads"]
    params:
        spec=spec_of("cells", CELL),
        # how often a job checkpoints does not change its result: a function of `output`, so that Snakemake
        # leaves it out of the params that trigger reruns. The checkpoint (CELL.ckpt) is no output: a rerun
        # after a kill finds it and goes on from it. Nor is the job's lock (CELL.nc.lock, sciml.training.checkpoint.cell_lock),
        # which stops a second trainer of the cell, from another run on the same results folder, at once.
        checkpoint_every=lambda wildcards, output: PLAN.checkpoint_every,
    shell:
        "python -m sciml train --spec {params.spec:q} --threads {threads} --checkpoint-every {params.checkpoint_every} "
        "--out {output:q} {input:q} 2> {log:q}"
