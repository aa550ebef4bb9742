"""GAN architectures, registered by name. Adding a model = adding one file here and importing it below."""

from . import dcgan, gan  # noqa: E402,F401,I001  (registers the models)
from . import aae, ae, cgan, ebgan, infogan, sgan, vae, vaegan, wgan  # noqa: E402,F401,I001  (issue 4)
from . import gman  # noqa: E402,F401,I001  (issue 11)
from . import bigan  # noqa: E402,F401,I001  (issue 12: bigan)
from . import srgan  # noqa: E402,F401,I001  (issue 14: srresnet, srgan)
from . import ctgan, tvae  # noqa: E402,F401,I001  (issue 13: tables)
from . import progan, stylegan2  # noqa: E402,F401,I001  (issue 11)
from . import ganomaly  # noqa: E402,F401,I001  (issue 12: anomaly detection)
from . import nextframe  # noqa: E402,F401,I001  (issue 14: next-frame prediction)
from .base import (  # noqa: I001
    MODELS,
    AdversarialGAN,
    Batch,
    DataInfo,
    GANModel,
    ModelSpec,
    Phase,
    config_for,
    register_model,
)

__all__ = ["MODELS", "AdversarialGAN", "Batch", "DataInfo", "GANModel", "ModelSpec", "Phase", "config_for",
           "register_model"]
