#!/usr/bin/env python3
"""BPNet's training rule in PyTorch CPU eager mode (autograd + torch.optim.SGD), for side-by-side timing.

Cost per batch: (1/m) Σ ½‖σ-network(x) − y‖², plain SGD with learning rate η: the quadratic rule.
Usage: torch_sgd.py --layers 784,30,10 --batch-size 10 --learning-rate 3 --epochs 2
Prints one JSON object per epoch with its seconds.
"""
import argparse, gzip, json, time
import numpy as np
import torch

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
    a = p.parse_args()
    torch.manual_seed(0)
    sizes = [int(s) for s in a.layers.split(",")]
    x = torch.from_numpy((idx(f"{FOLDER}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[: a.limit] / 255).astype(np.float32))
    labels = torch.from_numpy(idx(f"{FOLDER}/train-labels-idx1-ubyte.gz", 8)[: a.limit].astype(np.int64))
    y = torch.nn.functional.one_hot(labels, sizes[-1]).float()
    layers = []
    for i, o in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(i, o), torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=a.learning_rate)
    n, m = len(x), a.batch_size
    for epoch in range(1, a.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(n)
        for s in range(0, n, m):
            batch = order[s : s + m]
            optimizer.zero_grad(set_to_none=True)
            out = model(x[batch])
            loss = 0.5 * ((out - y[batch]) ** 2).sum() / len(batch)
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        print(json.dumps({"epoch": epoch, "seconds": seconds, "samples_per_second": n / seconds}), flush=True)

if __name__ == "__main__":
    main()
