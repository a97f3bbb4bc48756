"""Golden values for the core crate's tests, computed with PyTorch 2.11.0 on CPU.

Run: python3 tools/golden/core.py   (needs `pip install torch==2.11.0`)
Prints the values pasted into tests/core_crate/golden.rs; each block there names the function here
that produced it.
"""
import torch

torch.set_printoptions(precision=10)


def fmt(t):
    return ", ".join(repr(float(v)) for v in t.detach().flatten().tolist())


def optimizer_problem():
    """Parameters and a loss whose gradient changes with them: every step is different."""
    w = (torch.arange(6, dtype=torch.float32) * 0.1 - 0.2).reshape(2, 3).requires_grad_()
    b = torch.tensor([0.1, -0.2, 0.3]).requires_grad_()
    x = (torch.arange(8, dtype=torch.float32) * 0.25 - 1.0).reshape(4, 2)
    return w, b, x


def run(make_opt, steps=5):
    w, b, x = optimizer_problem()
    opt = make_opt([b, w])
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ w + b) ** 2).sum()
        loss.backward()
        opt.step()
    return w, b


CONFIGS = {
    "sgd_plain": lambda p: torch.optim.SGD(p, lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adam_l2_amsgrad": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1, amsgrad=True),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    "adamw_amsgrad": lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, amsgrad=True),
    "adadelta": lambda p: torch.optim.Adadelta(p, lr=1.0),
    "adadelta_wd": lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1),
}


def optimizers():
    for name, make in CONFIGS.items():
        w, b = run(make)
        print(f"// {name}: w after 5 steps\n[{fmt(w)}],\n// {name}: b\n[{fmt(b)}],")


def recurrent():
    """nn.RNN / nn.LSTM / nn.GRU, 2 layers, batch-first, weights sin(0.37 k + i) for the i-th
    parameter in PyTorch's order, input cos(0.29 k)."""
    for cls in (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU):
        m = cls(3, 4, num_layers=2, batch_first=True)
        with torch.no_grad():
            for i, (_, p) in enumerate(m.named_parameters()):
                p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.37 + i).reshape(p.shape))
        x = torch.cos(torch.arange(18, dtype=torch.float32) * 0.29).reshape(2, 3, 3)
        out, state = m(x)
        h = state[0] if isinstance(state, tuple) else state
        print(f"// {cls.__name__}: output [2, 3, 4]\n[{fmt(out)}],\n// {cls.__name__}: final h [2, 2, 4]\n[{fmt(h)}],")
        print("// names: " + ", ".join(n for n, _ in m.named_parameters()))


if __name__ == "__main__":
    optimizers()
    recurrent()
