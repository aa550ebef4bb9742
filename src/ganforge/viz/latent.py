"""Walking the latent space of an image run: interpolation (linear and spherical), arithmetic on mean
latents (Radford et al. 2016: "man with glasses" - "man" + "woman"), and the nearest training images of
samples (is the generator copying?).

Latents are ``z (n, latent_dim)`` tensors as the model's ``sample_latent`` draws them; images are float
``(n, C, H, W)`` in [0, 1] as :meth:`ganforge.run.LoadedRun.sample` returns them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import to_data_range
from ..errors import UserError
from ..images import grid_scale, make_grid
from .plotting import pyplot, save_figure, save_gif


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: ``(1 - t) z0 + t z1`` for ``z0, z1 (D,)`` and ``t (T,)`` -> ``(T, D)``."""
    t = torch.as_tensor(t, dtype=z0.dtype)[:, None]
    return (1 - t) * z0[None] + t * z1[None]


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GANs): along the great circle between the
    directions of ``z0`` and ``z1`` (``(D,)``), with the angle split in proportion ``t (T,)`` -> ``(T, D)``.

    With Ω the angle between them: ``sin((1 - t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1``. A Gaussian latent's
    norm concentrates near sqrt(D); the straight line's midpoint is shorter (atypical), slerp's is not.
    Falls back to :func:`lerp` when the two are (anti)parallel to within 1e-6.
    """
    t = torch.as_tensor(t, dtype=torch.float64)[:, None]
    a, b = z0.double(), z1.double()
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if torch.sin(omega).abs() < 1e-6:
        return lerp(z0, z1, t[:, 0].to(z0.dtype))
    out = (torch.sin((1 - t) * omega) * a[None] + torch.sin(t * omega) * b[None]) / torch.sin(omega)
    return out.to(z0.dtype)


INTERPOLATIONS = {"linear": lerp, "spherical": slerp}


def require_tensor_latent(run) -> None:
    probe = run.model.sample_latent(1, torch.Generator().manual_seed(0))
    if not isinstance(probe, torch.Tensor):
        raise UserError(f"latent tools: model {run.config.model} takes a structured latent "
                        f"({type(probe).__name__}), expected a plain z tensor")
    if probe.ndim != 2:  # srresnet/srgan and nextframe: the generator's input is an image, not a noise vector
        raise UserError(f"latent tools: model {run.config.model} generates from images {tuple(probe.shape[1:])}, "
                        "not from a noise vector z: expected a model that draws z (dcgan, gan, stylegan2, ...)")
    if run.data.kind != "image":
        raise UserError(f"latent tools: run {run.run_dir} models {run.data.kind}; expected an image run")


@torch.inference_mode()
def generate_images(run, latent: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Images float ``(n, C, H, W)`` in [0, 1] on the CPU for latents ``(n, latent_dim)``."""
    out = []
    for start in range(0, len(latent), batch_size):
        x = run.model.generate(latent[start:start + batch_size].to(run.device))
        out.append(to_data_range(x, run.data.kind).cpu())
    return torch.cat(out)


def interpolation_latents(run, rows: int, steps: int, mode: str = "spherical", seed: int = 0) -> torch.Tensor:
    """``(rows * steps, latent_dim)``: ``rows`` paths of ``steps`` points between random pairs of latents."""
    if mode not in INTERPOLATIONS:
        raise UserError(f"interpolation {mode!r} is unknown: expected {' or '.join(INTERPOLATIONS)}")
    if rows < 1 or steps < 2:
        raise UserError(f"interpolation: rows={rows}, steps={steps} are invalid: expected rows >= 1, steps >= 2")
    require_tensor_latent(run)
    ends = run.model.sample_latent(2 * rows, torch.Generator().manual_seed(seed)).cpu()
    t = torch.linspace(0, 1, steps)
    return torch.cat([INTERPOLATIONS[mode](ends[2 * r], ends[2 * r + 1], t) for r in range(rows)])


def interpolation_grid(run, rows: int = 8, steps: int = 10, mode: str = "spherical", seed: int = 0) -> np.ndarray:
    """uint8 ``(H, W, C)`` grid: each row walks from one random latent to another."""
    x = generate_images(run, interpolation_latents(run, rows, steps, mode, seed))
    return make_grid(x, nrow=steps)


def interpolation_gif(run, path: str | Path, count: int = 8, steps: int = 24, mode: str = "spherical",
                      seed: int = 0, fps: float = 12.0) -> Path:
    """A looping GIF of ``count`` samples side by side, each walking to another latent and back."""
    latent = interpolation_latents(run, count, steps, mode, seed).view(count, steps, -1)
    x = generate_images(run, latent.transpose(0, 1).reshape(count * steps, -1))  # frame-major
    x = x.view(steps, count, *x.shape[1:])
    scale = grid_scale(x.shape[-1])
    frames = []
    for i in list(range(steps)) + list(range(steps - 2, 0, -1)):
        grid = make_grid(x[i], nrow=count)
        grid = np.repeat(np.repeat(grid, scale, 0), scale, 1)
        frames.append(np.repeat(grid, 3, 2) if grid.shape[2] == 1 else grid)
    return save_gif(frames, path, fps=fps, hold_last=1)


def latent_arithmetic(z_a: torch.Tensor, z_b: torch.Tensor, z_c: torch.Tensor) -> torch.Tensor:
    """``mean(z_a) - mean(z_b) + mean(z_c)`` over each group's rows ``(n_i, latent_dim)`` -> ``(latent_dim,)``.

    Averaging a few latents of one kind first (Radford et al. used three) keeps the result on the concept
    instead of one sample's quirks."""
    for name, z in (("A", z_a), ("B", z_b), ("C", z_c)):
        if z.ndim != 2 or len(z) == 0:
            raise UserError(f"latent arithmetic: group {name} is empty: expected at least one latent")
    return z_a.mean(0) - z_b.mean(0) + z_c.mean(0)


@torch.inference_mode()
def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor, k: int = 1,
                       chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean k nearest rows of ``reference (M, F)`` for each row of ``queries (N, F)``:
    ``(distances (N, k), indices (N, k))``, nearest first. Images are flattened first."""
    q = torch.as_tensor(queries).reshape(len(queries), -1).double()
    r = torch.as_tensor(reference).reshape(len(reference), -1).double()
    if k < 1 or k > len(r):
        raise UserError(f"nearest neighbours: k={k} is invalid: expected 1 <= k <= {len(r)}")
    dist, idx = [], []
    for start in range(0, len(q), chunk):
        d = torch.cdist(q[start:start + chunk], r)  # (b, M)
        values, indices = d.topk(k, dim=1, largest=False)
        dist.append(values)
        idx.append(indices)
    return torch.cat(dist), torch.cat(idx)


def labels_by_nearest_neighbours(images: torch.Tensor, train_images: torch.Tensor, train_labels: torch.Tensor,
                                 k: int = 5) -> torch.Tensor:
    """A classifier for any labelled image data: the majority label of the ``k`` nearest training images
    (ties go to the nearer). ``images (N, C, H, W)`` and ``train_images (M, C, H, W)`` float in [0, 1]."""
    _, idx = nearest_neighbours(images, train_images, k)
    votes = torch.as_tensor(train_labels)[idx]  # (N, k)
    out = torch.empty(len(votes), dtype=torch.int64)
    for i, row in enumerate(votes.tolist()):
        counts = {}
        for rank, y in enumerate(row):
            c, first = counts.get(y, (0, rank))
            counts[y] = (c + 1, first)
        out[i] = max(counts, key=lambda y: (counts[y][0], -counts[y][1]))
    return out


def classify_samples(run, images: torch.Tensor, dataset=None) -> tuple[torch.Tensor, str]:
    """Labels for generated ``images``: the dataset's domain classifier when one is available (``ganforge
    features``), else 5-nearest-neighbour labels from the training split. Returns ``(labels (N,), how)``."""
    try:
        from ..features.domain import load_domain_classifier

        classifier = load_domain_classifier(run.data_name)
        return classifier.probs(images).argmax(1), f"domain classifier for {run.data_name}"
    except (ImportError, UserError):
        pass
    from ..data import load_dataset

    dataset = dataset or load_dataset(run.data_name, image_size=run.data.shape[-1])
    if "train" not in dataset.labels:
        raise UserError(f"latent arithmetic by label: dataset {run.data_name} has no labels: pick samples by hand")
    train = torch.from_numpy(dataset.split("train")[:10000]).float() / 255
    labels = torch.from_numpy(dataset.labels["train"][:10000])
    return labels_by_nearest_neighbours(images, train, labels), "5 nearest training images (10,000 of them)"


def arithmetic_figure(images_a, images_b, images_c, mean_images, result_images, path: str | Path,
                      titles: tuple[str, str, str] = ("A", "B", "C")) -> Path:
    """Rows A, B, C: the picked samples and G(mean latent) in the last column; bottom row: G(A - B + C)
    and variations with small noise added to that latent."""
    plt = pyplot()
    groups = [images_a, images_b, images_c]
    cols = max(max(len(g) for g in groups) + 1, len(result_images))
    fig, axes = plt.subplots(4, cols, figsize=(1.1 * cols, 1.25 * 4 + 0.3), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")

    def show(ax, img):
        arr = img.permute(1, 2, 0).numpy()
        ax.imshow(arr[..., 0] if arr.shape[2] == 1 else arr, cmap="gray", vmin=0, vmax=1, interpolation="nearest")

    for r, (group, title) in enumerate(zip(groups, titles, strict=True)):
        for c, img in enumerate(group[: cols - 1]):
            show(axes[r, c], img)
        show(axes[r, cols - 1], mean_images[r])
        axes[r, 0].set_title(title, fontsize=8, loc="left")
        axes[r, cols - 1].set_title("G(mean z)", fontsize=7)
    for c, img in enumerate(result_images[:cols]):
        show(axes[3, c], img)
    axes[3, 0].set_title(f"{titles[0]} - {titles[1]} + {titles[2]}", fontsize=8, loc="left")
    fig.tight_layout()
    return save_figure(fig, path)


def run_arithmetic(run, picks: dict[str, list[int]] | None = None, labels: dict[str, int] | None = None,
                   n: int = 64, per_group: int = 3, seed: int = 0, out: str | Path = "arithmetic.png",
                   variations: int = 7, noise: float = 0.25) -> tuple[Path, str]:
    """Latent arithmetic on the ``n`` samples of ``seed`` (the same numbered samples ``ganforge latent sheet``
    shows): groups A, B, C picked by index (``picks``) or by class label (``labels``, the first ``per_group``
    samples the classifier gives that label). Returns ``(figure path, how the groups were chosen)``."""
    require_tensor_latent(run)
    k = run.data.num_classes
    for name, label in (labels or {}).items():
        if k and not 0 <= label < k:
            raise UserError(f"latent arithmetic: --{name.lower()}-label {label}: expected a class label in "
                            f"[0, {k - 1}] ({run.data_name} has {k} classes)")
    z = run.model.sample_latent(n, torch.Generator().manual_seed(seed)).cpu()
    images = generate_images(run, z)
    if picks is not None:
        for name, idx in picks.items():
            bad = [i for i in idx if not 0 <= i < n]
            if bad or not idx:
                raise UserError(f"latent arithmetic: group {name} indices {idx}: expected 1 or more in [0, {n - 1}]")
        chosen, how = picks, f"picked by hand from the {n} samples of seed {seed}"
    elif labels is not None:
        predicted, how = classify_samples(run, images)
        chosen = {}
        for name, label in labels.items():
            idx = (predicted == label).nonzero().flatten()[:per_group].tolist()
            if not idx:
                raise UserError(f"latent arithmetic: no sample among {n} is labelled {label} for group {name}: "
                                "try a larger --n or another --seed")
            chosen[name] = idx
        how = f"the first {per_group} samples labelled {labels} by the {how}"
    else:
        raise UserError("latent arithmetic: give the groups by index or by label")
    groups = [z[chosen[k]] for k in ("A", "B", "C")]
    means = torch.stack([g.mean(0) for g in groups])
    target = latent_arithmetic(*groups)
    rng = torch.Generator().manual_seed(seed + 1)
    result = torch.cat([target[None], target[None] + noise * torch.randn(variations, len(target), generator=rng)])
    titles = tuple(f"{k}: {labels[k]}" if labels else k for k in ("A", "B", "C"))
    path = arithmetic_figure(*[images[chosen[k]] for k in ("A", "B", "C")], generate_images(run, means),
                             generate_images(run, result), out, titles)
    return path, how


def neighbours_figure(samples: torch.Tensor, train: torch.Tensor, k: int, path: str | Path) -> Path:
    """Each row: a sample, then its ``k`` nearest training images (pixel L2). Returns the PNG path."""
    _, idx = nearest_neighbours(samples, train, k)
    rows = [torch.cat([samples[i:i + 1], train[idx[i]]]) for i in range(len(samples))]
    grid = make_grid(torch.cat(rows), nrow=k + 1)
    from ..images import save_image

    save_image(grid, path, scale=grid_scale(samples.shape[-1]))
    return Path(path)


@torch.inference_mode()
def style_mixing_grid(run, rows: int, cols: int, cutoff: int | None = None, seed: int = 0
                      ) -> tuple[torch.Tensor, int]:
    """A stylegan2 run's style-mixing grid as images ``((rows + 1) * (cols + 1), C, H, W)`` in [0, 1], row by
    row: a blank corner, the samples of ``cols`` top-row latents, then per row the sample of that row's latent
    followed by the mixes that take style inputs ``0 .. cutoff - 1`` (coarse) from the column's latent and the
    rest (fine) from the row's. ``cutoff`` defaults to the inputs of the first two resolutions (3). Returns the
    images and the cutoff used."""
    g = run.model.sampling_generator
    cutoff = min(3, g.num_ws - 1) if cutoff is None else cutoff
    if not 0 < cutoff < g.num_ws:
        raise UserError(f"--cutoff {cutoff}: expected an integer from 1 to {g.num_ws - 1} (the generator has "
                        f"{g.num_ws} style inputs)")
    rng = torch.Generator().manual_seed(seed)
    z_coarse = run.model.sample_latent(cols, rng)  # (cols, D): the top row
    z_fine = run.model.sample_latent(rows, rng)  # (rows, D): the left column
    top = to_data_range(run.model.style_mix(z_coarse, z_coarse, g.num_ws), "image").cpu()
    left = to_data_range(run.model.style_mix(z_fine, z_fine, g.num_ws), "image").cpu()
    blank = torch.ones_like(top[:1])
    out = [blank, top]
    for i in range(rows):
        mixed = run.model.style_mix(z_coarse, z_fine[i:i + 1].expand(cols, -1), cutoff)
        out += [left[i:i + 1], to_data_range(mixed, "image").cpu()]
    return torch.cat(out), cutoff
