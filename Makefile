# lbbt — build, test, reproduce.
#   make            build/lbbt, build/liblbbt.so, every plugin as build/plugins/<kind>/<name>.so
#   make test       the whole test suite; last line "N passed, N failed[, N skipped]"
#   make asan       the same suite built with AddressSanitizer + UBSan (in build-asan/)
#   make table-N    run experiments/table-N.yaml (TIER=smoke|cpu|paper, default cpu) and render it
#   make verdicts   run the tables the paper's claims use (TIER) and test each claim
#   make figure-N   run experiments/figure-N.yaml (or figure N's table) and plot results/figure-N.png;
#                   make figure-pretrain-amount: experiments/pretrain-amount.yaml (beyond the paper)
#   make bench      throughput and memory against PyTorch and the oneDNN matmul ceiling
#                   (ISA=baseline|avx2|avx512: every implementation capped to that level)
#   make bench-mpi  data-parallel images/s for 1 and 2 ranks and the allreduce's share (Open MPI)
#   make MPI=1      build with mpicc: mpirun -np N build/lbbt run ... trains data-parallel
#   make models     pretrain lbbt's own GPT-2-architecture language model and its Chronos-style
#                   time-series T5 (TIER=smoke|cpu) into models/ (make models-lm, models-ts: one;
#                   cached: free once the run is complete and the model folder exists;
#                   a folder made by other settings is removed and retrained)
#   make models-sizes  the same at two more widths, Table 5's size sweep (make table-5 runs it)
# Dependencies are Debian packages; tools/install-deps installs what is missing, and runs by
# itself the first time (build/.deps-ok records that they were present).

BUILD   ?= build
TIER    ?= cpu
THREADS ?= 2
# OpenMP threads that find no work sleep instead of spinning: on a 2-core machine shared with
# anything else, spinning made runs 10-25x slower (docs/BENCH.md, "OpenMP under load"); on an
# idle one passive costs a few percent.  Set OMP_WAIT_POLICY=active to override.
OMP_WAIT_POLICY ?= passive
export OMP_WAIT_POLICY
CC      ?= cc
SAN     ?=
# Portable by default: baseline x86-64, so a binary built on one node runs on any other; the
# hot kernels are compiled once per ISA level below and chosen at run time (lbbt/isa.h).
# NATIVE=1 builds the rest for this machine's CPU too (-march=native).
NATIVE  ?=
OPT     ?= -O2 $(if $(filter 1,$(NATIVE)),-march=native)

# make MPI=1: build with Open MPI's mpicc for data-parallel runs (mpirun -np N build/lbbt run
# ...; core/src/dist/, lbbt/dist.h).  Without it lbbt is one rank of one and needs no MPI.
# The choice is recorded in $(BUILD)/.mpi so that switching rebuilds the MPI module and relinks.
MPI ?= 0
ifeq ($(MPI),1)
  CC := mpicc
  CFLAGS += -DLBBT_MPI
endif
# -Wformat-truncation is heuristic (it fires at -O1 on bounded path buffers); truncation is
# handled where it matters, so it is not an error here.
WARN     = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation
# -fno-trapping-math: no code here reads floating-point exception flags, and without it
# GCC 12 leaves every loop calling op_expf scalar ("control flow in loop": the clamps are
# not if-converted); it changes no result.
CFLAGS  += -std=c11 -D_GNU_SOURCE -g $(OPT) -fno-trapping-math $(WARN) -fPIC -Icore/include -Icore/src -I/usr/include/hdf5/serial -fopenmp
ifeq ($(SAN),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif
HDF5_LIB = -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5
LIBS     = -ldnnl -lyaml $(HDF5_LIB) -lgsl -lgslcblas -ljansson -lz -lpng -ljpeg -lm -ldl -lpthread -fopenmp

CORE_SRC   := $(sort $(wildcard core/src/*.c core/src/*/*.c))
CLI_SRC    := $(sort $(wildcard core/cli/*.c))
PLUGIN_SRC := $(sort $(wildcard plugins/*/*.c))
# Code that several task plugins share (top-1 evaluation for the classification-type tasks):
# compiled into each task plugin, and into the unit tests, not into the task-neutral core.
TASK_SHARED_SRC := $(sort $(wildcard plugins/tasks/shared/*.c))
TASK_SHARED_H   := $(wildcard plugins/tasks/shared/*.h)
TEST_SRC   := $(sort $(wildcard tests/unit/test_*.c))
TPLUG_SRC  := $(sort $(wildcard tests/plugins/*.c))
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))

CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
PLUGINS    := $(patsubst plugins/%.c,$(BUILD)/plugins/%.so,$(PLUGIN_SRC))
TESTS      := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TPLUGINS   := $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(TPLUG_SRC))
DEPS_OK    := build/.deps-ok

.PHONY: FORCE bench-mpi all test run-tests asan parity bench fuzz clean paper models models-lm models-ts verdicts deps
all: $(BUILD)/lbbt $(PLUGINS)

deps: $(DEPS_OK)
$(DEPS_OK): tools/install-deps
	@mkdir -p build
	@tools/install-deps --check 2>/dev/null || tools/install-deps
	@touch $@

$(BUILD)/obj/%.o: %.c $(DEPS_OK) $(wildcard core/include/lbbt/*.h core/src/*.h core/src/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/.mpi: FORCE
	@mkdir -p $(BUILD); [ "$$(cat $@ 2>/dev/null)" = "$(MPI)" ] || echo "$(MPI)" > $@
$(BUILD)/obj/core/src/dist/dist.o: $(BUILD)/.mpi
FORCE:
# The library exports only what core/include/lbbt declares with LBBT_API (lbbt/status.h).
$(CORE_OBJ): CFLAGS += -fvisibility=hidden
# Per-ISA-level kernels (core/src/*/*_{baseline,avx2,avx512}.c): the same source compiled
# for x86-64, x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512), whatever OPT/NATIVE say.
ifeq ($(shell uname -m),x86_64)
$(BUILD)/obj/%_baseline.o: CFLAGS += -march=x86-64 -mtune=generic
# AdamW's loop in SIMD lanes (core/src/optim/adamw.c says why the result is the same)
$(BUILD)/obj/core/src/optim/adamw.o: CFLAGS += -fno-math-errno
$(BUILD)/obj/%_avx2.o: CFLAGS += -march=x86-64-v3 -mtune=generic
$(BUILD)/obj/%_avx512.o: CFLAGS += -march=x86-64-v4 -mtune=generic -mprefer-vector-width=512
endif

$(BUILD)/liblbbt.so: $(CORE_OBJ)
	@echo "  LD      $@"
	@$(CC) -shared $(LDFLAGS) -o $@ $^ $(LIBS)

# Internal helpers the CLI's sweep uses (mkdir -p, atomic publish): the library does not export
# them (-fvisibility=hidden), so the binary links its own copy of these two stateless objects.
CLI_CORE_OBJ := $(BUILD)/obj/core/src/base/fs_util.o $(BUILD)/obj/core/src/base/atomic_file.o
$(BUILD)/lbbt: $(CLI_OBJ) $(CLI_CORE_OBJ) $(BUILD)/liblbbt.so
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(CLI_CORE_OBJ) -L$(BUILD) -llbbt -Wl,-rpath,'$$ORIGIN' $(LIBS)

# Plugins link against the core library; rpath points back to build/.
$(BUILD)/plugins/%.so: plugins/%.c $(BUILD)/liblbbt.so $(wildcard core/include/lbbt/*.h)
	@mkdir -p $(dir $@)
	@echo "  PLUGIN  $@"
	@$(CC) $(CFLAGS) -shared $(LDFLAGS) -o $@ $< -L$(BUILD) -llbbt -Wl,-rpath,'$$ORIGIN/../..' $(LIBS)

$(BUILD)/plugins/tasks/%.so: plugins/tasks/%.c $(TASK_SHARED_SRC) $(TASK_SHARED_H) $(BUILD)/liblbbt.so $(wildcard core/include/lbbt/*.h)
	@mkdir -p $(dir $@)
	@echo "  PLUGIN  $@"
	@$(CC) $(CFLAGS) -Iplugins/tasks -shared $(LDFLAGS) -o $@ $< $(TASK_SHARED_SRC) -L$(BUILD) -llbbt -Wl,-rpath,'$$ORIGIN/../..' $(LIBS)

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c $(BUILD)/liblbbt.so $(wildcard core/include/lbbt/*.h)
	@mkdir -p $(dir $@)
	@echo "  PLUGIN  $@"
	@$(CC) $(CFLAGS) -shared $(LDFLAGS) -o $@ $< -L$(BUILD) -llbbt -Wl,-rpath,'$$ORIGIN/../..' $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(TASK_SHARED_SRC) $(TASK_SHARED_H) $(BUILD)/liblbbt.so
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) -Itests/unit -Iplugins/tasks $(LDFLAGS) -o $@ $< $(TASK_SHARED_SRC) -L$(BUILD) -llbbt -Wl,-rpath,'$$ORIGIN/..' $(LIBS)

# Tests of internal functions (they include core/src headers) link the core's objects, since
# the library does not export those functions.
INTERNAL_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(shell grep -lE \
  '^#include "(\.\./\.\./core/src/)?(base|autograd|nn|ops|optim|data|ckpt|text|config|results|runtime|report|analysis|curvature)/' $(TEST_SRC)))
$(INTERNAL_TESTS): $(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@ (core objects)"
	@$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(CORE_OBJ) $(LIBS)

# make test's data-parallel variant when Open MPI is installed (tests/cli/mpi.sh):
# $(BUILD)/mpi/lbbt, the same objects with the MPI module (core/src/dist/dist.c) built by
# mpicc; it loads $(BUILD)/plugins (a link), which bind to the liblbbt.so already loaded.
MPICC     := $(shell command -v mpicc 2>/dev/null)
DIST_OBJ  := $(BUILD)/obj/core/src/dist/dist.o
MPI_TEST  := $(if $(and $(MPICC),$(filter 0,$(MPI))),$(BUILD)/mpi/lbbt)
$(BUILD)/mpi/dist.o: core/src/dist/dist.c core/include/lbbt/dist.h $(DEPS_OK)
	@mkdir -p $(dir $@)
	@echo "  MPICC   $<"
	@mpicc $(CFLAGS) -fvisibility=hidden -DLBBT_MPI -c $< -o $@
$(BUILD)/mpi/liblbbt.so: $(filter-out $(DIST_OBJ),$(CORE_OBJ)) $(BUILD)/mpi/dist.o
	@echo "  LD      $@"
	@mpicc -shared $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/mpi/lbbt: $(CLI_OBJ) $(CLI_CORE_OBJ) $(BUILD)/mpi/liblbbt.so
	@echo "  LD      $@"
	@mpicc $(LDFLAGS) -o $@ $(CLI_OBJ) $(CLI_CORE_OBJ) -L$(BUILD)/mpi -llbbt -Wl,-rpath,'$$ORIGIN' $(LIBS)
	@ln -sfn ../plugins $(BUILD)/mpi/plugins

# Two steps: the Debian packages first, then a fresh make that sees what they installed
# (mpicc decides MPI_TEST when the Makefile is read: on a new machine it arrives with deps).
test: $(DEPS_OK)
	@$(MAKE) --no-print-directory run-tests
run-tests: all $(TESTS) $(TPLUGINS) $(MPI_TEST)
	@LBBT_BUILD=$(BUILD) tools/run-tests

# Sanitizers slow everything several times: each test gets 45 minutes and the hang guards of
# the hostile-input tests 5 (both are limits for hangs, not timings).
asan:
	LBBT_SANITIZED=1 LBBT_TEST_TIMEOUT=2700 LBBT_HANG_GUARD_S=300 $(MAKE) BUILD=build-asan SAN=1 OPT=-O1 test

# Regenerate PyTorch fixtures (needs python3-torch) and compare.
parity: all $(TESTS)
	tools/install-deps --reference
	@for s in tests/reference/*.py; do echo "== $$s"; /usr/bin/python3 $$s || exit 1; done
	@LBBT_BUILD=$(BUILD) tools/run-tests parity

fuzz:
	tools/run-fuzz

# make bench ISA=avx2: lbbt, oneDNN and PyTorch all capped to one ISA level (tools/bench).
bench: all $(BUILD)/bench_train
	tools/install-deps --reference
	LBBT_BUILD=$(BUILD) ISA=$(ISA) tools/bench

# Data-parallel throughput: 1 vs 2 ranks, the allreduce's share and cost by size
# (tools/bench-mpi; docs/SCALING.md).
bench-mpi: all $(BUILD)/mpi/lbbt $(BUILD)/mpi/bench_allreduce
	LBBT_BUILD=$(BUILD) tools/bench-mpi

$(BUILD)/mpi/bench_allreduce: bench/bench_allreduce.c $(BUILD)/mpi/liblbbt.so
	@echo "  BENCH   $@"
	@mpicc $(CFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD)/mpi -llbbt -Wl,-rpath,'$$ORIGIN' $(LIBS)

$(BUILD)/bench_%: bench/bench_%.c $(BUILD)/liblbbt.so
	@echo "  BENCH   $@"
	@$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< -L$(BUILD) -llbbt -Wl,-rpath,'$$ORIGIN' $(LIBS)

# A table whose experiment reads lbbt's own GPT-2 (models/lbbt-gpt2-fortunes[-smoke]: the
# second language-pretrained backbone of the cpu and smoke tiers) builds it first with
# `make models-lm`, which is free once the model is up to date; one that reads lbbt's
# time-series T5 (models/lbbt-chronos-t5[-smoke], Table 13) builds it with `make models-ts`.
# The paper tier uses neither.
NEEDS_LM = $(and $(filter cpu smoke,$(TIER)),$(shell grep -l 'models/lbbt-gpt2-fortunes' experiments/table-$*.yaml 2>/dev/null))
NEEDS_TS = $(and $(filter cpu smoke,$(TIER)),$(shell grep -l 'models/lbbt-chronos-t5' experiments/table-$*.yaml 2>/dev/null))
# A table whose cpu tier runs faster as JOBS_N one-thread runs at once than one run at a time
# on every thread (each run one process, `lbbt sweep --jobs`, merged into the same results
# file; the same numbers as --threads 1): Table 6's detector runs spend about 28% more CPU
# time on two threads than on one (docs/detection.md, "Cost of the cpu tier").
JOBS_6 = 2
table-%: all
	$(if $(NEEDS_LM),@$(MAKE) --no-print-directory models-lm TIER=$(TIER) THREADS=$(THREADS))
	$(if $(NEEDS_TS),@$(MAKE) --no-print-directory models-ts TIER=$(TIER) THREADS=$(THREADS))
	$(BUILD)/lbbt run experiments/scratch-health.yaml --tier $(TIER) --threads $(THREADS)
	$(if $(and $(JOBS_$*),$(filter cpu,$(TIER))),$(BUILD)/lbbt sweep experiments/table-$*.yaml --tier $(TIER) --jobs $(JOBS_$*),$(BUILD)/lbbt run experiments/table-$*.yaml --tier $(TIER) --threads $(THREADS))
	$(BUILD)/lbbt table $* --tier $(TIER)

# make figure-N: the figure's data, then its plot.  The data is experiments/figure-N.yaml run
# at $(TIER) into results/figure-N[-tier].h5 when that file exists, else experiments/N.yaml
# into results/N[-tier].h5 (experiments beyond the paper: make figure-pretrain-amount); an
# experiment that uses lbbt's own language model runs `make models` first.  Figures drawn
# from a table's runs name it in FIGURE_TABLE_N and `make table-M` runs (resuming) instead;
# figures drawn from another figure's runs name it in FIGURE_DATA_N (its experiment runs,
# resuming).
# Then tools/plot/figure-N.py RESULTS.h5 results/figure-N[-tier].png draws it (h5py, matplotlib).
TIER_SUFFIX     = $(if $(filter cpu,$(TIER)),,-$(TIER))
FIGURE_TABLE_3  = 2
FIGURE_TABLE_8  = 8
FIGURE_DATA_10  = 2
FIGURE_DATA_11  = 2
# make figure-sizes: Table 5's runs (lbbt's GPT-2 at three widths), tools/plot/figure-sizes.py
FIGURE_TABLE_sizes = 5
# make figure-detections: Table 6's runs (the detr task records the boxes they draw)
FIGURE_TABLE_detections = 6
# make figure-retrieval: Table 11's retrieval examples (top-5 per arm for a few queries)
FIGURE_TABLE_retrieval = 11
FIGURE_TABLE_segmentation = 9
figure-%: all
	@test -f tools/plot/figure-$*.py || { echo "no figure $* (tools/plot/figure-$*.py is absent)" >&2; exit 2; }
	@mkdir -p results
	@set -e; tab='$(FIGURE_TABLE_$*)'; src='$(or $(FIGURE_DATA_$*),$*)'; \
	exp=experiments/figure-$$src.yaml; h5=results/figure-$$src$(TIER_SUFFIX).h5; \
	if [ ! -f $$exp ] && [ -f experiments/$$src.yaml ]; then exp=experiments/$$src.yaml; h5=results/$$src$(TIER_SUFFIX).h5; fi; \
	if [ -f $$exp ]; then \
	  if grep -q 'models/lbbt-gpt2-fortunes' $$exp; then $(MAKE) --no-print-directory models TIER=$(TIER) THREADS=$(THREADS); fi; \
	  echo "$(BUILD)/lbbt run $$exp --tier $(TIER) --threads $(THREADS) --out $$h5"; \
	  $(BUILD)/lbbt run $$exp --tier $(TIER) --threads $(THREADS) --out $$h5; \
	elif [ -n "$$tab" ]; then \
	  $(MAKE) --no-print-directory table-$$tab TIER=$(TIER) THREADS=$(THREADS); \
	  h5=results/table-$$tab$(TIER_SUFFIX).h5; \
	else echo "figure $*: neither experiments/figure-$*.yaml nor a FIGURE_TABLE_$* in the Makefile" >&2; exit 2; fi; \
	echo "/usr/bin/python3 tools/plot/figure-$*.py $$h5 results/figure-$*$(TIER_SUFFIX).png"; \
	/usr/bin/python3 tools/plot/figure-$*.py $$h5 results/figure-$*$(TIER_SUFFIX).png

# Test the paper's claims (paper-tables/claims.yaml): run and render every table they use at
# TIER, then write results/verdicts[-TIER].md.
verdicts: all
	@tables=$$($(BUILD)/lbbt verdicts --list-tables) || exit 1; \
	for t in $$tables; do $(MAKE) --no-print-directory table-$$t TIER=$(TIER) || exit 1; done
	$(BUILD)/lbbt verdicts --tier $(TIER)

# The model folder each tier of experiments/lm-pretrain.yaml writes (its options.out) and
# its results (the three are overridden together by tests/cli/lm_pretrain.sh); the same for
# lbbt's time-series T5 (experiments/ts-pretrain.yaml, docs/timeseries.md).
LM_EXPERIMENT = experiments/lm-pretrain.yaml
LM_MODEL = models/lbbt-gpt2-fortunes$(if $(filter-out cpu,$(TIER)),-$(TIER))
LM_RESULTS = results/lm-pretrain$(if $(filter-out cpu,$(TIER)),-$(TIER)).h5
TS_EXPERIMENT = experiments/ts-pretrain.yaml
TS_MODEL = models/lbbt-chronos-t5$(if $(filter-out cpu,$(TIER)),-$(TIER))
TS_RESULTS = results/ts-pretrain$(if $(filter-out cpu,$(TIER)),-$(TIER)).h5
# $(call pretrain_model,EXPERIMENT,MODEL,RESULTS): run a pretraining experiment into its
# model folder unless that folder is up to date.
define pretrain_model
	@# A model folder whose lbbt_pretrain.json names another run id was made by other settings
	@# (the id is a hash of the run's whole configuration): remove it and its results, retrain.
	@set -e; id=$$($(BUILD)/lbbt check $(1) --tier $(TIER) | awk 'NR == 1 {print $$1}'); \
	[ -n "$$id" ] || exit 2; \
	made=$$(sed -n 's/.*"run_id": *"\([0-9a-f]*\)".*/\1/p' $(2)/lbbt_pretrain.json 2>/dev/null || true); \
	if [ -n "$$made" ] && [ "$$made" != "$$id" ]; then \
	  echo "$(2) was made by run $$made; $(1) (tier $(TIER)) is now run $$id: removing it and $(3), retraining"; \
	  rm -rf $(2) $(3); \
	fi
	@# A results file that marks the run complete skips it; if the model folder is missing,
	@# start over.  (An incomplete run resumes from its last epoch.)
	@test -f $(2)/model.safetensors || ! $(BUILD)/lbbt run $(1) --tier $(TIER) --out $(3) --dry-run 2>&1 | grep -q 'complete in' || rm -f $(3)
	@# Passive OpenMP waiting: on a shared machine, spinning threads wait for descheduled
	@# partners at every barrier (measured 5x slower under load); results are the same.
	$(BUILD)/lbbt run $(1) --tier $(TIER) --threads $(THREADS) --out $(3)
	@test -f $(2)/model.safetensors && echo "model: $(2)"
endef
# make models: both; make models-lm / models-ts: one (one after the other: each uses THREADS).
models: all
	@$(MAKE) --no-print-directory models-lm TIER=$(TIER) THREADS=$(THREADS)
	@$(MAKE) --no-print-directory models-ts TIER=$(TIER) THREADS=$(THREADS)
models-lm: all
	$(call pretrain_model,$(LM_EXPERIMENT),$(LM_MODEL),$(LM_RESULTS))
models-ts: all
	$(call pretrain_model,$(TS_EXPERIMENT),$(TS_MODEL),$(TS_RESULTS))

# Table 5's size sweep (experiments/lm-pretrain-sizes.yaml): lbbt's GPT-2 at widths 32 and 64
# (8 and 16 at TIER=smoke), pretrained exactly like `make models`' width-128 model, which is
# the sweep's third size; `make table-5` runs this first.  Cached as `make models` is: the
# runner skips complete runs; a results file that marks them complete while a model folder is
# missing starts over.  The paper tier reads Qwen3 checkpoints and needs none of these.
SIZES_EXPERIMENT = experiments/lm-pretrain-sizes.yaml
SIZES_RESULTS = results/lm-pretrain-sizes$(TIER_SUFFIX).h5
.PHONY: models-sizes
models-sizes: all
	@case "$(TIER)" in cpu|smoke) ;; *) echo "models-sizes: nothing to build at tier $(TIER)"; exit 0 ;; esac; \
	set -e; $(MAKE) --no-print-directory models TIER=$(TIER) THREADS=$(THREADS); \
	for m in $$(sed -n 's/.*out: *\(models\/lbbt-gpt2-d[0-9]*[a-z-]*\).*/\1/p' $(SIZES_EXPERIMENT) | \
	            grep -x 'models/lbbt-gpt2-d[0-9]*$(TIER_SUFFIX)'); do \
	  test -f $$m/model.safetensors || { rm -f $(SIZES_RESULTS); break; }; \
	done; \
	echo "$(BUILD)/lbbt run $(SIZES_EXPERIMENT) --tier $(TIER) --threads $(THREADS) --out $(SIZES_RESULTS)"; \
	$(BUILD)/lbbt run $(SIZES_EXPERIMENT) --tier $(TIER) --threads $(THREADS) --out $(SIZES_RESULTS)
table-5: models-sizes

paper: all
	@for t in 1 2 3 4 5 6 7 8 9 11 12 13 14 15; do $(MAKE) --no-print-directory table-$$t TIER=$(TIER) || exit 1; done

clean:
	rm -rf build build-asan
