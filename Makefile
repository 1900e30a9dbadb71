# layerscope: build, test, benchmark and reproduce.
#   make            build every tool into bin/
#   make test       install what is missing, build, run every test (plain and sanitized)
#   make reproduce  install what is missing, build, run the study on the default data
#   make bench      install what is missing, build, run the benchmarks against the peers
#   make asan       the same tools with AddressSanitizer + UBSan into build-asan/bin
#   make fuzz       every libFuzzer target (safetensors, zip, XML, COCO JSON, TSV list, pickle), FUZZ_SECONDS each
#   make CUDA=1     the same tools with their GPU paths (--device cuda), built by nvcc
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
# object files reached through pattern rules are kept, not removed as intermediates
.SECONDARY:

CC      ?= gcc
OPT     ?= -O2 -g
CFLAGS  ?= $(OPT)
WARN    := -Wall -Wextra -Werror
CPPFLAGS += -Itools/lib -D_GNU_SOURCE
DEPFLAGS = -MMD -MP
LDLIBS  := -larchive -ljpeg -lpng -lcjson -ldnnl -lopenblas -lz -lm -lpthread
BUILD   ?= build
BIN     ?= bin
PROVE_JOBS ?= 2

# Each folder tools/NAME/ (except lib) holds the sources of bin/NAME.
TOOLS    := $(sort $(filter-out lib,$(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/*.c))))))
LIB_SRC  := $(wildcard tools/lib/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
BINS     := $(TOOLS:%=$(BIN)/%)

# Two flavours share the C objects in $(BUILD)/lib: the CPU one links
# tools/lib/gpu_none.c, whose every GPU entry point fails with "built without
# CUDA"; CUDA=1 links the GPU paths (tools/lib/*.cu, compiled by nvcc for
# CUDA_ARCH) instead, into its own archive and unit folder. `make test` builds
# the CUDA flavour too whenever nvcc exists (cuda-check), so that a CUDA build
# break fails CI on machines without a GPU.
NVCC      ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# Hopper (H100/H200) machine code, and its PTX for newer GPUs to compile at load
CUDA_ARCH ?= -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90
NVCCFLAGS ?= -O2 -g -lineinfo
ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error make CUDA=1: nvcc not found on PATH or at /usr/local/cuda/bin (set NVCC=...))
endif
FLAVOUR  := cuda
CU_SRC   := $(wildcard tools/lib/*.cu)
LIB_OBJ  := $(filter-out %/gpu_none.o,$(LIB_SRC:tools/lib/%.c=$(BUILD)/lib/%.o)) \
            $(CU_SRC:tools/lib/%.cu=$(BUILD)/lib/%.cu.o)
LIB_A    := $(BUILD)/liblayerscope-cuda.a
UNIT_DIR := $(BUILD)/unit-cuda
LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++
else
FLAVOUR  := cpu
LIB_OBJ  := $(LIB_SRC:tools/lib/%.c=$(BUILD)/lib/%.o)
LIB_A    := $(BUILD)/liblayerscope.a
UNIT_DIR := $(BUILD)/unit
endif
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(UNIT_DIR)/%)

DEB_PACKAGES := build-essential pkg-config clang libclang-rt-14-dev \
  libopenblas-openmp-dev libarchive-dev libjpeg62-turbo-dev libpng-dev libcjson-dev \
  libdnnl-dev zlib1g-dev gnuplot-nox dataset-fashion-mnist \
  python3-numpy python3-pil python3-pot python3-scipy python3-sklearn python3-torch python3-torchvision \
  munge slurmctld slurmd slurm-client strace

.PHONY: all deps test test-plain test-asan asan fuzz bench reproduce clean units cuda-check
all: $(BINS)

deps:
	@missing=; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${db:Status-Abbrev}' $$p 2>/dev/null | grep -q '^ii' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get) or install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BUILD)/lib/%.o: tools/lib/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/lib/%.cu.o: tools/lib/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) $(CUDA_ARCH) -Itools/lib -D_GNU_SOURCE -Xcompiler -Wall,-Wextra -Werror all-warnings \
	  -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) -c -o $@ $<

# which flavour the binaries in $(BIN) are, rewritten (when it changes) as the
# Makefile is read, so that switching flavours relinks them in the same run
FLAVOUR_STAMP := $(BIN)/.flavour
$(shell mkdir -p $(BIN) && { [ "$$(cat $(FLAVOUR_STAMP) 2>/dev/null)" = $(FLAVOUR) ] || echo $(FLAVOUR) > $(FLAVOUR_STAMP); })
$(FLAVOUR_STAMP): ;

.SECONDEXPANSION:
$(BIN)/%: $$(foreach s,$$(wildcard tools/$$*/*.c),$(BUILD)/$$(basename $$s).o) $(LIB_A) $(FLAVOUR_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) $(LDLIBS)

$(UNIT_DIR)/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

units: $(UNITS)

# The suite runs twice: the plain build, then the sanitized one.
test: deps
	$(MAKE) test-plain
	$(MAKE) test-asan

# The CUDA flavour's tools and GPU unit test, built once beside the plain ones;
# its tests run them where a GPU is visible and otherwise say why they skip.
CUDA_BIN := build-cuda/bin
cuda-check: all units
ifneq ($(NVCC),)
	$(MAKE) CUDA=1 BIN=$(CUDA_BIN) all $(BUILD)/unit-cuda/gpu
else
	@echo "cuda-check: no nvcc (PATH, /usr/local/cuda/bin): the CUDA flavour is not built"
endif

test-plain: all units cuda-check
	LS_BIN=$(CURDIR)/$(BIN) LS_UNIT=$(CURDIR)/$(BUILD)/unit \
	LS_CUDA_BIN=$(if $(NVCC),$(CURDIR)/$(CUDA_BIN)) LS_CUDA_UNIT=$(if $(NVCC),$(CURDIR)/$(BUILD)/unit-cuda) \
	prove -j$(PROVE_JOBS) tests/*.t

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/bin OPT="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" all units

test-asan: asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 LS_ASAN=1 \
	LS_BIN=$(CURDIR)/build-asan/bin LS_UNIT=$(CURDIR)/build-asan/unit prove -j$(PROVE_JOBS) tests/*.t

# Every libFuzzer target tests/fuzz/fuzz_NAME.c runs FUZZ_SECONDS (make fuzz-NAME: one),
# from the seeds in tests/fuzz-corpus/NAME/; what it learns stays in $(BUILD)/fuzz-corpus/NAME/.
FUZZ_SECONDS ?= 60
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_RUNS  := $(FUZZ_NAMES:%=fuzz-%)
FUZZ_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz-%)
.PHONY: $(FUZZ_RUNS)
fuzz: $(FUZZ_RUNS)

$(FUZZ_RUNS): fuzz-%: $(BUILD)/fuzz-%
	@mkdir -p $(BUILD)/fuzz-corpus/$*
	@mkdir -p $(BUILD)/fuzz-artifacts/$*
	$(BUILD)/fuzz-$* -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$(BUILD)/fuzz-artifacts/$*/ \
	  $(BUILD)/fuzz-corpus/$* tests/fuzz-corpus/$*

$(FUZZ_BINS): $(BUILD)/fuzz-%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(LIB_SRC) $(wildcard tools/lib/*.h)
	@mkdir -p $(@D)
	clang $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $< $(LIB_SRC) $(LDLIBS)

bench: deps all
	bash bench/run

-include pipelines/*.mk

clean:
	rm -rf build build-asan build-cuda $(BIN)/*

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
