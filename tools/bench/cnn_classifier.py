"""The PyTorch side of `cnn-classifier bench`: the same network (PyTorch's examples/mnist Net),
the same batch (64 synthetic 1x28x28 images), Adadelta at 1.0, NLL of log-softmax, the same
thread count, warm-up then timed steps in process.

Run: python3 tools/bench/cnn_classifier.py [--threads 2] [--steps 100] [--device cpu]
"""
import argparse
import contextlib
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: the forward pass under torch.autocast (as ours under libtorch's)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if a.precision == "bf16" \
        else contextlib.nullcontext
    net = Net().to(dev)
    opt = torch.optim.Adadelta(net.parameters(), lr=1.0)
    x = torch.randn(64, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (64,), device=dev)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    net.eval()
    xi = torch.randn(1000, 1, 28, 28, device=dev)
    with torch.no_grad():
        for _ in range(3):
            with autocast():
                net(xi).sum().item()
        t = time.perf_counter()
        for _ in range(10):
            with autocast():
                net(xi).sum().item()
        inference = 10 * 1000 / (time.perf_counter() - t)
    net.train()

    def step():
        opt.zero_grad()
        with autocast():
            loss = F.nll_loss(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    training = a.steps * 64 / (time.perf_counter() - t)
    print(f"inference: {inference:.0f} images/s at batch 1000 on {dev}, {a.threads} threads, {a.precision}")
    print(f"bench: app=cnn-classifier-pytorch metric=train_images_per_s value={training:.1f} unit=images/s precision={a.precision}")


if __name__ == "__main__":
    main()
