"""Differentiable augmentation (DiffAugment, ADA): differentiable, the identity at p = 0, each applied with
probability p, and ADA's p follows the overfitting heuristic r_t toward its target."""

import numpy as np
import pytest
import torch

import ganforge.augment as augment_module
from ganforge.augment import (
    ADA_P_MAX,
    TRANSFORMS,
    AdaptiveAugment,
    ada_adjusted_p,
    ada_colour,
    ada_pipeline,
    augment,
    colour,
    cutout,
    translate,
)
from ganforge.data import load_dataset
from ganforge.errors import UserError
from ganforge.models import DataInfo, config_for
from ganforge.train import Trainer, build_model, train_subset


def images(n=6, c=3, h=8, w=8, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: t.__name__)
def test_each_transformation_is_differentiable_in_the_image(transform):
    x = images().requires_grad_(True)
    torch.manual_seed(0)
    weights = torch.randn(6, 3, 8, 8)
    (transform(x) * weights).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # and the gradient is the exact derivative: compare with a finite difference in double precision
    xd = images().double().requires_grad_(True)
    torch.manual_seed(1)
    assert torch.autograd.gradcheck(lambda t: (torch.manual_seed(1), transform(t))[1], (xd,))


def test_augment_at_p_zero_is_the_identity_and_keeps_the_gradient():
    x = images().requires_grad_(True)
    out = augment(x, 0.0)
    assert out is x
    torch.manual_seed(0)
    assert torch.equal(augment(x.detach(), 1e-12), x.detach())  # p > 0 but no example drawn: unchanged


def test_augment_applies_each_transformation_to_about_p_of_the_images():
    torch.manual_seed(0)
    x = images(n=4000, c=1)
    changed = (augment(x, 0.3) != x).flatten(1).any(1).float().mean().item()
    # an image is left alone only when none of the three transformations is drawn: (1 - p)^3 (a translation
    # by (0, 0) also leaves it unchanged, so the share changed is a little below 1 - 0.7^3 = 0.657)
    assert 0.55 < changed < 0.67


def test_translation_moves_pixels_by_whole_steps_and_cutout_zeroes_a_square():
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(200, 1, 1, 1)
    torch.manual_seed(0)
    shifted = translate(x)
    for img in shifted[:, 0]:
        inside = img != 0
        # every kept pixel is a pixel of the original image, from one common shift
        rows, cols = torch.nonzero(inside, as_tuple=True)
        source = img[inside].long()
        dy, dx = source // 8 - rows, source % 8 - cols
        assert len(set(dy.tolist())) <= 1 and len(set(dx.tolist())) <= 1
        assert (dy.abs() <= 1).all() and (dx.abs() <= 1).all()  # 1/8 of 8 pixels
    holes = (cutout(x + 1.0) == 0)[:, 0]  # (N, 8, 8); x + 1 has no zero of its own
    assert holes.any(dim=(1, 2)).all()
    assert (holes.sum(dim=(1, 2)) <= 16).all()  # at most a 4 x 4 square (half the side)


def test_colour_on_grey_images_changes_brightness_and_contrast_only():
    x = images(n=1, c=1)
    torch.manual_seed(0)
    out = colour(x)
    # an affine map of the pixel values: out = a x + b for one a, b per image
    a, b = np.polyfit(x.flatten().numpy(), out.flatten().numpy(), 1)
    np.testing.assert_allclose(out.flatten().numpy(), a * x.flatten().numpy() + b, atol=1e-5)


# ----------------------------------------------------------------- ADA's own pipeline (--augment-ops ada)
def test_ada_pipeline_is_differentiable_in_the_image_and_the_identity_at_p_zero():
    xd = images(n=4).double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: (torch.manual_seed(3), ada_pipeline(t, 0.8))[1], (xd,))
    x = images(n=200)
    assert augment(x, 0.0, "ada") is x
    torch.manual_seed(0)
    assert torch.equal(augment(x, 1e-12, "ada"), x)  # p > 0 but nothing drawn: every pixel unchanged


def test_ada_whole_pixel_moves_copy_pixels_and_the_rest_reach_about_p_of_the_images(monkeypatch):
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(3000, 1, 1, 1)
    torch.manual_seed(0)
    moved = ada_pipeline(x, 0.5)
    # flips, quarter turns, integer shifts, scaling, rotations, fractional shifts and colour: an image is left
    # alone only when no transformation is drawn (or one drawn is the identity: a flip or turn by 0, a shift 0)
    changed = (moved - x).flatten(1).abs().amax(1) > 1e-4
    assert 0.95 < changed.float().mean() < 1.0
    for name in ("ADA_SCALE_STD", "ADA_ROTATE_MAX", "ADA_FRACTION_STD", "ADA_BRIGHTNESS_STD", "ADA_CONTRAST_STD"):
        monkeypatch.setattr(augment_module, name, 0.0)
    torch.manual_seed(0)
    out = ada_pipeline(x, 0.5)  # only flips, quarter turns, integer shifts and luma flips are left
    values = out.abs().round()
    assert torch.allclose(out.abs(), values, atol=1e-4) and ((values >= 0) & (values <= 63)).all()
    # luma flips negate p/2 of the images; an image stays in place when its flip (p/2), quarter turn (3p/4)
    # and shift (p times 3/4: on 8 pixels each axis moves by one pixel or none, half and half) are all none:
    # (1 - 0.25)(1 - 0.375)(1 - 0.375) = 0.293
    assert abs((out < 0).flatten(1).any(1).float().mean() - 0.25) < 0.03
    moved = ((out.abs() - x).flatten(1).abs().amax(1) > 1e-4).float().mean()
    assert abs(moved - (1 - 0.293)) < 0.03


def test_ada_colour_on_grey_is_an_affine_map_with_the_papers_spreads():
    """out = c (1 - 2 i) (x + b): contrast c = 2^N(0, 0.5^2), brightness b ~ N(0, 0.2^2), luma flip i in {0, 1}
    (each drawn with probability p), and the same as the RGB map on a grey RGB image (hue and saturation
    leave grey alone)."""
    p, n = 0.8, 4000
    x = images(n=n, c=1)
    torch.manual_seed(0)
    out = ada_colour(x, p)
    xm, om = x.flatten(1), out.flatten(1)
    slope = ((xm - xm.mean(1, keepdim=True)) * (om - om.mean(1, keepdim=True))).sum(1) / \
        ((xm - xm.mean(1, keepdim=True)) ** 2).sum(1)
    offset = om.mean(1) - slope * xm.mean(1)
    torch.testing.assert_close(om, slope[:, None] * xm + offset[:, None], atol=1e-4, rtol=0)
    assert abs((slope < 0).float().mean().item() - p / 2) < 0.03  # luma flips
    assert abs(torch.log2(slope.abs()).std().item() - 0.5 * p ** 0.5) < 0.03  # contrast: sd 0.5 sqrt(p)
    assert abs((offset / slope).std().item() - 0.2 * p ** 0.5) < 0.015  # brightness: sd 0.2 sqrt(p)
    torch.manual_seed(0)
    rgb = ada_colour(x.repeat(1, 3, 1, 1), p)
    torch.testing.assert_close(rgb, out.repeat(1, 3, 1, 1), atol=1e-5, rtol=0)


def test_ada_p_moves_up_above_the_target_and_down_below_on_a_scripted_sequence():
    p, trace = 0.0, []
    for r_t in [0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.1, 0.0, 0.95]:
        new = ada_adjusted_p(p, r_t, target=0.6, step=0.1)
        trace.append(round(new, 10))
        p = new
    assert trace == [0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1, 0.0, 0.1]
    assert ada_adjusted_p(0.75, 1.0, 0.6, 0.1) == ADA_P_MAX  # never 1: augmentations must not leak


def test_adaptive_augment_adjusts_every_interval_from_the_mean_sign_of_d_on_reals():
    ada = AdaptiveAugment(target=0.6, interval=2, kimg=1.0, batch_size=4)  # step 4 * 2 / 1000 = 0.008
    confident = torch.tensor([2.0, 1.0, 3.0, 0.5])  # every real image called real: r_t = 1
    unsure = torch.tensor([2.0, -1.0, -3.0, 0.5])  # r_t = 0
    for logits, expected_p, expected_r in [(confident, 0.0, 0.0), (confident, 0.008, 1.0),
                                           (unsure, 0.008, 1.0), (confident, 0.0, 0.5),  # 0.5 < 0.6: down
                                           (confident, 0.0, 0.5), (confident, 0.008, 1.0)]:
        ada.observe(logits)
        ada.step_()
        assert float(ada.p) == pytest.approx(expected_p) and float(ada.r_t) == pytest.approx(expected_r)


def test_ada_run_logs_p_and_r_t_and_resumes_bit_identically(tmp_path):
    options = dict(model="dcgan", data="digits", batch_size=16, width=8, latent_dim=4, sample_every=2,
                   checkpoint_every=2, augment="ada", ada_interval=1, ada_kimg=0.5, ada_target=-0.9)
    straight = Trainer(config_for(steps=4, **options), tmp_path / "a", progress=False)
    straight.fit()
    assert float(straight.model.ada.p) > 0  # r_t above a target of -0.9: p rose
    import json
    records = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all("augment/p" in r and "D/r_t" in r for r in records)
    Trainer(config_for(steps=2, **options), tmp_path / "b", progress=False).fit()
    resumed = Trainer(config_for(steps=4, **options), tmp_path / "b", resume=True, progress=False)
    resumed.fit()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


def test_diffaug_reaches_d_and_gives_g_a_gradient_through_it():
    model = build_model(config_for(model="dcgan", data="digits", width=8, latent_dim=4, augment="diffaug",
                                   augment_p=0.8), DataInfo("image", (1, 8, 8), 10))
    z = model.sample_latent(8, torch.Generator().manual_seed(0))
    x = model.generate(z)
    torch.manual_seed(0)
    seen = model.d_input(x)
    assert not torch.equal(seen, x)
    seen.sum().backward()
    assert all(p.grad is not None for p in model.generator.parameters())


def test_augmentation_is_refused_where_it_cannot_apply():
    with pytest.raises(UserError, match="augment=ada is invalid with points data"):
        build_model(config_for(model="gan", data="ring8", augment="ada"), DataInfo("points", (2,)))
    with pytest.raises(UserError, match="model vae: option augment='diffaug' is invalid"):
        build_model(config_for(model="vae", data="digits", augment="diffaug"), DataInfo("image", (1, 8, 8), 10))
    with pytest.raises(UserError, match="augment_p"):
        config_for(augment="diffaug", augment_p=1.0)


def test_subset_is_fixed_by_its_seed_and_keeps_labels_with_their_images():
    ds = load_dataset("digits")
    x1, y1 = train_subset(ds, 100, 0)
    x2, y2 = train_subset(ds, 100, 0)
    x3, _ = train_subset(ds, 100, 1)
    assert x1.shape == (100, *ds.shape) and np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    full_x, full_y = ds.split("train"), ds.labels["train"]
    index = {full_x[i].tobytes(): full_y[i] for i in range(len(full_x))}
    assert all(index[x.tobytes()] == y for x, y in zip(x1, y1, strict=True))
    assert train_subset(ds, 0, 0)[0] is full_x
    with pytest.raises(UserError, match="subset=100000 is invalid"):
        train_subset(ds, 100000, 0)


def test_a_subset_run_trains_on_the_subset_only(tmp_path):
    trainer = Trainer(config_for(model="dcgan", data="digits", batch_size=16, width=8, latent_dim=4, steps=1,
                                 subset=64, subset_seed=3), tmp_path / "run", progress=False)
    expected, _ = train_subset(trainer.dataset, 64, 3)
    assert torch.equal(trainer.sampler.data.cpu(), torch.from_numpy(expected))
    assert trainer.steps_per_epoch == 4  # 64 images, 16 per step
    assert len(trainer.dataset.split("train")) > 64  # evaluation keeps the whole dataset
