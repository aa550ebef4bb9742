"""Does ``ganforge eval --samples`` give a run's own figures? (issue 17; numbers in docs/evaluation.md)

    python bench/eval_samples_agreement.py RUN_DIR [--n 5000] [--work DIR]

1. Plays "another program": loads RUN_DIR through the public API only and saves ``n`` samples (seed 0) as a
   float32 ``.npy`` in [0, 1], then the same images quantised to uint8 as an ``.npy`` and as a folder of PNGs.
2. Scores through the CLI, each command in its own process: the run itself (``--samples RUN_DIR``) and the
   ``.npy`` against ``fashion-mnist:test`` (fid, kid, pr); ``ganforge eval RUN_DIR`` and the ``.npy`` against
   the train split; the PNG folder and the uint8 ``.npy`` (fid).
3. Prints each pair and the largest absolute difference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ganforge.errors import run_script


def write_outside_samples(run_dir: str, n: int, work: Path) -> None:
    import numpy as np
    from PIL import Image

    import ganforge

    x = ganforge.load_run(run_dir).sample(n, seed=0).numpy()  # (n, 1, 28, 28) float32 in [0, 1]
    np.save(work / "other.npy", x)
    u8 = (x * 255).round().astype(np.uint8)
    np.save(work / "other_u8.npy", u8)
    folder = work / "pngs"
    folder.mkdir(exist_ok=True)
    for i, img in enumerate(u8):
        Image.fromarray(img[0], mode="L").save(folder / f"{i:05d}.png")


def ganforge_eval(args: list[str], out: Path) -> dict:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "ganforge", "eval", *args, "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    record = json.loads(out.read_text())
    print(f"  {' '.join(args)}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return record["values"]


def compare(title: str, a: dict, b: dict) -> float:
    worst = max(abs(a[k] - b[k]) for k in a)
    print(f"{title}:")
    for k in a:
        print(f"  {k:<10} {a[k]:.8f}  {b[k]:.8f}")
    print(f"  largest absolute difference {worst:.2e}")
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--work", default="runs/eval_samples_agreement")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    write_outside_samples(a.run_dir, a.n, work)
    n = ["--n", str(a.n)]
    test = ["--real", "fashion-mnist:test", "--metrics", "fid,kid,pr", *n]
    run_t = ganforge_eval(["--samples", a.run_dir, *test], work / "run_test.json")
    npy_t = ganforge_eval(["--samples", str(work / "other.npy"), *test], work / "npy_test.json")
    run_tr = ganforge_eval([a.run_dir, "--metrics", "fid,kid,pr", *n], work / "run_train.json")
    npy_tr = ganforge_eval(["--samples", str(work / "other.npy"), "--real", "fashion-mnist", "--metrics",
                            "fid,kid,pr", *n], work / "npy_train.json")
    png = ganforge_eval(["--samples", str(work / "pngs"), "--real", "fashion-mnist:test", "--metrics", "fid", *n],
                        work / "png.json")
    u8 = ganforge_eval(["--samples", str(work / "other_u8.npy"), "--real", "fashion-mnist:test", "--metrics", "fid",
                        *n], work / "u8.json")
    compare("run vs outside .npy, fashion-mnist:test", run_t, npy_t)
    compare("ganforge eval RUN vs outside .npy, train split", run_tr, npy_tr)
    compare("PNG folder vs uint8 .npy of the same images, fashion-mnist:test", png, u8)


if __name__ == "__main__":
    sys.exit(run_script(main))
