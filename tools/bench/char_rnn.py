"""The PyTorch side of `char-rnn bench`: Embedding(96, 64) -> 2-layer LSTM of 512 ->
Linear(512, 96), batches of 64 windows of 128 synthetic characters read as contiguous streams,
the state carried from window to window (detached), Adam at 2e-3, gradients clipped at norm 5,
the same thread count, warm-up then timed steps in process.

Run: python3 tools/bench/char_rnn.py [--threads 2] [--steps 20] [--device cpu]
"""
import argparse
import contextlib
import time

import torch
import torch.nn as nn

VOCAB, EMBED, HIDDEN, LAYERS, BATCH, SEQ = 96, 64, 512, 2, 64, 128


class CharRnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.LSTM(EMBED, HIDDEN, LAYERS, batch_first=True)
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, x, state):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: the forward pass under torch.autocast (as ours under libtorch's)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if a.precision == "bf16" \
        else contextlib.nullcontext
    model = CharRnn().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    total = a.warmup + a.steps + 2
    tokens = torch.randint(0, VOCAB, (BATCH * SEQ * total,))
    row_len = (tokens.numel() - SEQ) // BATCH
    rows = tokens[: BATCH * row_len].view(BATCH, row_len)
    zeros = torch.zeros(LAYERS, BATCH, HIDDEN, device=dev)
    state = (zeros, zeros.clone())
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    def step(i, state):
        window = rows[:, i * SEQ : i * SEQ + SEQ + 1].to(dev)
        x, y = window[:, :-1], window[:, 1:]
        with autocast():
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        loss.item()
        return tuple(s.detach() for s in state)

    for i in range(a.warmup):
        state = step(i, state)
    sync()
    t = time.perf_counter()
    for i in range(a.warmup, a.warmup + a.steps):
        state = step(i, state)
    sync()
    rate = a.steps * BATCH * SEQ / (time.perf_counter() - t)
    print(f"LSTM 2x512, batch {BATCH} x {SEQ} characters, {a.steps} steps on {dev}, {a.threads} threads, {a.precision}")
    print(f"bench: app=char-rnn-pytorch metric=train_tokens_per_s value={rate:.0f} unit=tokens/s precision={a.precision}")


if __name__ == "__main__":
    main()
