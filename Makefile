# Fathom -- build the C core (always), the CUDA backend (when nvcc and cuDNN are found),
# the FFI declarations (generated from core/fathom.h), and run the tests.
#   make            build build/libfathom.so and bindings/cdef.lua
#   make test       the whole busted suite under LuaJIT
#   make bench      the benchmark programs (see BENCHMARKS.md)
#   make install    used by luarocks (LUADIR, LIBDIR)
#   make CUDA=0     CPU-only even where the CUDA toolkit is found; `make info` says what was
#   make cuda-check compile every core/cuda/*.cu (no GPU needed); make bench-gpu: needs a GPU
#   make MPI=0      no MPI even where mpicc is found (core/dist/ then says how to get it);
#                   NCCL=0 no NCCL path for GPU tensors

CC      ?= cc
LUAJIT  ?= luajit
ARCH    ?= -march=native
CFLAGS  ?= -O3 $(ARCH) -fno-math-errno
override CFLAGS += -std=gnu11 -fPIC -fopenmp -Wall -Wextra -Wno-unused-parameter -Icore
override LDLIBS += -lopenblas -lpng -ljpeg -lz -lm -lpthread -fopenmp
# never unloaded: LuaJIT closes libraries at exit while OpenMP worker threads still run
override LDLIBS += -Wl,-z,nodelete
BUILD   := build
LIB     := $(BUILD)/libfathom.so

# One folder per layer: tensor/ (storage, math, BLAS, random, errors), nn/ (kernels and the
# residual block), data/ (readers, loader), cuda/ (the CUDA twins; stubs.c when CUDA is off).
SRCS    := $(wildcard core/*/*.c)
OBJS    := $(SRCS:core/%.c=$(BUILD)/%.o)
HDRS    := $(wildcard core/*.h core/*/*.h)

# OpenBLAS headers live in different places on different distributions.
OPENBLAS_INC := $(firstword $(wildcard /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas /usr/include/x86_64-linux-gnu))
override CFLAGS += $(if $(OPENBLAS_INC),-I$(OPENBLAS_INC))

# CUDA backend (core/cuda/*.cu): built when nvcc AND cuDNN (header and library) are
# found, else the library is CPU-only. CUDA=0 forces a CPU-only build; CUDA=1 makes a
# missing toolkit an error. CUDA_HOME and CUDNN_HOME point elsewhere (CUDNN_HOME may be
# a pip wheel's nvidia/cudnn directory); CUDA_ARCH picks the GPUs (default: Hopper,
# sm_90, plus PTX that newer GPUs compile at load time).
# The library links cudart and cudnn (cuDNN's front library is a small shim; both load
# in milliseconds and need no driver); cuBLAS (0.6 s to load) is opened on first use.
# A CUDA build runs everything on the CPU on a machine without a GPU or driver.
CUDA      ?= auto
CUDA_HOME ?= $(firstword $(wildcard /usr/local/cuda /usr/lib/cuda))
NVCC      := $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_LIBDIR ?= $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib))
# cuDNN: in the toolkit, a system package, or a pip wheel (nvidia-cudnn-cu*).
CUDNN_CANDIDATES := $(CUDA_HOME) /usr /usr/local $(wildcard /opt/*/.venv/lib/python3*/site-packages/nvidia/cudnn \
  /usr/local/lib/python3*/dist-packages/nvidia/cudnn /usr/lib/python3/dist-packages/nvidia/cudnn)
CUDNN_HOME  ?= $(firstword $(foreach d,$(CUDNN_CANDIDATES),$(if $(wildcard $(d)/include/cudnn.h),$(d))) $(CUDA_HOME))
CUDNN_INC   := $(firstword $(patsubst %/cudnn.h,%,$(wildcard $(CUDNN_HOME)/include/cudnn.h /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h)))
CUDNN_LIBDIR := $(firstword $(patsubst %/,%,$(dir $(wildcard $(CUDNN_HOME)/lib64/libcudnn.so* $(CUDNN_HOME)/lib/libcudnn.so* /usr/lib/x86_64-linux-gnu/libcudnn.so*))))
# -lcudnn needs the unversioned libcudnn.so, which wheels lack: then name the file.
CUDNN_LINK  := $(if $(wildcard $(CUDNN_LIBDIR)/libcudnn.so),-lcudnn,$(firstword $(wildcard $(CUDNN_LIBDIR)/libcudnn.so.*)))
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
CU_SRCS   := $(wildcard core/cuda/*.cu)
CU_HDRS   := $(wildcard core/cuda/*.cuh)

CUDA_FOUND := $(and $(NVCC),$(CUDA_LIBDIR),$(CUDNN_INC),$(CUDNN_LIBDIR),$(CU_SRCS))
ifeq ($(CUDA),0)
  CUDA_ON :=
else ifeq ($(CUDA),1)
  CUDA_ON := 1
  ifeq ($(CUDA_FOUND),)
    $(error CUDA=1 but the toolkit is incomplete: nvcc '$(NVCC)', CUDA libraries '$(CUDA_LIBDIR)', cuDNN header '$(CUDNN_INC)', cuDNN library '$(CUDNN_LIBDIR)' (set CUDA_HOME / CUDNN_HOME))
  endif
else
  CUDA_ON := $(if $(CUDA_FOUND),1)
endif

comma := ,
NVCCFLAGS ?= -O3
override NVCCFLAGS += -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC,-Wall -DFT_WITH_CUDA -Icore \
  $(if $(CUDNN_INC),-I$(CUDNN_INC)) -DFT_CUDA_LIBDIR='"$(CUDA_LIBDIR)"'
ifeq ($(CUDA_ON),1)
  override CFLAGS += -DFT_WITH_CUDA
  CU_OBJS := $(CU_SRCS:core/%.cu=$(BUILD)/%.cu.o)
  override LDLIBS += -L$(CUDA_LIBDIR) -L$(CUDNN_LIBDIR) $(CUDNN_LINK) -lcudart -ldl -lstdc++ \
    -Wl,-rpath,$(CUDA_LIBDIR) $(addprefix -Wl$(comma)-rpath$(comma),$(filter-out $(CUDA_LIBDIR),$(CUDNN_LIBDIR)))
endif
# Objects remember whether they were compiled for CUDA: switching rebuilds them.
CONFIG_STAMP := $(BUILD)/.config-cuda$(or $(CUDA_ON),0)

.PHONY: all test bench bench-gpu install clean cuda-check info
all: info $(LIB) bindings/cdef.lua

info:
	@echo "fathom: OpenBLAS headers: $(or $(OPENBLAS_INC),not found)"
	@echo "fathom: nvcc: $(or $(NVCC),not found); CUDA libraries: $(or $(CUDA_LIBDIR),not found)"
	@echo "fathom: cuDNN header: $(or $(CUDNN_INC),not found); cuDNN library: $(or $(CUDNN_LIBDIR),not found)"
	@echo "fathom: CUDA backend: $(if $(CUDA_ON),ON ($(CUDA_ARCH)),OFF: CPU-only build$(if $(filter 0,$(CUDA)), (CUDA=0)))"
	@if [ -f $(LIB) ] && [ -f bindings/cdef.lua ]; then FATHOM_LIB=$(CURDIR)/$(LIB) $(LUAJIT) -e \
	  "package.path='./?.lua;'..package.path print('fathom: ' .. require('fathom').openblasInfo().message)" \
	  2>/dev/null || echo "fathom: OpenBLAS kernels: unknown (luajit could not load the library)"; \
	 else echo "fathom: OpenBLAS kernels: shown once the library is built (make, then make info)"; fi
	@echo "fathom: MPI: $(if $(MPI_ON),ON ($(MPICC); mpi.h in $(MPI_INC)),OFF$(if $(filter 0,$(MPI)), (MPI=0),: mpicc or mpi.h not found (apt-get install libopenmpi-dev openmpi-bin)))"
	@echo "fathom: NCCL: $(if $(NCCL_ON),ON (nccl.h in $(NCCL_INC); libnccl.so.2 opened at run time$(if $(NCCL_LIBDIR), from $(NCCL_LIBDIR))),OFF$(if $(filter 0,$(NCCL)), (NCCL=0),: needs the CUDA backend, MPI and nccl.h (NCCL_HOME)))"

$(CONFIG_STAMP): | $(BUILD)
	rm -f $(BUILD)/.config-cuda*
	touch $@

$(BUILD)/%.o: core/%.c $(HDRS) $(CONFIG_STAMP) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: core/%.cu $(HDRS) $(CU_HDRS) $(CONFIG_STAMP) | $(BUILD)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(LIB): $(OBJS) $(CU_OBJS)
	$(CC) -shared -o $@ $(OBJS) $(CU_OBJS) $(LDLIBS)

$(BUILD):
	mkdir -p $(BUILD)

# MPI (core/dist/, data-parallel training): built when mpicc and its mpi.h are found (Open
# MPI's -showme, MPICH's -compile_info/-link_info); only core/dist/*.c see the MPI flags and
# only then is libmpi linked. MPI=0 forces it off, MPI=1 makes a missing MPI an error.
MPI       ?= auto
MPICC     ?= $(shell command -v mpicc 2>/dev/null)
MPI_CFLAGS := $(if $(MPICC),$(filter -I% -D%,$(or $(shell $(MPICC) -showme:compile 2>/dev/null),$(shell $(MPICC) -compile_info 2>/dev/null))))
MPI_LIBS   := $(if $(MPICC),$(filter -L% -l% -Wl%,$(or $(shell $(MPICC) -showme:link 2>/dev/null),$(shell $(MPICC) -link_info 2>/dev/null))))
MPI_INC    := $(firstword $(patsubst %/mpi.h,%,$(wildcard $(patsubst -I%,%/mpi.h,$(filter -I%,$(MPI_CFLAGS))) /usr/include/mpi.h)))
MPI_FOUND  := $(and $(MPICC),$(MPI_INC),$(filter -lmpi%,$(MPI_LIBS)))
ifeq ($(MPI),0)
  MPI_ON :=
else ifeq ($(MPI),1)
  MPI_ON := 1
  ifeq ($(MPI_FOUND),)
    $(error MPI=1 but no MPI was found: mpicc '$(MPICC)', mpi.h '$(MPI_INC)' (apt-get install libopenmpi-dev openmpi-bin))
  endif
else
  MPI_ON := $(if $(MPI_FOUND),1)
endif
# NCCL (core/dist/nccl.cu: CUDA tensors in the collectives): with the CUDA backend and MPI,
# when nccl.h is found (NCCL_HOME, default the toolkit; or /usr/include). Not linked: it is
# opened with dlopen on first use. NCCL=0 forces it off.
NCCL      ?= auto
NCCL_HOME ?= $(CUDA_HOME)
NCCL_INC  := $(firstword $(patsubst %/nccl.h,%,$(wildcard $(NCCL_HOME)/include/nccl.h /usr/include/nccl.h)))
NCCL_LIBDIR := $(firstword $(patsubst %/,%,$(dir $(wildcard $(NCCL_HOME)/lib64/libnccl.so.2 $(NCCL_HOME)/lib/libnccl.so.2 /usr/lib/x86_64-linux-gnu/libnccl.so.2))))
NCCL_ON   := $(if $(filter 0,$(NCCL)),,$(if $(and $(CUDA_ON),$(MPI_ON),$(NCCL_INC)),1))
DIST_OBJS := $(patsubst core/%.c,$(BUILD)/%.o,$(wildcard core/dist/*.c))
NCCL_OBJS := $(if $(NCCL_ON),$(BUILD)/dist/nccl.cu.o)
MPI_STAMP := $(BUILD)/.config-mpi$(or $(MPI_ON),0)-nccl$(or $(NCCL_ON),0)
ifeq ($(MPI_ON),1)
  $(DIST_OBJS): override CFLAGS += -DFT_WITH_MPI $(MPI_CFLAGS)
  override LDLIBS += $(MPI_LIBS) -ldl
endif
ifeq ($(NCCL_ON),1)
  CU_OBJS += $(NCCL_OBJS)
  $(DIST_OBJS): override CFLAGS += -DFT_WITH_NCCL
  $(NCCL_OBJS): override NVCCFLAGS += -DFT_WITH_NCCL -I$(NCCL_INC) $(if $(NCCL_LIBDIR),-DFT_NCCL_LIBDIR='"$(NCCL_LIBDIR)"')
endif
$(DIST_OBJS) $(NCCL_OBJS): $(MPI_STAMP)
$(LIB): $(NCCL_OBJS)
$(MPI_STAMP): | $(BUILD)
	rm -f $(BUILD)/.config-mpi*
	touch $@

bindings/cdef.lua: core/fathom.h bindings/gen_cdef.lua
	$(LUAJIT) bindings/gen_cdef.lua core/fathom.h > $@.tmp && mv $@.tmp $@

# Compile (not link) every CUDA source, so CUDA code is checked on machines without a GPU.
cuda-check: | $(BUILD)
	@if [ -z "$(NVCC)" ]; then echo "fathom: nvcc not found, nothing to check"; \
	 elif [ -z "$(CUDNN_INC)" ]; then echo "fathom: cuDNN header not found (set CUDNN_HOME), nothing to check"; \
	 elif [ -z "$(CU_SRCS)" ]; then echo "fathom: no CUDA sources yet"; \
	 else mkdir -p $(BUILD)/cuda-check && for f in $(CU_SRCS); do echo "nvcc -c $$f"; \
	   $(NVCC) $(NVCCFLAGS) -c $$f -o $(BUILD)/cuda-check/$$(basename $$f .cu).o || exit 1; done; \
	   echo "fathom: every CUDA source compiles"; fi

test: all
	FATHOM_LIB=$(CURDIR)/$(LIB) $(LUAJIT) spec/run.lua

bench: all
	$(CC) $(CFLAGS) bench/gemm_openblas.c -o $(BUILD)/gemm_openblas $(LDLIBS)
	$(CC) $(CFLAGS) bench/peak_fma.c -o $(BUILD)/peak_fma -fopenmp

# ResNet-110 training step on the GPU, Fathom then PyTorch on the same card (needs a GPU;
# bench/resnet_flops.lua gives the floor without one).
bench-gpu: all
	FATHOM_LIB=$(CURDIR)/$(LIB) $(LUAJIT) bench/resnet_gpu.lua -torch 1

LUADIR ?= $(BUILD)/install/lua
LIBDIR ?= $(BUILD)/install/lib
BINDIR ?= $(BUILD)/install/bin
# The library, and beside it the models (require 'models.resnet_cifar') and the recipes
# (modules recipes.NAME, run by bin/fathom-train NAME): an installed tree needs no checkout.
install: all
	mkdir -p $(LUADIR)/fathom $(LUADIR)/models $(LUADIR)/recipes $(LIBDIR) $(BINDIR)
	cp -r lua/fathom/* $(LUADIR)/fathom/
	cp bindings/cdef.lua $(LUADIR)/fathom/cdef.lua
	cp bindings/loader.lua $(LUADIR)/fathom/loader.lua
	cp models/*.lua $(LUADIR)/models/
	cp recipes/*.lua $(LUADIR)/recipes/
	cp bin/fathom bin/fathom-train bin/fathom-data $(BINDIR)/
	cp $(LIB) $(LIBDIR)/libfathom.so
	# Torch7 names (require 'torch', 'nn', 'optim', 'paths', 'nninit', 'cutorch', 'cunn', 'cudnn')
	cp lua/torch.lua lua/nn.lua lua/optim.lua lua/paths.lua lua/nninit.lua lua/cutorch.lua lua/cunn.lua lua/cudnn.lua $(LUADIR)/

clean:
	rm -rf $(BUILD) bindings/cdef.lua

# ---- robustness: fuzzers and sanitizers (see RELIABILITY.md) -------------------------
#   make fuzz [FUZZ_SECONDS=N] [FUZZ_TARGETS="cifar t7"]   build the libFuzzer harnesses
#                                (clang) in build/fuzz, write the seed corpora, run each
#                                fuzzer (or those named) N seconds (default 10);
#                                crashes land in build/fuzz/findings/<target>/
#   make sanitize [SANITIZE_SPECS="spec/x_spec.lua ..."]   the suite (or those specs)
#                                against an ASan+UBSan build of the library (build/asan)
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -std=gnu11 -Icore $(if $(OPENBLAS_INC),-I$(OPENBLAS_INC))
# the parsers and what they stand on: no OpenMP, no CUDA, no loader threads
FUZZ_LIB_SRCS := $(wildcard core/tensor/*.c) core/data/cifar.c core/data/mat.c core/data/image.c \
  core/data/png.c core/data/limits.c core/cuda/stubs.c
FUZZ_ALL_C_TARGETS := cifar mat png jpeg
FUZZ_ALL_LUA_TARGETS := safetensors checkpoint t7
# FUZZ_TARGETS="png t7" runs only those (default: all of them)
FUZZ_TARGETS ?= $(FUZZ_ALL_C_TARGETS) $(FUZZ_ALL_LUA_TARGETS)
FUZZ_C_TARGETS := $(filter $(FUZZ_ALL_C_TARGETS),$(FUZZ_TARGETS))
FUZZ_LUA_TARGETS := $(filter $(FUZZ_ALL_LUA_TARGETS),$(FUZZ_TARGETS))
FUZZ_UNKNOWN := $(filter-out $(FUZZ_ALL_C_TARGETS) $(FUZZ_ALL_LUA_TARGETS),$(FUZZ_TARGETS))
ifneq ($(FUZZ_UNKNOWN),)
$(error FUZZ_TARGETS: unknown target(s) $(FUZZ_UNKNOWN) (known: $(FUZZ_ALL_C_TARGETS) $(FUZZ_ALL_LUA_TARGETS)))
endif

$(FUZZ_DIR)/fuzz-cifar: fuzz/cifar.c
$(FUZZ_DIR)/fuzz-mat: fuzz/mat.c
$(FUZZ_DIR)/fuzz-png $(FUZZ_DIR)/fuzz-jpeg: fuzz/image.c
$(FUZZ_DIR)/fuzz-%: fuzz/fuzz_common.h $(FUZZ_LIB_SRCS) $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(filter %.c,$^) -o $@ -lopenblas -lpng -ljpeg -lz -lm -lpthread

fuzz-build: $(addprefix $(FUZZ_DIR)/fuzz-,$(FUZZ_C_TARGETS))

fuzz-corpus: all
	rm -rf $(FUZZ_DIR)/seeds
	FATHOM_LIB=$(CURDIR)/$(LIB) $(LUAJIT) fuzz/make_corpus.lua $(FUZZ_DIR)/seeds

# Each fuzzer grows its own corpus (build/fuzz/corpus/<target>, seeded and kept between
# runs); the Lua targets mutate the seeds in LuaJIT. Any finding fails the target.
fuzz: fuzz-build fuzz-corpus
	@set -e; for t in $(FUZZ_C_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/findings/$$t; \
	  echo "== fuzz-$$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_DIR)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -rss_limit_mb=2048 \
	    -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/findings/$$t/ \
	    $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/seeds/$$t >$(FUZZ_DIR)/$$t.log 2>&1 || { tail -40 $(FUZZ_DIR)/$$t.log; \
	    echo "fuzz-$$t: FINDINGS in $(FUZZ_DIR)/findings/$$t (log $(FUZZ_DIR)/$$t.log)"; exit 1; }; \
	  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb)' $(FUZZ_DIR)/$$t.log; \
	done; \
	for t in $(FUZZ_LUA_TARGETS); do \
	  echo "== lua_fuzz $$t for $(FUZZ_SECONDS) s"; \
	  FATHOM_LIB=$(CURDIR)/$(LIB) $(LUAJIT) fuzz/lua_fuzz.lua $$t $(FUZZ_DIR)/seeds/$$t $(FUZZ_SECONDS) $(FUZZ_DIR)/findings/$$t; \
	done; echo "fuzz: no findings"

SANITIZE_BUILD := build/asan
SANITIZE_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined $(ARCH)
# LuaJIT is not instrumented: the ASan and UBSan runtimes are preloaded into it (the
# library is linked without them; without libubsan a UBSan report would end the process
# with "undefined symbol: __ubsan_handle_..." instead). Leak checking is off (LuaJIT's own
# allocator and exit look like leaks; spec/leak_spec.lua counts ours).
SANITIZE_ENV = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Tools the specs start that hang with the ASan runtime preloaded (curl) run without it.
SANITIZE_UNPRELOAD := curl
sanitize: bindings/cdef.lua
	$(MAKE) --no-print-directory BUILD=$(SANITIZE_BUILD) CUDA=0 MPI=0 CFLAGS="$(SANITIZE_FLAGS)" $(SANITIZE_BUILD)/libfathom.so
	@mkdir -p $(SANITIZE_BUILD)/bin; for t in $(SANITIZE_UNPRELOAD); do p=$$(command -v $$t) || continue; \
	  printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$$@"\n' "$$p" >$(SANITIZE_BUILD)/bin/$$t; chmod +x $(SANITIZE_BUILD)/bin/$$t; done
	PATH="$(CURDIR)/$(SANITIZE_BUILD)/bin:$$PATH" $(SANITIZE_ENV) FATHOM_LIB=$(CURDIR)/$(SANITIZE_BUILD)/libfathom.so \
	  $(LUAJIT) spec/run.lua $(SANITIZE_SPECS)

.PHONY: fuzz fuzz-build fuzz-corpus sanitize
