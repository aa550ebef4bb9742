"""Parzen window log-likelihood: the 2014 protocol, a scipy reference and a Gaussian's closed form."""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from ganforge.metrics.parzen import (
    DEFAULT_SIGMAS,
    parzen_evaluate,
    parzen_log_likelihood,
    parzen_log_likelihoods,
    select_parzen_sigma,
)


def reference_parzen(samples, x, sigma):
    """log (1/N) sum_j N(x; mu_j, sigma^2 I), written out with scipy's logsumexp."""
    d = samples.shape[1]
    sq = ((x[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
    return logsumexp(-sq / (2 * sigma**2), axis=1) - np.log(len(samples)) - d * np.log(sigma * np.sqrt(2 * np.pi))


@pytest.mark.parametrize("sigma", [0.1, 0.3, 1.0])
def test_parzen_log_likelihood_equals_scipy_logsumexp_reference(sigma):
    rng = np.random.default_rng(0)
    samples, x = rng.random((300, 50)), rng.random((70, 50))
    ll = parzen_log_likelihood(samples, x, sigma, batch_size=16)
    np.testing.assert_allclose(ll.numpy(), reference_parzen(samples, x, sigma), rtol=1e-6)


def test_all_sigmas_from_one_distance_pass_equal_one_sigma_at_a_time():
    rng = np.random.default_rng(1)
    samples, x = torch.from_numpy(rng.random((200, 30))), torch.from_numpy(rng.random((40, 30)))
    many = parzen_log_likelihoods(samples, x, DEFAULT_SIGMAS)
    for s, sigma in enumerate(DEFAULT_SIGMAS):
        np.testing.assert_allclose(many[s].numpy(), parzen_log_likelihood(samples, x, sigma).numpy(), rtol=1e-10)


def test_the_sigma_grid_is_the_2014_codes_ten_log_spaced_values_from_01_to_1():
    np.testing.assert_allclose(DEFAULT_SIGMAS, np.logspace(-1, 0, 10))


def test_sigma_is_chosen_by_the_first_1000_validation_rows_only():
    rng = np.random.default_rng(2)
    samples = rng.standard_normal((500, 2)) * 0.3
    val = np.concatenate([rng.standard_normal((1000, 2)) * 0.3, rng.standard_normal((1000, 2)) * 50])
    sigma, curve = select_parzen_sigma(samples, val)
    assert sigma == max(curve, key=curve.get)
    assert sigma < 0.5  # the far-away rows after 1,000 would have pushed sigma to 1.0
    assert select_parzen_sigma(samples, val, num_val=2000)[0] == pytest.approx(1.0)


def test_parzen_of_gaussian_samples_matches_the_analytic_expected_log_likelihood():
    # Samples and test data from N(0, s^2 I_D). As N grows, the Parzen window tends to N(0, (s^2 + sigma^2) I),
    # so E log p(x) = -D/2 log(2 pi (s^2 + sigma^2)) - D s^2 / (2 (s^2 + sigma^2)).
    d, s, n, m = 2, 1.0, 10000, 4000
    g = torch.Generator().manual_seed(3)
    samples = torch.randn(n, d, generator=g, dtype=torch.float64) * s
    val = torch.randn(1000, d, generator=g, dtype=torch.float64) * s
    test = torch.randn(m, d, generator=g, dtype=torch.float64) * s
    result = parzen_evaluate(samples, val, test, sigmas=(0.3,))
    v = s**2 + result.sigma**2
    analytic = -d / 2 * math.log(2 * math.pi * v) - d * s**2 / (2 * v)
    assert result.num_test == m and result.std_error > 0
    assert abs(result.mean - analytic) < 3 * result.std_error
