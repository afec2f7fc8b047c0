// The registry of recurrent cells, and the per-unit step every backend runs.
//
// A cell is one header in cells/ holding a struct with:
//   kName, kTorchModule, kCudnnMode  names in our CLI and checkpoints, torch.nn, cuDNN
//   kGates                           gate columns per unit (column g*H + j: gate g of unit j)
//   kCellState                       carries c beside h (LSTM)
//   kSplitRecurrent                  needs the recurrent term u = U h_prev + b_h apart from the
//                                    input term x = W x_t + b_i, and has the recurrent bias b_h
//                                    (GRU); otherwise only x + u matters and the step GEMM adds
//                                    u into x
//   kHiddenSkip                      h_prev reaches h other than through U (GRU's z * h_prev)
//   forward(x[G], u[G], h_prev, c)   -> h; x becomes what backward needs saved, c is updated
//   backward(saved[G], u[G], h_prev, c_prev, c, h, dh, dc, dx[G], du[G])
//                                    -> the part of d h_prev that bypasses U; dx, du: gradients
//                                    of the input and recurrent terms (du written only by split
//                                    cells: for the others it equals dx); dc: in from step t+1,
//                                    out d c_prev
// all __host__ __device__. Adding a cell: its header, its CellKind and its place in Cells.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "abc/cells/gru.hpp"
#include "abc/cells/lstm.hpp"
#include "abc/cells/rnn.hpp"

namespace abc {

enum class CellKind { kLstm, kRnn, kGru };

template <class... C>
struct CellList {};
// In CellKind order.
using Cells = CellList<LstmCell, RnnCell, GruCell>;
constexpr int kCellCount = 3;

// Calls f(Cell{}) with the cell struct of `kind`; every instantiation must return the same type.
template <class F, class First, class... Rest>
decltype(auto) with_cell_at(int index, F&& f, CellList<First, Rest...>) {
  if constexpr (sizeof...(Rest) == 0) {
    return f(First{});
  } else {
    if (index == 0) return f(First{});
    return with_cell_at(index - 1, static_cast<F&&>(f), CellList<Rest...>{});
  }
}
template <class F>
decltype(auto) with_cell(CellKind kind, F&& f) {
  return with_cell_at(static_cast<int>(kind), static_cast<F&&>(f), Cells{});
}

// A cell's constants as run-time values (for code that is not a template over the cell).
struct CellInfo {
  const char* name;
  const char* torch_module;
  int cudnn_mode;
  int gates;
  bool cell_state;
  bool split_recurrent;  // also: the layer has a recurrent bias
  bool hidden_skip;
};
inline CellInfo cell_info(CellKind kind) {
  return with_cell(kind, [](auto c) {
    using C = decltype(c);
    return CellInfo{C::kName,      C::kTorchModule,    C::kCudnnMode, C::kGates,
                    C::kCellState, C::kSplitRecurrent, C::kHiddenSkip};
  });
}
inline CellKind cell_kind_at(int index) { return static_cast<CellKind>(index); }
// Every registered cell, in registry order (tests loop over it, so a new cell joins them).
inline std::vector<CellKind> all_cell_kinds() {
  std::vector<CellKind> kinds;
  for (int k = 0; k < kCellCount; ++k) kinds.push_back(cell_kind_at(k));
  return kinds;
}

// "lstm", "rnn", "gru".
inline const char* cell_kind_name(CellKind kind) { return cell_info(kind).name; }
// Every cell's name, in registry order (the CLI's choices).
std::vector<std::string> cell_names();
// Inverse of cell_kind_name(); throws abc::Error naming the accepted values.
CellKind parse_cell_kind(const std::string& name);

// One unit of one step, the loop body of the CPU step and of the CUDA pointwise kernels.
// Rows of [B, G*H] (x: input term, or x + u for unsplit cells; u: the recurrent term of
// split cells, else null) and [B, H] (h_prev, h, c_prev, c; c null without cell state).
template <class Cell, class S>
ABC_HD inline void step_unit_forward(S* x, const S* u, const S* h_prev, S* h, const S* c_prev, S* c, std::size_t b,
                                     std::size_t j, std::size_t H) {
  constexpr int G = Cell::kGates;
  S* xb = x + b * G * H;
  S xs[G], us[G];
  for (int g = 0; g < G; ++g) {
    xs[g] = xb[g * H + j];
    us[g] = Cell::kSplitRecurrent ? u[b * G * H + g * H + j] : S(0);
  }
  const std::size_t i = b * H + j;
  S cs = Cell::kCellState ? c_prev[i] : S(0);
  h[i] = Cell::forward(xs, us, h_prev[i], cs);
  for (int g = 0; g < G; ++g) xb[g * H + j] = xs[g];
  if (Cell::kCellState) c[i] = cs;
}

// Backward of step_unit_forward. dh [B, H]: total d loss / d h of this step; dc [B, H]:
// in/out (cell state only); dx, du [B, G*H] out (du: split cells only). skip [B, H]: where
// the part of d h_prev that bypasses U goes (hidden-skip cells), added when
// skip_accumulate, else stored; null drops it.
template <class Cell, class S>
ABC_HD inline void step_unit_backward(const S* saved, const S* u, const S* h_prev, const S* h, const S* c_prev,
                                      const S* c, const S* dh, S* dc, S* dx, S* du, S* skip, bool skip_accumulate,
                                      std::size_t b, std::size_t j, std::size_t H) {
  constexpr int G = Cell::kGates;
  const std::size_t row = b * G * H, i = b * H + j;
  S ss[G], us[G], dxs[G], dus[G]{};
  for (int g = 0; g < G; ++g) {
    ss[g] = saved[row + g * H + j];
    us[g] = Cell::kSplitRecurrent ? u[row + g * H + j] : S(0);
  }
  S dcs = Cell::kCellState ? dc[i] : S(0);
  const S cp = Cell::kCellState ? c_prev[i] : S(0), cc = Cell::kCellState ? c[i] : S(0);
  const S sk = Cell::backward(ss, us, h_prev[i], cp, cc, h[i], dh[i], dcs, dxs, dus);
  for (int g = 0; g < G; ++g) {
    dx[row + g * H + j] = dxs[g];
    if (Cell::kSplitRecurrent) du[row + g * H + j] = dus[g];
  }
  if (Cell::kCellState) dc[i] = dcs;
  if (Cell::kHiddenSkip && skip != nullptr) skip[i] = skip_accumulate ? skip[i] + sk : sk;
}

}  // namespace abc
