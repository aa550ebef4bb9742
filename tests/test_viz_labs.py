"""The toy labs end to end, kept short: the files they promise, and a 1-D GAN that learned."""

import json
import math

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganforge.cli import main
from ganforge.errors import UserError
from ganforge.metrics.modes import mode_coverage
from ganforge.viz.lab1d import run_lab1d, torch_threads
from ganforge.viz.lab2d import lab_config, parse_model_spec, parse_model_specs, run_lab2d


def test_lab1d_learns_gauss1d_and_writes_animation_stills_and_theory(tmp_path):
    """500 steps of the 2014 GAN take p_g from a spike near 0 (JSD(p_data || p_g) > 0.6 nats; log 2 = 0.69
    for disjoint densities) to within JSD < 0.2 of N(4, 0.5^2), and C(G) agrees with -log 4 + 2 JSD to 1e-3
    (the lab's grid misses a sliver of each density's mass; test_theory checks it to 1e-6 on a full grid)."""
    with torch_threads(1):
        r = run_lab1d(tmp_path / "lab", steps=500, frames=4, theory_steps=300)
    gif = Image.open(r.gif)
    assert gif.n_frames == 4
    assert [p.name[:7] for p in r.stills] == ["frame_a", "frame_b", "frame_c", "frame_d"]
    checks = json.loads((tmp_path / "lab" / "theory.json").read_text())
    assert checks["JSD_at_step_0"] > 0.6
    assert checks["JSD"] < 0.2
    assert checks["C_of_G"] == pytest.approx(checks["minus_log4_plus_2JSD"], abs=1e-3)
    assert checks["C_at_pg_equal_pdata"] == pytest.approx(-math.log(4), abs=1e-4)  # grid covers ~all the mass
    assert checks["max_abs_Dstar_minus_half_at_pg_equal_pdata"] == 0
    # the lab's directory is a normal run: config, log and checkpoint
    assert yaml.safe_load((tmp_path / "lab" / "config.yaml").read_text())["latent_dim"] == 1
    assert (tmp_path / "lab" / "checkpoints" / "latest.pt").is_file()
    assert json.loads((tmp_path / "lab" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 500
    with pytest.raises(UserError, match="already holds a lab run"):
        run_lab1d(tmp_path / "lab", steps=10, frames=2)


def test_lab1d_rejects_unknown_data(tmp_path, capsys):
    assert main(["lab", "1d", "--data", "gauss1d", "--frames", "1", "--out", str(tmp_path / "x")]) == 2
    assert "frames=1" in capsys.readouterr().err


def test_lab1d_stops_in_one_line_when_training_diverges(tmp_path, capsys):
    assert main(["lab", "1d", "--steps", "20", "--frames", "3", "--lr", "1e9", "--out", str(tmp_path / "x")]) == 3
    err = capsys.readouterr().err.strip()
    assert "training diverged at step" in err and "is nan" in err and "\n" not in err


def test_model_specs_parse_options_as_yaml_scalars():
    spec = parse_model_spec("gan:objective=minimax,k_disc=5,lr=1e-4")
    assert (spec.model, spec.options) == ("gan", {"objective": "minimax", "k_disc": 5, "lr": 1e-4})
    cfg = lab_config(spec, "ring8", 100, 0)
    assert (cfg.objective, cfg.k_disc, cfg.lr, cfg.steps, cfg.data) == ("minimax", 5, 1e-4, 100, "ring8")
    for bad in ("gan:k_disc", "gan gan", "", "gan:data=digits", "gan:steps=3", "gan:lr="):
        with pytest.raises(UserError):
            parse_model_spec(bad)
    with pytest.raises(UserError, match="dcgan"):
        parse_model_specs(["dcgan"])  # images only
    with pytest.raises(UserError, match="unknown key"):
        lab_config(parse_model_spec("gan:k_dsic=5"), "ring8", 100, 0)


def test_lab2d_compares_the_models_its_help_names_by_default(capsys):
    from ganforge.viz.lab2d import DEFAULT_MODELS

    assert [s.model for s in parse_model_specs(None)] == list(DEFAULT_MODELS)
    with pytest.raises(SystemExit):
        main(["lab", "2d", "--help"])
    assert f"[{' '.join(DEFAULT_MODELS)}]" in " ".join(capsys.readouterr().out.split())


def test_lab2d_scores_every_frame_with_mode_coverage(tmp_path):
    with torch_threads(1):
        r = run_lab2d(tmp_path / "lab", "grid25", parse_model_specs(["gan", "gan:objective=minimax"]), steps=20,
                      frames=3, workers=1)
    record = json.loads((tmp_path / "lab" / "modes.json").read_text())
    assert list(record["models"]) == ["gan", "gan:objective=minimax"]
    for label, rows in record["models"].items():
        assert [row["step"] for row in rows] == [0, 10, 20]
        assert all(row["num_modes"] == 25 and 0 <= row["modes_covered"] <= 25 for row in rows)
        assert Image.open(r.gifs[label]).n_frames == 3
    assert Image.open(r.comparison).size[1] > 300
    log = [json.loads(line) for line in (tmp_path / "lab" / "runs" / "gan" / "metrics.jsonl").read_text().splitlines()]
    assert [row["metric/modes_covered"] for row in log] == [row["modes_covered"] for row in record["models"]["gan"]]
    # the last frame's numbers are mode_coverage of the run's final samples from the same latents
    from ganforge.run import load_run

    run = load_run(tmp_path / "lab" / "runs" / "gan")
    latent = run.model.sample_latent(2000, torch.Generator().manual_seed(3))
    grid_means = np.stack(np.meshgrid(*[np.arange(-4.0, 5.0, 2.0)] * 2, indexing="ij"), -1).reshape(-1, 2)
    expected = mode_coverage(run.model.generate(latent).detach().numpy(), grid_means, 0.05)
    assert record["models"]["gan"][-1]["mode_counts"] == expected["mode_counts"]


@pytest.mark.slow  # two spawned interpreters each import torch: ~30 s on a busy 2-core machine
def test_lab2d_results_do_not_depend_on_training_models_in_parallel(tmp_path):
    specs = parse_model_specs(["gan", "gan:k_disc=2"])
    with torch_threads(1):
        serial = run_lab2d(tmp_path / "serial", "ring8", specs, steps=6, frames=2, workers=1)
        parallel = run_lab2d(tmp_path / "parallel", "ring8", specs, steps=6, frames=2, workers=2)
    assert serial.metrics == parallel.metrics
    for label in ("gan", "gan_k_disc_2"):
        a = (tmp_path / "serial" / "runs" / label / "metrics.jsonl").read_text()
        b = (tmp_path / "parallel" / "runs" / label / "metrics.jsonl").read_text()
        assert a == b
