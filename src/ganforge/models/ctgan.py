"""``ctgan``: the conditional tabular GAN of Xu et al. (2019), "Modeling Tabular Data using Conditional GAN".

Rows arrive encoded by the column transformer (``ganforge.data.table``): per continuous column an alpha in
[-1, 1] and a one-hot mode, per discrete column a one-hot category. What the paper adds to a plain GAN:

- **Conditional vector with training-by-sampling.** Each row of a minibatch picks one discrete column
  uniformly, then one of its categories with probability proportional to log(1 + count) (so rare categories
  are seen); the condition ``c`` is that category's one-hot over all discrete columns' categories. G gets
  ``(z, c)`` and is pushed by a cross-entropy term to produce the category; D gets real rows *drawn among those
  having that category*, with ``c`` beside both real and fake rows. When sampling (eval mode), the column is
  uniform and the category drawn with its real frequency, as the authors' sampler does.
- **Residual generator**: two blocks ``h -> cat(ReLU(BN(Linear(h))), h)`` of 256 units, then a linear map;
  alphas through tanh, every one-hot block through Gumbel-softmax (tau 0.2).
- **PacGAN critic** (``--pack``, 10): packs of 10 rows (with their conditions) judged together by an MLP
  256-256 with LeakyReLU(0.2) and dropout 0.5, trained as a WGAN with gradient penalty (lambda 10) per pack.

Recipe defaults (the authors' package): batch 500, Adam lr 2e-4 with betas (0.5, 0.9) and weight decay 1e-6 on
both networks, latent 128.

Latents are tuples ``(z (n, L), choice (n,) int64, u (n,), g (n, D))``: the chosen category (a global index
over the discrete columns' categories, -1 without one), a uniform number that picks the real row among those
with that category, and uniforms turned into the Gumbel noise of G's softmax blocks, so that a seed fixes
every random draw and a resumed run continues bit-identically.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..data.table import DISCRETE_KINDS, TableSpec
from ..errors import UserError
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, refuse_remedies, register_model
from .wgan import require_normal_prior

GUMBEL_TAU = 0.2


class TableLayout:
    """What a table model needs of the transformer: the tanh and softmax blocks of a row, and the
    condition's layout (one block per discrete column, categories in the transformer's order)."""

    def __init__(self, table: dict[str, Any]):
        self.spec = TableSpec(table)
        self.dim = self.spec.dim
        self.tanh = [s for s in self.spec.spans if s.activation == "tanh"]
        self.softmax = [s for s in self.spec.spans if s.activation == "softmax"]
        cols = [j for j, c in enumerate(self.spec.columns) if c["kind"] in DISCRETE_KINDS]
        self.cond_spans = [self.spec.category_span(j) for j in cols]  # where each condition block sits in x
        self.cond_offsets, offset = [], 0
        for s in self.cond_spans:
            self.cond_offsets.append(offset)
            offset += s.width
        self.cond_dim = offset
        self.counts = [torch.tensor(self.spec.columns[s.column]["counts"], dtype=torch.float64)
                       for s in self.cond_spans]
        self.activations = [s.activation for s in self.spec.spans]
        self.cond_column = torch.cat([torch.full((s.width,), i) for i, s in enumerate(self.cond_spans)]) \
            if self.cond_spans else torch.zeros(0, dtype=torch.int64)
        # the softmax blocks as rows of one padded (blocks, widest) grid of column indices, for each block's max;
        # ``same_block`` (D, D) sums a row's exp over each column's block in one matmul (tanh columns: their own)
        self.soft_columns, self.soft_padding = padded_blocks(self.softmax)
        self.block_of = torch.zeros(self.dim, dtype=torch.int64)  # column -> its softmax block (tanh: 0, unused)
        self.same_block = torch.eye(self.dim)
        self.is_tanh = torch.zeros(self.dim, dtype=torch.bool)
        for b, sp in enumerate(self.softmax):
            self.block_of[sp.start:sp.start + sp.width] = b
            self.same_block[sp.start:sp.start + sp.width, sp.start:sp.start + sp.width] = 1.0
        for sp in self.tanh:
            self.is_tanh[sp.start:sp.start + sp.width] = True
        self.tanh_columns = self.is_tanh.nonzero().flatten()
        # the condition columns' logits likewise, for the conditional cross-entropy
        self.cond_columns, self.cond_padding = padded_blocks(self.cond_spans)
        self._on_device: dict[torch.device, dict[str, torch.Tensor]] = {}

    def constants(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The index and mask tensors above, on ``device`` (moved once per device)."""
        if device not in self._on_device:
            names = ("soft_columns", "soft_padding", "block_of", "same_block", "is_tanh", "tanh_columns",
                     "cond_columns", "cond_padding", "cond_column")
            self._on_device[device] = {k: getattr(self, k).to(device) for k in names}
            self._on_device[device]["cond_offsets"] = torch.tensor(self.cond_offsets, dtype=torch.int64,
                                                                   device=device)
        return self._on_device[device]

    def category_probs(self, log_frequency: bool) -> torch.Tensor:
        """``(columns, max categories)``: each discrete column's category probabilities, log(1 + count)
        normalised (training-by-sampling) or count normalised (the data's own frequencies); zero padded."""
        width = max((s.width for s in self.cond_spans), default=1)
        out = torch.zeros(len(self.cond_spans), width, dtype=torch.float64)
        for i, c in enumerate(self.counts):
            f = torch.log1p(c) if log_frequency else c
            out[i, :len(c)] = f / f.sum() if f.sum() > 0 else 1.0 / len(c)
        return out

    def column_of_choice(self) -> torch.Tensor:
        """``(cond_dim,)``: the discrete column (0-based among them) each condition entry belongs to."""
        return self.cond_column

    def choice_for(self, column: str, value: str) -> int:
        """The global condition index of ``column == value`` (a UserError names what is possible)."""
        names = [self.spec.columns[s.column]["name"] for s in self.cond_spans]
        if column not in names:
            raise UserError(f"--condition {column}={value}: {column!r} is not a discrete column of this table: "
                            f"expected one of {', '.join(names) or '(none: the table has no discrete column)'}")
        i = names.index(column)
        categories = self.spec.columns[self.cond_spans[i].column]["categories"]
        if value not in categories:
            raise UserError(f"--condition {column}={value}: no such category: expected one of "
                            f"{', '.join(repr(c) for c in categories)}")
        return self.cond_offsets[i] + categories.index(value)

    def activate(self, raw: torch.Tensor, g: torch.Tensor, tau: float = GUMBEL_TAU) -> torch.Tensor:
        """G's raw outputs ``(n, D)`` -> a row in the encoded range: tanh on alphas, Gumbel-softmax with
        temperature ``tau`` on each one-hot block; ``g (n, D)`` uniforms in (0, 1) give the Gumbel noise.

        All blocks at once, with a fixed handful of ops however many columns the table has (a softmax and a
        slice per block cost ~40 us each on the CPU, twice a step): each block's max (from the padded grid of
        its columns) is subtracted, ``exp``, and one matmul with the block indicator gives each column its
        block's sum; tanh on the alpha columns is copied in place. Equal to a softmax per block to rounding."""
        k = self.constants(raw.device)
        gumbel = -torch.log(-torch.log(g.clamp(1e-10, 1 - 1e-7)))
        logits = (raw + gumbel) / tau  # used on the softmax blocks only
        if not self.softmax:
            return torch.tanh(raw)
        n, (blocks, widest) = raw.shape[0], k["soft_columns"].shape  # shape[0]: a traceable batch size
        with torch.no_grad():  # any per-block constant gives the same softmax: no gradient through the max
            grid = logits.index_select(1, k["soft_columns"].flatten()).view(n, blocks, widest)
            block_max = grid.masked_fill_(k["soft_padding"], float("-inf")).amax(2).index_select(1, k["block_of"])
        e = (logits - block_max).masked_fill(k["is_tanh"], 0.0).exp()  # tanh columns: exp(0), never inf
        probs = e / (e @ k["same_block"])
        return probs.index_copy(1, k["tanh_columns"], torch.tanh(raw.index_select(1, k["tanh_columns"])))


def padded_blocks(spans: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(columns, padding)``, both ``(len(spans), widest)``: row b lists span b's columns of the encoded row
    (then 0), ``padding`` is True past its width."""
    widest = max((sp.width for sp in spans), default=1)
    columns = torch.zeros(len(spans), widest, dtype=torch.int64)
    padding = torch.ones(len(spans), widest, dtype=torch.bool)
    for b, sp in enumerate(spans):
        columns[b, :sp.width] = torch.arange(sp.start, sp.start + sp.width)
        padding[b, :sp.width] = False
    return columns, padding


class ConditionSampler:
    """Training-by-sampling: conditions, and the real rows that match them (after :meth:`fit`)."""

    def __init__(self, layout: TableLayout):
        self.layout = layout
        # cumulative category probabilities (training-by-sampling's, the data's), for drawing a category by
        # inverse CDF (one uniform and a comparison per category: 2-3x cheaper than torch.multinomial on 500
        # (n, categories) rows, ~0.1-0.2 ms, twice a step)
        self.train_cdf = layout.category_probs(log_frequency=True).cumsum(1)
        self.data_cdf = layout.category_probs(log_frequency=False).cumsum(1)
        self.widths = torch.tensor([s.width for s in layout.cond_spans], dtype=torch.int64)
        self.offsets = torch.tensor(layout.cond_offsets, dtype=torch.int64)
        self.rows: torch.Tensor | None = None

    def sample_choice(self, n: int, rng: torch.Generator | None, log_frequency: bool) -> torch.Tensor:
        """``(n,)`` global condition indices: a discrete column uniformly, then a category of it with the
        training-by-sampling (log-frequency) or the data's probabilities; -1 for every row when there is no
        discrete column."""
        k = len(self.layout.cond_spans)
        if k == 0:
            return torch.full((n,), -1, dtype=torch.int64)
        column = torch.randint(k, (n,), generator=rng)
        cdf = (self.train_cdf if log_frequency else self.data_cdf)[column]  # (n, max categories)
        u = torch.rand(n, 1, generator=rng, dtype=cdf.dtype)
        # the first category whose cumulative probability exceeds u (rounding past the last: the last)
        category = torch.minimum((u >= cdf).sum(1), self.widths[column] - 1)
        return self.offsets[column] + category

    def fit(self, x: torch.Tensor) -> None:
        """Index the training rows ``x (N, D)`` by category: rows with condition entry i are
        ``rows[start[i]:start[i] + count[i]]``."""
        parts, counts = [], []
        for s in self.layout.cond_spans:
            codes = x[:, s.start:s.start + s.width].argmax(1)
            for cat in range(s.width):
                idx = torch.nonzero(codes == cat).flatten()
                parts.append(idx)
                counts.append(len(idx))
        self.x = x
        self.rows = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64, device=x.device)
        self.count = torch.tensor(counts, dtype=torch.int64, device=x.device)
        self.start = torch.cumsum(self.count, 0) - self.count

    def real_rows(self, choice: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``(n, D)`` training rows, row i drawn uniformly (by ``u[i]``) among those with condition
        ``choice[i]`` (among all rows where ``choice[i] == -1``). A category with no training rows (it appears
        only in held-out splits) falls back to any row."""
        n_rows = len(self.x)
        if len(self.layout.cond_spans) == 0:
            return self.x[(u * n_rows).long().clamp_max(n_rows - 1)]
        count = self.count[choice]
        k = (u * count).long().clamp_max((count - 1).clamp_min(0))
        index = torch.where(count > 0, self.rows[(self.start[choice] + k).clamp_max(len(self.rows) - 1)],
                            (u * n_rows).long().clamp_max(n_rows - 1))
        return self.x[index]


class Residual(nn.Module):
    """``h (n, i) -> cat(ReLU(BN(Linear(h))), h) (n, o + i)``: CTGAN's generator block."""

    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(i, o), nn.BatchNorm1d(o)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(h))), h], dim=1)


class TableGenerator(nn.Module):
    """``(z (n, L), c (n, C)) -> raw (n, D)``: two residual blocks of ``width`` units, then a linear map."""

    def __init__(self, latent_dim: int, cond_dim: int, data_dim: int, width: int):
        super().__init__()
        i = latent_dim + cond_dim
        self.net = nn.Sequential(Residual(i, width), Residual(i + width, width), nn.Linear(i + 2 * width, data_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, c], dim=1))


#: Random bits used from each 64-bit draw of :class:`HalfDropout` (``random_`` on int64 gives 63; 62 kept).
BITS_PER_DRAW = 62


class HalfDropout(nn.Module):
    """Dropout with p = 1/2 (CTGAN's critic): in training each unit is kept, times 2, on a fair coin; in eval
    mode the identity. The same distribution as ``nn.Dropout(0.5)``, but the coins are the bits of one 64-bit
    random integer per 62 units (``bits = (draw >> arange(62)) & 1``) instead of one Bernoulli draw per unit,
    which on the CPU is ~4x faster for a critic's (50, 256) activations (~46 us against ~190 us)."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return h
        n = h.numel()
        draws = torch.empty(-(-n // BITS_PER_DRAW), 1, dtype=torch.int64, device=h.device).random_()
        keep = ((draws >> torch.arange(BITS_PER_DRAW, device=h.device)) & 1).view(-1)[:n].view_as(h)
        return h * keep.to(h.dtype).mul_(2.0)


class PackedCritic(nn.Module):
    """``x (n, D + C) -> scores (n / pack,)``: packs of ``pack`` consecutive rows, an MLP with LeakyReLU(0.2)
    and dropout 0.5 (:class:`HalfDropout`) after each of its two hidden layers of ``width`` units."""

    def __init__(self, in_dim: int, width: int, pack: int):
        super().__init__()
        self.pack = pack
        self.net = nn.Sequential(nn.Linear(pack * in_dim, width), nn.LeakyReLU(0.2), HalfDropout(),
                                 nn.Linear(width, width), nn.LeakyReLU(0.2), HalfDropout(), nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, self.pack * x.shape[1])).squeeze(1)

    def input_gradient(self, packs: torch.Tensor) -> torch.Tensor:
        """``d score / d packs`` for ``packs (n, pack * (D + C))``, written out for this MLP: a LeakyReLU's slope
        (1 or its negative slope) and a dropout mask are constant almost everywhere, so the gradient is
        ``((m2 * w3) @ W2 * m1) @ W1`` with ``m`` the slope times the mask of each hidden unit. Equal to
        autograd's ``grad(score.sum(), packs)`` under the same dropout masks (fresh ones each call, as a
        forward pass draws), and differentiable in the weights by one ordinary backward, where a penalty on
        autograd's gradient needs a double backward (6-9% of a CTGAN step on the CPU)."""
        first, act1, drop1, second, act2, drop2, last = self.net
        a1 = first(packs)
        m1 = drop1(torch.where(a1 > 0, 1.0, act1.negative_slope))
        a2 = second(a1 * m1)  # = dropout(LeakyReLU(a1)) W2^T + b2
        m2 = drop2(torch.where(a2 > 0, 1.0, act2.negative_slope))
        return ((m2 * last.weight) @ second.weight * m1) @ first.weight


def packed_gradient_penalty(critic: PackedCritic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP per pack: E[(||grad D(x^)||_2 - 1)^2], x^ = eps real + (1 - eps) fake with one eps per pack
    and the norm over the whole pack's input (the authors' PacGAN form); the gradient from
    :meth:`PackedCritic.input_gradient`."""
    pack = critic.pack
    eps = torch.rand(real.shape[0] // pack, 1, 1, device=real.device).expand(-1, pack, real.shape[1])
    x_hat = (eps.reshape(real.shape) * real.detach() + (1 - eps.reshape(real.shape)) * fake.detach())
    grad = critic.input_gradient(x_hat.reshape(-1, pack * real.shape[1]))
    return (grad.norm(dim=1) - 1).square().mean()


def table_layout(data: DataInfo, model: str) -> TableLayout:
    if data.table is None:
        raise UserError(f"model {model} needs a table (--data csv:PATH, fair or randhie)")
    return TableLayout(data.table)


class CTGAN(GANModel):
    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_remedies(cfg, "ctgan", tuple(n for n in TrainConfig.REMEDIES_OFF if n != "pack"))
        if cfg.objective != "nonsaturating" or cfg.penalty not in (None, "gp") or cfg.clip is not None:
            raise UserError("model ctgan: its loss is WGAN-GP: leave --objective, --penalty and --clip unset")
        self.layout = table_layout(data, "ctgan")
        self.conditions = ConditionSampler(self.layout)
        width, c = cfg.width or 256, self.layout.cond_dim
        self.generator = TableGenerator(cfg.latent_dim, c, self.layout.dim, width)
        self.discriminator = PackedCritic(self.layout.dim + c, width, cfg.pack)
        self.forced_choice: int | None = None  # --condition: every sample gets this condition
        # --condition-frequency log: sample with training-by-sampling's log-frequency conditions, as the authors'
        # package samples (rare categories over-represented); by default the data's own frequencies
        self.log_frequency_sampling = False
        self.d_index = 0  # critic steps taken before the current one (from on_step): the lazy penalty's clock

    @classmethod
    def refuse_for_new_run(cls, cfg: TrainConfig) -> None:
        require_normal_prior(cfg, "ctgan", "its generator draws z from N(0, I), as the authors' CTGAN")

    def on_step(self, step: int, total_steps: int) -> None:
        super().on_step(step, total_steps)
        self.d_index = step * self.cfg.k_disc

    def condition(self, choice: torch.Tensor) -> torch.Tensor:
        """``choice (n,)`` -> the condition vector ``(n, C)`` (all zero where choice is -1)."""
        choice = choice.to(self.device)
        c = torch.zeros(choice.shape[0], self.layout.cond_dim, device=self.device)  # traceable batch size
        if self.layout.cond_dim:
            c.scatter_(1, choice.clamp_min(0).unsqueeze(1), (choice >= 0).unsqueeze(1).to(c.dtype))
        return c

    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> Any:
        z = torch.randn(n, self.cfg.latent_dim, generator=rng)
        choice = self.conditions.sample_choice(n, rng, self.training or self.log_frequency_sampling)
        if self.forced_choice is not None:
            choice = torch.full((n,), self.forced_choice, dtype=torch.int64)
        u, g = torch.rand(n, generator=rng), torch.rand(n, self.layout.dim, generator=rng)
        return (z.to(self.device), choice.to(self.device), u.to(self.device), g.to(self.device))

    def fake_rows(self, latent: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(raw (n, D), activated (n, D), condition (n, C))`` for a latent."""
        z, choice, _, g = latent
        c = self.condition(choice)
        raw = self.generator(z, c)
        return raw, self.layout.activate(raw, g), c

    def generate(self, latent: Any) -> torch.Tensor:
        """Encoded rows ``(n, D)``: alphas in [-1, 1], one-hot blocks as Gumbel-softmax probabilities."""
        return self.fake_rows(latent)[1]

    def on_train_data(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator) -> None:
        self.conditions.fit(x.float())

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, choice, u, _ = batch.latent
        _, x_fake, c = self.fake_rows(batch.latent)
        x_real = self.conditions.real_rows(choice, u)  # rows having each latent's condition
        # real and fake packs through the critic in one call (its layers treat packs independently)
        both = torch.cat([torch.cat([x_real, x_fake]), c.repeat(2, 1)], 1)
        real, fake = both.split(len(c))
        score_real, score_fake = self.discriminator(both).split(len(c) // self.discriminator.pack)
        loss = score_fake.mean() - score_real.mean()
        logs = {"D/score_real": score_real.mean(), "D/score_fake": score_fake.mean()}
        every = self.cfg.gp_every
        if self.d_index % every == 0:  # lazy with --gp-every N > 1: every N-th critic step, weighted N times
            penalty = every * packed_gradient_penalty(self.discriminator, real, fake)
            loss = loss + self.cfg.gp_weight * penalty
        else:  # logged as 0, so that D/gp's mean over N steps is the penalty's mean
            penalty = loss.new_zeros(())
        logs["D/gp"] = penalty
        self.d_index += 1
        return loss, logs

    def conditional_cross_entropy(self, raw: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
        """Mean over rows with a condition of the cross-entropy between the conditioned column's logits in
        G's raw output and the chosen category (the paper's term that makes G honour c)."""
        if self.layout.cond_dim == 0:
            return raw.new_zeros(())
        k = self.layout.constants(raw.device)
        col = k["cond_column"][choice]  # each row's conditioned column
        logits = raw.gather(1, k["cond_columns"][col])  # (n, widest): that column's logits
        logits = logits.masked_fill(k["cond_padding"][col], float("-inf"))
        target = choice - k["cond_offsets"][col]
        return F.cross_entropy(logits, target)

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raw, x_fake, c = self.fake_rows(batch.latent)
        score = self.discriminator(torch.cat([x_fake, c], 1))
        ce = self.conditional_cross_entropy(raw, batch.latent[1])
        return -score.mean() + ce, {"G/cond_ce": ce}

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc,
                      needs_real=False),
                Phase("G", self.g_loss, list(self.generator.parameters()), needs_real=False)]


#: The authors' package's defaults (its CTGAN class): batch 500, pac 10, Adam 2e-4 (0.5, 0.9) with weight decay
#: 1e-6 for both networks (small, but under Adam it pulls weights whose gradients are near 0 toward 0 at the
#: learning rate's pace: without it column shapes were ~0.03 lower over 4 seeds on fair), embedding 128.
CTGAN_DEFAULTS = dict(batch_size=500, pack=10, lr=2e-4, beta1=0.5, beta2=0.9, weight_decay=1e-6, latent_dim=128,
                      penalty="gp", gp_weight=10.0, sample_every=1000, adam_fused="on")

register_model(ModelSpec("ctgan", "Xu et al. 2019: conditional tabular GAN (mode-specific normalisation, "
                                  "conditional vector with training-by-sampling, PacGAN critic, WGAN-GP)",
                         CTGAN, ("table",), defaults=CTGAN_DEFAULTS))
