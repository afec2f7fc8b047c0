// One recurrent step's element-wise part for every cell, fused: one thread per (b, j) of
// [B, H] runs cells.hpp's step_unit_forward / step_unit_backward, the same loop body the
// CPU model runs (the cell's math is its header in include/abc/cells/).
#include "abc/cells.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

template <class Cell>
__global__ void cell_forward_kernel(float* x, const float* u, const float* h_prev, float* h, const float* c_prev,
                                    float* c, std::size_t B, std::size_t H) {
  const std::size_t n = B * H;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    const std::size_t b = i / H;
    step_unit_forward<Cell>(x, u, h_prev, h, c_prev, c, b, i - b * H, H);
  }
}

template <class Cell>
__global__ void cell_backward_kernel(const float* saved, const float* u, const float* h_prev, const float* h,
                                     const float* c_prev, const float* c, const float* dh, float* dc, float* dx,
                                     float* du, float* skip, bool skip_accumulate, std::size_t B, std::size_t H) {
  const std::size_t n = B * H;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    const std::size_t b = i / H;
    step_unit_backward<Cell>(saved, u, h_prev, h, c_prev, c, dh, dc, dx, du, skip, skip_accumulate, b, i - b * H, H);
  }
}

}  // namespace

void cell_pointwise_forward(CellKind cell, float* x, const float* u, const float* h_prev, float* h, const float* c_prev,
                            float* c, int B, int H, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(B) * static_cast<std::size_t>(H);
  if (n == 0) return;
  with_cell(cell, [&](auto tag) {
    const auto kernel = cell_forward_kernel<decltype(tag)>;
    launch_kernel(kernel, grid_for(n), kThreads, 0, stream, x, u, h_prev, h, c_prev, c, static_cast<std::size_t>(B),
                  static_cast<std::size_t>(H));
    ABC_CUDA_CHECK_LAUNCH(cell_forward_kernel);
  });
}

void cell_pointwise_backward(CellKind cell, const float* saved, const float* u, const float* h_prev, const float* h,
                             const float* c_prev, const float* c, const float* dh, float* dc, float* dx, float* du,
                             float* skip, bool skip_accumulate, int B, int H, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(B) * static_cast<std::size_t>(H);
  if (n == 0) return;
  with_cell(cell, [&](auto tag) {
    const auto kernel = cell_backward_kernel<decltype(tag)>;
    launch_kernel(kernel, grid_for(n), kThreads, 0, stream, saved, u, h_prev, h, c_prev, c, dh, dc, dx, du, skip,
                  skip_accumulate, static_cast<std::size_t>(B), static_cast<std::size_t>(H));
    ABC_CUDA_CHECK_LAUNCH(cell_backward_kernel);
  });
}

}  // namespace cuda
}  // namespace abc
