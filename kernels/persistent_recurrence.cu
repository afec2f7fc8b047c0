// Persistent recurrence: the launchers of the kernels in persistent_recurrence_body.cuh
// (which says what they compute and how), checked against the PersistentPlan.
#include <mutex>
#include <type_traits>

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

// The dynamic shared memory limit each kernel variant was raised to: [cell][rows 1, 2, 4]
// [forward, backward]. The attribute belongs to the kernel, not to a launch, so it is set
// by persistent_recurrence_prepare before any launch or graph capture, never per launch.
std::mutex g_prepared_mutex;
std::size_t g_prepared[kCellCount][3][2] = {};

int rows_index(int rows) { return rows == 1 ? 0 : rows == 2 ? 1 : 2; }

template <class Kernel>
void raise_limit(Kernel kernel, std::size_t smem, std::size_t& prepared) {
  if (smem <= prepared) return;
  ABC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  prepared = smem;
}

template <class Cell, int R>
void prepare_rows(CellKind cell, int H, std::size_t smem_optin) {
  std::size_t(&prepared)[2] = g_prepared[static_cast<int>(cell)][rows_index(R)];
  const std::size_t fwd = persistent_forward_smem(cell, H, R), bwd = persistent_backward_smem(cell, H, R);
  if (fwd <= smem_optin) raise_limit(persistent_forward_kernel<Cell, R>, fwd, prepared[0]);
  if (bwd <= smem_optin) raise_limit(persistent_backward_kernel<Cell, R>, bwd, prepared[1]);
}

template <class Kernel, class... Args>
void launch(Kernel kernel, CellKind cell, const PersistentPlan& plan, bool forward, std::size_t smem,
            cudaStream_t stream, Args... args) {
  std::size_t prepared;
  {
    std::lock_guard<std::mutex> lock(g_prepared_mutex);
    prepared = g_prepared[static_cast<int>(cell)][rows_index(plan.rows)][forward ? 0 : 1];
  }
  if (smem > kDefaultDynamicSmem && smem > prepared) {
    throw Error(std::string("persistent recurrence: the ") + (forward ? "forward" : "backward") + " kernel (" +
                cell_kind_name(cell) + ", " + std::to_string(plan.rows) + " rows per block) needs " +
                std::to_string(smem) + " bytes of shared memory but was prepared for " + std::to_string(prepared) +
                ": call persistent_recurrence_prepare for this H before launching");
  }
  launch_kernel(kernel, static_cast<unsigned>(plan.blocks), static_cast<unsigned>(plan.threads), smem, stream, args...);
}

// Calls f(Cell{}, std::integral_constant<int, R>{}) for the plan's cell and rows per block.
template <class F>
void with_cell_rows(CellKind cell, int rows, F&& f) {
  with_cell(cell, [&](auto c) {
    switch (rows) {
      case 1:
        f(c, std::integral_constant<int, 1>{});
        break;
      case 2:
        f(c, std::integral_constant<int, 2>{});
        break;
      default:
        f(c, std::integral_constant<int, 4>{});
        break;
    }
  });
}

}  // namespace

void persistent_recurrence_prepare(CellKind cell, int H, std::size_t smem_optin) {
  if (H < 1 || H > kPersistentMaxThreads) return;
  std::lock_guard<std::mutex> lock(g_prepared_mutex);
  with_cell(cell, [&](auto c) {
    using Cell = decltype(c);
    prepare_rows<Cell, 1>(cell, H, smem_optin);
    prepare_rows<Cell, 2>(cell, H, smem_optin);
    prepare_rows<Cell, 4>(cell, H, smem_optin);
  });
}

void persistent_recurrence_forward(CellKind cell, int T, int B, int H, const PersistentPlan& plan, const float* w_rec,
                                   const float* rec_bias, float* z, float* u, float* h, float* c,
                                   cudaStream_t stream) {
  if (T <= 0 || B <= 0) return;
  check_plan(plan, B, H, "persistent_recurrence_forward");
  with_cell_rows(cell, plan.rows, [&](auto tag, auto rows) {
    launch(persistent_forward_kernel<decltype(tag), decltype(rows)::value>, cell, plan, true, plan.forward_smem,
           stream, w_rec, rec_bias, z, u, h, c, T, B, H);
  });
  ABC_CUDA_CHECK_LAUNCH(persistent_forward_kernel);
}

void persistent_recurrence_backward(CellKind cell, int T, int B, int H, const PersistentPlan& plan, const float* w_rec,
                                    const float* z, const float* u, const float* h, const float* c, float* dy,
                                    float* dc, float* dz, float* du, float* dh0, cudaStream_t stream) {
  if (T <= 0 || B <= 0) return;
  check_plan(plan, B, H, "persistent_recurrence_backward");
  with_cell_rows(cell, plan.rows, [&](auto tag, auto rows) {
    launch(persistent_backward_kernel<decltype(tag), decltype(rows)::value>, cell, plan, false, plan.backward_smem,
           stream, w_rec, z, u, h, c, dy, dc, dz, du, dh0, T, B, H);
  });
  ABC_CUDA_CHECK_LAUNCH(persistent_backward_kernel);
}

}  // namespace cuda
}  // namespace abc
