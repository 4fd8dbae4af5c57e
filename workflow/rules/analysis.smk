ROBUSTNESS = f"{RESULTS}/analysis/robustness/{{model}}/{{problem}}/{{strategy}}"
GUIDANCE = f"{RESULTS}/analysis/guidance"


rule robustness:
    """Sensitivity of one regime dataset's labels to the thresholds, the smoothing and the seeds."""
    input:
        inputs_of("analyses", f"{ROBUSTNESS}.nc"),
    output:
        nc=f"{ROBUSTNESS}.nc",
        csv=f"{ROBUSTNESS}.csv",
    log:
        f"{RESULTS}/logs/analysis/robustness/{{model}}/{{problem}}/{{strategy}}.log",
    conda:
        "../../envs/sciml.yaml"
    params:
        spec=spec_of("analyses", f"{ROBUSTNESS}.nc"),
        stem=lambda wildcards, output: output.nc.removesuffix(".nc"),
    shell:
        "python -m sciml analyse --spec {params.spec:q} --out-stem {params.stem:q} {input:q} 2> {log:q}"


rule guidance:
    """Which strategy beats the baseline in each regime, across every study, with multiple-test corrections."""
    input:
        inputs_of("analyses", f"{GUIDANCE}.nc"),
    output:
        nc=f"{GUIDANCE}.nc",
        csv=report(f"{GUIDANCE}.csv", caption="../report/figure.rst", category="guidance"),
    log:
        f"{RESULTS}/logs/analysis/guidance.log",
    conda:
        "../../envs/sciml.yaml"
    params:
        spec=spec_of("analyses", f"{GUIDANCE}.nc"),
        caption=lambda wildcards: PLAN.captions[f"{GUIDANCE}.nc"],
        stem=lambda wildcards, output: output.nc.removesuffix(".nc"),
    shell:
        "python -m sciml analyse --spec {params.spec:q} --out-stem {params.stem:q} {input:q} 2> {log:q}"
