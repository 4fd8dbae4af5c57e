DIAGNOSTIC = f"{RESULTS}/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}/{{cell}}.nc"
DIAGNOSTIC_SET = f"{RESULTS}/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}.nc"


rule diagnose:
    """One diagnostic on one trained cell (two for connectivity), read from its file: never retraining."""
    input:
        inputs_of("diagnostics", DIAGNOSTIC),
    output:
        DIAGNOSTIC,
    log:
        f"{RESULTS}/logs/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}/{{cell}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}/{{cell}}.tsv"
    wildcard_constraints:
        diagnostic="[^/]+",
    conda:
        "../../envs/sciml.yaml"
    threads: config["threads"]
    params:
        spec=spec_of("diagnostics", DIAGNOSTIC),
    shell:
        "python -m sciml diagnose --spec {params.spec:q} --threads {threads} --out {output:q} {input:q} 2> {log:q}"


rule combine_diagnostic:
    """A diagnostic's cells of one (model, problem, strategy) over the grid, beside the regime labels."""
    input:
        inputs_of("diagnostic_sets", DIAGNOSTIC_SET),
    output:
        DIAGNOSTIC_SET,
    log:
        f"{RESULTS}/logs/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}.log",
    wildcard_constraints:
        diagnostic="[^/]+",
    conda:
        "../../envs/sciml.yaml"
    params:
        spec=spec_of("diagnostic_sets", DIAGNOSTIC_SET),
    shell:
        "python -m sciml combine-diagnostic --spec {params.spec:q} --out {output:q} {input:q} 2> {log:q}"
