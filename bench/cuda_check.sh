#!/bin/bash
# The CUDA paths in one short script, for a machine with an NVIDIA GPU (none is needed anywhere else):
# training steps on cuda with and without bf16 autocast and torch.compile (`ganforge bench` against the
# tutorial-style reference loop), a checkpoint written on cuda read back on the CPU, DDP over NCCL under
# torchrun, and the stylegan2 recipe trained far longer than the CPU allows, FID every 250 steps.
#   bash bench/cuda_check.sh [DATA_DIR] [OUT]      (DATA_DIR holds fashion-mnist/*.gz when it is not installed)
set -u
DATA_DIR=${1:-}; OUT=${2:-runs/cuda-check}; mkdir -p "$OUT"
D=${DATA_DIR:+--data-dir $DATA_DIR}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
nvidia-smi -L
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
echo "== bench: dcgan 64x64, batch 128, fp32 / bf16 / bf16 + compile"
for opts in "--amp off" "--amp bf16" "--amp bf16 --compile on"; do
  $PY -m ganforge bench --device cuda --model dcgan --size 64 --batch-size 128 --rounds 2 --steps 30 $opts $D
done
echo "== a run trained on cuda (bf16), sampled and evaluated on the CPU"
$PY -m ganforge train --model dcgan --data fashion-mnist $D --device cuda --amp bf16 --steps 300 \
    --sample-every 300 --out "$OUT/dcgan-bf16" && \
  CUDA_VISIBLE_DEVICES= $PY -m ganforge eval "$OUT/dcgan-bf16" --metrics fid --n 1000 $D
echo "== DDP over NCCL under torchrun (one rank per GPU)"
NGPU=$($PY -c "import torch; print(torch.cuda.device_count())")
torchrun --standalone --nproc_per_node "$NGPU" -m ganforge train --model dcgan --data fashion-mnist $D \
    --device cuda --steps 200 --sample-every 100 --out "$OUT/ddp" && grep -o '"ddp/param_spread": [0-9.e-]*' "$OUT/ddp/metrics.jsonl" | tail -1
echo "== stylegan2 recipe, 2,000 steps on cuda, FID every 250"
timeout "${SG2_SECONDS:-240}" $PY -m ganforge train --config configs/stylegan2.yaml $D --device cuda --steps 2000 \
    --eval-every 250 --eval-metrics fid --eval-n 2000 --sample-every 500 --out "$OUT/stylegan2"
grep '"metric/fid"' "$OUT/stylegan2/metrics.jsonl" | grep -o '"step": [0-9]*\|"metric/fid": [0-9.]*' | paste - -
