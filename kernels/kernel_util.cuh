// Shared pieces of the kernels: the grid-stride loop and a deterministic block reduction.
#pragma once
#include <cstddef>

namespace abc {
namespace cuda {

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
