// Gradient of the layer-0 token table, a scatter-add done as a gather (no atomics):
//   grad[v, k] = sum of dz[r, k] over the rows r of token v, ascending
// dz [rows, N]; the rows of token v are csr_rows[csr_offsets[v] .. csr_offsets[v+1])
// (built on the host, build_token_csr); grad [V, N], every row written (zero for
// tokens absent from the chunk). One block per token, threads over the columns.
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void table_grad_kernel(const float* dz, const std::int32_t* csr_offsets, const std::int32_t* csr_rows, int V,
                                  std::size_t N, float* grad) {
  for (int v = blockIdx.x; v < V; v += gridDim.x) {
    const int begin = csr_offsets[v], end = csr_offsets[v + 1];
    float* out = grad + static_cast<std::size_t>(v) * N;
    for (std::size_t k = threadIdx.x; k < N; k += blockDim.x) {
      float s = 0.0f;
      for (int e = begin; e < end; ++e) s += dz[static_cast<std::size_t>(csr_rows[e]) * N + k];
      out[k] = s;
    }
  }
}

}  // namespace

void table_grad(const float* dz, const std::int32_t* csr_offsets, const std::int32_t* csr_rows, int V, int N,
                float* grad, cudaStream_t stream) {
  if (V <= 0 || N <= 0) return;
  const unsigned blocks = static_cast<unsigned>(V) < kMaxGrid ? static_cast<unsigned>(V) : kMaxGrid;
  launch_kernel(table_grad_kernel, blocks, kThreads, 0, stream, dz, csr_offsets, csr_rows, V,
                static_cast<std::size_t>(N), grad);
  ABC_CUDA_CHECK_LAUNCH(table_grad_kernel);
}

}  // namespace cuda
}  // namespace abc
