"""Super-resolution as SR codes train and measure it (issue 14, natural photos): flips and quarter turns of the
training pairs, the generator without batch norm, ICNR-initialised sub-pixel convolutions, and the whole-image
measures of Ledig et al. (2017)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.data.pairs import DihedralAugment, PairSpec, bicubic_downsample, degrade, dihedral, with_pairs
from ganforge.distributed import ShardedMinibatchSampler
from ganforge.errors import UserError
from ganforge.metrics.restoration import BT601_WEIGHTS, SSIM_K1, SSIM_K2
from ganforge.models import config_for
from ganforge.models.srgan import (
    SRResNetGenerator,
    SubPixelUpsample,
    grid_cut,
    modcrop,
    sr_whole_image_table,
)


def images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Random images on 8-bit levels ``(n, 3, h, w)`` in [0, 1]."""
    return torch.randint(0, 256, (n, 3, h, w), generator=torch.Generator().manual_seed(seed)).float() / 255.0


# ----------------------------------------------------------------------------- flips and quarter turns
def test_dihedral_is_the_eight_flips_and_quarter_turns_of_a_square():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    seen = {tuple(dihedral(x, k).flatten().tolist()) for k in range(8)}
    assert len(seen) == 8  # eight distinct images of an asymmetric square
    assert dihedral(x, 0).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert dihedral(x, 1).tolist() == [[2.0, 4.0], [1.0, 3.0]]  # a quarter turn counter-clockwise
    assert dihedral(x, 4).tolist() == [[2.0, 1.0], [4.0, 3.0]]  # a left-right flip


@pytest.mark.parametrize("k", range(8))
@pytest.mark.parametrize("scale", [2, 4])
def test_a_flipped_or_turned_pair_is_still_a_pair(k, scale):
    """degrade(T(HR)) == T(degrade(HR)): the bicubic degradation treats both axes and both directions alike, so
    transforming the target then degrading it gives the transformed input: before rounding to 8 bits equal to
    float rounding (the separable filter sums in another order along a swapped axis), after it equal but for a
    value on a rounding boundary now and then, off by one level."""
    x = images(4, 32, 32, seed=k)
    spec = PairSpec(scale)
    torch.testing.assert_close(bicubic_downsample(dihedral(x, k), scale), dihedral(bicubic_downsample(x, scale), k),
                               rtol=0, atol=1e-6)
    a, b = degrade(dihedral(x, k), spec), dihedral(degrade(x, spec), k)
    assert (a - b).abs().max() <= 1.0001 / 255 and (a != b).float().mean() <= 1e-3


@pytest.mark.parametrize("k", [0, 2, 4, 6])
def test_flips_and_half_turns_keep_pairs_of_non_square_images(k):
    x = images(3, 24, 40, seed=10 + k)
    a, b = degrade(dihedral(x, k), PairSpec(4)), dihedral(degrade(x, PairSpec(4)), k)
    assert (a - b).abs().max() <= 1.0001 / 255 and (a != b).float().mean() <= 1e-3


def test_the_augmentation_draws_per_image_is_seeded_and_keeps_non_square_shapes():
    x = images(64, 8, 8, seed=1)
    aug = DihedralAugment()
    a, b, c = aug(x, 5), aug(x, 5), aug(x, 6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    used = [next(k for k in range(8) if torch.equal(a[i], dihedral(x[i], k))) for i in range(len(x))]
    assert set(used) == set(range(8))  # each image one of the 8, all 8 in use over 64 images
    wide = images(64, 8, 12, seed=2)
    out = aug(wide, 5)
    assert out.shape == wide.shape
    assert all(any(torch.equal(out[i], dihedral(wide[i], k)) for k in (0, 2, 4, 6)) for i in range(len(wide)))


def test_the_sampler_makes_the_input_from_the_augmented_target():
    ds = with_pairs(load_dataset("digits"), "sr2", augment="dihedral")
    plain = with_pairs(load_dataset("digits"), "sr2")
    assert plain.augment is None and ds.augment is not None
    train = torch.from_numpy(ds.split("train"))
    sampler = ShardedMinibatchSampler(train, None, 32, seed=0, condition=ds.condition, augment=ds.augment)
    reference = ShardedMinibatchSampler(train, None, 32, seed=0)
    x, _, low = sampler.next_with_condition()
    raw, _ = reference.next()
    assert torch.allclose(low, degrade((x + 1) / 2, PairSpec(2)) * 2 - 1)  # the pair stays a pair
    assert not torch.equal(x, raw)  # the targets were transformed ...
    assert all(any(torch.equal(x[i], dihedral(raw[i], k)) for k in range(8)) for i in range(len(x)))  # ... each


def test_a_bad_pair_augment_is_one_line(capsys, tmp_path):
    with pytest.raises(UserError, match="pair_augment"):
        config_for(model="srresnet", pair_augment="rotate")
    assert main(["train", "--model", "srresnet", "--data", "digits", "--pairs", "sr2", "--pair-augment", "mirror",
                 "--steps", "1", "--out", str(tmp_path / "r"), "--device", "cpu", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


# ----------------------------------------------------------------------------- norm and ICNR
def test_sr_norm_none_has_no_batch_norm_and_maps_each_image_on_its_own():
    torch.manual_seed(0)
    plain = SRResNetGenerator(3, 4, width=8, blocks=2, norm="none").train()
    batch = SRResNetGenerator(3, 4, width=8, blocks=2, norm="batch").train()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in batch.modules()) == 2 * 2 + 1  # two a block, the long skip
    assert all(m.bias is not None for m in plain.blocks.modules() if isinstance(m, nn.Conv2d))
    x = torch.randn(4, 3, 6, 6)
    # in training mode an image's output depends on its minibatch with batch norm, not without it
    torch.testing.assert_close(plain(x)[:1], plain(x[:1]))
    assert not torch.allclose(batch(x)[:1], batch(x[:2])[:1], atol=1e-4)
    with pytest.raises(UserError, match="sr_norm"):
        config_for(model="srresnet", sr_norm="layer")


def test_icnr_starts_the_sub_pixel_step_at_nearest_neighbour_upsampling():
    torch.manual_seed(0)
    up = SubPixelUpsample(5, init="icnr")
    x = torch.randn(2, 5, 4, 6)
    base = F.conv2d(x, up.conv.weight[::4], up.conv.bias[::4], padding=1)  # one sub-kernel per output channel
    torch.testing.assert_close(up(x), up.act(F.interpolate(base, scale_factor=2, mode="nearest")))
    plain = SubPixelUpsample(5)
    base = F.conv2d(x, plain.conv.weight[::4], plain.conv.bias[::4], padding=1)
    assert not torch.allclose(plain(x), plain.act(F.interpolate(base, scale_factor=2, mode="nearest")), atol=1e-3)
    with pytest.raises(UserError, match="sr_upsample_init"):
        config_for(model="srresnet", sr_upsample_init="orthogonal")


def test_the_generator_builds_from_the_config_options():
    from ganforge.models import DataInfo
    from ganforge.train import build_model

    cfg = config_for(model="srresnet", pairs="sr4", width=8, sr_blocks=1, sr_norm="none", sr_upsample_init="icnr")
    g = build_model(cfg, DataInfo("image", (3, 16, 16))).generator
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    for step in g.upsample:
        w = step.conv.weight
        assert torch.equal(w, w[::4].repeat_interleave(4, dim=0))


# ----------------------------------------------------------------------------- whole-image measures
class ConstantSR(nn.Module):
    """A stand-in SR model whose generator outputs a constant grey ``value`` in [0, 1] at ``scale`` times its
    input's size, and records the input sizes it saw."""

    def __init__(self, value: float, scale: int = 4):
        super().__init__()
        self.spec, self.value, self.seen = PairSpec(scale), value, []
        self.cfg = config_for(model="srresnet", data="digits")
        self.device = torch.device("cpu")
        self.generator = self.forward_generator

    def forward_generator(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape[-2:]))
        n, c, h, w = x.shape
        return torch.full((n, c, h * self.spec.scale, w * self.spec.scale), 2 * self.value - 1)


def test_modcrop_and_grid_cut():
    x = torch.arange(3 * 38 * 45).view(3, 38, 45)
    assert torch.equal(modcrop(x, 4), x[:, :36, :44])
    y = torch.arange(2 * 10 * 13.0).view(1, 2, 10, 13)
    crops = grid_cut(y, 4)
    assert crops.shape == (2 * 3, 2, 4, 4)
    assert torch.equal(crops[4], y[0, :, 4:8, 4:8])


def test_whole_image_measures_on_a_hand_made_case():
    """Two grey photos of odd sizes; the model answers a constant grey 0.5: its PSNR and SSIM on Y are known by
    hand, and each photo is cut to sides divisible by 4 and upscaled whole."""
    values = (60, 200)
    photos = [torch.full((3, 38, 45), values[0], dtype=torch.uint8),
              torch.full((3, 41, 36), values[1], dtype=torch.uint8)]
    model = ConstantSR(0.5)
    table = sr_whole_image_table({"const": model}, photos)
    assert model.seen == [(9, 11), (10, 9)]  # 36x44 and 40x36, each divided by 4, whole
    y_gain = sum(BT601_WEIGHTS)  # Y of a grey v is 16/255 + y_gain v

    def by_hand(v: float) -> tuple[float, float]:
        err = y_gain * abs(0.5 - v)
        mu_x, mu_y = 16 / 255 + y_gain * 0.5, 16 / 255 + y_gain * v
        c1 = SSIM_K1 ** 2
        assert SSIM_K2 > 0  # constant images: the contrast-structure term is c2 / c2 = 1
        return -20 * math.log10(err), (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)

    expected = [by_hand(v / 255) for v in values]
    assert table["const"]["psnr_per_image"] == pytest.approx([e[0] for e in expected], abs=1e-4)
    assert table["const"]["psnr"] == pytest.approx(sum(e[0] for e in expected) / 2, abs=1e-4)
    assert table["const"]["ssim"] == pytest.approx(sum(e[1] for e in expected) / 2, abs=1e-5)
    assert min(table["bicubic"]["psnr_per_image"]) > 100  # bicubic reproduces a constant (to float rounding)
    assert "fid" not in table["const"]  # no features asked for
