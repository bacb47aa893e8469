#!/usr/bin/env python3
"""The training rule of BPNet in plain numpy (matrix backprop, float32), for side-by-side timing.

For each mini-batch of m samples out of n:
  gW = (1/m) Σ δ·aᵀ, gb = (1/m) Σ δ;  vW = μ·vW − η·(gW + (λ/n)·W), W += vW;  vb = μ·vb − η·gb, b += vb.

Usage: numpy_sgd.py --layers 784,30,10 --batch-size 10 --learning-rate 3 --epochs 2 [--limit N]
Prints one JSON object per epoch with its seconds.
"""
import argparse, gzip, json, time
import numpy as np

FOLDER = "/usr/share/datasets/fashion-mnist"

def idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", default="784,30,10")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--learning-rate", type=float, default=3.0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=60000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    sizes = [int(s) for s in a.layers.split(",")]
    x = (idx(f"{FOLDER}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[: a.limit] / np.float32(255)).astype(np.float32)
    labels = idx(f"{FOLDER}/train-labels-idx1-ubyte.gz", 8)[: a.limit]
    y = np.zeros((len(labels), sizes[-1]), np.float32)
    y[np.arange(len(labels)), labels] = 1
    rng = np.random.default_rng(a.seed)
    W = [(rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32) for i, o in zip(sizes, sizes[1:])]
    b = [rng.standard_normal(o).astype(np.float32) for o in sizes[1:]]
    n, eta, m = len(x), np.float32(a.learning_rate), a.batch_size
    for epoch in range(1, a.epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n)
        for s in range(0, n, m):
            idx_ = order[s : s + m]
            acts = [x[idx_]]  # [m, n0], sample-major like BPNet
            for w, bias in zip(W, b):
                acts.append(1 / (1 + np.exp(-(acts[-1] @ w.T + bias))))
            out = acts[-1]
            delta = (out - y[idx_]) * out * (1 - out)  # quadratic cost
            rows = np.float32(len(idx_))
            for l in range(len(W) - 1, -1, -1):
                gW = delta.T @ acts[l]
                gb = delta.sum(axis=0)
                if l > 0:
                    prev = acts[l]
                    next_delta = (delta @ W[l]) * prev * (1 - prev)
                W[l] -= (eta / rows) * gW
                b[l] -= (eta / rows) * gb
                if l > 0:
                    delta = next_delta
        seconds = time.perf_counter() - start
        print(json.dumps({"epoch": epoch, "seconds": seconds, "samples_per_second": n / seconds}), flush=True)

if __name__ == "__main__":
    main()
