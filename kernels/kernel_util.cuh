// Shared pieces of the kernels: the launch, shared-memory declarations, the grid-stride
// loop and a deterministic block reduction.
//
// Every kernel is compiled twice from the same source: by nvcc for the GPU, and by the
// host compiler against the CUDA emulation in tests/emu (ABC_CUDA_EMULATION), whose
// cuda_runtime.h stands in for the real one. The two spellings that differ, the launch
// and shared memory, are written through the helpers below.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#if defined(__CUDACC__)
// A block-shared array of `count` elements, and the launch's dynamic shared memory.
#define ABC_SHARED_ARRAY(type, name, count) __shared__ type name[count]
#define ABC_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#elif defined(ABC_CUDA_EMULATION)
#define ABC_SHARED_ARRAY(type, name, count) \
  type* const name = static_cast<type*>(::abc_emu::static_shared(sizeof(type) * (count), alignof(type)))
#define ABC_DYNAMIC_SHARED(type, name) type* const name = static_cast<type*>(::abc_emu::dynamic_shared())
#else
#error "kernels compile with nvcc, or with the host compiler against tests/emu (ABC_CUDA_EMULATION)"
#endif

namespace abc {
namespace cuda {

// kernel<<<grid, block, smem, stream>>>(args...); the launch's error is left for
// cudaGetLastError (ABC_CUDA_CHECK_LAUNCH), as <<< >>> leaves it.
template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
                   Args... args) {
#if defined(__CUDACC__)
  kernel<<<grid, block, smem, stream>>>(args...);
#else
  ::abc_emu::launch_kernel(kernel, grid, block, smem, stream, args...);
#endif
}

// First index and stride of a grid-stride loop over [0, n).
__device__ inline std::size_t grid_start() { return static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline std::size_t grid_stride() { return static_cast<std::size_t>(gridDim.x) * blockDim.x; }

// Tree reduction over one block; blockDim.x must be a power of two and `shared` hold
// blockDim.x values. The pairing is fixed, so the result does not depend on timing.
// Every thread gets the result.
template <class T, class Op>
__device__ T block_reduce(T value, T* shared, Op op) {
  const unsigned tid = threadIdx.x;
  shared[tid] = value;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) shared[tid] = op(shared[tid], shared[tid + s]);
    __syncthreads();
  }
  const T result = shared[0];
  __syncthreads();  // `shared` may be reused at once
  return result;
}

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
// NaN-propagating maximum (a NaN row yields a NaN loss, as on the CPU).
struct MaxOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return (a > b || a != a) ? a : b;
  }
};

}  // namespace cuda
}  // namespace abc
