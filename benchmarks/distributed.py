#!/usr/bin/env python3
"""`make bench-distributed`: config C (784-1024-1024-10, batch 128) trained for one epoch by
  1. one bpnet process with 2 OpenBLAS threads,
  2. `mpirun -np 2 bpnet train --distributed`, 1 thread per rank,
  3. PyTorch DistributedDataParallel (gloo), 2 ranks of 1 thread (benchmarks/ddp_sgd.py),
side by side in one run; then the scaling model of docs/distributed.md from the measured step time.
Writes .build/bench/distributed.json.
"""
import json, math, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPNET = os.path.join(ROOT, ".build/release/bpnet")
VENV_PYTHON = os.path.join(ROOT, ".build/bench/venv/bin/python3")
LAYERS = [784, 1024, 1024, 10]
BATCH = 128
LIMIT = int(os.environ.get("BENCH_LIMIT", "60000"))


def environment(threads):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def json_lines(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def bpnet_arguments():
    return ["train", "--layers", ",".join(map(str, LAYERS)), "--batch-size", str(BATCH), "--epochs", "1",
            "--limit", str(LIMIT), "--device", "cpu", "--json", "--quiet"]


def main():
    results = {"config": "C", "layers": LAYERS, "batch": BATCH, "samples": LIMIT}
    single = subprocess.run([BPNET] + bpnet_arguments(), env=environment(2), capture_output=True, text=True, check=True)
    results["one_process_2_threads_seconds"] = json_lines(single.stdout)[-1]["seconds"]
    mpi = subprocess.run(
        ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", "-x", "OPENBLAS_NUM_THREADS=1",
         BPNET] + bpnet_arguments()[:1] + ["--distributed"] + bpnet_arguments()[1:],
        env=environment(1), capture_output=True, text=True, check=True)
    epoch = json_lines(mpi.stdout)[-1]
    steps = math.ceil(LIMIT / BATCH)
    results["two_ranks_1_thread_seconds"] = epoch["seconds"]
    results["allreduce_seconds_per_step"] = epoch["allreduce_seconds"] / steps
    results["allreduce_share_of_step"] = epoch["allreduce_seconds"] / epoch["seconds"]
    if os.path.exists(VENV_PYTHON):
        ddp = subprocess.run(
            [VENV_PYTHON, os.path.join(ROOT, "benchmarks/ddp_sgd.py"), "--layers", ",".join(map(str, LAYERS)),
             "--batch-size", str(BATCH), "--epochs", "1", "--limit", str(LIMIT), "--ranks", "2"],
            env=environment(1), capture_output=True, text=True, cwd=os.path.join(ROOT, "benchmarks"))
        if ddp.returncode == 0:
            results["pytorch_ddp_2_ranks_seconds"] = json_lines(ddp.stdout)[-1]["seconds"]
        else:
            print("PyTorch DDP failed:", ddp.stderr.strip().splitlines()[-1:], file=sys.stderr)
    else:
        print("no PyTorch virtual environment (make bench-compare makes it); comparing without DDP", file=sys.stderr)

    # The scaling model: per-step compute from the one-process run, shared by N ranks; a ring
    # allreduce of 4·P bytes moves 2(N−1)/N of them over each link.
    parameters = sum(i * o + o for i, o in zip(LAYERS, LAYERS[1:]))
    compute = results["one_process_2_threads_seconds"] / steps
    results["parameters"] = parameters
    results["compute_seconds_per_step"] = compute
    model = []
    for gbits in (10, 100):
        for n in (2, 4, 8, 16, 32, 64):
            communication = 2 * (n - 1) / n * 4 * parameters / (gbits * 1e9 / 8)
            model.append({
                "link_gbit_s": gbits, "ranks": n, "communication_seconds": communication,
                "speedup": compute / (compute / n + communication),
                "speedup_overlapped": compute / max(compute / n, communication),
            })
    results["scaling_model"] = model

    print(f"config C, {LIMIT} samples, batch {BATCH}, one epoch:")
    print(f"  one process, 2 threads     {results['one_process_2_threads_seconds']:8.2f} s")
    print(f"  2 ranks, 1 thread each     {results['two_ranks_1_thread_seconds']:8.2f} s  "
          f"(allreduce {results['allreduce_seconds_per_step'] * 1000:.2f} ms per step, "
          f"{results['allreduce_share_of_step'] * 100:.1f} % of the epoch)")
    if "pytorch_ddp_2_ranks_seconds" in results:
        ratio = results["pytorch_ddp_2_ranks_seconds"] / results["two_ranks_1_thread_seconds"]
        print(f"  PyTorch DDP, 2 ranks       {results['pytorch_ddp_2_ranks_seconds']:8.2f} s  (BPNet {ratio:.2f}x as fast)")
    print(f"scaling model: {parameters} parameters, {4 * parameters / 1e6:.1f} MB per allreduce, "
          f"{compute * 1000:.1f} ms of compute per step on this machine")
    print("  ranks   10 Gbit/s: speed-up (overlapped)   100 Gbit/s: speed-up (overlapped)")
    for n in (2, 4, 8, 16, 32, 64):
        row = [m for m in model if m["ranks"] == n]
        print(f"  {n:5d}   {row[0]['speedup']:10.2f} ({row[0]['speedup_overlapped']:5.2f})"
              f"              {row[1]['speedup']:10.2f} ({row[1]['speedup_overlapped']:5.2f})")
    os.makedirs(os.path.join(ROOT, ".build/bench"), exist_ok=True)
    with open(os.path.join(ROOT, ".build/bench/distributed.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
