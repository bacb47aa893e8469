#!/usr/bin/env python3
"""BPNet's training rule under PyTorch DistributedDataParallel (gloo), for side-by-side timing.

The same network and cost as torch_sgd.py. Each of --ranks processes, with one thread each,
takes its shard of every global batch of --batch-size samples; DDP sums the gradients.
Usage: ddp_sgd.py --layers 784,1024,1024,10 --batch-size 128 --epochs 1 --ranks 2
Prints one JSON object per epoch, from rank 0, with its seconds.
"""
import json, os, time
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from fashion import arguments, training_set


def run(rank, a):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{a.port}", rank=rank, world_size=a.ranks)
    torch.manual_seed(a.seed)
    sizes = [int(s) for s in a.layers.split(",")]
    x, y = (torch.from_numpy(t) for t in training_set(a.limit, sizes[-1]))
    layers = []
    for i, o in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(i, o), torch.nn.Sigmoid()]
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Sequential(*layers))
    optimizer = torch.optim.SGD(model.parameters(), lr=a.learning_rate)
    n, m = len(x), a.batch_size
    generator = torch.Generator().manual_seed(a.seed)
    for epoch in range(1, a.epochs + 1):
        dist.barrier()
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator)  # the same on every rank
        for s in range(0, n, m):
            batch = order[s : s + m]
            shard = batch[rank :: a.ranks]
            optimizer.zero_grad(set_to_none=True)
            out = model(x[shard])
            # Each rank's mean over its shard; DDP averages across ranks.
            loss = 0.5 * ((out - y[shard]) ** 2).sum() / len(shard)
            loss.backward()
            optimizer.step()
        dist.barrier()
        seconds = time.perf_counter() - start
        if rank == 0:
            print(json.dumps({"epoch": epoch, "seconds": seconds, "samples_per_second": n / seconds}), flush=True)
    dist.destroy_process_group()


def main():
    import argparse, sys
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--ranks", type=int, default=2)
    extra.add_argument("--port", type=int, default=29517)
    known, rest = extra.parse_known_args()
    sys.argv = [sys.argv[0]] + rest
    a = arguments(__doc__)
    a.ranks, a.port = known.ranks, known.port
    mp.spawn(run, args=(a,), nprocs=a.ranks, join=True)


if __name__ == "__main__":
    main()
