"""Issue 12, build item 3: the same anomaly commands on tables (a class = a value of --label-column)."""

import csv

import numpy as np
import pytest

from ganforge.anomaly import METHODS, AnomalyConfig, build_method
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.data.oneclass import encode_table_features, is_anomaly, one_class_dataset, parse_normal_classes
from ganforge.data.table import take
from ganforge.errors import UserError
from ganforge.metrics.anomaly import auroc


def write_clusters_csv(path, n=800, seed=0):
    """A mixed-type table whose classes sit apart: ``kind`` a (60%) near x = (0, 0), mostly red, few items;
    ``b`` (25%) near (5, -5), mostly blue, many items; ``c`` (15%) near (-5, 5), mostly green. ``x1`` is a
    continuous value drawn once per row (distinct: it identifies the row)."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["a", "b", "c"], n, p=[0.6, 0.25, 0.15])
    centre = {"a": (0.0, 0.0), "b": (5.0, -5.0), "c": (-5.0, 5.0)}
    colour = {"a": ["red", "red", "red", "green"], "b": ["blue", "blue", "blue", "red"],
              "c": ["green", "green", "green", "blue"]}
    items = {"a": (0, 3), "b": (30, 60), "c": (10, 25)}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x1", "colour", "x2", "items", "kind"])
        for k in kinds:
            mx, my = centre[k]
            w.writerow([f"{mx + rng.standard_normal():.6f}", colour[k][rng.integers(4)],
                        f"{my + rng.standard_normal():.6f}", int(rng.integers(*items[k])), k])
    return path


@pytest.fixture(scope="module")
def clusters(tmp_path_factory):
    path = write_clusters_csv(tmp_path_factory.mktemp("table") / "clusters.csv")
    return f"csv:{path}", load_dataset(f"csv:{path}")


# ------------------------------------------------------------------ the one-class split of a table
def test_table_classes_are_the_label_columns_values(clusters):
    _, source = clusters
    assert parse_normal_classes(source, "b", "kind") == (1,)
    assert parse_normal_classes(source, "c,a", "kind") == (0, 2)
    assert parse_normal_classes(source, None, "kind") == (0,)
    data = one_class_dataset(source, [1], 0.1, 0, "kind")
    assert data.kind == "table" and data.class_names == ["a", "b", "c"] and data.num_classes == 3
    # labels are the index of each row's value among the categories, for every split
    for split, frame in (("test", source.meta["frames"]["test"]),):
        assert np.array_equal(np.array(data.class_names)[data.labels[split]], frame["kind"])


def test_table_split_trains_on_normal_training_rows_only(clusters):
    _, source = clusters
    data = one_class_dataset(source, [0], val_fraction=0.2, seed=3, label_column="kind")
    info = data.meta["one_class"]
    train_index, val_index = info["train_index"], info["val_index"]
    frames = source.meta["frames"]
    # train and val: disjoint, together every normal row of the source's TRAIN split, nothing else
    assert not set(train_index) & set(val_index)
    assert sorted({*train_index, *val_index}) == list(np.flatnonzero(frames["train"]["kind"] == "a"))
    assert set(frames["train"]["kind"][train_index]) == {"a"}
    # the arrays are exactly those rows encoded; x1 identifies a row: no test row is among them
    spec = info["features"]
    assert np.array_equal(data.split("train"), encode_table_features(spec, take(frames["train"], train_index)))
    assert np.array_equal(data.split("val"), encode_table_features(spec, take(frames["train"], val_index)))
    assert not set(frames["train"]["x1"][train_index]) & set(frames["test"]["x1"])
    # test: the source's whole test split, normal and anomalous rows
    assert np.array_equal(data.split("test"), encode_table_features(spec, frames["test"]))
    target = is_anomaly(data.labels["test"], [0])
    assert np.array_equal(target, (frames["test"]["kind"] != "a").astype(int)) and 0 < target.sum() < len(target)


def test_label_column_is_not_a_model_input_and_statistics_come_from_normal_training_rows(clusters):
    _, source = clusters
    data = one_class_dataset(source, [0], 0.1, 0, "kind")
    spec = data.meta["one_class"]["features"]
    assert not any(name.startswith("kind") for name in spec["names"])
    # x1, colour one-hot over the normal rows' colours (green, red: no blue), x2, items
    assert spec["names"] == ["x1", "colour=green", "colour=red", "x2", "items"]
    assert data.shape == (5,)
    # rows whose label is changed encode the same
    test = dict(source.meta["frames"]["test"])
    relabelled = {**test, "kind": np.array(["b"] * len(test["kind"]), dtype=object)}
    assert np.array_equal(encode_table_features(spec, relabelled), data.split("test"))
    # standardisation by the normal training rows: their numeric features have mean 0 and std 1
    x = data.split("train")
    for j in (0, 3, 4):
        assert x[:, j].mean() == pytest.approx(0.0, abs=1e-5) and x[:, j].std() == pytest.approx(1.0, abs=1e-4)
    # by hand: x1 of the first test row
    rows = take(source.meta["frames"]["train"], data.meta["one_class"]["train_index"])["x1"]
    assert data.split("test")[0, 0] == pytest.approx((test["x1"][0] - rows.mean()) / rows.std(), rel=1e-5)


def test_a_category_unseen_in_normal_training_rows_encodes_as_zeros(clusters):
    _, source = clusters
    data = one_class_dataset(source, [0], 0.1, 0, "kind")
    spec = data.meta["one_class"]["features"]
    frame = take(source.meta["frames"]["test"], np.arange(3))
    frame["colour"] = np.array(["purple", "red", "blue"], dtype=object)  # blue: in the file, not in class a
    x = encode_table_features(spec, frame)
    assert x[:, 1:3].tolist() == [[0, 0], [0, 1], [0, 0]]


# ------------------------------------------------------------------ methods on a table
@pytest.mark.parametrize("method,train,floor", [
    ("ocsvm", {}, 0.9), ("iforest", {}, 0.9),
    ("ae", {"steps": 100, "batch_size": 64}, 0.9),
    ("ganomaly", {"steps": 150, "batch_size": 64}, 0.8),
    pytest.param("vae", {"steps": 300, "batch_size": 64}, 0.9, marks=pytest.mark.slow),
    pytest.param("bigan", {"steps": 400, "batch_size": 64}, 0.8, marks=pytest.mark.slow),
    pytest.param("fanogan", {"steps": 150, "batch_size": 64}, 0.8, marks=pytest.mark.slow),
    pytest.param("anogan", {"steps": 150, "batch_size": 64}, 0.8, marks=pytest.mark.slow),
])
def test_methods_find_the_other_clusters_rows(clusters, method, train, floor, tmp_path):
    """Normal rows (class a) sit in one cluster, anomalies (b, c) in others, with other colours and counts:
    the classical methods and the autoencoder rank them almost perfectly; the GAN methods, briefly trained,
    clearly above chance."""
    _, source = clusters
    data = one_class_dataset(source, [0], 0.1, 0, "kind")
    cfg = AnomalyConfig(method=method, data=clusters[0], normal_classes=[0], label_column="kind", train=train,
                        encoder_steps=300, anogan_steps=30).validate()
    m = build_method(cfg)
    m.fit(data, tmp_path / "run")
    scores = m.score(data.split("test"))
    assert scores.shape == (len(data.split("test")),) and np.isfinite(scores).all()
    assert auroc(scores, is_anomaly(data.labels["test"], [0])) > floor


def test_every_method_but_the_domain_feature_ones_takes_tables():
    takes = {name for name in METHODS if "table" in METHODS.get(name).data_kinds}
    assert takes == set(METHODS) - {"ocsvm-domain", "iforest-domain"}


# ------------------------------------------------------------------ commands
def test_fit_score_and_table_commands_on_a_csv(clusters, tmp_path, capsys):
    name, source = clusters
    run, out = tmp_path / "run", tmp_path / "scores.csv"
    assert main(["anomaly", "fit", "--data", name, "--label-column", "kind", "--normal-classes", "b",
                 "--method", "iforest", "--out", str(run)]) == 0
    assert main(["anomaly", "score", str(run), "--out", str(out)]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    labels = np.array([int(r[1]) for r in rows])
    assert np.array_equal(np.array(["a", "b", "c"])[labels], source.meta["frames"]["test"]["kind"])
    scores = np.array([float(r[3]) for r in rows])
    assert auroc(scores, labels != 1) > 0.9
    assert f"AUROC {auroc(scores, labels != 1):.4f}" in capsys.readouterr().out
    table = tmp_path / "table"
    assert main(["anomaly", "table", "--data", name, "--label-column", "kind", "--classes", "a,c",
                 "--methods", "iforest,ocsvm", "--out", str(table)]) == 0
    md = (table / "table.md").read_text()
    assert "| method | kind=a | kind=c | mean |" in md
    assert "iforest,kind=c," in (table / "table.csv").read_text()


def test_table_command_leaves_out_methods_that_cannot_take_tables(clusters, tmp_path):
    name, _ = clusters
    import ganforge.anomaly.table as table_module

    seen = {}
    original = table_module.run_table

    def spy(base, methods, classes, out_dir, *a, **k):
        seen["methods"], seen["classes"] = methods, classes
        return []

    table_module.run_table = spy
    try:
        assert main(["anomaly", "table", "--data", name, "--label-column", "kind", "--out", str(tmp_path)]) == 0
    finally:
        table_module.run_table = original
    assert seen["classes"] == (0, 1, 2)
    assert "ocsvm-domain" not in seen["methods"] and {"iforest", "ae", "fanogan", "bigan"} <= set(seen["methods"])


@pytest.mark.parametrize("argv,message", [
    (["anomaly", "fit", "--label-column", "nosuch", "--method", "iforest"], "--label-column nosuch: no such column"),
    (["anomaly", "fit", "--label-column", "kind", "--normal-classes", "z", "--method", "iforest"],
     "'z' is not a value of column kind"),
    (["anomaly", "fit", "--label-column", "x1", "--method", "iforest"], "column is continuous"),
    (["anomaly", "fit", "--label-column", "kind", "--method", "ocsvm-domain"], "cannot work on table data"),
    (["anomaly", "table", "--label-column", "kind", "--methods", "iforest,iforest-domain"],
     "anomaly method iforest-domain: cannot work on table data"),
    (["anomaly", "table", "--label-column", "kind", "--classes", "a,q"], "'q' is not a value of column kind"),
])
def test_bad_table_input_is_one_line_and_exit_2(clusters, argv, message, tmp_path, capsys):
    name, _ = clusters
    assert main([*argv, "--data", name, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_label_column_on_images_is_refused(tmp_path, capsys):
    assert main(["anomaly", "fit", "--data", "digits", "--label-column", "kind", "--method", "iforest",
                 "--out", str(tmp_path / "out")]) == 2
    assert "is image data, not a table" in capsys.readouterr().err


def test_label_column_must_be_named_when_building_the_view(clusters):
    _, source = clusters
    with pytest.raises(UserError, match="no such column"):
        one_class_dataset(source, [0], 0.1, 0, "colour_typo")


def test_discrete_columns_lets_an_integer_column_name_the_classes(clusters, tmp_path, capsys):
    name, _ = clusters
    argv = ["anomaly", "fit", "--data", name, "--label-column", "items", "--normal-classes", "1",
            "--method", "iforest"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    assert "column is integer" in capsys.readouterr().err
    assert main([*argv, "--discrete-columns", "items", "--out", str(tmp_path / "b")]) == 0
    assert "normal classes items=1 " in capsys.readouterr().out


def test_scoring_refuses_a_table_edited_since_the_fit_and_takes_it_back_unchanged(tmp_path, capsys):
    path = write_clusters_csv(tmp_path / "c.csv", n=300)
    run = tmp_path / "run"
    assert main(["anomaly", "fit", "--data", f"csv:{path}", "--label-column", "kind", "--normal-classes", "b",
                 "--method", "iforest", "--out", str(run)]) == 0
    original = path.read_text()
    header, *rows = original.splitlines()
    rows = [",".join(r.split(",")[:3] + [str(int(r.split(",")[3]) + 1)] + r.split(",")[4:]) for r in rows]
    path.write_text("\n".join([header, *rows]) + "\n")  # every row's item count, one more
    capsys.readouterr()
    assert main(["anomaly", "score", str(run), "--out", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert "the data changed since it was fitted" in err and err.count("\n") == 1, err
    *body, last = original.splitlines()
    head, kind = last.rsplit(",", 1)
    path.write_text("\n".join([*body, f"{head},{'a' if kind != 'a' else 'c'}"]) + "\n")  # one row's class, any split
    assert main(["anomaly", "score", str(run), "--out", str(tmp_path / "s.csv")]) == 2
    assert "the data changed since it was fitted" in capsys.readouterr().err
    path.write_text(original)
    assert main(["anomaly", "score", str(run), "--out", str(tmp_path / "s.csv")]) == 0
