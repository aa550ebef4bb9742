"""The 2014 paper's theory, checked numerically: Proposition 1 (D*), Theorem 1 (C(G) = -log 4 + 2 JSD)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, stats
from scipy.spatial.distance import jensenshannon

from ganforge.viz import theory
from ganforge.viz.lab1d import discriminator_on_grid, fit_discriminator, torch_threads

X = np.linspace(-30.0, 38.0, 40001)  # wide enough that every density below has < 1e-12 mass outside


def normal(mean, std):
    """N(mean, std^2) density for floats (fast inside scipy's quad) and arrays; checked against scipy below."""
    return lambda x: np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


P_DATA = normal(4.0, 0.5)
GENERATORS = {
    "N(3, 1)": normal(3.0, 1.0),
    "N(4, 0.5) shifted to 6": normal(6.0, 0.5),
    "bimodal": lambda x: 0.5 * normal(-2.0, 0.5)(x) + 0.5 * normal(2.0, 0.5)(x),
    "wide N(4, 3)": normal(4.0, 3.0),
}


def test_optimal_discriminator_maximises_a_log_y_plus_b_log_1_minus_y():
    """Proposition 1's pointwise argument: y -> a log y + b log(1 - y) peaks at a / (a + b)."""
    rng = np.random.default_rng(0)
    for a, b in rng.uniform(0.01, 3.0, size=(10, 2)):
        res = optimize.minimize_scalar(lambda y, a=a, b=b: -(a * math.log(y) + b * math.log(1 - y)),
                                       bounds=(1e-9, 1 - 1e-9), method="bounded", options={"xatol": 1e-10})
        assert theory.optimal_discriminator(np.array([a]), np.array([b]))[0] == pytest.approx(res.x, abs=1e-6)


def test_optimal_discriminator_beats_every_perturbed_discriminator():
    p_g = GENERATORS["N(3, 1)"](X)
    p_data = P_DATA(X)
    d_star = theory.optimal_discriminator(p_data, p_g)
    best = theory.value_function(d_star, p_data, p_g, X)
    rng = np.random.default_rng(1)
    for _ in range(20):
        d = np.clip(d_star + rng.normal(0, 0.05, size=X.shape), 1e-6, 1 - 1e-6)
        assert theory.value_function(d, p_data, p_g, X) < best


@pytest.mark.parametrize("name", ["gauss", "bimodal"])
def test_at_pg_equal_pdata_D_star_is_one_half_and_C_is_minus_log_4(name):
    p = P_DATA(X) if name == "gauss" else GENERATORS["bimodal"](X)
    assert np.array_equal(theory.optimal_discriminator(p, p), np.full_like(X, 0.5))
    assert theory.virtual_training_criterion(p, p, X) == pytest.approx(-math.log(4), abs=1e-8)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_criterion_gap_equals_twice_jsd_computed_independently(name):
    """Theorem 1: C(G) + log 4 = 2 JSD(p_data || p_g); the JSD here comes from scipy's adaptive quadrature on
    the closed-form densities, not from ganforge's grid. Tolerance 1e-6 nats."""
    p, q = P_DATA, GENERATORS[name]

    def jsd_integrand(x):
        a, b = p(x), q(x)  # KL(p || m) / 2 + KL(q || m) / 2 with m = (a + b) / 2, written without forming m
        return 0.5 * (a * math.log(2 * a / (a + b)) if a > 0 else 0.0) + \
            0.5 * (b * math.log(2 * b / (a + b)) if b > 0 else 0.0)

    pieces = np.linspace(-30, 38, 69)  # quad per unit interval: the integrand has narrow peaks
    jsd_quad = sum(integrate.quad(jsd_integrand, a, b, epsabs=1e-13, epsrel=1e-12)[0]
                   for a, b in zip(pieces[:-1], pieces[1:], strict=True))
    c_of_g = theory.virtual_training_criterion(p(X), q(X), X)
    assert c_of_g + math.log(4) == pytest.approx(2 * jsd_quad, abs=1e-6)
    assert theory.jensen_shannon_divergence(p(X), q(X), X) == pytest.approx(jsd_quad, abs=1e-6)
    assert 0 < jsd_quad < math.log(2)


def test_value_of_D_star_equals_the_criterion():
    p, q = P_DATA(X), GENERATORS["N(3, 1)"](X)
    assert theory.value_function(theory.optimal_discriminator(p, q), p, q, X) == pytest.approx(
        theory.virtual_training_criterion(p, q, X), abs=1e-10)


def test_jsd_matches_scipy_on_a_discretised_pair():
    """On a fine grid, the continuous JSD is the discrete JSD of the bin masses (scipy returns its sqrt)."""
    p, q = P_DATA(X), GENERATORS["wide N(4, 3)"](X)
    dx = X[1] - X[0]
    expected = jensenshannon(p * dx, q * dx) ** 2  # natural log by default
    assert theory.jensen_shannon_divergence(p, q, X) == pytest.approx(expected, rel=1e-4)


def test_kl_divergence_of_two_gaussians_matches_closed_form():
    # KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
    expected = math.log(1.0 / 0.5) + (0.25 + 1.0) / 2 - 0.5
    assert theory.kl_divergence(P_DATA(X), GENERATORS["N(3, 1)"](X), X) == pytest.approx(expected, abs=1e-8)


def test_gaussian_kde_matches_scipy():
    samples = np.random.default_rng(2).normal(1.0, 2.0, size=500)
    x = np.linspace(-6, 8, 300)
    expected = stats.gaussian_kde(samples)(x)  # Scott's rule, as ours by default
    np.testing.assert_allclose(theory.gaussian_kde_density(samples, x), expected, rtol=1e-10, atol=1e-14)


def test_mixture_density_integrates_to_one_and_matches_scipy():
    d = theory.gaussian_mixture_density(X, [-2.0, 2.0], 0.5)
    expected = 0.5 * stats.norm.pdf(X, -2, 0.5) + 0.5 * stats.norm.pdf(X, 2, 0.5)
    np.testing.assert_allclose(d, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(GENERATORS["bimodal"](X), expected, rtol=1e-12, atol=1e-300)
    assert theory.trapezoid(d, X) == pytest.approx(1.0, abs=1e-9)


# ----------------------------------------------------------------- trained discriminators (a few seconds each)
def _affine_generator(mean: float, std: float, seed: int):
    """A fixed G: x = mean + std * z with z ~ N(0, 1), so p_g = N(mean, std^2) in closed form."""
    gen = torch.Generator().manual_seed(seed)
    return lambda n: mean + std * torch.randn(n, 1, generator=gen)


def test_discriminator_trained_to_convergence_matches_D_star_for_a_fixed_generator():
    """Proposition 1 by training: against a fixed G with p_g = N(3, 1), a D trained (1000 Adam steps,
    minibatches of 512 fresh samples each) matches D* = p_data / (p_data + p_g) to within 0.07 everywhere
    p_data + p_g is at least 5% of its peak, and to within 0.02 on average there."""
    with torch_threads(1):
        d_net = fit_discriminator(_affine_generator(4.0, 0.5, 1), _affine_generator(3.0, 1.0, 2), seed=0)
    x = np.linspace(-1, 7, 401)
    p_data, p_g = P_DATA(x), GENERATORS["N(3, 1)"](x)
    mass = p_data + p_g
    where = mass >= 0.05 * mass.max()
    err = np.abs(discriminator_on_grid(d_net, x) - theory.optimal_discriminator(p_data, p_g))[where]
    assert err.max() < 0.07
    assert err.mean() < 0.02
    # and the trained D nearly attains the maximum C(G) of V(D, G) (never more, up to integration error)
    v = theory.value_function(discriminator_on_grid(d_net, X), P_DATA(X), GENERATORS["N(3, 1)"](X), X)
    c = theory.virtual_training_criterion(P_DATA(X), GENERATORS["N(3, 1)"](X), X)
    assert c - 0.01 < v <= c + 1e-9


def test_discriminator_trained_against_a_perfect_generator_is_one_half_and_V_is_minus_log_4():
    """At p_g = p_data no D can do better than 1/2: trained, it stays within 0.05 of 1/2 where the data is,
    and V(D, G) is within 0.005 of -log 4."""
    with torch_threads(1):
        d_net = fit_discriminator(_affine_generator(4.0, 0.5, 3), _affine_generator(4.0, 0.5, 4), seed=0)
    x = np.linspace(3.0, 5.0, 201)  # +- 2 std
    assert np.abs(discriminator_on_grid(d_net, x) - 0.5).max() < 0.05
    v = theory.value_function(discriminator_on_grid(d_net, X), P_DATA(X), P_DATA(X), X)
    assert v == pytest.approx(-math.log(4), abs=0.005)
