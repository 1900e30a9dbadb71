# layerscope: build, test, benchmark and reproduce.
#   make            build every tool into bin/
#   make test       install what is missing, build, run every test (plain and sanitized)
#   make reproduce  install what is missing, build, run the study on the default data
#   make bench      install what is missing, build, run the benchmarks against the peers
#   make asan       the same tools with AddressSanitizer + UBSan into build-asan/bin
#   make fuzz       every libFuzzer target (safetensors, zip, XML, COCO JSON, TSV list), FUZZ_SECONDS each
#   make CUDA=1     add GPU code where nvcc exists
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
LIB_OBJ  := $(LIB_SRC:tools/lib/%.c=$(BUILD)/lib/%.o)
LIB_A    := $(BUILD)/liblayerscope.a
UNIT_SRC := $(wildcard tests/unit/*.c)
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
BINS     := $(TOOLS:%=$(BIN)/%)

ifeq ($(CUDA),1)
NVCC     ?= $(shell command -v nvcc || echo /usr/local/cuda/bin/nvcc)
CU_SRC   := $(wildcard tools/lib/*.cu)
LIB_OBJ  += $(CU_SRC:tools/lib/%.cu=$(BUILD)/lib/%.cu.o)
CPPFLAGS += -DLS_CUDA -I/usr/local/cuda/include
LDLIBS   += -L/usr/local/cuda/lib64 -lcudart -lcublas
endif

DEB_PACKAGES := build-essential pkg-config clang libclang-rt-14-dev \
  libopenblas-openmp-dev libarchive-dev libjpeg62-turbo-dev libpng-dev libcjson-dev \
  libdnnl-dev zlib1g-dev gnuplot-nox dataset-fashion-mnist \
  python3-numpy python3-pil python3-pot python3-scipy python3-sklearn python3-torch python3-torchvision \
  munge slurmctld slurmd slurm-client strace

.PHONY: all deps test test-plain test-asan asan fuzz bench reproduce clean units
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
	$(NVCC) -O2 -Itools/lib -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) -c -o $@ $<

.SECONDEXPANSION:
$(BIN)/%: $$(foreach s,$$(wildcard tools/$$*/*.c),$(BUILD)/$$(basename $$s).o) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) $(LDLIBS)

$(BUILD)/unit/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

units: $(UNITS)

# The suite runs twice: the plain build, then the sanitized one.
test: deps
	$(MAKE) test-plain
	$(MAKE) test-asan

test-plain: all units
	LS_BIN=$(CURDIR)/$(BIN) LS_UNIT=$(CURDIR)/$(BUILD)/unit prove -j$(PROVE_JOBS) tests/*.t

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
	rm -rf build build-asan $(BIN)/*

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
