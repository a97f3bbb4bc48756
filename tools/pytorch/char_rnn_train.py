"""PyTorch reference for `char-rnn train`: the same corpus split (the last 5 % of each Austen
novel is validation), vocabulary, contiguous streams with the state carried (and detached)
from window to window, model (Embedding(V, 64) -> 2-layer LSTM of 512 -> Linear(512, V)), Adam
at 2e-3 with cosine decay to zero, gradients clipped at norm 5, and the same validation pass
(64 streams, windows of 128). Prints the validation bits per character every --eval-every
steps, to compare learning curves step for step with the Rust app.

Run: python3 tools/pytorch/char_rnn_train.py [--steps 600] [--stop-after N] [--eval-every 100] [--threads 2]
"""
import argparse
import gzip
import math
import pathlib
import time

import torch
import torch.nn as nn

DATA = pathlib.Path(__file__).resolve().parents[2] / "datasets" / "data" / "austen"


def load_split(valid_fraction):
    train, valid = [], []
    for f in sorted(DATA.glob("*.txt.gz")):
        text = gzip.open(f).read().decode("utf-8")
        raw = text.encode("utf-8")
        cut = int(len(raw) * (1.0 - valid_fraction))
        while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:
            cut += 1
        train.append(raw[:cut].decode("utf-8"))
        valid.append(raw[cut:].decode("utf-8"))
    return "\n\n".join(train), "\n\n".join(valid)


class CharRnn(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.embed = nn.Embedding(vocab, 64)
        self.rnn = nn.LSTM(64, 512, 2, batch_first=True)
        self.head = nn.Linear(512, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


@torch.no_grad()
def evaluate(model, tokens, streams=64, seq=128):
    rows = min(streams, len(tokens) - 1)
    row_len = len(tokens) // rows
    grid = tokens[: rows * row_len].view(rows, row_len)
    state, total, count, start = None, 0.0, 0, 0
    while start + 1 < row_len:
        n = min(seq, row_len - 1 - start)
        logits, state = model(grid[:, start : start + n], state)
        y = grid[:, start + 1 : start + 1 + n]
        total += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += rows * n
        start += n
    return total / count / math.log(2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many steps (the schedule still spans --steps)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train, valid = load_split(0.05)
    chars = sorted(set(train) | set(valid))
    index = {c: i for i, c in enumerate(chars)}
    tr = torch.tensor([index[c] for c in train])
    va = torch.tensor([index[c] for c in valid])
    batch, seq = 64, 128
    row_len = (len(tr) - seq) // batch
    per_epoch = (row_len - 1) // seq
    model = CharRnn(len(chars))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, a.steps) / a.steps)))
    state = None
    started = time.perf_counter()
    for step in range(a.stop_after or a.steps):
        epoch, i = divmod(step, per_epoch)
        if i == 0:
            state = None
        offset = (epoch * 7) % seq
        starts = torch.arange(batch) * row_len + offset + i * seq
        window = tr[starts[:, None] + torch.arange(seq + 1)[None, :]]
        x, y = window[:, :-1], window[:, 1:]
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        state = tuple(s.detach() for s in state)
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            model.eval()
            bpc = evaluate(model, va)
            model.train()
            print(f"step {step + 1}: valid {bpc:.4f} bpc, train {loss.item() / math.log(2):.4f} bpc, {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
