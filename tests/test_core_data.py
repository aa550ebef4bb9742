"""One dataset API: explicit splits, uint8 storage, safe decoding, clear errors."""

import gzip
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import HAS_FASHION
from ganforge.data import MinibatchSampler, load_dataset, to_data_range, to_model_range
from ganforge.data import mnist as mnist_mod
from ganforge.data.mnist import read_idx
from ganforge.data.toy import mixture_means
from ganforge.errors import UserError


def write_idx(path, array, gz=True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(raw)


def write_fake_mnist(directory, n_train=10050, n_test=20, gz=True):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    write_idx(directory / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28)), gz)
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_train), gz)
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28)), gz)
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test), gz)


def test_digits_splits_are_disjoint_and_uint8():
    ds = load_dataset("digits")
    assert ds.kind == "image" and ds.shape == (1, 8, 8) and ds.num_classes == 10
    sizes = {s: len(ds.split(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 1297, "val": 250, "test": 250}
    assert all(ds.split(s).dtype == np.uint8 for s in sizes)
    assert ds.split("train").max() == 255
    rows = {s: {a.tobytes() for a in ds.split(s)} for s in sizes}
    # the digits set has a few exact duplicates; splits are disjoint by index, so overlap stays tiny
    assert len(rows["train"] & rows["test"]) < 5


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("x.idx" + (".gz" if gz else ""))
    write_idx(path, a, gz)
    decoded = read_idx(path)
    assert np.array_equal(decoded, a)
    assert decoded.flags.writeable  # so torch.from_numpy on its splits shares it without a warning


def test_truncated_idx_is_a_user_error(tmp_path):
    path = tmp_path / "bad"
    write_idx(path, np.zeros((5, 28, 28)), gz=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserError, match="truncated or corrupt"):
        read_idx(path)


def test_mnist_from_idx_files_uses_the_2014_split(tmp_path):
    write_fake_mnist(tmp_path)
    ds = load_dataset("mnist", data_dir=str(tmp_path))
    assert [len(ds.split(s)) for s in ("train", "val", "test")] == [50, 10000, 20]
    assert ds.split("train").shape[1:] == (1, 28, 28)
    assert len(ds.labels["val"]) == 10000


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path, gz=False)
    first = load_dataset("mnist", data_dir=str(tmp_path))

    def fail(path):
        raise AssertionError("decoded again instead of read from the cache")

    monkeypatch.setattr(mnist_mod, "read_idx", fail)
    second = load_dataset("mnist", data_dir=str(tmp_path))
    assert np.array_equal(first.split("test"), second.split("test"))


def test_mnist_pkl_gz_is_read_without_running_code(tmp_path):
    rng = np.random.default_rng(1)
    splits = tuple((rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)) for n in (30, 10, 10))
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(splits, f)
    ds = load_dataset("mnist", data_dir=str(tmp_path))
    assert [len(ds.split(s)) for s in ("train", "val", "test")] == [30, 10, 10]
    expected = np.clip(np.rint(splits[2][0] * 255), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    assert np.array_equal(ds.split("test"), expected)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ganforge-pwned",))


def test_a_malicious_pickle_is_refused(tmp_path):
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(_Evil(), f)
    with pytest.raises(UserError, match="refusing to load global"):
        load_dataset("mnist", data_dir=str(tmp_path))
    assert not os.path.exists("/tmp/ganforge-pwned")


def test_cifar10_batches(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, 20))}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    ds = load_dataset("cifar10", data_dir=str(tmp_path))
    assert ds.shape == (3, 32, 32)
    assert [len(ds.split(s)) for s in ("train", "val", "test")] == [90, 10, 20]


def test_folder_of_images_is_resized_and_centre_cropped(tmp_path):
    (tmp_path / "sub").mkdir()
    for i in range(6):
        im = np.zeros((40, 80, 3), np.uint8)
        im[:, 20:60] = (255, 0, 0)  # the centre square is red, the sides black
        Image.fromarray(im).save(tmp_path / ("sub" if i % 2 else ".") / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = load_dataset(f"folder:{tmp_path}", image_size=16)
    x = np.concatenate([ds.split(s) for s in ("train", "val", "test")])
    assert x.shape == (6, 3, 16, 16)
    assert x[:, 0].mean() > 240 and x[:, 1:].max() < 15  # the crop kept only the red centre


def test_a_16_bit_grey_png_is_scaled_to_8_bits_not_clipped_white(tmp_path):
    from ganforge.data.folder import load_image

    grey = np.full((32, 32), 32768, np.uint16)
    grey[:, :16] = 8000
    Image.fromarray(grey).save(tmp_path / "wide.png")
    x = load_image(tmp_path / "wide.png", 16)
    assert x.shape == (3, 16, 16)
    assert (x[:, :, :5] == 8000 // 256).all() and (x[:, :, 11:] == 32768 // 256).all()  # 31 and 128, not 255


def test_a_photo_is_read_the_way_up_its_exif_orientation_says(tmp_path):
    """A phone stores a portrait photo sideways with EXIF Orientation 6 (rotate 90 degrees clockwise to show):
    the white left half of the stored pixels is the top of the photo."""
    from ganforge.data.folder import load_image

    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:, :40] = 255
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "portrait.jpg", exif=exif, quality=95)
    x = load_image(tmp_path / "portrait.jpg", 16).astype(float)
    assert x[:, :7].mean() > 240 and x[:, 9:].mean() < 15  # top white, bottom black


def test_unreadable_image_in_folder_is_a_user_error(tmp_path):
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="broken.jpg"):
        load_dataset(f"folder:{tmp_path}", image_size=8)
    (tmp_path / "empty.png").write_bytes(b"")  # every bad file named at once, not one per rerun
    with pytest.raises(UserError, match="broken.jpg .*; 1 more unreadable: empty.png"):
        load_dataset(f"folder:{tmp_path}", image_size=8)


def test_missing_dataset_says_where_it_looked(tmp_path):
    with pytest.raises(UserError, match=f"looked for its 4 IDX files in {tmp_path}"):
        load_dataset("mnist", data_dir=str(tmp_path))


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UserError, match="fashion-mnist"):
        load_dataset("imagenet")


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package():
    ds = load_dataset("fashion-mnist")
    assert [len(ds.split(s)) for s in ("train", "val", "test")] == [50000, 10000, 10000]
    assert ds.shape == (1, 28, 28) and ds.class_names[9] == "Ankle boot"
    assert np.bincount(ds.labels["test"]).tolist() == [1000] * 10


@pytest.mark.parametrize("name", ["gauss1d", "ring8", "grid25"])
def test_toy_samples_lie_on_their_modes(name):
    ds = load_dataset(name)
    means, std = mixture_means(name)
    x = ds.split("train")
    dist = np.sqrt(((x[:, None, :] - means[None]) ** 2).sum(-1)).min(1)
    assert np.quantile(dist, 0.999) < 5 * std
    nearest = np.sqrt(((x[:, None, :] - means[None]) ** 2).sum(-1)).argmin(1)
    counts = np.bincount(nearest, minlength=len(means))
    assert counts.min() > 0.8 * len(x) / len(means)  # equal weights


def test_sampler_visits_every_example_once_per_epoch():
    data = torch.arange(10, dtype=torch.uint8)[:, None]
    sampler = MinibatchSampler(data, None, batch_size=4, seed=3)
    seen = torch.cat([sampler.next_indices() for _ in range(5)])  # 20 = two epochs
    assert sorted(seen[:10].tolist()) == list(range(10))
    assert sorted(seen[10:].tolist()) == list(range(10))
    assert seen[:10].tolist() != seen[10:].tolist()


def test_sampler_state_is_its_cursor():
    data = torch.arange(50, dtype=torch.uint8)[:, None]
    a = MinibatchSampler(data, None, 7, seed=0)
    for _ in range(9):
        a.next_indices()
    b = MinibatchSampler(data, None, 7, seed=0)
    b.cursor = a.cursor
    assert [a.next_indices().tolist() for _ in range(5)] == [b.next_indices().tolist() for _ in range(5)]


def test_normalisation_round_trip():
    x = torch.tensor([0, 128, 255], dtype=torch.uint8)
    m = to_model_range(x)
    assert m.min() == -1 and m.max() == 1
    assert torch.allclose(to_data_range(m, "image") * 255, x.float())
