// One sampling draw per stream, one thread per stream:
//   next[i] = sample_token(logits[i, :], V, temperature, sample_uniform(seed, first_stream + i, step))
// with temperature, seed, first_stream and step read from a StepConstants in device
// memory (a CUDA graph replays with each step's values).
// logits [n, V], next [n]. sample_token is the CPU sampler's own code (temperature
// softmax with the maximum subtracted, inverse-CDF draw; temperature <= 0: argmax).
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/sampling_math.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

constexpr int kSampleThreads = 64;

__global__ void sample_kernel(const float* logits, int n, int V, const StepConstants* constants, std::int32_t* next) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  const StepConstants c = *constants;
  const float u = sample_uniform(sample_seed_of(c), c.first_stream + static_cast<std::uint32_t>(i), c.sample_step);
  next[i] = sample_token(logits + static_cast<std::size_t>(i) * static_cast<std::size_t>(V), V, c.temperature, u);
}

}  // namespace

void sample_tokens(const float* logits, int n, int V, const StepConstants* constants, std::int32_t* next,
                   cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned blocks = static_cast<unsigned>((n + kSampleThreads - 1) / kSampleThreads);
  launch_kernel(sample_kernel, blocks, kSampleThreads, 0, stream, logits, n, V, constants, next);
  ABC_CUDA_CHECK_LAUNCH(sample_kernel);
}

}  // namespace cuda
}  // namespace abc
