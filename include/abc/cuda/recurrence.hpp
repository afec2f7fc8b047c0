// The time loop of one recurrent layer on our kernels, on one of two paths:
//  - the step loop: per step one cuBLAS GEMM for the recurrent term of the whole batch
//    and the fused pointwise kernel;
//  - the persistent kernels (kernels/persistent_recurrence.cu): one launch for all T
//    steps, w_rec resident in shared memory; for small H, where the step loop is bound by
//    per-step launch latency (plan_persistent in plan.hpp says which H fit).
// Which one runs is RecurrenceShape::path, chosen by whoever builds the shape (the CUDA
// backend: BackendOptions, from --recurrence); the choice is made when the work is
// enqueued, so a captured CUDA graph replays its path.
// Both give the same results up to summation order. The CUDA backend and the cuDNN
// comparison suite both run these functions, so what the suite checks is what trains.
// All pointers are device memory; the calls only enqueue work on `stream` (the cuBLAS
// handle must be bound to it).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "abc/backend.hpp"
#include "abc/cuda/plan.hpp"
#include "abc/model.hpp"

namespace abc {
namespace cuda {

using abc::RecurrencePath;  // backend.hpp: a value each call carries, never process state

struct RecurrenceShape {
  CellKind cell = CellKind::kLstm;
  int T = 0, B = 0, H = 0;
  RecurrencePath path = RecurrencePath::kAuto;  // which implementation runs it
};

// Whether recurrence_forward / recurrence_backward run `s` on the persistent kernels (the
// device's limits are queried once per process, on the device current then).
// s.path = kPersistent and a shape that does not fit: abc::Error naming H and the shared
// memory needed against the device's.
bool uses_persistent(const RecurrenceShape& s);
// The limits plan_persistent needs, of the device current at the first call (queried once).
const PersistentDevice& persistent_device();
// Readies the persistent path for layers of `cell` with H units, once, before any launch or
// graph capture: reads the device's limits and raises the persistent kernels' shared
// memory limit for H (persistent_recurrence_prepare).
void prepare_recurrence(CellKind cell, int H);

// z [T*B, G*H]: in, each step's input term (input GEMM or table rows, input bias included);
// out, what the cell's backward needs (cells.hpp). u [T*B, G*H] (split-recurrent cells, e.g.
// GRU; else null): out, each step's recurrent term h_prev @ w_rec + rec_bias [G*H] (null for
// the other cells, whose recurrent term is added into z). h [T+1, B, H], c [T+1, B, H] (cell
// state; else null): slot 0 in (the initial state), slots 1..T out (slot t+1 = the state
// after step t). w_rec [H, G*H].
void recurrence_forward(cublasHandle_t cublas, const RecurrenceShape& s, const float* w_rec, const float* rec_bias,
                        float* z, float* u, float* h, float* c, cudaStream_t stream);

// Backward through time of recurrence_forward (its z, u, h, c as it left them).
// dy [T, B, H]: in, d loss / d h_t from above (the layer's output at step t); used as
// scratch (it gains the recurrent terms). dc [B, H] (cell state): in, d loss / d c_T; out,
// d loss / d c_0. dz [T*B, G*H] out: d loss / d input terms; du [T*B, G*H] out: d loss /
// d recurrent terms (split cells; else null: they equal dz). dh0 [B, H]: out, d loss / d h_0,
// or null to skip it (truncated BPTT needs no gradient past the chunk).
void recurrence_backward(cublasHandle_t cublas, const RecurrenceShape& s, const float* w_rec, const float* z,
                         const float* u, const float* h, const float* c, float* dy, float* dc, float* dz, float* du,
                         float* dh0, cudaStream_t stream);

// The GEMMs over all T*B rows around the time loop, for a layer whose input is dense
// (layers above 0; layer 0 reads token-table rows instead). rows = T*B, GH = G*H.
// Input term of every step: z = x @ w_in + bias. x [rows, in], w_in [in, GH], bias [GH],
// z [rows, GH].
void dense_input_term(cublasHandle_t cublas, int rows, int in, int GH, const float* x, const float* w_in,
                      const float* bias, float* z, cudaStream_t stream);
// Recurrent matrix and bias gradients from recurrence_backward's dz and du (du null: the
// cell's recurrent-term gradient is dz): dw_rec = h[0..T-1]^T du (slot t is step t's
// h_prev), dbias = column sums of dz, drec_bias = column sums of du (split cells only).
// h [T+1, B, H], dz, du [T*B, G*H], dw_rec [H, G*H], dbias, drec_bias [G*H].
void recurrent_weight_grads(cublasHandle_t cublas, const RecurrenceShape& s, const float* h, const float* dz,
                            const float* du, float* dw_rec, float* dbias, float* drec_bias, cudaStream_t stream);
// Through a dense input: dw_in = x^T dz [in, GH], dx = dz w_in^T [rows, in].
void dense_input_grads(cublasHandle_t cublas, int rows, int in, int GH, const float* x, const float* w_in,
                       const float* dz, float* dw_in, float* dx, cudaStream_t stream);

}  // namespace cuda
}  // namespace abc
