// The tanh RNN step's element-wise part; z, h, dh, dz are [B, H] (G = 1), one thread
// per element.
// Forward: h = cell::rnn_forward(z) (z holds input term + recurrent term).
// Backward: dz = cell::rnn_backward(h, dh) from the saved output h.
#include "abc/cell_math.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void rnn_forward_kernel(const float* z, float* h, std::size_t n) {
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) h[i] = cell::rnn_forward(z[i]);
}

__global__ void rnn_backward_kernel(const float* h, const float* dh, float* dz, std::size_t n) {
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) dz[i] = cell::rnn_backward(h[i], dh[i]);
}

}  // namespace

void rnn_pointwise_forward(const float* z, float* h, int n, cudaStream_t stream) {
  if (n <= 0) return;
  const std::size_t count = static_cast<std::size_t>(n);
  launch_kernel(rnn_forward_kernel, grid_for(count), kThreads, 0, stream, z, h, count);
  ABC_CUDA_CHECK_LAUNCH(rnn_forward_kernel);
}

void rnn_pointwise_backward(const float* h, const float* dh, float* dz, int n, cudaStream_t stream) {
  if (n <= 0) return;
  const std::size_t count = static_cast<std::size_t>(n);
  launch_kernel(rnn_backward_kernel, grid_for(count), kThreads, 0, stream, h, dh, dz, count);
  ABC_CUDA_CHECK_LAUNCH(rnn_backward_kernel);
}

}  // namespace cuda
}  // namespace abc
