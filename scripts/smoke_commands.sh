#!/usr/bin/env bash
# Smoke test of every ganforge command, tiny sizes, as a user runs them: `scripts/smoke_commands.sh GANFORGE`
# where GANFORGE is the `ganforge` executable to test (e.g. a fresh venv's, installed without extras).
# Fails (exit 1, naming the command) if any command errors. Writes under a temporary directory.
# The commands form two independent groups (images; everything else) run side by side: each command is
# mostly interpreter start-up and import on one core, so two groups take about half the wall time on 2 cores.
set -uo pipefail
G=${1:?usage: scripts/smoke_commands.sh PATH_TO_GANFORGE}
case $G in */*) G="$(cd "$(dirname "$G")" && pwd)/$(basename "$G")" ;; esac  # the groups run elsewhere
D=$(mktemp -d /tmp/ganforge-smoke.XXXXXX)
trap 'rm -rf "$D"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MPLBACKEND=Agg
step() {  # run one command in the current group's directory; on failure print its log and stop the group
    local started=$SECONDS
    if ! "$G" "$@" >"$PWD/.log" 2>&1; then
        echo "smoke: FAILED: ganforge $*"
        tail -20 "$PWD/.log"
        exit 1
    fi
    echo "smoke: ok ($((SECONDS - started)) s): ganforge $*"
}
TINY=(--width 8 --latent-dim 8 --batch-size 16 --steps 4 --sample-every 2 --no-progress)

images() {
    step --version
    step datasets
    step models
    step train --data digits "${TINY[@]}" --out img
    step train --model gan --data ring8 --batch-size 64 --steps 4 --sample-every 2 --no-progress --out toy
    step train --data digits --width 8 --latent-dim 8 --batch-size 16 --steps 6 --no-progress --out img --resume
    step sample img --n 16 --seed 0 --out s.png
    step sample img --n 16 --out s.npy
    step sample toy --n 200 --out t.png
    step eval img --n 100 --metrics parzen,fid,kid,pr
    step eval toy --n 200 --metrics modes,pr
    step lab 1d --steps 20 --frames 3 --out lab1d
    step lab 2d --model gan --steps 20 --frames 3 --workers 1 --out lab2d
    step latent interpolate img --rows 2 --steps 3 --out walk.png
    step latent sheet img --n 8 --out sheet.png
    step eval --samples s.npy --real digits --metrics fid,pr
    step features list
    step export img --format torchscript --out g.pt --check
    step report img
    step bench --quick --rounds 1 --steps 1
    # the milestones (issue 11): GAM between two runs, stylegan2's truncation and style mixing, progan
    step train --model gan --data digits "${TINY[@]}" --out img2
    step gam img img2 --n 100
    step train --model stylegan2 --data digits --width 8 --batch-size 16 --steps 4 --sample-every 2 --no-progress --out sg
    step sample sg --truncation 0.7 --out sg.png
    step latent mix sg --out mix.png
    step train --model progan --data digits --width 8 --batch-size 16 --steps 4 --sample-every 2 --no-progress --out pg
}

applications() {
    # augmentation for imbalanced classes (SMOTE is skipped without the [augment] extra) and CAS (issue 12)
    step train --model cgan --data digits "${TINY[@]}" --out cg
    step eval cg --metrics cas --n 100
    step sample cg --n 16 --seed 0 --out s.png
    step augment --data digits --rare-classes 0,2 --rare-count 10 --majority-count 40 --seeds 1 --epochs 0.5 \
        --cgan-steps 4 --cgan-width 8 --synthetic-ratios 1 --out aug
    # super-resolution (issue 14)
    step train --model srresnet --data digits --pairs sr2 --width 8 --sr-blocks 1 --batch-size 16 --steps 4 \
        --sample-every 2 --no-progress --out sr
    step upscale sr s.png --out up
    # next-frame prediction (issue 14): moving sprites on the default 64x64 canvas
    step train --model nextframe --data digits --width 4 --batch-size 8 --steps 20 --sample-every 10 --no-progress --out nf
    step predict nf --frames 3 --n 2 --out nf.gif
    step eval nf --n 20
    # tables from a CSV (issue 13)
    { echo "age,income,city,member"; for i in $(seq 1 300); do
        echo "$((20 + i % 50)),$((1000 + (i * 37) % 5000)).5,c$((i % 3)),$((i % 2))"; done; } > t.csv
    step train --model ctgan --data csv:t.csv --batch-size 20 --steps 4 --no-progress --out tab
    step sample tab --n 50 --out synth.csv
    step sample tab --n 20 --condition city=c1 --out rare.csv
    step eval tab --n 100
    step train --model tvae --data csv:t.csv --batch-size 20 --steps 4 --no-progress --out tv
    # BiGAN and latent inversion (issue 12)
    step train --model bigan --data digits "${TINY[@]}" --out bg
    step invert bg --data digits --n 8 --steps 5 --out inv
    # anomaly detection, one-class protocol (issue 12)
    step anomaly fit --data digits --normal-classes 0 --method ae --ae-kind mlp --batch-size 16 --steps 4 --out an
    step anomaly score an --out an.csv
    step anomaly fit --data digits --normal-classes 0-1 --method iforest --out an2
    step anomaly table --data digits --classes 0-1 --methods iforest,ocsvm --no-figures --out antable
    step anomaly fit --data csv:t.csv --label-column city --normal-classes c0 --method ae --batch-size 16 --steps 4 --out antab
    step anomaly score antab --out antab.csv
}

started=$SECONDS
status=0
for group in images applications; do
    mkdir "$D/$group"
    (cd "$D/$group" && "$group") >"$D/$group.out" 2>&1 &
done
for group in images applications; do wait -n || status=1; done
cat "$D/images.out" "$D/applications.out"
if [ "$status" -ne 0 ]; then
    grep -h "smoke: FAILED" "$D/images.out" "$D/applications.out" >&2
    exit 1
fi
echo "smoke: every command ran ($(grep -c '^smoke: ok' "$D/images.out" "$D/applications.out" | \
    awk -F: '{n += $2} END {print n}') commands, $((SECONDS - started)) s)"
