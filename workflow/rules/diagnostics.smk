DIAGNOSTIC = f"{RESULTS}/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}/{{cell}}.nc"
DIAGNOSTIC_SET = f"{RESULTS}/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}.nc"


rule diagnose:
    """One diagnostic on one trained cell (two for connectivity), read from its file: never retraining."""
    input:
        inputs_of("diagnostics", DIAGNOSTIC),
    output:
        DIAGNOSTIC,
    params:
        spec=spec_of("diagnostics", DIAGNOSTIC),
    wildcard_constraints:
        diagnostic="[^/]+",
    threads: config["threads"]
    log:
        f"{RESULTS}/logs/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}/{{cell}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}/{{cell}}.tsv"
    conda:
        "../../envs/sciml.yaml"
    shell:
        "python -m sciml diagnose --spec {params.spec:q} --threads {threads} --out {output:q} {input:q} 2> {log:q}"


rule combine_diagnostic:
    """A diagnostic's cells of one (model, problem, strategy) over the grid, beside the regime labels."""
    input:
        inputs_of("diagnostic_sets", DIAGNOSTIC_SET),
    output:
        DIAGNOSTIC_SET,
    params:
        spec=spec_of("diagnostic_sets", DIAGNOSTIC_SET),
    wildcard_constraints:
        diagnostic="[^/]+",
    log:
        f"{RESULTS}/logs/diagnostics/{{diagnostic}}/{{model}}/{{problem}}/{{strategy}}.log",
    conda:
        "../../envs/sciml.yaml"
    shell:
        "python -m sciml combine-diagnostic --spec {params.spec:q} --out {output:q} {input:q} 2> {log:q}"
