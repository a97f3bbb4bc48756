#!/usr/bin/env bash
# Each app's bench beside PyTorch's (tools/bench/APP.py), fp32 and bf16, 2 threads, 3
# alternating rounds; prints every run, then one table of medians with the ratios.
# PYTHON names a Python with torch 2.11.0 (and gymnasium, numpy for dqn.py).
#   make bench-vs-pytorch PYTHON=/path/to/venv/bin/python
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
log=$(mktemp)
for round in 1 2 3; do
  for p in fp32 bf16; do
    {
      target/release/cnn-classifier bench --device cpu --threads 2 --precision $p 2>&1 | grep "^bench" | sed "s/^/ours cnn-classifier $p: /"
      $PY tools/bench/cnn_classifier.py --threads 2 --precision $p 2>&1 | grep "^bench" | sed "s/^/torch cnn-classifier $p: /"
      target/release/char-rnn bench --device cpu --threads 2 --precision $p 2>&1 | grep "^bench" | sed "s/^/ours char-rnn $p: /"
      $PY tools/bench/char_rnn.py --threads 2 --precision $p 2>&1 | grep "^bench" | sed "s/^/torch char-rnn $p: /"
      target/release/seq2seq bench --device cpu --threads 2 --precision $p 2>&1 | grep "^bench" | sed "s/^/ours seq2seq $p: /"
      $PY tools/bench/seq2seq.py --threads 2 --precision $p 2>&1 | grep "^bench" | sed "s/^/torch seq2seq $p: /"
      target/release/dqn bench --device cpu --threads 2 --steps 20000 --precision $p 2>&1 | grep "updates_per_s" | sed "s/^/ours dqn $p: /"
      $PY tools/bench/dqn.py --threads 2 --updates-only --precision $p 2>&1 | grep "^bench" | sed "s/^/torch dqn $p: /"
    } | tee -a "$log"
  done
done
python3 - "$log" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"(ours|torch) (\S+) (fp32|bf16): bench: .* value=([\d.]+)", line)
    if m:
        runs.setdefault((m[2], m[1], m[3]), []).append(float(m[4]))
print("\n| bench | ours fp32 | ours bf16 | PyTorch fp32 | PyTorch bf16 | ours bf16 / PyTorch fp32 | ours bf16 / PyTorch bf16 |")
print("|---|---|---|---|---|---|---|")
for app in ["cnn-classifier", "char-rnn", "seq2seq", "dqn"]:
    med = {(w, p): statistics.median(runs[(app, w, p)]) for w in ("ours", "torch") for p in ("fp32", "bf16") if (app, w, p) in runs}
    if len(med) < 4:
        print(f"| {app} | (missing runs) |")
        continue
    cells = [med[("ours", "fp32")], med[("ours", "bf16")], med[("torch", "fp32")], med[("torch", "bf16")]]
    ratios = [med[("ours", "bf16")] / med[("torch", "fp32")], med[("ours", "bf16")] / med[("torch", "bf16")]]
    print(f"| {app} | " + " | ".join(f"{c:,.1f}" for c in cells) + " | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")
PY
rm -f "$log"
