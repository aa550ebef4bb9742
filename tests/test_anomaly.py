"""Issue 12: anomaly detection with the one-class protocol: the split, the metrics, the methods, the commands."""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import FASHION_DIR, HAS_FASHION
from ganforge.anomaly import METHODS, AnomalyConfig, build_method
from ganforge.anomaly.anogan import search_latents
from ganforge.anomaly.fanogan import fit_izi_encoder, izi_f_loss
from ganforge.anomaly.ganomaly import min_max_normalise
from ganforge.anomaly.table import extremes, run_table, stratified_subset
from ganforge.cli import main
from ganforge.data import ArrayDataset, load_dataset
from ganforge.data.oneclass import is_anomaly, one_class_dataset, parse_classes
from ganforge.errors import UserError
from ganforge.metrics.anomaly import auprc, auroc
from ganforge.models import DataInfo, config_for
from ganforge.models.base import Batch
from ganforge.train import build_model


# ------------------------------------------------------------------ metrics
def test_auroc_and_auprc_by_hand():
    # anomalies score 0.35 and 0.8; normals 0.1 and 0.4: of the 4 (anomaly, normal) pairs, 3 are ordered right
    scores, target = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    assert auroc(scores, target) == pytest.approx(0.75)
    # thresholds 0.8 (P 1, R 1/2), 0.4 (P 1/2, R 1/2), 0.35 (P 2/3, R 1): AP = 1/2 * 1 + 1/2 * 2/3
    assert auprc(scores, target) == pytest.approx(0.5 + 1 / 3)


def test_ties_count_one_half():
    # every score equal: AUROC 1/2, AP = the share of anomalies (one threshold, precision 2/5, recall 1)
    assert auroc(np.zeros(5), np.array([1, 0, 1, 0, 0])) == 0.5
    assert auprc(np.zeros(5), np.array([1, 0, 1, 0, 0])) == pytest.approx(0.4)


@pytest.mark.parametrize("seed", range(6))
def test_metrics_equal_scikit_learn_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, 200).astype(float)  # heavy ties
    target = rng.integers(0, 2, 200)
    assert auroc(scores, target) == pytest.approx(roc_auc_score(target, scores), abs=1e-12)
    assert auprc(scores, target) == pytest.approx(average_precision_score(target, scores), abs=1e-12)
    continuous = rng.standard_normal(200) + target
    assert auroc(continuous, target) == pytest.approx(roc_auc_score(target, continuous), abs=1e-12)
    assert auprc(continuous, target) == pytest.approx(average_precision_score(target, continuous), abs=1e-12)


def test_metrics_refuse_one_class_targets():
    with pytest.raises(UserError, match="only one class"):
        auroc(np.arange(3.0), np.zeros(3))


# ------------------------------------------------------------------ the one-class split (data layer)
def test_one_class_split_trains_on_normal_training_images_only():
    source = load_dataset("digits")
    data = one_class_dataset(source, [3, 5], val_fraction=0.2, seed=1)
    info = data.meta["one_class"]
    train_index, val_index = info["train_index"], info["val_index"]
    y_source = source.labels["train"]
    # train and val are normal examples of the source's TRAIN split, disjoint, and together all of them
    assert set(np.unique(y_source[train_index])) == {3, 5}
    assert not set(train_index) & set(val_index)
    assert sorted({*train_index, *val_index}) == list(np.flatnonzero(np.isin(y_source, [3, 5])))
    assert np.array_equal(data.split("train"), source.split("train")[train_index])
    assert np.array_equal(data.split("val"), source.split("train")[val_index])
    assert len(val_index) == round(0.2 * (len(train_index) + len(val_index)))
    # test is the source's whole test split, unchanged, with normals and anomalies
    assert np.array_equal(data.split("test"), source.split("test"))
    target = is_anomaly(data.labels["test"], [3, 5])
    assert np.array_equal(target, ~np.isin(source.labels["test"], [3, 5]))
    assert 0 < target.sum() < len(target)


def test_training_sees_only_the_train_split(tmp_path):
    """What the loop trains on is the one-class train split: the rows handed to the model before training are
    exactly the normal training examples (none from val or test)."""
    source = load_dataset("digits")
    data = one_class_dataset(source, [0], 0.1, 0)
    seen = {}
    from ganforge.models.ae import Autoencoder

    original = Autoencoder.on_train_data

    def spy(self, x, y, rng):
        seen["x"], seen["y"] = x.cpu().numpy(), y.cpu().numpy()
        return original(self, x, y, rng)

    Autoencoder.on_train_data = spy
    try:
        cfg = AnomalyConfig(method="ae", data="digits", normal_classes=[0],
                            train={"steps": 1, "batch_size": 16, "ae_kind": "mlp"})
        build_method(cfg.validate()).fit(data, tmp_path / "run")
    finally:
        Autoencoder.on_train_data = original
    assert np.array_equal(seen["x"], source.split("train")[data.meta["one_class"]["train_index"]])
    assert set(seen["y"]) == {0}


def test_parse_classes():
    assert parse_classes("0-2,5", 10) == (0, 1, 2, 5)
    with pytest.raises(UserError, match="class 12 is not in the data"):
        parse_classes("12", 10)
    with pytest.raises(UserError, match="expected class numbers"):
        parse_classes("shirts", 10)


def test_stratified_subset_and_extremes():
    labels = np.repeat(np.arange(4), [50, 30, 20, 10])
    chosen = stratified_subset(labels, 40, seed=0)
    assert np.bincount(labels[chosen]).tolist() == [10, 10, 10, 10]
    assert np.array_equal(stratified_subset(labels, 0), np.arange(110))
    scores = np.arange(20.0)
    assert extremes(scores, 2).tolist() == [19, 18, 1, 0]


# ------------------------------------------------------------------ methods on a toy mixture
def ring8_one_class(normal=tuple(range(7)), n=3000):
    """ring8 cut down: components 0-6 normal, component 7 the anomaly (labels: nearest component)."""
    full = load_dataset("ring8")
    small = ArrayDataset("ring8", "points", {s: full.split(s)[:n] for s in ("train", "val", "test")},
                         meta=full.meta)
    return one_class_dataset(small, list(normal), 0.1, 0)


@pytest.mark.parametrize("method,train", [("ocsvm", {}), ("iforest", {}),
                                          pytest.param("ae", {"steps": 300, "batch_size": 64}, marks=pytest.mark.slow),
                                          pytest.param("ganomaly", {"steps": 400, "batch_size": 64},
                                                       marks=pytest.mark.slow)])
def test_methods_find_the_held_out_mixture_component(method, train, tmp_path):
    data = ring8_one_class()
    x, y = data.split("test"), data.labels["test"]
    cfg = AnomalyConfig(method=method, data="ring8", normal_classes=list(range(7)), train=train).validate()
    m = build_method(cfg)
    m.fit(data, tmp_path / "run")
    scores = m.score(x)
    assert scores.shape == (len(x),) and np.isfinite(scores).all()
    assert auroc(scores, is_anomaly(y, range(7))) > 0.9


@pytest.mark.slow
def test_bigan_finds_the_held_out_component_better_than_chance_but_not_in_every_seed(tmp_path):
    """BiGAN's score (Zenati et al. 2018) depends on an encoder learned beside G, and on ring8 after 1,500 steps
    that encoder is unreliable: on the development machine AUROC 0.43, 0.58, 0.72 and 1.00 for seeds 0-3 (5,000
    steps: 0.85, 0.44, 0.67, 1.00), where ocsvm and iforest (above) separate the component in every run. What
    holds: better than chance on the mean of four seeds, and a clean separation in at least one."""
    data = ring8_one_class()
    x, y = data.split("test"), data.labels["test"]
    found = []
    for seed in range(4):
        cfg = AnomalyConfig(method="bigan", data="ring8", normal_classes=list(range(7)), seed=seed,
                            train={"steps": 1500, "batch_size": 64}).validate()
        m = build_method(cfg)
        m.fit(data, tmp_path / f"run{seed}")
        found.append(auroc(m.score(x), is_anomaly(y, range(7))))
    assert np.mean(found) > 0.6 and max(found) > 0.9, found


def test_fitted_method_reloads_to_the_same_scores(tmp_path):
    data = ring8_one_class()
    cfg = AnomalyConfig(method="vae", data="ring8", normal_classes=list(range(7)), train={"steps": 20}).validate()
    first = build_method(cfg)
    first.fit(data, tmp_path / "run")
    again = build_method(cfg)
    again.load(tmp_path / "run", data)
    x = data.split("test")[:100]
    assert np.allclose(first.score(x), again.score(x))


def test_domain_feature_methods_refuse_points():
    cfg = AnomalyConfig(method="ocsvm-domain", data="ring8", normal_classes=[0]).validate()
    with pytest.raises(UserError, match="cannot work on points data"):
        build_method(cfg).fit(ring8_one_class(), None)


# ------------------------------------------------------------------ the GAN methods' pieces
def test_ganomaly_loss_is_the_papers_weighted_sum():
    torch.manual_seed(0)
    cfg = config_for(model="ganomaly", data="ring8", latent_dim=2, width=8, ganomaly_w_adv=2.0,
                     ganomaly_w_con=30.0, ganomaly_w_enc=0.5)
    model = build_model(cfg, DataInfo("points", (2,)))
    x = torch.randn(16, 2)
    loss, logs = model.g_loss(Batch(x, None, None))
    z = model.encoder(x)
    x_hat = model.decoder(z)
    features = model.discriminator.net[:-1]
    adversarial = (features(x) - features(x_hat)).square().mean()
    contextual = (x - x_hat).abs().mean()
    encoder = (z - model.encoder2(x_hat)).square().mean()
    assert loss.item() == pytest.approx((2.0 * adversarial + 30.0 * contextual + 0.5 * encoder).item(), rel=1e-5)
    assert logs["G/contextual"].item() == pytest.approx(contextual.item(), rel=1e-6)
    assert torch.allclose(model.anomaly_score(x), (z - model.encoder2(x_hat)).square().mean(1))


def test_min_max_normalise():
    assert min_max_normalise(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert min_max_normalise(np.array([1.0, 1.0])).tolist() == [0.0, 0.0]


def test_search_latents_recovers_codes_of_a_linear_generator_and_leaves_it_unchanged():
    torch.manual_seed(0)
    generator = torch.nn.Linear(3, 6)
    before = [p.detach().clone() for p in generator.parameters()]
    z_true = torch.randn(5, 3)
    x = generator(z_true).detach()
    feature_fn = torch.nn.Tanh()
    z0 = torch.randn(5, 3, generator=torch.Generator().manual_seed(7))
    x0 = generator(z0)
    start = (1 - 0.1) * (x - x0).abs().sum(1) + 0.1 * (feature_fn(x) - feature_fn(x0)).abs().sum(1)
    z, loss = search_latents(generator, feature_fn, x, steps=300, lr=0.05, lam=0.1, seed=7, latent_dim=3)
    assert z.shape == (5, 3) and loss.shape == (5,)
    assert (loss < 0.05 * start.detach()).all()
    assert torch.allclose(z, z_true, atol=0.05)
    assert all(torch.equal(a, b) for a, b in zip(before, generator.parameters(), strict=True))
    # each example's search is its own: the first example searched alone (its start is the same first draw of
    # the seed) ends at the same z
    z_one, _ = search_latents(generator, feature_fn, x[:1], steps=300, lr=0.05, lam=0.1, seed=7, latent_dim=3)
    assert torch.allclose(z_one, z[:1], atol=1e-5)


def test_izi_f_encoder_learns_to_invert_a_fixed_generator():
    torch.manual_seed(0)
    generator = torch.nn.Linear(2, 4).requires_grad_(False)
    x = generator(torch.randn(256, 2))
    encoder = torch.nn.Linear(4, 2)
    identity = torch.nn.Identity()
    history = fit_izi_encoder(encoder, generator, identity, x, steps=300, lr=0.05, kappa=1.0, batch_size=32)
    assert history[-1] < 0.01 * history[0]
    loss = izi_f_loss(x, generator(encoder(x)), x, generator(encoder(x)), kappa=1.0)
    assert loss.shape == (256,) and loss.max() < 0.01


# ------------------------------------------------------------------ commands and the table
def test_fit_and_score_commands_write_the_csv(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["anomaly", "fit", "--data", "digits", "--normal-classes", "1", "--method", "iforest",
                 "--out", str(run)]) == 0
    out = tmp_path / "scores.csv"
    assert main(["anomaly", "score", str(run), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "index,label,is_anomaly,score"
    rows = [line.split(",") for line in lines[1:]]
    source = load_dataset("digits")
    assert len(rows) == len(source.split("test"))
    labels = np.array([int(r[1]) for r in rows])
    assert np.array_equal(labels, source.labels["test"])
    assert np.array_equal(np.array([int(r[2]) for r in rows]), (labels != 1).astype(int))
    scores = np.array([float(r[3]) for r in rows])
    printed = capsys.readouterr().out
    assert f"AUROC {auroc(scores, labels != 1):.4f}" in printed


def test_table_writes_markdown_and_csv_and_resumes(tmp_path):
    base = AnomalyConfig(method="iforest", data="digits", normal_classes=[0]).validate()
    rows = run_table(base, ["iforest", "ocsvm"], (0, 1), tmp_path, log=lambda s: None)
    assert {(r["method"], r["class"]) for r in rows} == {("iforest", 0), ("iforest", 1), ("ocsvm", 0), ("ocsvm", 1)}
    md = (tmp_path / "table.md").read_text()
    mean = np.mean([r["auroc"] for r in rows if r["method"] == "ocsvm"])
    assert "| ocsvm | " in md and f"{mean:.3f} |" in md
    csv = (tmp_path / "table.csv").read_text().splitlines()
    assert csv[0] == "method,class,auroc,auprc,n_test,fit_s,score_s" and len(csv) == 1 + 2 * 3
    # a second call finds every cell done and fits nothing again
    again = run_table(base, ["iforest", "ocsvm"], (0, 1), tmp_path, log=lambda s: pytest.fail(s))
    assert again == rows

    # a cell interrupted mid-fit (its row never written) starts again, and its files are kept aside, not deleted
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    (tmp_path / "results.jsonl").write_text("\n".join(line for line in lines if '"ocsvm"' not in line
                                                      or '"class": 1' not in line) + "\n")
    (tmp_path / "runs" / "ocsvm-c1" / "partial.pt").write_bytes(b"the last good checkpoint")
    said = []
    resumed = run_table(base, ["iforest", "ocsvm"], (0, 1), tmp_path, log=said.append)
    assert {(r["method"], r["class"]) for r in resumed} == {(r["method"], r["class"]) for r in rows}
    assert (tmp_path / "runs" / "ocsvm-c1.interrupted-1" / "partial.pt").read_bytes() == b"the last good checkpoint"
    assert any("ocsvm on class 1 was interrupted" in line for line in said)

    # the same --out with other settings would publish these numbers under new headings: refused, files kept
    table = (tmp_path / "table.md").read_bytes()
    for other in (replace(base, seed=3), replace(base, val_fraction=0.5), replace(base, data="fashion-mnist")):
        with pytest.raises(UserError, match="holds a table made with other settings"):
            run_table(other, ["iforest"], (0, 1), tmp_path, log=lambda s: pytest.fail(s))
    assert (tmp_path / "table.md").read_bytes() == table
    # the same settings over changed files would mix two datasets' cells: refused too; a table written before the
    # data's hash was recorded adopts it
    settings_file = tmp_path / "table_settings.json"
    settings = json.loads(settings_file.read_text())
    settings_file.write_text(json.dumps({**settings, "train_fingerprint": "0" * 16}))
    with pytest.raises(UserError, match="holds cells measured on other data"):
        run_table(base, ["iforest"], (0, 1), tmp_path, log=lambda s: pytest.fail(s))
    for older in ({k: v for k, v in settings.items() if k != "train_fingerprint"},  # before the field existed
                  {**settings, "train_fingerprint": None}):  # the field, never filled in
        settings_file.write_text(json.dumps(older))
        assert run_table(base, ["iforest", "ocsvm"], (0, 1), tmp_path, log=lambda s: pytest.fail(s)) == resumed
        assert json.loads(settings_file.read_text()) == settings
    for damaged in ("[1]", "null", '"x"'):
        settings_file.write_text(damaged)
        with pytest.raises(UserError, match="damaged"):
            run_table(base, ["iforest"], (0, 1), tmp_path, log=lambda s: pytest.fail(s))
    settings_file.write_text(json.dumps(settings))
    run = AnomalyConfig.load(tmp_path / "runs" / "iforest-c0")
    assert run.train_fingerprint == settings["train_fingerprint"]  # each cell's run: anomaly score checks it
    # how a run goes (its device, checkpoint rhythm) is not what it computes: the table still resumes
    again = run_table(replace(base, train={"device": "cpu", "checkpoint_every": 7}), ["iforest", "ocsvm"], (0, 1),
                      tmp_path, log=lambda s: pytest.fail(s))
    assert again == resumed


def test_reconstruction_method_figure(tmp_path):
    source = load_dataset("digits")
    data = one_class_dataset(source, [0], 0.1, 0)
    cfg = AnomalyConfig(method="ae", data="digits", normal_classes=[0],
                        train={"steps": 2, "batch_size": 16, "ae_kind": "mlp"}).validate()
    rows = run_table(cfg, ["ae"], (0,), tmp_path, log=lambda s: None)
    assert (tmp_path / "figures" / "ae-c0.png").is_file() and len(rows) == 1
    assert data.split("test").shape[0] == rows[0]["n_test"]


@pytest.mark.parametrize("argv,message", [
    (["anomaly", "fit", "--data", "digits", "--normal-classes", "0", "--method", "iforest", "--steps", "10"],
     "--steps: method iforest trains no model"),
    (["anomaly", "table", "--data", "digits", "--classes", "0", "--methods", "iforest,ocsvm", "--epochs", "2"],
     "--epochs: no method of the table (iforest, ocsvm) trains a model"),
    (["anomaly", "fit", "--data", "digits", "--normal-classes", "12", "--method", "iforest"],
     "class 12 is not in the data"),
    (["anomaly", "fit", "--data", "digits", "--method", "nosuch"], "unknown anomaly method 'nosuch'"),
    (["anomaly", "table", "--data", "digits", "--methods", "ae,nosuch"], "unknown anomaly method 'nosuch'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_every_method_is_registered():
    assert {"ganomaly", "fanogan", "anogan", "bigan", "ae", "vae", "ocsvm", "iforest", "ocsvm-domain",
            "iforest-domain"} <= set(METHODS)


@pytest.mark.skipif(not HAS_FASHION, reason="needs Debian's dataset-fashion-mnist")
def test_score_reads_the_fitted_data_from_data_dir_when_no_other_data_is_named(tmp_path, capsys):
    """`anomaly score RUN --data-dir DIR` (no --data): the run's own dataset, read from DIR (a copy moved there),
    and still checked against the fit's hash (before, DIR was ignored and the fitted directory read)."""
    import gzip

    def copy_of_fashion_mnist(where, relabel_first_test_image=False):
        where.mkdir()
        for name in os.listdir(FASHION_DIR):
            if relabel_first_test_image and name == "t10k-labels-idx1-ubyte.gz":
                labels = bytearray(gzip.decompress((Path(FASHION_DIR) / name).read_bytes()))
                labels[8] = (labels[8] + 1) % 10  # the first label, after the 8-byte IDX header
                (where / name).write_bytes(gzip.compress(bytes(labels)))
            else:
                os.symlink(os.path.join(FASHION_DIR, name), where / name)
        return where

    fitted, moved = copy_of_fashion_mnist(tmp_path / "fitted"), copy_of_fashion_mnist(tmp_path / "moved")
    edited = copy_of_fashion_mnist(tmp_path / "edited", relabel_first_test_image=True)
    run = tmp_path / "run"
    assert main(["anomaly", "fit", "--data", "fashion-mnist", "--data-dir", str(fitted), "--normal-classes", "1",
                 "--method", "iforest", "--out", str(run)]) == 0
    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    assert main(["anomaly", "score", str(run), "--subset", "300", "--out", str(before)]) == 0
    capsys.readouterr()
    assert main(["anomaly", "score", str(run), "--data-dir", str(edited), "--out", str(after)]) == 2
    assert "the data changed since it was fitted" in capsys.readouterr().err  # DIR was read, not ignored
    assert main(["anomaly", "score", str(run), "--data-dir", str(moved), "--subset", "300", "--out", str(after)]) == 0
    assert after.read_text() == before.read_text()


def test_bigan_score_is_zenatis_weighted_residual_and_feature_difference():
    from ganforge.anomaly.bigan import bigan_score

    x = torch.tensor([[1.0, -1.0], [0.0, 0.0]])
    x_hat = torch.tensor([[0.0, -1.0], [0.5, -0.5]])
    f_x, f_hat = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 1.0], [3.0, 0.0, 0.0]])
    # residual means 0.5 and 0.5; feature means 1/3 and 1
    torch.testing.assert_close(bigan_score(x, x_hat, f_x, f_hat), torch.tensor([0.9 * 0.5 + 0.1 / 3, 0.9 * 0.5 + 0.1]))


def test_report_of_an_anomaly_run_shows_its_latest_scoring_and_the_extremes(tmp_path):
    pytest.importorskip("matplotlib")
    import json

    run, out = tmp_path / "run", tmp_path / "scores.csv"
    assert main(["anomaly", "fit", "--data", "digits", "--normal-classes", "0", "--method", "ae", "--ae-kind",
                 "mlp", "--batch-size", "16", "--steps", "4", "--out", str(run)]) == 0
    assert main(["report", str(run)]) == 0  # before scoring: says how to score
    assert "anomaly score" in (run / "report.html").read_text()
    assert main(["anomaly", "score", str(run), "--out", str(out)]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    record = json.loads((run / "anomaly_score.json").read_text())
    assert record["n"] == len(rows) and record["auroc"] == pytest.approx(
        auroc(np.array([float(r[3]) for r in rows]), np.array([r[2] == "1" for r in rows])))
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Anomaly detection" in page and "anomaly_extremes.png" in page and f"{record['auroc']:.4f}"[:5] in page


def test_a_table_shares_its_training_options_with_the_methods_whose_model_reads_them(tmp_path, capsys):
    """--ae-kind is ae's: in a table of ae and vae the ae cell takes it and the vae cell trains without it; one
    vae fitted alone with it is told so in one line."""
    base = AnomalyConfig(method="ae", data="digits", normal_classes=[0],
                         train={"ae_kind": "mlp", "steps": 2, "batch_size": 16}).validate()
    rows = run_table(base, ["ae", "vae"], (0,), tmp_path / "table", figures=False, log=lambda s: None)
    assert {r["method"] for r in rows} == {"ae", "vae"}
    from ganforge.run import load_run

    assert load_run(tmp_path / "table" / "runs" / "ae-c0").config.ae_kind == "mlp"
    code = main(["anomaly", "fit", "--method", "vae", "--data", "digits", "--normal-classes", "0", "--ae-kind", "mlp",
                 "--steps", "2", "--out", str(tmp_path / "vae")])
    err = capsys.readouterr().err
    assert code == 2 and "--ae-kind: method vae trains vae, which does not read it" in err
    assert not (tmp_path / "vae").exists()
