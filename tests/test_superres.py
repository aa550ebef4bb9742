"""Super-resolution (issue 14): sub-pixel upsampling, PSNR/SSIM against reference computations, low/high pairs
from the data layer, srresnet/srgan through the shared loop, ``ganforge upscale`` and ``ganforge eval``."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import HAS_FASHION
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.data.pairs import LowResCondition, PairSpec, degrade, evaluation_pairs, with_pairs
from ganforge.distributed import ShardedMinibatchSampler
from ganforge.errors import UserError
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.restoration import luminance, psnr, restoration_measures, ssim
from ganforge.models import MODELS, DataInfo, config_for
from ganforge.models.srgan import SRResNetGenerator, pixel_shuffle

TINY_SR = ["--data", "digits", "--pairs", "sr2", "--width", "8", "--sr-blocks", "1", "--batch-size", "8",
           "--no-progress", "--device", "cpu"]


# ----------------------------------------------------------------------------- sub-pixel upsampling
def test_pixel_shuffle_puts_channel_c_r2_plus_i_r_plus_j_at_pixel_i_j():
    x = torch.arange(8.0).view(1, 8, 1, 1)  # two output channels of one 2x2 block each
    out = pixel_shuffle(x, 2)
    assert out.shape == (1, 2, 2, 2)
    assert out[0, 0].tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert out[0, 1].tolist() == [[4.0, 5.0], [6.0, 7.0]]


@pytest.mark.parametrize("r", [2, 3, 4])
def test_pixel_shuffle_equals_torch_reference(r):
    x = torch.randn(3, 2 * r * r, 5, 7, generator=torch.Generator().manual_seed(r))
    assert pixel_shuffle(x, r).shape == (3, 2, 5 * r, 7 * r)
    assert torch.equal(pixel_shuffle(x, r), F.pixel_shuffle(x, r))


@pytest.mark.parametrize("scale", [2, 4])
def test_srresnet_generator_upsamples_by_its_scale(scale):
    g = SRResNetGenerator(3, scale, width=8, blocks=2)
    assert g(torch.zeros(2, 3, 5, 6)).shape == (2, 3, 5 * scale, 6 * scale)


def test_sr_skip_bicubic_starts_exactly_at_bicubic_and_learns_a_residual_over_it():
    torch.manual_seed(0)
    g = SRResNetGenerator(1, 4, width=8, blocks=2, skip="bicubic")
    x = torch.rand(3, 1, 7, 7) * 2 - 1
    expected = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    torch.testing.assert_close(g(x), expected, rtol=0, atol=0)  # the residual branch starts at zero
    (g(x) - expected + 0.1).square().mean().backward()
    assert g.tail.weight.grad.abs().sum() > 0  # and is trained
    plain = SRResNetGenerator(1, 4, width=8, blocks=2)
    assert not torch.allclose(plain(x), expected, atol=1e-3)


# ----------------------------------------------------------------------------- PSNR and SSIM
def numpy_ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """Wang et al. (2004) with scikit-image's choices, written here from the formula with scipy: a Gaussian
    filter (sigma 1.5, truncate 3.5), population variances, K1 0.01, K2 0.03, 5-pixel border cropped."""
    from scipy.ndimage import gaussian_filter

    x, y = x.astype(np.float64), y.astype(np.float64)

    def filt(a):
        return gaussian_filter(a, sigma=1.5, truncate=3.5, mode="reflect")

    ux, uy = filt(x), filt(y)
    vx, vy, vxy = filt(x * x) - ux * ux, filt(y * y) - uy * uy, filt(x * y) - ux * uy
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean())


def test_ssim_equals_the_reference_computation_on_fixed_arrays():
    rng = np.random.default_rng(0)
    a = rng.random((3, 1, 28, 28))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    got = ssim(torch.from_numpy(a), torch.from_numpy(b))
    want = [numpy_ssim(a[i, 0], b[i, 0]) for i in range(3)]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    assert ssim(torch.from_numpy(a), torch.from_numpy(a)).tolist() == pytest.approx([1.0] * 3)
    assert 0 < float(got.mean()) < 0.99  # a noisy copy is similar, not identical


def test_ssim_equals_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    a = rng.random((32, 30))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    want = metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=1.0)
    assert float(ssim(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])[0]) == pytest.approx(want,
                                                                                                          abs=1e-6)


def test_ssim_of_images_smaller_than_its_window_is_nan():
    assert math.isnan(float(ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))[0]))


def test_psnr_is_10_log10_of_range_squared_over_mse_on_luminance_for_colour():
    rng = np.random.default_rng(2)
    a, b = rng.random((2, 3, 6, 6)), rng.random((2, 3, 6, 6))
    ya = 16 / 255 + (65.481 * a[:, 0] + 128.553 * a[:, 1] + 24.966 * a[:, 2]) / 255  # BT.601 luma, by hand
    yb = 16 / 255 + (65.481 * b[:, 0] + 128.553 * b[:, 1] + 24.966 * b[:, 2]) / 255
    want = 10 * np.log10(1.0 / ((ya - yb) ** 2).reshape(2, -1).mean(1))
    np.testing.assert_allclose(psnr(torch.from_numpy(a), torch.from_numpy(b)).numpy(), want, rtol=1e-5)
    grey = torch.full((1, 1, 4, 4), 0.5)
    assert float(psnr(grey, grey + 0.1)[0]) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 -> 20 dB
    assert luminance(grey) is grey


def numpy_y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of ``(3, H, W)`` RGB in [0, 1], by hand."""
    return 16 / 255 + (65.481 * rgb[0] + 128.553 * rgb[1] + 24.966 * rgb[2]) / 255


def test_psnr_and_ssim_leave_out_a_border_strip_as_ledig_et_al():
    rng = np.random.default_rng(4)
    truth = rng.random((3, 3, 24, 24))
    restored = np.clip(truth + 0.05 * rng.standard_normal(truth.shape), 0, 1)
    b = 4  # x4: "removal of a 4-pixel wide strip from each border"
    crop = (slice(b, 24 - b), slice(b, 24 - b))
    want_psnr = np.mean([10 * np.log10(1.0 / ((numpy_y(restored[i])[crop] - numpy_y(truth[i])[crop]) ** 2).mean())
                         for i in range(3)])
    want_ssim = np.mean([numpy_ssim(numpy_y(restored[i])[crop], numpy_y(truth[i])[crop]) for i in range(3)])
    got = restoration_measures(torch.from_numpy(restored), torch.from_numpy(truth), border=b)
    assert got["psnr"] == pytest.approx(want_psnr, rel=1e-5)
    assert got["ssim"] == pytest.approx(want_ssim, abs=1e-6)
    # garbage in the strip changes the whole-image figures, not the cropped ones
    spoiled = restored.copy()
    spoiled[..., :b, :] = 1.0 - spoiled[..., :b, :]
    spoiled_got = restoration_measures(torch.from_numpy(spoiled), torch.from_numpy(truth), border=b)
    assert spoiled_got["psnr"] == pytest.approx(got["psnr"], rel=1e-6)
    assert spoiled_got["ssim"] == pytest.approx(got["ssim"], abs=1e-9)
    whole = restoration_measures(torch.from_numpy(spoiled), torch.from_numpy(truth))
    assert whole["psnr"] < got["psnr"] - 3
    with pytest.raises(UserError, match="border 12"):
        restoration_measures(torch.from_numpy(restored), torch.from_numpy(truth), border=12)


def test_cropped_psnr_and_ssim_equal_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(5)
    truth = rng.random((2, 3, 40, 36))
    restored = np.clip(truth + 0.1 * rng.standard_normal(truth.shape), 0, 1)
    ys = [(numpy_y(restored[i])[4:-4, 4:-4], numpy_y(truth[i])[4:-4, 4:-4]) for i in range(2)]
    got = restoration_measures(torch.from_numpy(restored), torch.from_numpy(truth), border=4)
    assert got["psnr"] == pytest.approx(np.mean([metrics.peak_signal_noise_ratio(b, a, data_range=1.0)
                                                 for a, b in ys]), rel=1e-5)
    assert got["ssim"] == pytest.approx(np.mean([metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0) for a, b in ys]), abs=1e-6)


# ----------------------------------------------------------------------------- pairs from the data layer
def test_low_resolution_input_is_the_bicubic_downsample():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (4, 1, 28, 28), dtype=np.uint8)
    low, high = evaluation_pairs(x, PairSpec(4))
    assert low.shape == (4, 1, 7, 7) and torch.equal(high, torch.from_numpy(x).float() / 255)
    for i in range(4):  # PIL's bicubic resize (a = -0.5, antialiased), integer arithmetic: within one level
        want = np.asarray(Image.fromarray(x[i, 0]).resize((7, 7), Image.Resampling.BICUBIC)).astype(int)
        assert np.abs((low[i, 0] * 255).round().int().numpy() - want).max() <= 1


def test_pairs_noise_is_deterministic_for_a_seed_and_blur_smooths():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cond = LowResCondition(PairSpec(2, blur=1.0, noise=0.05))
    assert torch.equal(cond(x, 7), cond(x, 7))
    assert not torch.equal(cond(x, 7), cond(x, 8))
    plain = LowResCondition(PairSpec(2))(x, 7)
    blurred = LowResCondition(PairSpec(2, blur=1.0))(x, 7)
    assert blurred.std() < plain.std()  # a blur removes the high frequencies a downsample would alias


def test_the_sampler_carries_each_minibatch_low_resolution_input():
    ds = with_pairs(load_dataset("digits"), "sr2")
    train = torch.from_numpy(ds.split("train"))
    sampler = ShardedMinibatchSampler(train, None, 8, seed=0, condition=ds.condition)
    x, y, low = sampler.next_with_condition()
    assert low.shape == (8, 1, 4, 4)
    assert torch.allclose(low, degrade((x + 1) / 2, PairSpec(2)) * 2 - 1)
    plain = ShardedMinibatchSampler(train, None, 8, seed=0)
    assert plain.next_with_condition()[2] is None


def test_a_scale_that_does_not_divide_the_image_is_one_line(tmp_path, capsys):
    with pytest.raises(UserError, match="divisible by 4"):
        with_pairs(load_dataset("digits", image_size=10), "sr4")
    assert main(["train", "--model", "srresnet", *TINY_SR, "--image-size", "10", "--pairs", "sr4", "--steps", "1",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "divisible by 4" in err
    with pytest.raises(UserError, match="needs paired data: add --pairs"):
        config = config_for(model="srresnet", pairs=None)
        MODELS["srresnet"].build(config, DataInfo("image", (1, 8, 8)))


# ----------------------------------------------------------------------------- the models through the loop
@pytest.fixture(scope="module")
def sr_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("sr") / "srresnet"
    assert main(["train", "--model", "srresnet", *TINY_SR, "--steps", "3", "--sample-every", "3",
                 "--out", str(run)]) == 0
    return run


def test_srgan_starts_from_the_srresnet_generator(sr_run, tmp_path):
    from ganforge.checkpoint import load_checkpoint
    from ganforge.run import load_run

    out = tmp_path / "srgan"
    assert main(["train", "--model", "srgan", *TINY_SR, "--steps", "1", "--init-from", str(sr_run), "--out",
                 str(out)]) == 0
    before = load_checkpoint(sr_run / "checkpoints" / "latest.pt")["model"]
    after = load_run(out).model.state_dict()
    changed = [k for k, v in before.items() if k.startswith("generator.") and not torch.equal(v, after[k])]
    # one G step moved G's weights from the SRResNet's, but only by an Adam step of lr 1e-4 (batch-norm
    # running statistics move by their momentum, more)
    weights = [k for k in changed if "running_" not in k and "num_batches" not in k]
    assert weights and all(float((before[k] - after[k]).abs().max()) < 2e-4 for k in weights)
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "G/content" in logs[-1] and "loss/D" in logs[-1]


def test_srgan_init_from_a_run_of_another_model_is_one_line(tmp_path, capsys):
    run = tmp_path / "dcgan"
    assert main(["train", "--data", "digits", "--width", "8", "--latent-dim", "4", "--steps", "1", "--out",
                 str(run), "--no-progress"]) == 0
    assert main(["train", "--model", "srgan", *TINY_SR, "--steps", "1", "--init-from", str(run), "--out",
                 str(tmp_path / "g")]) == 2
    assert "expected an srresnet or srgan run" in capsys.readouterr().err


def test_upscale_writes_pngs_scale_times_larger_and_refuses_other_channels(sr_run, tmp_path, capsys):
    Image.fromarray(np.arange(30, dtype=np.uint8).reshape(5, 6) * 8).save(tmp_path / "a.png")
    colours = np.zeros((4, 4, 3), dtype=np.uint8)
    colours[..., 0] = 200  # red: really three channels
    Image.fromarray(colours).save(tmp_path / "rgb.png")
    assert main(["upscale", str(sr_run), str(tmp_path / "a.png"), "--out", str(tmp_path / "up")]) == 0
    with Image.open(tmp_path / "up" / "a.png") as im:
        assert im.size == (12, 10) and im.mode == "L"
    capsys.readouterr()
    assert main(["upscale", str(sr_run), str(tmp_path / "rgb.png"), "--out", str(tmp_path / "up2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "3 colour channel" in err and not (tmp_path / "up2").exists()
    # grey stored as colour (a grey palette PNG, lossless WebP is always RGB) is grey: the same upscale as "L"
    grey = Image.open(tmp_path / "a.png")
    grey.convert("P").save(tmp_path / "pal.png")
    grey.convert("RGB").save(tmp_path / "g.webp", lossless=True)
    assert main(["upscale", str(sr_run), str(tmp_path / "pal.png"), str(tmp_path / "g.webp"),
                 "--out", str(tmp_path / "up4")]) == 0, capsys.readouterr().err
    expected = np.asarray(Image.open(tmp_path / "up" / "a.png"))
    for name in ("pal.png", "g.png"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "up4" / name)), expected), name
    (tmp_path / "tifs").mkdir()  # a folder's TIFF and GIF files are images too
    grey.save(tmp_path / "tifs" / "t.tif")
    grey.convert("P").save(tmp_path / "tifs" / "p.gif")
    assert main(["upscale", str(sr_run), str(tmp_path / "tifs"), "--out", str(tmp_path / "up6")]) == 0
    for name in ("t.png", "p.png"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "up6" / name)), expected), name
    (tmp_path / "anim").mkdir()
    grey.save(tmp_path / "anim" / "two.gif", save_all=True, append_images=[grey.point(lambda v: 255 - v)])
    assert main(["upscale", str(sr_run), str(tmp_path / "anim"), "--out", str(tmp_path / "up7")]) == 2
    assert "2 frames: expected a single image" in capsys.readouterr().err
    Image.fromarray(np.random.default_rng(0).random((5, 6)).astype(np.float32), "F").save(tmp_path / "f.tiff")
    capsys.readouterr()
    assert main(["upscale", str(sr_run), str(tmp_path / "f.tiff"), "--out", str(tmp_path / "up5")]) == 2
    assert "32-bit float samples" in capsys.readouterr().err
    # an --out that holds the inputs would overwrite them; two inputs of one name would overwrite each other
    original = (tmp_path / "a.png").read_bytes()
    assert main(["upscale", str(sr_run), str(tmp_path / "a.png"), "--out", str(tmp_path)]) == 2
    assert "would overwrite an input image" in capsys.readouterr().err
    assert (tmp_path / "a.png").read_bytes() == original
    (tmp_path / "other").mkdir()
    Image.open(tmp_path / "a.png").save(tmp_path / "other" / "a.png")
    assert main(["upscale", str(sr_run), str(tmp_path / "a.png"), str(tmp_path / "other" / "a.png"),
                 "--out", str(tmp_path / "up3")]) == 2
    assert "would both be written to" in capsys.readouterr().err and not (tmp_path / "up3").exists()


def test_eval_of_an_sr_run_reports_psnr_beside_bicubic(sr_run, tmp_path, capsys):
    assert main(["eval", str(sr_run), "--n", "50", "--out", str(tmp_path / "e.json")]) == 0
    # 8x8 digits have no room for SSIM's 11x11 window: the JSON is strict (null, not a bare NaN) and says why
    assert "ssim: not defined: the images (less the border) are smaller" in capsys.readouterr().out
    record = json.loads((tmp_path / "e.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert record["values"]["ssim"] is None and "ssim" in record["notes"]
    values = {k: math.nan if v is None else v for k, v in record["values"].items()}
    assert {"psnr", "bicubic_psnr", "ssim", "bicubic_ssim", "fid", "bicubic_fid"} <= set(values)
    assert values["bicubic_psnr"] > 5
    assert values["fid"] > 0 and values["bicubic_fid"] > 0  # upscaled sets are not the true one
    # the figures are the measures of the first 50 test images (the table itself: the next test)
    from ganforge.models.srgan import super_resolution_measures
    from ganforge.run import load_run

    expected = super_resolution_measures(load_run(sr_run).model, load_dataset("digits").split("test")[:50], "digits")
    for key in ("psnr", "bicubic_psnr", "ssim", "bicubic_ssim", "fid", "bicubic_fid"):
        assert values[key] == pytest.approx(expected[key], rel=1e-5, nan_ok=True), key  # SSIM: NaN below 11x11


def test_the_sr_table_crops_a_scale_wide_border_from_bicubic_and_the_models_alike(sr_run):
    from ganforge.data.pairs import bicubic_upsample
    from ganforge.models.srgan import sr_measures_table, upscale
    from ganforge.run import load_run

    model = load_run(sr_run).model  # x2 on 8x8 digits: a 2-pixel strip
    test = load_dataset("digits").split("test")[:40]
    low, high = evaluation_pairs(test, PairSpec(2))
    table = sr_measures_table({"m": model}, test, "digits", features_spec="none")
    whole = sr_measures_table({"m": model}, test, "digits", features_spec="none", border=0)
    for name, up in (("bicubic", bicubic_upsample(low, 2)), ("m", upscale(model, low))):
        err = ((up - high)[..., 2:6, 2:6].double() ** 2).flatten(1).mean(1)
        assert table[name]["psnr"] == pytest.approx(float((10 * torch.log10(1.0 / err)).mean()), rel=1e-5)
        err_whole = ((up - high).double() ** 2).flatten(1).mean(1)
        assert whole[name]["psnr"] == pytest.approx(float((10 * torch.log10(1.0 / err_whole)).mean()), rel=1e-5)
    # x4 on 8x8 images: a 4-pixel strip would leave nothing, so the default measures whole images
    tiny = MODELS["srresnet"].build(config_for(model="srresnet", pairs="sr4", width=8, sr_blocks=1),
                                    DataInfo("image", (1, 8, 8)))
    default = sr_measures_table({"m": tiny}, test, "digits", features_spec="none")
    whole = sr_measures_table({"m": tiny}, test, "digits", features_spec="none", border=0)
    assert {k: v["psnr"] for k, v in default.items()} == {k: v["psnr"] for k, v in whole.items()}


@pytest.mark.slow
@pytest.mark.skipif(not HAS_FASHION, reason="Fashion-MNIST not installed")
def test_srresnet_learns_to_beat_bicubic_on_fashion_mnist_x4(tmp_path):
    from ganforge.models.srgan import super_resolution_measures
    from ganforge.run import load_run

    run = tmp_path / "sr4"
    assert main(["train", "--model", "srresnet", "--data", "fashion-mnist", "--pairs", "sr4", "--width", "32",
                 "--sr-blocks", "4", "--lr", "1e-3", "--steps", "300", "--sample-every", "300", "--no-progress",
                 "--device", "cpu", "--out", str(run)]) == 0
    values = super_resolution_measures(load_run(run).model, load_dataset("fashion-mnist").split("test")[:500],
                                       "fashion-mnist")
    assert values["psnr"] > values["bicubic_psnr"]


def test_report_shows_input_bicubic_srresnet_srgan_ground_truth(sr_run, tmp_path):
    from ganforge.run import load_run
    from ganforge.viz.superres import comparison_grid, write_sr_comparison

    out = tmp_path / "srgan"
    assert main(["train", "--model", "srgan", *TINY_SR, "--steps", "1", "--init-from", str(sr_run), "--out",
                 str(out)]) == 0
    path, caption = write_sr_comparison(load_run(out), tmp_path / "cmp.png", n=3)
    assert caption.endswith("input / bicubic / SRResNet / SRGAN / ground truth")
    with Image.open(path) as im:  # 3 rows of 5 images of 8x8, 2-pixel padding, scaled by 8 for display
        assert im.size == ((5 * 10 + 2) * 8, (3 * 10 + 2) * 8)
    cols = [torch.full((2, 1, 2, 2), v) for v in (0.0, 1.0)]
    grid = comparison_grid(cols)  # row i: image i of each column, in order
    assert grid[2, 2, 0] == 0 and grid[2, 6, 0] == 255 and grid[6, 2, 0] == 0
    assert main(["report", str(out)]) == 0
    assert "sr_comparison.png" in (out / "report.html").read_text()


# ----------------------------------------------------------------------------- FID of the upscaled set
def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance from its definition: np.mean / np.cov and scipy's matrix square root."""
    from scipy.linalg import sqrtm

    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * sqrtm(s_a @ s_b).real))


def test_fid_of_the_upscaled_set_is_the_frechet_distance_of_its_features_to_the_true_sets():
    g = torch.Generator().manual_seed(5)
    truth = torch.rand(64, 3, 12, 12, generator=g)
    restored = (truth + 0.2 * torch.randn(truth.shape, generator=g)).clamp(0, 1)
    w = torch.randn(3 * 12 * 12, 6, generator=g, dtype=torch.float64)

    def features(x):  # a fixed linear map to 6-d, fewer dimensions than images: full-rank covariances
        return (x.double().flatten(1) @ w).float()

    values = restoration_measures(restored, truth, features)
    want = scipy_fid(features(truth).double().numpy(), features(restored).double().numpy())
    assert values["fid"] == pytest.approx(want, rel=1e-4)
    assert values["fid"] == pytest.approx(fid_from_features(features(truth), features(restored)), rel=1e-9)
    assert values["fid"] > 1.0
    assert restoration_measures(truth, truth, features)["fid"] == pytest.approx(0.0, abs=1e-6)
    # the true images' features, computed once by the caller, give the same figures
    shared = restoration_measures(restored, truth, features, truth_features=features(truth))
    assert shared == pytest.approx(values)
    assert "fid" not in restoration_measures(restored, truth)  # no features, no FID


# ----------------------------------------------------------------------------- colour: Inception content loss
@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    from ganforge.features.inception import FIDInceptionV3

    torch.manual_seed(0)
    net = FIDInceptionV3()
    path = tmp_path_factory.mktemp("inception") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    return path


def test_inception_content_features_are_the_stem_and_carry_gradients(inception_file):
    from ganforge.features.inception import load_fid_inception
    from ganforge.models.srgan import FrozenFeatures

    content = FrozenFeatures("folder:x", f"inception:{inception_file}", 3, 24)
    x = (torch.rand(2, 3, 24, 24) * 2 - 1).requires_grad_(True)
    maps = content(x)
    assert maps.shape == (2, 192, 2, 2)  # 24 -> 11 -> 9 -> 9 -> pool 4 -> 4 -> 2
    torch.testing.assert_close(maps, load_fid_inception(inception_file).stem(x.detach()))  # pytorch-fid: x as is
    maps.square().sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert not any(p.requires_grad for p in content.net.parameters())  # fixed: never trained


def test_srgan_trains_on_colour_images_with_inception_content_features(inception_file, tmp_path, capsys):
    images = tmp_path / "images"  # the runs' --out beside the folder, not inside it
    images.mkdir()
    for i in range(20):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
            images / f"{i}.png")
    rgb = ["--data", f"folder:{images}", "--image-size", "24", "--pairs", "sr2", "--width", "8", "--sr-blocks",
           "1", "--batch-size", "4", "--no-progress", "--device", "cpu"]
    assert main(["train", "--model", "srresnet", *rgb, "--steps", "1", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", "--model", "srgan", *rgb, "--steps", "1", "--init-from", str(tmp_path / "a"),
                 "--content-features", f"inception:{inception_file}", "--out", str(tmp_path / "b")]) == 0
    logs = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert math.isfinite(logs[-1]["G/content"]) and logs[-1]["G/content"] > 0
    capsys.readouterr()
    # Inception's stem needs 19 pixels a side: an 8x8 digits run is refused in one line before training
    assert main(["train", "--model", "srgan", *TINY_SR, "--steps", "1", "--content-features",
                 f"inception:{inception_file}", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "at least 19" in err


def test_colour_runs_refuse_grey_content_features_and_grey_generators_in_one_line(sr_run, tmp_path, capsys):
    from ganforge.features.domain import packaged_weights_path

    images = tmp_path / "images"  # the runs' --out beside the folder, not inside it
    images.mkdir()
    for i in range(20):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
            images / f"{i}.png")
    rgb = ["--data", f"folder:{images}", "--image-size", "8", "--pairs", "sr2", "--width", "8", "--sr-blocks",
           "1", "--batch-size", "4", "--no-progress", "--device", "cpu", "--steps", "1"]
    grey_classifier = packaged_weights_path("digits")
    assert main(["train", "--model", "srgan", *rgb, "--content-features", str(grey_classifier),
                 "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "1-channel images, expected one of 3-channel" in err
    # sr_run models grey digits: its generator cannot start an RGB run
    assert main(["train", "--model", "srresnet", *rgb, "--init-from", str(sr_run), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "image channels" in err


def test_srgan_init_from_a_run_with_another_sr_skip_is_one_line(sr_run, tmp_path, capsys):
    got = main(["train", "--model", "srgan", *TINY_SR, "--sr-skip", "bicubic", "--steps", "1", "--init-from",
                str(sr_run), "--out", str(tmp_path / "g")])
    err = capsys.readouterr().err
    assert got == 2 and "expected --sr-skip bicubic" in err and err.count("\n") == 1
