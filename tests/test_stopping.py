"""The stopping rule: --keep-best writes checkpoints/best.pt at the best evaluation, --early-stop ends a run
whose metric has stopped improving, and sample/eval/load_run read --checkpoint best. The metric is scripted
(a fixed sequence in place of ``evaluate_model``), so the expected steps follow by hand."""

from __future__ import annotations

import json

import pytest
import torch

import ganforge.metrics.evaluate as evaluate
from ganforge.cli import main
from ganforge.errors import UserError
from ganforge.models.base import config_for
from ganforge.run import load_run
from ganforge.train import Trainer, improves

OPTIONS = dict(model="dcgan", data="digits", batch_size=16, width=8, latent_dim=8, sample_every=1000,
               checkpoint_every=1000, eval_every=1, eval_n=20, eval_metrics="fid,kid")


def script(monkeypatch, name: str, sequence: list[float]) -> list[dict[str, torch.Tensor]]:
    """Replace the evaluation by ``sequence`` (one value per call); returns G's weights at each call."""
    seen: list[dict[str, torch.Tensor]] = []

    def scripted(model, dataset, metrics, n, seed=0, **kw):
        seen.append({k: v.clone() for k, v in model.generator.state_dict().items()})
        return {name: sequence[len(seen) - 1], "other": 0.0}

    monkeypatch.setattr(evaluate, "evaluate_model", scripted)
    return seen


def test_improves_knows_the_direction_of_each_metric():
    assert improves("fid", 2.0, 3.0) and not improves("fid", 3.0, 2.0)
    assert improves("kid", 0.01, 0.02)
    assert improves("accuracy", 0.9, 0.8) and not improves("accuracy", 0.8, 0.9)
    assert improves("fid", 5.0, None) and not improves("fid", float("nan"), None)
    assert not improves("fid", 2.0, 2.0)  # a tie is no improvement


def test_best_pt_is_the_minimum_fid_and_early_stop_ends_the_run(tmp_path, monkeypatch):
    fids = [5.0, 3.0, 4.0, 2.0, 2.5, 3.0, 2.1, 1.0, 0.5, 0.1]
    seen = script(monkeypatch, "fid", fids)
    run = tmp_path / "run"
    trainer = Trainer(config_for(steps=10, keep_best="fid", early_stop=3, **OPTIONS), run, progress=False)
    trainer.fit()
    # best 2.0 at step 4; steps 5, 6, 7 do not improve on it: patience 3 is spent at step 7
    assert trainer.step == 7 and len(seen) == 7
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert best["step"] == 4 and best["metric"] == {"fid": 2.0}
    assert min(fids[:7]) == best["metric"]["fid"]
    for k, v in seen[3].items():  # the weights evaluated at step 4
        torch.testing.assert_close(best["model"][f"generator.{k}"], v, rtol=0, atol=0)
    latest = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["step"] == 7 and latest["best"] == {"value": 2.0, "step": 4, "stale": 3}
    logged = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["metric/fid"] for r in logged if "metric/fid" in r] == fids[:7]
    assert load_run(run, "best").step == 4 and load_run(run).step == 7


def test_higher_is_better_metric_and_no_early_stop_without_patience(tmp_path, monkeypatch):
    script(monkeypatch, "accuracy", [0.5, 0.7, 0.6, 0.6, 0.65])
    run = tmp_path / "run"
    Trainer(config_for(steps=5, keep_best="accuracy", **{**OPTIONS, "eval_metrics": "accuracy"}), run,
            progress=False).fit()
    assert torch.load(run / "checkpoints" / "best.pt", weights_only=True)["step"] == 2
    assert load_run(run).step == 5


def test_resume_continues_the_patience_count(tmp_path, monkeypatch):
    fids = [3.0, 2.0, 2.5, 2.6, 2.7, 1.0]
    script(monkeypatch, "fid", fids)
    run = tmp_path / "run"
    Trainer(config_for(steps=3, keep_best="fid", early_stop=3, **OPTIONS), run, progress=False).fit()
    resumed = Trainer(config_for(steps=6, keep_best="fid", early_stop=3, **OPTIONS), run, resume=True,
                      progress=False)
    assert resumed.best == {"value": 2.0, "step": 2, "stale": 1}
    resumed.fit()
    assert resumed.step == 5  # evaluations 3, 4, 5 stale


def test_keep_best_needs_an_evaluated_metric():
    with pytest.raises(UserError, match="keep_best"):
        config_for(model="dcgan", keep_best="fid", eval_every=10, eval_metrics="kid")
    with pytest.raises(UserError, match="eval_every"):
        config_for(model="dcgan", keep_best="fid")
    with pytest.raises(UserError, match="early_stop"):
        config_for(model="dcgan", early_stop=3)
    # pr gives precision and recall, not one number called pr: refused before a new run trains, not at its first
    # evaluation (a run saved with it still loads: the check is for new runs)
    cfg = config_for(model="dcgan", keep_best="pr", eval_every=10, eval_metrics="pr")
    with pytest.raises(UserError, match="keep_best='pr' is invalid: expected one of fid, kid"):
        cfg.refuse_ignored_options()


def test_every_metric_keep_best_watches_is_a_registered_metric():
    from ganforge import models  # noqa: F401  (models register their own metrics)
    from ganforge.config import KEEP_BEST_LOWER_IS_BETTER
    from ganforge.metrics import cas  # noqa: F401
    from ganforge.metrics.evaluate import METRICS
    from ganforge.metrics.table import TABLE_METRICS

    assert set(KEEP_BEST_LOWER_IS_BETTER) <= set(METRICS) | set(TABLE_METRICS)
    assert improves("parzen", 230.0, 225.0) and improves("is", 8.0, 7.0) and improves("shape", 0.9, 0.8)


def test_sample_and_eval_take_checkpoint_best(tmp_path, monkeypatch, capsys):
    script(monkeypatch, "fid", [2.0, 1.0, 3.0])
    run = tmp_path / "run"
    Trainer(config_for(steps=3, keep_best="fid", **OPTIONS), run, progress=False).fit()
    monkeypatch.undo()
    assert main(["sample", str(run), "--checkpoint", "best", "--n", "4", "--seed", "0",
                 "--out", str(tmp_path / "best.npy")]) == 0
    assert main(["sample", str(run), "--n", "4", "--seed", "0", "--out", str(tmp_path / "latest.npy")]) == 0
    import numpy as np

    best, latest = np.load(tmp_path / "best.npy"), np.load(tmp_path / "latest.npy")
    torch.testing.assert_close(torch.from_numpy(best), load_run(run, "best").sample(4, seed=0))
    assert not np.allclose(best, latest)
    assert main(["eval", str(run), "--checkpoint", "best", "--metrics", "modes", "--n", "50",
                 "--out", str(tmp_path / "eval.json")]) == 0
    capsys.readouterr()
    other = tmp_path / "other"
    Trainer(config_for(steps=1, **{**OPTIONS, "eval_every": 0}), other, progress=False).fit()
    assert main(["sample", str(other), "--checkpoint", "best", "--out", str(tmp_path / "x.npy")]) == 2
    assert "best.pt not found" in capsys.readouterr().err


def test_a_misspelt_eval_metric_is_refused_before_anything_is_written(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "digits", "--steps", "4", "--eval-every", "2", "--eval-metrics", "fid,bogus",
                 "--no-progress", "--out", str(run)]) == 2
    assert "--eval-metrics fid,bogus: bogus: expected comma-separated names from" in capsys.readouterr().err
    assert not run.exists()
    from ganforge.train import check_eval_metrics

    check_eval_metrics("fid,kid,", "image")  # a trailing comma: fid and kid, as the evaluation reads it
    with pytest.raises(UserError, match="--eval-metrics ,: empty"):
        check_eval_metrics(",", "image")
