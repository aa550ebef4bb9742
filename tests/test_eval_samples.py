"""``ganforge eval --samples``: samples made by another program (a folder of images, an .npy/.npz array) are
scored through the very function a run's own samples go through, so the figures agree; bad input is one line."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import cli
from ganforge.config import TrainConfig
from ganforge.data import load_dataset
from ganforge.data.samples import as_unit_samples, load_samples
from ganforge.errors import UserError
from ganforge.features.domain import load_domain_classifier
from ganforge.metrics.fid import fid_from_features
from ganforge.run import load_run
from ganforge.train import Trainer

N = 250  # digits' test split holds 250 images


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("samples") / "dcgan-digits"
    cfg = TrainConfig(model="dcgan", data="digits", steps=40, batch_size=32, width=16, latent_dim=16,
                      sample_every=1000, checkpoint_every=1000, device="cpu")
    Trainer(cfg, run_dir, progress=False).fit()
    return run_dir


def _eval(args, out):
    assert cli.main(["eval", *args, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def _err(capsys, args):
    assert cli.main(["eval", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_an_npy_written_outside_ganforge_scores_exactly_as_the_run_itself(digits_run, tmp_path):
    # "another program": loads the generator through the public API and saves float32 samples in [0, 1]
    x = load_run(digits_run).sample(N, seed=0).numpy()
    np.save(tmp_path / "other.npy", x)
    metrics = ["--metrics", "fid,kid,pr,dc,is", "--n", str(N)]
    through_run = _eval([str(digits_run), *metrics], tmp_path / "run.json")["values"]
    from_npy = _eval(["--samples", str(tmp_path / "other.npy"), "--real", "digits", *metrics], tmp_path / "a.json")
    assert from_npy["reference"] == "digits:train" and from_npy["n"] == N
    assert set(from_npy["values"]) == set(through_run)
    for key, value in through_run.items():
        assert from_npy["values"][key] == pytest.approx(value, abs=1e-6), key
    # the same through --samples RUN_DIR against the test split, and against a hand computation
    on_test = ["--real", "digits:test", *metrics]
    run_test = _eval(["--samples", str(digits_run), *on_test], tmp_path / "b.json")
    npy_test = _eval(["--samples", str(tmp_path / "other.npy"), *on_test], tmp_path / "c.json")
    for key, value in run_test["values"].items():
        assert npy_test["values"][key] == pytest.approx(value, abs=1e-6), key
    clf = load_domain_classifier("digits")
    expected = fid_from_features(clf.features(load_dataset("digits").split("test")[:N]), clf.features(x))
    assert npy_test["values"]["fid"] == pytest.approx(expected, rel=1e-4)
    assert npy_test["values"]["fid"] != pytest.approx(from_npy["values"]["fid"], rel=1e-3)  # another reference


def test_a_folder_of_pngs_and_the_npy_of_the_same_images_give_the_same_figures(digits_run, tmp_path):
    u8 = (load_run(digits_run).sample(N, seed=3).numpy() * 255).round().astype(np.uint8)  # (N, 1, 8, 8)
    folder = tmp_path / "pngs"
    (folder / "sub").mkdir(parents=True)
    for i, img in enumerate(u8):  # a nested folder and sorted names: the order must not matter to FID anyway
        Image.fromarray(img[0], mode="L").save(folder / ("sub" if i % 2 else "") / f"{i:04d}.png")
    np.save(tmp_path / "same.npy", u8)
    np.savez(tmp_path / "same_hwc.npz", images=u8.transpose(0, 2, 3, 1))  # channels-last, in an .npz
    np.save(tmp_path / "same_float.npy", u8.astype(np.float32) / 255)
    args = ["--real", "digits", "--metrics", "fid,kid,pr", "--n", str(N)]
    figures = [_eval(["--samples", str(p), *args], tmp_path / f"{i}.json")["values"]
               for i, p in enumerate([folder, tmp_path / "same.npy", tmp_path / "same_hwc.npz",
                                      tmp_path / "same_float.npy"])]
    for other in figures[1:]:  # equal up to the summation order of the folder's other image order (rel 1e-7)
        for key, value in figures[0].items():
            assert other[key] == pytest.approx(value, rel=1e-7, abs=1e-6), key


def test_two_sample_sets_compare_with_each_other(digits_run, tmp_path):
    run = load_run(digits_run)
    a, b = run.sample(200, seed=0).numpy(), run.sample(200, seed=1).numpy()
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    args = ["--features", "domain:digits", "--metrics", "fid,pr"]
    rec = _eval(["--samples", str(tmp_path / "a.npy"), "--samples", str(tmp_path / "b.npy"), *args],
                tmp_path / "p.json")
    clf = load_domain_classifier("digits")
    assert rec["values"]["fid"] == pytest.approx(fid_from_features(clf.features(b), clf.features(a)), rel=1e-4)
    same = _eval(["--samples", str(tmp_path / "a.npy"), "--samples", str(tmp_path / "a.npy"), *args],
                 tmp_path / "q.json")
    assert abs(same["values"]["fid"]) < 1e-3 and same["values"]["precision"] == 1.0


def test_the_log_names_a_second_samples_as_the_reference_not_a_datasets_split(digits_run, tmp_path, capsys):
    np.save(tmp_path / "a.npy", load_run(digits_run).sample(50, seed=0).numpy())
    _eval(["--samples", str(tmp_path / "a.npy"), "--samples", str(digits_run), "--n", "50", "--features",
           "domain:digits", "--metrics", "fid"], tmp_path / "r.json")
    out = capsys.readouterr().out
    assert f"on the first 50 samples of {digits_run} (cached" in out and "train examples" not in out, out


def test_loader_shapes_and_ranges():
    u8 = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    x = as_unit_samples(u8, "t")
    assert x.shape == (2, 1, 4, 4) and x.dtype == torch.float32
    assert torch.equal(x[0, 0], torch.from_numpy(u8[0]).float() / 255.0)
    rgb_last = np.zeros((3, 5, 5, 3), np.float32)
    assert as_unit_samples(rgb_last, "t").shape == (3, 3, 5, 5)
    assert as_unit_samples(np.ones((7, 2), np.float64), "t").shape == (7, 2)  # toy points


@pytest.mark.parametrize("make, message", [
    (lambda d: np.save(d / "x.npy", np.full((4, 1, 8, 8), np.nan, np.float32)), "NaN or infinite"),
    (lambda d: np.save(d / "x.npy", np.full((4, 1, 8, 8), -1.0, np.float32)), "expected [0, 1]"),
    (lambda d: np.save(d / "x.npy", np.zeros((0, 1, 8, 8), np.uint8)), "N >= 1"),
    (lambda d: np.save(d / "x.npy", np.zeros((4, 5, 8, 8), np.uint8)), "1 or 3 channels"),
    (lambda d: np.savez(d / "x.npz", a=np.zeros(3), b=np.zeros(3)), "expected exactly one"),
    (lambda d: (d / "x.npy").write_bytes(b"not numpy"), "cannot be read as a numpy array"),
])
def test_bad_arrays_are_one_line_naming_the_file(tmp_path, make, message):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(UserError, match=__import__("re").escape(message)):
        load_samples(path)


def test_cli_errors_are_one_line_exit_2(digits_run, tmp_path, capsys):
    np.save(tmp_path / "rgb.npy", np.zeros((10, 3, 8, 8), np.uint8))
    err = _err(capsys, ["--samples", str(tmp_path / "rgb.npy"), "--real", "digits"])
    assert "shape (3, 8, 8), expected (1, 8, 8) like digits:train" in err
    np.save(tmp_path / "big.npy", np.zeros((10, 1, 28, 28), np.uint8))
    assert "expected (1, 8, 8)" in _err(capsys, ["--samples", str(tmp_path / "big.npy"), "--real", "digits"])
    (tmp_path / "empty").mkdir()
    assert "no images found" in _err(capsys, ["--samples", str(tmp_path / "empty"), "--real", "digits"])
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("L", (8, 8)).save(mixed / "a.png")
    Image.new("L", (9, 8)).save(mixed / "b.png")
    assert "9x8, expected 8x8" in _err(capsys, ["--samples", str(mixed), "--real", "digits"])
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((10, 1, 8, 8), np.nan, np.float32))
    assert "NaN" in _err(capsys, ["--samples", str(nan), "--real", "digits"])
    assert "expected a reference" in _err(capsys, ["--samples", str(nan)])
    two = ["--samples", str(tmp_path / "rgb.npy"), "--samples", str(tmp_path / "rgb.npy")]
    assert "domain:DATASET" in _err(capsys, two)
    assert "need a dataset's splits" in _err(capsys, [*two, "--features", "domain:digits", "--metrics", "parzen"])
