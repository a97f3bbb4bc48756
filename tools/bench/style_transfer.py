"""The PyTorch side of `style-transfer bench`: VGG19 features (torchvision's layout, written out
here) with random frozen Kaiming-normal weights (fan-in, ReLU gain, zero bias), Caffe
preprocessing (BGR, 0..255, ImageNet mean), a 1x3xSxS image in 0..1 as the only parameter;
content MSE at conv4_2 and style Gram (F F^T / (C H W)) MSE at conv1_1..conv5_1, all at the
convolution outputs (before the ReLU), each averaged over its layers; mean-squared total
variation; weights 1 / 1e4 / 1e-2; Adam at 0.02. One iteration: forward to conv5_1, losses,
backward (to the image only), Adam step. Same thread count, warm-up then timed iterations.

Run: python3 tools/bench/style_transfer.py [--threads 2] [--size 256] [--iterations 10] [--device cpu]
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BLOCKS = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]
MEAN_BGR = [103.939, 116.779, 123.68]
CONTENT = ["conv4_2"]
STYLE = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]


class Vgg19(nn.Module):
    def __init__(self):
        super().__init__()
        self.names, layers, inputs = [], [], 3
        for b, (channels, n) in enumerate(BLOCKS, 1):
            for i in range(1, n + 1):
                conv = nn.Conv2d(inputs, channels, 3, padding=1)
                nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(conv.bias)
                layers += [conv, nn.ReLU()]
                self.names += [f"conv{b}_{i}", f"relu{b}_{i}"]
                inputs = channels
            layers.append(nn.MaxPool2d(2, 2))
            self.names.append(f"pool{b}")
        self.layers = nn.ModuleList(layers)
        self.register_buffer("mean", torch.tensor(MEAN_BGR).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def forward(self, rgb, wanted):
        x = rgb.flip(1) * 255.0 - self.mean
        deepest = max(self.names.index(n) for n in wanted)
        out = {}
        for name, layer in zip(self.names[: deepest + 1], self.layers):
            x = layer(x)
            if name in wanted:
                out[name] = x
        return [out[n] for n in wanted]


def gram(f):
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def tv(x):
    return (x[:, :, 1:] - x[:, :, :-1]).square().mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).square().mean()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    vgg = Vgg19().to(dev)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    def rate(size, warmup, iterations):
        content = torch.rand(1, 3, size, size, device=dev)
        style = torch.rand(1, 3, size, size, device=dev)
        with torch.no_grad():
            targets_c = vgg(content, CONTENT)
            targets_s = [gram(f) for f in vgg(style, STYLE)]
        image = torch.rand_like(content).requires_grad_(True)
        opt = torch.optim.Adam([image], lr=0.02)
        for i in range(warmup + iterations):
            if i == warmup:
                sync()
                start = time.perf_counter()
            opt.zero_grad()
            feats = vgg(image, CONTENT + STYLE)
            content_loss = torch.stack([F.mse_loss(f, t) for f, t in zip(feats[:1], targets_c)]).mean()
            style_loss = torch.stack([F.mse_loss(gram(f), t) for f, t in zip(feats[1:], targets_s)]).mean()
            loss = content_loss + 1e4 * style_loss + 1e-2 * tv(image)
            loss.backward()
            opt.step()
        loss.item()
        sync()
        return iterations / (time.perf_counter() - start)

    print(f"seconds per iteration at 512 px: {1.0 / rate(512, 1, 2):.2f}")
    r = rate(a.size, a.warmup, a.iterations)
    print(f"torch {torch.__version__}, {a.size}x{a.size}, {a.iterations} iterations on {dev}, {a.threads} threads")
    print(f"bench: app=style-transfer-pytorch metric=iters_per_s value={r:.3f} unit=iters/s")


if __name__ == "__main__":
    main()
