COMPARISON = f"{RESULTS}/comparisons/{{model}}/{{problem}}/{{comparison}}.nc"


rule compare:
    """A strategy against the study's baseline, cell by cell with seeds paired (Wilcoxon signed-rank)."""
    input:
        inputs_of("comparisons", COMPARISON),
    output:
        COMPARISON,
    log:
        f"{RESULTS}/logs/comparisons/{{model}}/{{problem}}/{{comparison}}.log",
    conda:
        "../../envs/sciml.yaml"
    params:
        spec=spec_of("comparisons", COMPARISON),
    shell:
        "python -m sciml compare --spec {params.spec:q} --out {output:q} {input:q} 2> {log:q}"
