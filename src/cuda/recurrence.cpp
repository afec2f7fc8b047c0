#include "abc/cuda/recurrence.hpp"

#include <cstddef>

#include "abc/cuda/gemm.hpp"
#include "abc/cuda/ops.hpp"

namespace abc {
namespace cuda {
namespace {

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

}  // namespace

void recurrence_forward(cublasHandle_t cublas, const RecurrenceShape& s, const float* w_rec, float* z, float* h,
                        float* c, cudaStream_t stream) {
  const bool lstm = s.cell == CellKind::kLstm;
  const int GH = gate_count(s.cell) * s.H;
  const std::size_t BH = sz(s.B) * sz(s.H), BGH = sz(s.B) * sz(GH);
  for (int t = 0; t < s.T; ++t) {
    float* zt = z + sz(t) * BGH;
    gemm_row_major(cublas, false, false, s.B, GH, s.H, 1.0f, h + sz(t) * BH, s.H, w_rec, GH, 1.0f, zt, GH);
    float* h_next = h + sz(t + 1) * BH;
    if (lstm) {
      lstm_pointwise_forward(zt, c + sz(t) * BH, c + sz(t + 1) * BH, h_next, s.B, s.H, stream);
    } else {
      rnn_pointwise_forward(zt, h_next, s.B * s.H, stream);
    }
  }
}

void recurrence_backward(cublasHandle_t cublas, const RecurrenceShape& s, const float* w_rec, const float* z,
                         const float* h, const float* c, float* dy, float* dc, float* dz, float* dh0,
                         cudaStream_t stream) {
  const bool lstm = s.cell == CellKind::kLstm;
  const int GH = gate_count(s.cell) * s.H;
  const std::size_t BH = sz(s.B) * sz(s.H), BGH = sz(s.B) * sz(GH);
  // dy[t] gains the recurrent term of step t+1 before step t reads it.
  for (int t = s.T - 1; t >= 0; --t) {
    float* dzt = dz + sz(t) * BGH;
    const float* dht = dy + sz(t) * BH;
    if (lstm) {
      lstm_pointwise_backward(z + sz(t) * BGH, c + sz(t) * BH, c + sz(t + 1) * BH, dht, dc, dzt, s.B, s.H, stream);
    } else {
      rnn_pointwise_backward(h + sz(t + 1) * BH, dht, dzt, s.B * s.H, stream);
    }
    if (t > 0) {
      gemm_row_major(cublas, false, true, s.B, s.H, GH, 1.0f, dzt, GH, w_rec, GH, 1.0f, dy + sz(t - 1) * BH, s.H);
    } else if (dh0 != nullptr) {
      gemm_row_major(cublas, false, true, s.B, s.H, GH, 1.0f, dzt, GH, w_rec, GH, 0.0f, dh0, s.H);
    }
  }
}

}  // namespace cuda
}  // namespace abc
