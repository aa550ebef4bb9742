"""Real mixed-type tables that ship inside the statsmodels package (its ``statsmodels/datasets/*/*.csv``),
read straight from the installed files: statsmodels itself is never imported, and nothing is downloaded.

- ``fair``: Fair's 1978 affairs survey (Redbook, 1974), 6,366 rows x 9 columns: ratings 1-5, age, years
  married, children, religiousness, education, occupations (discrete) and time in affairs (continuous).
  ML efficacy predicts ``rate_marriage`` (5 classes).
- ``randhie``: the RAND Health Insurance Experiment, 20,190 rows x 10 columns: doctor visits (integer
  count), log coinsurance, log income payment, disease index (continuous), deductible plan, physical
  limitation and self-rated health (boolean). ML efficacy predicts ``idp`` (the individual deductible plan).

Install with ``pip install 'ganforge[tables]'`` (or ``pip install statsmodels``; Debian: ``apt-get install
python3-statsmodels``), or copy the CSV files into ``--data-dir`` (``DIR/fair.csv`` or ``DIR/fair/fair.csv``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import UserError
from .core import DATASETS, ArrayDataset, DatasetSource, search_dirs

HOW_TO_GET = ("pip install 'ganforge[tables]' (statsmodels ships it), apt-get install python3-statsmodels, "
              "or copy NAME.csv into --data-dir")
DEBIAN_DIRS = ("/usr/lib/python3/dist-packages/statsmodels/datasets",)
#: name -> (file inside statsmodels/datasets, ML-efficacy target, columns to model as discrete, description)
TABLES = {
    "fair": ("fair/fair.csv", "rate_marriage", None,
             "Fair's affairs survey (statsmodels), 6,366 rows x 9 mixed columns"),
    "randhie": ("randhie/randhie.csv", "idp", None,
                "RAND health insurance experiment (statsmodels), 20,190 rows x 10 mixed columns"),
}


def statsmodels_datasets_dir() -> Path | None:
    """``statsmodels/datasets`` of an installed statsmodels (found without importing it), or None."""
    try:
        spec = importlib.util.find_spec("statsmodels")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def locate_table(name: str, data_dir: str | None) -> Path | None:
    relative = Path(TABLES[name][0])
    candidates = []
    for base in search_dirs(data_dir, ("statsmodels/datasets",), DEBIAN_DIRS):
        candidates += [base / relative.name, base / relative]
    installed = statsmodels_datasets_dir()
    if installed is not None:
        candidates.append(installed / relative)
    return next((p for p in candidates if p.is_file()), None)


def _source(name: str) -> DatasetSource:
    relative, target, discrete, description = TABLES[name]

    def locate(data_dir: str | None) -> str | None:
        path = locate_table(name, data_dir)
        return str(path) if path else None

    def load(data_dir: str | None = None, download: bool = False, discrete_columns: str | None = None,
             continuous_columns: str | None = None) -> ArrayDataset:
        from .table import load_table

        path = locate_table(name, data_dir)
        if path is None:
            raise UserError(f"dataset {name}: {relative} not found (a file of the statsmodels package): {HOW_TO_GET}")
        return load_table(path, name, discrete_columns or discrete, continuous_columns, target,
                          f"{description}, from {path}")

    return DatasetSource(name, description, locate, load, HOW_TO_GET.replace("NAME", name), table=True)


for _name in TABLES:
    DATASETS.register(_name)(_source(_name))
