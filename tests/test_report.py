"""``ganforge report``: a self-contained page whose every image loads and nothing is cut off (headless Chromium)."""

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.config import TrainConfig
from ganforge.errors import UserError
from ganforge.train import Trainer
from ganforge.viz.lab1d import torch_threads
from ganforge.viz.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVAL = {"dataset": "digits", "features": "domain", "n": 500, "seed": 0, "model": "dcgan", "step": 6,
        "values": {"fid": 123.4, "kid": 0.05, "precision": 0.31}, "real": {"values": {"fid": 1.5, "kid": 0.001}}}


class ImageSources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.links = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs["src"])
        for key in ("href", "src"):
            if key in attrs:
                self.links.append(attrs[key])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny DCGAN run on 8x8 digits (6 steps, a sample grid every 2) with an eval.json beside it."""
    run = tmp_path_factory.mktemp("report") / "run"
    cfg = TrainConfig(model="dcgan", data="digits", steps=6, sample_every=2, checkpoint_every=6, width=8,
                      batch_size=16, device="cpu")
    with torch_threads(1):
        Trainer(cfg, run, progress=False).fit()
    (run / "eval.json").write_text(json.dumps(EVAL))
    with torch_threads(1):
        write_report(run)
    return run


def test_report_links_only_files_inside_the_run_directory(run_dir):
    page = (run_dir / "report.html").read_text()
    parser = ImageSources()
    parser.feed(page)
    # 3 curves (losses, D outputs, r_t), the D gap, the memorisation panel, progression strip and GIF, final
    # grid, 2 interpolations
    assert len(parser.sources) == 10
    for link in parser.links:
        assert not re.match(r"^[a-z]+:", link), f"{link} is not a relative path"
        assert (run_dir / link).resolve().is_file(), f"{link} is missing"
        assert (run_dir / link).resolve().is_relative_to(run_dir.resolve())
    assert "<script" not in page


def test_report_shows_config_and_eval_table(run_dir):
    page = (run_dir / "report.html").read_text()
    assert "<td>k_disc</td>" in page and "<td>dcgan</td>" in page
    assert "<th>dcgan step 6</th>" in page and "<th>real digits</th>" in page
    assert re.search(r"<td>fid</td><td class=\"num\">123.4</td><td class=\"num\">1.5</td>", page)
    assert "Latent interpolations" in page and "interpolation_spherical.png" in page


def test_report_shows_collapse_diagnostics_for_images(run_dir):
    page = (run_dir / "report.html").read_text()
    assert "<h2>Collapse diagnostics</h2>" in page
    assert "report/diagnostics_gap.png" in page and "report/diagnostics_memorisation.png" in page
    assert re.search(r"Median nearest-training distance: samples [0-9.]+, held-out real [0-9.]+", page)
    strip = Image.open(run_dir / "report" / "diagnostics_memorisation.png")
    assert 1.8 < strip.height / strip.width < 2.1  # 8 rows of a sample and its 3 nearest training images


@pytest.mark.parametrize("logged", [False, True])
def test_report_shows_modes_over_time_for_toy_runs(tmp_path, logged):
    run = tmp_path / "run"
    extra = dict(eval_every=2, eval_metrics="modes", eval_n=200) if logged else dict(keep_every=2)
    cfg = TrainConfig(model="gan", data="ring8", steps=4, sample_every=2, checkpoint_every=2, width=16,
                      latent_dim=4, batch_size=32, device="cpu", **extra)
    with torch_threads(1):
        Trainer(cfg, run, progress=False).fit()
        page = write_report(run, interpolations=False).read_text()
    assert "report/diagnostics_modes.png" in page and "report/diagnostics_gap.png" in page
    source = "logged by --eval-every" if logged else "scored on 2,500 samples of each kept checkpoint"
    assert source in page


def test_report_without_eval_or_checkpoint_says_what_is_missing(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(run / "samples" / "step_000000.png")
    page = write_report(run).read_text()
    assert "not evaluated yet" in page and "no metrics.jsonl" in page and "step_000000.png" in page


def test_a_report_that_fails_leaves_the_earlier_report_whole(run_dir, tmp_path, capsys):
    """A damaged metrics.jsonl stops the report in one line; the earlier page and every figure it shows are
    still there, and no staging directory is left behind. (A torn last line, what a kill mid-write leaves, is
    skipped: test_curves_skip_a_torn_last_line.)"""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    before = {p.name: p.read_bytes() for p in (run / "report").iterdir()}
    page = (run / "report.html").read_bytes()
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 25, "loss/D\n{"step": 26}\n')  # a damaged line inside the log, not a torn last one
    assert main(["report", str(run), "--threads", "1"]) == 2
    assert "metrics.jsonl" in capsys.readouterr().err
    assert (run / "report.html").read_bytes() == page
    assert {p.name: p.read_bytes() for p in (run / "report").iterdir()} == before
    assert not [p.name for p in run.iterdir() if p.name.startswith(".report")]


def test_curves_skip_a_torn_last_line(tmp_path):
    from ganforge.viz.curves import read_metrics

    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1, "loss/D": 0.5}\n{"step": 2, "loss/D": 0.4}\n{"step": 3, "loss/D')
    steps, values = read_metrics(log)["loss/D"]
    assert steps.tolist() == [1.0, 2.0] and values.tolist() == [0.5, 0.4]
    log.write_text('{"step": 1, "loss/D": 0.5}\nnot json\n{"step": 3}\n')  # damage inside: said, not skipped
    with pytest.raises(UserError, match="line 2 is not a JSON object"):
        read_metrics(log)


def test_report_of_a_non_run_is_a_user_error(tmp_path, capsys):
    with pytest.raises(UserError, match="expected a directory written by 'ganforge train'"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


PROBE = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  const images = [...document.images].map(i => ({src: i.getAttribute("src"), complete: i.complete,
    naturalWidth: i.naturalWidth, right: i.getBoundingClientRect().right}));
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify({images, scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
                                    scrollHeight: root.scrollHeight});
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_chromium_with_every_image_loaded_and_nothing_cut_off(run_dir, tmp_path):
    # 1. every <img> decoded (naturalWidth > 0) and none wider than the page: a copy of the page with a probe
    #    script beside the original (same relative paths), its DOM dumped after load
    page = (run_dir / "report.html").read_text()
    probe_page = run_dir / "report_probe.html"
    probe_page.write_text(page.replace("</body>", PROBE + "</body>"))
    width = 1100
    result = _chromium([f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom",
                        probe_page.as_uri()], tmp_path / "profile1")
    probe_page.unlink()
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"no probe output from chromium: {result.stderr[-2000:]}"
    probe = json.loads(html.unescape(match.group(1)))
    parser = ImageSources()
    parser.feed(page)
    assert [i["src"] for i in probe["images"]] == parser.sources
    for image in probe["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, f"{image['src']} did not load"
        assert image["right"] <= probe["clientWidth"], f"{image['src']} runs off the right edge"
    assert probe["scrollWidth"] <= probe["clientWidth"], "the page scrolls sideways"

    # 2. a screenshot of the whole page (window as tall as the page plus a margin): content reaches neither
    #    the right edge nor the bottom, so nothing is cut off; and it is not blank
    height = probe["scrollHeight"] + 120
    shot = tmp_path / "report.png"
    result = _chromium([f"--window-size={width},{height}", "--virtual-time-budget=10000", f"--screenshot={shot}",
                        (run_dir / "report.html").as_uri()], tmp_path / "profile2")
    assert shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (height, width)
    white = (pixels >= 250).all(axis=2)
    assert white[-100:, :].all(), "content reaches the bottom of the screenshot"
    assert white[:, -8:].all(), "content reaches the right edge of the screenshot"
    assert (~white).mean() > 0.05, "the page looks blank"
    # the last thing on the page, the footer, is inside the screenshot: there is ink in the last 15% of the page
    page_rows = (~white[: probe["scrollHeight"]]).any(axis=1)
    assert page_rows[int(0.85 * probe["scrollHeight"]):].any()
