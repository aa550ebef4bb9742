"""Training speed of ganforge against a tutorial-style reference loop and the machine's matmul peak.

Same as ``ganforge bench``; arguments pass through, e.g.::

    python bench/bench_train_speed.py --quick
    OMP_WAIT_POLICY=PASSIVE python bench/bench_train_speed.py --model dcgan --size 28 --batch-size 64 --json
"""

import sys

from ganforge.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
