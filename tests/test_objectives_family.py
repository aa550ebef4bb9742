"""Objectives and regularisers beyond the log loss: WGAN, WGAN-GP, LSGAN, hinge, spectral norm, R1."""

import pytest
import torch
from torch import nn

from ganforge.config import TrainConfig
from ganforge.errors import UserError
from ganforge.models import DataInfo
from ganforge.models.wgan import build_wgan_gp, with_spectral_norm, without_batch_norm
from ganforge.objectives import OBJECTIVES
from ganforge.penalties import clip_weights_, gradient_penalty, r1_penalty, random_interpolates

LOGITS_REAL = torch.tensor([2.0, -1.0])
LOGITS_FAKE = torch.tensor([0.5, -3.0])


@pytest.mark.parametrize("name,d_loss,g_loss", [
    # mean f(G(z)) - mean f(x) = -1.25 - 0.5;  G: -mean f(G(z))
    ("wasserstein", -1.75, 1.25),
    # mean relu(1 - [2, -1]) = (0 + 2) / 2;  mean relu(1 + [0.5, -3]) = (1.5 + 0) / 2;  G as WGAN
    ("hinge", 1.0 + 0.75, 1.25),
    # 1/2 mean([1, 4]) + 1/2 mean([0.25, 9]);  G: 1/2 mean([0.25, 16])
    ("least-squares", 1.25 + 2.3125, 4.0625),
])
def test_objective_pieces_equal_hand_computed_values(name, d_loss, g_loss):
    objective = OBJECTIVES[name]
    assert objective.d_loss(LOGITS_REAL, LOGITS_FAKE).item() == pytest.approx(d_loss)
    assert objective.g_loss(LOGITS_FAKE).item() == pytest.approx(g_loss)


def test_least_squares_optimal_discriminator_is_b_pdata_plus_a_pg_over_their_sum():
    """Mao et al. (2017), Prop. 1 with a=0, b=1: D*(x) = p_data(x) / (p_data(x) + p_g(x)). On three points x,
    real and fake minibatches hold each point as often as p_data and p_g say (14 examples each), D is a table
    of three values, and the objective's own D loss is stationary (hence minimal: it is convex in D) at D*."""
    real_counts, fake_counts = torch.tensor([2, 7, 5]), torch.tensor([6, 3, 5])
    real_x = torch.repeat_interleave(torch.arange(3), real_counts)
    fake_x = torch.repeat_interleave(torch.arange(3), fake_counts)
    d_loss = OBJECTIVES["least-squares"].d_loss

    def loss_of(d):
        return d_loss(d[real_x], d[fake_x])

    d_star = (real_counts / (real_counts + fake_counts)).float().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of(d_star), d_star)
    assert torch.allclose(grad, torch.zeros(3), atol=1e-7), "stationary, hence the minimum"
    for step in (0.01, -0.01):
        assert loss_of(d_star) < loss_of(d_star.detach() + step)
    half = torch.full((3,), 0.5, requires_grad=True)  # D = 1/2 everywhere is optimal only where p_data = p_g
    (grad,) = torch.autograd.grad(loss_of(half), half)
    assert grad[2] == 0 and grad[0] > 0 and grad[1] < 0


class LinearCritic(nn.Module):
    """f(x) = <w, x>: its input gradient is w everywhere, so ||grad f|| = ||w||."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return x.flatten(1) @ self.w


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared_and_differentiable_in_its_weights():
    critic = LinearCritic([3.0, 4.0])  # ||w|| = 5
    x_real, x_fake = torch.randn(7, 2), torch.randn(7, 2)
    penalty = gradient_penalty(critic, x_real, x_fake)
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2)
    (grad_w,) = torch.autograd.grad(penalty, critic.w)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 8 * [0.6, 0.8]
    assert torch.allclose(grad_w, torch.tensor([4.8, 6.4]))


def test_gradient_penalty_is_zero_for_a_one_lipschitz_linear_critic():
    critic = LinearCritic([0.6, 0.8])
    assert gradient_penalty(critic, torch.randn(5, 2), torch.randn(5, 2)).item() == pytest.approx(0.0, abs=1e-10)


def test_interpolates_lie_on_the_segment_between_paired_real_and_fake_examples():
    x_real, x_fake = torch.zeros(1000, 1, 2, 2), torch.ones(1000, 1, 2, 2)
    x_hat = random_interpolates(x_real, x_fake, torch.Generator().manual_seed(0))
    eps = 1 - x_hat[:, 0, 0, 0]
    assert torch.equal(x_hat, (1 - eps).view(-1, 1, 1, 1).expand_as(x_hat)), "one eps per example"
    assert 0 <= eps.min() and eps.max() <= 1 and abs(eps.mean().item() - 0.5) < 0.05  # U[0, 1]


class HalfSquaredNorm(nn.Module):
    """f(x) = 1/2 ||x||^2 + c: grad f(x) = x."""

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return 0.5 * x.flatten(1).square().sum(1) + self.c


def test_r1_penalty_is_half_the_mean_squared_gradient_norm_on_real_data():
    x_real = torch.tensor([[1.0, 2.0], [0.0, 3.0]])  # ||x||^2 = 5, 9
    assert r1_penalty(HalfSquaredNorm(), x_real, torch.zeros(2, 2)).item() == pytest.approx(0.5 * (5 + 9) / 2)


def test_weight_clipping_projects_every_parameter_into_the_box():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-1, 1)
    clip_weights_(net, 0.01)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())
    assert any(p.abs().max() == 0.01 for p in net.parameters())


def test_spectral_norm_makes_every_layer_one_lipschitz_after_power_iterations():
    torch.manual_seed(0)
    net = with_spectral_norm(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Conv2d(1, 2, 3)))
    for _ in range(100):  # one power iteration per forward in training mode
        net[0](torch.randn(2, 6))
    assert torch.linalg.matrix_norm(net[0].weight, 2).item() == pytest.approx(1.0, abs=1e-3)
    assert type(net[2]).__name__.startswith("Parametrized"), "convolutions are normalised too"


def test_a_critic_without_batch_norm_scores_each_example_independently_of_the_batch():
    critic = without_batch_norm(nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1)))
    x = torch.randn(6, 2)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in critic.modules())
    assert torch.allclose(critic(x)[:3], critic(x[:3]))


def test_wgan_gp_refuses_a_non_wasserstein_objective_or_no_penalty():
    data = DataInfo("points", (2,))
    with pytest.raises(UserError, match="objective nonsaturating is invalid: expected wasserstein"):
        build_wgan_gp(TrainConfig(model="wgan-gp"), data)
    with pytest.raises(UserError, match="penalty none is invalid"):
        build_wgan_gp(TrainConfig(model="wgan-gp", objective="wasserstein", penalty="none"), data)


def test_unknown_penalty_is_a_user_error_naming_the_choices():
    with pytest.raises(UserError, match="penalty='l2' is invalid: expected none or gp or r1"):
        TrainConfig(penalty="l2").validate()
