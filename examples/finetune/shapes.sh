#!/usr/bin/env bash
# Train a small class-conditional BigGAN-deep on the procedural shapes set, then sample and score it.
# Copy and edit: change --data to your own folder (class sub-folders or labels.csv), --steps, --batch, the lrs.
# Resume any time with the same command plus --resume; Ctrl-C writes a checkpoint before exiting (exit 130).
set -euo pipefail
GANZOO="node $(dirname "$0")/../../packages/cli/dist/bin.js"   # or `npx ganzoo` once @ganzoo/cli is installed
OUT=${OUT:-runs/shapes}

# The shipped biggan-deep-shapes model's recipe (packages/biggan-deep/weights/shapes-32/README.md).
$GANZOO make-shapes --out data/shapes32 --n 5000 --size 32 --classes shape --background white --seed 0
$GANZOO finetune --model biggan-deep --preset shapes-32 --data data/shapes32 --out "$OUT" \
  --steps 2000 --batch 32 --d-steps 1 --lr-g 2e-4 --lr-d 4e-4 \
  --sample-every 250 --checkpoint-every 250 --keep 3 "$@"
# The EMA generator is exported to $OUT/final (config.json + model.safetensors + classes.json).
$GANZOO eval-shapes --model "$OUT/final" --n 500
$GANZOO generate --model "$OUT/final" --classes circle,square,triangle,star --seeds 0-5 --out "$OUT/grid.png"
