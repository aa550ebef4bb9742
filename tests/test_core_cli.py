"""The command line: one-line errors with exit code 2, configs, resume rules, sampling, the Python API."""

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.noise import with_temperature

TINY = ["--data", "digits", "--width", "8", "--latent-dim", "8", "--batch-size", "16", "--no-progress"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--steps", "3", "--out", str(run)]) == 0
    return run


@pytest.mark.parametrize("argv,needle", [
    (["train", "--model", "stylegan9"], "unknown model 'stylegan9'"),
    (["train", "--data", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "--objective", "wasserstein-ish"], "objective="),
    (["train", "--batch-size", "0"], "batch_size=0"),
    (["train", "--steps", "5", "--epochs", "1"], "either steps or epochs"),
    (["train", "--model", "dcgan", "--data", "ring8"], "cannot model points data"),
    (["sample", "/nonexistent/run", "--out", "x.png"], "run directory /nonexistent/run not found"),
])
def test_user_errors_are_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_yaml_config_and_flags_override_it(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: gan\nbatch-size: 8\nsteps: 2\nwidth: 20\nlatent_dim: 4\n")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--config", cfg, "--steps", "1", "--data", "digits", "--out", run,
                             "--no-progress")
    assert code == 0, err
    saved = ganforge.load_run(run).config
    assert (saved.model, saved.batch_size, saved.steps, saved.width) == ("gan", 8, 1, 20)


def test_unknown_yaml_key_is_rejected(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learning_rate: 0.1\n")
    code, _, err = run_cli(capsys, "train", "--config", cfg)
    assert code == 2 and "unknown key 'learning_rate'" in err


def test_malformed_yaml_is_rejected(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: [1,\n")
    code, _, err = run_cli(capsys, "train", "--config", cfg)
    assert code == 2 and "not valid YAML" in err


def test_a_key_given_twice_in_yaml_is_rejected(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 20\nlr: 1.0e-3\nsteps: 30\n")
    code, _, err = run_cli(capsys, "train", "--config", cfg, "--out", tmp_path / "run")
    assert code == 2 and "not valid YAML (the key 'steps' appears twice)" in err
    assert not (tmp_path / "run").exists()
    cfg.write_text("k-disc: 2\nk_disc: 3\n")  # the same option spelt two ways
    code, _, err = run_cli(capsys, "train", "--config", cfg, "--out", tmp_path / "run")
    assert code == 2 and "the key 'k_disc' appears twice (as 'k-disc')" in err
    cfg.write_text("? [a, b]\n: 1\n")
    code, _, err = run_cli(capsys, "train", "--config", cfg, "--out", tmp_path / "run")
    assert code == 2 and "not an option name" in err and "Traceback" not in err


def test_yaml_merge_keys_still_work(tmp_path):
    from ganforge.config import load_yaml_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("base: &b {steps: 3, lr: 1.0e-3}\nrun:\n  <<: *b\n  steps: 4\n")  # an explicit key overrides
    assert load_yaml_config(cfg)["run"] == {"steps": 4, "lr": 1e-3}


def test_resume_may_extend_a_run_but_not_change_it(trained_run, capsys, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    code, _, err = run_cli(capsys, "train", "--out", run, "--resume", "--model", "gan")
    assert code == 2 and "cannot change it" in err
    code, _, err = run_cli(capsys, "train", "--out", run, "--resume", "--steps", "5", "--no-progress")
    assert code == 0, err
    assert ganforge.load_run(run).step == 5


def test_corrupt_checkpoint_is_a_user_error(tmp_path, capsys, trained_run):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    (run / "checkpoints" / "latest.pt").write_bytes(b"\x00garbage")
    code, _, err = run_cli(capsys, "sample", run, "--out", tmp_path / "x.png")
    assert code == 2 and "cannot be loaded" in err


def test_a_checkpoint_that_does_not_fit_the_model_is_a_one_line_error(trained_run, tmp_path, capsys):
    """E.g. a run saved by a version whose network layout differed: exit 2 naming the file, no traceback."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    latest = run / "checkpoints" / "latest.pt"
    ckpt = torch.load(latest, weights_only=True)
    ckpt["model"] = {f"old.{k}": v for k, v in ckpt["model"].items()}
    torch.save(ckpt, latest)
    code, _, err = run_cli(capsys, "sample", run, "--out", tmp_path / "x.png")
    assert code == 2 and "does not fit" in err and str(latest) in err
    assert err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run_cli(capsys, "train", *TINY, "--steps", "4", "--out", run, "--resume")
    assert code == 2 and "does not fit" in err


def test_sample_png_grid_and_npy(trained_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", trained_run, "--n", "16", "--out", tmp_path / "g.png", "--seed", "3")
    assert code == 0, err
    assert Image.open(tmp_path / "g.png").size[0] > 4 * 8
    run_cli(capsys, "sample", trained_run, "--n", "5", "--out", tmp_path / "a.npy", "--seed", "3")
    run_cli(capsys, "sample", trained_run, "--n", "5", "--out", tmp_path / "b.npy", "--seed", "3")
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (5, 1, 8, 8) and np.array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1
    code, _, err = run_cli(capsys, "sample", trained_run, "--out", tmp_path / "x.jpg")
    assert code == 2 and ".png" in err


def test_load_run_api(trained_run):
    run = ganforge.load_run(trained_run)
    assert run.step == 3 and run.config.model == "dcgan" and run.data.shape == (1, 8, 8)
    assert not run.generator.training
    x = run.sample(10, seed=0)
    assert x.shape == (10, 1, 8, 8) and x.dtype == torch.float32
    assert torch.equal(x, run.sample(10, seed=0))
    assert not torch.equal(x, run.sample(10, seed=1))


def test_sample_temperature_scales_only_the_noise(trained_run, tmp_path, capsys):
    """T = 1 is the prior itself; T = 0 puts every z at the prior's mean, so every sample is G(0)."""
    run = ganforge.load_run(trained_run)
    assert torch.equal(run.sample(6, seed=2, temperature=1.0), run.sample(6, seed=2))
    x0 = run.sample(6, seed=2, temperature=0.0)
    assert torch.allclose(x0, x0[:1].expand_as(x0))
    assert not torch.allclose(run.sample(6, seed=2, temperature=0.5), x0)
    z, y = torch.ones(3, 4), torch.tensor([0, 1, 2])
    half_z, same_y = with_temperature((z, y), 0.5)
    assert torch.equal(half_z, 0.5 * z) and same_y is y  # labels and codes are not noise
    code, _, err = run_cli(capsys, "sample", trained_run, "--out", tmp_path / "t.png", "--temperature", "-1")
    assert code == 2 and "--temperature -1" in err


def test_datasets_command_lists_availability(capsys):
    code, out, _ = run_cli(capsys, "datasets")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("digits"))
    assert "yes" in line


def test_models_command_lists_every_model_with_the_defaults_its_recipe_sets(capsys):
    from ganforge.models import MODELS

    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    heads = [ln.split()[0] for ln in out.splitlines() if not ln.startswith(" ")]
    assert heads == sorted(MODELS)
    code, out, _ = run_cli(capsys, "models", "wgan")
    assert code == 0 and out.startswith("wgan  [image, points]")
    # WGAN's recipe (Arjovsky et al. 2017): RMSProp 5e-5, 5 critic steps, clipping at 0.01
    assert "--clip 0.01, --k-disc 5, --lr 5e-05, --objective wasserstein, --optimizer rmsprop" in " ".join(out.split())
    assert "configs/wgan.yaml" in out
    code, _, err = run_cli(capsys, "models", "nosuch")
    assert code == 2 and "unknown model 'nosuch'" in err


def test_help_explains_every_train_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--k-disc", "--objective", "--prior", "--resume", "--config", "--sample-every"):
        assert flag in out


def test_a_run_stores_its_folder_absolutely_so_other_directories_find_it(tmp_path, monkeypatch, capsys):
    """``--data folder:imgs`` given from the folder's parent: the run stores the absolute path (its default name
    still says ``folder-imgs``), commands on the run work from anywhere, and resuming with the same relative name
    is the same data while another folder is refused."""
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(12):
        Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    small = ["--model", "dcgan", "--image-size", "8", "--width", "8", "--latent-dim", "8", "--batch-size", "4"]
    code, _, err = run_cli(capsys, "train", *small, "--data", "folder:imgs", "--steps", "2", "--no-progress")
    assert code == 0, err
    run = tmp_path / "runs" / "dcgan-folder-imgs"
    assert ganforge.load_run(run).config.data == f"folder:{tmp_path / 'imgs'}"
    trained_on = ganforge.load_run(run).training_examples()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert torch.equal(ganforge.load_run(run).training_examples(), trained_on) and len(trained_on) > 0
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--out", run, "--resume", "--data", "folder:imgs", "--steps", "3",
                           "--no-progress")
    assert code == 0, err
    code, _, err = run_cli(capsys, "train", "--out", run, "--resume", "--data", "folder:other", "--steps", "4")
    assert code == 2 and "cannot change it" in err


def test_yaml_reads_on_off_and_a_bare_number_of_seconds_as_the_options_mean_them(tmp_path):
    """YAML 1.1 reads ``compile: off`` as a boolean and ``time_budget: 100`` as an integer; both are what a user
    of the string options means."""
    from ganforge.config import TrainConfig, load_yaml_config

    path = tmp_path / "c.yaml"
    path.write_text("compile: off\nchannels_last: on\ntime_budget: 100\n")
    cfg = TrainConfig.from_dict(load_yaml_config(path)).validate()
    assert (cfg.compile, cfg.channels_last, cfg.time_budget_s) == ("off", "on", 100.0)


def test_report_of_a_run_whose_files_are_not_text_says_so_and_writes_the_page(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    noise = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (run / "config.yaml").write_bytes(noise)
    (run / "eval.json").write_bytes(noise)
    code, _, err = run_cli(capsys, "report", run)
    assert code == 0, err
    page = (run / "report.html").read_text()
    assert "eval.json is not valid JSON" in page


def test_sample_takes_a_bare_checkpoint_name_from_the_runs_own_folder(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--keep-every", "1", "--out", str(run)]) == 0
    code, out, err = run_cli(capsys, "sample", run, "--checkpoint", "step_000001.pt", "--n", "4",
                             "--out", tmp_path / "x.npy")
    assert code == 0 and "(step 1)" in out, err
    code, _, err = run_cli(capsys, "sample", run, "--checkpoint", "step_000009.pt", "--out", tmp_path / "x.npy")
    assert code == 2 and "not found here nor in" in err and "step_000001.pt, step_000002.pt" in err, err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the docs' form, relative to the run: checkpoints/step_N.pt
    code, out, err = run_cli(capsys, "sample", run, "--checkpoint", "checkpoints/step_000002.pt", "--n", "4",
                             "--out", tmp_path / "x.npy")
    assert code == 0 and "(step 2)" in out, err
    code, _, err = run_cli(capsys, "eval", run, "--checkpoint", "checkpoints/step_000009.pt", "--metrics", "modes")
    assert code == 2 and "not found here nor in" in err, err


def test_a_checkpoint_of_a_run_trained_otherwise_is_refused_even_for_the_same_model_and_data(tmp_path, capsys):
    """Two dcgan runs on digits, one 8 wide and one 16: the second's checkpoint is not the first run's."""
    for name, width in (("a", "8"), ("b", "16")):
        argv = ["train", *TINY, "--steps", "1", "--out", str(tmp_path / name)]
        argv[argv.index("--width") + 1] = width
        assert main(argv) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "sample", tmp_path / "a", "--checkpoint", tmp_path / "b" / "checkpoints" /
                           "latest.pt", "--out", tmp_path / "x.png")
    assert code == 2 and "not a checkpoint of run" in err and "width 16 (the run: 8)" in err, err


def test_a_run_saved_before_a_new_runs_check_still_resumes(trained_run, tmp_path, capsys):
    """--min-lr without --lr-decay is refused for new runs; a run that was saved with it (before the check
    existed) still resumes, as every check of refuse_ignored_options promises."""
    import shutil

    import yaml

    run = tmp_path / "old"
    shutil.copytree(trained_run, run)
    path = run / "checkpoints" / "latest.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["min_lr"] = 1e-5
    torch.save(ckpt, path)
    (run / "config.yaml").write_text(yaml.safe_dump(ckpt["config"]))
    code, _, err = run_cli(capsys, "train", "--out", run, "--resume", "--steps", "4", "--no-progress")
    assert code == 0, err


def test_resume_with_the_yaml_file_a_run_was_started_from(tmp_path, capsys, monkeypatch):
    """YAML reads 'channels_last: off' as a boolean; the resume compares it as the option means it ("off")."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("model: gan\ndata: ring8\nchannels_last: off\nbatch_size: 16\n")
    assert main(["train", "--config", "c.yaml", "--steps", "1", "--no-progress", "--out", "r"]) == 0
    code, _, err = run_cli(capsys, "train", "--config", "c.yaml", "--resume", "--steps", "2", "--no-progress",
                           "--out", "r")
    assert code == 0, err
