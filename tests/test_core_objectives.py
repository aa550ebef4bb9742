"""The GAN value function and its two generator objectives (Goodfellow et al. 2014, section 3 and Algorithm 1)."""

import math

import torch

from ganforge.objectives import (
    OBJECTIVES,
    discriminator_loss,
    generator_loss_minimax,
    generator_loss_nonsaturating,
    value_function,
)

LOGITS_REAL = torch.tensor([2.0, -1.0, 0.5, 3.0])
LOGITS_FAKE = torch.tensor([-2.0, 0.0, 1.5, -0.5])


def naive_v(lr, lf):
    return torch.log(torch.sigmoid(lr)).mean() + torch.log(1 - torch.sigmoid(lf)).mean()


def test_discriminator_loss_is_minus_the_value_function():
    expected = -naive_v(LOGITS_REAL, LOGITS_FAKE)
    assert torch.allclose(discriminator_loss(LOGITS_REAL, LOGITS_FAKE), expected, atol=1e-6)
    assert torch.allclose(value_function(LOGITS_REAL, LOGITS_FAKE), -expected, atol=1e-6)


def test_minimax_generator_descends_log_one_minus_d():
    expected = torch.log(1 - torch.sigmoid(LOGITS_FAKE)).mean()
    assert torch.allclose(generator_loss_minimax(LOGITS_FAKE), expected, atol=1e-6)


def test_nonsaturating_generator_ascends_log_d():
    expected = -torch.log(torch.sigmoid(LOGITS_FAKE)).mean()
    assert torch.allclose(generator_loss_nonsaturating(LOGITS_FAKE), expected, atol=1e-6)


def test_value_at_equilibrium_is_minus_log_4():
    """D = 1/2 everywhere (logits 0): V(D, G) = log 1/2 + log 1/2 = -log 4."""
    zeros = torch.zeros(16)
    assert math.isclose(value_function(zeros, zeros).item(), -math.log(4), rel_tol=1e-6)


def test_losses_stay_finite_for_confident_discriminators():
    extreme = torch.tensor([-200.0, 200.0])
    for obj in OBJECTIVES.values():
        assert torch.isfinite(obj.d_loss(extreme, extreme))
        assert torch.isfinite(obj.g_loss(extreme))


def test_minimax_saturates_where_nonsaturating_does_not():
    """Early in training D rejects samples confidently (D(G(z)) ~ 0): log(1 - D) gives G almost no gradient,
    while -log D gives a strong one: the paper's reason for the practical objective."""
    grads = {}
    for name in ("minimax", "nonsaturating"):
        logit = torch.tensor([-10.0], requires_grad=True)
        OBJECTIVES[name].g_loss(logit).backward()
        grads[name] = logit.grad.abs().item()
    assert grads["minimax"] < 1e-4
    assert grads["nonsaturating"] > 0.99
