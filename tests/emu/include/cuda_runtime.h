// Host emulation of what nvcc gives device code implicitly: the qualifiers, the built-in
// thread and block indices, __syncthreads, vector types and the math functions, plus the
// runtime API (cuda_runtime_api.h). Kernels launch through abc_emu::launch_kernel
// (kernels/kernel_util.cuh picks it instead of <<< >>>).
#pragma once
#include <cmath>

#include "cuda_runtime_api.h"
#include "emu.hpp"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

// The running CUDA thread's indices (each CUDA thread is a fiber: see emu.hpp).
#define threadIdx (::abc_emu::thread_idx())
#define blockIdx (::abc_emu::block_idx())
#define blockDim (::abc_emu::block_dim())
#define gridDim (::abc_emu::grid_dim())
#define __syncthreads() ::abc_emu::syncthreads()

struct alignas(16) float4 {
  float x, y, z, w;
};

// Device code calls the C math functions unqualified, as CUDA's headers declare them.
using std::isfinite;
using std::isnan;
