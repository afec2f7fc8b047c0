// Column sums (bias gradients) as a reduction without atomics:
//   sums[k] = sum over r = 0 .. rows-1 of m[r, k]
// m [rows, N], sums [N]; one thread per column adds its rows in ascending order (the
// CPU's order), neighbouring threads reading neighbouring addresses.
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void column_sum_kernel(const float* m, std::size_t rows, std::size_t N, float* sums) {
  for (std::size_t k = grid_start(); k < N; k += grid_stride()) {
    float s = 0.0f;
    for (std::size_t r = 0; r < rows; ++r) s += m[r * N + k];
    sums[k] = s;
  }
}

}  // namespace

void column_sum(const float* m, int rows, int N, float* sums, cudaStream_t stream) {
  if (N <= 0) return;
  const std::size_t cols = static_cast<std::size_t>(N);
  launch_kernel(column_sum_kernel, grid_for(cols), kThreads, 0, stream, m,
                static_cast<std::size_t>(rows > 0 ? rows : 0), cols, sums);
  ABC_CUDA_CHECK_LAUNCH(column_sum_kernel);
}

}  // namespace cuda
}  // namespace abc
