FIGURE = f"{RESULTS}/figures/{{family}}/{{name}}"


rule figure:
    """One figure (PNG for the report and the README, PDF for papers) drawn from stored datasets only."""
    input:
        inputs_of("figures", FIGURE),
    output:
        png=report(
            f"{FIGURE}.png",
            caption="../report/figure.rst",
            category="{family}",
            labels={"figure": "{name}"},
        ),
        pdf=f"{FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/figures/{{family}}/{{name}}.log",
    conda:
        "../../envs/sciml.yaml"
    params:
        spec=spec_of("figures", FIGURE),
        caption=lambda wildcards: PLAN.captions[FIGURE.format(**wildcards)],
        stem=lambda wildcards, output: output.png.removesuffix(".png"),
    shell:
        "python -m sciml figure --spec {params.spec:q} --out-stem {params.stem:q} {input:q} 2> {log:q}"


rule figures:
    """Every figure of the configured study, as PNG and PDF (and any deleted result they were made from)."""
    input:
        [f"{stem}.{suffix}" for stem in PLAN.figures for suffix in ("png", "pdf")],
        sorted(MISSING),
