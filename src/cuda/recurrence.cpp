#include "abc/cuda/recurrence.hpp"

#include <cstddef>
#include <cstdlib>

#include "abc/cuda/check.hpp"
#include "abc/cuda/gemm.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cuda/plan.hpp"
#include "abc/error.hpp"

namespace abc {
namespace cuda {
namespace {

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

// The plan of `s` when it takes the persistent path; fits = false for the step loop.
PersistentPlan choose_path(const RecurrenceShape& s) {
  const RecurrencePath path = s.path;
  if (path == RecurrencePath::kStepLoop) return PersistentPlan{};
  const PersistentDevice& device = persistent_device();
  PersistentPlan plan = plan_persistent(s.cell, s.H, s.B, device);
  if (path == RecurrencePath::kPersistent && !plan.fits) {
    const std::string cell = cell_kind_name(s.cell);
    std::string message = "the persistent recurrence (--recurrence persistent) cannot run " + cell +
                          " H=" + std::to_string(s.H) + ": it needs " + std::to_string(plan.needed) +
                          " bytes of shared memory per block (fp32 w_rec and one batch row's state), the device "
                          "allows " +
                          std::to_string(device.smem_optin);
    if (s.H > kPersistentMaxThreads) {
      message += ", and it runs at most " + std::to_string(kPersistentMaxThreads) + " units";
    }
    throw Error(message + "; the largest " + cell + " H that fits is " +
                std::to_string(persistent_max_hidden(s.cell, device)) + " (use --recurrence auto or loop)");
  }
  return plan;
}

}  // namespace

const PersistentDevice& persistent_device() {
  static const PersistentDevice device = [] {
    int dev = 0, optin = 0, per_sm = 0, sms = 0, threads = 0, blocks = 0;
    ABC_CUDA_CHECK(cudaGetDevice(&dev));
    ABC_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    ABC_CUDA_CHECK(cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev));
    ABC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    ABC_CUDA_CHECK(cudaDeviceGetAttribute(&threads, cudaDevAttrMaxThreadsPerMultiProcessor, dev));
    ABC_CUDA_CHECK(cudaDeviceGetAttribute(&blocks, cudaDevAttrMaxBlocksPerMultiprocessor, dev));
    PersistentDevice d;
    d.smem_optin = static_cast<std::size_t>(optin);
    d.smem_per_sm = static_cast<std::size_t>(per_sm);
    d.sm_count = sms;
    d.threads_per_sm = threads;
    d.blocks_per_sm = blocks;
    return d;
  }();
  return device;
}

void prepare_recurrence(CellKind cell, int H) {
  persistent_recurrence_prepare(cell, H, persistent_device().smem_optin);
}

bool uses_persistent(const RecurrenceShape& s) { return choose_path(s).fits; }

void recurrence_forward(cublasHandle_t cublas, const RecurrenceShape& s, const float* w_rec, const float* rec_bias,
                        float* z, float* u, float* h, float* c, cudaStream_t stream) {
  const PersistentPlan plan = choose_path(s);
  if (plan.fits) {
    persistent_recurrence_forward(s.cell, s.T, s.B, s.H, plan, w_rec, rec_bias, z, u, h, c, stream);
    return;
  }
  const CellInfo cell = cell_info(s.cell);
  const int GH = cell.gates * s.H;
  const std::size_t BH = sz(s.B) * sz(s.H), BGH = sz(s.B) * sz(GH);
  // Split cells: u = rec_bias + h_prev @ w_rec apart from z; the others add it into z.
  if (cell.split_recurrent) bias_broadcast(rec_bias, s.T * s.B, GH, u, stream);
  for (int t = 0; t < s.T; ++t) {
    float* zt = z + sz(t) * BGH;
    float* ut = cell.split_recurrent ? u + sz(t) * BGH : nullptr;
    gemm_row_major(cublas, false, false, s.B, GH, s.H, 1.0f, h + sz(t) * BH, s.H, w_rec, GH, 1.0f,
                   cell.split_recurrent ? ut : zt, GH);
    cell_pointwise_forward(s.cell, zt, ut, h + sz(t) * BH, h + sz(t + 1) * BH, c ? c + sz(t) * BH : nullptr,
                           c ? c + sz(t + 1) * BH : nullptr, s.B, s.H, stream);
  }
}

void recurrence_backward(cublasHandle_t cublas, const RecurrenceShape& s, const float* w_rec, const float* z,
                         const float* u, const float* h, const float* c, float* dy, float* dc, float* dz, float* du,
                         float* dh0, cudaStream_t stream) {
  const PersistentPlan plan = choose_path(s);
  if (plan.fits) {
    persistent_recurrence_backward(s.cell, s.T, s.B, s.H, plan, w_rec, z, u, h, c, dy, dc, dz, du, dh0, stream);
    return;
  }
  const CellInfo cell = cell_info(s.cell);
  const int GH = cell.gates * s.H;
  const std::size_t BH = sz(s.B) * sz(s.H), BGH = sz(s.B) * sz(GH);
  // dy[t] gains the recurrent term of step t+1 before step t reads it.
  for (int t = s.T - 1; t >= 0; --t) {
    const std::size_t g0 = sz(t) * BGH;
    float* dh_prev = t > 0 ? dy + sz(t - 1) * BH : dh0;
    float* drec = cell.split_recurrent ? du + g0 : dz + g0;
    cell_pointwise_backward(s.cell, z + g0, cell.split_recurrent ? u + g0 : nullptr, h + sz(t) * BH,
                            h + sz(t + 1) * BH, c ? c + sz(t) * BH : nullptr, c ? c + sz(t + 1) * BH : nullptr,
                            dy + sz(t) * BH, dc, dz + g0, cell.split_recurrent ? drec : nullptr, dh_prev, t > 0, s.B,
                            s.H, stream);
    if (dh_prev == nullptr) continue;
    // At t = 0 dh0 starts from zero unless the cell's skip term was stored there.
    const float beta = t > 0 || cell.hidden_skip ? 1.0f : 0.0f;
    gemm_row_major(cublas, false, true, s.B, s.H, GH, 1.0f, drec, GH, w_rec, GH, beta, dh_prev, s.H);
  }
}

void dense_input_term(cublasHandle_t cublas, int rows, int in, int GH, const float* x, const float* w_in,
                      const float* bias, float* z, cudaStream_t stream) {
  bias_broadcast(bias, rows, GH, z, stream);
  gemm_row_major(cublas, false, false, rows, GH, in, 1.0f, x, in, w_in, GH, 1.0f, z, GH);
}

void recurrent_weight_grads(cublasHandle_t cublas, const RecurrenceShape& s, const float* h, const float* dz,
                            const float* du, float* dw_rec, float* dbias, float* drec_bias, cudaStream_t stream) {
  const int GH = gate_count(s.cell) * s.H, rows = s.T * s.B;
  const float* drec = du != nullptr ? du : dz;
  gemm_row_major(cublas, true, false, s.H, GH, rows, 1.0f, h, s.H, drec, GH, 0.0f, dw_rec, GH);
  column_sum(dz, rows, GH, dbias, stream);
  if (du != nullptr) column_sum(du, rows, GH, drec_bias, stream);
}

void dense_input_grads(cublasHandle_t cublas, int rows, int in, int GH, const float* x, const float* w_in,
                       const float* dz, float* dw_in, float* dx, cudaStream_t stream) {
  (void)stream;  // both are cuBLAS calls, on the handle's stream
  gemm_row_major(cublas, true, false, in, GH, rows, 1.0f, x, in, dz, GH, 0.0f, dw_in, GH);
  gemm_row_major(cublas, false, true, rows, in, GH, 1.0f, dz, GH, w_in, GH, 0.0f, dx, in);
}

}  // namespace cuda
}  // namespace abc
