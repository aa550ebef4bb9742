"""FID, KID and the Inception-style score equal plain numpy/scipy computations on the same features."""

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import entropy
from sklearn.metrics.pairwise import polynomial_kernel

from ganforge.metrics.fid import RunningStats, feature_stats, fid_from_features, fid_from_stats
from ganforge.metrics.inception_score import inception_score_from_probs
from ganforge.metrics.kid import kid_from_features, kid_subset_indices


def features(seed, n=600, d=24, shift=0.0, scale=1.0):
    mix = np.random.default_rng(1234).standard_normal((d, d)) / np.sqrt(d)  # one distribution shape for all seeds
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) @ mix * scale + shift).astype(np.float32)


def reference_fid(a, b):
    """Heusel et al.'s formula with scipy's general matrix square root."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (0.3, 1.0), (0.0, 1.7), (1.0, 0.5)])
def test_fid_equals_the_frechet_distance_computed_with_scipy_sqrtm(shift, scale):
    real, fake = features(0), features(1, shift=shift, scale=scale)
    assert fid_from_features(real, fake) == pytest.approx(reference_fid(real, fake), rel=1e-4, abs=1e-8)


def test_fid_of_a_feature_set_with_itself_is_zero():
    real = features(2)
    assert abs(fid_from_features(real, real)) < 1e-8 * np.trace(np.cov(real, rowvar=False))


def test_fid_between_diagonal_gaussians_matches_the_closed_form():
    # FID(N(m1, diag a), N(m2, diag b)) = |m1 - m2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
    rng = np.random.default_rng(3)
    m1, m2 = rng.standard_normal(10), rng.standard_normal(10)
    a, b = rng.uniform(0.1, 2, 10), rng.uniform(0.1, 2, 10)
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert fid_from_stats(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_fid_stays_real_and_finite_when_covariances_are_singular():
    real, fake = features(4, n=20, d=64), features(5, n=20, d=64, shift=0.5)  # rank 19 < 64
    value = fid_from_features(real, fake)
    assert np.isfinite(value) and value > 0
    assert abs(fid_from_features(real, real)) < 1e-6


def test_streaming_mean_and_covariance_equal_numpy_on_data_far_from_the_origin():
    x = features(6, n=5000, d=8, shift=1000.0)
    stats = RunningStats(8)
    for start in range(0, len(x), 777):
        stats.add(x[start:start + 777])
    mu, sigma = stats.mean_cov()
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-10)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-6, atol=1e-9)
    mu2, sigma2 = feature_stats(x, batch_size=1000)
    np.testing.assert_allclose(sigma2, sigma, rtol=1e-9)


def reference_kid(real, fake, subsets):
    """Unbiased MMD^2 with sklearn's polynomial kernel (gamma 1/D, coef0 1, degree 3), per subset."""
    d = real.shape[1]
    values = []
    for i, j in subsets:
        x, y = real[i].astype(np.float64), fake[j].astype(np.float64)
        m = len(i)
        kxx = polynomial_kernel(x, x, degree=3, gamma=1.0 / d, coef0=1)
        kyy = polynomial_kernel(y, y, degree=3, gamma=1.0 / d, coef0=1)
        kxy = polynomial_kernel(x, y, degree=3, gamma=1.0 / d, coef0=1)
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2 * kxy.mean())
    return np.mean(values), np.std(values)


def test_kid_equals_unbiased_mmd2_with_sklearns_polynomial_kernel_over_the_same_subsets():
    real, fake = features(7, n=400), features(8, n=300, shift=0.2)
    subsets = kid_subset_indices(len(real), len(fake), num_subsets=20, subset_size=150, seed=5)
    mean, std = kid_from_features(real, fake, num_subsets=20, subset_size=150, seed=5)
    ref_mean, ref_std = reference_kid(real, fake, subsets)
    assert mean == pytest.approx(ref_mean, rel=1e-4)
    assert std == pytest.approx(ref_std, rel=1e-4)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    same_mean, same_std = kid_from_features(features(9, n=1000), features(10, n=1000), num_subsets=10,
                                            subset_size=300)
    diff_mean, _ = kid_from_features(features(9, n=1000), features(10, n=1000, shift=0.5), num_subsets=10,
                                     subset_size=300)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert diff_mean > 10 * max(abs(same_mean), same_std)


@pytest.mark.parametrize("n", [1000, 25])
def test_inception_score_equals_exp_mean_kl_computed_with_scipy_entropy(n):
    """Over Salimans et al.'s parts, rows i n // 10 to (i + 1) n // 10 (n = 25: parts of 2 and 3 rows, not
    np.array_split's 3, 3, 3, 3, 3, 2, ...)."""
    rng = np.random.default_rng(11)
    logits = rng.standard_normal((n, 10)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = []
    for part in (probs[i * n // 10:(i + 1) * n // 10] for i in range(10)):
        p_y = part.mean(0)
        expected.append(np.exp(np.mean([entropy(p, p_y) for p in part])))
    mean, std = inception_score_from_probs(probs, splits=10)
    assert mean == pytest.approx(np.mean(expected), rel=1e-4)
    assert std == pytest.approx(np.std(expected), rel=1e-4)


def test_inception_score_is_k_for_confident_balanced_classes_and_1_for_one_class():
    k = 7
    confident = np.eye(k)[np.arange(700) % k]
    assert inception_score_from_probs(confident, splits=1)[0] == pytest.approx(k, rel=1e-6)
    assert inception_score_from_probs(np.eye(k)[np.zeros(700, int)], splits=1)[0] == pytest.approx(1.0)


def test_kid_of_two_sets_no_larger_than_a_subset_is_the_unbiased_mmd_of_the_whole_sets():
    """Every "subset" would be both sets whole, reshuffled: one estimate, std 0 (no spread to report)."""
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((300, 6)), rng.standard_normal((300, 6)) + 0.3
    k = (x @ x.T / 6 + 1) ** 3, (y @ y.T / 6 + 1) ** 3, (x @ y.T / 6 + 1) ** 3
    expected = ((k[0].sum() - np.trace(k[0])) + (k[1].sum() - np.trace(k[1]))) / (300 * 299) - 2 * k[2].mean()
    assert kid_from_features(x, y) == pytest.approx((expected, 0.0), rel=1e-9, abs=1e-12)
