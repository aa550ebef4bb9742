"""The speed benchmark measures what it says, and the speed options change speed, not the maths.

Timings themselves are never asserted here (they live in ``ganforge bench`` output and docs/performance.md).
"""

import json
import os

import numpy as np
import pytest
import torch

from ganforge.benchmark import PerSampleImageDataset, count_flops, model_recipe, run_benchmark
from ganforge.cli import main
from ganforge.config import TrainConfig
from ganforge.data import to_model_range
from ganforge.models import MODELS
from ganforge.train import Trainer, has_convolutions

REQUIRED = {"impl", "model", "size", "device", "batch_size", "images_per_s", "flops_per_image", "peak_matmul_flops"}


def test_flops_of_a_linear_training_step_are_counted_in_closed_form():
    """y = x W^T: forward 2*N*I*O, and backward 2*N*I*O each for dL/dx and dL/dW."""
    n, i, o = 32, 20, 10
    layer = torch.nn.Linear(i, o, bias=False)
    x = torch.randn(n, i, requires_grad=True)
    assert count_flops(lambda: layer(x).sum().backward()) == 3 * 2 * n * i * o


def test_the_reference_loop_sees_the_same_pixels_as_ganforge():
    """ToTensor then Normalize(0.5, 0.5) per sample equals ganforge's per-batch uint8 -> [-1, 1]."""
    images = np.random.default_rng(0).integers(0, 256, (5, 1, 4, 4), dtype=np.uint8)
    per_sample = torch.stack([PerSampleImageDataset(images)[i][0] for i in range(5)])
    torch.testing.assert_close(per_sample, to_model_range(torch.from_numpy(images)), rtol=0, atol=1e-6)


def test_bench_prints_one_json_row_per_implementation_with_the_ratio(capsys):
    code = main(["bench", "--model", "gan", "--size", "28", "--batch-size", "32", "--rounds", "1", "--steps", "1",
                 "--data", "digits", "--json"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["impl"] for r in rows] == ["ganforge", "reference"]
    for r in rows:
        assert REQUIRED <= set(r)
        assert (r["model"], r["size"], r["batch_size"], r["device"]) == ("gan", 28, 32, "cpu")
        assert r["images_per_s"] > 0 and r["peak_matmul_flops"] > 0
        # the 2014 MLPs: G 100-1200-1200-784, D maxout 784-(240x5)-(240x5)-1: millions of FLOPs per image
        assert 1e6 < r["flops_per_image"] < 1e8
    ganforge, reference = rows
    assert ganforge["ratio_to_reference"] == pytest.approx(ganforge["images_per_s"] / reference["images_per_s"],
                                                           rel=0.02)


def test_bench_skips_a_model_that_is_not_registered():
    notes = []
    assert run_benchmark([("no-such-model", 28)], [8], "cpu", log=notes.append) == []
    assert any("no-such-model is not registered" in n for n in notes)


def test_bench_rejects_bad_values_as_user_errors(capsys):
    assert main(["bench", "--rounds", "0"]) == 2
    assert "--rounds 0 is invalid" in capsys.readouterr().err
    # a table model or point data: refused alone, before the matmul peak is measured or anything is printed
    for argv, said in ((["--model", "ctgan", "--size", "8"], "model ctgan cannot model image data"),
                       (["--data", "ring8", "--size", "8"], "--data ring8: holds points"),
                       (["--model", "srresnet", "--size", "8"], "model srresnet: it trains on low/high-resolution"),
                       (["--model", "cgan", "--size", "8"], "model cgan: it trains on labelled images")):
        assert main(["bench", *argv, "--rounds", "1", "--steps", "1", "--threads", "1"]) == 2
        out, err = capsys.readouterr()
        assert said in err and err.count("\n") == 1 and out == ""


#: dcgan, and the two families of other nets (critic without batch norm; label-conditioned inputs) run in CI;
#: every other registered image model runs in the slow suite.
FAST_MODELS = ("dcgan", "wgan-gp", "cgan")
IMAGE_MODELS = [pytest.param(name, marks=() if name in FAST_MODELS else pytest.mark.slow)
                for name, spec in sorted(MODELS.items()) if "image" in spec.data_kinds]


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_channels_last_is_a_memory_layout_not_a_different_model(tmp_path, model):
    """A step with channels-last and with NCHW memory gives the same weights, up to float rounding."""
    def trained(layout):
        noise = {} if model in ("srresnet", "srgan", "nextframe") else {"latent_dim": 16}  # those draw none
        cfg = TrainConfig(**{**model_recipe(model), "k_disc": 1}, model=model, data="digits", batch_size=16,
                          width=8, sample_every=1000, checkpoint_every=1000, channels_last=layout,
                          device="cpu", seed=1, **noise)
        trainer = Trainer(cfg, tmp_path / layout, progress=False)
        trainer.train_step()
        return trainer

    nhwc, nchw = trained("on"), trained("off")
    if not has_convolutions(nhwc.model):
        pytest.skip(f"{model} has no convolutions on images")
    for (name, a), b in zip(nhwc.model.state_dict().items(), nchw.model.state_dict().values(), strict=True):
        if a.is_floating_point():
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=name)


def test_a_bench_script_reports_a_user_error_in_one_line_with_exit_2(tmp_path):
    """bench/ scripts run through ``run_script``: bad data is one line, as in the CLI, not a traceback."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "sr_table.py"
    out = subprocess.run([sys.executable, str(script), "--data", f"folder:{tmp_path / 'absent'}", "--out",
                          str(tmp_path / "t")], capture_output=True, text=True, env={**os.environ,
                                                                                   "OMP_NUM_THREADS": "1"})
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith("ganforge: error: ") and "absent" in out.stderr


def test_run_script_returns_mains_code_and_turns_a_user_error_into_its_exit_code(capsys):
    from ganforge.errors import TrainingDiverged, UserError, run_script

    def fails(exc):
        raise exc

    assert run_script(lambda: 5) == 5 and run_script(lambda: None) == 0
    assert run_script(fails, UserError("--n -1: expected a positive integer\nmore")) == 2
    assert run_script(fails, TrainingDiverged("loss/D is nan")) == 3
    assert capsys.readouterr().err.splitlines() == ["ganforge: error: --n -1: expected a positive integer",
                                                   "ganforge: error: loss/D is nan"]
