// The model pass, written once: every layer's input term, recurrence and dropout, then the
// output layer (forward); the output layer's gradients, then every layer's dropout,
// recurrence and input gradients from the top down (backward). Each backend provides the
// operations (an Ops type, below) on its own memory: CpuModel<float|double> (OpenBLAS
// loops; the double instance runs the finite-difference checks) and the CUDA backend
// (kernels, cuBLAS; it keeps memory, staging and graphs). The loss between the two
// passes belongs to the caller.
//
// An Ops type provides, with S its scalar:
//   using Scalar = S; Tokens (the chunk's ids as the backend holds them); Key (the dropout key)
//   LayerBuffers<S> layer(int l)     layer l's buffers; PassBuffers<S> scratch()
//   copy(dst, src, n), zero(dst, n)
//   table_input_term(tokens, table, bias, rows, N, z)        z[r] = table[tokens[r]] + bias
//   dense_input_term(rows, in, N, x, w, bias, z)             z = x w + bias
//   recurrence_forward(shape, w_rec, rec_bias, z, u, h, c)   and recurrence_backward(shape, w_rec,
//     z, u, h, c, dy, dc, dz, du, dh0): the time loop (cuda/recurrence.hpp has the contract)
//   recurrent_weight_grads(shape, h, dz, du, dw_rec, dbias, drec_bias)
//   table_grad(tokens, dz, rows, V, N, grad)                 grad[v] = sum of dz over v's rows
//   dense_input_grads(rows, in, N, x, w, dz, dw, dx)         dw = x^T dz, dx = dz w^T
//   dropout_forward(h, mask, dropped, T, B, H, layer, key, p), dropout_backward(mask, dy, n)
//   output_forward(rows, H, V, x, w, b, logits)              logits = x w + b
//   output_backward(rows, H, V, x, w, dlogits, dw, db, dx)
//   layer_forward_elsewhere(l, T, B, training, x, buffers) / layer_backward_elsewhere(l, T, B,
//     x, dy, grads): true when the backend ran the whole layer itself (cuDNN); false otherwise
#pragma once
#include <cstddef>

#include "abc/model.hpp"

namespace abc {

// One recurrent layer's time loop: cell, steps, streams, units.
struct LayerShape {
  CellKind cell = CellKind::kLstm;
  int T = 0, B = 0, H = 0;
};

// Layer l's buffers in the backend's memory (BH = B * H of the chunk, rows = T * B).
template <class S>
struct LayerBuffers {
  S* z = nullptr;         // [rows, G*H] input terms, then what the cell's backward needs
  S* u = nullptr;         // [rows, G*H] recurrent terms (split-recurrent cells; else null)
  S* h = nullptr;         // [T+1, B, H] slot 0 the state carried in
  S* c = nullptr;         // [T+1, B, H] (cell state; else null)
  S* state_h = nullptr;   // [max_batch, H] carried between chunks
  S* state_c = nullptr;   // [max_batch, H] (cell state; else null)
  S* mask = nullptr;      // [rows, H] dropout factors (dropout > 0)
  S* dropped = nullptr;   // [rows, H] h * mask (dropout > 0)
  S* dh0 = nullptr;       // [B, H] d loss / d state_h at the chunk's start, or null: not wanted
  S* dc0 = nullptr;       // [B, H] the same for state_c, or null
};

// Scratch shared by the layers.
template <class S>
struct PassBuffers {
  S* logits = nullptr;  // [rows, V]; the caller turns it into d loss / d logits
  S* dy = nullptr;      // [rows, H] d loss / d a layer's output, then its dh
  S* dz = nullptr;      // [rows, G*H] d loss / d input terms
  S* du = nullptr;      // [rows, G*H] d loss / d recurrent terms (split cells; else null)
  S* dc = nullptr;      // [B, H] cell-state gradient carried back in time
};

// [rows, H]: what layer l hands up (dropped or not).
template <class S>
const S* layer_output(const LayerBuffers<S>& b, int B, int H, bool dropout) {
  return dropout ? b.dropped : b.h + static_cast<std::size_t>(B) * static_cast<std::size_t>(H);
}

// Fills scratch().logits [T*B, V] from the chunk's inputs; the final state of every layer
// becomes its carried state. training: a backend that runs layers elsewhere keeps what
// backward needs. dropout: masks drawn with `key` on every layer's output.
template <class Ops>
void model_forward(Ops& ops, const ParamLayout& layout, const typename Ops::Scalar* p,
                   const typename Ops::Tokens& tokens, int T, int B, bool training, bool dropout,
                   const typename Ops::Key& key) {
  using S = typename Ops::Scalar;
  const ModelConfig& cfg = layout.config();
  const int H = cfg.hidden, GH = layout.gates() * H, V = cfg.vocab, rows = T * B;
  const std::size_t BH = static_cast<std::size_t>(B) * static_cast<std::size_t>(H);
  const S* x = nullptr;  // [rows, H] input of layers > 0
  for (int l = 0; l < cfg.layers; ++l) {
    const LayerBuffers<S> b = ops.layer(l);
    const LayerParams& lp = layout.layer(l);
    // h, c: [T+1, B, H], slot t holds the state before step t.
    ops.copy(b.h, b.state_h, BH);
    if (b.c != nullptr) ops.copy(b.c, b.state_c, BH);
    if (!ops.layer_forward_elsewhere(l, T, B, training, x, b)) {
      if (l == 0) {
        ops.table_input_term(tokens, p + lp.w_in.offset, p + lp.bias.offset, rows, GH, b.z);
      } else {
        ops.dense_input_term(rows, H, GH, x, p + lp.w_in.offset, p + lp.bias.offset, b.z);
      }
      ops.recurrence_forward(LayerShape{cfg.cell, T, B, H}, p + lp.w_rec.offset, p + lp.rec_bias.offset, b.z, b.u,
                             b.h, b.c);
      ops.copy(b.state_h, b.h + static_cast<std::size_t>(T) * BH, BH);
      if (b.c != nullptr) ops.copy(b.state_c, b.c + static_cast<std::size_t>(T) * BH, BH);
    }
    if (dropout) ops.dropout_forward(b.h + BH, b.mask, b.dropped, T, B, H, l, key, cfg.dropout);
    x = layer_output(b, B, H, dropout);
  }
  ops.output_forward(rows, H, V, x, p + layout.w_out().offset, p + layout.b_out().offset, ops.scratch().logits);
}

// Needs scratch().logits holding d(mean loss)/d(logits) and the activations of
// model_forward(training); overwrites the gradient block g.
template <class Ops>
void model_backward(Ops& ops, const ParamLayout& layout, const typename Ops::Scalar* p, typename Ops::Scalar* g,
                    const typename Ops::Tokens& tokens, int T, int B, bool dropout) {
  using S = typename Ops::Scalar;
  const ModelConfig& cfg = layout.config();
  const int H = cfg.hidden, GH = layout.gates() * H, V = cfg.vocab, rows = T * B;
  const std::size_t BH = static_cast<std::size_t>(B) * static_cast<std::size_t>(H);
  const PassBuffers<S> s = ops.scratch();
  const S* x_top = layer_output(ops.layer(cfg.layers - 1), B, H, dropout);
  ops.output_backward(rows, H, V, x_top, p + layout.w_out().offset, s.logits, g + layout.w_out().offset,
                      g + layout.b_out().offset, s.dy);

  for (int l = cfg.layers - 1; l >= 0; --l) {
    const LayerBuffers<S> b = ops.layer(l);
    const LayerParams& lp = layout.layer(l);
    const S* x = l == 0 ? nullptr : layer_output(ops.layer(l - 1), B, H, dropout);
    if (dropout) ops.dropout_backward(b.mask, s.dy, static_cast<std::size_t>(rows) * static_cast<std::size_t>(H));
    if (ops.layer_backward_elsewhere(l, T, B, x, s.dy, g)) continue;
    // du is dz for cells that keep no separate recurrent term.
    S* du = b.u != nullptr ? s.du : s.dz;
    if (b.c != nullptr) ops.zero(s.dc, BH);
    const LayerShape shape{cfg.cell, T, B, H};
    ops.recurrence_backward(shape, p + lp.w_rec.offset, b.z, b.u, b.h, b.c, s.dy, s.dc, s.dz,
                            b.u != nullptr ? du : nullptr, b.dh0);
    if (b.dc0 != nullptr) ops.copy(b.dc0, s.dc, BH);
    // Weight gradients over all T*B rows; h slots 0..T-1 are each step's h_prev.
    ops.recurrent_weight_grads(shape, b.h, s.dz, b.u != nullptr ? du : nullptr, g + lp.w_rec.offset,
                               g + lp.bias.offset, g + lp.rec_bias.offset);
    if (l == 0) {
      ops.table_grad(tokens, s.dz, rows, V, GH, g + lp.w_in.offset);
    } else {
      ops.dense_input_grads(rows, H, GH, x, p + lp.w_in.offset, s.dz, g + lp.w_in.offset, s.dy);  // the next dy
    }
  }
}

}  // namespace abc
