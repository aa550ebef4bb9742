"""ganforge: train, measure and look at generative adversarial networks."""

import os

# GNU OpenMP threads spin while they wait for each other; on a shared or oversubscribed CPU that made
# training 5-20x slower here (docs/performance.md). Sleeping waiters cost little on an idle machine.
# It only takes effect if set before torch is first imported; users may override it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .config import TrainConfig  # noqa: E402
from .errors import UserError
from .run import LoadedRun, load_run
from .train import Trainer

__version__ = "0.1.0"
__all__ = ["LoadedRun", "TrainConfig", "Trainer", "UserError", "load_run", "__version__"]
