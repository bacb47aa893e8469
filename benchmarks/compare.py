#!/usr/bin/env python3
"""`make bench-compare`: BPNet against its peers, measured side by side in one run.

- Training (configs A, B, C): BPNet's CPU backend, numpy (numpy_sgd.py) and, when installed,
  PyTorch CPU eager (torch_sgd.py), run in alternation, ROUNDS times each. Each run trains
  EPOCHS epochs; its figure is the median epoch after the first. Peak RSS comes from wait4.
- Training (config E, the README's recipe CNN at batch 64 with Adam): BPNet's CPU backend and,
  when installed, PyTorch CPU eager (torch_cnn.py, with as many threads as BPNet's OpenBLAS), the
  same way; numpy has no convolution, so it sits this one out. `torch_cnn.py --profile` gives
  PyTorch's per-operator profile to set beside `bpnet bench --configs E`'s breakdown.
- OpenCL training (config A): BPNet's OpenCL backend against tinygrad on the same device
  (tinygrad_sgd.py with DEV=CL and TinyJit), in alternation.
- GEMM: BPNet's tuned OpenCL kernels (`bpnet bench --gemm-only`) against CLBlast's SGEMM on the
  same device (clblast_sgemm), at the training shapes of batch 128 and more.
- CSV load: `bpnet bench --csv-load` (CSV.read, as `train --data` loads a file) against
  numpy.loadtxt (numpy_loadtxt.py, float32) on one generated file of 20,000 rows × 50 inputs and a
  label (about 19 MB), in alternation, CSV_ROUNDS times each (default 5); each side's figure is the
  median load, timed inside its process, with its peak RSS and its RSS before the load.
  `compare.py csv` runs this part alone and writes bench-compare-csv.json.
Ratios are peer time ÷ BPNet time (above 1: BPNet is faster), or BPNet rate ÷ peer rate.
Writes bench-compare.json.
Environment: EPOCHS (default 4), ROUNDS (default 2), CSV_ROUNDS (default 5); CONFIGS=E (letters
from ABCE) runs the CPU training of those configs alone, with no GEMM, OpenCL or CSV part and no
FMA peak (so no share of it); LIMIT=N trains every side on the first N samples instead of 60,000. Run it through `make bench-compare`, which unsets OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE for every process so that each side runs OpenBLAS's best kernel.
"""
import json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPNET = os.path.join(ROOT, ".build/release/bpnet")
CLBLAST = os.path.join(ROOT, ".build/bench/clblast_sgemm")
VENV_PYTHON = os.path.join(ROOT, ".build/bench/venv/bin/python3")
# Each config: BPNet's --layers, the batch size, the learning rate and any further options (none:
# sigmoid layers, the quadratic cost and SGD, as numpy_sgd.py and torch_sgd.py train).
RECIPE_CNN = "1x28x28,conv:32:3:1:1,batchnorm,maxpool:2,conv:64:3:1:1,batchnorm,maxpool:2,flatten,256,batchnorm,10"
CONFIGS = {
    "A": ("784,100,10", 10, 3.0, []),
    "B": ("784,100,10", 128, 3.0, []),
    "C": ("784,1024,1024,10", 128, 0.1, []),
    "E": (RECIPE_CNN, 64, 0.002, ["--activations", "relu,relu,relu,softmax", "--loss", "log-likelihood", "--optimizer", "adam",
                                  "--augment", "crop:2,flip"]),
}
SELECTED = os.environ.get("CONFIGS", "")  # empty: every part, every config
EPOCHS = int(os.environ.get("EPOCHS", "4"))
LIMIT = int(os.environ["LIMIT"]) if os.environ.get("LIMIT") else None
SAMPLES = LIMIT or 60_000  # Fashion-MNIST's training set, which every side trains on
ROUNDS = int(os.environ.get("ROUNDS", "2"))
CSV_ROUNDS = int(os.environ.get("CSV_ROUNDS", "5"))
CSV_FILE = os.path.join(ROOT, ".build/bench/csv-load.csv")


def run(command):
    """Runs a command; returns its JSON lines and its peak RSS in MiB."""
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        stderr = process.stderr.read().decode()
        process.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {stderr.strip()}")
        out.seek(0)
        lines = [json.loads(line) for line in out.read().decode().splitlines() if line.startswith("{")]
    return lines, usage.ru_maxrss / 1024


def arguments(config):
    """The options every side takes for `config`."""
    layers, batch, rate, more = CONFIGS[config]
    limit = ["--limit", str(LIMIT)] if LIMIT else []
    return ["--layers", layers, "--batch-size", str(batch), "--learning-rate", str(rate), "--epochs", str(EPOCHS)] + more + limit


def training(config):
    sides = {"bpnet cpu": [BPNET, "train", "--device", "cpu", "--json"]}
    if config == "E":  # a CNN: numpy_sgd.py has no convolution
        if has("torch"):
            sides["pytorch"] = [VENV_PYTHON, os.path.join(ROOT, "benchmarks/torch_cnn.py")]
    else:
        sides["numpy"] = [sys.executable, os.path.join(ROOT, "benchmarks/numpy_sgd.py")]
        if has("torch"):
            sides["pytorch"] = [VENV_PYTHON, os.path.join(ROOT, "benchmarks/torch_sgd.py")]
    return compare(sides, arguments(config))


def has(module):
    """Whether the benchmark virtual environment can import `module`."""
    return os.path.exists(VENV_PYTHON) and subprocess.run([VENV_PYTHON, "-c", f"import {module}"], capture_output=True).returncode == 0


def opencl_training(config):
    sides = {"bpnet opencl": [BPNET, "train", "--device", "opencl", "--json"]}
    if has("tinygrad"):
        sides["tinygrad"] = ["env", "DEV=CL", VENV_PYTHON, os.path.join(ROOT, "benchmarks/tinygrad_sgd.py")]
    return compare(sides, arguments(config))


def compare(sides, common):
    """Runs every side ROUNDS times in alternation; the median epoch after the first, and peak RSS."""
    seconds = {side: [] for side in sides}
    memory = {side: 0.0 for side in sides}
    for _ in range(ROUNDS):
        for side, command in sides.items():
            lines, rss = run(command + common)
            seconds[side].append(statistics.median(line["seconds"] for line in lines[1:]))
            memory[side] = max(memory[side], rss)
    return {side: {"seconds_per_epoch": statistics.median(values), "peak_rss_mib": memory[side]} for side, values in seconds.items()}


def training_flops(layers):
    """GEMM FLOPs of one sample's step, as `bpnet bench` counts them: every forward and gradient
    product, and every backward product but the first layer's, 2·n_in·n_out each, per row (a
    convolution has a row per output position, n_in = input channels·K², n_out = its channels).
    `layers` is BPNet's --layers: sizes, or an image CxHxW followed by conv, batchnorm, maxpool,
    avgpool, gap, flatten, sizes (batch norm and pooling do no GEMM)."""
    tokens = layers.split(",")
    shape = [int(d) for d in tokens[0].split("x")]
    products = []
    for token in tokens[1:]:
        parts = token.split(":")
        if parts[0] == "conv":
            channels, kernel = int(parts[1]), int(parts[2])
            stride = int(parts[3]) if len(parts) > 3 else 1
            padding = int(parts[4]) if len(parts) > 4 else 0
            size = [(d + 2 * padding - kernel) // stride + 1 for d in shape[1:]]
            products.append(2 * size[0] * size[1] * shape[0] * kernel * kernel * channels)
            shape = [channels] + size
        elif parts[0] == "batchnorm":
            continue
        elif parts[0] == "gap":
            shape = [shape[0], 1, 1]
        elif parts[0] in ("maxpool", "avgpool"):
            window = int(parts[1])
            stride = int(parts[2]) if len(parts) > 2 else window
            shape = [shape[0]] + [(d - window) // stride + 1 for d in shape[1:]]
        elif parts[0] == "flatten":
            shape = [shape[0] * shape[1] * shape[2]]
        else:
            products.append(2 * shape[0] * int(token))
            shape = [int(token)]
    return 3 * sum(products) - products[0]


def gemm():
    """BPNet's GEMM rates (`bpnet bench --gemm-only`, which also measures the FMA peak) against CLBlast's."""
    lines, _ = run([BPNET, "bench", "--gemm-only", "--output", os.path.join(ROOT, ".build/bench/gemm.json")])
    with open(os.path.join(ROOT, ".build/bench/gemm.json")) as f:
        bench = json.load(f)
    ours = bench["gemm"]
    shapes = sorted({(g["m"], g["n"], g["k"], g["product"]) for g in ours if max(g["m"], g["k"]) >= 128 and min(g["m"], g["n"], g["k"]) >= 100})
    transposes = {"fwd": (0, 1), "bwd": (0, 0), "grad": (1, 0)}
    arguments = [f"{m},{n},{k},{transposes[p][0]},{transposes[p][1]}" for m, n, k, p in shapes]
    peer, _ = run([CLBLAST] + arguments)
    rows = []
    for (m, n, k, product), clblast in zip(shapes, peer):
        rates = {g["backend"]: g["gflops"] for g in ours if (g["m"], g["n"], g["k"], g["product"]) == (m, n, k, product)}
        tuned = max(rate for name, rate in rates.items() if name.startswith("opencl") and "naive" not in name)
        rows.append({"product": product, "m": m, "n": n, "k": k, "bpnet_opencl": tuned, "openblas": rates["cpu"],
                     "clblast": clblast["gflops"], "share_of_openblas": tuned / rates["cpu"], "vs_clblast": tuned / clblast["gflops"]})
    return rows, bench["fma_peak"]["gflops"]


def csv_file():
    """The CSV file both sides load: 20,000 rows of 50 inputs in [0, 1) as Python prints a float
    (17 significant digits at most) and a class label in 0..9; made once, from a fixed seed."""
    if not os.path.exists(CSV_FILE):
        import random
        generator = random.Random(18)
        os.makedirs(os.path.dirname(CSV_FILE), exist_ok=True)
        with open(CSV_FILE + ".part", "w") as f:
            for _ in range(20_000):
                f.write(",".join(repr(generator.random()) for _ in range(50)) + f",{generator.randrange(10)}\n")
        os.replace(CSV_FILE + ".part", CSV_FILE)
    return CSV_FILE


def csv_load():
    """Both sides load the same file in alternation; the median seconds of one load, the peak RSS."""
    path = csv_file()
    sides = {"bpnet": [BPNET, "bench", "--csv-load", path],
             "numpy": [sys.executable, os.path.join(ROOT, "benchmarks/numpy_loadtxt.py"), path]}
    seconds = {side: [] for side in sides}
    memory = {side: {"peak_rss_mib": 0.0, "peak_rss_mib_before": 0.0} for side in sides}
    for _ in range(CSV_ROUNDS):
        for side, command in sides.items():
            lines, rss = run(command)
            seconds[side].append(lines[0]["seconds"])
            memory[side]["peak_rss_mib"] = max(memory[side]["peak_rss_mib"], rss)
            memory[side]["peak_rss_mib_before"] = max(memory[side]["peak_rss_mib_before"], lines[0]["peak_rss_mib_before"])
    result = {"file_mb": os.path.getsize(path) / 1e6, "rounds": CSV_ROUNDS}
    for side in sides:
        result[side] = {"seconds": statistics.median(seconds[side]), "all_seconds": seconds[side], **memory[side]}
    ours = result["bpnet"]["seconds"]
    print(f"CSV load: 20000 rows × 51 columns, {result['file_mb']:.1f} MB; median of {CSV_ROUNDS} loads (ratio = peer ÷ BPNet)")
    for side in sides:
        figures = result[side]
        print(f"{side:8} {figures['seconds']:7.3f} s  {figures['seconds'] / ours:5.2f}×  peak RSS {figures['peak_rss_mib']:5.0f} MiB "
              f"({figures['peak_rss_mib_before']:.0f} MiB before the load)", flush=True)
    return result


def main():
    if sys.argv[1:] == ["csv"]:
        report = {"environment": {k: os.environ.get(k, "(unset)") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
                  "csv_load": csv_load()}
        with open(os.path.join(ROOT, "bench-compare-csv.json"), "w") as f:
            json.dump(report, f, indent=2)
        print("wrote bench-compare-csv.json")
        return
    configs = list(CONFIGS) if not SELECTED else [c for c in CONFIGS if c in SELECTED.upper()]
    unknown = set(SELECTED.upper()) - set(CONFIGS) - set(", ")
    if unknown or (SELECTED and not configs):
        sys.exit(f"CONFIGS takes letters from {''.join(CONFIGS)}, got {SELECTED!r}")
    report = {"environment": {k: os.environ.get(k, "(unset)") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
              "epochs": EPOCHS, "rounds": ROUNDS, "samples": SAMPLES, "configs": "".join(configs), "training": {}, "gemm": []}
    for module in ("torch",) if SELECTED else ("torch", "tinygrad"):
        if not has(module):
            print(f"{module}: not installed in .build/bench/venv, so not measured (see the bench-compare target)")
    peak = None
    if not SELECTED:
        # The GEMM run first: it measures the FMA peak that every training figure is also a share of.
        gemm_rows, peak = gemm()
        report["fma_peak_gflops"] = peak
        print(f"FP32 FMA peak, measured in this run: {peak:.1f} GFLOP/s\n")
    print(f"Training on {SAMPLES} samples, median seconds per epoch (ratio = peer ÷ BPNet"
          + ("; GEMM GFLOP/s as a share of the peak)" if peak else ")"))
    for config in configs:
        result = training(config)
        report["training"][config] = result
        ours = result["bpnet cpu"]["seconds_per_epoch"]
        for side, figures in result.items():
            ratio = figures["seconds_per_epoch"] / ours
            figures["ratio_to_bpnet"] = ratio
            gflops = training_flops(CONFIGS[config][0]) * SAMPLES / figures["seconds_per_epoch"] / 1e9
            figures["gflops"] = gflops
            share = ""
            if peak:
                figures["share_of_peak"] = gflops / peak
                share = f"{100 * gflops / peak:5.1f}% of peak  "
            print(f"{config}  {side:10} {figures['seconds_per_epoch']:8.3f} s/epoch  {ratio:5.2f}×  {gflops:6.1f} GFLOP/s  {share}"
                  f"peak RSS {figures['peak_rss_mib']:6.0f} MiB", flush=True)
    if SELECTED:
        with open(os.path.join(ROOT, "bench-compare.json"), "w") as f:
            json.dump(report, f, indent=2)
        print("wrote bench-compare.json (CONFIGS: training only)")
        return
    print("\nOpenCL training on the same device, config A (ratio = peer ÷ BPNet)")
    result = opencl_training("A")
    report["opencl_training"] = {"A": result}
    ours = result["bpnet opencl"]["seconds_per_epoch"]
    for side, figures in result.items():
        print(f"A  {side:12} {figures['seconds_per_epoch']:8.3f} s/epoch  {figures['seconds_per_epoch'] / ours:6.2f}×", flush=True)
    print("\nGEMM on the OpenCL device, GFLOP/s (BPNet tuned ÷ OpenBLAS, BPNet ÷ CLBlast)")
    for row in gemm_rows:
        report["gemm"].append(row)
        print(f"{row['product']:5} {row['m']}×{row['n']}×{row['k']:<6} BPNet {row['bpnet_opencl']:6.1f}  OpenBLAS {row['openblas']:6.1f}  "
              f"CLBlast {row['clblast']:5.1f}  {100 * row['share_of_openblas']:4.0f}% of OpenBLAS  {row['vs_clblast']:4.1f}× CLBlast", flush=True)
    print()
    report["csv_load"] = csv_load()
    with open(os.path.join(ROOT, "bench-compare.json"), "w") as f:
        json.dump(report, f, indent=2)
    print("wrote bench-compare.json")


if __name__ == "__main__":
    main()
