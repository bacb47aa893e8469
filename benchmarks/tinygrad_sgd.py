#!/usr/bin/env python3
"""BPNet's training rule in tinygrad on its OpenCL backend (DEV=CL), for side-by-side timing.

Cost per batch: (1/m) Σ ½‖σ-network(x) − y‖², plain SGD with learning rate η: the quadratic rule.
Usage: DEV=CL tinygrad_sgd.py --layers 784,100,10 --batch-size 10 --learning-rate 3 --epochs 2
Prints one JSON object per epoch with its seconds.
"""
import json, time
import numpy as np
from tinygrad import Context, Tensor, TinyJit, nn
from fashion import arguments, training_set

def main():
    a = arguments(__doc__)
    Tensor.manual_seed(a.seed)
    sizes = [int(s) for s in a.layers.split(",")]
    x_host, y_host = training_set(a.limit, sizes[-1])
    x, y = Tensor(x_host).realize(), Tensor(y_host).realize()  # resident on the device, as in BPNet
    layers = [nn.Linear(i, o) for i, o in zip(sizes, sizes[1:])]
    optimizer = nn.optim.SGD(nn.state.get_parameters(layers), lr=a.learning_rate)
    rng = np.random.default_rng(a.seed)
    n, m = len(x_host), a.batch_size
    def step(batch):
        out = x[batch]
        for layer in layers:
            out = layer(out).sigmoid()
        loss = 0.5 * ((out - y[batch]) ** 2).sum() / batch.shape[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    # TinyJit replays the captured kernels for full batches; the partial last batch runs eagerly.
    jitted = TinyJit(step)
    with Context(TRAINING=1):
        for epoch in range(1, a.epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n).astype(np.int32)
            for s in range(0, n, m):
                indices = order[s : s + m]
                (jitted if len(indices) == m else step)(Tensor(indices).realize()).realize()
            seconds = time.perf_counter() - start
            print(json.dumps({"epoch": epoch, "seconds": seconds, "samples_per_second": n / seconds}), flush=True)

if __name__ == "__main__":
    main()
