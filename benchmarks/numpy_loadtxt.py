#!/usr/bin/env python3
"""numpy.loadtxt on a CSV file, for side-by-side timing with `bpnet bench --csv-load`.

Usage: numpy_loadtxt.py FILE
Prints one JSON object: the seconds of one load into float32 (BPNet's element type), and the
process's peak RSS before and after it, in MiB.
"""
import json, resource, sys, time
import numpy as np


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main():
    floor = peak_rss_mib()
    start = time.perf_counter()
    table = np.loadtxt(sys.argv[1], delimiter=",", dtype=np.float32)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": table.shape[0], "columns": table.shape[1],
                      "peak_rss_mib_before": floor, "peak_rss_mib": peak_rss_mib()}))


if __name__ == "__main__":
    main()
