"""The Generative Adversarial Metric (GAM; Im et al. 2016, "Generating images with recurrent adversarial
networks", section 4): two trained GANs M_A = (G_A, D_A) and M_B = (G_B, D_B) judged by swapping their
players.

With eps(D(x)) a discriminator's classification error on a set of examples (on real data: the share it calls
fake; on samples: the share it calls real):

    r_test    = eps(D_A(x_test)) / eps(D_B(x_test))          on held-out real data
    r_samples = eps(D_A(G_B(z))) / eps(D_B(G_A(z)))          each D on the other's samples

r_samples < 1: D_A is fooled by G_B's samples less often than D_B by G_A's, so A wins; r_samples > 1: B wins.
The comparison is valid only when the two discriminators are equally good judges of real data, r_test ~ 1;
otherwise the battle is a tie. "~ 1" is ganforge's number, which the paper leaves open: r_test within
[1 / (1 + tolerance), 1 + tolerance], so that swapping A and B gives the same verdict.

D "calls x real" when its logit is > 0 (D(x) = sigmoid(l) > 1/2). Pure functions of logits: ``ganforge gam``
(commands/gam.py) computes the logits from runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ..rundir import finite_or_null

#: A battle is valid when 1 / (1 + t) <= r_test <= 1 + t (ganforge's default t; the paper asks r_test ~ 1).
GAM_TOLERANCE = 0.2


def error_on_real(logits: torch.Tensor) -> float:
    """Share of real examples D calls fake: mean(l <= 0) over logits ``(N,)``."""
    return float((logits <= 0).float().mean())


def error_on_samples(logits: torch.Tensor) -> float:
    """Share of generated examples D calls real: mean(l > 0) over logits ``(N,)``."""
    return float((logits > 0).float().mean())


def error_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` of two error rates; 0 / 0 is 1 (equally perfect), x / 0 is infinite."""
    if denominator == 0:
        return 1.0 if numerator == 0 else math.inf
    return numerator / denominator


@dataclass(frozen=True)
class Battle:
    """One GAM battle of A against B: the four error rates, the two ratios and the verdict ("A", "B" or
    "tie")."""

    error_a_test: float
    error_b_test: float
    error_a_on_b_samples: float
    error_b_on_a_samples: float
    r_test: float
    r_samples: float
    winner: str
    valid: bool

    def to_dict(self) -> dict[str, float | str | bool | None]:
        return finite_or_null(asdict(self))


def gam_winner(r_test: float, r_samples: float, tolerance: float = GAM_TOLERANCE) -> tuple[str, bool]:
    """``(winner, valid)``: "A" when r_samples < 1, "B" when > 1, "tie" when = 1 or when the battle is not
    valid (r_test outside [1 / (1 + tolerance), 1 + tolerance])."""
    valid = r_test > 0 and max(r_test, 1.0 / r_test) <= 1.0 + tolerance
    if not valid or r_samples == 1.0:
        return "tie", valid
    return ("A" if r_samples < 1.0 else "B"), valid


def gam_battle(d_a_test: torch.Tensor, d_b_test: torch.Tensor, d_a_on_b: torch.Tensor, d_b_on_a: torch.Tensor,
               tolerance: float = GAM_TOLERANCE) -> Battle:
    """The battle from four sets of logits ``(N,)``: D_A and D_B on held-out real data, D_A on G_B's samples,
    D_B on G_A's samples."""
    e_a, e_b = error_on_real(d_a_test), error_on_real(d_b_test)
    s_a, s_b = error_on_samples(d_a_on_b), error_on_samples(d_b_on_a)
    r_test, r_samples = error_ratio(e_a, e_b), error_ratio(s_a, s_b)
    winner, valid = gam_winner(r_test, r_samples, tolerance)
    return Battle(e_a, e_b, s_a, s_b, r_test, r_samples, winner, valid)
