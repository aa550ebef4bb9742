"""ganforge: train, measure and look at generative adversarial networks."""

from .config import TrainConfig
from .errors import UserError
from .run import LoadedRun, load_run
from .train import Trainer

__version__ = "0.1.0"
__all__ = ["LoadedRun", "TrainConfig", "Trainer", "UserError", "load_run", "__version__"]
