// Persistent recurrence: the launchers of the kernels in persistent_recurrence_body.cuh
// (which says what they compute and how), checked against the PersistentPlan.
#include <mutex>

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

// The dynamic shared memory limit each kernel variant was raised to: [lstm][rows 1, 2, 4]
// [forward, backward]. The attribute belongs to the kernel, not to a launch, so it is set
// by persistent_recurrence_prepare before any launch or graph capture, never per launch.
std::mutex g_prepared_mutex;
std::size_t g_prepared[2][3][2] = {};

int rows_index(int rows) { return rows == 1 ? 0 : rows == 2 ? 1 : 2; }

template <class Kernel>
void raise_limit(Kernel kernel, std::size_t smem, std::size_t& prepared) {
  if (smem <= prepared) return;
  ABC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  prepared = smem;
}

template <bool kLstm, int R>
void prepare_rows(int H, std::size_t smem_optin) {
  const CellKind cell = kLstm ? CellKind::kLstm : CellKind::kRnn;
  std::size_t(&prepared)[2] = g_prepared[kLstm][rows_index(R)];
  const std::size_t fwd = persistent_forward_smem(cell, H, R), bwd = persistent_backward_smem(cell, H, R);
  if (fwd <= smem_optin) raise_limit(persistent_forward_kernel<kLstm, R>, fwd, prepared[0]);
  if (bwd <= smem_optin) raise_limit(persistent_backward_kernel<kLstm, R>, bwd, prepared[1]);
}

template <class Kernel, class... Args>
void launch(Kernel kernel, CellKind cell, const PersistentPlan& plan, bool forward, std::size_t smem,
            cudaStream_t stream, Args... args) {
  std::size_t prepared;
  {
    std::lock_guard<std::mutex> lock(g_prepared_mutex);
    prepared = g_prepared[cell == CellKind::kLstm][rows_index(plan.rows)][forward ? 0 : 1];
  }
  if (smem > kDefaultDynamicSmem && smem > prepared) {
    throw Error(std::string("persistent recurrence: the ") + (forward ? "forward" : "backward") + " kernel (" +
                cell_kind_name(cell) + ", " + std::to_string(plan.rows) + " rows per block) needs " +
                std::to_string(smem) + " bytes of shared memory but was prepared for " + std::to_string(prepared) +
                ": call persistent_recurrence_prepare for this H before launching");
  }
  launch_kernel(kernel, static_cast<unsigned>(plan.blocks), static_cast<unsigned>(plan.threads), smem, stream, args...);
}

template <bool kLstm>
constexpr CellKind kCell = kLstm ? CellKind::kLstm : CellKind::kRnn;

template <bool kLstm>
void forward_rows(const PersistentPlan& p, cudaStream_t s, const float* w, float* z, float* h, float* c, int T, int B,
                  int H) {
  switch (p.rows) {
    case 1:
      launch(persistent_forward_kernel<kLstm, 1>, kCell<kLstm>, p, true, p.forward_smem, s, w, z, h, c, T, B, H);
      break;
    case 2:
      launch(persistent_forward_kernel<kLstm, 2>, kCell<kLstm>, p, true, p.forward_smem, s, w, z, h, c, T, B, H);
      break;
    default:
      launch(persistent_forward_kernel<kLstm, 4>, kCell<kLstm>, p, true, p.forward_smem, s, w, z, h, c, T, B, H);
      break;
  }
}

template <bool kLstm>
void backward_rows(const PersistentPlan& p, cudaStream_t s, const float* w, const float* z, const float* h,
                   const float* c, float* dy, float* dc, float* dz, float* dh0, int T, int B, int H) {
  switch (p.rows) {
    case 1:
      launch(persistent_backward_kernel<kLstm, 1>, kCell<kLstm>, p, false, p.backward_smem, s, w, z, h, c, dy, dc, dz,
             dh0, T, B, H);
      break;
    case 2:
      launch(persistent_backward_kernel<kLstm, 2>, kCell<kLstm>, p, false, p.backward_smem, s, w, z, h, c, dy, dc, dz,
             dh0, T, B, H);
      break;
    default:
      launch(persistent_backward_kernel<kLstm, 4>, kCell<kLstm>, p, false, p.backward_smem, s, w, z, h, c, dy, dc, dz,
             dh0, T, B, H);
      break;
  }
}

}  // namespace

void persistent_recurrence_prepare(CellKind cell, int H, std::size_t smem_optin) {
  if (H < 1 || H > kPersistentMaxThreads || cell_info(cell).split_recurrent) return;
  std::lock_guard<std::mutex> lock(g_prepared_mutex);
  if (cell == CellKind::kLstm) {
    prepare_rows<true, 1>(H, smem_optin);
    prepare_rows<true, 2>(H, smem_optin);
    prepare_rows<true, 4>(H, smem_optin);
  } else {
    prepare_rows<false, 1>(H, smem_optin);
    prepare_rows<false, 2>(H, smem_optin);
    prepare_rows<false, 4>(H, smem_optin);
  }
}

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
