// A bias copied to every row, before a GEMM accumulates onto it:
//   out[r, k] = bias[k]
// bias [N], out [rows, N]; one thread per element of out.
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void bias_broadcast_kernel(const float* bias, std::size_t rows, std::size_t N, float* out) {
  const std::size_t n = rows * N;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) out[i] = bias[i % N];
}

}  // namespace

void bias_broadcast(const float* bias, int rows, int N, float* out, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(N);
  if (n == 0) return;
  launch_kernel(bias_broadcast_kernel, grid_for(n), kThreads, 0, stream, bias, static_cast<std::size_t>(rows),
                static_cast<std::size_t>(N), out);
  ABC_CUDA_CHECK_LAUNCH(bias_broadcast_kernel);
}

}  // namespace cuda
}  // namespace abc
