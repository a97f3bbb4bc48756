"""The PyTorch side of `seq2seq bench`: the same translator step, written the way the PyTorch
NMT tutorials write it.

Encoder Embedding(8000, 256) -> bidirectional GRU of 256 over packed sequences; decoder
Embedding(8000, 256), GRUCell of 512 fed [embedding; context], Bahdanau attention of size 256
queried by the previous state, masked over padding; read-out Linear([state; context;
embedding] -> 8000) applied once to all steps; batches of 64, sources and targets of 20
positions (real lengths uniform in 5..20, the rest padding), Adam at 1e-3, teacher forcing,
cross-entropy ignoring padding. Throughput counts all 64 x 20 target positions.

Run: python3 tools/bench/seq2seq.py [--threads 2] [--steps 20] [--device cpu]
"""
import argparse
import contextlib
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, EMBED, ENC, DEC, ATTN, BATCH, LEN, PAD, BOS, EOS = 8000, 256, 256, 512, 256, 64, 20, 0, 2, 3


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_embed = nn.Embedding(VOCAB, EMBED)
        self.tgt_embed = nn.Embedding(VOCAB, EMBED)
        self.encoder = nn.GRU(EMBED, ENC, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * ENC, DEC)
        self.query = nn.Linear(DEC, ATTN, bias=False)
        self.key = nn.Linear(2 * ENC, ATTN)
        self.v = nn.Linear(ATTN, 1, bias=False)
        self.decoder = nn.GRUCell(EMBED + 2 * ENC, DEC)
        self.out = nn.Linear(DEC + 2 * ENC + EMBED, VOCAB)

    def forward(self, src, lengths, tgt_in):
        packed = pack_padded_sequence(self.src_embed(src), lengths, batch_first=True, enforce_sorted=False)
        memory, h = self.encoder(packed)
        memory, _ = pad_packed_sequence(memory, batch_first=True, total_length=src.size(1))
        state = torch.tanh(self.bridge(torch.cat([h[0], h[1]], -1)))
        keys = self.key(memory)
        mask = (torch.arange(src.size(1)).unsqueeze(0) < lengths.unsqueeze(1)).to(src.device)
        e = self.tgt_embed(tgt_in)
        states, contexts = [], []
        for t in range(tgt_in.size(1)):
            scores = self.v(torch.tanh(self.query(state).unsqueeze(1) + keys)).squeeze(-1)
            weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
            context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
            state = self.decoder(torch.cat([e[:, t], context], -1), state)
            states.append(state)
            contexts.append(context)
        features = torch.cat([torch.stack(states, 1), torch.stack(contexts, 1), e], -1)
        return self.out(features)


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
    model = Seq2Seq().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(4):
        src_len = torch.randint(5, LEN + 1, (BATCH,), generator=g)
        tgt_len = torch.randint(5, LEN, (BATCH,), generator=g)
        src_len[0], tgt_len[0] = LEN, LEN - 1
        src = torch.randint(4, VOCAB, (BATCH, LEN), generator=g)
        src[torch.arange(LEN).unsqueeze(0) >= src_len.unsqueeze(1)] = PAD
        tgt = torch.randint(4, VOCAB, (BATCH, LEN), generator=g)
        tgt_out = tgt.clone()
        tgt_out[torch.arange(LEN).unsqueeze(0) > tgt_len.unsqueeze(1)] = PAD
        tgt_out[torch.arange(BATCH), tgt_len] = EOS
        tgt_in = torch.cat([torch.full((BATCH, 1), BOS), tgt[:, : LEN - 1]], 1)
        batches.append((src.to(dev), src_len, tgt_in.to(dev), tgt_out.to(dev)))
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if a.precision == "bf16" \
        else contextlib.nullcontext

    def step(i):
        src, lengths, tgt_in, tgt_out = batches[i % len(batches)]
        with autocast():
            logits = model(src, lengths, tgt_in)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt_out.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    for i in range(a.warmup):
        step(i)
    sync()
    t = time.perf_counter()
    for i in range(a.warmup, a.warmup + a.steps):
        step(i)
    sync()
    rate = a.steps * BATCH * LEN / (time.perf_counter() - t)
    print(f"biGRU 256 encoder, GRU 512 Bahdanau decoder, batch {BATCH} x {LEN}, {a.steps} steps on {dev}, {a.threads} threads")
    print(f"bench: app=seq2seq-pytorch metric=train_tokens_per_s value={rate:.0f} unit=tokens/s precision={a.precision}")


if __name__ == "__main__":
    main()
