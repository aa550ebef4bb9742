import importlib.util
import os
import shutil
from pathlib import Path

import pytest

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
HAS_FASHION = os.path.isfile(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz"))
HAS_CHROMIUM = shutil.which("chromium") is not None or shutil.which("chromium-browser") is not None


REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_script():
    """A loader for the repository's scripts that are not part of the package (``bench/``, ``scripts/``):
    ``repo_script("bench/remedies_modes.py")`` imports that file as a module and returns it."""
    def load(relative_path: str):
        path = REPO_ROOT / relative_path
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Decoded-dataset caches go to a per-session temporary directory, not the user's home."""
    os.environ["GANFORGE_CACHE"] = str(tmp_path_factory.mktemp("ganforge-cache"))
    yield


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test: the networks here are small, and on a busy 2-core CI machine two threads
    per process fight each other and run many times slower (docs/performance.md)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (deselect with -m 'not slow')")
