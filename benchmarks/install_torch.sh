#!/bin/sh
# Installs PyTorch for the CPU (and numpy, which the peer scripts read Fashion-MNIST with) into the
# virtual environment whose pip is $1 (bench-compare: .build/bench/venv/bin/pip), trying in turn:
#   1. PyTorch's CPU wheel index ($TORCH_CPU_INDEX, default https://download.pytorch.org/whl/cpu),
#      about 200 MB with no CUDA libraries;
#   2. a CPU wheel (torch-*+cpu-*.whl) in a folder of $PIP_FIND_LINKS, its dependencies from PyPI;
#   3. plain PyPI, whose Linux wheel pulls the CUDA libraries: several GB, made once.
# Exits non-zero only when all three fail.
pip="${1:-.build/bench/venv/bin/pip}"
index="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
echo "installing PyTorch (CPU) into $(dirname "$(dirname "$pip")")"
if "$pip" install -q --retries 1 --timeout 30 --index-url "$index" torch numpy; then
    echo "PyTorch installed from $index"; exit 0
fi
echo "PyTorch's CPU index ($index) failed; looking for a CPU wheel in PIP_FIND_LINKS"
for folder in $(echo "${PIP_FIND_LINKS:-}" | tr ' ,' '\n\n'); do
    folder="${folder#file://}"
    [ -d "$folder" ] || continue
    wheel=$(ls "$folder"/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$wheel" ] && "$pip" install -q "$wheel" numpy; then
        echo "PyTorch installed from $wheel"; exit 0
    fi
done
echo "no CPU wheel at hand; installing PyTorch from PyPI (with its CUDA libraries, several GB)"
"$pip" install -q torch numpy && echo "PyTorch installed from PyPI"
