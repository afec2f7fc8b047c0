// Softmax cross-entropy over rows of logits, fused, one block per row:
//   logits [rows, V], targets [rows] -> row_loss [rows] (nats) and, in training,
//   logits <- (1/rows) * d loss / d logits (cell::xent_grad).
// Then one block reduces row_loss [rows] in a fixed order (double) into the device
// LossAccumulator: training adds the chunk's mean, evaluation stores the sum.
#include <cmath>

#include "abc/cell_math.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

constexpr int kMaxRowThreads = 256;
constexpr int kReduceThreads = 256;

// blockDim.x: a power of two <= kMaxRowThreads.
__global__ void softmax_xent_kernel(float* logits, const std::int32_t* targets, int V, bool write_grad,
                                    float grad_scale, float* row_loss) {
  ABC_SHARED_ARRAY(float, shared, kMaxRowThreads);
  const std::size_t r = blockIdx.x;
  float* z = logits + r * static_cast<std::size_t>(V);
  const int target = targets[r];

  float m = -INFINITY;
  for (int k = threadIdx.x; k < V; k += blockDim.x) m = MaxOp()(m, z[k]);
  m = block_reduce(m, shared, MaxOp());

  float sum = 0.0f;
  for (int k = threadIdx.x; k < V; k += blockDim.x) sum += cell::softmax_shifted_exp(z[k], m);
  sum = block_reduce(sum, shared, SumOp());

  if (threadIdx.x == 0) row_loss[r] = cell::xent_loss(z[target] - m, sum);
  if (!write_grad) return;
  __syncthreads();  // z[target] is read above before any thread overwrites it
  const float inv_sum = 1.0f / sum;
  for (int k = threadIdx.x; k < V; k += blockDim.x) {
    z[k] = cell::xent_grad(cell::softmax_shifted_exp(z[k], m), inv_sum, k == target, grad_scale);
  }
}

// One block of kReduceThreads.
__global__ void reduce_losses_kernel(const float* row_loss, std::size_t rows, LossMode mode, LossAccumulator* acc) {
  ABC_SHARED_ARRAY(double, shared, kReduceThreads);
  double s = 0.0;
  for (std::size_t r = threadIdx.x; r < rows; r += blockDim.x) s += static_cast<double>(row_loss[r]);
  s = block_reduce(s, shared, SumOp());
  if (threadIdx.x != 0) return;
  if (mode == LossMode::kEvalSum) {
    acc->eval_sum = s;
    return;
  }
  const double mean = s / static_cast<double>(rows);
  acc->sum += mean;
  acc->steps += 1;
  if (!isfinite(mean)) acc->nonfinite = 1;
}

}  // namespace

void softmax_xent(float* logits, const std::int32_t* targets, int rows, int V, LossMode mode, float* row_loss,
                  LossAccumulator* acc, cudaStream_t stream) {
  if (rows <= 0 || V <= 0) return;
  const bool train = mode == LossMode::kTrainMean;
  const float grad_scale = 1.0f / static_cast<float>(rows);
  launch_kernel(softmax_xent_kernel, static_cast<unsigned>(rows),
                pow2_threads(static_cast<std::size_t>(V), kMaxRowThreads), 0, stream, logits, targets, V, train,
                grad_scale, row_loss);
  ABC_CUDA_CHECK_LAUNCH(softmax_xent_kernel);
  launch_kernel(reduce_losses_kernel, 1, kReduceThreads, 0, stream, row_loss, static_cast<std::size_t>(rows), mode,
                acc);
  ABC_CUDA_CHECK_LAUNCH(reduce_losses_kernel);
}

}  // namespace cuda
}  // namespace abc
