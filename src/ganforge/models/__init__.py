"""GAN architectures, registered by name. Adding a model = adding one file here and importing it below."""

from . import dcgan, gan  # noqa: E402,F401,I001  (registers the models)
from .base import MODELS, AdversarialGAN, Batch, DataInfo, GANModel, ModelSpec, Phase, register_model

__all__ = ["MODELS", "AdversarialGAN", "Batch", "DataInfo", "GANModel", "ModelSpec", "Phase", "register_model"]
