"""Fashion-MNIST as the peer benchmarks read it: float32 pixels / 255 and one-hot labels."""
import gzip
import numpy as np

FOLDER = "/usr/share/datasets/fashion-mnist"


def idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def training_set(limit, classes):
    """The first `limit` training samples: x [n, 784] float32, y [n, classes] one-hot float32."""
    x = (idx(f"{FOLDER}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[:limit] / np.float32(255)).astype(np.float32)
    labels = idx(f"{FOLDER}/train-labels-idx1-ubyte.gz", 8)[:limit]
    y = np.zeros((len(labels), classes), np.float32)
    y[np.arange(len(labels)), labels] = 1
    return x, y


def arguments(description):
    import argparse
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--layers", default="784,30,10")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--learning-rate", type=float, default=3.0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=60000)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()
