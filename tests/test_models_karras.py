"""progan (Karras et al. 2018) and stylegan2 (Karras et al. 2020): their layers against hand computations on
fixed tensors, the fade-in's identities, the growth schedule, and resume in the middle of a fade-in."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.augment import augment as augment_images
from ganforge.config import TrainConfig
from ganforge.models import Batch, DataInfo, config_for
from ganforge.models.karras_layers import EqualizedConv2d, EqualizedLinear, minibatch_stddev
from ganforge.models.progan import ProGANDiscriminator, ProGANGenerator, base_and_levels, growth_at
from ganforge.models.stylegan2 import modulated_conv2d, modulated_weights
from ganforge.train import Trainer, build_model


def fixed(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------- StyleGAN2's modulated convolution
def hand_modulated_conv(x, weight, styles, demodulate, eps=1e-8):
    """numpy: w''_{n,o,i,a,b} = s_{n,i} w_{o,i,a,b} / sqrt(sum_{i,a,b} (s_{n,i} w_{o,i,a,b})^2 + eps), then
    out[n,o,y,x] = sum_{i,a,b} w''[n,o,i,a,b] * x_padded[n,i,y+a,x+b], each example with its own kernels."""
    x, weight, styles = (t.double().numpy() for t in (x, weight, styles))
    n, c, h, w = x.shape
    o, _, k, _ = weight.shape
    out = np.zeros((n, o, h, w))
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    for e in range(n):
        kernels = np.empty((o, c, k, k))
        for oc in range(o):
            wm = weight[oc] * styles[e][:, None, None]
            kernels[oc] = wm / math.sqrt((wm ** 2).sum() + eps) if demodulate else wm
        for yy in range(h):
            for xx in range(w):
                out[e, :, yy, xx] = (kernels * xp[e, None, :, yy:yy + k, xx:xx + k]).sum(axis=(1, 2, 3))
    return torch.from_numpy(out)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_modulated_convolution_equals_a_hand_computed_per_example_convolution(demodulate, fused):
    x, weight = fixed(3, 4, 5, 5, seed=1), fixed(6, 4, 3, 3, seed=2)
    styles = fixed(3, 4, seed=3).exp()  # distinct positive scales per example and input channel
    out = modulated_conv2d(x, weight, styles, demodulate=demodulate, fused=fused)
    torch.testing.assert_close(out.double(), hand_modulated_conv(x, weight, styles, demodulate), rtol=1e-5, atol=1e-5)


def test_demodulated_kernels_have_unit_norm_and_unit_variance_inputs_give_unit_variance_outputs():
    weight, styles = fixed(8, 16, 3, 3, seed=4), fixed(2, 16, seed=5).mul(2).exp()
    kernels = modulated_weights(weight, styles)
    torch.testing.assert_close(kernels.square().sum(dim=(2, 3, 4)), torch.ones(2, 8), rtol=1e-5, atol=1e-6)
    x = fixed(2, 16, 66, 66, seed=6)  # i.i.d. N(0, 1) inputs
    for demodulate in (True, False):
        out = modulated_conv2d(x, weight, styles, demodulate=demodulate)[:, :, 1:-1, 1:-1]  # interior: no padding
        var = out.var(dim=(2, 3))  # (N, O) one variance per output map
        if demodulate:
            assert torch.allclose(var, torch.ones_like(var), atol=0.1), var
        else:  # the same outputs scaled by each map's kernel norm: far from 1
            assert (var - 1).abs().max() > 1.0


# ----------------------------------------------------------------- ProGAN's layers
def test_equalised_learning_rate_scales_stored_unit_normal_weights_by_he_constant():
    torch.manual_seed(0)
    conv = EqualizedConv2d(3, 5, 3)
    x = fixed(2, 3, 6, 6, seed=7)
    fan_in = 3 * 3 * 3
    expected = F.conv2d(x, conv.weight * math.sqrt(2 / fan_in), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)
    dense = EqualizedLinear(200, 300)
    assert abs(float(dense.weight.detach().std()) - 1.0) < 0.01  # stored ~ N(0, 1): the scaling happens at run time
    torch.testing.assert_close(dense(x.flatten(1)[:, :1].expand(2, 200)),
                               x.flatten(1)[:, :1].expand(2, 200) @ (dense.weight * math.sqrt(2 / 200)).T + dense.bias)
    mapping = EqualizedLinear(10, 4, gain=1.0, lr_mul=0.01)  # StyleGAN's mapping: weights / 100, lr * 0.01
    z = fixed(3, 10, seed=8)
    torch.testing.assert_close(mapping(z), z @ (mapping.weight * 0.01 / math.sqrt(10)).T + mapping.bias * 0.01)


@pytest.mark.parametrize("group_size", [4, 8, 3])
def test_minibatch_stddev_feature_equals_a_numpy_computation(group_size):
    x = fixed(8, 3, 4, 4, seed=9)
    out = minibatch_stddev(x, group_size).numpy()
    a = x.numpy().astype(np.float64)
    g = {4: 4, 8: 8, 3: 2}[group_size]  # the largest divisor of 8 not above group_size
    groups = len(a) // g
    for i in range(len(a)):
        members = a[[j for j in range(len(a)) if j % groups == i % groups]]  # (g, C, H, W)
        expected = np.sqrt(members.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(out[i, 3], np.full((4, 4), expected), rtol=1e-5)
    np.testing.assert_array_equal(out[:, :3], x.numpy())


def test_growth_schedule_is_a_function_of_images_shown():
    phase, fade = 100, 50
    assert growth_at(0, 3, phase, fade) == (0, 1.0)
    assert growth_at(99, 3, phase, fade) == (0, 1.0)
    assert growth_at(100, 3, phase, fade) == (1, 0.0)  # 8x8 starts fading in
    assert growth_at(125, 3, phase, fade) == (1, 0.5)
    assert growth_at(150, 3, phase, fade) == (1, 1.0)
    assert growth_at(250, 3, phase, fade) == (2, 0.0)
    assert growth_at(10_000, 3, phase, fade) == (3, 1.0)  # the data's size stays
    assert base_and_levels(32) == (4, 3) and base_and_levels(28) == (7, 2) and base_and_levels(8) == (4, 1)


def test_at_alpha_zero_the_grown_networks_compute_exactly_the_smaller_ones():
    torch.manual_seed(0)
    g, d = ProGANGenerator(8, 1, 3, 8), ProGANDiscriminator(1, 3, 8)
    z = fixed(8, 8, seed=10)
    for level in (1, 2, 3):
        smaller = g.forward_at(z, level - 1, 1.0)
        assert torch.equal(g.forward_at(z, level, 0.0), F.interpolate(smaller, scale_factor=2, mode="nearest"))
        assert not torch.equal(g.forward_at(z, level, 0.5), g.forward_at(z, level, 0.0))
        x = fixed(8, 1, 4 * 2 ** level, 4 * 2 ** level, seed=level)
        assert torch.equal(d.forward_at(x, level, 0.0), d.forward_at(F.avg_pool2d(x, 2), level - 1, 1.0))
        assert not torch.equal(d.forward_at(x, level, 0.5), d.forward_at(x, level, 0.0))


def test_progan_schedule_counts_the_images_of_every_rank_under_torchrun(monkeypatch):
    """Two ranks of 8 show D 16 images a step, as one process of 16 does: same level and alpha at each step."""
    import ganforge.models.base as base_module

    data = DataInfo("image", (1, 8, 8), None)
    one = build_model(progan_cfg(batch_size=16), data)
    two = build_model(progan_cfg(batch_size=8), data)
    for step in range(8):
        one.on_step(step, 8)
        monkeypatch.setattr(base_module, "world_size", lambda: 2)
        two.on_step(step, 8)
        monkeypatch.setattr(base_module, "world_size", lambda: 1)
        assert two.growth() == one.growth(), step
    assert one.growth() == (1, 1.0)  # the schedule did move: 8x8 fully in after 96 images


# ----------------------------------------------------------------- training and resume
def progan_cfg(**kw):
    # digits 8x8: 4x4 for 2 steps (32 images of 16), then 8x8 fades in over steps 2..5 (alpha 0, .25, .5, .75)
    return TrainConfig(**{**config_for(model="progan").to_dict(), **dict(
        data="digits", batch_size=16, width=8, latent_dim=8, sample_every=10_000, checkpoint_every=10_000,
        progan_phase_images=32, progan_fade_images=64, g_ema=500.0), **kw})


def test_progan_grows_from_4x4_and_resume_mid_fade_in_is_bit_identical(tmp_path):
    straight = Trainer(progan_cfg(steps=6), tmp_path / "straight", progress=False)
    straight.fit()
    first = Trainer(progan_cfg(steps=3, checkpoint_every=3), tmp_path / "resumed", progress=False)
    first.fit()
    assert first.model.growth() == (1, 0.0)  # the last step ran at 8x8, alpha 0 (step 2)
    resumed = Trainer(progan_cfg(steps=6), tmp_path / "resumed", resume=True, progress=False)
    assert resumed.step == 3
    resumed.model.on_step(resumed.step, 6)
    assert resumed.model.growth() == (1, 0.25)  # mid-fade-in
    resumed.fit()
    assert resumed.model.growth() == (1, 0.75)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for name in straight.optimizers:
        sa, sb = straight.optimizers[name].state_dict()["state"], resumed.optimizers[name].state_dict()["state"]
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)


def test_progan_clears_adams_state_when_a_block_enters_and_when_its_fade_in_ends(tmp_path):
    """As Karras et al.'s code (reset_opt_for_new_lod): at step 2 (8x8 enters, alpha 0) and step 6 (alpha 1)."""
    model = build_model(progan_cfg(), DataInfo("image", (1, 8, 8)))
    assert [model.resets_optimizers(step) for step in range(9)] == [False, False, True, False, False, False,
                                                                    True, False, False]
    trainer = Trainer(progan_cfg(steps=4), tmp_path / "run", progress=False)
    trainer.fit()
    first_conv = next(p for p in trainer.model.generator.parameters())  # used at every level
    for optimizer in trainer.optimizers.values():
        if first_conv in optimizer.state:
            assert float(optimizer.state[first_conv]["step"]) == 2  # steps 2 and 3; the 2 before were cleared
            break
    else:
        raise AssertionError("G's first parameter has no optimizer state")


def test_progan_samples_at_the_data_size_while_small():
    model = build_model(progan_cfg(), DataInfo("image", (1, 8, 8)))
    model.on_step(0, 10)
    model.eval()
    x = model.generate(model.sample_latent(4, torch.Generator().manual_seed(0)))
    assert x.shape == (4, 1, 8, 8)
    assert torch.equal(x, x[:, :, ::2, ::2].repeat_interleave(2, 2).repeat_interleave(2, 3))  # 4x4 blown up


def stylegan_cfg(**kw):
    return TrainConfig(**{**config_for(model="stylegan2").to_dict(), **dict(
        data="digits", batch_size=8, width=8, latent_dim=8, style_mapping_layers=2, sample_every=10_000,
        checkpoint_every=10_000, pl_weight=2.0, pl_every=2, r1_every=2, g_ema=100.0), **kw})


def test_stylegan2_trains_with_lazy_regularisers_and_resumes_bit_identically(tmp_path):
    straight = Trainer(stylegan_cfg(steps=4), tmp_path / "straight", progress=False)
    logs = [straight.train_step() for _ in range(2)]
    assert "D/r1" in logs[0] and "D/r1" not in logs[1]  # lazy: every r1_every D steps
    assert "G/path_length" in logs[0] and "G/path_length" not in logs[1]
    assert all(torch.isfinite(v).all() for step in logs for v in step.values())
    straight.fit()
    first = Trainer(stylegan_cfg(steps=3, checkpoint_every=3), tmp_path / "resumed", progress=False)
    first.fit()
    resumed = Trainer(stylegan_cfg(steps=4), tmp_path / "resumed", resume=True, progress=False)
    resumed.fit()
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert float(straight.model.generator.mapping.w_avg.abs().sum()) > 0  # the mean of w is tracked


def test_stylegan2_truncation_and_style_mixing():
    model = build_model(stylegan_cfg(), DataInfo("image", (1, 8, 8)))
    with torch.no_grad():
        model.generator.mapping.w_avg.normal_()
        model.generator_ema.load_state_dict(model.generator.state_dict())
    model.eval()
    z = model.sample_latent(4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        first, again = model.generate(z), model.generate(z)
        assert torch.equal(first, again)  # eval mode: fixed noise
        model.truncation_psi = 0.0  # every w becomes w_avg: one image
        flat = model.generate(z)
        assert torch.allclose(flat, flat[:1].expand_as(flat))
        model.truncation_psi = 1.0
        g = model.generator_ema
        torch.testing.assert_close(model.style_mix(z, z.flip(0), g.num_ws), first)  # all styles coarse: z's
        torch.testing.assert_close(model.style_mix(z, z.flip(0), 0), first.flip(0))  # all fine: the flipped z's
        mixed = model.style_mix(z, z.flip(0), 2)
        assert not torch.equal(mixed, first) and not torch.equal(mixed, first.flip(0))


def test_stylegan2_d_phase_leaves_g_unchanged_and_a_step_is_finite(tmp_path):
    trainer = Trainer(stylegan_cfg(steps=1, data="digits"), tmp_path / "run", progress=False)
    before = [p.detach().clone() for p in trainer.model.generator.parameters()]
    trainer.model.on_step(0, 1)
    trainer.run_phase(trainer.phases[0])
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.generator.parameters(), strict=True))
    trainer.model.requires_grad_(True)  # as the loop leaves it after an iteration
    x = Batch(trainer.sampler.next()[0], None, trainer.next_latent())
    loss, _ = trainer.model.g_loss(x)
    assert torch.isfinite(loss)


# ----------------------------------------------------------------- the commands on a tiny stylegan2 run
@pytest.fixture(scope="module")
def stylegan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("stylegan2") / "run"
    Trainer(stylegan_cfg(steps=2, pl_weight=0.0), run, progress=False).fit()
    return run


def test_sample_with_truncation_and_the_style_mixing_grid(stylegan_run, tmp_path, capsys):
    from PIL import Image

    from ganforge.cli import main
    from ganforge.images import grid_scale
    from ganforge.run import load_run

    assert main(["sample", str(stylegan_run), "--truncation", "0.7", "--n", "6", "--seed", "1",
                 "--out", str(tmp_path / "t.npy")]) == 0
    run = load_run(stylegan_run)
    x_full, x_trunc = run.sample(6, seed=1), run.sample(6, seed=1, truncation=0.7)
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), x_trunc.numpy())
    assert not torch.equal(x_full, x_trunc)
    spread = lambda x: float(x.std(dim=0).mean())  # noqa: E731
    assert spread(run.sample(64, seed=2, truncation=0.0)) < 1e-5 < spread(run.sample(64, seed=2, truncation=1.0))
    assert main(["latent", "mix", str(stylegan_run), "--rows", "2", "--cols", "3", "--out",
                 str(tmp_path / "mix.png")]) == 0
    scale = grid_scale(8)  # (3 + 1) columns and (2 + 1) rows of 8x8 digits padded by 2
    assert Image.open(tmp_path / "mix.png").size == (scale * (4 * 10 + 2), scale * (3 * 10 + 2))
    assert main(["latent", "mix", str(stylegan_run), "--cutoff", "9", "--out", str(tmp_path / "bad.png")]) == 2
    assert "--cutoff 9: expected an integer from 1 to 3" in capsys.readouterr().err


def test_truncation_and_mixing_refuse_models_without_a_mapping_network(tmp_path, capsys):
    from ganforge.cli import main

    run = tmp_path / "dcgan"
    Trainer(TrainConfig(model="dcgan", data="digits", steps=1, width=8, batch_size=16), run, progress=False).fit()
    assert main(["sample", str(run), "--truncation", "0.7", "--out", str(tmp_path / "s.png")]) == 2
    assert "model dcgan has no mapping network" in capsys.readouterr().err
    assert main(["latent", "mix", str(run), "--out", str(tmp_path / "m.png")]) == 2
    assert "expected stylegan2" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["progan", "stylegan2"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 32, 32), (3, 64, 64)])
def test_both_models_build_for_28_32_and_64_pixel_images(model, shape):
    cfg = TrainConfig(**{**config_for(model=model).to_dict(), "width": 8, "latent_dim": 8})
    net = build_model(cfg, DataInfo("image", shape))
    net.on_step(10**9, 10**9)  # progan fully grown
    net.eval()
    with torch.no_grad():
        x = net.generate(net.sample_latent(4, torch.Generator().manual_seed(0)))
        assert x.shape == (4, *shape)
        assert net.discriminator(x).shape == (4,)


# ----------------------------------------------------------------- --augment diffaug|ada (ADA's own model)
def karras_cfg(model, **kw):
    """A tiny run of either model on 8x8 digits (progan: 4x4 for 2 steps, then 8x8 fades in over 4)."""
    return progan_cfg(**kw) if model == "progan" else stylegan_cfg(**kw)


def record_d_inputs(model):
    """Every image D is handed, in order, and every image G makes (progan's D is called through forward_at)."""
    seen, made = [], []
    d, g = model.discriminator, model.generator
    if model.cfg.model == "progan":
        d_at, g_at = d.forward_at, g.forward_at
        d.forward_at = lambda x, level, alpha: (seen.append(x), d_at(x, level, alpha))[1]
        g.forward_at = lambda z, level, alpha: (made.append(g_at(z, level, alpha)), made[-1])[1]
    else:
        d.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
        synthesis = g.synthesis
        g.synthesis = lambda ws: (made.append(synthesis(ws)), made[-1])[1]
    return seen, made


@pytest.mark.parametrize("augment", ["ada", "diffaug"])
@pytest.mark.parametrize("model", ["progan", "stylegan2"])
def test_every_image_d_sees_is_augmented_and_at_p_zero_is_the_image_itself(model, augment):
    """Real and fake, D's phase (R1's pass) and G's: D is handed the image itself at p = 0, an augmented view at
    p = 0.8. progan mid-fade-in: the reals are faded down first, then augmented (the same pipeline as fakes)."""
    x_real = fixed(8, 1, 8, 8).clamp(-1, 1)
    for p in (0.0, 0.8):
        options = dict(augment=augment, r1_every=1) if model == "stylegan2" else dict(augment=augment)
        net = build_model(karras_cfg(model, **options, augment_p=p), DataInfo("image", (1, 8, 8)))
        if augment == "ada":
            net.ada.p.fill_(p)
        net.on_step(3, 6)  # progan: level 1 (8x8), alpha 0.25
        seen, made = record_d_inputs(net)
        batch = Batch(x_real, None, net.sample_latent(8, torch.Generator().manual_seed(1)))
        torch.manual_seed(5)
        net.d_loss(batch)
        real_as_d_sees_it = x_real
        if model == "progan":
            assert net.growth() == (1, 0.25)
            real_as_d_sees_it = net.real_at_level(x_real)  # faded: (1 - a) up(pool(x)) + a x
            assert not torch.equal(real_as_d_sees_it, x_real)
            torch.manual_seed(5)  # the reals are the first random draw of progan's D loss
            torch.testing.assert_close(seen[0], augment_images(real_as_d_sees_it, p, net.augment_ops), rtol=0, atol=0)
        # D's loss: reals, fakes, then the regulariser's pass (stylegan2: R1 on the reals)
        pairs = [(seen[0], real_as_d_sees_it), (seen[1], made[0])]
        if model == "stylegan2":
            pairs.append((seen[2], x_real))
            # R1 differentiates D(augment(x)) in the clean reals x: its input is x itself (a leaf) or made from x
            assert (seen[2].grad_fn is None) == (p == 0)
        seen.clear(), made.clear()
        net.g_loss(batch)
        pairs.append((seen[0], made[0]))
        for shown, image in pairs:
            assert shown.shape == image.shape
            assert torch.equal(shown, image) == (p == 0)


@pytest.mark.parametrize("model", ["progan", "stylegan2"])
def test_ada_trains_both_models_and_p_follows_r_t(model, tmp_path):
    """With --augment ada every D step moves p by 8 / (0.08 * 1000) = 0.1 toward more augmentation when D's
    r_t (logged) is above the target 0 and toward less when below, within [0, 0.8]; D/r_t and augment/p are
    logged at every step."""
    trainer = Trainer(karras_cfg(model, steps=4, batch_size=8, k_disc=1, augment="ada", ada_interval=1,
                                 ada_kimg=0.08, ada_target=0.0), tmp_path / "run", progress=False)
    trainer.model.ada.p.fill_(0.4)
    trace = [0.4]
    for _ in range(4):
        logs = trainer.train_step()
        assert all(torch.isfinite(v).all() for v in logs.values())
        r_t, p = float(logs["D/r_t"]), float(trainer.model.ada.p)
        assert float(logs["augment/p"]) == pytest.approx(trace[-1])  # the p this step's D saw
        direction = (r_t > 0) - (r_t < 0)
        assert p == pytest.approx(min(max(trace[-1] + 0.1 * direction, 0.0), 0.8))
        trace.append(p)
    assert len(set(round(p, 6) for p in trace)) > 1


def test_stylegan2_with_ada_resumes_bit_identically_with_p_restored(tmp_path):
    options = dict(augment="ada", ada_interval=1, ada_kimg=0.08, ada_target=-0.9)  # p rises 0.1 a step
    straight = Trainer(stylegan_cfg(steps=4, **options), tmp_path / "straight", progress=False)
    straight.fit()
    first = Trainer(stylegan_cfg(steps=3, checkpoint_every=3, **options), tmp_path / "resumed", progress=False)
    first.fit()
    assert float(first.model.ada.p) > 0  # augmentation is on when the run stops and resumes
    resumed = Trainer(stylegan_cfg(steps=4, **options), tmp_path / "resumed", resume=True, progress=False)
    assert float(resumed.model.ada.p) == float(first.model.ada.p)
    resumed.fit()
    assert float(straight.model.ada.p) > 0
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
