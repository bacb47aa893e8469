#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (ModelFile, IDX, CSV) with AddressSanitizer and runs each
# for FUZZ_SECONDS (default 60) on a scratch copy of its checked-in seed corpus. Prints the inputs
# each target executed; exits non-zero if any target crashed, leaving the crashing inputs in
# .build-fuzz/crashes/<target>/. A crash reproduces with: .build-fuzz/bin/fuzz-<target> <input>
#
# The targets compile the reader sources directly (not the BPNet package), so that only the
# readers and what they need are instrumented; the OpenCL and BLAS backends stay out.
set -euo pipefail

cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"ModelFile IDX CSV"}
OUT=.build-fuzz
SWIFTC=${SWIFTC:-swiftc}

# The readers and what they use, compiled as one module without SwiftPM. Files are found by name,
# so moves inside Sources/BPNet do not matter, and anything else the set turns out to need (a
# type, a helper) is added by the file that declares it, until the set type-checks. Files that
# import a C backend module (OpenCL, BLAS, the CPU kernels) are never added.
find_file() { find Sources/BPNet -name "$1.swift" | head -1; }
SOURCES=()
for name in Errors AtomicFile FileReading IDX CSV Dataset ModelFile Layer; do
    file=$(find_file "$name")
    [ -n "$file" ] || { echo "no $name.swift under Sources/BPNet"; exit 1; }
    SOURCES+=("$file")
done
excluded=$(grep -rlE '^import (COpenCL|CBLAS|CPUKernels)' Sources/BPNet --include='*.swift' || true)
for _ in $(seq 40); do
    errors=$("$SWIFTC" -typecheck -parse-as-library -module-name BPNetFuzz -module-cache-path "$OUT/module-cache" \
        -I Sources/CZlib "${SOURCES[@]}" 2>&1 | grep 'error:' || true)
    [ -z "$errors" ] && break
    # "cannot find 'X' in scope" names a top-level declaration; "has no member 'm'" one in an extension.
    wanted=$(sed -nE "s/.*error: cannot find (type )?'([A-Za-z_][A-Za-z0-9_]*)' in scope.*/^((public|internal|@[a-zA-Z]+) +)*(final +)?(struct|enum|class|actor|protocol|typealias|func|let|var) +\2\\\\b/p;
        s/.*error: .* has no member '([A-Za-z_][A-Za-z0-9_]*)'.*/^ +((public|internal|static|@[a-zA-Z]+) +)*(func|var|let|case) +\1\\\\b/p" <<<"$errors" | sort -u)
    added=0
    while read -r pattern; do
        [ -n "$pattern" ] || continue
        for file in $(grep -rlE "$pattern" Sources/BPNet --include='*.swift' || true); do
            case " ${SOURCES[*]} " in *" $file "*) continue ;; esac
            grep -qxF "$file" <<<"$excluded" && continue
            SOURCES+=("$file")
            added=1
            break
        done
    done <<<"$wanted"
    if [ "$added" = 0 ]; then
        echo "the reader sources do not type-check on their own:"
        echo "$errors"
        exit 1
    fi
done
echo "== reader sources: ${SOURCES[*]}"

mkdir -p "$OUT/bin"
for target in $TARGETS; do
    echo "== building fuzz-$target"
    # The linker's "Cannot export local symbol '__asan_*'" warnings are harmless noise.
    "$SWIFTC" -sanitize=fuzzer,address -parse-as-library -O -g -module-name BPNetFuzz \
        -module-cache-path "$OUT/module-cache" -I Sources/CZlib -lz \
        "${SOURCES[@]}" Fuzz/"$target"/*.swift -o "$OUT/bin/fuzz-$target" 2>&1 |
        { grep -v -e "Cannot export local symbol '__asan" || true; }
    [ -x "$OUT/bin/fuzz-$target" ] || { echo "fuzz-$target did not build"; exit 1; }
done

failed=()
summary=()
start=$SECONDS
for target in $TARGETS; do
    scratch="$OUT/run/$target"
    crashes="$OUT/crashes/$target"
    rm -rf "$scratch"
    mkdir -p "$scratch/corpus" "$crashes"
    cp Fuzz/"$target"/corpus/* "$scratch/corpus/"
    dict=(Fuzz/"$target"/*.dict)
    echo "== fuzzing $target for ${FUZZ_SECONDS}s"
    status=0
    # The Swift runtime's own backtracer would race libFuzzer's crash handler (and can hang).
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        "$OUT/bin/fuzz-$target" "$scratch/corpus" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
        -timeout=20 -rss_limit_mb=2048 -dict="${dict[0]}" -artifact_prefix="$crashes/" \
        >"$scratch/log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/log" | tail -1)
    summary+=("$(printf '%-10s %12s executions  exit %d' "$target" "${runs:-?}" "$status")")
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        echo "!! $target crashed; log: $scratch/log; inputs:"
        ls "$crashes"
        grep -m 20 -E "ERROR|Fatal error|panic|SUMMARY|#[0-9]+ .* in " "$scratch/log" || tail -40 "$scratch/log"
    fi
done

echo "== fuzz summary ($((SECONDS - start))s of fuzzing)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs under $OUT/crashes/)"
    exit 1
fi
