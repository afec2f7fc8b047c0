// The LSTM step's element-wise part, fused (gate order i, f, g, o; column g*H + j is
// gate g of unit j). One thread per (b, j) of [B, H].
// Forward: z [B, 4H] holds input term + recurrent term; cell::lstm_forward turns it
//   into the activated gates (written back into z), c [B, H] and h [B, H] from
//   c_prev [B, H].
// Backward: cell::lstm_backward from the activated gates [B, 4H], c_prev, c, dh [B, H]
//   and the carried dc [B, H] (overwritten with d loss / d c_prev); dz [B, 4H] out.
#include "abc/cell_math.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void lstm_forward_kernel(float* z, const float* c_prev, float* c, float* h, std::size_t B, std::size_t H) {
  const std::size_t n = B * H;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    const std::size_t b = i / H, j = i - b * H;
    float* zb = z + b * 4 * H;
    float gi, gf, gg, go, ct, ht;
    cell::lstm_forward(zb[j], zb[H + j], zb[2 * H + j], zb[3 * H + j], c_prev[i],  //
                       gi, gf, gg, go, ct, ht);
    zb[j] = gi;
    zb[H + j] = gf;
    zb[2 * H + j] = gg;
    zb[3 * H + j] = go;
    c[i] = ct;
    h[i] = ht;
  }
}

__global__ void lstm_backward_kernel(const float* gates, const float* c_prev, const float* c, const float* dh,
                                     float* dc, float* dz, std::size_t B, std::size_t H) {
  const std::size_t n = B * H;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    const std::size_t b = i / H, j = i - b * H;
    const float* g = gates + b * 4 * H;
    float* d = dz + b * 4 * H;
    float dzi, dzf, dzg, dzo, dc_prev;
    cell::lstm_backward(g[j], g[H + j], g[2 * H + j], g[3 * H + j], c_prev[i], c[i], dh[i], dc[i],  //
                        dzi, dzf, dzg, dzo, dc_prev);
    d[j] = dzi;
    d[H + j] = dzf;
    d[2 * H + j] = dzg;
    d[3 * H + j] = dzo;
    dc[i] = dc_prev;
  }
}

}  // namespace

void lstm_pointwise_forward(float* z, const float* c_prev, float* c, float* h, int B, int H, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(B) * static_cast<std::size_t>(H);
  if (n == 0) return;
  launch_kernel(lstm_forward_kernel, grid_for(n), kThreads, 0, stream, z, c_prev, c, h, static_cast<std::size_t>(B),
                static_cast<std::size_t>(H));
  ABC_CUDA_CHECK_LAUNCH(lstm_forward_kernel);
}

void lstm_pointwise_backward(const float* gates, const float* c_prev, const float* c, const float* dh, float* dc,
                             float* dz, int B, int H, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(B) * static_cast<std::size_t>(H);
  if (n == 0) return;
  launch_kernel(lstm_backward_kernel, grid_for(n), kThreads, 0, stream, gates, c_prev, c, dh, dc, dz,
                static_cast<std::size_t>(B), static_cast<std::size_t>(H));
  ABC_CUDA_CHECK_LAUNCH(lstm_backward_kernel);
}

}  // namespace cuda
}  // namespace abc
