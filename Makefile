# Set-up, build, demo and tests. `make demo` and `make test` install whatever is missing first.
# `make demo` needs only DEMO_PACKAGES (the `bpnet` binary links Open MPI, hence libopenmpi-dev);
# `make test` installs TEST_PACKAGES too.
DEMO_PACKAGES := libopenblas-dev zlib1g-dev ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libopenmpi-dev dataset-fashion-mnist
TEST_PACKAGES := clinfo oclgrind chromium openmpi-bin
APT_PACKAGES := $(DEMO_PACKAGES) $(TEST_PACKAGES)
PREFIX ?= /usr/local
SWIFT ?= swift
RELEASE_BIN := .build/release/bpnet

.PHONY: setup setup-demo build install demo intel-opencl onnx-runtime test test-intel-opencl test-sanitize verify bench bench-compare bench-compare-csv bench-distributed torch-parity clean fuzz

# Installs the Debian packages that are missing (as root), or prints the command that would:
# `setup` all of them, `setup-demo` only the demo's.
setup setup-demo:
	@missing=""; \
	for p in $(if $(filter setup-demo,$@),$(DEMO_PACKAGES),$(APT_PACKAGES)); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	else \
	  echo "missing Debian packages:$$missing"; \
	  echo "run: sudo apt-get update && sudo apt-get install -y$$missing"; \
	  exit 1; \
	fi

build: setup-demo
	$(SWIFT) build -c release --product bpnet

# Copies the release `bpnet` to $(DESTDIR)$(PREFIX)/bin (PREFIX=/usr/local unless given).
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/bpnet

# Trains the default 784-30-10 network on Fashion-MNIST (Nielsen's defaults: 30 epochs, batch 10, η 3).
demo: build
	$(RELEASE_BIN) train

# Intel's OpenCL CPU runtime: a second OpenCL implementation, with a compiler of its own, from
# PyPI into a virtual environment under .build/. Loaded through OCL_ICD_FILENAMES, its device is
# listed first (opencl:0), before PoCL's.
INTEL_OPENCL := $(CURDIR)/.build/intel-opencl
INTEL_OPENCL_ENV := OCL_ICD_FILENAMES=$(INTEL_OPENCL)/lib/libintelocl.so LD_LIBRARY_PATH=$(INTEL_OPENCL)/lib$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}

# Installs it when it is missing. Where it cannot be installed, `make test` goes on without it,
# except under CI=true, where that fails.
intel-opencl:
	@[ -f $(INTEL_OPENCL)/lib/libintelocl.so ] || { \
	  echo "installing Intel's OpenCL CPU runtime (intel-opencl-rt, intel-cmplr-lib-rt) into $(INTEL_OPENCL)"; \
	  python3 -m venv $(INTEL_OPENCL) && $(INTEL_OPENCL)/bin/pip install -q intel-opencl-rt intel-cmplr-lib-rt; } || { \
	  rm -rf $(INTEL_OPENCL); echo "Intel's OpenCL CPU runtime could not be installed"; [ "$$CI" != true ]; }

# ONNX and ONNX Runtime, with which the export tests check every exported model, from PyPI into a
# virtual environment under .build/; `onnx` is the release whose onnx.proto Sources/BPNetONNX was
# generated from. Installed when missing; where they cannot be installed, `make test` goes on
# without them (the tests say they skipped), except under CI=true, where that fails.
ONNX_ENV := $(CURDIR)/.build/onnx
onnx-runtime:
	@$(ONNX_ENV)/bin/python3 -c "import onnx, onnxruntime" 2>/dev/null || { \
	  echo "installing onnx and onnxruntime into $(ONNX_ENV)"; rm -rf $(ONNX_ENV); \
	  python3 -m venv $(ONNX_ENV) && $(ONNX_ENV)/bin/pip install -q onnx==1.23.2 onnxruntime==1.32.0; } || { \
	  rm -rf $(ONNX_ENV); echo "onnx and onnxruntime could not be installed"; [ "$$CI" != true ]; }

# Builds everything (the README example included), runs it, then runs the test suites; then
# `bpnet verify` and the OpenCL parity suite again on Intel's CPU runtime.
test: setup intel-opencl onnx-runtime
	$(SWIFT) build --build-tests
	@d=$$(mktemp -d) && (cd $$d && $(CURDIR)/.build/debug/BPNetExample) && rm -rf $$d
	$(SWIFT) test --skip-build
	@$(MAKE) --no-print-directory test-intel-opencl

# The second implementation: the full `bpnet verify`, then the OpenCL parity suite on its device.
test-intel-opencl:
	@$(SWIFT) build --build-tests >/dev/null || $(SWIFT) build --build-tests
	@if [ ! -f $(INTEL_OPENCL)/lib/libintelocl.so ]; then \
	  if [ "$$CI" = true ]; then echo "error: Intel's OpenCL CPU runtime is missing (make intel-opencl), and CI=true needs it"; exit 1; fi; \
	  echo "skipped: Intel's OpenCL CPU runtime is not installed (make intel-opencl)"; exit 0; \
	fi; \
	$(INTEL_OPENCL_ENV) .build/debug/bpnet devices | grep -q '^opencl:0 .*\[Intel(R) OpenCL' || \
	  { echo "error: Intel's OpenCL runtime is not opencl:0:"; $(INTEL_OPENCL_ENV) .build/debug/bpnet devices; exit 1; }; \
	$(INTEL_OPENCL_ENV) .build/debug/bpnet verify --device opencl:0 > .build/intel-opencl-verify.txt; status=$$?; \
	grep -E "FAIL|^summary" .build/intel-opencl-verify.txt; [ $$status = 0 ] || exit $$status; \
	$(INTEL_OPENCL_ENV) BPNET_TEST_OPENCL_PLATFORM="Intel(R) OpenCL" $(SWIFT) test --skip-build --filter OpenCLParityTests

# The tests again under AddressSanitizer, then under ThreadSanitizer, each in its own build folder.
# ASan's leak check is off: the only leaks it reports are inside XCTest's harness at exit.
# ASan's alternate signal stacks are off too. PoCL compiles kernels with LLVM 15, whose
# CreateSigAltStack replaces a thread's alternate stack with a malloc'd one of SIGSTKSZ + 64 KiB
# when the one there is smaller. ASan's is 4·SIGSTKSZ, which is smaller wherever SIGSTKSZ (the
# CPU's XSAVE area) is under about 21 KiB: 4 × 13 504 < 79 040 on an AMD EPYC with AVX-512. When
# that thread exits, ASan munmaps the stack it finds as if it were its own mmap'd one, and aborts
# ("failed to deallocate 0x134c0 bytes"). Without ASan's stacks, LLVM keeps its own; all ASan
# loses is reporting a stack overflow inside a signal handler.
# TSan builds cpu_kernels.c without its target clones (see the comment there).
test-sanitize: setup
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=0:use_sigaltstack=0 $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan

# The CPU/device parity checks on every OpenCL device that `bpnet devices` lists, Intel's CPU
# runtime among them when `make intel-opencl` (or `make test`) has installed it.
verify: build
	$(if $(wildcard $(INTEL_OPENCL)/lib/libintelocl.so),$(INTEL_OPENCL_ENV)) $(RELEASE_BIN) verify --device all

# GEMM rates and seconds per epoch for every backend, measured side by side in one run.
# The machine's OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE pin OpenBLAS to its Haswell kernels; the
# benchmark unsets both so that OpenBLAS runs its best kernel. Tests and CI leave them alone.
bench: build
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(RELEASE_BIN) bench

# BPNet against numpy, PyTorch CPU eager and tinygrad on PoCL (both in a virtual environment under
# .build/bench) and CLBlast's SGEMM on the same OpenCL device, side by side in one run; config E
# (the README's recipe CNN) against PyTorch alone, numpy having no convolution. See
# benchmarks/compare.py. PyTorch comes from its CPU wheel index, else a CPU wheel in PIP_FIND_LINKS,
# else PyPI (see benchmarks/install_torch.sh). EPOCHS, ROUNDS and LIMIT=N (samples) apply to every
# side; CONFIGS=E (letters from ABCE) runs only those configs' CPU training, with no CLBlast or
# tinygrad, e.g. `make bench-compare CONFIGS=E`.
bench-compare: build
	mkdir -p .build/bench
ifeq ($(CONFIGS),)
	@dpkg-query -W -f='$${Status}' libclblast-dev 2>/dev/null | grep -q "install ok installed" || \
	  { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclblast-dev >/dev/null; } || \
	  { echo "run: sudo apt-get install -y libclblast-dev"; exit 1; }
	cc -O2 -o .build/bench/clblast_sgemm benchmarks/clblast_sgemm.c -lclblast -lOpenCL
endif
	@[ -x .build/bench/venv/bin/python3 ] || python3 -m venv .build/bench/venv
ifeq ($(CONFIGS),)
	@.build/bench/venv/bin/python3 -c "import numpy, tinygrad" 2>/dev/null || \
	  .build/bench/venv/bin/pip install -q numpy tinygrad || echo "tinygrad could not be installed; comparing without it"
endif
	@.build/bench/venv/bin/python3 -c "import numpy, torch" 2>/dev/null || \
	  sh benchmarks/install_torch.sh .build/bench/venv/bin/pip || echo "PyTorch could not be installed; comparing without it"
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/compare.py

# BPNet against PyTorch itself, not a benchmark: the same small networks trained in both from the
# same weights and batches (RMSprop, Adam, clipping, convolutions, both poolings, gap), weights
# compared within 1e-4 (benchmarks/torch_parity.py), in bench-compare's environment. BPNET_DEVICE
# picks the device (cpu by default).
# Then the PyTorch example of docs/onnx.md: a CNN with batch norm, trained briefly, loaded into a
# torch.nn.Sequential through safetensors, whose predictions must be `bpnet predict`'s within 1e-5.
torch-parity: build
	@[ -x .build/bench/venv/bin/python3 ] || python3 -m venv .build/bench/venv
	@.build/bench/venv/bin/python3 -c "import numpy, torch" 2>/dev/null || sh benchmarks/install_torch.sh .build/bench/venv/bin/pip
	@.build/bench/venv/bin/python3 -c "import safetensors" 2>/dev/null || .build/bench/venv/bin/pip install -q safetensors
	.build/bench/venv/bin/python3 benchmarks/torch_parity.py $(RELEASE_BIN)
	@d=$$(mktemp -d) && \
	$(RELEASE_BIN) train --layers 1x28x28,conv:8:3:1:1,batchnorm,maxpool:2,conv:16:3:2:1,batchnorm,gap,flatten,17,batchnorm,10 \
	  --activations relu,gelu,leaky-relu:0.1,softmax --loss log-likelihood --optimizer adam --limit 2000 --epochs 2 --quiet \
	  --device cpu --save $$d/model.safetensors >/dev/null && \
	python3 -c "import random; random.seed(1); print('\n'.join(','.join(str(random.random()) for _ in range(784)) for _ in range(37)))" > $$d/inputs.csv && \
	$(RELEASE_BIN) predict --model $$d/model.safetensors --input $$d/inputs.csv --device cpu > $$d/bpnet.csv && \
	.build/bench/venv/bin/python3 docs/examples/bpnet_torch.py $$d/model.safetensors $$d/inputs.csv --expect $$d/bpnet.csv > $$d/torch.csv && \
	echo "docs/examples/bpnet_torch.py: PyTorch's predictions are bpnet predict's" && rm -rf $$d

# bench-compare's CSV part alone: loading one ~19 MB file (20,000 rows × 50 inputs and a label) with
# BPNet and with numpy.loadtxt, in alternation, seconds and peak RSS of each (CSV_ROUNDS, default 5).
bench-compare-csv: build
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/compare.py csv

# Config C on one process (2 threads) against 2 MPI ranks (1 thread each) and PyTorch DDP (gloo,
# from bench-compare's virtual environment when it is there), then the scaling model of docs/distributed.md;
# see benchmarks/distributed.py. BENCH_LIMIT=N trains on N samples instead of 60 000.
bench-distributed: setup build
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/distributed.py

clean:
	rm -rf .build

# libFuzzer on every file reader (safetensors models, IDX plain and gzip, CSV), FUZZ_SECONDS
# (default 60) each, under AddressSanitizer; crashing inputs land in .build-fuzz/crashes/.
fuzz:
	bash Fuzz/run.sh
