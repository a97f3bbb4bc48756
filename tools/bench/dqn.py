"""The PyTorch side of `dqn bench`: the same two fixed configurations, in process, same threads.

1. CleanRL's dqn.py CartPole loop (gymnasium CartPole-v1, MLP 4-120-84-2, MSE, Adam 2.5e-4,
   buffer 10k, batch 128, gamma 0.99, target copy every 500 steps, train every 10 steps,
   learning starts 10k, epsilon 1 -> 0.05 over 250k steps): environment steps per second over
   30k steps after the 10k of warm-up. The replay buffer is a plain numpy ring, as in CleanRL's
   single-environment setting (SB3's ReplayBuffer adds overhead this leaves out).
2. Nature CNN updates on random u8 batches of 32 x 4 x 84 x 84: target forward, online forward
   and backward, Huber loss, Adam 1e-4.

Needs torch and gymnasium. Run: python3 tools/bench/dqn.py [--threads 2] [--steps 30000]
"""
import argparse
import contextlib
import random
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp():
    return nn.Sequential(nn.Linear(4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 2))


def nature_cnn(actions=6):
    return nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, actions),
    )


def epsilon(step, start=1.0, end=0.05, duration=250_000):
    return end if step >= duration else start + (end - start) * step / duration


def cartpole(dev, timed):
    env = gym.make("CartPole-v1")
    q, target = mlp().to(dev), mlp().to(dev)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=2.5e-4)
    n = 10_000
    obs_buf = np.zeros((n, 4), np.float32)
    next_buf = np.zeros((n, 4), np.float32)
    act_buf = np.zeros(n, np.int64)
    rew_buf = np.zeros(n, np.float32)
    term_buf = np.zeros(n, np.float32)
    cursor, size = 0, 0
    obs, _ = env.reset(seed=0)
    warmup = 10_000
    start = time.perf_counter()
    for step in range(1, warmup + timed + 1):
        if step == warmup + 1:
            start = time.perf_counter()
        if random.random() < epsilon(step):
            a = env.action_space.sample()
        else:
            with torch.no_grad():
                a = int(q(torch.as_tensor(obs, device=dev).unsqueeze(0)).argmax(1).item())
        nxt, r, term, trunc, _ = env.step(a)
        obs_buf[cursor], next_buf[cursor], act_buf[cursor] = obs, nxt, a
        rew_buf[cursor], term_buf[cursor] = r, float(term)
        cursor, size = (cursor + 1) % n, min(size + 1, n)
        obs = env.reset()[0] if term or trunc else nxt
        if step > warmup and step % 10 == 0:
            idx = np.random.randint(0, size, 128)
            o = torch.as_tensor(obs_buf[idx], device=dev)
            no = torch.as_tensor(next_buf[idx], device=dev)
            with torch.no_grad():
                target_max = target(no).max(1).values
                y = torch.as_tensor(rew_buf[idx], device=dev) + 0.99 * target_max * (
                    1 - torch.as_tensor(term_buf[idx], device=dev))
            old = q(o).gather(1, torch.as_tensor(act_buf[idx], device=dev).unsqueeze(1)).squeeze(1)
            loss = F.mse_loss(y, old)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if step % 500 == 0:
            target.load_state_dict(q.state_dict())
    return timed / (time.perf_counter() - start)


def atari_updates(dev, timed, precision="fp32"):
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if precision == "bf16" \
        else contextlib.nullcontext
    q, target = nature_cnn().to(dev), nature_cnn().to(dev)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=1e-4)
    obs = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8, device=dev)
    nxt = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8, device=dev)
    actions = torch.randint(0, 6, (32,), device=dev)
    rewards = torch.randint(0, 2, (32,), device=dev).float()
    term = torch.zeros(32, device=dev)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    def update():
        with autocast():
            with torch.no_grad():
                y = rewards + 0.99 * target(nxt.float() / 255.0).float().max(1).values * (1 - term)
            old = q(obs.float() / 255.0).float().gather(1, actions.unsqueeze(1)).squeeze(1)
            loss = F.smooth_l1_loss(old, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        update()
    sync()
    t = time.perf_counter()
    for _ in range(timed):
        update()
    sync()
    return timed / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--updates", type=int, default=50)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: the Nature-CNN updates' forward passes under torch.autocast")
    p.add_argument("--updates-only", action="store_true", help="skip the CartPole loop")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    dev = torch.device(a.device)
    if not a.updates_only:
        print(f"bench: app=dqn-pytorch metric=env_steps_per_s value={cartpole(dev, a.steps):.1f} unit=steps/s")
    ups = atari_updates(dev, a.updates, a.precision)
    print(f"bench: app=dqn-pytorch metric=updates_per_s value={ups:.2f} unit=updates/s precision={a.precision}")


if __name__ == "__main__":
    main()
