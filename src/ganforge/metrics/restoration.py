"""Image restoration measures (super-resolution): PSNR, SSIM, a perceptual distance in a network's features, and
the FID of the restored set against the true set in those features.

All take images float ``(N, C, H, W)`` in [0, 1] (``data_range`` 1) and give one value per image; tables
report their means, as the SR literature does (Ledig et al. 2017, Table 1). For colour images PSNR and SSIM
are computed on the luminance channel Y of ITU-R BT.601 (``rgb2ycbcr``'s Y, in [16/255, 235/255]), the SR
convention; single-channel images are used as they are.

SSIM is the one of Wang et al. (2004) as scikit-image's ``structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1)`` computes it: local means, variances and covariance
under a Gaussian window (sigma 1.5, truncated at 3.5 sigma: 11x11), K1 = 0.01, K2 = 0.03, averaged over the
pixels whose whole window lies inside the image (a 5-pixel border is left out). Images smaller than 11 pixels a
side have no such pixel: their SSIM is NaN.

Border: super-resolution papers measure PSNR and SSIM on the image with a strip as wide as the scale factor
removed from each side (Ledig et al. 2017: "center-cropped, removal of a 4-pixel wide strip from each border"
at x4), where an upsampler has no neighbours beyond the edge; ``restoration_measures(..., border=b)`` does the
same (``border`` 0: the whole image). The perceptual distance and FID always see the whole image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import UserError
from .fid import fid_from_features

#: BT.601 luma weights of R, G, B for [0, 1] input, and the offset: Y = 16/255 + (w . rgb)
BT601_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
BT601_OFFSET = 16.0 / 255.0
SSIM_SIGMA, SSIM_TRUNCATE, SSIM_K1, SSIM_K2 = 1.5, 3.5, 0.01, 0.03


def luminance(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB in [0, 1] -> BT.601 luma ``(N, 1, H, W)``; ``(N, 1, H, W)`` passes unchanged."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(BT601_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True) + BT601_OFFSET


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image ``(N,)`` in dB: ``10 log10(data_range^2 / MSE)`` (on luminance for
    colour); infinite for identical images."""
    x, y = luminance(x.double()), luminance(y.double())
    mse = (x - y).pow(2).flatten(1).mean(1)
    return (10.0 * torch.log10(data_range ** 2 / mse)).float()


def _gaussian_window(device: torch.device) -> torch.Tensor:
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # 5: an 11-tap window
    t = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    w = torch.exp(-0.5 * (t / SSIM_SIGMA) ** 2)
    return w / w.sum()


def _local_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Gaussian-weighted mean over each full window: ``(N, C, H, W)`` -> ``(N, C, H - 10, W - 10)`` ("valid")."""
    c = x.shape[1]
    x = F.conv2d(x, w.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, w.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean structural similarity per image ``(N,)`` (on luminance for colour), as scikit-image computes it
    with a Gaussian window and population (co)variances (module docstring); NaN below 11x11."""
    x, y = luminance(x.double()), luminance(y.double())
    w = _gaussian_window(x.device)
    if min(x.shape[-2:]) < len(w):
        return torch.full((len(x),), float("nan"))
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = _local_mean(x, w), _local_mean(y, w)
    var_x = _local_mean(x * x, w) - mu_x ** 2  # E[x^2] - E[x]^2: population variance under the window
    var_y = _local_mean(y * y, w) - mu_y ** 2
    cov = _local_mean(x * y, w) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1).float()


def shave(x: torch.Tensor, border: int) -> torch.Tensor:
    """``x (N, C, H, W)`` without a ``border``-pixel strip on each side: ``(N, C, H - 2 border, W - 2 border)``
    (``x`` itself when ``border`` is 0)."""
    if border < 0 or 2 * border >= min(x.shape[-2:]):
        raise UserError(f"border {border}: expected 0 <= border < half of the image side {min(x.shape[-2:])}")
    return x[..., border:x.shape[-2] - border, border:x.shape[-1] - border] if border else x


def perceptual_distance(features_x: torch.Tensor, features_y: torch.Tensor) -> torch.Tensor:
    """Euclidean distance per image ``(N,)`` between feature vectors ``(N, D)`` of two image sets (e.g. a
    domain classifier's penultimate features of super-resolved and true images): lower is closer."""
    return (features_x.double() - features_y.double()).norm(dim=1).float()


def restoration_measures(restored: torch.Tensor, truth: torch.Tensor, features=None,
                         batch_size: int = 1000, truth_features: torch.Tensor | None = None,
                         border: int = 0) -> dict[str, float]:
    """``{"psnr", "ssim"[, "perceptual", "fid"]}`` of ``restored`` vs ``truth`` (both float ``(N, C, H, W)`` in
    [0, 1]): PSNR, SSIM and the perceptual distance are means over the images, PSNR and SSIM on the images
    without a ``border``-pixel strip on each side (:func:`shave`); with ``features`` (images ->
    ``(N, D)``), ``fid`` is the Fréchet distance between the feature sets of all restored and all true images
    (a set-level measure: how far the restored images' distribution is from the true one, pairing ignored).
    ``truth_features`` ``(N, D)``, when given, are ``features(truth)`` computed once by the caller."""
    psnrs, ssims = [], []
    for s in range(0, len(truth), batch_size):
        a, b = shave(restored[s:s + batch_size], border), shave(truth[s:s + batch_size], border)
        psnrs.append(psnr(a, b))
        ssims.append(ssim(a, b))
    p, q = torch.cat(psnrs), torch.cat(ssims)
    values = {"psnr": float(p[torch.isfinite(p)].mean()) if bool(torch.isfinite(p).any()) else math.inf,
              "ssim": float(q.mean())}
    if features is not None:
        f_restored = features(restored)
        f_truth = features(truth) if truth_features is None else truth_features
        values["perceptual"] = float(perceptual_distance(f_restored, f_truth).mean())
        if len(truth) >= 2:
            values["fid"] = fid_from_features(f_truth, f_restored)
    return values
