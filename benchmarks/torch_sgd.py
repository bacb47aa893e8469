#!/usr/bin/env python3
"""BPNet's training rule in PyTorch CPU eager mode (autograd + torch.optim.SGD), for side-by-side timing.

Cost per batch: (1/m) Σ ½‖σ-network(x) − y‖², plain SGD with learning rate η: the quadratic rule.
Usage: torch_sgd.py --layers 784,30,10 --batch-size 10 --learning-rate 3 --epochs 2
Prints one JSON object per epoch with its seconds.
"""
import json, time
import torch
from fashion import arguments, training_set

def main():
    a = arguments(__doc__)
    torch.manual_seed(a.seed)
    sizes = [int(s) for s in a.layers.split(",")]
    x, y = (torch.from_numpy(t) for t in training_set(a.limit, sizes[-1]))
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
