CELL = f"{RESULTS}/cells/{{model}}/{{problem}}/{{strategy}}/{{cell}}.nc"
BATCH = f"{RESULTS}/batches/{{model}}/{{problem}}/{{strategy}}/{{batch}}.nc"
# a cell trained together with others, by its path below cells/ (which TOGETHER lists)
MEMBER = f"{RESULTS}/cells/{{member}}.nc"
TOGETHER = members_pattern(PLAN)


checkpoint train_together:
    """Cells of one shape trained together, as one batch of all their seeds, into one file (one group per cell).

    The file is updated, not rewritten: the job keeps the cells it holds with the same spec and trains the
    others (Snakemake restores it if the job fails). A checkpoint, so that Snakemake looks at the jobs after it
    again once it has run: before, it takes every job downstream of a job that runs to run too, and does not
    look at their own params, which for the jobs it reaches through the `ancient` batch file only is wrong (a
    changed cell spec, or a diagnostic's settings changed in the same run, would be missed)."""
    input:
        inputs_of("batches", BATCH),
    output:
        update(BATCH),
    log:
        f"{RESULTS}/logs/batches/{{model}}/{{problem}}/{{strategy}}/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/batches/{{model}}/{{problem}}/{{strategy}}/{{batch}}.tsv"
    conda:
        "../../envs/sciml.yaml"
    threads: config["threads"]
    params:
        spec=spec_of("batches", BATCH),
        # as for `train` below: a function of `output`, so that it triggers no rerun; the checkpoint is BATCH.ckpt
        checkpoint_every=lambda wildcards, output: PLAN.checkpoint_every,
    shell:
        "python -m sciml train-together --spec {params.spec:q} --threads {threads} "
        "--checkpoint-every {params.checkpoint_every} --out {output:q} {input:q} 2> {log:q}"


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


rule cell_from_batch:
    """A cell trained together with others (`cells_together`), copied out of its batch file into the file of its
    own that every later job reads (seconds). Its own rule so that it asks for no GPU and, under SLURM, runs
    beside snakemake instead of as a SLURM job of its own. The batch file is `ancient`: a batch job that kept
    the cell as it was reruns neither this job nor what was made from the cell."""
    input:
        lambda wildcards: ancient(PLAN.lookup("cells", MEMBER.format(**wildcards)).inputs[0]),
    output:
        MEMBER,
    log:
        f"{RESULTS}/logs/cells/{{member}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/cells/{{member}}.tsv"
    wildcard_constraints:
        member=TOGETHER,
    conda:
        "../../envs/sciml.yaml"
    params:
        spec=spec_of("cells", MEMBER),
    shell:
        "python -m sciml cell-from-batch --spec {params.spec:q} --out {output:q} {input:q} 2> {log:q}"


# a cell trained together matches both rules' outputs; only the copy makes it
ruleorder: cell_from_batch > train


localrules:
    cell_from_batch,
