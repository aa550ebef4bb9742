"""Exporting a run's generator for use outside Python: ONNX (onnxruntime, other runtimes) or TorchScript.

The exported graph is ``latent -> samples in the data's range``: images float32 ``(N, C, H, W)`` in [0, 1]
(``to_data_range`` of the model's [-1, 1] output, clamped), toy points ``(N, D)`` as they are. Its inputs are
the model's latents: ``z (N, latent_dim)`` float32 drawn from the run's prior (``normal``: N(0, 1); ``uniform``:
U[-1, 1]; ``mixture``: the record's ``prior_centres`` and ``prior_std``), plus the code tensors of conditional
models (cgan's class ``y (N,)`` int64, InfoGAN's codes), named ``z``, ``latent_1``, ``latent_2`` ... in the
order ``sample_latent`` returns them. The batch axis is dynamic.

Metadata travel inside the file: ONNX ``metadata_props`` (``ganforge`` = a JSON record, plus ``latent_dim``,
``prior`` and ``output_range`` as plain keys), TorchScript an extra file ``ganforge.json``. A run trained with
``--g-ema`` exports G's weight average (what eval mode samples from); the record's ``weights`` says which.

ONNX export uses torch's TorchScript-based exporter (``dynamo=False``): it needs only the ``onnx`` package
(for the metadata), works offline, and does not need ``onnxscript``, which the newer exporter requires.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import UserError
from .noise import mixture_centres

FORMATS = ("onnx", "torchscript")
FORMAT_TAG = "ganforge-generator-v1"
#: what the output holds, by kind of data (a table's rows come out encoded: ``ganforge sample`` decodes them)
OUTPUT_RANGES = {"image": "[0, 1]", "points": "data units (points)",
                 "table": "encoded rows (continuous columns mode-normalised, categories one-hot): ganforge sample "
                          "decodes them"}
#: ``--check`` compares the exported file with PyTorch on latents drawn with this seed.
CHECK_SEED = 1234


class SamplingGenerator(nn.Module):
    """``forward(*latent) -> samples``: the model's ``generate`` followed by the map to the data's range
    (images: ``clamp((x + 1) / 2, 0, 1)``, the same arithmetic as ``to_data_range``)."""

    def __init__(self, model: nn.Module, kind: str):
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, *latent: torch.Tensor) -> torch.Tensor:
        x = self.model.generate(latent[0] if len(latent) == 1 else tuple(latent))
        return ((x + 1.0) * 0.5).clamp(0.0, 1.0) if self.kind == "image" else x


def generator_only(model: nn.Module, example: tuple[torch.Tensor, ...]) -> nn.Module:
    """A shallow copy of ``model`` without the top-level submodules ``generate`` does not use (the
    discriminator, encoders, heads), found by which ones receive a gradient from its output; the exported
    file then holds the generator's weights only."""
    params = list(model.parameters())
    frozen = [p for p in params if not p.requires_grad]  # e.g. G's weight average (--g-ema), what eval mode uses
    for p in params:
        p.grad = None
        p.requires_grad_(True)
    try:
        with torch.enable_grad():
            out = model.generate(example[0] if len(example) == 1 else example)
            out.float().sum().backward()
        unused = [name for name, child in model.named_children()
                  if any(True for _ in child.parameters()) and all(p.grad is None for p in child.parameters())]
    finally:
        for p in params:
            p.grad = None
        for p in frozen:
            p.requires_grad_(False)
    slim = copy.copy(model)
    slim._modules = {name: (None if name in unused else child) for name, child in model._modules.items()}
    return slim


def latent_tuple(latent: Any) -> tuple[torch.Tensor, ...]:
    return tuple(latent) if isinstance(latent, (tuple, list)) else (latent,)


def input_names(count: int) -> list[str]:
    return ["z"] + [f"latent_{i}" for i in range(1, count)]


def fixed_latents(run, n: int, seed: int = CHECK_SEED) -> tuple[torch.Tensor, ...]:
    """``n`` latents from the run's own ``sample_latent`` with a fixed seed, on the CPU."""
    return latent_tuple(run.model.sample_latent(n, torch.Generator().manual_seed(seed)))


def export_metadata(run, latents: tuple[torch.Tensor, ...], fmt: str) -> dict[str, Any]:
    from . import __version__

    names = input_names(len(latents))
    kind = run.data.kind
    output_range = OUTPUT_RANGES.get(kind, "data units")
    with torch.no_grad():  # the shape G writes (a next-frame run's frames are larger than its dataset's digits)
        out_shape = run.model.generate(latents[0] if len(latents) == 1 else latents).shape[1:]
    conditioned = getattr(run.model, "noiseless_input", None)  # G reads kept inputs, not noise from a prior
    noise = ({"latent_dim": None, "prior": None, "input": conditioned} if conditioned else
             {"latent_dim": run.config.latent_dim, "prior": run.config.prior, **mixture_prior_metadata(run.config)})
    return {
        "format": FORMAT_TAG, "exported_as": fmt, "ganforge_version": __version__,
        "model": run.config.model, "data": run.data_name, "step": run.step,
        "weights": ("generator_ema (G's weight average, --g-ema)"
                    if getattr(run.model, "generator_ema", None) is not None else "generator"),
        **noise,
        "inputs": [{"name": nm, "shape": [-1, *t.shape[1:]], "dtype": str(t.dtype).replace("torch.", "")}
                   for nm, t in zip(names, latents, strict=True)],
        "output": {"name": "x", "shape": [-1, *out_shape], "dtype": "float32", "range": output_range},
        "output_range": output_range,
    }


def mixture_prior_metadata(config) -> dict[str, Any]:
    """For ``--prior mixture``, what a user outside Python needs to draw z: ``prior_std`` and ``prior_centres``
    (``components`` lists of ``latent_dim`` floats; z = a centre chosen uniformly + prior_std * N(0, I)); else {}."""
    if config.prior != "mixture":
        return {}
    return {"prior_std": config.prior_std,
            "prior_centres": mixture_centres(config.prior_components, config.latent_dim).tolist()}


def export_generator(run, fmt: str, out: str | Path) -> dict[str, Any]:
    """Write ``run``'s generator (a ``LoadedRun`` on the CPU, eval mode) to ``out`` as ``onnx`` or
    ``torchscript``; returns the metadata stored with it."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: expected {' or '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run.model.eval()
    example = fixed_latents(run, 2)
    wrapper = SamplingGenerator(generator_only(run.model, example), run.data.kind).eval()
    meta = export_metadata(run, example, fmt)
    names = input_names(len(example))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.9+ flags both exporters as legacy
        warnings.simplefilter("ignore", FutureWarning)
        if fmt == "torchscript":
            traced = torch.jit.trace(wrapper, example)
            torch.jit.save(traced, str(out), _extra_files={"ganforge.json": json.dumps(meta)})
        else:
            try:
                import onnx
            except ImportError:
                raise UserError("--format onnx: needs the onnx package: pip install 'ganforge[export]'") from None
            axes = {nm: {0: "n"} for nm in [*names, "x"]}
            torch.onnx.export(wrapper, example, str(out), input_names=names, output_names=["x"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
            proto = onnx.load(str(out))
            graph_inputs = {i.name for i in proto.graph.input}  # the exporter drops inputs generate never reads
            meta["inputs"] = [i for i in meta["inputs"] if i["name"] in graph_inputs]  # (ctgan's u, Gumbel's g)
            props = {"ganforge": json.dumps(meta), "output_range": meta["output_range"]}
            props.update({"latent_dim": str(meta["latent_dim"]), "prior": meta["prior"]} if meta["prior"] else
                         {"input": meta["input"]})
            for key, value in props.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.save(proto, str(out))
    return meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ganforge record stored in an exported ``.onnx`` or TorchScript file."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        return json.loads(props["ganforge"])
    extra = {"ganforge.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(str(path), _extra_files=extra)
    return json.loads(extra["ganforge.json"])


@torch.inference_mode()
def run_exported(path: str | Path, fmt: str, latents: tuple[torch.Tensor, ...]) -> np.ndarray:
    """Samples from an exported file (onnxruntime for ONNX, ``torch.jit.load`` for TorchScript)."""
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError("--check: running an ONNX file needs onnxruntime: pip install 'ganforge[export]'") from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}  # the latents the graph reads (read_metadata's inputs)
        feeds = {nm: t.numpy() for nm, t in zip(input_names(len(latents)), latents, strict=True) if nm in wanted}
        return session.run(["x"], feeds)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.9+ flags TorchScript as legacy
        module = torch.jit.load(str(path)).eval()
    return module(*latents).numpy()


@torch.inference_mode()
def check_export(run, path: str | Path, fmt: str, sizes: tuple[int, ...] = (16, 3)) -> float:
    """Largest absolute difference between the exported file and PyTorch (``LoadedRun``'s own sampling
    arithmetic) over fixed latents, at batch sizes ``sizes`` (two, as the batch axis is dynamic)."""
    from .data import to_data_range

    worst = 0.0
    for n in sizes:
        latents = fixed_latents(run, n, CHECK_SEED + n)
        ref = to_data_range(run.model.generate(latents[0] if len(latents) == 1 else latents), run.data.kind)
        got = run_exported(path, fmt, latents)
        if got.shape != tuple(ref.shape):
            raise UserError(f"--check: {path} gave shape {got.shape} for {n} latents, expected {tuple(ref.shape)}")
        worst = max(worst, float(np.abs(got - ref.numpy()).max()))
    return worst
