"""Precision/recall, density/coverage, mode coverage and the memorisation check against brute-force references."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import entropy

from ganforge.data.toy import mixture_means, sample_mixture
from ganforge.metrics.memorisation import memorisation_report, nearest_neighbour_grid, nearest_neighbours
from ganforge.metrics.modes import class_coverage, mode_coverage
from ganforge.metrics.prdc import density_coverage, precision_recall


def reference_prdc(real, fake, k):
    """Kynkäänniemi et al. / Naeem et al. by their definitions, with scipy's exact distances; a point on a ball's
    boundary is inside for precision and recall (their code's ``<=``) and outside for density and coverage (the
    ``prdc`` package's ``<``)."""
    d_rr, d_ff, d_rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    r_real = np.sort(d_rr, axis=1)[:, k]  # column 0 is the point itself
    r_fake = np.sort(d_ff, axis=1)[:, k]
    precision = np.mean([(d_rf[:, j] <= r_real).any() for j in range(len(fake))])
    recall = np.mean([(d_rf[i, :] <= r_fake).any() for i in range(len(real))])
    density = sum((d_rf[:, j] < r_real).sum() for j in range(len(fake))) / (k * len(fake))
    coverage = np.mean(d_rf.min(1) < r_real)
    return precision, recall, density, coverage


@pytest.mark.parametrize("shift", [0.0, 0.7, 2.0])
def test_precision_recall_density_coverage_equal_their_definitions(shift):
    rng = np.random.default_rng(0)
    real = rng.standard_normal((500, 8))
    fake = rng.standard_normal((400, 8)) * 0.8 + shift
    p_ref, r_ref, d_ref, c_ref = reference_prdc(real, fake, 3)
    precision, recall = precision_recall(real, fake, k=3)
    assert (precision, recall) == pytest.approx((p_ref, r_ref), rel=1e-4)
    _, _, d_ref5, c_ref5 = reference_prdc(real, fake, 5)
    density, coverage = density_coverage(real, fake, k=5)
    assert (density, coverage) == pytest.approx((d_ref5, c_ref5), rel=1e-4)


@pytest.mark.parametrize("points", ["copies", "lattice"])
def test_exact_ties_follow_the_reference_codes(points):
    """Fakes that copy the real points, and integer points whose distances tie: ties are where ``<`` and ``<=``
    part ways; a copy of the real set has density exactly 1 (Naeem et al.'s code), not (k+1)/k."""
    rng = np.random.default_rng(3)
    if points == "copies":
        real = rng.standard_normal((200, 4))
        fake = real.copy()
    else:
        real, fake = rng.integers(0, 4, (300, 2)).astype(float), rng.integers(0, 4, (250, 2)).astype(float)
    p_ref, r_ref, _, _ = reference_prdc(real, fake, 3)
    _, _, d_ref, c_ref = reference_prdc(real, fake, 5)
    assert precision_recall(real, fake, k=3) == pytest.approx((p_ref, r_ref), abs=1e-12)
    assert density_coverage(real, fake, k=5) == pytest.approx((d_ref, c_ref), abs=1e-12)
    if points == "copies":
        assert density_coverage(real, fake, k=5) == pytest.approx((1.0, 1.0))


def test_a_generator_that_copies_one_mode_has_precision_but_no_recall_or_coverage():
    rng = np.random.default_rng(1)
    real = np.concatenate([rng.standard_normal((300, 2)) * 0.1 + c for c in ([0, 0], [5, 0], [0, 5])])
    fake = rng.standard_normal((300, 2)) * 0.1  # only the first mode
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    assert precision > 0.9 and recall < 0.4 and coverage < 0.4


def test_mode_coverage_counts_modes_with_a_high_quality_sample_within_three_std():
    means, std = mixture_means("ring8")
    rng = np.random.default_rng(2)
    good = np.concatenate([means[m] + 0.5 * std * rng.standard_normal((10, 2)) for m in range(6)])  # 6 modes
    junk = np.zeros((20, 2))  # the centre of the ring: 2 away from every mode
    result = mode_coverage(np.concatenate([good, junk]), means, std)
    assert result["modes_covered"] == 6 and result["num_modes"] == 8
    assert result["high_quality_fraction"] == pytest.approx(60 / 80)
    assert result["mode_counts"] == [10] * 6 + [0, 0]


def test_samples_from_the_data_distribution_cover_all_25_grid_modes_with_997_percent_high_quality():
    means, std = mixture_means("grid25")
    x = sample_mixture("grid25", 20000, np.random.default_rng(3))
    result = mode_coverage(torch.from_numpy(x), means, std)
    assert result["modes_covered"] == 25
    # P(chi_2 <= 9) = 1 - exp(-9/2) = 0.98889 for 2-D isotropic Gaussians
    assert result["high_quality_fraction"] == pytest.approx(1 - np.exp(-4.5), abs=0.003)


def test_class_coverage_kl_equals_scipy_entropy_of_predicted_class_histograms():
    rng = np.random.default_rng(4)
    fake_probs = rng.dirichlet(np.ones(10) * 0.3, size=500) * np.r_[np.ones(7), 0.01, 0.01, 0.01]
    real_probs = rng.dirichlet(np.ones(10), size=800)
    fake_hist = np.bincount(fake_probs.argmax(1), minlength=10)
    real_hist = np.bincount(real_probs.argmax(1), minlength=10)
    result = class_coverage(fake_probs, real_probs)
    assert result["classes_covered"] == int((fake_hist > 0).sum())
    assert result["class_kl"] == pytest.approx(entropy(fake_hist, real_hist), rel=1e-4)


def test_one_class_generator_has_kl_log_k_against_balanced_data():
    real = np.eye(10)[np.arange(1000) % 10]
    result = class_coverage(np.eye(10)[np.full(100, 3)], real)
    assert result["classes_covered"] == 1
    assert result["class_kl"] == pytest.approx(np.log(10), rel=1e-6)


def test_nearest_neighbours_equal_brute_force():
    rng = np.random.default_rng(5)
    q, r = rng.random((300, 49)), rng.random((700, 49))
    dist, idx = nearest_neighbours(q, r, block=64)
    d = cdist(q, r)
    np.testing.assert_array_equal(idx.numpy(), d.argmin(1))
    np.testing.assert_allclose(dist.numpy(), d.min(1), rtol=1e-4)


def test_a_generator_that_copies_training_images_is_flagged_and_a_fresh_sampler_is_not():
    rng = np.random.default_rng(6)
    train, heldout = rng.random((2000, 64)), rng.random((500, 64))
    copies = train[rng.choice(2000, 500)] + 0.001 * rng.standard_normal((500, 64))
    fresh = rng.random((500, 64))
    copied = memorisation_report(copies, train, heldout)
    honest = memorisation_report(fresh, train, heldout)
    assert copied["nn_distance_ratio"] < 0.05 and copied["share_closer_than_heldout_p1"] > 0.99
    assert 0.9 < honest["nn_distance_ratio"] < 1.1 and honest["share_closer_than_heldout_p1"] < 0.05


def test_nearest_neighbour_grid_puts_each_copy_beside_its_training_original():
    rng = np.random.default_rng(7)
    train = (rng.random((50, 1, 4, 4)) * 255).astype(np.uint8)
    fake = torch.from_numpy(train[[3, 17]].astype(np.float32) / 255)
    grid = nearest_neighbour_grid(fake, train, num_neighbours=2, num_rows=2)
    assert grid.shape == (2 * 6 + 2, 3 * 6 + 2, 1)
    # each row: the fake, then its nearest training image (itself), so tiles 0 and 1 are identical
    np.testing.assert_array_equal(grid[2:6, 2:6], grid[2:6, 8:12])


def test_nearest_neighbour_distances_of_close_toy_points_do_not_cancel_to_zero():
    x = sample_mixture("ring8", 2000, np.random.default_rng(8))
    dist, idx = nearest_neighbours(x[:100], x[100:])
    d = cdist(x[:100].astype(np.float64), x[100:].astype(np.float64))
    np.testing.assert_allclose(dist.numpy(), d.min(1), rtol=1e-6)
    assert (dist > 0).all()
