"""Feature extractors: networks that map images float ``(N, C, H, W)`` in [0, 1] to feature vectors
(and, for classifiers, class probabilities) that the metrics in :mod:`ganforge.metrics` compare.

- ``domain``: a small CNN classifier per dataset (:mod:`ganforge.features.domain`), trained by
  ``ganforge features train`` and shipped as safetensors in ``ganforge/weights``;
- ``inception``: the FID Inception-v3 (:mod:`ganforge.features.inception`) with user-supplied weights.

:func:`ganforge.features.extractors.build_extractor` turns a ``--features`` string into an extractor.
"""
