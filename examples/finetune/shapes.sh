#!/usr/bin/env bash
# Train a small class-conditional BigGAN-deep on the procedural shapes set, then sample and score it.
# Copy and edit: change --data to your own folder (class sub-folders or labels.csv), --steps, --batch, the lrs.
# Resume any time with the same command plus --resume; Ctrl-C writes a checkpoint before exiting (exit 130).
set -euo pipefail
GANZOO="node $(dirname "$0")/../../packages/cli/dist/bin.js"   # or `npx ganzoo` once @ganzoo/cli is installed
OUT=${OUT:-runs/shapes}

$GANZOO make-shapes --out data/shapes32 --n 5000 --size 32 --classes shape --seed 0
$GANZOO finetune --model biggan-deep --preset shapes-32 --data data/shapes32 --out "$OUT" \
  --steps 1500 --batch 16 --d-steps 1 --lr-g 3e-4 --lr-d 3e-4 \
  --sample-every 50 --checkpoint-every 50 --keep 3 "$@"
# The EMA generator is exported to $OUT/final (config.json + model.safetensors + classes.json).
$GANZOO eval-shapes --model "$OUT/final" --n 500
$GANZOO generate --model "$OUT/final" --classes circle,square,triangle,star --seeds 0-5 --out "$OUT/grid.png"
