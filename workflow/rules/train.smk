CELL = f"{RESULTS}/cells/{{model}}/{{problem}}/{{strategy}}/{{cell}}.nc"


rule train:
    """Every seed of one grid cell: trained parameters, history, snapshots and status in one NetCDF file."""
    input:
        inputs_of("cells", CELL),
    output:
        CELL,
    params:
        spec=spec_of("cells", CELL),
    threads: config["threads"]
    log:
        f"{RESULTS}/logs/cells/{{model}}/{{problem}}/{{strategy}}/{{cell}}.log",
    conda:
        "../../envs/sciml.yaml"
    shell:
        "python -m sciml train --spec {params.spec:q} --threads {threads} --out {output:q} {input:q} 2> {log:q}"
