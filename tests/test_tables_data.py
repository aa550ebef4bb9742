"""Tables as data (issue 13): a CSV's column kinds, missing values, splits, and the column transformer that
encodes rows for a model and decodes them back (mode-specific normalisation, one-hot)."""

import csv
from pathlib import Path

import numpy as np
import pytest

from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.data.table import TableSpec, fit_table, infer_columns, read_csv, to_frame


def write_mixed_csv(path: Path, n: int = 400, seed: int = 0, missing: bool = True) -> Path:
    """A mixed table: a bimodal continuous column (3 decimals), a wide integer, a string category, a 0/1
    boolean and a 1-5 rating; with ``missing``, every 10th income and every 13th colour is empty."""
    rng = np.random.default_rng(seed)
    mode = rng.random(n) < 0.3
    income = np.where(mode, rng.normal(20.0, 2.0, n), rng.normal(80.0, 5.0, n))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["income", "visits", "colour", "member", "rating"])
        for i in range(n):
            w.writerow(["" if missing and i % 10 == 3 else f"{income[i]:.3f}", str(int(rng.integers(0, 60))),
                        "" if missing and i % 13 == 5 else str(rng.choice(["red", "green", "blue, dark"])),
                        str(int(rng.random() < 0.2)), str(int(rng.integers(1, 6)))])
    return path


def test_column_kinds_are_inferred_and_can_be_overridden(tmp_path):
    path = write_mixed_csv(tmp_path / "t.csv")
    header, rows = read_csv(path)
    kinds = {c["name"]: c["kind"] for c in infer_columns(header, rows, "t")}
    assert kinds == {"income": "continuous", "visits": "integer", "colour": "discrete", "member": "boolean",
                     "rating": "discrete"}
    kinds = {c["name"]: c["kind"] for c in infer_columns(header, rows, "t", discrete="visits",
                                                        continuous="rating")}
    assert kinds["visits"] == "discrete" and kinds["rating"] == "continuous"
    missing = {c["name"]: c["missing"] for c in infer_columns(header, rows, "t")}
    assert missing == {"income": True, "visits": False, "colour": True, "member": False, "rating": False}


def test_splits_are_seeded_disjoint_and_cover_every_row(tmp_path):
    path = write_mixed_csv(tmp_path / "t.csv", n=500)
    a, b = load_dataset(f"csv:{path}"), load_dataset(f"csv:{path}")
    assert {s: len(x) for s, x in a.arrays.items()} == {"train": 400, "val": 50, "test": 50}
    for s in a.arrays:
        np.testing.assert_array_equal(a.arrays[s], b.arrays[s])
    income = np.concatenate([a.meta["frames"][s]["income"] for s in ("train", "val", "test")])
    original = to_frame(infer_columns(*read_csv(path), "t"), read_csv(path)[1])["income"]
    np.testing.assert_array_equal(np.sort(income[~np.isnan(income)]), np.sort(original[~np.isnan(original)]))
    assert np.isnan(income).sum() == np.isnan(original).sum() == 50  # missing values are kept, never dropped


def test_mode_specific_normaliser_finds_the_modes_and_inverts_to_the_original_values(tmp_path):
    rng = np.random.default_rng(1)
    x = np.round(np.concatenate([rng.normal(-10, 1, 3000), rng.normal(10, 1, 7000)]), 3)
    columns = [{"name": "x", "kind": "continuous", "missing": False, "decimals": 3}]
    table = fit_table(columns, {"x": x}, {"x": x})
    col = table["columns"][0]
    w, m = np.array(col["weights"]), np.array(col["means"])
    left = m < 0  # the fitted modes split between the two true ones: 30% of the mass around -10, 70% at 10
    assert abs(w[left].sum() - 0.3) < 0.02 and abs(w.sum() - 1) < 1e-9
    assert abs(np.average(m[left], weights=w[left]) + 10) < 0.2
    assert abs(np.average(m[~left], weights=w[~left]) - 10) < 0.2
    spec = TableSpec(table)
    encoded = spec.encode({"x": x})
    assert encoded.shape == (len(x), spec.dim) and np.abs(encoded[:, 0]).max() <= 0.99
    np.testing.assert_array_equal(encoded[:, 1:].sum(1), 1.0)  # one mode per value
    np.testing.assert_allclose(spec.decode(encoded)["x"], x, atol=1e-9)


def test_categories_missing_values_and_column_order_survive_the_round_trip_to_csv(tmp_path):
    path = write_mixed_csv(tmp_path / "t.csv", n=300)
    header, rows = read_csv(path)
    columns = infer_columns(header, rows, "t")
    frame = to_frame(columns, rows)
    spec = TableSpec(fit_table(columns, frame, frame))
    spec.write_csv(spec.decode(spec.encode(frame)), tmp_path / "back.csv")
    header2, rows2 = read_csv(tmp_path / "back.csv")
    assert header2 == header
    for j, name in enumerate(header):
        if name == "income":
            a = np.array([np.nan if r[j] == "" else float(r[j]) for r in rows])
            b = np.array([np.nan if r[j] == "" else float(r[j]) for r in rows2])
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], atol=1e-9)
        else:
            assert [r[j] for r in rows2] == [r[j] for r in rows], name


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BAD_TABLES = [
    ("ragged row", "a,b\n1,2\n3\n4,5\n", [], "row 2 (line 3) has 1 fields: expected 2"),
    ("empty file", "", [], "the file is empty"),
    ("all missing column", "a,b\n1,\n2,NA\n3,\n" * 1, [], "column 'b' has no values"),
    ("non-numeric in a continuous column", "a,b\n1,2\n2,x\n3,4\n", ["--continuous-columns", "b"],
     "'x' is not a number"),
    ("unknown override column", "a,b\n1,2\n2,3\n", ["--discrete-columns", "c"], "--discrete-columns c: no such column"),
    ("semicolon-separated", "a;b;c\n1;2;x\n3;4;y\n", [], "the header 'a;b;c' is one column holding ';'"),
    ("tab-separated", "a\tb\n1\t2\n3\t4\n", [], "is one column holding '\\t'"),
    ("an infinite number", "a,b\n1.5,x\ninf,y\n2.5,x\n", [], "column 'a' row 2: 'inf' is not a finite number"),
]


def test_a_one_column_table_named_with_a_semicolon_and_an_inf_category_are_tables(tmp_path):
    """The separator check looks at the rows too; --discrete-columns makes 'inf' a category like any text."""
    from ganforge.data.table import load_table

    one = write_text(tmp_path / "one.csv", "temp;C\n" + "\n".join(str(v) for v in range(20)) + "\n")
    assert [c["name"] for c in load_table(one).meta["table"]["columns"]] == ["temp;C"]
    odd = write_text(tmp_path / "odd.csv", "a,b\n" + "\n".join(f"{v},{'inf' if v % 3 else '1'}" for v in range(30)))
    columns = load_table(odd, discrete="b").meta["table"]["columns"]
    assert columns[1]["kind"] == "discrete" and set(columns[1]["categories"]) == {"1", "inf"}


@pytest.mark.parametrize("case,text,extra,needle", BAD_TABLES, ids=[c[0] for c in BAD_TABLES])
def test_a_bad_csv_is_one_line_and_exit_2(case, text, extra, needle, tmp_path, capsys):
    path = write_text(tmp_path / "bad.csv", text)
    got = main(["train", "--model", "ctgan", "--data", f"csv:{path}", *extra, "--steps", "1",
                "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert got == 2, err
    assert needle in err
    assert err.count("\n") == 1 and err.startswith("ganforge: error: ") and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_the_bundled_tables_are_listed_with_how_to_get_them(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["datasets"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name in ("fair", "randhie"):
        assert name in lines
        assert "statsmodels" in lines[name]


def test_a_bundled_table_is_read_from_a_copy_of_its_csv_in_the_data_dir(tmp_path):
    # the same file layout as statsmodels ships (DIR/fair/fair.csv), made small here
    (tmp_path / "fair").mkdir()
    rng = np.random.default_rng(0)
    lines = ['"rate_marriage","age","yrs_married","children","religious","educ","occupation","occupation_husb",'
             '"affairs"']
    for _ in range(60):
        lines.append(",".join([str(rng.integers(1, 6)), f"{rng.choice([22, 27, 32])}", f"{rng.choice([0.5, 2.5, 9])}",
                               f"{rng.choice([0, 1, 5.5])}", str(rng.integers(1, 5)), str(rng.choice([12, 14, 16])),
                               str(rng.integers(1, 7)), str(rng.integers(1, 7)), f"{rng.exponential():.7f}"]))
    (tmp_path / "fair" / "fair.csv").write_text("\n".join(lines) + "\n")
    ds = load_dataset("fair", str(tmp_path))
    assert ds.kind == "table" and ds.meta["table"]["target"] == "rate_marriage"
    kinds = {c["name"]: c["kind"] for c in ds.meta["table"]["columns"]}
    assert kinds["rate_marriage"] == "discrete" and kinds["affairs"] == "continuous"


def write_dated_csv(path: Path, n: int = 300, seed: int = 0) -> Path:
    """Dates (every 17th missing), date-times with a 'T' and with a space, offsets, and an amount."""
    from datetime import datetime, timedelta, timezone

    rng = np.random.default_rng(seed)
    start = datetime(2021, 1, 1, tzinfo=timezone.utc)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["day", "stamp", "logged", "zoned", "amount"])
        for i in range(n):
            t = start + timedelta(seconds=int(rng.integers(0, 3 * 365 * 86400)))
            w.writerow(["" if i % 17 == 4 else t.date().isoformat(), t.replace(tzinfo=None).isoformat(sep="T"),
                        t.replace(tzinfo=None).isoformat(sep=" "), t.isoformat(sep="T"),
                        f"{rng.gamma(2.0, 50.0):.2f}"])
    return path


def test_dates_and_date_times_are_modelled_as_continuous_and_written_back_in_their_own_style(tmp_path):
    from ganforge.data.table import format_datetime, parse_datetime

    assert parse_datetime("1970-01-02") == 86400.0 and parse_datetime("1970-01-01T01:00:00+01:00") == 0.0
    assert parse_datetime("20240301") is None and parse_datetime("march") is None  # numbers stay numbers
    path = write_dated_csv(tmp_path / "d.csv")
    header, rows = read_csv(path)
    columns = infer_columns(header, rows, "d")
    assert [c["kind"] for c in columns] == ["datetime"] * 4 + ["continuous"]
    assert columns[0]["date_only"] and columns[0]["missing"] and columns[1]["separator"] == "T"
    assert columns[2]["separator"] == " " and columns[3]["offsets"] and not columns[1]["offsets"]
    assert format_datetime(parse_datetime(rows[0][3]), columns[3]) == rows[0][3]
    frame = to_frame(columns, rows)
    spec = TableSpec(fit_table(columns, frame, frame))
    spec.write_csv(spec.decode(spec.encode(frame)), tmp_path / "back.csv")
    header2, rows2 = read_csv(tmp_path / "back.csv")
    assert header2 == header
    assert [r[0] for r in rows2] == [r[0] for r in rows]  # dates exactly, missing ones empty again
    for j in (1, 2, 3):  # date-times to within a minute (alpha is float32 over a three-year spread)
        back = np.array([parse_datetime(r[j]) for r in rows2])
        np.testing.assert_allclose(back, [parse_datetime(r[j]) for r in rows], atol=60)
        assert all((" " in r[j]) == (j == 2) and r[j].endswith("+00:00") == (j == 3) for r in rows2)


def test_a_parquet_table_reads_as_the_same_csv_would(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    csv_path = write_mixed_csv(tmp_path / "t.csv", n=200)
    header, rows = read_csv(csv_path)
    arrays = {}
    for j, name in enumerate(header):
        texts = [r[j] for r in rows]
        if name == "colour":
            arrays[name] = pa.array([t or None for t in texts])
        elif name == "income":
            arrays[name] = pa.array([float(t) if t else None for t in texts])
        else:
            arrays[name] = pa.array([int(t) for t in texts])
    pq.write_table(pa.table(arrays), tmp_path / "t.parquet")
    a, b = load_dataset(f"csv:{csv_path}"), load_dataset(f"parquet:{tmp_path / 't.parquet'}")
    assert [c["kind"] for c in b.meta["table"]["columns"]] == [c["kind"] for c in a.meta["table"]["columns"]]
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(b.split(split), a.split(split))


def test_parquet_without_pyarrow_is_one_line(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    got = main(["train", "--model", "ctgan", "--data", f"parquet:{tmp_path / 'x.parquet'}", "--steps", "1",
                "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert got == 2 and "needs pyarrow" in err and err.count("\n") == 1


def test_a_resume_on_an_edited_csv_of_the_same_size_is_refused_and_loses_nothing(tmp_path, capsys, monkeypatch):
    """The split sizes match, the contents do not: training on would mix two tables in one run."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    path = write_mixed_csv(tmp_path / "t.csv", n=200)
    run = tmp_path / "run"
    tiny = ["--no-progress", "--batch-size", "20"]
    assert main(["train", "--model", "gan", "--data", f"csv:{path}", "--steps", "2", "--out", str(run), *tiny]) == 0
    latest = (run / "checkpoints" / "latest.pt").read_bytes()
    original = path.read_text()
    header, *rows = original.splitlines()
    for i in range(20):  # the visits of the first 20 rows (some of them in the training split), nothing else
        cells = rows[i].split(",")
        cells[1] = str(int(cells[1]) + 1)
        rows[i] = ",".join(cells)
    path.write_text("\n".join([header, *rows]) + "\n")
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--steps", "4", *tiny]) == 2
    err = capsys.readouterr().err
    assert "the data changed since" in err and "other contents" in err and "Traceback" not in err
    assert (run / "checkpoints" / "latest.pt").read_bytes() == latest
    for command in (["eval", str(run), "--metrics", "shape", "--n", "40"],  # scored against other rows before
                    ["sample", str(run), "--n", "10", "--no-copies", "--out", str(tmp_path / "s.csv")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "the data changed since it was trained" in err and err.count("\n") == 1, err
    path.write_text(original)  # the same table again: it resumes
    assert main(["train", "--out", str(run), "--resume", "--steps", "4", *tiny]) == 0


def test_a_table_run_evaluates_its_own_scores_by_default_and_keeps_the_best_by_shape(tmp_path, monkeypatch, capsys):
    """--eval-every on a table without --eval-metrics measures shape and trends (fid,kid are for images)."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    path = write_mixed_csv(tmp_path / "t.csv", n=200)
    run = tmp_path / "run"
    assert main(["train", "--model", "ctgan", "--data", f"csv:{path}", "--steps", "4", "--batch-size", "20",
                 "--eval-every", "2", "--eval-n", "40", "--keep-best", "shape", "--no-progress",
                 "--out", str(run)]) == 0, capsys.readouterr().err
    assert "eval_metrics: shape,trends" in (run / "config.yaml").read_text()
    assert (run / "checkpoints" / "best.pt").is_file()


def test_a_table_run_saved_with_the_old_image_default_resumes_with_table_evaluations(tmp_path, monkeypatch, capsys):
    """Runs saved before tables had their own default carry eval_metrics fid,kid: a resume asking for
    evaluations (--eval-every) measures shape,trends instead of refusing."""
    import torch

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    path = write_mixed_csv(tmp_path / "t.csv", n=200)
    run = tmp_path / "run"
    assert main(["train", "--model", "ctgan", "--data", f"csv:{path}", "--steps", "2", "--batch-size", "20",
                 "--no-progress", "--out", str(run)]) == 0
    latest = run / "checkpoints" / "latest.pt"
    ckpt = torch.load(latest, weights_only=True)
    ckpt["config"]["eval_metrics"] = "fid,kid"  # as an older ganforge wrote it
    torch.save(ckpt, latest)
    assert main(["train", "--out", str(run), "--resume", "--steps", "4", "--eval-every", "2", "--eval-n", "40",
                 "--no-progress"]) == 0, capsys.readouterr().err
    import json

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "metric/shape" in records[-1] and "metric/trends" in records[-1], records[-1]
