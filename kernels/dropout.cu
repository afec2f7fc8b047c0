// Inverted dropout on a layer's output, one thread per element.
// Forward: h, mask, dropped [T, B, H]; element (t, b, j) keeps when
//   uniform_from_u32(dropout_bits(*key, layer, t, b, j).v[j & 3]) >= p;
// the key is read from device memory (a CUDA graph replays with each step's key).
//   mask = cell::dropout_factor(u, p, 1/(1-p)), dropped = h * mask.
// Backward: dy [n] *= mask [n].
#include "abc/cell_math.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/philox.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void dropout_forward_kernel(const float* h, float* mask, float* dropped, std::size_t T, std::size_t B,
                                       std::size_t H, int layer, const U32x2* key_in, float p) {
  const std::size_t n = T * B * H;
  const U32x2 key = *key_in;
  const float scale = cell::dropout_scale<float>(p);
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    const std::size_t tb = i / H, j = i - tb * H;
    const std::size_t t = tb / B, b = tb - t * B;
    const U32x4 bits = dropout_bits(key, layer, static_cast<int>(t), static_cast<int>(b), static_cast<int>(j));
    const float f = cell::dropout_factor(uniform_from_u32(bits.v[j & 3]), p, scale);
    mask[i] = f;
    dropped[i] = h[i] * f;
  }
}

__global__ void dropout_backward_kernel(const float* mask, float* dy, std::size_t n) {
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) dy[i] *= mask[i];
}

}  // namespace

void dropout_forward(const float* h, float* mask, float* dropped, int T, int B, int H, int layer, const U32x2* key,
                     float p, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(T) * static_cast<std::size_t>(B) * static_cast<std::size_t>(H);
  if (n == 0) return;
  launch_kernel(dropout_forward_kernel, grid_for(n), kThreads, 0, stream, h, mask, dropped, static_cast<std::size_t>(T),
                static_cast<std::size_t>(B), static_cast<std::size_t>(H), layer, key, p);
  ABC_CUDA_CHECK_LAUNCH(dropout_forward_kernel);
}

void dropout_backward(const float* mask, float* dy, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  launch_kernel(dropout_backward_kernel, grid_for(n), kThreads, 0, stream, mask, dy, n);
  ABC_CUDA_CHECK_LAUNCH(dropout_backward_kernel);
}

}  // namespace cuda
}  // namespace abc
