"""Anomaly detection with the one-class protocol (issue 12): methods behind one interface (``base``), one module
per family, registered by name in :data:`METHODS`; ``table`` runs every method over every normal class.

Families: ``ganomaly`` (GANomaly), ``fanogan`` (f-AnoGAN), ``anogan`` (AnoGAN), ``bigan`` (Zenati et al.),
``reconstruction`` (ae, vae) and ``classical`` (ocsvm, iforest, on pixels or domain features)."""

from . import anogan, bigan, classical, fanogan, ganomaly, reconstruction  # noqa: F401  (register the methods)
from .base import METHODS, AnomalyConfig, AnomalyMethod, build_method, register_method

__all__ = ["METHODS", "AnomalyConfig", "AnomalyMethod", "build_method", "register_method"]
