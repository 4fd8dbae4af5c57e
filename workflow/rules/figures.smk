REGIME_FIGURE = f"{RESULTS}/figures/regimes/{{model}}_{{problem}}_{{strategy}}"


rule regime_map:
    """Training-loss and test-error heatmaps of one regime dataset, regime boundaries drawn."""
    input:
        inputs_of("figures", REGIME_FIGURE),
    output:
        png=f"{REGIME_FIGURE}.png",
        pdf=f"{REGIME_FIGURE}.pdf",
    params:
        spec=spec_of("figures", REGIME_FIGURE),
        stem=lambda wildcards, output: output.png.removesuffix(".png"),
    log:
        f"{RESULTS}/logs/figures/regimes/{{model}}_{{problem}}_{{strategy}}.log",
    conda:
        "../../envs/sciml.yaml"
    shell:
        "python -m sciml figure --spec {params.spec:q} --out-stem {params.stem:q} {input:q} 2> {log:q}"


rule figures:
    """Every figure of the configured study, as PNG and PDF."""
    input:
        [f"{stem}.{suffix}" for stem in PLAN.figures for suffix in ("png", "pdf")],
