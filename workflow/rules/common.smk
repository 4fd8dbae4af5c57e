# Helpers shared by the rules: every job's spec and inputs come from the plan (sciml/plan.py).


wildcard_constraints:
    problem="[^/]+",
    product="[^/]+",
    key="[^/]+",
    model="[^/]+",
    strategy="[^/]+",
    cell="[^/]+",


def spec_of(kind, suffix=""):
    """A params function giving the JSON spec of the job whose key is the first output less ``suffix``."""

    def spec(wildcards, output):
        return PLAN.lookup(kind, output[0].removesuffix(suffix)).spec_json

    return spec


def inputs_of(kind, pattern):
    """An input function giving the inputs the plan lists for the output named by ``pattern``."""

    def inputs(wildcards):
        return list(PLAN.lookup(kind, pattern.format(**wildcards)).inputs)

    return inputs
