# Fathom -- build the C core (always), the CUDA backend (when nvcc and cuDNN are found),
# the FFI declarations (generated from core/fathom.h), and run the tests.
#   make            build build/libfathom.so and bindings/cdef.lua
#   make test       the whole busted suite under LuaJIT
#   make bench      the benchmark programs (see BENCHMARKS.md)
#   make install    used by luarocks (LUADIR, LIBDIR)

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

SRCS    := $(wildcard core/*.c)
OBJS    := $(SRCS:core/%.c=$(BUILD)/%.o)
HDRS    := $(wildcard core/*.h)

# OpenBLAS headers live in different places on different distributions.
OPENBLAS_INC := $(firstword $(wildcard /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas /usr/include/x86_64-linux-gnu))
override CFLAGS += $(if $(OPENBLAS_INC),-I$(OPENBLAS_INC))

# CUDA: found when nvcc is; CUDA_HOME may point elsewhere.
CUDA_HOME ?= $(firstword $(wildcard /usr/local/cuda /usr/lib/cuda))
NVCC      := $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CU_SRCS   := $(wildcard core/*.cu)

.PHONY: all test bench install clean cuda-check info
all: info $(LIB) bindings/cdef.lua

info:
	@echo "fathom: OpenBLAS headers: $(or $(OPENBLAS_INC),not found)"
	@echo "fathom: nvcc $(if $(NVCC),found at $(NVCC),not found: CPU-only build)"

$(BUILD)/%.o: core/%.c $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(OBJS)
	$(CC) -shared -o $@ $(OBJS) $(LDLIBS)

$(BUILD):
	mkdir -p $(BUILD)

bindings/cdef.lua: core/fathom.h bindings/gen_cdef.lua
	$(LUAJIT) bindings/gen_cdef.lua core/fathom.h > $@.tmp && mv $@.tmp $@

# Compile (not link) every CUDA source, so CUDA code is checked on machines without a GPU.
cuda-check:
	@if [ -z "$(NVCC)" ]; then echo "fathom: nvcc not found, nothing to check"; \
	 elif [ -z "$(CU_SRCS)" ]; then echo "fathom: no CUDA sources yet"; \
	 else for f in $(CU_SRCS); do $(NVCC) -O3 -std=c++17 -Icore -c $$f -o $(BUILD)/$$(basename $$f .cu).cu.o || exit 1; done; fi

test: all
	FATHOM_LIB=$(CURDIR)/$(LIB) $(LUAJIT) spec/run.lua

bench: all
	$(CC) $(CFLAGS) bench/gemm_openblas.c -o $(BUILD)/gemm_openblas $(LDLIBS)

LUADIR ?= $(BUILD)/install/lua
LIBDIR ?= $(BUILD)/install/lib
install: all
	mkdir -p $(LUADIR)/fathom $(LIBDIR)
	cp -r lua/fathom/* $(LUADIR)/fathom/
	cp bindings/cdef.lua $(LUADIR)/fathom/cdef.lua
	cp bindings/loader.lua $(LUADIR)/fathom/loader.lua
	cp $(LIB) $(LIBDIR)/libfathom.so

clean:
	rm -rf $(BUILD) bindings/cdef.lua
