"""``ganforge export``: the ONNX and TorchScript generators reproduce PyTorch's samples to 1e-4, at any batch
size, with the latent size, prior and output range stored in the file."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from ganforge import cli
from ganforge.config import TrainConfig
from ganforge.export import check_export, export_generator, fixed_latents, read_metadata, run_exported
from ganforge.run import load_run
from ganforge.train import Trainer

MODELS = {
    "dcgan": dict(model="dcgan", width=8),
    "cgan": dict(model="cgan", width=8),  # two inputs: z and the class y (int64)
    "infogan": dict(model="infogan", width=8),  # three inputs: z, c1, continuous codes
    "gan": dict(model="gan", width=32, prior="uniform"),  # the 2014 MLPs, uniform prior
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def run_dir(request, tmp_path_factory):
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("export") / request.param
    cfg = TrainConfig(data="digits", steps=3, batch_size=16, latent_dim=8, sample_every=1000, device="cpu",
                      **MODELS[request.param])
    Trainer(cfg, run_dir, progress=False).fit()
    return run_dir


def _to_unit(run, latents):
    with torch.inference_mode():
        x = run.model.generate(latents[0] if len(latents) == 1 else latents)
    return (x.add(1).mul(0.5).clamp(0, 1)).numpy()  # LoadedRun.sample's map to [0, 1]


# torch 2.13 marks torch.jit.load deprecated (the README says so beside --format torchscript); files still load
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt, suffix", [("torchscript", ".pt"), ("onnx", ".onnx")])
def test_exported_generator_reproduces_pytorch_samples(run_dir, tmp_path, fmt, suffix):
    if fmt == "onnx":
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")
    run = load_run(run_dir)
    out = tmp_path / f"g{suffix}"
    meta = export_generator(run, fmt, out)
    for n in (1, 5, 33):  # the batch axis is dynamic: sizes other than the traced one
        latents = fixed_latents(run, n, seed=n)
        got = run_exported(out, fmt, latents)
        assert got.shape == (n, 1, 8, 8)
        np.testing.assert_allclose(got, _to_unit(run, latents), atol=1e-4, rtol=0)
    # the samples a user gets from LoadedRun.sample come from the same latents
    seeded = fixed_latents(run, 4, seed=7)
    np.testing.assert_allclose(run_exported(out, fmt, seeded),
                               run.sample(4, seed=7).numpy(), atol=1e-4, rtol=0)
    assert check_export(run, out, fmt) <= 1e-4
    if fmt == "torchscript":  # the generator's weights only: no discriminator in the file
        exported = sum(p.numel() for p in torch.jit.load(str(out)).parameters())
        assert exported == sum(p.numel() for p in run.generator.parameters())
    stored = read_metadata(out)
    assert stored == json.loads(json.dumps(meta))
    assert stored["latent_dim"] == 8 and stored["prior"] == run.config.prior
    assert stored["output"]["range"] == "[0, 1]" and stored["inputs"][0] == {"name": "z", "shape": [-1, 8],
                                                                              "dtype": "float32"}


def test_readme_three_lines_sample_from_the_onnx_file(tmp_path):
    """The README's onnxruntime snippet, as written there, gives images in [0, 1]."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    run_dir = tmp_path / "run"
    Trainer(TrainConfig(data="digits", steps=2, batch_size=16, width=8, latent_dim=8, sample_every=1000,
                        device="cpu"), run_dir, progress=False).fit()
    assert cli.main(["export", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "g.onnx"), "--check"]) == 0
    import onnx

    props = {p.key: p.value for p in onnx.load(str(tmp_path / "g.onnx")).metadata_props}
    assert props["latent_dim"] == "8" and props["prior"] == "normal" and props["output_range"] == "[0, 1]"
    session = ort.InferenceSession(str(tmp_path / "g.onnx"))
    images = session.run(None, {"z": np.random.randn(16, int(props["latent_dim"])).astype(np.float32)})[0]
    assert images.shape == (16, 1, 8, 8) and images.min() >= 0 and images.max() <= 1


def test_export_cli_checks_and_refuses_a_wrong_suffix(run_dir, tmp_path, capsys):
    assert cli.main(["export", str(run_dir), "--format", "torchscript", "--out", str(tmp_path / "g.pt"),
                     "--check"]) == 0
    out = capsys.readouterr().out
    assert "check passed" in out and "prior" in out
    assert cli.main(["export", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "g.pt")]) == 2
    assert "expected a .onnx file name" in capsys.readouterr().err


def _every_model_options():
    """(model, data, extra options) for every registered model on the data it takes: images (digits), a table
    (a small mixed CSV) for the table models."""
    from ganforge.models import MODELS as REGISTRY

    for name, spec in sorted(REGISTRY.items()):
        data = "digits" if "image" in spec.data_kinds else "table"
        yield pytest.param(name, data, id=name)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("model, data", list(_every_model_options()))
def test_every_model_exports_a_generator_that_works_at_other_batch_sizes(model, data, tmp_path):
    """The file is traced at batch 2 and checked at 16 and 3: a batch size read as a Python number while tracing
    (``len(z)``) would be frozen into the file. Run with G's weight average (--g-ema), which eval mode samples
    from and whose weights need no gradient."""
    from ganforge.models import config_for
    from test_tables_data import write_mixed_csv

    if data == "table":
        data = f"csv:{write_mixed_csv(tmp_path / 't.csv', n=120)}"
    extra = {"labels": 20} if model == "sgan" else {}
    extra.update({} if model in ("srresnet", "srgan", "nextframe") else {"latent_dim": 4})  # these draw no noise
    batch = 20 if data.startswith("csv:") else 16
    cfg = config_for(model=model, data=data, steps=2, batch_size=batch, width=8, sample_every=100,
                     checkpoint_every=100, g_ema=100.0, **extra)
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    run = load_run(tmp_path / "run")
    meta = export_generator(run, "torchscript", tmp_path / "g.pt")
    assert check_export(run, tmp_path / "g.pt", "torchscript") <= 1e-4
    assert meta["output_range"] == meta["output"]["range"]  # one description of the output, e.g. encoded rows
    # the metadata says what the file reads and writes: noise from the prior, or (srresnet, srgan, nextframe)
    # the inputs G is conditioned on; the output's shape is what G writes (nextframe's frames are not digits)
    x = torch.jit.load(str(tmp_path / "g.pt"))(*fixed_latents(run, 3))
    assert meta["output"]["shape"] == [-1, *x.shape[1:]]
    assert (meta["prior"] is None) == (model in ("srresnet", "srgan", "nextframe")) == ("input" in meta)
    if model in ("ctgan", "progan", "stylegan2", "nextframe") and importlib.util.find_spec("onnxruntime"):
        meta = export_generator(run, "onnx", tmp_path / "g.onnx")  # ctgan: latents the graph never reads
        assert check_export(run, tmp_path / "g.onnx", "onnx") <= 1e-4
        assert read_metadata(tmp_path / "g.onnx")["inputs"] == meta["inputs"]
        if model == "ctgan":  # z, the condition, Gumbel noise; u (training-by-sampling's draw) is not read
            assert [i["name"] for i in meta["inputs"]] == ["z", "latent_1", "latent_3"]


def test_an_export_that_does_not_run_is_removed_and_exits_1(run_dir, tmp_path, capsys, monkeypatch):
    """Every export runs its file at two batch sizes; a file that fails (as a progan file traced with the batch
    size frozen in did, before) is removed rather than left behind with exit 0."""
    import ganforge.export as export_module

    def broken(*args, **kwargs):
        raise RuntimeError("Given groups=1, weight of size [64, 64, 3, 3], expected 64 channels, got 512")

    monkeypatch.setattr(export_module, "check_export", broken)
    out = tmp_path / "g.pt"
    assert cli.main(["export", str(run_dir), "--format", "torchscript", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "failed to run on fixed latents" in err and "got 512" in err and "\n" not in err
    assert not out.exists()


def test_without_onnxruntime_an_onnx_file_is_kept_unchecked_and_check_refused_before_writing(run_dir, tmp_path,
                                                                                             capsys, monkeypatch):
    pytest.importorskip("onnx")
    from ganforge.commands import export as export_command

    monkeypatch.setattr(export_command, "onnxruntime_importable", lambda: False)
    out = tmp_path / "g.onnx"
    assert cli.main(["export", str(run_dir), "--format", "onnx", "--out", str(out)]) == 0
    assert out.is_file() and "not checked: running the ONNX file needs onnxruntime" in capsys.readouterr().out
    other = tmp_path / "h.onnx"
    assert cli.main(["export", str(run_dir), "--format", "onnx", "--out", str(other), "--check"]) == 2
    assert "--check: running an ONNX file needs onnxruntime" in capsys.readouterr().err and not other.exists()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_export_takes_the_checkpoint_to_export(tmp_path, capsys):
    """--checkpoint as sample and eval take it: a kept step (or best.pt of a --keep-best run), latest by default."""
    run = tmp_path / "run"
    Trainer(TrainConfig(data="digits", steps=2, keep_every=1, batch_size=16, latent_dim=8, width=8,
                        sample_every=1000, device="cpu"), run, progress=False).fit()
    for which, step in (("step_000001.pt", 1), ("latest", 2)):
        assert cli.main(["export", str(run), "--format", "torchscript", "--checkpoint", which, "--out",
                         str(tmp_path / f"{step}.pt")]) == 0
        assert f"(step {step})" in capsys.readouterr().out
    assert cli.main(["export", str(run), "--format", "torchscript", "--checkpoint", "best", "--out",
                     str(tmp_path / "b.pt")]) == 2
    assert "checkpoint best" in capsys.readouterr().err and not (tmp_path / "b.pt").exists()
