// The LSTM cell, gate order i, f, g, o (PyTorch's nn.LSTM, cuDNN's CUDNN_LSTM):
//   i = s(z_i), f = s(z_f), g = tanh(z_g), o = s(z_o), c = f * c_prev + i * g, h = o * tanh(c)
// with z = W x + b + U h_prev. The recurrent term only ever appears summed with the
// input term, so the step loop's GEMM adds it straight into z.
#pragma once
#include "abc/cell_math.hpp"

namespace abc {
namespace cell {

// Forward of one element: pre-activations z* and c_prev in; activated gates, c and
// h = o * tanh(c) out. The activated gates are what backward needs saved.
template <class S>
ABC_HD inline void lstm_forward(S zi, S zf, S zg, S zo, S c_prev,  //
                                S& i, S& f, S& g, S& o, S& c, S& h) {
  i = sigmoid(zi);
  f = sigmoid(zf);
  g = tanh_of(zg);
  o = sigmoid(zo);
  c = f * c_prev + i * g;
  h = o * tanh_of(c);
}

// Backward of one element. dh: d(loss)/dh of this step (from above and from step
// t+1); dc: d(loss)/dc carried back from step t+1. Out: gradients of the four
// pre-activations and of c_prev. tanh(c) is recomputed rather than stored.
template <class S>
ABC_HD inline void lstm_backward(S i, S f, S g, S o, S c_prev, S c, S dh, S dc,  //
                                 S& dzi, S& dzf, S& dzg, S& dzo, S& dc_prev) {
  const S tc = tanh_of(c);
  const S dc_total = dc + dh * o * (S(1) - tc * tc);
  dzi = dc_total * g * i * (S(1) - i);
  dzf = dc_total * c_prev * f * (S(1) - f);
  dzg = dc_total * i * (S(1) - g * g);
  dzo = dh * tc * o * (S(1) - o);
  dc_prev = dc_total * f;
}

}  // namespace cell

// The cell as a unit (cells.hpp describes the interface every cell provides).
struct LstmCell {
  static constexpr const char* kName = "lstm";         // CLI value, checkpoint tag
  static constexpr const char* kTorchModule = "LSTM";  // torch.nn.LSTM
  static constexpr int kCudnnMode = 2;                 // cudnnRNNMode_t
  static constexpr int kGates = 4;
  static constexpr bool kCellState = true;        // carries c beside h
  static constexpr bool kSplitRecurrent = false;  // x + rec is all the math needs
  static constexpr bool kHiddenSkip = false;      // h_prev reaches h only through U

  template <class S>
  ABC_HD static S forward(S (&x)[kGates], const S (&rec)[kGates], S h_prev, S& c) {
    (void)h_prev;
    S h;
    cell::lstm_forward(x[0] + rec[0], x[1] + rec[1], x[2] + rec[2], x[3] + rec[3], c,  //
                       x[0], x[1], x[2], x[3], c, h);
    return h;
  }

  template <class S>
  ABC_HD static S backward(const S (&saved)[kGates], const S (&rec)[kGates], S h_prev, S c_prev, S c, S h, S dh, S& dc,
                           S (&dx)[kGates], S (&drec)[kGates]) {
    (void)rec, (void)h_prev, (void)h, (void)drec;
    cell::lstm_backward(saved[0], saved[1], saved[2], saved[3], c_prev, c, dh, dc,  //
                        dx[0], dx[1], dx[2], dx[3], dc);
    return S(0);
  }
};

}  // namespace abc
