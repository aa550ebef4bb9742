"""Classical one-class baselines from scikit-learn, on pixels or on ganforge's domain features.

- ``ocsvm``: One-class SVM (Schoelkopf et al. 2001), RBF kernel, gamma "scale", nu = 0.1, fitted on at most
  ``svm_max_train`` normal examples; score = minus the decision function.
- ``iforest``: Isolation Forest (Liu et al. 2008), 100 trees; score = minus ``score_samples``.

On pixels (images flattened to [0, 1]; points and a table's standardised / one-hot rows as they are) or,
with the ``-domain`` suffix (images only), on the shipped domain classifier's 128 features (``ganforge
features list``). Note: that classifier was trained with labels on all classes of the dataset, anomalies
included, so ``-domain`` results are not one-class results in the strict sense: they show what features that
already separate the classes buy, nothing more.

These methods keep no weights on disk (scikit-learn models are saved only by pickle, which ganforge never
loads): ``load`` refits them on the same training examples with the same seed, which is deterministic and
takes seconds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..data import ArrayDataset
from .base import AnomalyMethod, register_method


class ClassicalMethod(AnomalyMethod):
    features: str = "pixels"

    def represent(self, x: np.ndarray) -> np.ndarray:
        """``(N, d)`` float64: pixels in [0, 1] (points unchanged) or domain features."""
        if self.features == "pixels":
            flat = x.reshape(len(x), -1).astype(np.float64)
            return flat / 255.0 if x.dtype == np.uint8 else flat
        return domain_features(self.extractor, x)

    def make_estimator(self):
        raise NotImplementedError

    def fit(self, data: ArrayDataset, run_dir: Path | None = None) -> None:
        self.check_data(data)
        if self.features == "domain":
            from ..features.extractors import build_extractor

            self.extractor = build_extractor("domain", data.name, data.kind)
        x = data.split("train")
        if self.max_train and len(x) > self.max_train:
            x = x[np.sort(np.random.default_rng(self.cfg.seed).choice(len(x), self.max_train, replace=False))]
        self.estimator = self.make_estimator().fit(self.represent(x))

    def load(self, run_dir: Path, data: ArrayDataset) -> None:
        self.fit(data, run_dir)

    @property
    def max_train(self) -> int | None:
        return None


#: domain features already computed in this process, by extractor and array content (the test split is
#: scored once per normal class and per method: the same 10,000 images)
_FEATURE_CACHE: dict[tuple[str, str], np.ndarray] = {}


def domain_features(extractor, x: np.ndarray) -> np.ndarray:
    key = (extractor.key, hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest())
    if key not in _FEATURE_CACHE:
        if len(_FEATURE_CACHE) > 32:
            _FEATURE_CACHE.clear()
        features, _ = extractor.features_and_probs(x)
        _FEATURE_CACHE[key] = features.double().numpy()
    return _FEATURE_CACHE[key]


class OneClassSVMMethod(ClassicalMethod):
    @property
    def max_train(self) -> int:
        return self.cfg.svm_max_train

    def make_estimator(self):
        from sklearn.svm import OneClassSVM

        return OneClassSVM(kernel="rbf", gamma="scale", nu=0.1)

    def score(self, x: np.ndarray) -> np.ndarray:
        return -self.estimator.decision_function(self.represent(x))


class IsolationForestMethod(ClassicalMethod):
    def make_estimator(self):
        from sklearn.ensemble import IsolationForest

        return IsolationForest(n_estimators=100, random_state=self.cfg.seed)

    def score(self, x: np.ndarray) -> np.ndarray:
        return -self.estimator.score_samples(self.represent(x))


@register_method
class OCSVMPixels(OneClassSVMMethod):
    name, description = "ocsvm", "one-class SVM (RBF, nu 0.1) on pixels"


@register_method
class OCSVMDomain(OneClassSVMMethod):
    name, description, features = "ocsvm-domain", "one-class SVM on domain-classifier features", "domain"
    data_kinds = ("image",)


@register_method
class IForestPixels(IsolationForestMethod):
    name, description = "iforest", "isolation forest (100 trees) on pixels"


@register_method
class IForestDomain(IsolationForestMethod):
    name, description, features = "iforest-domain", "isolation forest on domain-classifier features", "domain"
    data_kinds = ("image",)

