"""A BPNet model file in PyTorch: the torch.nn.Sequential that computes what the model does, with
the model's weights, read through safetensors.

    python bpnet_torch.py MODEL.safetensors INPUTS.csv [--expect PREDICTIONS.csv]

prints the model's outputs for each row of INPUTS.csv (flat rows, as `bpnet predict --input` reads
them), nine significant digits a value, as `bpnet predict` prints them; with --expect, it also
checks them against a file that `bpnet predict` wrote, within 1e-5 relative error. In your own code:

    from bpnet_torch import load
    model, input_shape = load("model.safetensors")   # model.eval() is set
    outputs = model(torch.rand(8, *input_shape))

BPNet's tensor `layers.{k}.weight` (k counts the layers with parameters: dense, conv and batch
norm) is the Sequential's `{i}.weight`, i its index among all the modules; `bias`, `running_mean`
and `running_var` likewise. Needs torch and safetensors (pip install torch safetensors).
The grammar is `bpnet train`'s `--layers`: an input (n or CxHxW), then sizes (dense),
conv:C:K[:S[:P]], batchnorm, maxpool:K[:S], avgpool:K[:S], gap and flatten. A weight layer that a
batch norm follows has its activation after the batch norm. Its bias has a zero gradient, so BPNet
keeps it at its initial value; the running mean has it added, so a loaded model keeps it.
`make torch-parity` runs this example, and benchmarks/torch_parity.py and torch_cnn.py build their
networks with `sequential`.
"""

import argparse
import sys

import numpy as np
import torch


MODULES = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU,
           "identity": torch.nn.Identity}


def activation_module(name):
    """The module for one of BPNet's hidden activations (softmax is the loss's)."""
    if name.startswith("leaky-relu"):
        return torch.nn.LeakyReLU(float(name.split(":")[1]) if ":" in name else 0.01)
    if name not in MODULES:
        raise ValueError(f"no PyTorch module for the activation {name!r} here")
    return MODULES[name]()


def sequential(layers, activations, bias_before_batch_norm=True):
    """The Sequential, and its layers with parameters in BPNet's order (layers.{k}). `activations`
    is a list with one name per weight layer. Without `bias_before_batch_norm`, a weight layer that
    a batch norm follows has no bias, as a network trained from scratch in PyTorch would."""
    if len(activations) != sum(1 for t in layers.split(",")[1:] if t.split(":")[0] == "conv" or t.isdigit()):
        raise ValueError(f"{len(activations)} activations for the weight layers of {layers}")
    tokens = layers.split(",")
    shape = [int(v) for v in tokens[0].split("x")]
    modules, weight_layers, functions = [], [], iter(activations)
    for index, token in enumerate(tokens[1:], start=1):
        fields = token.split(":")
        normalized = index + 1 < len(tokens) and tokens[index + 1] == "batchnorm"
        if fields[0] == "batchnorm":
            norm = torch.nn.BatchNorm2d(shape[0]) if len(shape) == 3 else torch.nn.BatchNorm1d(shape[0])
            modules.append(norm)
            weight_layers.append(norm)
            modules.append(activation_module(function))
            continue
        if fields[0] == "conv":
            c, k = int(fields[1]), int(fields[2])
            s = int(fields[3]) if len(fields) > 3 else 1
            p = int(fields[4]) if len(fields) > 4 else 0
            conv = torch.nn.Conv2d(shape[0], c, k, stride=s, padding=p, bias=bias_before_batch_norm or not normalized)
            modules.append(conv)
            weight_layers.append(conv)
            shape = [c, (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1]
        elif fields[0] in ("maxpool", "avgpool"):
            k = int(fields[1])
            s = int(fields[2]) if len(fields) > 2 else k
            pool = torch.nn.MaxPool2d(k, s) if fields[0] == "maxpool" else torch.nn.AvgPool2d(k, s)
            modules.append(pool)
            shape = [shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1]
            continue
        elif fields[0] == "gap":
            modules.append(torch.nn.AdaptiveAvgPool2d(1))
            shape = [shape[0], 1, 1]
            continue
        elif fields[0] == "flatten":
            modules.append(torch.nn.Flatten())
            shape = [int(np.prod(shape))]
            continue
        else:
            linear = torch.nn.Linear(int(np.prod(shape)), int(token), bias=bias_before_batch_norm or not normalized)
            modules.append(linear)
            weight_layers.append(linear)
            shape = [int(token)]
        function = next(functions)
        if function != "softmax" and not normalized:  # the softmax is in the cross-entropy loss
            modules.append(activation_module(function))
    return torch.nn.Sequential(*modules), weight_layers


def load(path):
    """The model in `path` as an evaluation-mode Sequential whose last module is the output's
    activation (softmax included), and one sample's input shape."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, "pt") as f:
        metadata = f.metadata() or {}
    if "layers" not in metadata or "activations" not in metadata:
        sys.exit(f"{path}: no layers and activations in its metadata: give a model file of BPNet's version 2 or 3")
    layers, activations = metadata["layers"], metadata["activations"].split(",")
    model, parameter_layers = sequential(layers, activations)
    if activations[-1] == "softmax":
        model.append(torch.nn.Softmax(dim=1))
    index = {id(module): i for i, module in enumerate(model)}
    tensors = load_file(path)
    state = {}
    for k, layer in enumerate(parameter_layers):
        for name in ("weight", "bias", "running_mean", "running_var"):
            key = f"layers.{k}.{name}"
            if key in tensors and hasattr(layer, name) and getattr(layer, name) is not None:
                state[f"{index[id(layer)]}.{name}"] = tensors[key]
    missing, unexpected = model.load_state_dict(state, strict=False)
    # A batch norm's num_batches_tracked is PyTorch's own counter, which BPNet does not keep.
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"{path}: tensors missing {missing}, unexpected {unexpected}")
    shape = [int(d) for d in layers.split(",")[0].split("x")]
    return model.eval(), shape


def main():
    parser = argparse.ArgumentParser(description="A BPNet model's outputs, computed by PyTorch.")
    parser.add_argument("model")
    parser.add_argument("inputs")
    parser.add_argument("--expect", help="bpnet predict's output for the same inputs, to compare with (1e-5)")
    options = parser.parse_args()
    model, shape = load(options.model)
    x = torch.from_numpy(np.loadtxt(options.inputs, delimiter=",", dtype=np.float32, ndmin=2)).reshape(-1, *shape)
    with torch.no_grad():
        y = model(x).reshape(len(x), -1).double().numpy()
    np.savetxt(sys.stdout, y, delimiter=",", fmt="%.9g")
    if options.expect:
        expected = np.loadtxt(options.expect, delimiter=",", ndmin=2)
        if y.shape != expected.shape:
            sys.exit(f"PyTorch's outputs are {y.shape}, {options.expect} holds {expected.shape}")
        error = np.linalg.norm(y - expected) / np.linalg.norm(expected)
        print(f"relative error against {options.expect}: {error:.2e}", file=sys.stderr)
        if not error <= 1e-5:
            sys.exit(f"PyTorch's outputs differ from BPNet's: relative error {error:.2e}")


if __name__ == "__main__":
    main()
