#!/usr/bin/env bash
# Learning-rate transfer sweeps behind docs/transfer.md: muP against SP for backprop,
# predictive coding (output precision exponent p = 0 and p = 1) and difference target
# propagation on digits, widths 64..1024, learning rates 2^-8..2^6, 3 seeds, 300 steps.
# Results go to runs/transfer/NAME (resumable: rerun to finish), plots to docs/img/.
# With fashion_mnist IDX files in data/fashion, the same sweeps also run on them.
set -euo pipefail
cd "$(dirname "$0")/.."
localmup="${LOCALMUP:-.venv/bin/localmup}"
workers="${WORKERS:-$(nproc)}"
mkdir -p docs/img runs/transfer

for spec in benchmarks/transfer/*.lmu; do
  name="$(basename "$spec" .lmu)"
  "$localmup" sweep "$spec" --workers "$workers" --out "runs/transfer/$name" --plot "docs/img/transfer_$name.png"
done

if ls data/fashion/train-images-idx3-ubyte* >/dev/null 2>&1; then
  for spec in benchmarks/transfer/*.lmu; do
    name="$(basename "$spec" .lmu)"
    sed -e 's/input(64)/input(784)/' -e 's/data = digits/data = fashion_mnist("data\/fashion")/' "$spec" > "runs/transfer/fashion_$name.lmu"
    "$localmup" sweep "runs/transfer/fashion_$name.lmu" --workers "$workers" --out "runs/transfer/fashion_$name" --plot "docs/img/transfer_fashion_$name.png"
  done
else
  echo "data/fashion has no Fashion-MNIST IDX files: skipping the fashion_mnist sweeps" >&2
fi
.venv/bin/python benchmarks/transfer_table.py runs/transfer
