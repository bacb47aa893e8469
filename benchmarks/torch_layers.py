"""BPNet's `--layers` and `--activations` as a torch.nn.Sequential, for the PyTorch side of
`make torch-parity` (torch_parity.py) and of `make bench-compare` (torch_cnn.py).

The grammar is `bpnet train`'s: an input (n or CxHxW), then sizes (dense), conv:C:K[:S[:P]],
batchnorm, maxpool:K[:S], avgpool:K[:S], gap and flatten. A weight layer that a batch norm follows
has its activation after the batch norm, and no bias in PyTorch (BPNet keeps that bias at its
initial value, since its gradient is zero). The last layer's softmax is left to the loss
(cross-entropy on the logits is the softmax with the log-likelihood).
"""

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


def torch_model(layers, activations):
    """The Sequential, and its layers with parameters in BPNet's order (layers.{k}). `activations`
    is a list with one name per weight layer."""
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
            conv = torch.nn.Conv2d(shape[0], c, k, stride=s, padding=p, bias=not normalized)
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
            linear = torch.nn.Linear(int(np.prod(shape)), int(token), bias=not normalized)
            modules.append(linear)
            weight_layers.append(linear)
            shape = [int(token)]
        function = next(functions)
        if function != "softmax" and not normalized:  # the softmax is in the cross-entropy loss
            modules.append(activation_module(function))
    return torch.nn.Sequential(*modules), weight_layers
