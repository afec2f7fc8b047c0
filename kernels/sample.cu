// One sampling draw per stream, one thread per stream:
//   next[i] = sample_token(logits[i, :], V, temperature, sample_uniform(seed, first_stream + i, step))
// logits [n, V], next [n]. sample_token is the CPU sampler's own code (temperature
// softmax with the maximum subtracted, inverse-CDF draw; temperature <= 0: argmax).
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/sampling_math.hpp"

namespace abc {
namespace cuda {
namespace {

constexpr int kSampleThreads = 64;

__global__ void sample_kernel(const float* logits, int n, int V, float temperature, std::uint64_t seed,
                              std::uint32_t first_stream, std::uint32_t step, std::int32_t* next) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  const float u = sample_uniform(seed, first_stream + static_cast<std::uint32_t>(i), step);
  next[i] = sample_token(logits + static_cast<std::size_t>(i) * static_cast<std::size_t>(V), V, temperature, u);
}

}  // namespace

void sample_tokens(const float* logits, int n, int V, float temperature, std::uint64_t seed, std::uint32_t first_stream,
                   std::uint32_t step, std::int32_t* next, cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned blocks = static_cast<unsigned>((n + kSampleThreads - 1) / kSampleThreads);
  sample_kernel<<<blocks, kSampleThreads, 0, stream>>>(logits, n, V, temperature, seed, first_stream, step, next);
  ABC_CUDA_CHECK_LAUNCH(sample_kernel);
}

}  // namespace cuda
}  // namespace abc
