// The time loop of one recurrent layer on our kernels: per step one cuBLAS GEMM for the
// recurrent term of the whole batch and the fused pointwise kernel. The CUDA backend
// and the cuDNN comparison suite both run it, so what the suite checks is what trains.
// All pointers are device memory; the calls only enqueue work on `stream` (the cuBLAS
// handle must be bound to it).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "abc/model.hpp"

namespace abc {
namespace cuda {

struct RecurrenceShape {
  CellKind cell = CellKind::kLstm;
  int T = 0, B = 0, H = 0;
};

// z [T*B, G*H]: in, each step's input term (input GEMM or table rows, bias included);
// out, the activated gates (LSTM) or untouched (RNN).
// h [T+1, B, H], c [T+1, B, H] (LSTM; else null): slot 0 in (the initial state), slots
// 1..T out (slot t+1 = the state after step t). w_rec [H, G*H].
void recurrence_forward(cublasHandle_t cublas, const RecurrenceShape& s, const float* w_rec, float* z, float* h,
                        float* c, cudaStream_t stream);

// Backward through time of recurrence_forward (its z, h, c as it left them).
// dy [T, B, H]: in, d loss / d h_t from above (the layer's output at step t); used as
// scratch (it gains the recurrent terms). dc [B, H] (LSTM): in, d loss / d c_T; out,
// d loss / d c_0. dz [T*B, G*H] out: d loss / d pre-activations. dh0 [B, H]: out,
// d loss / d h_0, or null to skip it (truncated BPTT needs no gradient past the chunk).
void recurrence_backward(cublasHandle_t cublas, const RecurrenceShape& s, const float* w_rec, const float* z,
                         const float* h, const float* c, float* dy, float* dc, float* dz, float* dh0,
                         cudaStream_t stream);

}  // namespace cuda
}  // namespace abc
