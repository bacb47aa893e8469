#!/usr/bin/env python3
"""The training rule of BPNet in plain numpy (matrix backprop, float32), for side-by-side timing.

For each mini-batch of m samples out of n:
  gW = (1/m) Σ δ·aᵀ, gb = (1/m) Σ δ;  vW = μ·vW − η·(gW + (λ/n)·W), W += vW;  vb = μ·vb − η·gb, b += vb.

Usage: numpy_sgd.py --layers 784,30,10 --batch-size 10 --learning-rate 3 --epochs 2 [--limit N]
Prints one JSON object per epoch with its seconds.
"""
import json, time
import numpy as np
from fashion import arguments, training_set

def main():
    a = arguments(__doc__)
    sizes = [int(s) for s in a.layers.split(",")]
    x, y = training_set(a.limit, sizes[-1])
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
