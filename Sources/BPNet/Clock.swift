import Glibc

/// Seconds on the monotonic clock, for timing: never steps back when the wall clock is set.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}
