#!/usr/bin/env python3
"""Config E, the README's recipe CNN, in PyTorch CPU eager mode (autograd + torch.optim.Adam), for
side-by-side timing with `bpnet train --device cpu`.

It takes BPNet's options and builds the same network from them (`sequential` of docs/examples/bpnet_torch.py): `--layers` as
`bpnet train` reads it, one activation per weight layer (softmax last, with --loss log-likelihood,
which is cross-entropy on the logits), --optimizer adam or sgd, and --augment crop:P,flip, done on
each batch as one gather, as BPNet does it where the batch is gathered. Inputs are reshaped to
N×C×H×W; the samples are shuffled every epoch; each batch's loss and correct count are summed over
the epoch, as BPNet's epoch does.
Usage: torch_cnn.py --layers 1x28x28,conv:32:3:1:1,batchnorm,maxpool:2,conv:64:3:1:1,batchnorm,maxpool:2,flatten,256,batchnorm,10
       --activations relu,relu,relu,softmax --loss log-likelihood --optimizer adam --learning-rate 0.002
       --augment crop:2,flip --batch-size 64 --epochs 2 [--limit N] [--threads N] [--profile]
Prints one JSON object per epoch with its seconds. --threads defaults to the threads BPNet's OpenBLAS
runs: OPENBLAS_NUM_THREADS when set, else every CPU this process may run on. --profile then trains one
more epoch under torch.profiler and prints its per-operator table (by self CPU time) to stderr.
"""
import argparse, json, os, sys, time
import torch
from fashion import training_set
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "examples"))
from bpnet_torch import sequential  # noqa: E402  (the PyTorch example of docs/onnx.md)


def options():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", default="1x28x28,conv:32:3:1:1,batchnorm,maxpool:2,conv:64:3:1:1,batchnorm,maxpool:2,flatten,256,batchnorm,10")
    p.add_argument("--activations", default="relu,relu,relu,softmax")
    p.add_argument("--loss", default="log-likelihood", choices=["log-likelihood"])
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--learning-rate", type=float, default=0.002)
    p.add_argument("--augment", default="none", help="crop:P, flip, both (crop:2,flip) or none")
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


def augmentation(text):
    """`--augment`'s form, as `bpnet train` reads it: crop:P, flip, both, or none. Returns (P, flip)."""
    padding, flip = 0, False
    for item in ([] if text == "none" else text.split(",")):
        if item == "flip" and not flip:
            flip = True
        elif item.startswith("crop:") and padding == 0 and item[5:].isdigit() and int(item[5:]) > 0:
            padding = int(item[5:])
        else:
            sys.exit(f"torch_cnn.py: --augment {text!r}: {item!r} is not crop:P or flip")
    return padding, flip


def augment(images, padding, flip):
    """BPNet's augmentation of a batch N×C×H×W, as one gather: each image shifted by a random
    (dy, dx) in [-P, P]² with zeros where it leaves the frame (a random crop of the zero-padded
    image), then mirrored left to right with probability ½."""
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4).permute(0, 2, 3, 1)  # N×(H+2P)×(W+2P)×C
    dy = torch.randint(0, 2 * padding + 1, (n, 1))
    dx = torch.randint(0, 2 * padding + 1, (n, 1))
    columns = torch.arange(w).expand(n, w)
    if flip:
        columns = torch.where(torch.rand(n, 1) < 0.5, w - 1 - columns, columns)
    rows = torch.arange(h) + dy  # N×H
    columns = columns + dx  # N×W
    batch = torch.arange(n)[:, None, None]
    return padded[batch, rows[:, :, None], columns[:, None, :]].permute(0, 3, 1, 2)


def main():
    a = options()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    functions = a.activations.split(",")
    if functions[-1] != "softmax":
        sys.exit("torch_cnn.py: the last activation must be softmax (with the log-likelihood)")
    try:
        model, _ = sequential(a.layers, functions, bias_before_batch_norm=False)
    except ValueError as error:
        sys.exit(f"torch_cnn.py: {error}")
    input_shape = tuple(int(d) for d in a.layers.split(",")[0].split("x"))
    if len(input_shape) != 3:
        sys.exit(f"torch_cnn.py: the input must be CxHxW, got {a.layers.split(',')[0]}")
    padding, flip = augmentation(a.augment)
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
            images = x[batch]
            if padding or flip:
                images = augment(images, padding, flip)
            out = model(images)
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
