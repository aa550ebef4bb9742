"""Tables from a CSV file (``--data csv:PATH``) and the column transformer that encodes them for a model.

Reading: the first line names the columns; every row must have as many fields. A field that is empty or
one of :data:`MISSING_TOKENS` is missing. Column kinds are inferred from the text (and may be overridden):

- ``discrete``: any value that is not a number, or integers with at most :data:`MAX_INTEGER_CATEGORIES`
  distinct values (a rating 1-5, a count of children); categories keep their original text;
- ``boolean``: the values are exactly 0/1 or true/false (modelled like a discrete column);
- ``integer``: integers with more distinct values (modelled as continuous, rounded back);
- ``continuous``: any other numbers (written back with the most decimals the column had, at most 6);
- ``datetime``: ISO 8601 dates or date-times (``2024-03-01``, ``2024-03-01 14:05:00``, ``...T14:05:00+01:00``),
  modelled as continuous seconds since 1970-01-01 UTC (naive times read as UTC) and written back in the
  column's own style: dates as dates, date-times to the second with its separator, in UTC (``+00:00``) when
  the source carried offsets.

Missing values are never dropped: a missing category is the category ``""``; a numeric column with
missing values is encoded as its value (the training median where missing) plus a two-way missing indicator,
and decodes to an empty field where the indicator says missing.

Encoding (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN"): a continuous column is
*mode-specific normalised*. A variational Gaussian mixture (sklearn's ``BayesianGaussianMixture``, at most
10 modes, Dirichlet-process weight prior 0.001) is fitted to the training values; modes of weight below
0.005 are dropped. A value x is encoded as (alpha, one-hot of a mode k), where k is drawn from the modes'
posterior p(k | x) and alpha = (x - mu_k) / (4 sigma_k), clipped to [-0.99, 0.99]. Decoding takes the
arg-max mode and x = 4 sigma_k alpha + mu_k. A discrete column is one-hot. The encoded row is
``float32 (D,)`` in [-1, 1]; its layout (:func:`spans`) tells a model which entries are tanh outputs and which
are softmax blocks.

The transformer is a plain dict (:class:`TableSpec` wraps it) of lists, numbers and strings, so it is saved
inside the run's checkpoints (``DataInfo.table``) and ``ganforge sample`` can write a CSV without the source.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .core import ArrayDataset, cache_dir, file_key, split_fixed

MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
#: Integer columns with at most this many distinct values are inferred discrete.
MAX_INTEGER_CATEGORIES = 10
#: Mode-specific normalisation: at most this many modes per continuous column; smaller weights are dropped.
MAX_MODES, MIN_MODE_WEIGHT = 10, 0.005
#: The mixture is fitted to at most this many training values (a seeded subsample beyond).
MAX_FIT_ROWS = 10_000
#: Fractions of rows held out for validation and test (a seeded permutation, seed 0).
VAL_FRACTION = TEST_FRACTION = 0.1
NUMERIC_KINDS = ("continuous", "integer", "datetime")
DISCRETE_KINDS = ("discrete", "boolean")
KINDS = NUMERIC_KINDS + DISCRETE_KINDS

Frame = dict[str, np.ndarray]
"""A decoded table: column name -> values, ``float64 (N,)`` with NaN for missing (numeric columns) or
``object (N,)`` strings with ``""`` for missing (discrete columns); dicts keep the CSV's column order."""


def is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING_TOKENS


def _is_float(text: str) -> bool:
    """Whether ``text`` reads as a float at all (``inf`` and ``nan`` included)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_datetime(text: str) -> float | None:
    """Seconds since 1970-01-01 UTC of an ISO 8601 date or date-time (naive: read as UTC), or None when
    ``text`` is not one. Plain numbers (``20240301``) are numbers, not dates."""
    t = text.strip()
    if len(t) < 10 or t[4] != "-" or _parse_float(t) is not None:
        return None
    try:
        value = datetime.fromisoformat(t)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def format_datetime(seconds: float, col: dict[str, Any]) -> str:
    """Seconds since the epoch -> text in the column's style (see the module doc)."""
    value = datetime.fromtimestamp(round(seconds), tz=timezone.utc)
    if col.get("date_only"):
        return value.date().isoformat()
    text = value.replace(tzinfo=None).isoformat(sep=col.get("separator", " "))
    return text + "+00:00" if col.get("offsets") else text


def _decimals(text: str) -> int:
    t = text.strip().lower()
    if "e" in t:
        return 6
    return min(6, len(t.split(".", 1)[1])) if "." in t else 0


def read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of a CSV file; a ragged row, an empty file or one without data rows is a UserError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"dataset csv:{path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            lines = [r for r in csv.reader(f) if r]
        except (csv.Error, UnicodeDecodeError) as e:
            raise UserError(f"dataset csv:{path}: cannot read it as CSV ({e})") from None
    if not lines:
        raise UserError(f"dataset csv:{path}: the file is empty: expected a header line naming the columns, "
                        "then one line per row")
    header = [h.strip() for h in lines[0]]
    # Excel's ';' (a comma decimal locale), tab-separated exports read as one column by mistake: the header and
    # every row split into as many fields by that character (a one-column table named "temp;C" does not)
    other = next((sep for sep in (";", "\t", "|") if len(header) == 1 and sep in header[0]
                  and all(len(r) == 1 and r[0].count(sep) == header[0].count(sep) for r in lines[1:])), None)
    if other is not None:
        raise UserError(f"dataset csv:{path}: the header {header[0]!r} is one column holding {other!r}: expected "
                        f"comma-separated values (convert the file, e.g. python -c \"import csv,sys; "
                        f"csv.writer(sys.stdout).writerows(csv.reader(sys.stdin, delimiter='{other}'))\")")
    if len(set(header)) != len(header) or any(not h for h in header):
        raise UserError(f"dataset csv:{path}: the header {lines[0]} has an empty or repeated column name: "
                        "expected distinct names")
    rows = lines[1:]
    if not rows:
        raise UserError(f"dataset csv:{path}: only a header line: expected at least one data row")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise UserError(f"dataset csv:{path}: row {i + 1} (line {i + 2}) has {len(row)} fields: expected "
                            f"{len(header)}, one per column of the header")
    return header, rows


def read_parquet(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of a Parquet file as text, so it goes through exactly the CSV path: nulls become
    empty fields, timestamps ISO 8601 text, numbers their shortest repr. Needs pyarrow (a clear UserError
    without it)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"dataset parquet:{path}: reading Parquet needs pyarrow: pip install 'ganforge[parquet]' "
                        "(or save the table as CSV and use csv:PATH)") from None
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"dataset parquet:{path}: no such file")
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises its own ArrowInvalid / OSError family for a damaged file
        raise UserError(f"dataset parquet:{path}: cannot read it as Parquet ({type(e).__name__}: {e})") from None
    header = [str(n) for n in table.column_names]
    if table.num_rows == 0:
        raise UserError(f"dataset parquet:{path}: no rows: expected at least one")

    def text(v: Any) -> str:
        if v is None:
            return ""
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return str(v)

    columns = [[text(v) for v in table.column(j).to_pylist()] for j in range(len(header))]
    return header, [list(r) for r in zip(*columns, strict=True)]


def _names(option: str | None, header: list[str], flag: str, source: str) -> list[str]:
    names = [s.strip() for s in option.split(",") if s.strip()] if option else []
    for name in names:
        if name not in header:
            raise UserError(f"{flag} {name}: no such column in {source}: expected one of {', '.join(header)}")
    return names


def infer_columns(header: list[str], rows: list[list[str]], source: str, discrete: str | None = None,
                  continuous: str | None = None) -> list[dict[str, Any]]:
    """One dict per column: ``name``, ``kind`` (see the module doc), ``missing`` (any value missing),
    ``decimals`` (numeric). ``discrete``/``continuous``: comma-separated names that override the inference."""
    force_d = set(_names(discrete, header, "--discrete-columns", source))
    force_c = set(_names(continuous, header, "--continuous-columns", source))
    both = force_d & force_c
    if both:
        raise UserError(f"--discrete-columns and --continuous-columns both name {sorted(both)[0]}: expected a "
                        "column in at most one of them")
    columns = []
    for j, name in enumerate(header):
        texts = [r[j].strip() for r in rows]
        present = [t for t in texts if not is_missing(t)]
        if not present:
            raise UserError(f"dataset {source}: column {name!r} has no values (all {len(texts)} missing): "
                            "expected at least one value; drop the column")
        numbers = [_parse_float(t) for t in present]
        numeric = all(v is not None for v in numbers)
        if not numeric and name not in force_d and all(_is_float(t) for t in present):  # inf: no model learns it
            i, bad = next((i, t) for i, t in enumerate(texts) if not is_missing(t) and _parse_float(t) is None)
            raise UserError(f"dataset {source}: column {name!r} row {i + 1}: {bad!r} is not a finite number: "
                            "expected finite numbers (or a missing value: an empty field, NA, NaN)")
        if not numeric and name not in force_d and all(parse_datetime(t) is not None for t in present):
            columns.append({"name": name, "kind": "datetime", "missing": len(present) < len(texts), "decimals": 0,
                            "date_only": all(len(t) == 10 for t in present),
                            "separator": "T" if any("T" in t for t in present) else " ",
                            "offsets": any(len(t) > 19 and ("+" in t[19:] or "-" in t[19:] or t.endswith("Z"))
                                           for t in present)})
            continue
        if name in force_c and not numeric:
            i, bad = next((i, t) for i, t in enumerate(texts) if not is_missing(t) and _parse_float(t) is None)
            raise UserError(f"dataset {source}: column {name!r} row {i + 1}: {bad!r} is not a number: expected "
                            "numbers in a column declared continuous (or a missing value)")
        lowered = {t.lower() for t in present}
        if name in force_d:
            kind = "discrete"
        elif name in force_c:
            kind = "continuous"
        elif lowered <= {"0", "1"} or lowered <= {"true", "false"}:
            kind = "boolean"
        elif not numeric:
            kind = "discrete"
        elif all(float(v).is_integer() for v in numbers):
            kind = "discrete" if len(set(numbers)) <= MAX_INTEGER_CATEGORIES else "integer"
        else:
            kind = "continuous"
        col: dict[str, Any] = {"name": name, "kind": kind, "missing": len(present) < len(texts)}
        if kind in NUMERIC_KINDS:
            col["decimals"] = 0 if kind == "integer" else max(_decimals(t) for t in present)
        columns.append(col)
    return columns


def _category_key(text: str) -> tuple:
    value = _parse_float(text)
    return (0, value, text) if value is not None else (1, 0.0, text)


def to_frame(columns: list[dict[str, Any]], rows: list[list[str]]) -> Frame:
    """Raw CSV rows -> a :data:`Frame` (numbers parsed; missing as NaN or ``""``)."""
    frame: Frame = {}
    for j, col in enumerate(columns):
        texts = [r[j].strip() for r in rows]
        if col["kind"] == "datetime":
            frame[col["name"]] = np.array([np.nan if is_missing(t) else parse_datetime(t) for t in texts],
                                          dtype=np.float64)
        elif col["kind"] in NUMERIC_KINDS:
            frame[col["name"]] = np.array([np.nan if is_missing(t) else float(t) for t in texts], dtype=np.float64)
        else:
            frame[col["name"]] = np.array(["" if is_missing(t) else t for t in texts], dtype=object)
    return frame


def take(frame: Frame, index: np.ndarray) -> Frame:
    return {k: v[index] for k, v in frame.items()}


def frame_rows(frame: Frame) -> int:
    return len(next(iter(frame.values())))


def fit_modes(values: np.ndarray, seed: int) -> tuple[list[float], list[float], list[float]]:
    """``(weights, means, stds)`` of the modes of a 1-D variational Gaussian mixture fitted to ``values``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    x = values[np.random.default_rng(seed).permutation(len(values))[:MAX_FIT_ROWS]].reshape(-1, 1)
    spread = float(x.std())
    if len(np.unique(x)) < 2 or spread == 0.0:
        return [1.0], [float(x.mean())], [max(spread, 1e-3)]
    import warnings

    k = min(MAX_MODES, len(np.unique(x)))
    bgm = BayesianGaussianMixture(n_components=k, weight_concentration_prior_type="dirichlet_process",
                                  weight_concentration_prior=0.001, max_iter=100, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(x)
    keep = bgm.weights_ > MIN_MODE_WEIGHT
    weights = bgm.weights_[keep] / bgm.weights_[keep].sum()
    stds = np.sqrt(bgm.covariances_.reshape(-1)[keep])
    # a mode narrower than 1e-3 of the column's spread would turn rounding noise into huge alphas
    stds = np.maximum(stds, 1e-3 * spread)
    return weights.tolist(), bgm.means_.reshape(-1)[keep].tolist(), stds.tolist()


def fit_table(columns: list[dict[str, Any]], train: Frame, vocabulary: Frame, seed: int = 0) -> dict[str, Any]:
    """The transformer as a plain dict: per column its kind, then for numeric columns the modes (fitted on
    ``train``), min, max, median fill and decimals; for discrete ones the categories (every value of
    ``vocabulary``, usually all splits) with their training counts."""
    out = []
    for col in columns:
        col = dict(col)
        values = train[col["name"]]
        if col["kind"] in NUMERIC_KINDS:
            present = values[~np.isnan(values)]
            if len(present) == 0:
                present = vocabulary[col["name"]][~np.isnan(vocabulary[col["name"]])]
            weights, means, stds = fit_modes(present, seed)
            col.update(weights=weights, means=means, stds=stds, min=float(present.min()),
                       max=float(present.max()), fill=float(np.median(present)))
        else:
            categories = sorted(set(vocabulary[col["name"]].tolist()), key=_category_key)
            counts = {c: 0 for c in categories}
            for v in values.tolist():
                counts[v] += 1
            col.update(categories=categories, counts=[counts[c] for c in categories])
        out.append(col)
    return {"columns": out}


@dataclass(frozen=True)
class Span:
    """A block of the encoded row: entries ``start:start+width``, ``activation`` "tanh" (alpha) or "softmax"
    (a one-hot), of column ``column`` (its index) in ``role`` alpha, mode, category or missing."""

    start: int
    width: int
    activation: str
    column: int
    role: str


class TableSpec:
    """The fitted column transformer (a plain dict, see :func:`fit_table`): encode a frame into ``float32 (N,
    D)``, decode model outputs back into a frame, write a frame as CSV."""

    def __init__(self, table: dict[str, Any]):
        self.table = table
        self.columns: list[dict[str, Any]] = table["columns"]
        self.spans: list[Span] = []
        start = 0
        for j, col in enumerate(self.columns):
            if col["kind"] in NUMERIC_KINDS:
                blocks = [(1, "tanh", "alpha"), (len(col["means"]), "softmax", "mode")]
                if col["missing"]:
                    blocks.append((2, "softmax", "missing"))
            else:
                blocks = [(len(col["categories"]), "softmax", "category")]
            for width, activation, role in blocks:
                self.spans.append(Span(start, width, activation, j, role))
                start += width
        self.dim = start

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def discrete_columns(self) -> list[int]:
        """Indices of the columns a condition can name (discrete and boolean ones)."""
        return [j for j, c in enumerate(self.columns) if c["kind"] in DISCRETE_KINDS]

    def category_span(self, j: int) -> Span:
        return next(s for s in self.spans if s.column == j and s.role == "category")

    def encode(self, frame: Frame, seed: int = 0) -> np.ndarray:
        """``frame`` (N rows) -> ``float32 (N, dim)``: alphas in [-0.99, 0.99], one-hot blocks in {0, 1}. The
        mode of each value is drawn from its posterior with a generator seeded by ``seed``."""
        rng = np.random.default_rng(seed)
        n = frame_rows(frame)
        out = np.zeros((n, self.dim), dtype=np.float32)
        for span in self.spans:
            col = self.columns[span.column]
            values = frame[col["name"]]
            if span.role == "category":
                index = {c: i for i, c in enumerate(col["categories"])}
                try:
                    codes = np.array([index[v] for v in values.tolist()], dtype=np.int64)
                except KeyError as e:
                    raise UserError(f"column {col['name']!r}: category {e.args[0]!r} is not one of the "
                                    f"{len(index)} categories the table was fitted with") from None
                out[np.arange(n), span.start + codes] = 1.0
            elif span.role == "missing":
                out[np.arange(n), span.start + np.isnan(values).astype(np.int64)] = 1.0
            elif span.role == "alpha":
                x = np.where(np.isnan(values), col["fill"], values)
                mode = self._draw_modes(col, x, rng)
                means, stds = np.asarray(col["means"]), np.asarray(col["stds"])
                out[:, span.start] = np.clip((x - means[mode]) / (4 * stds[mode]), -0.99, 0.99)
                out[np.arange(n), span.start + 1 + mode] = 1.0  # the mode block follows its alpha
        return out

    @staticmethod
    def _draw_modes(col: dict[str, Any], x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One mode per value from p(k | x) proportional to w_k N(x; mu_k, sigma_k^2)."""
        w, mu, sd = (np.asarray(col[k]) for k in ("weights", "means", "stds"))
        logp = np.log(w) - np.log(sd) - 0.5 * ((x[:, None] - mu) / sd) ** 2  # (N, K)
        p = np.exp(logp - logp.max(1, keepdims=True))
        cdf = np.cumsum(p / p.sum(1, keepdims=True), 1)
        return np.minimum((rng.random(len(x))[:, None] > cdf).sum(1), len(mu) - 1)

    def decode(self, x: np.ndarray) -> Frame:
        """Model outputs ``(N, dim)`` (alphas, and any scores per one-hot block: the arg-max is taken) -> a
        frame with the original kinds: integers rounded, values clipped to the training range, categories."""
        frame: Frame = {}
        x = np.asarray(x, dtype=np.float64)
        by_column: dict[int, dict[str, Span]] = {}
        for span in self.spans:
            by_column.setdefault(span.column, {})[span.role] = span
        for j, col in enumerate(self.columns):
            spans = by_column[j]
            if "category" in spans:
                s = spans["category"]
                codes = x[:, s.start:s.start + s.width].argmax(1)
                frame[col["name"]] = np.array(col["categories"], dtype=object)[codes]
                continue
            a, m = spans["alpha"], spans["mode"]
            mode = x[:, m.start:m.start + m.width].argmax(1)
            means, stds = np.asarray(col["means"]), np.asarray(col["stds"])
            values = np.clip(x[:, a.start], -1, 1) * 4 * stds[mode] + means[mode]
            values = np.round(np.clip(values, col["min"], col["max"]), col["decimals"])
            if col.get("date_only"):
                values = np.round(values / 86400.0) * 86400.0
            if "missing" in spans:
                s = spans["missing"]
                values[x[:, s.start:s.start + s.width].argmax(1) == 1] = np.nan
            frame[col["name"]] = values
        return frame

    def format_value(self, j: int, value: Any) -> str:
        col = self.columns[j]
        if col["kind"] not in NUMERIC_KINDS:
            return str(value)
        if isinstance(value, float) and math.isnan(value):
            return ""
        if col["kind"] == "datetime":
            return format_datetime(value, col)
        return str(int(value)) if col["decimals"] == 0 else f"{value:.{col['decimals']}f}"

    def write_csv(self, frame: Frame, path: str | Path) -> None:
        """``frame`` as CSV: the original header and column order, numbers with each column's decimals,
        missing values as empty fields."""
        n = frame_rows(frame)
        cols = [frame[name] for name in self.names]
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(self.names)
            for i in range(n):
                writer.writerow([self.format_value(j, c[i]) for j, c in enumerate(cols)])


#: Bumped whenever the fitted transformer would change for the same file and options (the cache key).
TABLE_FORMAT = 2


def cached_table(key_parts: list[Any], build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The fitted transformer (mixtures take seconds per column) from ``cache_dir()/table-<hash>.json``, or
    built and written there atomically; the key must identify the file's content and the options."""
    key = hashlib.sha256(repr(key_parts).encode()).hexdigest()[:20]
    path = cache_dir() / f"table-{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass  # absent or damaged: fitted again below
    table = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(table))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home is no reason to fail
    return table


def load_table(path: str | Path, name: str | None = None, discrete: str | None = None,
               continuous: str | None = None, target: str | None = None, description: str = "") -> ArrayDataset:
    """A CSV file (or ``parquet:PATH``) as a table :class:`ArrayDataset`: ``arrays[split]`` the encoded rows
    ``float32 (N, D)``, ``meta["table"]`` the transformer dict, ``meta["frames"][split]`` the decoded values,
    ``meta["target"]`` the column machine-learning efficacy predicts (default: the last). Splits: a seeded
    permutation (seed 0), 10% validation, 10% test."""
    path = Path(path).expanduser()
    parquet = str(path).startswith("parquet:")
    if parquet:
        path = Path(str(path)[len("parquet:"):]).expanduser()
    source = name or (f"parquet:{path}" if parquet else f"csv:{path}")
    header, rows = read_parquet(path) if parquet else read_csv(path)
    columns = infer_columns(header, rows, source, discrete, continuous)
    frame = to_frame(columns, rows)
    n = len(rows)
    if n < 10:
        raise UserError(f"dataset {source}: {n} rows: expected at least 10 (train, validation and test splits)")
    n_val, n_test = max(1, round(VAL_FRACTION * n)), max(1, round(TEST_FRACTION * n))
    index = dict(zip(("train", "val", "test"), split_fixed(n, (n_val, n_test)), strict=True))
    frames = {s: take(frame, i) for s, i in index.items()}
    table = cached_table([TABLE_FORMAT, file_key(path), discrete, continuous],
                         lambda: fit_table(columns, frames["train"], frame))
    if target is not None and target not in header:
        raise UserError(f"target column {target!r}: no such column in {source}")
    table["target"] = target or header[-1]
    spec = TableSpec(table)
    arrays = {s: spec.encode(f, seed=i) for i, (s, f) in enumerate(frames.items())}
    kinds = ", ".join(f"{sum(c['kind'] == k for c in columns)} {k}" for k in KINDS if any(c["kind"] == k
                                                                                              for c in columns))
    return ArrayDataset(source, "table", arrays, source=description or f"{n} rows x {len(header)} columns from "
                        f"{path} ({kinds})", meta={"table": table, "frames": frames})
