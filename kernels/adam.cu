// Clip by global norm, then Adam, over the flat parameter block (n elements):
//  sumsq_partials: partials[b] = sum of grads[i]^2 (double) over block b's grid-stride
//    share; norm_blocks(n) blocks of kThreads.
//  adam_prepare:   one block sums partials [blocks] in a fixed order; norm = sqrt;
//    finite: OptimizerState.steps += 1, clip scale (cell::clip_scale) and the step's
//    constants (cell::adam_step with OptimizerState.lr, read now: a replayed graph uses
//    the lr last written by set_adam_lr); not finite: OptimizerState.skip = 1 and
//    LossAccumulator.nonfinite = 1. LossAccumulator.last_grad_norm = norm.
//  adam_update:    params, m, v, grads [n]: cell::adam_update with grads * clip scale,
//    nothing when skip is set.
// The norm never leaves the device: no host synchronisation.
#include <cmath>

#include "abc/cell_math.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

// blockDim.x == kThreads.
__global__ void sumsq_partials_kernel(const float* grads, std::size_t n, double* partials) {
  ABC_SHARED_ARRAY(double, shared, kThreads);
  double s = 0.0;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    const double g = static_cast<double>(grads[i]);
    s += g * g;
  }
  s = block_reduce(s, shared, SumOp());
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// One block of kMaxNormBlocks threads; count <= kMaxNormBlocks.
__global__ void adam_prepare_kernel(const double* partials, int count, AdamConfig config, OptimizerState* state,
                                    LossAccumulator* acc) {
  ABC_SHARED_ARRAY(double, shared, kMaxNormBlocks);
  const double mine = static_cast<int>(threadIdx.x) < count ? partials[threadIdx.x] : 0.0;
  const double sum = block_reduce(mine, shared, SumOp());
  if (threadIdx.x != 0) return;
  const double norm = sqrt(sum);
  acc->last_grad_norm = norm;
  if (!isfinite(norm)) {
    state->skip = 1;
    acc->nonfinite = 1;
    return;
  }
  state->skip = 0;
  state->steps += 1;
  state->clip_scale = static_cast<float>(cell::clip_scale(norm, config.clip));
  state->k = cell::adam_step<float>(state->lr, config.beta1, config.beta2, config.eps, state->steps);
}

__global__ void set_lr_kernel(OptimizerState* state, double lr) {
  if (threadIdx.x == 0 && blockIdx.x == 0) state->lr = lr;
}

__global__ void adam_update_kernel(float* params, float* m, float* v, const float* grads, std::size_t n,
                                   const OptimizerState* state) {
  if (state->skip) return;
  const float scale = state->clip_scale;
  const cell::AdamStep<float> k = state->k;
  for (std::size_t i = grid_start(); i < n; i += grid_stride()) {
    float p = params[i], mi = m[i], vi = v[i];
    cell::adam_update(p, mi, vi, grads[i] * scale, k);
    params[i] = p;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void set_adam_lr(OptimizerState* state, double lr, cudaStream_t stream) {
  launch_kernel(set_lr_kernel, 1, 1, 0, stream, state, lr);
  ABC_CUDA_CHECK_LAUNCH(set_lr_kernel);
}

void adam_step(float* params, float* m, float* v, const float* grads, std::size_t n, const AdamConfig& config,
               double* partials, OptimizerState* state, LossAccumulator* acc, cudaStream_t stream) {
  const int blocks = norm_blocks(n);
  launch_kernel(sumsq_partials_kernel, static_cast<unsigned>(blocks), kThreads, 0, stream, grads, n, partials);
  ABC_CUDA_CHECK_LAUNCH(sumsq_partials_kernel);
  launch_kernel(adam_prepare_kernel, 1, kMaxNormBlocks, 0, stream, partials, blocks, config, state, acc);
  ABC_CUDA_CHECK_LAUNCH(adam_prepare_kernel);
  if (n == 0) return;
  launch_kernel(adam_update_kernel, grid_for(n), kThreads, 0, stream, params, m, v, grads, n, state);
  ABC_CUDA_CHECK_LAUNCH(adam_update_kernel);
}

}  // namespace cuda
}  // namespace abc
