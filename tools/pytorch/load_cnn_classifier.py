"""Loads a cnn-classifier checkpoint (model cnn, dataset mnist) into PyTorch's own examples/mnist
Net, strictly (every name and shape must match), and measures its MNIST test accuracy.

Run: python3 tools/pytorch/load_cnn_classifier.py RUN_DIR   (needs torch, safetensors, numpy)
"""
import json, os, sys

import numpy as np
import torch
from safetensors.torch import load_file
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'bench'))
from cnn_classifier import Net
run = sys.argv[1]
net = Net(); state = load_file(f'{run}/checkpoints/best.safetensors')
missing = net.load_state_dict(state, strict=True); net.eval()
extra = json.load(open(f'{run}/checkpoints/best.json'))['extra']
mean, std = extra['norm']['mean'][0], extra['norm']['std'][0]
d = os.path.expanduser(os.environ.get('DL_SHOWCASES_DATA', '~/.cache/dl-showcases/data')) + '/mnist/'
x = np.frombuffer(open(d+'t10k-images-idx3-ubyte','rb').read()[16:], np.uint8).reshape(-1,1,28,28)
y = np.frombuffer(open(d+'t10k-labels-idx1-ubyte','rb').read()[8:], np.uint8)
with torch.no_grad():
    logits = net((torch.tensor(x, dtype=torch.float32)/255 - mean)/std)
print('PyTorch accuracy of the Rust checkpoint:', (logits.argmax(1).numpy() == y).mean(), 'norm', mean, std)
