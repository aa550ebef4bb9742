"""ctgan's speed options (issue 13): the one-pass activation equals a tanh and a softmax per block
(values and gradients to rounding), the vectorised conditional cross-entropy equals one cross-entropy per
column, the bit-coin dropout keeps half the units times 2, the critic's written-out input gradient equals
autograd's (and so does the penalty's gradient in the weights, without a double backward), the lazy
gradient penalty enters every N-th critic step weighted N times, fused Adam on the CPU makes the loop's
update to rounding, and the new options refuse bad values in one line."""

import pytest
import torch
import torch.nn.functional as F

import ganforge.models.ctgan as ctgan_module
from ganforge.data import load_dataset
from ganforge.errors import UserError
from ganforge.models import config_for
from ganforge.models.ctgan import GUMBEL_TAU, TableLayout
from ganforge.train import Trainer, build_optimizer
from test_tables_data import write_mixed_csv


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = write_mixed_csv(tmp_path_factory.mktemp("tables") / "t.csv", n=600)
    return load_dataset(f"csv:{path}")


def activate_per_block(layout: TableLayout, raw: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The reference: one tanh or one Gumbel-softmax per block, written into the row block by block."""
    out = torch.empty_like(raw)
    gumbel = -torch.log(-torch.log(g.clamp(1e-10, 1 - 1e-7)))
    for s in layout.spec.spans:
        block = slice(s.start, s.start + s.width)
        out[:, block] = torch.tanh(raw[:, block]) if s.activation == "tanh" else \
            F.softmax((raw[:, block] + gumbel[:, block]) / GUMBEL_TAU, dim=1)
    return out


def test_activation_equals_a_tanh_and_a_softmax_per_block_to_rounding(table):
    layout = TableLayout(table.meta["table"])
    assert {"tanh", "softmax"} <= set(layout.activations)
    gen = torch.Generator().manual_seed(0)
    raw0, g = 3 * torch.randn(64, layout.dim, generator=gen), torch.rand(64, layout.dim, generator=gen)
    weights = torch.randn(layout.dim, generator=gen)
    results = []
    for f in (layout.activate, lambda r, u: activate_per_block(layout, r, u)):
        raw = raw0.clone().requires_grad_(True)
        out = f(raw, g)
        (out * weights).sum().backward()
        results.append((out.detach(), raw.grad))
    (out, grad), (ref_out, ref_grad) = results
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=0, atol=1e-5)
    assert not torch.equal(grad, torch.zeros_like(grad))


def test_conditional_cross_entropy_equals_one_cross_entropy_per_conditioned_column(table, tmp_path):
    model = trainer_with(table, tmp_path).model
    layout = model.layout
    assert len(layout.cond_spans) >= 2  # several discrete columns of different widths
    gen = torch.Generator().manual_seed(1)
    raw = torch.randn(200, layout.dim, generator=gen)
    choice = torch.randint(0, layout.cond_dim, (200,), generator=gen)
    col = layout.column_of_choice()[choice]
    reference = torch.stack([
        F.cross_entropy(raw[i, s.start:s.start + s.width][None], (choice[i] - layout.cond_offsets[k])[None])
        for i, k in enumerate(col.tolist()) for s in [layout.cond_spans[k]]]).mean()
    torch.testing.assert_close(model.conditional_cross_entropy(raw, choice), reference, rtol=1e-6, atol=1e-6)


def test_written_out_input_gradient_equals_autograds_and_so_does_the_penalty_gradient():
    critic = ctgan_module.PackedCritic(in_dim=7, width=32, pack=4).train()
    packs = torch.randn(24, 4 * 7, generator=torch.Generator().manual_seed(2))
    # the same dropout masks in both: HalfDropout draws from the global generator, in the same order and sizes
    torch.manual_seed(5)
    written = critic.input_gradient(packs)
    penalty = (written.norm(dim=1) - 1).square().mean()
    written_grads = torch.autograd.grad(penalty, list(critic.parameters()), allow_unused=True)
    torch.manual_seed(5)
    x = packs.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(critic.net(x).sum(), x, create_graph=True)
    auto_penalty = (auto.norm(dim=1) - 1).square().mean()
    auto_grads = torch.autograd.grad(auto_penalty, list(critic.parameters()), allow_unused=True)
    torch.testing.assert_close(written, auto, rtol=1e-5, atol=1e-6)
    assert (written == 0).float().mean() < 0.5  # dropout acted, and the gradient is not trivially 0
    for w, a, (name, p) in zip(written_grads, auto_grads, critic.named_parameters(), strict=True):
        # None: a parameter with no part in the input gradient (the biases move only the slopes' kinks)
        w, a = (torch.zeros_like(p) if g is None else g for g in (w, a))
        torch.testing.assert_close(w, a, rtol=1e-4, atol=1e-6, msg=name)
    assert float(written_grads[0].abs().sum()) > 0  # the first layer's weights do get a gradient
    # in eval mode (no dropout) it is the plain input gradient of the critic
    critic.eval()
    x = packs.clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(critic.net(x).sum(), x)
    torch.testing.assert_close(critic.input_gradient(packs), plain, rtol=1e-5, atol=1e-6)


def test_half_dropout_keeps_each_unit_on_a_fair_coin_times_two_and_is_the_identity_in_eval():
    drop = ctgan_module.HalfDropout()
    torch.manual_seed(0)
    h = torch.ones(400, 257)  # not a multiple of the 62 bits a draw gives
    out = drop(h)
    assert set(out.unique().tolist()) == {0.0, 2.0}
    kept = (out > 0).double()
    assert abs(kept.mean().item() - 0.5) < 0.005  # 102,800 coins: sd 0.0016
    # no pattern across units or rows: neighbouring units and the same unit in neighbouring rows uncorrelated
    flat = kept.flatten()
    assert abs(torch.corrcoef(torch.stack([flat[:-1], flat[1:]]))[0, 1].item()) < 0.02
    assert abs(torch.corrcoef(torch.stack([kept[:-1].flatten(), kept[1:].flatten()]))[0, 1].item()) < 0.02
    assert abs(kept.mean(0) - 0.5).max() < 0.1  # every unit kept about half the time (400 rows: sd 0.025)
    drop.eval()
    assert drop(h) is h


def trainer_with(table, tmp_path, **options) -> Trainer:
    cfg = config_for(model="ctgan", data="unused", batch_size=50, steps=10, sample_every=100,
                     checkpoint_every=100, device="cpu", **options)
    return Trainer(cfg, tmp_path / "run", dataset=table, progress=False)


@pytest.mark.parametrize("every", [1, 3])
def test_lazy_penalty_enters_every_nth_critic_step_weighted_n_times(every, table, tmp_path, monkeypatch):
    trainer = trainer_with(table, tmp_path, gp_every=every)
    penalties: list[tuple[int, float]] = []
    original = ctgan_module.packed_gradient_penalty

    def recording(critic, real, fake):
        value = original(critic, real, fake)
        penalties.append((trainer.step, float(value.detach())))
        return value

    monkeypatch.setattr(ctgan_module, "packed_gradient_penalty", recording)
    for step in range(7):
        logs = trainer.train_step()
        computed = dict(penalties)
        assert (step in computed) == (step % every == 0)
        expected_gp = every * computed[step] if step in computed else 0.0
        assert float(logs["D/gp"]) == pytest.approx(expected_gp, rel=1e-6)
        # the critic's loss: E[D(fake)] - E[D(real)] + lambda * N * penalty on penalty steps, + 0 between
        assert float(logs["loss/D"]) == pytest.approx(
            float(logs["D/score_fake"]) - float(logs["D/score_real"]) + 10.0 * expected_gp, rel=1e-5, abs=1e-6)
    assert [s for s, _ in penalties] == [s for s in range(7) if s % every == 0]


def test_the_lazy_clock_follows_the_step_so_a_resumed_run_keeps_its_rhythm(table, tmp_path):
    trainer = trainer_with(table, tmp_path, gp_every=4, k_disc=2)
    trainer.model.on_step(5, 10)
    assert trainer.model.d_index == 10  # critic steps before step 5, two a step


def test_fused_adam_on_the_cpu_makes_the_loops_update_to_rounding(table):
    gen = torch.Generator().manual_seed(1)
    start = [torch.randn(300, 7, generator=gen), torch.randn(7, generator=gen)]
    grads = [[torch.randn(p.shape, generator=gen) for p in start] for _ in range(5)]
    params = {}
    for mode in ("off", "on"):
        cfg = config_for(model="ctgan", adam_fused=mode)
        params[mode] = [p.clone().requires_grad_(True) for p in start]
        optimizer = build_optimizer(cfg, params[mode])
        assert bool(optimizer.defaults.get("fused")) == (mode == "on")
        for step in grads:
            for p, g in zip(params[mode], step, strict=True):
                p.grad = g.clone()
            optimizer.step()
    for a, b, s in zip(params["off"], params["on"], start, strict=True):
        assert not torch.equal(a, s)  # both moved
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert not build_optimizer(config_for(model="dcgan"), [torch.zeros(2, requires_grad=True)]).defaults["fused"]


@pytest.mark.parametrize("options, needle", [({"model": "ctgan", "gp_every": 0}, "gp_every"),
                                             ({"model": "dcgan", "gp_every": 2}, "gp_every"),
                                             ({"model": "ctgan", "adam_fused": "yes"}, "adam_fused"),
                                             ({"model": "ctgan", "weight_decay": -1e-6}, "weight_decay")])
def test_bad_speed_options_are_one_clear_error(options, needle):
    with pytest.raises(UserError, match=needle):
        config_for(**options)


def test_weight_decay_of_the_package_shrinks_weights_whose_gradient_is_zero(table, tmp_path):
    """The package's Adam(weight_decay=1e-6) on both networks: a parameter with no gradient from the loss
    still moves, toward 0, by about the learning rate a step (Adam normalises the tiny L2 gradient)."""
    trainer = trainer_with(table, tmp_path)
    assert {g["weight_decay"] for opt in trainer.optimizers.values() for g in opt.param_groups} == {1e-6}
    weight = torch.nn.Parameter(torch.full((3,), 0.5))
    opt = build_optimizer(trainer.cfg, [weight])
    for _ in range(10):
        opt.zero_grad()
        weight.grad = torch.zeros(3)
        opt.step()
    lr = trainer.cfg.resolved_lr
    assert torch.allclose(weight.detach(), torch.full((3,), 0.5 - 10 * lr), atol=lr)
    assert trainer_with(table, tmp_path / "b", weight_decay=0.0).optimizers["D"].param_groups[0]["weight_decay"] == 0
