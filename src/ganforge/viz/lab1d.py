"""The 1-D lab: figure 1 of Goodfellow et al. (2014) drawn from a real run, and its theory checked.

A ``gan`` (the 2014 MLPs) with a one-dimensional uniform latent z ~ U[-1, 1] learns ``gauss1d``
(N(4, 0.5^2)) or ``bimodal1d`` (an equal mixture of N(-2, 0.5^2) and N(2, 0.5^2)) through the shared
:class:`ganforge.train.Trainer`. Every few steps a frame records, on a fixed grid of x:

- the data density p_data (black, dotted; closed form),
- the generator density p_g (green; a narrow-kernel density estimate of G pushed through evenly spaced z),
- the discriminator D(x) = sigmoid(logit) (blue, dashed),
- the mapping z -> x = G(z) (lines from an evenly spaced z line below to where they land on x).

After training the theory is checked numerically for the final, now fixed, G: a fresh discriminator
trained to convergence against it is compared with D* = p_data / (p_data + p_g); C(G) = V(D*, G) is
integrated on the grid and compared with -log 4 + 2 JSD(p_data || p_g), the JSD computed separately.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig
from ..data import ArrayDataset
from ..errors import UserError
from . import theory
from .plotting import figure_to_array, pyplot, save_figure, save_gif, save_mp4, save_png

#: name -> (means (K,), std) of the 1-D equal-weight Gaussian mixtures the lab can learn.
DATA_1D = {"gauss1d": ((4.0,), 0.5), "bimodal1d": ((-2.0, 2.0), 0.5)}
#: Adam learning rates that make the 1-D game visible: gauss1d converges in ~400 steps at 2e-4; bimodal1d
#: at 5e-4 hops between the two modes (the lectures' oscillation) before it covers both.
LAB_LR = {"gauss1d": 2e-4, "bimodal1d": 5e-4}
LATENT_1D = "uniform"  # z ~ U[-1, 1], as in the paper's figure


def mixture_1d(name: str) -> tuple[np.ndarray, float]:
    """``(means (K,), std)`` of a 1-D lab dataset; a UserError for other names."""
    if name not in DATA_1D:
        raise UserError(f"1-D lab data {name!r} is unknown: expected one of {', '.join(DATA_1D)}")
    means, std = DATA_1D[name]
    return np.asarray(means, dtype=np.float64), std


def sample_mixture_1d(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``float32 (n, 1)`` points from the named 1-D mixture."""
    means, std = mixture_1d(name)
    k = rng.integers(len(means), size=n)
    return (means[k] + std * rng.standard_normal(n)).astype(np.float32)[:, None]


def dataset_1d(name: str, seed: int = 0) -> ArrayDataset:
    """The lab's dataset as an :class:`ArrayDataset` (train 50,000, val and test 10,000 points)."""
    means, std = mixture_1d(name)
    rng = np.random.default_rng([seed, 1])
    arrays = {s: sample_mixture_1d(name, n, rng) for s, n in (("train", 50_000), ("val", 10_000), ("test", 10_000))}
    return ArrayDataset(name, "points", arrays, source="generated (closed-form 1-D mixture)",
                        meta={"means": means[:, None], "std": std})


def data_density_1d(name: str, x: np.ndarray) -> np.ndarray:
    means, std = mixture_1d(name)
    return theory.gaussian_mixture_density(x, means, std)


@contextmanager
def torch_threads(n: int):
    """Run the body with ``n`` intra-op threads (then restore). The labs' nets are tiny: on a busy 2-core
    machine one thread is several times faster than two fighting over cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ------------------------------------------------------------------------------------- a discriminator at D*
class Standardise(nn.Module):
    """``(N, 1) -> (N, 1)``: a fixed affine map (x - mean) / scale, so the MLP sees inputs of order 1."""

    def __init__(self, mean: float, scale: float):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


def fit_discriminator(sample_real: Callable[[int], torch.Tensor], sample_fake: Callable[[int], torch.Tensor],
                      steps: int = 1000, batch_size: int = 512, hidden: int = 32, lr: float = 3e-3,
                      seed: int = 0) -> nn.Module:
    """Train a fresh 1-D discriminator to convergence against a *fixed* generator.

    ``sample_real(n)`` and ``sample_fake(n)`` return fresh ``(n, 1)`` float32 points each call. D maximises
    V(D, G) (minimises the logistic loss) with Adam and a cosine-decayed learning rate, so its last iterates
    settle instead of jittering. Returns a module ``x (N, 1) -> logits (N,)`` in eval mode.
    """
    torch.manual_seed(seed)
    with torch.no_grad():
        pooled = torch.cat([sample_real(4096), sample_fake(4096)])
    net = nn.Sequential(Standardise(pooled.mean().item(), pooled.std().item() + 1e-6),
                        nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1),
                        nn.Flatten(0))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    softplus = nn.functional.softplus
    for _ in range(steps):
        with torch.no_grad():
            x_real, x_fake = sample_real(batch_size), sample_fake(batch_size)
        # -V(D, G) on the minibatch: softplus(-l) = -log sigmoid(l), softplus(l) = -log(1 - sigmoid(l))
        loss = softplus(-net(x_real)).mean() + softplus(net(x_fake)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


@torch.inference_mode()
def discriminator_on_grid(discriminator: nn.Module, x: np.ndarray) -> np.ndarray:
    """D(x) = sigmoid(logits) of a points discriminator on ``x (M,)``: ``(M,)`` float64 in (0, 1)."""
    was_training = discriminator.training
    discriminator.eval()
    try:
        logits = discriminator(torch.as_tensor(x, dtype=torch.float32)[:, None])
    finally:
        discriminator.train(was_training)
    return torch.sigmoid(logits.reshape(-1)).double().numpy()


# ------------------------------------------------------------------------------------- frames
@dataclass
class Frame1D:
    """One moment of training, on the grid ``x (M,)``: densities, D(x), and G on evenly spaced z."""

    step: int
    x: np.ndarray
    p_data: np.ndarray
    p_g: np.ndarray
    d: np.ndarray
    z: np.ndarray  # (L,) evenly spaced in [-1, 1]
    g_of_z: np.ndarray  # (L,)


@torch.inference_mode()
def generator_pushforward(generator: nn.Module, n: int = 20_000) -> np.ndarray:
    """``G(z) (n,)`` for ``n`` evenly spaced z in [-1, 1] (stratified: its histogram is p_g without noise)."""
    was_training = generator.training
    generator.eval()
    try:
        z = torch.linspace(-1, 1, n)[:, None]
        return generator(z).reshape(-1).double().numpy()
    finally:
        generator.train(was_training)


def generator_density(generator: nn.Module, x: np.ndarray, bandwidth: float) -> np.ndarray:
    """p_g on ``x (M,)``: a Gaussian kernel (std ``bandwidth``) estimate from G's stratified pushforward."""
    return theory.gaussian_kde_density(generator_pushforward(generator), x, bandwidth)


def capture_frame(step: int, generator: nn.Module, discriminator: nn.Module, data: str, x: np.ndarray,
                  bandwidth: float, num_lines: int = 25) -> Frame1D:
    z = np.linspace(-1, 1, num_lines)
    with torch.inference_mode():
        was_training = generator.training
        generator.eval()
        g_of_z = generator(torch.as_tensor(z, dtype=torch.float32)[:, None]).reshape(-1).double().numpy()
        generator.train(was_training)
    return Frame1D(step, x, data_density_1d(data, x), generator_density(generator, x, bandwidth),
                   discriminator_on_grid(discriminator, x), z, g_of_z)


def draw_frame(frame: Frame1D, title: str = "", ymax: float | None = None):
    """Figure 1 of the 2014 paper for one frame: densities and D(x) above, z -> x mapping below."""
    plt = pyplot()
    fig, (ax, ax_map) = plt.subplots(2, 1, figsize=(6.4, 4.4), dpi=100, sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    x = frame.x
    top = ymax or max(1.05, 1.1 * max(frame.p_data.max(), min(frame.p_g.max(), 3.0)))
    ax.plot(x, frame.p_data, ":", color="k", lw=2, label="data  $p_{data}(x)$")
    ax.plot(x, frame.p_g, "-", color="tab:green", lw=2, label="generator  $p_g(x)$")
    ax.plot(x, frame.d, "--", color="tab:blue", lw=2, label="discriminator  $D(x)$")
    ax.axhline(0.5, color="tab:blue", lw=0.5, alpha=0.4)
    ax.set_ylim(0, top)
    ax.set_xlim(x[0], x[-1])
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_title(title or f"step {frame.step}", fontsize=10)
    # z line at height 0 drawn across the x range, x line at height 1: each segment is one z -> G(z)
    from matplotlib.collections import LineCollection

    lo, hi = x[0], x[-1]
    z_pos = lo + (frame.z + 1) / 2 * (hi - lo)
    segments = [[(zp, 0.0), (float(np.clip(gx, lo, hi)), 1.0)] for zp, gx in zip(z_pos, frame.g_of_z, strict=True)]
    ax_map.add_collection(LineCollection(segments, colors="tab:green", linewidths=0.8, alpha=0.7))
    ax_map.plot(np.clip(frame.g_of_z, lo, hi), np.ones_like(frame.g_of_z), "v", color="tab:green", ms=3)
    ax_map.axhline(0, color="k", lw=1)
    ax_map.axhline(1, color="k", lw=1)
    ax_map.set_ylim(-0.15, 1.15)
    ax_map.set_yticks([0, 1], ["z", "x"])
    ax_map.set_xlabel("x  (z ~ U[-1, 1] drawn evenly along the lower line)")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------- the lab
@dataclass
class Lab1DResult:
    out_dir: Path
    gif: Path
    mp4: Path | None
    stills: list[Path]
    theory_figure: Path
    checks: dict[str, float]
    seconds: float


def refuse_existing_run(out: Path) -> None:
    """A lab writes a fresh run: refuse a directory that already holds one (instead of mixing two)."""
    if (out / "checkpoints" / "latest.pt").exists() or (out / "runs").is_dir():
        raise UserError(f"lab output {out} already holds a lab run: choose another --out or delete it")


def lab_config(data: str, steps: int, seed: int, lr: float | None = None) -> TrainConfig:
    """The run the lab trains: the 2014 MLPs with a 1-D uniform latent, Adam, minibatches of 128."""
    mixture_1d(data)  # a UserError for unknown names
    return TrainConfig(model="gan", data=data, latent_dim=1, prior=LATENT_1D, steps=steps, batch_size=128,
                       optimizer="adam", lr=LAB_LR[data] if lr is None else lr, beta1=0.5, width=64, seed=seed,
                       sample_every=steps, checkpoint_every=steps, device="cpu").validate()


def plot_range(data: str, first_samples: np.ndarray) -> tuple[float, float]:
    """x range of every frame: the data's modes +- 4 std, widened to hold G's first samples."""
    means, std = mixture_1d(data)
    lo, hi = means.min() - 4 * std, means.max() + 4 * std
    q_lo, q_hi = np.quantile(first_samples, [0.01, 0.99])
    lo, hi = min(lo, q_lo - 0.5), max(hi, q_hi + 0.5)
    return float(lo), float(hi)


def check_theory(generator: nn.Module, data: str, x: np.ndarray, bandwidth: float, steps: int = 1000,
                 seed: int = 0) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """For the fixed ``generator``: train D to convergence, compare with D*; C(G) vs -log 4 + 2 JSD.

    Returns ``(checks, d_trained (M,), p_g (M,))``; ``checks`` holds max/mean |D - D*| over the grid points
    where p_data + p_g is at least 5% of its maximum, C(G), 2 JSD - log 4, V(D_trained, G) and, for the
    ideal generator p_g = p_data, C and the largest |D* - 1/2|.
    """
    rng = np.random.default_rng(seed + 7)
    gen = torch.Generator().manual_seed(seed + 8)

    def sample_real(n: int) -> torch.Tensor:
        return torch.from_numpy(sample_mixture_1d(data, n, rng))

    def sample_fake(n: int) -> torch.Tensor:
        z = torch.rand(n, 1, generator=gen) * 2 - 1
        return generator(z).reshape(n, 1).float()

    was_training = generator.training
    generator.eval()
    try:
        d_net = fit_discriminator(sample_real, sample_fake, steps=steps, seed=seed)
    finally:
        generator.train(was_training)
    p_data = data_density_1d(data, x)
    p_g = generator_density(generator, x, bandwidth)
    d_star = theory.optimal_discriminator(p_data, p_g)
    d_trained = discriminator_on_grid(d_net, x)
    mass = p_data + p_g
    where = mass >= 0.05 * mass.max()
    err = np.abs(d_trained - d_star)[where]
    c_of_g = theory.virtual_training_criterion(p_data, p_g, x)
    jsd = theory.jensen_shannon_divergence(p_data, p_g, x)
    ideal = theory.optimal_discriminator(p_data, p_data)
    checks = {
        "max_abs_D_minus_Dstar": float(err.max()),
        "mean_abs_D_minus_Dstar": float(err.mean()),
        # the error averaged under (p_data + p_g) / 2, i.e. where the samples D is trained on actually fall
        "mixture_weighted_abs_D_minus_Dstar": float(theory.trapezoid(0.5 * mass * np.abs(d_trained - d_star), x)),
        "C_of_G": c_of_g,
        "minus_log4_plus_2JSD": -theory.LOG4 + 2 * jsd,
        "JSD": jsd,
        "V_of_D_trained": theory.value_function(np.clip(d_trained, 1e-12, 1 - 1e-12), p_data, p_g, x),
        "minus_log4": -theory.LOG4,
        "C_at_pg_equal_pdata": theory.virtual_training_criterion(p_data, p_data, x),
        "max_abs_Dstar_minus_half_at_pg_equal_pdata": float(np.abs(ideal - 0.5).max()),
    }
    return checks, d_trained, p_g


def draw_theory(x, p_data, p_g, d_trained, checks: dict[str, float], title: str):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=100)
    d_star = theory.optimal_discriminator(p_data, p_g)
    ax.plot(x, p_data, ":", color="k", lw=2, label="$p_{data}$")
    ax.plot(x, p_g, "-", color="tab:green", lw=2, label="$p_g$ (final G, fixed)")
    ax.plot(x, d_star, "-", color="tab:orange", lw=3, alpha=0.6, label="$D^* = p_{data}/(p_{data}+p_g)$")
    ax.plot(x, d_trained, "--", color="tab:blue", lw=1.5, label="D trained to convergence")
    ax.set_ylim(0, max(1.05, 1.1 * p_data.max()))
    ax.set_xlim(x[0], x[-1])
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    text = (f"|D - D*|: max {checks['max_abs_D_minus_Dstar']:.3f}, "
            f"mean under (p_data + p_g)/2 {checks['mixture_weighted_abs_D_minus_Dstar']:.3f}\n"
            f"C(G) = {checks['C_of_G']:.4f}   -log 4 + 2 JSD = {checks['minus_log4_plus_2JSD']:.4f}   "
            f"-log 4 = {-theory.LOG4:.4f}")
    ax.set_title(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.text(0.02, 0.02, text, ha="left", va="bottom", fontsize=8, family="monospace")
    return fig


def run_lab1d(out_dir: str | Path, data: str = "gauss1d", steps: int = 1200, frames: int = 40, seed: int = 0,
              lr: float | None = None, theory_steps: int = 1000, fps: float = 8.0,
              log: Callable[[str], None] | None = None) -> Lab1DResult:
    """Train, record ``frames`` frames (step 0 included), write the animation, four stills in the paper's
    (a)-(d) spirit, ``theory.png`` and ``theory.json``. ``out_dir`` is also a normal ganforge run directory
    (config.yaml, metrics.jsonl, checkpoints/latest.pt), so ``ganforge report`` works on it."""
    from ..train import Trainer

    if steps < 1 or frames < 2:
        raise UserError(f"1-D lab: steps={steps} and frames={frames} are invalid: expected steps >= 1, frames >= 2")
    t0 = time.perf_counter()
    say = log or (lambda s: None)
    out = Path(out_dir)
    refuse_existing_run(out)
    cfg = lab_config(data, steps, seed, lr)
    trainer = Trainer(cfg, out, dataset=dataset_1d(data, seed), progress=False)
    lo, hi = plot_range(data, generator_pushforward(trainer.generator, 2000))
    x = np.linspace(lo, hi, 400)
    bandwidth = 0.04 * mixture_1d(data)[1] / 0.5
    frame_steps = sorted(set(np.linspace(0, steps, frames).round().astype(int).tolist()))
    captured: list[Frame1D] = []
    sums: dict[str, float] = {}
    count = 0
    log_every = max(1, steps // 20)
    while True:
        if trainer.step in frame_steps:
            captured.append(capture_frame(trainer.step, trainer.generator, trainer.discriminator, data, x, bandwidth))
        if trainer.step >= steps:
            break
        logs = trainer.train_step()
        trainer.check_finite(logs)  # a NaN loss (e.g. --lr 1e9) stops the lab in one line, as it stops train
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        count += 1
        if trainer.step % log_every == 0 or trainer.step == steps:
            record = {"step": trainer.step, "epoch": round(trainer.step / trainer.steps_per_epoch, 4),
                      **{k: round(v / count, 6) for k, v in sums.items()}}
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            say(f"step {trainer.step}/{steps}  D(x) {record.get('D/real', math.nan):.3f}  "
                f"D(G(z)) {record.get('D/fake', math.nan):.3f}")
            sums, count = {}, 0
    trainer.elapsed_s = time.perf_counter() - t0
    trainer.write_samples()
    trainer.save_checkpoint()

    ymax = max(1.05, 1.1 * float(captured[0].p_data.max()))
    images = [figure_to_array(draw_frame(f, f"gan on {data}: step {f.step}", ymax)) for f in captured]
    gif = save_gif(images, out / "lab1d.gif", fps=fps)
    mp4 = save_mp4(images, out / "lab1d.mp4", fps=fps)
    stills = []
    for letter, idx in zip("abcd", np.linspace(0, len(images) - 1, 4).round().astype(int), strict=True):
        stills.append(save_png(images[idx], out / f"frame_{letter}_step_{captured[idx].step:06d}.png"))

    say("checking the theory: training a fresh D to convergence against the final, fixed G ...")
    checks, d_trained, p_g = check_theory(trainer.generator, data, x, bandwidth, steps=theory_steps, seed=seed)
    fig = draw_theory(x, data_density_1d(data, x), p_g, d_trained, checks, f"theory for the final G ({data})")
    theory_figure = save_figure(fig, out / "theory.png")
    checks["JSD_at_step_0"] = theory.jensen_shannon_divergence(captured[0].p_data, captured[0].p_g, x)
    (out / "theory.json").write_text(json.dumps(checks, indent=2) + "\n")
    return Lab1DResult(out, gif, mp4, stills, theory_figure, checks, time.perf_counter() - t0)

