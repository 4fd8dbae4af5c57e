REGIME = f"{RESULTS}/regimes/{{model}}/{{problem}}/{{strategy}}.nc"


rule aggregate:
    """All cells of one (model, problem, strategy) combined over the grid, with regime labels."""
    input:
        inputs_of("regimes", REGIME),
    output:
        REGIME,
    log:
        f"{RESULTS}/logs/regimes/{{model}}/{{problem}}/{{strategy}}.log",
    conda:
        "../../envs/sciml.yaml"
    params:
        spec=spec_of("regimes", REGIME),
    shell:
        "python -m sciml aggregate --spec {params.spec:q} --out {output:q} {input:q} 2> {log:q}"
