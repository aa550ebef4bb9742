"""``infogan``: InfoGAN (Chen et al. 2016): latent codes that the generator must keep recoverable.

G's input is [z, onehot(c1), c2, ..., c_{1+L}] with a categorical code c1 ~ Cat(K) (``--info-categories``,
10) and L continuous codes c_j ~ U[-1, 1] (``--info-continuous``, 2). D and an auxiliary head Q share one
convolutional trunk (the DCGAN discriminator without its last layer); Q predicts the codes of a generated
image: logits over c1's categories and a mean for each continuous code (a fixed-variance Gaussian, so its
negative log-likelihood is 1/2 (c - mu)^2 up to a constant).

The variational lower bound of the mutual information I(c; G(z, c)) is
    L_I = H(c1) + E[log Q(c1 | G(z, c))] (+ the continuous codes' terms)  <=  I(c; G(z, c)),
so maximising L_I is minimising Q's cross-entropy. The game is min_{G,Q} max_D V(D, G) - lambda L_I:
D's phase updates trunk, D head and Q head on D's loss plus lambda times Q's loss on fakes; G's phase updates
G on its adversarial loss plus the same term. lambda = ``--info-weight`` (1) for c1, and a tenth of it for the
continuous codes (the paper uses a smaller lambda for them, to keep the differential-entropy term on the
scale of the GAN loss). The log reports ``Q/mi_c1`` = log K - cross-entropy, the lower bound in nats
(log 10 = 2.30 when c1 is fully recoverable).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..errors import UserError
from ..objectives import OBJECTIVES
from .base import Batch, DataInfo, GANModel, ModelSpec, Phase, register_model, split_last_layer
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .wgan import refuse_unused_options

#: Relative weight of the continuous codes' term (see the module docstring).
CONTINUOUS_CODE_WEIGHT = 0.1


class SharedTrunkDiscriminator(nn.Module):
    """``x (N, C, H, W) -> (logits (N,), q_categorical (N, K), q_continuous (N, L))`` from one trunk."""

    def __init__(self, data: DataInfo, width: int, categories: int, continuous: int):
        super().__init__()
        body, _, feature_dim = split_last_layer(DCGANDiscriminator(data.shape[0], data.shape[-1], width).net,
                                                data.shape)
        self.trunk = nn.Sequential(*body, nn.Flatten())
        self.d_head = nn.Linear(feature_dim, 1)
        self.q_head = nn.Sequential(nn.Linear(feature_dim, 128), nn.LeakyReLU(0.2),
                                    nn.Linear(128, categories + continuous))
        self.categories = categories

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits ``(N,)`` alone (what samplers and metrics expect of a discriminator)."""
        return self.d_head(self.trunk(x)).squeeze(1)

    def with_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        q = self.q_head(h)
        return self.d_head(h).squeeze(1), q[:, :self.categories], q[:, self.categories:]


class InfoGAN(GANModel):
    """Latents are triples ``(z (n, latent_dim), c1 (n,) int64, c_cont (n, L))``."""

    def __init__(self, cfg: TrainConfig, data: DataInfo):
        super().__init__(cfg, data)
        refuse_unused_options(cfg, "infogan", objective=False)
        if data.kind != "image":
            raise UserError(f"model infogan models images: {cfg.data} is {data.kind} data")
        if cfg.info_categories + cfg.info_continuous == 0:
            raise UserError("model infogan: expected at least one latent code (--info-categories or "
                            "--info-continuous above 0)")
        self.categories, self.continuous = cfg.info_categories, cfg.info_continuous
        width = cfg.width or 64
        code_dim = self.categories + self.continuous
        self.generator = DCGANGenerator(cfg.latent_dim + code_dim, data.shape[0], data.shape[-1], width)
        self.discriminator = SharedTrunkDiscriminator(data, width, self.categories, self.continuous)
        self.objective = OBJECTIVES.get_or_fail(cfg.objective)

    # ------------------------------------------------------------------ latents
    def sample_latent(self, n: int, rng: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        z = super().sample_latent(n, rng)
        c1 = torch.randint(max(self.categories, 1), (n,), generator=rng).to(z.device)
        c_cont = (torch.rand(n, self.continuous, generator=rng) * 2 - 1).to(z.device)
        return z, c1, c_cont

    def generator_input(self, latent: tuple[torch.Tensor, ...]) -> torch.Tensor:
        z, c1, c_cont = latent
        parts = [z]
        if self.categories:
            parts.append(F.one_hot(c1, self.categories).to(z.dtype))
        return torch.cat(parts + [c_cont], 1)

    def generate(self, latent: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.sampling_generator(self.generator_input(latent))

    def code_sweep_latent(self, code: str, rows: int, cols: int, rng: torch.Generator | None = None):
        """Latents for a grid: each row keeps z and the other codes, and sweeps ``code`` along the row:
        ``c1`` through all K categories, ``c2``.. (continuous) through ``cols`` values evenly in [-2, 2]."""
        names = (["c1"] if self.categories else []) + [f"c{j + 2}" for j in range(self.continuous)]
        if code not in names:
            raise UserError(f"--vary-code {code}: expected one of {', '.join(names)} "
                            "(c1 the categorical code, then the continuous ones)")
        z, c1, c_cont = self.sample_latent(rows, rng)
        cols = self.categories if code == "c1" else cols
        z, c1, c_cont = (t.repeat_interleave(cols, 0) for t in (z, c1, c_cont))  # row r: cols copies
        sweep_index = torch.arange(cols, device=z.device).repeat(rows)
        if code == "c1":
            c1 = sweep_index
        else:
            j = int(code[1:]) - 2
            c_cont = c_cont.clone()
            c_cont[:, j] = torch.linspace(-2.0, 2.0, cols, device=z.device)[sweep_index]
        return z, c1, c_cont

    # ------------------------------------------------------------------ losses
    def information_loss(self, q_cat: torch.Tensor, q_cont: torch.Tensor, latent) -> tuple[torch.Tensor, dict]:
        """lambda (cross-entropy of c1 + 0.1 * 1/2 mean (c - mu)^2): minus the MI lower bound plus constants."""
        _, c1, c_cont = latent
        loss, logs = q_cat.new_zeros(()), {}
        if self.categories:
            ce = F.cross_entropy(q_cat, c1)
            loss = loss + ce
            logs["Q/mi_c1"] = math.log(self.categories) - ce.detach()
        if self.continuous:
            nll = 0.5 * (q_cont - c_cont).square().sum(1).mean()
            loss = loss + CONTINUOUS_CODE_WEIGHT * nll
            logs["Q/nll_continuous"] = nll.detach()
        return self.cfg.info_weight * loss, logs

    def d_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_fake = self.generate(batch.latent)
        logits_real, _, _ = self.discriminator.with_codes(batch.x_real)
        logits_fake, q_cat, q_cont = self.discriminator.with_codes(x_fake)
        info, logs = self.information_loss(q_cat, q_cont, batch.latent)
        logs.update({"D/real": torch.sigmoid(logits_real).mean(), "D/fake": torch.sigmoid(logits_fake).mean()})
        return self.objective.d_loss(logits_real, logits_fake) + info, logs

    def g_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits_fake, q_cat, q_cont = self.discriminator.with_codes(self.generate(batch.latent))
        info, _ = self.information_loss(q_cat, q_cont, batch.latent)
        return self.objective.g_loss(logits_fake) + info, {}

    def phases(self) -> list[Phase]:
        return [Phase("D", self.d_loss, list(self.discriminator.parameters()), repeats=self.cfg.k_disc),
                Phase("G", self.g_loss, list(self.generator.parameters()), needs_real=False)]


register_model(ModelSpec("infogan", "Chen et al. 2016: InfoGAN, categorical + continuous latent codes recovered by "
                                    "a Q head sharing D's trunk (mutual-information term)", InfoGAN, ("image",),
                         defaults=dict(latent_dim=62)))
