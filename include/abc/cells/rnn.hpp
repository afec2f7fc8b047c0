// The tanh RNN cell (PyTorch's nn.RNN, cuDNN's CUDNN_RNN_TANH): h = tanh(W x + b + U h_prev).
#pragma once
#include "abc/cell_math.hpp"

namespace abc {
namespace cell {

template <class S>
ABC_HD inline S rnn_forward(S z) {
  return tanh_of(z);
}
// From the saved output h: dz = dh * (1 - h^2).
template <class S>
ABC_HD inline S rnn_backward(S h, S dh) {
  return dh * (S(1) - h * h);
}

}  // namespace cell

// The cell as a unit (cells.hpp describes the interface every cell provides).
struct RnnCell {
  static constexpr const char* kName = "rnn";         // CLI value, checkpoint tag
  static constexpr const char* kTorchModule = "RNN";  // torch.nn.RNN
  static constexpr int kCudnnMode = 1;                // cudnnRNNMode_t
  static constexpr int kGates = 1;
  static constexpr bool kCellState = false;
  static constexpr bool kSplitRecurrent = false;
  static constexpr bool kHiddenSkip = false;

  // Saves the pre-activation (backward needs only h).
  template <class S>
  ABC_HD static S forward(S (&x)[kGates], const S (&rec)[kGates], S h_prev, S& c) {
    (void)h_prev, (void)c;
    x[0] += rec[0];
    return cell::rnn_forward(x[0]);
  }

  template <class S>
  ABC_HD static S backward(const S (&saved)[kGates], const S (&rec)[kGates], S h_prev, S c_prev, S c, S h, S dh, S& dc,
                           S (&dx)[kGates], S (&drec)[kGates]) {
    (void)saved, (void)rec, (void)h_prev, (void)c_prev, (void)c, (void)dc, (void)drec;
    dx[0] = cell::rnn_backward(h, dh);
    return S(0);
  }
};

}  // namespace abc
