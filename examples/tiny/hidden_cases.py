"""The tiny example's hidden case, run by the grader only: Doubler, loaded with weights the grader draws, computes
what the solved Doubler (rebuilt with the layers the submission describes) computes."""

from casekit import built, case, fresh_params, rebuild, same


@case("doubler", "Doubler computes what the reference Doubler computes, on the grader's weights", 1, public=False)
def doubler_computes(ask):
    import torch

    target = built("Doubler")
    x = torch.randn(5, 4, generator=ask.generator)
    ours = rebuild(ask.reference.Doubler(), ask.describe(target)[0].get("modules", {}))
    got = ask.forward(target, x, params=fresh_params(ours, ask.generator))
    same(got[0], ours.eval()(x).detach(), "Doubler's output with the grader's weights")
