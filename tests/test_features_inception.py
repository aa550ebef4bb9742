"""The FID Inception-v3 with random weights (never downloaded): shapes, the protocol's resizing, batching,
and loading a user's state-dict file safely."""

import pytest
import torch
import torch.nn.functional as F

from ganforge.errors import UserError
from ganforge.features.extractors import build_extractor
from ganforge.features.inception import FEATURE_DIM, NUM_CLASSES, FIDInceptionV3, load_fid_inception


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
