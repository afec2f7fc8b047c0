// Layer 0 input term, a row gather from the token table:
//   z[r, k] = table[tokens[r], k] + bias[k]
// tokens [rows], table [V, N], bias [N], z [rows, N]; one thread per element of z.
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void embedding_gather_kernel(const std::int32_t* tokens, const float* table, const float* bias,
                                        std::size_t rows, std::size_t N, float* z) {
  const std::size_t n = rows * N;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    const std::size_t r = i / N, k = i - r * N;
    z[i] = table[static_cast<std::size_t>(tokens[r]) * N + k] + bias[k];
  }
}

}  // namespace

void embedding_gather(const std::int32_t* tokens, const float* table, const float* bias, int rows, int N, float* z,
                      cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(N);
  if (n == 0) return;
  launch_kernel(embedding_gather_kernel, grid_for(n), kThreads, 0, stream, tokens, table, bias,
                static_cast<std::size_t>(rows), static_cast<std::size_t>(N), z);
  ABC_CUDA_CHECK_LAUNCH(embedding_gather_kernel);
}

}  // namespace cuda
}  // namespace abc
