"""The natural-photo patch folder (issue 14): ``scripts/natural_photos.py`` cuts patches on a grid, and the split
is by photo: ``folder:PATH`` with ``train/`` and ``test/`` subfolders takes them as its splits, so no test photo
gives a training patch."""

import io

import numpy as np
import pytest
from PIL import Image

from ganforge.data import load_dataset
from ganforge.errors import UserError


@pytest.fixture(scope="module")
def photos_script(repo_script):
    return repo_script("scripts/natural_photos.py")


def png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def photo(red: int, h: int, w: int, seed: int) -> np.ndarray:
    """A photo whose red channel is the constant ``red`` (its identity) and whose other channels are noise."""
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    a[..., 0] = red
    return a


def test_grid_patches_are_the_crops_at_multiples_of_the_stride_that_fit(photos_script):
    a = np.arange(10 * 13 * 3, dtype=np.int64).reshape(10, 13, 3)
    patches = photos_script.grid_patches(a, 4, 3)
    assert [(r, c) for r, c, _ in patches] == [(r, c) for r in (0, 3, 6) for c in (0, 3, 6, 9)]
    r, c, p = patches[5]
    assert (r, c) == (3, 3) and np.array_equal(p, a[3:7, 3:7])
    assert len(photos_script.grid_patches(a, 4, 4)) == 2 * 3  # no overlap: floor(10/4) x floor(13/4)


def test_test_photos_never_give_training_patches(photos_script, tmp_path):
    train = {f"t{i}.png": png_bytes(photo(10 + 10 * i, 40 + 8 * i, 48, i)) for i in range(3)}
    test = {f"s{i}.jpg": png_bytes(photo(200 + 20 * i, 32, 40, 10 + i)) for i in range(2)}
    counts = photos_script.build_patch_folder(tmp_path / "p", {"train": train, "test": test}, 16, 8)
    # training photos: every 8 pixels; test photos: every 16 (no overlap)
    assert counts["train"] == {f"t{i}.png": ((40 + 8 * i - 16) // 8 + 1) * ((48 - 16) // 8 + 1) for i in range(3)}
    assert counts["test"] == {"s0.jpg": 2 * 2, "s1.jpg": 2 * 2}
    ds = load_dataset(f"folder:{tmp_path / 'p'}", image_size=16)
    reds = {s: set(np.unique(ds.split(s)[:, 0]).tolist()) for s in ("train", "val", "test")}
    assert reds["test"] == {200, 220}  # both test photos, and only they
    assert reds["train"] | reds["val"] == {10, 20, 30}
    assert len(ds.split("test")) == 8
    assert len(ds.split("train")) + len(ds.split("val")) == sum(counts["train"].values())
    assert (tmp_path / "p" / "SOURCES.txt").read_text().count("\n") == 2 + 5
    # the test photos whole, for the whole-image measures; folder:PATH does not take them as a split
    whole = sorted(p.name for p in (tmp_path / "p" / "whole-test").iterdir())
    assert whole == ["s0.png", "s1.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "p" / "whole-test" / "s1.png")), photo(220, 32, 40, 11))


def test_a_folder_with_train_and_test_subfolders_keeps_them_as_its_splits(tmp_path):
    for split, n, value in (("train", 6, 1), ("val", 2, 2), ("test", 3, 3)):
        (tmp_path / split / "deep").mkdir(parents=True)
        for i in range(n):
            where = tmp_path / split / ("deep" if i % 2 else "")
            Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(where / f"{i}.png")
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(tmp_path / "stray.png")  # in no split folder
    ds = load_dataset(f"folder:{tmp_path}", image_size=8)
    for split, n, value in (("train", 6, 1), ("val", 2, 2), ("test", 3, 3)):
        x = ds.split(split)
        assert len(x) == n and set(np.unique(x).tolist()) == {value}


def test_without_a_test_subfolder_the_folder_is_split_90_5_5_as_before(tmp_path):
    (tmp_path / "train").mkdir()
    for i in range(40):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(tmp_path / "train" / f"{i}.png")
    ds = load_dataset(f"folder:{tmp_path}", image_size=8)
    assert [len(ds.split(s)) for s in ("train", "val", "test")] == [36, 2, 2]


def test_an_empty_declared_split_is_one_line(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "train" / f"{i}.png")
    with pytest.raises(UserError, match="test/ holds no images"):
        load_dataset(f"folder:{tmp_path}", image_size=8)


def test_a_missing_photo_source_is_one_line_exit_2(photos_script, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert photos_script.main(["--out", str(tmp_path / "o"), "--skimage", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "astronaut.png" in err and not (tmp_path / "o").exists()
