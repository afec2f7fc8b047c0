// One-hot rows, the input of a cuDNN layer 0 (whose input matrix is our token table):
//   out[r, v] = 1 if tokens[r] == v else 0
// tokens [rows], out [rows, V]; one thread per element of out.
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void one_hot_kernel(const std::int32_t* tokens, std::size_t rows, std::size_t V, float* out) {
  const std::size_t n = rows * V;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    out[i] = static_cast<std::size_t>(tokens[i / V]) == i % V ? 1.0f : 0.0f;
  }
}

}  // namespace

void one_hot(const std::int32_t* tokens, int rows, int V, float* out, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(V);
  if (n == 0) return;
  launch_kernel(one_hot_kernel, grid_for(n), kThreads, 0, stream, tokens, static_cast<std::size_t>(rows),
                static_cast<std::size_t>(V), out);
  ABC_CUDA_CHECK_LAUNCH(one_hot_kernel);
}

}  // namespace cuda
}  // namespace abc
