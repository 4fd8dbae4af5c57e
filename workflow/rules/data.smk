DATA = f"{RESULTS}/data/{{problem}}/{{product}}/{{key}}.nc"


rule data:
    """One data product of a problem (reference solution, collocation set, sample pool) for one axis value."""
    output:
        DATA,
    log:
        f"{RESULTS}/logs/data/{{problem}}/{{product}}/{{key}}.log",
    conda:
        "../../envs/sciml.yaml"
    params:
        spec=spec_of("data", DATA),
    shell:
        "python -m sciml data --spec {params.spec:q} --out {output:q} 2> {log:q}"
