"""``--log tensorboard``: event files beside metrics.jsonl that TensorBoard's own reader loads, holding the
metrics.jsonl numbers as scalars, the sample grids as images and the config as text."""

import json
import sys

import numpy as np
import pytest

from ganforge import cli
from ganforge.config import TrainConfig
from ganforge.errors import UserError
from ganforge.train import Trainer


def small(**kw):
    base = dict(model="dcgan", data="digits", batch_size=16, width=8, latent_dim=16, sample_every=2,
                checkpoint_every=2, device="cpu", log="tensorboard")
    base.update(kw)
    return TrainConfig(**base)


def _events(run_dir):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_scalars_images_and_config_are_in_the_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    Trainer(small(steps=4, eval_every=4, eval_metrics="fid", eval_n=100), run, progress=False).fit()
    assert list(run.glob("events.out.tfevents.*")), "events are written into the run directory"
    acc = _events(run)
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    scalars = set(acc.Tags()["scalars"])
    assert {"loss/D", "loss/G", "D/real", "D/fake", "images_per_s", "metric/fid"} <= scalars
    for key in ("loss/D", "D/real", "metric/fid"):  # the very numbers of metrics.jsonl, at their steps
        expected = [(r["step"], r[key]) for r in records if key in r]
        got = [(e.step, e.value) for e in acc.Scalars(key)]
        assert [s for s, _ in got] == [s for s, _ in expected]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], rtol=1e-6)
    images = acc.Images("samples")
    assert [e.step for e in images] == [0, 2, 4]
    assert images[-1].width > 0 and images[-1].encoded_image_string[:4] == b"\x89PNG"
    text_tags = [t for t in acc.Tags()["tensors"] if t.startswith("config")]
    assert text_tags
    text = acc.Tensors(text_tags[0])[0].tensor_proto.string_val[0].decode()
    assert "model: dcgan" in text and "log: tensorboard" in text


def test_a_resumed_run_continues_the_events_without_duplicates(tmp_path):
    pytest.importorskip("tensorboard")
    import shutil

    run = tmp_path / "run"
    Trainer(small(steps=4, sample_every=1, keep_every=2), run, progress=False).fit()
    # as if killed after logging step 4 but before its checkpoint: the latest checkpoint is step 2's
    shutil.copy(run / "checkpoints" / "step_000002.pt", run / "checkpoints" / "latest.pt")
    Trainer(small(steps=5, sample_every=1, keep_every=2), run, resume=True, progress=False).fit()
    steps = [e.step for e in _events(run).Scalars("loss/D")]
    assert steps == [1, 2, 3, 4, 5]  # steps 3 and 4 were redone, and appear once


def test_without_the_package_it_is_one_line_saying_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.raises(UserError, match=r"pip install 'ganforge\[tensorboard\]'"):
        Trainer(small(steps=1), tmp_path / "run", progress=False)
    assert cli.main(["train", "--data", "digits", "--steps", "1", "--log", "tensorboard", "--out",
                     str(tmp_path / "run2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ganforge[tensorboard]" in err


def test_an_unknown_log_is_refused():
    with pytest.raises(UserError, match="log='wandb'.*jsonl or tensorboard"):
        TrainConfig(log="wandb").validate()
