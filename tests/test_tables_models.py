"""ctgan and tvae (issue 13) through the shared loop: training-by-sampling draws conditions at the configured
rates and real rows that match them; one step of each phase; resume continues bit-identically."""

import re

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.models import DataInfo, config_for
from ganforge.models.ctgan import CTGAN
from ganforge.train import Trainer, build_model
from test_tables_data import write_mixed_csv


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = write_mixed_csv(tmp_path_factory.mktemp("tables") / "t.csv", n=600)
    return load_dataset(f"csv:{path}")


def info(ds):
    return DataInfo(ds.kind, ds.shape, None, ds.meta["table"])


def test_training_by_sampling_draws_each_category_at_the_configured_rates(table):
    model = build_model(config_for(model="ctgan", batch_size=100), info(table))
    model.on_train_data(torch.from_numpy(table.split("train")), None, torch.Generator())
    layout, n = model.layout, 200_000
    rng = torch.Generator().manual_seed(0)
    model.train()
    choice, u = (model.sample_latent(n, rng)[i] for i in (1, 2))
    model.eval()
    choice_eval = model.sample_latent(n, rng)[1]
    model.log_frequency_sampling = True  # sample --condition-frequency log: the package's sampling rule
    choice_log = model.sample_latent(n, rng)[1]
    k = len(layout.cond_spans)
    assert k == 3  # colour, member, rating
    for i, span in enumerate(layout.cond_spans):
        counts = np.array(table.meta["table"]["columns"][span.column]["counts"], dtype=float)
        cats = np.arange(layout.cond_offsets[i], layout.cond_offsets[i] + span.width)
        log_rates = np.log1p(counts) / np.log1p(counts).sum() / k
        for got, expected in ((choice, log_rates),  # training: log-frequency
                              (choice_eval, counts / counts.sum() / k),  # sampling: the data's frequencies
                              (choice_log, log_rates)):
            rates = np.array([(got == c).float().mean().item() for c in cats])
            # binomial standard error of a rate p from n draws: sqrt(p (1 - p) / n) < 0.0012; 5 of them
            np.testing.assert_allclose(rates, expected, atol=0.006)
    # the real rows D sees under condition c all have category c
    rows = model.conditions.real_rows(choice[:5000], u[:5000])
    for i, span in enumerate(layout.cond_spans):
        picked = choice[:5000] - layout.cond_offsets[i]
        mine = (picked >= 0) & (picked < span.width)
        got = rows[mine, span.start:span.start + span.width].argmax(1)
        assert torch.equal(got, picked[mine])


def test_generator_honours_the_condition_vector_layout(table):
    model = build_model(config_for(model="ctgan", batch_size=100), info(table))
    assert isinstance(model, CTGAN)
    choice = torch.tensor([0, model.layout.cond_dim - 1, -1])
    c = model.condition(choice)
    assert c.shape == (3, model.layout.cond_dim)
    assert c[0, 0] == 1 and c[1, -1] == 1 and c.sum() == 2


@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_each_phase_steps_only_its_own_parameters_with_finite_losses(name, table, tmp_path):
    cfg = config_for(model=name, data="unused", batch_size=50, steps=2, sample_every=2, checkpoint_every=2,
                     device="cpu")
    trainer = Trainer(cfg, tmp_path / "run", dataset=table, progress=False)
    names = {id(p): name for name, p in trainer.model.named_parameters()}
    for phase in trainer.phases:
        before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
        logs = trainer.run_phase(phase)
        assert all(torch.isfinite(v).all() for v in logs.values())
        changed = {name for name, p in trainer.model.named_parameters() if not torch.equal(p, before[name])}
        own = {names[id(p)] for p in phase.params}
        assert changed and changed <= own, (phase.name, sorted(changed - own))
        assert len(changed) >= len(own) // 2  # most of its own weights moved (a few may get no gradient)


def test_table_runs_resume_bit_identically(tmp_path, table):
    path = tmp_path / "t.csv"
    write_mixed_csv(path, n=600)
    common = ["train", "--model", "ctgan", "--data", f"csv:{path}", "--batch-size", "50", "--no-progress",
              "--sample-every", "2", "--checkpoint-every", "2"]
    assert main([*common, "--steps", "4", "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--steps", "2", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", "--out", str(tmp_path / "b"), "--resume", "--steps", "4", "--no-progress"]) == 0
    a = torch.load(tmp_path / "a/checkpoints/latest.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b/checkpoints/latest.pt", weights_only=True)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table-run")
    path = write_mixed_csv(folder / "t.csv", n=600)
    run = folder / "run"
    assert main(["train", "--model", "ctgan", "--data", f"csv:{path}", "--batch-size", "50", "--steps", "4",
                 "--no-progress", "--out", str(run)]) == 0
    return path, run


def test_sample_writes_the_original_columns_kinds_and_categories(table_run, tmp_path):
    from ganforge.data.table import read_csv

    source, run = table_run
    header, rows = read_csv(source)
    assert main(["sample", str(run), "--n", "700", "--seed", "3", "--out", str(tmp_path / "s.csv")]) == 0
    header2, rows2 = read_csv(tmp_path / "s.csv")
    assert header2 == header and len(rows2) == 700
    for j, name in enumerate(header):
        values = {r[j] for r in rows2}
        if name in ("colour", "member", "rating"):
            assert values <= {r[j] for r in rows}, name
        elif name == "visits":  # an integer column comes back as integers within the training range
            assert all(v.isdigit() and 0 <= int(v) <= 59 for v in values)
        else:  # income: 3 decimals as in the file, or empty (it had missing values)
            assert all(v == "" or len(v.split(".")[1]) == 3 for v in values)
    assert main(["sample", str(run), "--n", "50", "--seed", "4", "--condition", "rating=2",
                 "--out", str(tmp_path / "c.csv")]) == 0
    _, rows3 = read_csv(tmp_path / "c.csv")
    assert rows3 and {r[4] for r in rows3} == {"2"}


def test_condition_frequency_log_samples_with_the_training_rates_and_only_for_ctgan(table_run, tmp_path, capsys,
                                                                                   monkeypatch):
    from ganforge.models.ctgan import ConditionSampler

    _, run = table_run
    original, seen = ConditionSampler.sample_choice, []

    def spy(self, n, rng, log_frequency):
        seen.append(log_frequency)
        return original(self, n, rng, log_frequency)

    monkeypatch.setattr(ConditionSampler, "sample_choice", spy)
    for freq, expected in (("data", False), ("log", True)):
        seen.clear()
        assert main(["sample", str(run), "--n", "300", "--seed", "5", "--condition-frequency", freq,
                     "--out", str(tmp_path / f"{freq}.csv")]) == 0
        assert seen and set(seen) == {expected}  # the rates themselves: test_training_by_sampling_draws_...
    tvae = tmp_path / "tvae"
    assert main(["train", "--model", "tvae", "--data", f"csv:{table_run[0]}", "--batch-size", "50", "--steps", "2",
                 "--no-progress", "--out", str(tvae)]) == 0
    capsys.readouterr()
    assert main(["sample", str(tvae), "--condition-frequency", "log", "--out", str(tmp_path / "t.csv")]) == 2
    assert "expected a ctgan run" in capsys.readouterr().err


@pytest.mark.parametrize("condition,needle", [("nosuch=1", "no column 'nosuch'"), ("income=3", "is continuous"),
                                              ("rating=9", "no category '9'"), ("rating", "expected COLUMN=VALUE")])
def test_a_bad_condition_is_one_line_and_exit_2(condition, needle, table_run, tmp_path, capsys):
    _, run = table_run
    got = main(["sample", str(run), "--condition", condition, "--out", str(tmp_path / "c.csv")])
    err = capsys.readouterr().err
    assert got == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "c.csv").exists()


def test_eval_picks_the_table_measures_for_a_table_run(table_run, tmp_path, capsys):
    import json

    _, run = table_run
    assert main(["eval", str(run), "--n", "200", "--out", str(tmp_path / "e.json")]) == 0
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["checkpoint"] == "latest"
    values = record["values"]
    for key in ("shape", "trends", "efficacy_rating", "efficacy_rating_real", "privacy_dcr_train",
                "privacy_dcr_holdout", "privacy_closer_to_train", "privacy_exact_copies", "detection_auroc"):
        assert key in values, key
    assert 0 <= values["shape"] <= 1 and 0 <= values["detection_auroc"] <= 1
    assert set(record["columns"]) == {"income", "visits", "colour", "member", "rating"}
    assert main(["eval", str(run), "--target", "nosuch", "--n", "200"]) == 2
    assert "--target nosuch: no such column" in capsys.readouterr().err
    assert main(["eval", str(run), "--n", "2"]) == 2  # detection's 3-fold split of 2 + 2 rows was a traceback
    assert "--n 2: the table measures need at least 10 synthetic rows" in capsys.readouterr().err


def test_eval_every_measures_a_table_run_and_keeps_the_best_by_shape(tmp_path):
    import json

    path = write_mixed_csv(tmp_path / "t.csv", n=300)
    run = tmp_path / "run"
    assert main(["train", "--model", "tvae", "--data", f"csv:{path}", "--batch-size", "50", "--steps", "4",
                 "--eval-every", "2", "--eval-metrics", "shape,trends", "--eval-n", "100", "--keep-best", "shape",
                 "--no-progress", "--out", str(run)]) == 0
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in lines if "metric/shape" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(0 <= r["metric/shape"] <= 1 and 0 <= r["metric/trends"] <= 1 for r in evals)
    assert (run / "checkpoints" / "best.pt").is_file()


def test_a_table_run_refuses_a_png_grid(table_run, tmp_path, capsys):
    _, run = table_run
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 2
    assert "expected a .csv file name" in capsys.readouterr().err


def test_category_frequencies_and_trend_matrix_match_hand_counts_and_the_trend_scores(table):
    from ganforge.metrics.table import pair_trends
    from ganforge.viz.tables import category_frequencies, trend_matrix

    real = np.array(["a", "a", "b", "", "c", "a"], dtype=object)
    synth = np.array(["b", "b", "z", "a"], dtype=object)
    labels, fr, fs = category_frequencies(real, synth, max_bars=2)
    assert labels == ["a", "(missing)", "other"]  # a x3, then "" before b and c (ties in sorted order)
    np.testing.assert_allclose(fr, [3 / 6, 1 / 6, 2 / 6])
    np.testing.assert_allclose(fs, [1 / 4, 0, 3 / 4])
    t, frames = table.meta["table"], table.meta["frames"]
    real_f, synth_f = frames["train"], frames["test"]
    names, m = trend_matrix(real_f, synth_f, t)
    scores = pair_trends(real_f, synth_f, t)
    assert names == [c["name"] for c in t["columns"]] and np.allclose(np.diag(m), 0) and np.allclose(m, m.T)
    assert m[0, 1] == pytest.approx(1 - scores[f"{names[0]}|{names[1]}"])
    assert m[1, 2] == pytest.approx(1 - scores[f"{names[1]}|{names[2]}"])


def test_report_of_a_table_run_draws_the_histograms_and_the_trend_heat_map(table_run):
    pytest.importorskip("matplotlib")
    _, run = table_run
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    for name in ("table_columns.png", "table_trends.png"):
        assert (run / "report" / name).stat().st_size > 5000 and name in html


@pytest.mark.parametrize("name", ["gan", "wgan-gp"])
def test_the_plain_mlp_gans_model_a_table_as_the_naive_baseline(name, table, tmp_path):
    """gan and wgan-gp read the same encoded rows (no conditional vector, no packing) through the shared loop;
    their samples decode to the table's own columns and categories."""
    from ganforge.data.table import TableSpec

    run = tmp_path / "run"
    trainer = Trainer(config_for(model=name, batch_size=50, steps=3, sample_every=10**9), run, dataset=table,
                      progress=False)
    trainer.fit()
    x = trainer.model.eval().generate(trainer.model.sample_latent(64, torch.Generator().manual_seed(0)))
    assert x.shape == (64, table.shape[0]) and torch.isfinite(x).all()
    frame = TableSpec(table.meta["table"]).decode(x.detach().numpy())
    assert set(frame) == {c["name"] for c in table.meta["table"]["columns"]}
    assert set(frame["colour"]) <= set(table.meta["table"]["columns"][2]["categories"])
    assert main(["sample", str(run), "--n", "20", "--out", str(tmp_path / "s.csv")]) == 0


def test_made_rare_cuts_only_the_class_to_the_fraction_and_keeps_every_other_row(repo_script):
    rare = repo_script("bench/table_rare_class.py")
    rng = np.random.default_rng(0)
    label = np.array(["a"] * 600 + ["b"] * 300 + ["c"] * 100, dtype=object)
    frame = {"label": label, "x": rng.normal(size=1000), "id": np.arange(1000)}
    cut = rare.made_rare(frame, "label", "b", 0.02, seed=0)
    kept_b = cut["label"] == "b"
    assert kept_b.mean() == pytest.approx(0.02, abs=0.001)
    assert set(cut["id"][~kept_b]) == set(frame["id"][label != "b"])  # every other row stays
    assert set(cut["id"][kept_b]) <= set(frame["id"][label == "b"])
    assert np.array_equal(cut["x"], frame["x"][cut["id"]])  # rows stay whole and in order
    assert np.array_equal(rare.made_rare(frame, "label", "b", 0.02, seed=0)["id"], cut["id"])  # seeded
    with pytest.raises(SystemExit):
        rare.made_rare(frame, "label", "c", 0.2, seed=0)  # already below the fraction


def _train_small_ctgan(folder, rows: list[str]):
    path = folder / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    run = folder / "run"
    assert main(["train", "--model", "ctgan", "--data", f"csv:{path}", "--batch-size", "50", "--steps", "4",
                 "--no-progress", "--out", str(run)]) == 0
    return path, run


def test_no_copies_drops_every_row_equal_to_a_training_row_and_says_how_many(tmp_path, capsys):
    from ganforge.data.table import read_csv

    rng = np.random.default_rng(0)  # 2 x 101 possible rows, 480 training rows: most synthetic rows are copies
    rows = ["kind,value"] + [f"{rng.choice(['p', 'q'])},{rng.integers(0, 101) / 100:.2f}" for _ in range(600)]
    path, run = _train_small_ctgan(tmp_path, rows)
    frames = load_dataset(f"csv:{path}").meta["frames"]["train"]
    train = {(k, f"{v:.2f}") for k, v in zip(frames["kind"], frames["value"], strict=True)}
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "100", "--seed", "1", "--out", str(tmp_path / "plain.csv")]) == 0
    plain = {tuple(r) for r in read_csv(tmp_path / "plain.csv")[1]}
    assert len(plain & train) > 0  # without the filter there are copies to drop
    assert main(["sample", str(run), "--n", "100", "--seed", "1", "--no-copies",
                 "--out", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    _, got = read_csv(tmp_path / "s.csv")
    assert len(got) == 100 and not {tuple(r) for r in got} & train
    dropped = re.search(r"([\d,]+) rows equal to a training row dropped", out)
    assert dropped and int(dropped.group(1).replace(",", "")) > 0


def test_no_copies_of_a_table_whose_every_possible_row_is_in_training_is_one_line_and_exit_2(tmp_path, capsys):
    rows = ["kind,size"] + [f"{k},{s}" for _ in range(100) for k in "pq" for s in ("s", "m", "l")]
    _, run = _train_small_ctgan(tmp_path, rows)
    capsys.readouterr()
    got = main(["sample", str(run), "--n", "20", "--no-copies", "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert got == 2 and "--no-copies" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("prior", ["uniform", "mixture"])
def test_ctgan_refuses_a_prior_other_than_its_normal_one_in_one_line(prior, tmp_path, capsys):
    """ctgan's generator draws z ~ N(0, I) whatever --prior says; asking for another prior is an error, not a
    flag silently ignored."""
    path = write_mixed_csv(tmp_path / "t.csv", n=200)
    got = main(["train", "--model", "ctgan", "--data", f"csv:{path}", "--prior", prior, "--steps", "1",
                "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert got == 2 and f"model ctgan: prior {prior} is invalid: expected normal" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_one_column_table_is_measured_without_efficacy(tmp_path):
    """Machine-learning efficacy predicts the target from the other columns: with none, eval leaves it out
    instead of failing (it used to end in numpy's 'need at least one array to concatenate')."""
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path / "one.csv"
    path.write_text("v\n" + "\n".join(f"{x:.3f}" for x in rng.normal(size=80)) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--model", "tvae", "--data", f"csv:{path}", "--batch-size", "20", "--steps", "2",
                 "--no-progress", "--out", str(run)]) == 0
    assert main(["eval", str(run), "--n", "40"]) == 0
    values = json.loads((run / "eval.json").read_text())["values"]
    assert 0 <= values["shape"] <= 1 and not any(k.startswith("efficacy") for k in values)


def test_condition_names_a_column_whose_name_holds_an_equals_sign(tmp_path):
    from ganforge.data.table import read_csv

    rng = np.random.default_rng(0)
    path = tmp_path / "eq.csv"
    rows = [f"{rng.normal():.3f},{'yes' if rng.random() < 0.3 else 'no'}" for _ in range(200)]
    path.write_text("x,churn=1?\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--model", "ctgan", "--data", f"csv:{path}", "--batch-size", "50", "--steps", "2",
                 "--no-progress", "--out", str(run)]) == 0
    assert main(["sample", str(run), "--n", "30", "--condition", "churn=1?=yes", "--out", str(tmp_path / "s.csv")]) == 0
    header, got = read_csv(tmp_path / "s.csv")
    assert header == ["x", "churn=1?"] and {r[1] for r in got} == {"yes"}
