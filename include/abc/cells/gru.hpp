// The GRU cell in PyTorch's formulation (nn.GRU; also cuDNN's CUDNN_GRU), gate order r, z, n:
//   r = s(x_r + u_r), z = s(x_z + u_z), n = tanh(x_n + r * u_n), h = (1 - z) * n + z * h_prev
// with the input term x = W x_t + b_i and the recurrent term u = U h_prev + b_h. The reset
// gate scales u_n alone, so the two terms are kept apart (kSplitRecurrent) and the layer
// has a recurrent bias b_h.
#pragma once
#include "abc/cell_math.hpp"

namespace abc {
namespace cell {

// Forward of one element; r, z, n are what backward needs (with u_n and h_prev).
// h is written n + z * (h_prev - n), as PyTorch computes it.
template <class S>
ABC_HD inline void gru_forward(S xr, S xz, S xn, S ur, S uz, S un, S h_prev, S& r, S& z, S& n, S& h) {
  r = sigmoid(xr + ur);
  z = sigmoid(xz + uz);
  n = tanh_of(xn + r * un);
  h = n + z * (h_prev - n);
}

// Backward of one element from dh (d loss / d h of this step, total). Out: gradients of
// the input terms (dxr, dxz, dxn), of u_n (dun; those of u_r and u_z equal dxr and dxz),
// and the part of d loss / d h_prev that bypasses U: dh * z.
template <class S>
ABC_HD inline void gru_backward(S r, S z, S n, S un, S h_prev, S dh,  //
                                S& dxr, S& dxz, S& dxn, S& dun, S& dh_prev_skip) {
  dxn = dh * (S(1) - z) * (S(1) - n * n);
  dun = dxn * r;
  dxr = dxn * un * r * (S(1) - r);
  dxz = dh * (h_prev - n) * z * (S(1) - z);
  dh_prev_skip = dh * z;
}

}  // namespace cell

// The cell as a unit (cells.hpp describes the interface every cell provides).
struct GruCell {
  static constexpr const char* kName = "gru";         // CLI value, checkpoint tag
  static constexpr const char* kTorchModule = "GRU";  // torch.nn.GRU
  static constexpr int kCudnnMode = 3;                // cudnnRNNMode_t
  static constexpr int kGates = 3;
  static constexpr bool kCellState = false;
  static constexpr bool kSplitRecurrent = true;  // needs u apart from x, and a recurrent bias
  static constexpr bool kHiddenSkip = true;      // h_prev also reaches h through z * h_prev

  template <class S>
  ABC_HD static S forward(S (&x)[kGates], const S (&rec)[kGates], S h_prev, S& c) {
    (void)c;
    S h;
    cell::gru_forward(x[0], x[1], x[2], rec[0], rec[1], rec[2], h_prev, x[0], x[1], x[2], h);
    return h;
  }

  template <class S>
  ABC_HD static S backward(const S (&saved)[kGates], const S (&rec)[kGates], S h_prev, S c_prev, S c, S h, S dh, S& dc,
                           S (&dx)[kGates], S (&drec)[kGates]) {
    (void)c_prev, (void)c, (void)h, (void)dc;
    S skip;
    cell::gru_backward(saved[0], saved[1], saved[2], rec[2], h_prev, dh, dx[0], dx[1], dx[2], drec[2], skip);
    drec[0] = dx[0];
    drec[1] = dx[1];
    return skip;
  }
};

}  // namespace abc
