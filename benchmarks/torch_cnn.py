#!/usr/bin/env python3
"""Config E, the README's recipe CNN, in PyTorch CPU eager mode (autograd + torch.optim.Adam), for
side-by-side timing with `bpnet train --device cpu`.

It takes BPNet's options and builds the same network from them: `--layers` as `bpnet train` reads it
(an input CxHxW, then conv:C:K[:S[:P]], maxpool:K[:S], flatten and dense sizes), one activation per
weight layer (relu or sigmoid; softmax last, with --loss log-likelihood, which is cross-entropy on
the logits), --optimizer adam or sgd. Inputs are reshaped to N×C×H×W; the samples are shuffled every
epoch; each batch's loss and correct count are summed over the epoch, as BPNet's epoch does.
Usage: torch_cnn.py --layers 1x28x28,conv:32:3:1:1,maxpool:2,conv:64:3:1:1,maxpool:2,flatten,128,10
       --activations relu,relu,relu,softmax --loss log-likelihood --optimizer adam --learning-rate 0.001
       --batch-size 64 --epochs 2 [--limit N] [--threads N] [--profile]
Prints one JSON object per epoch with its seconds. --threads defaults to the threads BPNet's OpenBLAS
runs: OPENBLAS_NUM_THREADS when set, else every CPU this process may run on. --profile then trains one
more epoch under torch.profiler and prints its per-operator table (by self CPU time) to stderr.
"""
import argparse, json, os, sys, time
import torch
from fashion import training_set


def options():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", default="1x28x28,conv:32:3:1:1,maxpool:2,conv:64:3:1:1,maxpool:2,flatten,128,10")
    p.add_argument("--activations", default="relu,relu,relu,softmax")
    p.add_argument("--loss", default="log-likelihood", choices=["log-likelihood"])
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--learning-rate", type=float, default=0.001)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=60000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=blas_threads())
    p.add_argument("--profile", action="store_true", help="after the timed epochs, profile one more per operator (stderr)")
    return p.parse_args()


def blas_threads():
    """The threads OpenBLAS gives BPNet: OPENBLAS_NUM_THREADS, else the CPUs this process may use."""
    given = os.environ.get("OPENBLAS_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else len(os.sched_getaffinity(0))


def network(layers, activations):
    """The torch.nn.Sequential for BPNet's --layers and --activations; the last layer's softmax is
    left to the loss. Returns the model and the input's shape (C, H, W)."""
    tokens = layers.split(",")
    shape = [int(d) for d in tokens[0].split("x")]
    if len(shape) != 3:
        sys.exit(f"torch_cnn.py: the input must be CxHxW, got {tokens[0]}")
    input_shape = tuple(shape)
    functions = activations.split(",")
    modules, weights = [], 0

    def activation(last):
        nonlocal weights
        name = functions[weights] if weights < len(functions) else None
        weights += 1
        if last:
            if name != "softmax":
                sys.exit("torch_cnn.py: the last activation must be softmax (with the log-likelihood)")
            return []
        if name == "relu":
            return [torch.nn.ReLU()]
        if name == "sigmoid":
            return [torch.nn.Sigmoid()]
        sys.exit(f"torch_cnn.py: unsupported hidden activation {name!r}")

    for i, token in enumerate(tokens[1:]):
        last = i == len(tokens) - 2
        parts = token.split(":")
        if parts[0] == "conv":
            channels, kernel = int(parts[1]), int(parts[2])
            stride = int(parts[3]) if len(parts) > 3 else 1
            padding = int(parts[4]) if len(parts) > 4 else 0
            modules.append(torch.nn.Conv2d(shape[0], channels, kernel, stride=stride, padding=padding))
            shape = [channels, (shape[1] + 2 * padding - kernel) // stride + 1, (shape[2] + 2 * padding - kernel) // stride + 1]
            modules += activation(last)
        elif parts[0] == "maxpool":
            size = int(parts[1])
            stride = int(parts[2]) if len(parts) > 2 else size
            modules.append(torch.nn.MaxPool2d(size, stride=stride))
            shape = [shape[0], (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1]
        elif parts[0] == "flatten":
            modules.append(torch.nn.Flatten())
            shape = [shape[0] * shape[1] * shape[2]]
        else:
            outputs = int(token)
            if len(shape) != 1:  # BPNet flattens before a dense layer only where told; so does this
                sys.exit(f"torch_cnn.py: a dense layer needs a flat input (add flatten before {token})")
            modules.append(torch.nn.Linear(shape[0], outputs))
            shape = [outputs]
            modules += activation(last)
    if weights != len(functions):
        sys.exit(f"torch_cnn.py: {len(functions)} activations for {weights} weight layers")
    return torch.nn.Sequential(*modules), input_shape


def main():
    a = options()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model, input_shape = network(a.layers, a.activations)
    x, y = training_set(a.limit, 10)
    x = torch.from_numpy(x).reshape(-1, *input_shape).contiguous()
    labels = torch.from_numpy(y.argmax(1))
    if a.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=a.learning_rate)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=a.learning_rate)
    loss_function = torch.nn.CrossEntropyLoss()  # log-softmax + negative log-likelihood, mean over the batch
    n, m = len(x), a.batch_size
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model: {model}", file=sys.stderr)
    def epoch_pass():
        """One shuffled pass over the samples: its seconds, mean loss and accuracy."""
        start = time.perf_counter()
        order = torch.randperm(n)
        loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        for s in range(0, n, m):
            batch = order[s : s + m]
            target = labels[batch]
            optimizer.zero_grad(set_to_none=True)
            out = model(x[batch])
            loss = loss_function(out, target)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(batch)
                correct += (out.argmax(1) == target).sum()
        return time.perf_counter() - start, loss_sum.item() / n, correct.item() / n

    for epoch in range(1, a.epochs + 1):
        seconds, loss, accuracy = epoch_pass()
        print(json.dumps({"epoch": epoch, "train_loss": loss, "train_accuracy": accuracy, "seconds": seconds,
                          "samples_per_second": n / seconds, "threads": torch.get_num_threads()}), flush=True)
    if a.profile:
        # One more epoch, under the profiler, so that the timed epochs above carry none of its cost.
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            seconds, _, _ = epoch_pass()
        print(f"per-operator profile of one more epoch ({seconds:.3f} s under the profiler), by self CPU time:", file=sys.stderr)
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=30), file=sys.stderr)

if __name__ == "__main__":
    main()
