"""Trains the same small network in BPNet and in PyTorch from the same weights, on the same
batches, and compares the weights after it: a check, against PyTorch itself, of the rules that
BPNet says it takes from PyTorch (RMSprop, Adam, clip_grad_norm_, AvgPool2d, AdaptiveAvgPool2d,
Conv2d, MaxPool2d, BatchNorm2d and BatchNorm1d with their running statistics, GELU, LeakyReLU, the
flatten order, the layouts of model files). A weight layer that a batch norm follows is built with
bias=False in PyTorch: BPNet keeps that bias at its initial value, zero here.

Run it where PyTorch is installed, e.g. `make bench-compare`'s environment:

    .build/bench/venv/bin/python benchmarks/torch_parity.py [path/to/bpnet]

It needs no other package: safetensors files are read and written by hand (an 8-byte header
length, a JSON header, then the raw little-endian tensors). Exits non-zero if any case's relative
error passes 1e-4 (float32 against float32, different summation orders).
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "examples"))
from bpnet_torch import sequential  # noqa: E402  (the PyTorch example of docs/onnx.md)

CASES = [
    # (name, --layers, activations, BPNet options, PyTorch optimizer of (weights, biases, n), clip
    # norm). BPNet's L2 term is (λ/n)·W on weights alone: PyTorch's weight_decay λ/n on the weights' group.
    ("rmsprop, momentum, L2, clipping; conv, avgpool, gap",
     "2x9x7,conv:4:3:1:1,avgpool:2,conv:6:3:1:1,gap,flatten,3", ["relu", "relu", "softmax"],
     ["--optimizer", "rmsprop", "--learning-rate", "0.01", "--momentum", "0.5", "--l2", "0.7", "--clip-norm", "0.3"],
     lambda w, b, n: torch.optim.RMSprop(
         [{"params": w, "weight_decay": 0.7 / n}, {"params": b}], lr=0.01, alpha=0.99, eps=1e-8, momentum=0.5), 0.3),
    ("adam, clipping; conv, maxpool, overlapping avgpool",
     "1x8x8,conv:3:3,maxpool:2,avgpool:2:1,flatten,5,3", ["tanh", "relu", "softmax"],
     ["--optimizer", "adam", "--learning-rate", "0.01", "--clip-norm", "0.05"],
     lambda w, b, n: torch.optim.Adam(w + b, lr=0.01), 0.05),
    ("rmsprop without momentum; dense",
     "12,7,3", ["sigmoid", "softmax"],
     ["--optimizer", "rmsprop", "--alpha", "0.9"],
     lambda w, b, n: torch.optim.RMSprop(w + b, lr=0.01, alpha=0.9), None),
    ("sgd, momentum, L2; batch norm after conv and dense, GELU, leaky ReLU",
     "2x7x6,conv:4:3:1:1,batchnorm,maxpool:2,flatten,9,batchnorm,3", ["gelu", "leaky-relu:0.2", "softmax"],
     ["--learning-rate", "0.1", "--momentum", "0.5", "--l2", "0.7"],
     lambda w, b, n: torch.optim.SGD([{"params": w, "weight_decay": 0.7 / n}, {"params": b}], lr=0.1, momentum=0.5), None),
    ("adam; batch norm, two convolutions",
     "1x8x7,conv:3:3,batchnorm,conv:5:2:2,batchnorm,flatten,3", ["relu", "leaky-relu", "softmax"],
     ["--optimizer", "adam", "--learning-rate", "0.01"],
     lambda w, b, n: torch.optim.Adam(w + b, lr=0.01), None),
]
SAMPLES, BATCH, EPOCHS = 37, 8, 2


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    body = raw[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(entry["shape"])
    return tensors


def bias(layer):
    """A layer's bias, zeros where it has none (BPNet's bias before a batch norm)."""
    return layer.bias if layer.bias is not None else torch.zeros(layer.weight.shape[0])


def run_case(bpnet, folder, case, seed):
    name, layers, activations, options, make_optimizer, clip = case
    torch.manual_seed(seed)
    model, weight_layers = sequential(layers, activations, bias_before_batch_norm=False)
    inputs = int(np.prod([int(v) for v in layers.split(",")[0].split("x")]))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (SAMPLES, inputs)).astype(np.float32)
    labels = rng.integers(0, 3, SAMPLES)
    data = os.path.join(folder, "data.csv")
    np.savetxt(data, np.column_stack([x, labels]), delimiter=",", fmt="%.9g")
    start = {}
    for k, layer in enumerate(weight_layers):
        start[f"layers.{k}.weight"] = layer.weight.detach().numpy().copy()
        start[f"layers.{k}.bias"] = bias(layer).detach().numpy().copy()
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            start[f"layers.{k}.running_mean"] = layer.running_mean.numpy().copy()
            start[f"layers.{k}.running_var"] = layer.running_var.numpy().copy()
    init, out = os.path.join(folder, "init.safetensors"), os.path.join(folder, "out.safetensors")
    write_safetensors(init, start)
    command = [bpnet, "train", "--data", data, "--layers", layers, "--activations", ",".join(activations),
               "--loss", "log-likelihood", "--init", init, "--save", out, "--no-shuffle", "--batch-size", str(BATCH),
               "--epochs", str(EPOCHS), "--device", os.environ.get("BPNET_DEVICE", "cpu"), "--quiet", "--json"] + options
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{name}: bpnet failed: {result.stderr.strip()}")
    # Weights decay; biases, γ and β do not (BPNet's L2 acts on conv and dense weights alone).
    norms = [l for l in weight_layers if isinstance(l, torch.nn.modules.batchnorm._BatchNorm)]
    decaying = [l.weight for l in weight_layers if l not in norms]
    others = [l.bias for l in weight_layers if l.bias is not None and l not in norms] + [p for l in norms for p in (l.weight, l.bias)]
    optimizer = make_optimizer(decaying, others, SAMPLES)
    images = torch.from_numpy(x).reshape([-1] + [int(v) for v in layers.split(",")[0].split("x")])
    targets = torch.from_numpy(labels)
    clipped, steps = 0, 0
    for _ in range(EPOCHS):
        for begin in range(0, SAMPLES, BATCH):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(images[begin:begin + BATCH]), targets[begin:begin + BATCH])
            loss.backward()
            if clip is not None:
                clipped += int(torch.nn.utils.clip_grad_norm_(model.parameters(), clip) > clip)
            steps += 1
            optimizer.step()
    trained = read_safetensors(out)
    roles = lambda layer: ["weight", "bias"] + (["running_mean", "running_var"] if layer in norms else [])
    values = {"weight": lambda l: l.weight, "bias": bias, "running_mean": lambda l: l.running_mean, "running_var": lambda l: l.running_var}
    theirs = np.concatenate([values[role](layer).detach().numpy().ravel() for layer in weight_layers for role in roles(layer)])
    mine = np.concatenate([trained[f"layers.{k}.{role}"].ravel() for k, layer in enumerate(weight_layers) for role in roles(layer)])
    before = np.concatenate([start[f"layers.{k}.{role}"].ravel() for k, layer in enumerate(weight_layers) for role in roles(layer)])
    moved = np.linalg.norm(theirs - before) / np.linalg.norm(theirs)
    return np.linalg.norm(mine - theirs) / np.linalg.norm(theirs), moved, f"{clipped} of {steps} steps clipped" if clip else ""


def main():
    bpnet = sys.argv[1] if len(sys.argv) > 1 else ".build/release/bpnet"
    torch.set_num_threads(1)
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for seed, case in enumerate(CASES):
            error, moved, clipping = run_case(bpnet, folder, case, seed)
            worst = max(worst, error)
            print(f"{case[0]:55s} relative error {error:.2e}  (the weights moved {moved:.2e}) {clipping}")
    if worst > 1e-4:
        sys.exit(f"relative error {worst:.2e} is past 1e-4")


if __name__ == "__main__":
    main()
