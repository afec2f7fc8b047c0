// Persistent recurrence: the launchers of the kernels in persistent_recurrence_body.cuh
// (which says what they compute and how), checked against the PersistentPlan.
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/error.hpp"
#include "persistent_recurrence_body.cuh"

namespace abc {
namespace cuda {
namespace {

void check_plan(const PersistentPlan& plan, int B, int H, const char* what) {
  const bool ok = plan.fits && (plan.rows == 1 || plan.rows == 2 || plan.rows == 4) && plan.threads >= H &&
                  plan.threads <= kPersistentMaxThreads && plan.threads % 32 == 0 &&
                  static_cast<long long>(plan.blocks) * plan.rows >= B;
  if (!ok) {
    throw Error(std::string(what) + ": the plan (rows " + std::to_string(plan.rows) + ", threads " +
                std::to_string(plan.threads) + ", blocks " + std::to_string(plan.blocks) +
                ") does not fit B=" + std::to_string(B) + " H=" + std::to_string(H));
  }
}

// Raises the block's dynamic shared memory limit (needed above 48 KB) and launches.
template <class Kernel, class... Args>
void launch(Kernel kernel, const PersistentPlan& plan, std::size_t smem, cudaStream_t stream, Args... args) {
  ABC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  kernel<<<static_cast<unsigned>(plan.blocks), static_cast<unsigned>(plan.threads), smem, stream>>>(args...);
}

template <bool kLstm>
void forward_rows(const PersistentPlan& p, cudaStream_t s, const float* w, float* z, float* h, float* c, int T, int B,
                  int H) {
  switch (p.rows) {
    case 1:
      launch(persistent_forward_kernel<kLstm, 1>, p, p.forward_smem, s, w, z, h, c, T, B, H);
      break;
    case 2:
      launch(persistent_forward_kernel<kLstm, 2>, p, p.forward_smem, s, w, z, h, c, T, B, H);
      break;
    default:
      launch(persistent_forward_kernel<kLstm, 4>, p, p.forward_smem, s, w, z, h, c, T, B, H);
      break;
  }
}

template <bool kLstm>
void backward_rows(const PersistentPlan& p, cudaStream_t s, const float* w, const float* z, const float* h,
                   const float* c, float* dy, float* dc, float* dz, float* dh0, int T, int B, int H) {
  switch (p.rows) {
    case 1:
      launch(persistent_backward_kernel<kLstm, 1>, p, p.backward_smem, s, w, z, h, c, dy, dc, dz, dh0, T, B, H);
      break;
    case 2:
      launch(persistent_backward_kernel<kLstm, 2>, p, p.backward_smem, s, w, z, h, c, dy, dc, dz, dh0, T, B, H);
      break;
    default:
      launch(persistent_backward_kernel<kLstm, 4>, p, p.backward_smem, s, w, z, h, c, dy, dc, dz, dh0, T, B, H);
      break;
  }
}

}  // namespace

void persistent_recurrence_forward(CellKind cell, int T, int B, int H, const PersistentPlan& plan, const float* w_rec,
                                   float* z, float* h, float* c, cudaStream_t stream) {
  if (T <= 0 || B <= 0) return;
  check_plan(plan, B, H, "persistent_recurrence_forward");
  if (cell == CellKind::kLstm) {
    forward_rows<true>(plan, stream, w_rec, z, h, c, T, B, H);
  } else {
    forward_rows<false>(plan, stream, w_rec, z, h, c, T, B, H);
  }
  ABC_CUDA_CHECK_LAUNCH(persistent_forward_kernel);
}

void persistent_recurrence_backward(CellKind cell, int T, int B, int H, const PersistentPlan& plan, const float* w_rec,
                                    const float* z, const float* h, const float* c, float* dy, float* dc, float* dz,
                                    float* dh0, cudaStream_t stream) {
  if (T <= 0 || B <= 0) return;
  check_plan(plan, B, H, "persistent_recurrence_backward");
  if (cell == CellKind::kLstm) {
    backward_rows<true>(plan, stream, w_rec, z, h, c, dy, dc, dz, dh0, T, B, H);
  } else {
    backward_rows<false>(plan, stream, w_rec, z, h, c, dy, dc, dz, dh0, T, B, H);
  }
  ABC_CUDA_CHECK_LAUNCH(persistent_backward_kernel);
}

}  // namespace cuda
}  // namespace abc
