"""Every user-facing failure is one line on stderr, exit code 2 (3 for a diverged run), no traceback, and the
run's previous checkpoint still loads afterwards. One row of BAD_INPUTS per case of issue 16."""

import errno
import gzip
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main
from ganforge.errors import UserError

TINY = ["--data", "digits", "--width", "8", "--latent-dim", "8", "--batch-size", "16", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("bad") / "run"
    assert main(["train", *TINY, "--steps", "3", "--sample-every", "1", "--out", str(run)]) == 0
    return run


# ----------------------------------------------------------------------------- bad inputs, each a small file
def write_idx(folder: Path, n_train: int, n_test: int = 20, bad_label: int | None = None) -> Path:
    """The four MNIST IDX files (gzipped) with ``n_train`` blank training images; ``bad_label`` replaces
    the first training label."""
    folder.mkdir(parents=True, exist_ok=True)

    def idx(dims, data: bytes) -> bytes:
        return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data

    labels = np.arange(n_train, dtype=np.uint8) % 10
    if bad_label is not None:
        labels[0] = bad_label
    files = {"train-images-idx3-ubyte": idx((n_train, 28, 28), bytes(n_train * 784)),
             "train-labels-idx1-ubyte": idx((n_train,), labels.tobytes()),
             "t10k-images-idx3-ubyte": idx((n_test, 28, 28), bytes(n_test * 784)),
             "t10k-labels-idx1-ubyte": idx((n_test,), bytes(n_test))}
    for name, raw in files.items():
        with gzip.open(folder / f"{name}.gz", "wb", compresslevel=1) as f:
            f.write(raw)
    return folder


def write_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares ``width x height`` (1-bit grey) with almost no pixel data: what matters
    is that the size is refused from the header, before anything is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def image_folder(tmp: Path, huge: bool) -> Path:
    folder = tmp / "pics"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(folder / f"{i}.png")
    if huge:
        write_png_header(folder / "huge.png", 14_000, 14_000)  # 196 megapixels
    return folder


def noise_photos(tmp: Path) -> Path:
    """40 colour 16x16 images: a folder with no labels, so no domain classifier."""
    folder = tmp / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def copy_run(trained: Path, tmp: Path) -> Path:
    run = tmp / "run"
    shutil.copytree(trained, run)
    return run


def zero_byte_checkpoint(trained, tmp):
    run = copy_run(trained, tmp)
    (run / "checkpoints" / "latest.pt").write_bytes(b"")
    return run


def nan_checkpoint(trained, tmp):
    run = copy_run(trained, tmp)
    path = run / "checkpoints" / "latest.pt"
    ckpt = torch.load(path, weights_only=True)
    for k, v in ckpt["model"].items():
        if k.startswith("generator") and v.is_floating_point():
            v.fill_(float("nan"))
    torch.save(ckpt, path)
    return run


def checkpoint_without(key):
    def damaged(trained, tmp):
        run = copy_run(trained, tmp)
        path = run / "checkpoints" / "latest.pt"
        ckpt = torch.load(path, weights_only=True)
        del ckpt[key]
        torch.save(ckpt, path)
        return run
    return damaged


def without_latest(trained, tmp):
    run = copy_run(trained, tmp)
    shutil.copy(run / "checkpoints" / "latest.pt", run / "checkpoints" / "step_000003.pt")
    (run / "checkpoints" / "latest.pt").unlink()
    return run


def other_runs_checkpoint(tmp):
    assert main(["train", "--model", "gan", "--data", "ring8", "--steps", "1", "--batch-size", "16", "--no-progress",
                 "--out", str(tmp / "other")]) == 0
    return tmp / "other" / "checkpoints" / "latest.pt"


def empty_file(tmp, name):
    (tmp / name).write_bytes(b"")
    return tmp / name


def sr_run(tmp):
    run = tmp / "sr"
    if not run.exists():
        assert main(["train", "--model", "srresnet", "--pairs", "sr2", "--data", "digits", "--width", "8",
                     "--sr-blocks", "1", "--batch-size", "8", "--steps", "1", "--no-progress", "--out", str(run)]) == 0
    return run


def nextframe_run(tmp):
    run = tmp / "nf"
    assert main(["train", "--model", "nextframe", "--data", "digits", "--sequences", "action", "--canvas", "16",
                 "--context-frames", "2", "--frame-scales", "1", "--width", "8", "--steps", "1", "--batch-size", "4",
                 "--no-progress", "--out", str(run)]) == 0
    return run


def random_bytes(tmp, name):
    (tmp / name).write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    return tmp / name


# (case id, argv builder (trained run, tmp dir) -> argv, exit code, text the one line must contain)
BAD_INPUTS = [
    ("anomaly fit --discrete-columns ''", lambda r, t: ["anomaly", "fit", "--data", "ring8", "--method", "ae",
                                                        "--normal-classes", "0", "--discrete-columns", "",
                                                        "--out", t / "o"], 2, "expected comma-separated column"),
    ("train --discrete-columns ''", lambda r, t: ["train", "--data", "digits", "--discrete-columns", "",
                                                  "--out", t / "o"], 2, "expected comma-separated column names"),
    ("sample --n above an sr run's kept inputs", lambda r, t: ["sample", sr_run(t), "--n", "1000", "--out",
                                                              t / "x.npy"], 2, "expected --n <= 64"),
    ("sample of a run whose latest.pt is gone but step_N.pt are kept", lambda r, t: [
        "sample", without_latest(r, t), "--out", t / "x.npy"], 2, "not found; the run holds"),
    ("sample --condition twice", lambda r, t: ["sample", r, "--condition", "a=1", "--condition", "b=2", "--out",
                                               t / "s.csv"], 2, "--condition given 2 times"),
    ("sample --checkpoint ''", lambda r, t: ["sample", r, "--checkpoint", "", "--out", t / "x.npy"], 2,
     "--checkpoint '': expected a path"),
    ("features info --weights ''", lambda r, t: ["features", "info", "--data", "digits", "--weights", ""], 2,
     "--weights '': expected a path"),
    ("sample --temperature of an sr run", lambda r, t: ["sample", sr_run(t), "--temperature", "0.1", "--out",
                                                        t / "x.npy"], 2, "not noise from a prior"),
    ("eval --metrics parzen of a nextframe run", lambda r, t: [
        "eval", nextframe_run(t), "--metrics", "parzen,fid", "--n", "20"], 2, "a nextframe run's frames are 16x16"),
    ("export --out over the run's own latest.pt", lambda r, t: [
        "export", copy_run(r, t), "--format", "torchscript", "--out", t / "run" / "checkpoints" / "latest.pt"],
     2, "a file of run"),
    ("eval --out over the run's metrics.jsonl", lambda r, t: [
        "eval", copy_run(r, t), "--metrics", "parzen", "--out", t / "run" / "metrics.jsonl"], 2, "a file of run"),
    ("gam --out inside a run's checkpoints", lambda r, t: [
        "gam", copy_run(r, t), r, "--n", "20", "--out", t / "run" / "checkpoints" / "best.pt"], 2, "a file of run"),
    ("export --out over another run's latest.pt", lambda r, t: [
        "export", r, "--format", "torchscript", "--out", copy_run(r, t) / "checkpoints" / "latest.pt"],
     2, "a file of run"),
    ("eval --out over another run's metrics.jsonl", lambda r, t: [
        "eval", r, "--metrics", "parzen", "--out", copy_run(r, t) / "metrics.jsonl"], 2, "a file of run"),
    ("srgan on unlabelled photos, no --content-features", lambda r, t: [
        "train", "--model", "srgan", "--data", f"folder:{noise_photos(t)}", "--pairs", "sr2", "--image-size", "16",
        "--steps", "1", "--batch-size", "4", "--width", "8", "--sr-blocks", "1", "--out", t / "o"],
     2, "expected --content-features inception[:PATH]"),
    ("zero-byte checkpoint: sample", lambda r, t: ["sample", zero_byte_checkpoint(r, t), "--out", t / "x.png"],
     2, "is empty (0 bytes)"),
    ("zero-byte checkpoint: eval", lambda r, t: ["eval", zero_byte_checkpoint(r, t), "--metrics", "parzen"],
     2, "is empty (0 bytes)"),
    ("zero-byte checkpoint: resume", lambda r, t: ["train", *TINY, "--steps", "5", "--resume",
                                                   "--out", zero_byte_checkpoint(r, t)], 2, "is empty (0 bytes)"),
    ("196-megapixel image in a folder", lambda r, t: ["train", "--data", f"folder:{image_folder(t, True)}",
                                                      "--image-size", "8", "--out", t / "o"],
     2, "196,000,000 pixels: expected at most 178,956,970"),
    ("image above a lowered --max-image-pixels", lambda r, t: [
        "train", "--data", f"folder:{image_folder(t, False)}", "--image-size", "8", "--max-image-pixels", "1000",
        "--out", t / "o"], 2, "1,600 pixels: expected at most 1,000"),
    ("IDX set of 5,000 training images", lambda r, t: ["train", "--data", "mnist", "--data-dir",
                                                       write_idx(t / "idx", 5000), "--out", t / "o"],
     2, "holds 5,000 training images: expected more than 10,000"),
    ("label 200 with cgan", lambda r, t: ["train", "--model", "cgan", "--data", "mnist", "--data-dir",
                                          write_idx(t / "idx", 10_040, bad_label=200), "--out", t / "o"],
     2, "train label 200 is out of range: expected class labels 0 to 9"),
    ("batch larger than the dataset", lambda r, t: ["train", *TINY, "--batch-size", "5000", "--out", t / "o"],
     2, "has 1297 examples: expected at least one minibatch of 5000"),
    ("sample --out under /proc", lambda r, t: ["sample", r, "--out", "/proc/nope/x.png"],
     2, "--out /proc/nope/x.png: cannot be written in /proc/nope"),
    ("sample --out under a file", lambda r, t: ["sample", copy_run(r, t), "--out", t / "run" / "config.yaml" / "x.png"],
     2, "config.yaml/x.png: cannot be written in"),
    ("sample --out with a 300-character name", lambda r, t: ["sample", r, "--out", t / ("s" * 300 + ".png")],
     2, "File name too long"),
    ("train --out an existing file", lambda r, t: ["train", *TINY, "--out", t / "file"],
     2, "is a file, expected a run directory"),
    ("train --out under an existing file", lambda r, t: ["train", *TINY, "--out", t / "file" / "run"],
     2, "file is a file, expected a directory"),
    ("train --out with a 300-character component", lambda r, t: ["train", *TINY, "--out", t / ("a" * 300) / "run"],
     2, "File name too long"),
    ("--threads 0", lambda r, t: ["train", *TINY, "--threads", "0", "--out", t / "o"], 2, "--threads 0"),
    ("--compile on with a gradient penalty", lambda r, t: [
        "train", *TINY, "--model", "wgan-gp", "--compile", "on", "--out", t / "o"],
     2, "expected off with --penalty gp (model wgan-gp): it differentiates a gradient again"),
    ("--compile on with an unrolled D", lambda r, t: [
        "train", *TINY, "--unroll", "2", "--compile", "on", "--out", t / "o"], 2, "expected off with --unroll"),
    ("--resume changing an option left at its default", lambda r, t: [
        "train", "--out", copy_run(r, t), "--resume", "--lr", "0.1"], 2, "lr is the default in"),
    ("--data-dir that does not exist", lambda r, t: ["train", *TINY, "--data-dir", t / "nope", "--out", t / "o"],
     2, "nope: no such directory"),
    ("--image-size on points", lambda r, t: ["train", "--model", "gan", "--data", "ring8", "--image-size", "32",
                                             "--out", t / "o"], 2, "--image-size: options of image data"),
    ("latent arithmetic --per-group with indices", lambda r, t: [
        "latent", "arithmetic", r, "--a", "1", "--b", "2", "--c", "3", "--per-group", "5", "--out", t / "a.png"],
     2, "--per-group 5: the number of samples a label picks"),
    ("invert --no-encoder of a model without one", lambda r, t: [
        "invert", r, "--data", "digits", "--n", "2", "--no-encoder", "--out", t / "inv"],
     2, "has no encoder to start from"),
    ("gam --out with two runs", lambda r, t: ["gam", r, copy_run(r, t), "--out", t / "g.json"],
     2, "--out: two runs play one battle"),
    ("the 2014 code's recipe on points", lambda r, t: ["train", "--model", "gan", "--data", "ring8", "--gan-recipe",
                                                       "2014-code", "--out", t / "o"],
     2, "--gan-recipe 2014-code: options of image data: expected none of them for ring8"),
    ("a file as the run directory", lambda r, t: ["sample", t / "file", "--out", t / "x.png"],
     2, "is a file, expected the directory"),
    ("eval --metrics empty", lambda r, t: ["eval", r, "--metrics", ""], 2, "--metrics: expected a comma-separated"),
    ("resume to fewer steps than done", lambda r, t: ["train", "--out", copy_run(r, t), "--resume", "--steps", "2"],
     2, "is at step 3, past the 2 steps asked"),
    ("--objective on srresnet, which has no D", lambda r, t: ["train", "--model", "srresnet", "--pairs", "sr2",
                                                              "--data", "digits", "--objective", "hinge",
                                                              "--out", t / "o"],
     2, "model srresnet: objective hinge is invalid: this model defines its own loss"),
    ("eval --checkpoint with --real", lambda r, t: ["eval", "--real", "digits", "--checkpoint", "best"],
     2, "--checkpoint: options of a run's evaluation: expected none of them with --real"),
    ("eval --target of an image run", lambda r, t: ["eval", r, "--target", "label"],
     2, "--target label: the column machine-learning efficacy predicts, for tables"),
    ("--min-lr above the lr it floors", lambda r, t: ["train", *TINY, "--lr-decay", "1.0001", "--min-lr", "1000",
                                                      "--out", t / "o"], 2, "at most the learning rate it floors"),
    ("--min-lr without --lr-decay", lambda r, t: ["train", *TINY, "--min-lr", "1e-5", "--out", t / "o"],
     2, "0 without --lr-decay"),
    ("--k-disc 1e12", lambda r, t: ["train", *TINY, "--k-disc", "1000000000000", "--out", t / "o"],
     2, "k_disc=1000000000000 is invalid: expected an integer in [1, 1000]"),
    ("train --seed 1e23", lambda r, t: ["train", *TINY, "--seed", str(10**23), "--out", t / "o"],
     2, "expected an integer in [0, 4294967295]"),
    ("sample --seed 1e23", lambda r, t: ["sample", r, "--seed", str(10**23), "--out", t / "x.png"],
     2, f"--seed {10**23}: expected an integer in [0, 4294967295]"),
    ("--threads beyond the cores", lambda r, t: ["train", *TINY, "--threads", "1000000000000", "--out", t / "o"],
     2, "(4 x this machine's cores)"),
    ("--latent-dim 1e12: an allocation that fails", lambda r, t: ["train", *TINY[:4], "--latent-dim",
                                                                   "1000000000000", "--out", t / "o"],
     2, "out of memory (DefaultCPUAllocator: can't allocate memory"),
    ("--config of random bytes", lambda r, t: ["train", "--config", random_bytes(t, "c.yaml"), "--out", t / "o"],
     2, "not a text file (expected YAML in UTF-8)"),
    ("checkpoint without its model: sample", lambda r, t: ["sample", checkpoint_without("model")(r, t),
                                                           "--out", t / "x.png"], 2, "is damaged: it has no model"),
    ("checkpoint without its optimizers: resume", lambda r, t: [
        "train", "--out", checkpoint_without("optimizers")(r, t), "--resume", "--steps", "5"],
     2, "is damaged: it has no optimizers"),
    ("sample --nrow above --n", lambda r, t: ["sample", r, "--n", "16", "--nrow", "1000000000000",
                                              "--out", t / "x.png"], 2, "expected at most --n"),
    ("sample --drs-lr inf", lambda r, t: ["sample", r, "--drs", "--drs-steps", "1", "--drs-lr", "inf",
                                          "--out", t / "x.png"], 2, "--drs-lr inf: expected a learning rate > 0"),
    ("sample --checkpoint of another run", lambda r, t: ["sample", r, "--checkpoint", other_runs_checkpoint(t),
                                                         "--out", t / "x.png"],
     2, "not a checkpoint of run"),
    ("eval --real ''", lambda r, t: ["eval", "--real", ""], 2, "--real '': expected a dataset name"),
    ("eval --samples of a 0-byte .npy", lambda r, t: ["eval", "--samples", empty_file(t, "s.npy"), "--real", "digits"],
     2, "s.npy: cannot be read as a numpy array"),
    ("upscale of a PNG whose header claims 60000 x 60000", lambda r, t: [
        "upscale", sr_run(t), write_png_header(t / "huge.png", 60000, 60000), "--out", t / "up"],
     2, "larger than 178,956,970 pixels, the limit Pillow opens safely"),
    ("eval --compare-real of an sr run", lambda r, t: ["eval", sr_run(t), "--compare-real", "--n", "10"],
     2, "--compare-real: a srresnet run is measured by sr beside its own baseline"),
    ("invert --restarts 1e6", lambda r, t: ["invert", r, "--data", "digits", "--n", "2", "--no-encoder",
                                            "--restarts", "1000000", "--out", t / "inv"],
     2, "--restarts 1000000: expected an integer in [1, 1000]"),
    ("features train --epochs 1e12", lambda r, t: ["features", "train", "--data", "digits", "--epochs",
                                                   "1000000000000", "--out", t / "f.safetensors"],
     2, "expected an integer in [1, 10000]"),
    ("features train --lr 1e12", lambda r, t: ["features", "train", "--data", "digits", "--epochs", "1", "--lr",
                                               "1e12", "--out", t / "f.safetensors"],
     3, "classifier training diverged at step"),
    ("--out ''", lambda r, t: ["eval", r, "--out", ""], 2, "--out '': expected a path"),
    ("gam of an empty run name", lambda r, t: ["gam", "", r], 2, "RUNS '': expected a path"),
    ("report of a file", lambda r, t: ["report", t / "file"], 2, "is a file, expected the directory"),
    ("sample --checkpoint a directory", lambda r, t: ["sample", r, "--checkpoint", t, "--out", t / "x.png"],
     2, "is a directory, expected latest, best or a checkpoint file"),
    ("eval --features inception: of random bytes", lambda r, t: [
        "eval", r, "--metrics", "fid", "--n", "50", "--features", f"inception:{random_bytes(t, 'w.pt')}"],
     2, "cannot be read as a state dict (the file is damaged or not a torch file"),
    ("anomaly table --methods ''", lambda r, t: ["anomaly", "table", "--data", "ring8", "--methods", "",
                                                 "--out", t / "o"], 2, "expected a comma-separated list of methods"),
    ("anomaly fit with every class normal", lambda r, t: ["anomaly", "fit", "--data", "ring8", "--method", "ocsvm",
                                                          "--normal-classes", "0-7", "--out", t / "o"],
     2, "every class is normal"),
    ("anomaly fit --anogan-lr with ocsvm", lambda r, t: ["anomaly", "fit", "--data", "ring8", "--method", "ocsvm",
                                                         "--anogan-lr", "0.1", "--out", t / "o"],
     2, "--anogan-lr: options of anogan: expected none of them with ocsvm"),
    ("anomaly table --anogan-subset without anogan", lambda r, t: [
        "anomaly", "table", "--data", "ring8", "--methods", "ocsvm,iforest", "--anogan-subset", "5", "--out", t / "o"],
     2, "--anogan-subset 5: the test subset anogan scores: expected it only with anogan among --methods"),
    ("augment --synthetic-ratios inf", lambda r, t: ["augment", "--data", "digits", "--synthetic-ratios", "inf",
                                                     "--out", t / "o"], 2, "expected numbers in (0, 100.0]"),
    ("augment --epochs inf", lambda r, t: ["augment", "--data", "digits", "--epochs", "inf", "--out", t / "o"],
     2, "expected positive finite numbers"),
    ("augment cGAN options with no cGAN", lambda r, t: ["augment", "--data", "digits", "--synthetic-ratios", "none",
                                                        "--cgan-width", "4", "--out", t / "o"],
     2, "--cgan-width: options of the cGAN, which --synthetic-ratios none skips"),
    ("latent arithmetic --n 0", lambda r, t: ["latent", "arithmetic", r, "--a-label", "1", "--b-label", "2",
                                              "--c-label", "3", "--n", "0", "--out", t / "a.png"],
     2, "--n 0: expected an integer in [1, 1024]"),
    ("latent neighbours --n 1e12", lambda r, t: ["latent", "neighbours", r, "--n", "1000000000000",
                                                 "--out", t / "n.png"], 2, "expected an integer in [1, 256]"),
    ("latent sheet --n 3000", lambda r, t: ["latent", "sheet", r, "--n", "3000", "--out", t / "s.png"],
     2, "expected an integer in [1, 1024]"),
    ("latent interpolate .gif --steps 0", lambda r, t: ["latent", "interpolate", r, "--steps", "0",
                                                        "--out", t / "i.gif"], 2, "expected rows >= 1, steps >= 2"),
    ("--ada-target with --augment diffaug", lambda r, t: ["train", *TINY, "--augment", "diffaug", "--ada-target",
                                                          "0.5", "--out", t / "o"],
     2, "ada_target=0.5 is invalid: expected its default (0.6) with augment='diffaug' (it shapes --augment ada only)"),
    ("--discrete-columns on images", lambda r, t: ["train", *TINY, "--discrete-columns", "a", "--out", t / "o"],
     2, "--discrete-columns: options of table data: expected none of them for digits"),
    ("lab 1d --lr 0", lambda r, t: ["lab", "1d", "--steps", "3", "--frames", "2", "--lr", "0", "--out", t / "o"],
     2, "lr=0.0 is invalid: expected a number > 0"),
    ("eval --samples --target", lambda r, t: ["eval", "--samples", r, "--real", "digits", "--target", "x"],
     2, "--target x: the column a table run's efficacy predicts: expected none with --samples"),
    ("eval --features domain: with no path", lambda r, t: ["eval", r, "--features", "domain:", "--metrics", "fid"],
     2, "--features 'domain:': expected domain, domain:PATH"),
    ("gam of one run named twice", lambda r, t: ["gam", r, f"{r}/"], 2, "a run is named twice"),
    ("eval of a run whose samples are NaN", lambda r, t: ["eval", nan_checkpoint(r, t), "--metrics", "parzen",
                                                          "--n", "50"],
     2, "50 of 50 samples are NaN or infinite"),
]


@pytest.mark.parametrize("case,argv,code,needle", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_line(case, argv, code, needle, trained, tmp_path, capsys):
    (tmp_path / "file").write_text("not a directory\n")
    args = [str(a) for a in argv(trained, tmp_path)]
    # the checkpoints the command could touch, as they are before it runs (a case's copy of the run included,
    # with its deliberate damage): a failed command must leave every one byte for byte as it was
    checkpoints = [trained / "checkpoints" / "latest.pt", tmp_path / "run" / "checkpoints" / "latest.pt"]
    before = {path: path.read_bytes() for path in checkpoints if path.is_file()}
    got = main(args)
    out, err = capsys.readouterr()
    assert got == code, err
    assert needle in err
    assert err.count("\n") == 1 and err.startswith("ganforge: error: ") and "Traceback" not in err
    assert {path: path.read_bytes() for path in checkpoints if path.is_file()} == before
    assert load_checkpoint(trained / "checkpoints" / "latest.pt")["step"] == 3
    assert not (tmp_path / "o").exists(), "a failed start must leave no run directory behind"


def test_a_several_line_message_from_a_library_is_said_in_its_first_line(capsys):
    from ganforge.cli import _say_error

    _say_error("weights w.pt: cannot be read (Weights only load failed.\nPlease file an issue\nat ...)")
    assert capsys.readouterr().err == "ganforge: error: weights w.pt: cannot be read (Weights only load failed.)\n"


def test_corrupt_checkpoint_message_is_whole_and_never_suggests_unsafe_loading(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    (run / "checkpoints" / "latest.pt").write_bytes(b"\x00garbage")
    assert main(["sample", str(run), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "weights_only" not in err and err.rstrip().endswith("written by ganforge train")
    with pytest.raises(UserError, match="is damaged or not a torch file"):
        ganforge.load_run(run)  # the Python API raises the same error


def test_an_optimizer_state_of_another_parameter_list_is_one_line_and_the_checkpoint_kept(trained, tmp_path,
                                                                                            capsys):
    """The weights fit but the optimizer trained other parameters (e.g. an sgan saved before its hidden weight
    scales became fixed): resuming says so in one line, exit 2; the run can still be sampled."""
    run = copy_run(trained, tmp_path)
    latest = run / "checkpoints" / "latest.pt"
    ckpt = torch.load(latest, weights_only=True)
    ckpt["optimizers"]["D"]["param_groups"][0]["params"].append(10_000)  # one parameter more than D has
    torch.save(ckpt, latest)
    before = latest.read_bytes()
    assert main(["train", "--out", str(run), "--resume", "--steps", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "D optimizer state does not fit" in err and "not resumed" in err
    assert latest.read_bytes() == before
    assert main(["sample", str(run), "--out", str(tmp_path / "x.png")]) == 0


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter "
                                                  "failed writing file data/3: file write failed")])
def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_the_checkpoint(failure, trained, tmp_path, capsys,
                                                                               monkeypatch):
    run = copy_run(trained, tmp_path)
    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        f.write(b"partial")
        raise failure

    monkeypatch.setattr(torch, "save", full_disk)
    code = main(["train", *TINY, "--steps", "5", "--checkpoint-every", "1", "--resume", "--out", str(run)])
    monkeypatch.setattr(torch, "save", real_save)
    err = capsys.readouterr().err
    assert code == 2 and "cannot be written" in err and "previous checkpoint is kept" in err
    assert err.count("\n") == 1
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 3
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.pt"]


def test_a_torn_metrics_line_is_dropped_on_resume(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "loss/D": 1.3')  # a kill in the middle of the write
    assert main(["train", *TINY, "--steps", "5", "--sample-every", "1", "--resume", "--out", str(run)]) == 0
    capsys.readouterr()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]


def strict_json_lines(path: Path) -> list[dict]:
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_divergence_stops_at_once_exit_3_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    """The issue's run (SGD at lr 100): inf within a few steps. The run stops at the first non-finite loss,
    exit 3, and the checkpoint written every step is the one before it, every tensor finite."""
    run = tmp_path / "run"
    code = main(["train", *TINY, "--optimizer", "sgd", "--lr", "100", "--steps", "60", "--checkpoint-every", "1",
                 "--sample-every", "1", "--out", str(run)])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert err.startswith("ganforge: error: training diverged at step ") and err.count("\n") == 1
    assert "lower --lr (now 100)" in err and "Traceback" not in err
    diverged_at = int(err.split("diverged at step ")[1].split(":")[0])
    ckpt = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert ckpt["step"] == diverged_at - 1 and f"(step {diverged_at - 1}) is the last good checkpoint" in err
    tensors = [v for v in ckpt["model"].values() if v.is_floating_point()]
    assert tensors and all(torch.isfinite(v).all() for v in tensors)
    records = strict_json_lines(run / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, diverged_at))
    assert main(["sample", str(run), "--out", str(tmp_path / "x.png")]) == 0


def test_eval_refuses_an_output_it_cannot_write_before_any_metric_runs(trained, tmp_path, capsys):
    for out, said in ((tmp_path, "is a directory, expected a JSON file name"),
                      ("/proc/nope/e.json", "cannot be written")):
        assert main(["eval", str(trained), "--metrics", "parzen", "--n", "20", "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert said in captured.err and "running" not in captured.out


def test_an_option_of_a_feature_left_off_is_said_and_ignored(tmp_path, capsys):
    """``--augment {none,ada} --ada-kimg 50`` is a sweep whose baseline arm carries ADA's option: said, not
    refused (with another augmentation on, it is refused: above)."""
    assert main(["train", *TINY, "--steps", "1", "--ada-kimg", "50", "--out", str(tmp_path / "r")]) == 0
    assert "note: --ada-kimg shapes --augment ada only: ignored without it" in capsys.readouterr().err


def test_divergence_names_the_learning_rates_the_run_used(tmp_path, capsys):
    """With --lr-d, D's rate is not --lr's: the advice names both rates at their values."""
    code = main(["train", *TINY, "--model", "gan", "--lr-d", "1e12", "--steps", "20", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 3 and "lower --lr (now 0.0002) or --lr-d (now 1e+12)" in err, err


def test_divergence_found_in_the_weights_before_a_checkpoint(tmp_path):
    """A non-finite weight (e.g. from a non-finite gradient) is caught before it can be checkpointed."""
    from ganforge.config import TrainConfig
    from ganforge.errors import TrainingDiverged
    from ganforge.train import Trainer

    cfg = TrainConfig(data="digits", width=8, latent_dim=8, batch_size=16, steps=4, checkpoint_every=2)
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    trainer.fit()
    with torch.no_grad():
        weight = next(trainer.model.generator.parameters())
        weight[(0,) * weight.dim()] = float("inf")
    with pytest.raises(TrainingDiverged, match=r"weight generator\.\S+ is not finite.*\(step 4\) is the last good"):
        trainer.check_finite_weights()
    assert TrainingDiverged.exit_code == 3


def test_eval_caps_n_out_loud(trained, tmp_path, capsys):
    from ganforge.data import load_dataset

    ds = load_dataset("digits")
    assert main(["eval", str(trained), "--metrics", "memorisation", "--n", "1000000",
                 "--out", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert f"--n 1,000,000 capped to {len(ds.split('train')):,}: digits has" in out  # the run vs training images
    assert out.index("memorisation: running") < out.index("memorisation: done")
    assert main(["eval", str(trained), "--metrics", "memorisation", "--n", "1000000", "--compare-real",
                 "--out", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out  # with the floor, whose candidates are test images, the test split caps n too
    assert f"--n 1,000,000 capped to {min(len(ds.split('train')), len(ds.split('test'))):,}" in out


def test_sample_grid_too_large_for_pillow_writes_npy_shards(trained, tmp_path, capsys, monkeypatch):
    from ganforge.commands import sample
    from ganforge.images import grid_scale, make_grid

    # grid_pixels must be the size of the PNG that would be written
    x = torch.rand(23, 1, 8, 8)
    grid = make_grid(x)
    assert sample.grid_pixels(tuple(x.shape), None) == grid.shape[0] * grid.shape[1] * grid_scale(8) ** 2
    monkeypatch.setattr(sample, "MAX_GRID_PIXELS", 100_000)
    monkeypatch.setattr(sample, "SHARD_SIZE", 40)
    assert main(["sample", str(trained), "--n", "100", "--seed", "1", "--out", str(tmp_path / "big.png")]) == 0
    err = capsys.readouterr().err
    assert "more than Pillow opens (100,000)" in err and "3 .npy shard(s)" in err
    shards = [np.load(tmp_path / f"big-{i:05d}.npy") for i in range(3)]
    assert [len(s) for s in shards] == [40, 40, 20] and not (tmp_path / "big.png").exists()
    whole = ganforge.load_run(trained).sample(100, seed=1).numpy()
    np.testing.assert_array_equal(np.concatenate(shards), whole)


def test_resume_rules_come_from_one_list(capsys):
    from ganforge.commands.train import RESUMABLE, resumable_flags

    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert resumable_flags() in readme.replace("`", "")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, even at hyphens
    assert "".join(resumable_flags().split()) in help_text
    from dataclasses import fields

    from ganforge.config import TrainConfig
    assert set(RESUMABLE) <= {f.name for f in fields(TrainConfig)}


def test_every_checkpoint_carries_the_training_time(tmp_path):
    """Not only those at sample boundaries: a resumed run reports the time it really trained."""
    from ganforge.config import TrainConfig
    from ganforge.train import Trainer

    cfg = TrainConfig(data="digits", width=8, latent_dim=8, batch_size=16, steps=3, checkpoint_every=1,
                      keep_every=1, sample_every=1000)
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    times = [load_checkpoint(tmp_path / "run" / "checkpoints" / f"step_{s:06d}.pt")["elapsed_s"] for s in (1, 2, 3)]
    assert 0 < times[0] < times[1] < times[2]


@pytest.mark.parametrize("argv,needle", [
    (["sample", "RUN", "--out", "o.png", "--n", "abc"], "ganforge sample: error: argument --n: invalid int value"),
    (["train", "--model"], "ganforge train: error: argument --model: expected one argument"),
    (["nosuch"], "ganforge: error: argument COMMAND: invalid choice: 'nosuch'"),
    (["sample", "RUN", "--out", "o.png", "--bogus"], "ganforge: error: unrecognized arguments: --bogus"),
])
def test_a_malformed_command_line_is_one_line_and_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and needle in err and err.count("\n") == 1 and "usage:" not in err


@pytest.mark.parametrize("temporary,written", [("/d/.o.png.tmp123", "/d/o.png"), ("/d/.o.png.tmp123.png", "/d/o.png"),
                                               ("/d/.fig.tmp9.png", "/d/fig.png"), ("/d/.ref.tmp9.npz", "/d/ref.npz"),
                                               ("/d/plain.txt", "/d/plain.txt")])
def test_an_error_on_an_atomic_writes_temporary_names_the_file_the_user_asked_for(temporary, written):
    from ganforge.rundir import written_path

    assert written_path(temporary) == written


def test_a_full_disk_while_writing_a_text_file_names_it_and_keeps_the_old_one(tmp_path, monkeypatch):
    """A write that fails on a full disk raises with no file name; the error then names the file asked for, the
    old file is whole and no temporary is left."""
    from ganforge.cli import _os_error_line
    from ganforge.rundir import atomic_write_text

    path = tmp_path / "config.yaml"
    path.write_text("model: gan\n")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError) as caught:
        atomic_write_text(path, "model: dcgan\n")
    monkeypatch.undo()
    assert _os_error_line(caught.value) == f"{path}: No space left on device"
    assert path.read_text() == "model: gan\n" and [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_a_folder_run_refuses_an_out_inside_the_data_and_a_resume_on_changed_files(tmp_path, capsys):
    from ganforge.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray((rng.random((12, 12, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    tiny = ["--data", f"folder:{folder}", "--image-size", "8", "--batch-size", "8", "--width", "8",
            "--latent-dim", "4", "--no-progress"]
    assert main(["train", *tiny, "--steps", "2", "--out", str(folder / "run")]) == 2
    assert "is inside the data folder" in capsys.readouterr().err and not (folder / "run").exists()
    run = tmp_path / "run"
    assert main(["train", *tiny, "--steps", "2", "--out", str(run)]) == 0
    latest = (run / "checkpoints" / "latest.pt").read_bytes()
    Image.open(folder / "0.png").save(folder / "new.png")  # one more image: other splits, another run
    assert main(["train", "--out", str(run), "--resume", "--steps", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "the data changed since" in err and "the run was trained on train" in err
    assert (run / "checkpoints" / "latest.pt").read_bytes() == latest
    (folder / "new.png").unlink()  # the same files again: it resumes
    assert main(["train", "--out", str(run), "--resume", "--steps", "4", "--no-progress"]) == 0
    for split, count in (("train", 20), ("test", 6)):  # a folder with its own splits reads only those
        (folder / split).mkdir()
        for i in range(count):
            Image.open(folder / f"{i}.png").save(folder / split / f"{i}.png")
    assert main(["train", *tiny, "--steps", "2", "--out", str(folder / "runs" / "a")]) == 0
    assert main(["train", *tiny, "--steps", "2", "--out", str(folder / "train" / "a")]) == 2
    assert f"is inside the data folder {(folder / 'train').resolve()}" in capsys.readouterr().err


def test_an_evaluation_that_cannot_run_here_is_refused_before_training(tmp_path, capsys):
    """--eval-every on a folder of 64x64 photos: no labels, so raw-pixel features, and FID on 12,288 numbers per
    image would take minutes per evaluation (under torchrun the other ranks waited on it); --eval-n below what a
    metric needs is refused too. Both before the first step, with nothing written."""
    from ganforge.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):  # 54 train, 3 val, 3 test
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    tiny = ["--data", f"folder:{folder}", "--batch-size", "4", "--width", "8", "--latent-dim", "4", "--steps", "4",
            "--eval-every", "2", "--no-progress"]
    assert main(["train", *tiny, "--image-size", "64", "--out", str(tmp_path / "a")]) == 2
    assert "12,288 numbers per image" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main(["train", *tiny, "--image-size", "16", "--eval-metrics", "pr", "--eval-n", "3",
                 "--out", str(tmp_path / "b")]) == 2
    assert "--eval-n 3: pr need at least 4 examples" in capsys.readouterr().err and not (tmp_path / "b").exists()
