"""Datasets: one API over MNIST, Fashion-MNIST, CIFAR-10, a folder of images, digits, toy mixtures and tables."""

from . import cifar, digits, mnist, tables_bundled, toy  # noqa: F401  (registers the datasets)
from .core import (
    DATASETS,
    ArrayDataset,
    MinibatchSampler,
    is_table_name,
    load_dataset,
    to_data_range,
    to_model_range,
)

__all__ = ["DATASETS", "ArrayDataset", "MinibatchSampler", "is_table_name", "load_dataset", "to_data_range",
           "to_model_range"]
