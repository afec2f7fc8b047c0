#include "abc/cpu_model.hpp"

#include <cblas.h>
#include <omp.h>

#include <stdlib.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "abc/cell_math.hpp"
#include "abc/error.hpp"
#include "abc/model_pass.hpp"
#include "parts.hpp"

namespace abc {
namespace {

// C[M,N] = op(A)[M,K] op(B)[K,N] + beta * C, all row-major. A single row (sampling,
// B=1) goes to GEMV: OpenBLAS's GEMM packs its operands first, which costs more than
// the arithmetic of one row.
void gemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 1 && !trans_a) {  // c[N] = op(B)^T a[K]
    cblas_sgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, trans_b ? N : K, trans_b ? K : N, 1.0f,
                B, ldb, A, 1, beta, C, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
void gemm(bool trans_a, bool trans_b, int M, int N, int K, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc) {
  if (M == 1 && !trans_a) {
    cblas_dgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, trans_b ? N : K, trans_b ? K : N, 1.0,
                B, ldb, A, 1, beta, C, 1);
    return;
  }
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

// The recurrence's per-step products, C[M, N] = A[M, K] op(B) + beta * C with M the
// streams of one part, in blocks of at most 8 rows: OpenBLAS's small-matrix kernels run a
// core here at about 105 GFLOP/s for M <= 8 both ways, but at 60-90 for M = 16..64
// (H=100, G*H=400, measured one call at a time).
template <class S>
void step_gemm(bool trans_b, int M, int N, int K, const S* A, int lda, const S* B, int ldb, S beta, S* C, int ldc) {
  constexpr int kRows = 8;
  for (int r = 0; r < M; r += kRows) {
    gemm(false, trans_b, std::min(kRows, M - r), N, K, A + sz(r) * sz(lda), lda, B, ldb, beta, C + sz(r) * sz(ldc),
         ldc);
  }
}

// out[r, :] = row for every r of [rows, n].
template <class S>
void broadcast_rows(const S* row, std::size_t rows, int n, S* out) {
  for (std::size_t r = 0; r < rows; ++r) std::copy(row, row + n, out + r * sz(n));
}

// sums[k] = sum over r of m[r * stride + k] for k < n (a bias gradient; rows ascending).
template <class S>
void column_sums(const S* m, std::size_t rows, int n, int stride, S* sums) {
  std::fill(sums, sums + n, S(0));
  for (std::size_t r = 0; r < rows; ++r) {
    const S* row = m + r * sz(stride);
    for (int k = 0; k < n; ++k) sums[k] += row[k];
  }
}

// The cell loops below run a row's units as vector loops of kLanes (16 floats: AVX-512).
// GCC 12 leaves the last H % kLanes units of a row to a one-at-a-time loop, which at H=100
// (4 units of 100) took a quarter of the LSTM cell's time. The row helpers run them as one
// more whole vector instead: the row's last kLanes units, copied into a window (whole-vector
// copies), computed there, and only the units not done yet copied back. The other lanes
// compute from values the first loop already overwrote: harmless numbers nobody reads.
constexpr int kLanes = 16;

// A row of H units as the cell loops run it: units [0, whole) in whole vectors (all H of
// them when H < kLanes), then, when some are left, the window of units [w0, w0 + kLanes),
// whose lanes from `first` on are the ones not done yet.
struct RowWindow {
  explicit RowWindow(int H)
      : whole(H < kLanes ? H : H / kLanes * kLanes), w0(sz(std::max(0, H - kLanes))), first(whole - (H - kLanes)) {}
  int whole;
  std::size_t w0;
  int first;
};

// dst [kLanes] = src [kLanes].
template <class S>
void window_in(const S* src, S* dst) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) dst[l] = src[l];
}
// dst [kLanes] = src in the lanes from `first` on; the others keep their value.
template <class S>
void window_out(const S* src, S* dst, int first) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) dst[l] = l >= first ? src[l] : dst[l];
}

// step_unit_forward for units [0, n) of a row whose gates are H apart. Not inlined: the
// row helper calls it twice, and one copy keeps the cell math inlined and vectorised.
template <class Cell, class S>
[[gnu::noinline]] void forward_units(S* x, const S* u, const S* h_prev, S* h, const S* c_prev, S* c, int n, int H) {
#pragma omp simd
  for (int j = 0; j < n; ++j) step_unit_forward<Cell>(x, u, h_prev, h, c_prev, c, 0, sz(j), sz(H));
}

// step_unit_forward for units [0, H) of one stream's row: x, u [G*H] (u: split cells, else
// null), h_prev, c_prev [H] in; h, c [H] out (c, c_prev: cell state only, else null).
template <class Cell, class S>
void forward_row(S* x, const S* u, const S* h_prev, S* h, const S* c_prev, S* c, int H) {
  const RowWindow row(H);
  forward_units<Cell>(x, u, h_prev, h, c_prev, c, row.whole, H);
  if (row.whole == H) return;
  constexpr int G = Cell::kGates;
  const std::size_t w0 = row.w0;
  const int first = row.first;
  S wx[G * kLanes], wu[G * kLanes] = {}, wh_prev[kLanes], wh[kLanes], wc_prev[kLanes] = {}, wc[kLanes];
  for (int g = 0; g < G; ++g) {
    window_in(x + sz(g) * sz(H) + w0, wx + g * kLanes);
    if (Cell::kSplitRecurrent) window_in(u + sz(g) * sz(H) + w0, wu + g * kLanes);
  }
  window_in(h_prev + w0, wh_prev);
  if (Cell::kCellState) window_in(c_prev + w0, wc_prev);
  forward_units<Cell>(wx, wu, wh_prev, wh, wc_prev, wc, kLanes, kLanes);
  for (int g = 0; g < G; ++g) window_out(wx + g * kLanes, x + sz(g) * sz(H) + w0, first);
  window_out(wh, h + w0, first);
  if (Cell::kCellState) window_out(wc, c + w0, first);
}

// step_unit_backward for units [0, n) of a row whose gates are H apart (not inlined, as
// forward_units).
template <class Cell, class S>
[[gnu::noinline]] void backward_units(const S* saved, const S* u, const S* h_prev, const S* h, const S* c_prev,
                                      const S* c, const S* dh, S* dc, S* dx, S* du, S* skip, bool skip_accumulate,
                                      int n, int H) {
#pragma omp simd
  for (int j = 0; j < n; ++j) {
    step_unit_backward<Cell>(saved, u, h_prev, h, c_prev, c, dh, dc, dx, du, skip, skip_accumulate, 0, sz(j), sz(H));
  }
}

// step_unit_backward for units [0, H) of one stream's row: saved, u [G*H]; h_prev, h,
// c_prev, c, dh [H] in; dc [H] in and out; dx, du [G*H] out; skip [H] (or null) as in
// step_unit_backward. Null where the cell has no such term.
template <class Cell, class S>
void backward_row(const S* saved, const S* u, const S* h_prev, const S* h, const S* c_prev, const S* c, const S* dh,
                  S* dc, S* dx, S* du, S* skip, bool skip_accumulate, int H) {
  const RowWindow row(H);
  backward_units<Cell>(saved, u, h_prev, h, c_prev, c, dh, dc, dx, du, skip, skip_accumulate, row.whole, H);
  if (row.whole == H) return;
  constexpr int G = Cell::kGates;
  const std::size_t w0 = row.w0;
  const int first = row.first;
  const bool has_skip = Cell::kHiddenSkip && skip != nullptr;
  S ws[G * kLanes], wu[G * kLanes] = {}, wdx[G * kLanes], wdu[G * kLanes];
  S wh_prev[kLanes], wh[kLanes], wc_prev[kLanes] = {}, wc[kLanes] = {}, wdh[kLanes], wdc[kLanes] = {},
    wskip[kLanes] = {};
  for (int g = 0; g < G; ++g) {
    window_in(saved + sz(g) * sz(H) + w0, ws + g * kLanes);
    if (Cell::kSplitRecurrent) window_in(u + sz(g) * sz(H) + w0, wu + g * kLanes);
  }
  window_in(h_prev + w0, wh_prev);
  window_in(h + w0, wh);
  window_in(dh + w0, wdh);
  if (Cell::kCellState) window_in(c_prev + w0, wc_prev), window_in(c + w0, wc), window_in(dc + w0, wdc);
  if (has_skip) window_in(skip + w0, wskip);
  backward_units<Cell>(ws, wu, wh_prev, wh, wc_prev, wc, wdh, wdc, wdx, wdu, has_skip ? wskip : nullptr,
                       skip_accumulate, kLanes, kLanes);
  for (int g = 0; g < G; ++g) {
    window_out(wdx + g * kLanes, dx + sz(g) * sz(H) + w0, first);
    if (Cell::kSplitRecurrent) window_out(wdu + g * kLanes, du + sz(g) * sz(H) + w0, first);
  }
  if (Cell::kCellState) window_out(wdc, dc + w0, first);
  if (has_skip) window_out(wskip, skip + w0, first);
}

}  // namespace

namespace cpu {

// The time loop of one layer, forward (cells.hpp's step_unit_forward per unit of every
// step). z [T*B, G*H]: in, the input terms; out, what backward needs. u [T*B, G*H]
// (split cells, else null): out, the recurrent terms h_prev @ w_rec + rec_bias; unsplit
// cells get theirs added into z. h, c [T+1, B, H]: slot 0 in, slots 1..T out (c: cell
// state only, else null). Only the streams [b0, b1) of the B are computed: they are
// independent, so the streams can be cut into parts that run at the same time.
template <class Cell, class S>
void recurrence_forward(const S* w_rec, const S* rec_bias, S* z, S* u, S* h, S* c, int T, int B, int H, int b0,
                        int b1) {
  const int GH = Cell::kGates * H, nb = b1 - b0;
  const std::size_t BH = sz(B) * sz(H), BGH = sz(B) * sz(GH);
  for (int t = 0; t < T; ++t) {
    S* zt = z + sz(t) * BGH;
    S* ut = Cell::kSplitRecurrent ? u + sz(t) * BGH : nullptr;
    if (Cell::kSplitRecurrent) broadcast_rows(rec_bias, sz(nb), GH, ut + sz(b0) * sz(GH));
    step_gemm(false, nb, GH, H, h + sz(t) * BH + sz(b0) * sz(H), H, w_rec, GH, S(1),
              (Cell::kSplitRecurrent ? ut : zt) + sz(b0) * sz(GH), GH);
    S* c_prev = Cell::kCellState ? c + sz(t) * BH : nullptr;
    S* c_next = Cell::kCellState ? c + sz(t + 1) * BH : nullptr;
    for (int b = b0; b < b1; ++b) {
      // Row b's pointers, so the units of a row are consecutive elements: the loop vectorises.
      const std::size_t o = sz(b) * sz(H), og = sz(b) * sz(GH);
      forward_row<Cell>(zt + og, Cell::kSplitRecurrent ? ut + og : nullptr, h + sz(t) * BH + o, h + sz(t + 1) * BH + o,
                        Cell::kCellState ? c_prev + o : nullptr, Cell::kCellState ? c_next + o : nullptr, H);
    }
  }
}

// Backward through time of recurrence_forward (its z, u, h, c). dy [T, B, H]: in,
// d loss / d h_t from above; gains the recurrent terms (dy[t] gains step t+1's before step
// t reads it). dc [B, H] (cell state): in d c_T, out d c_0. dz [T*B, G*H]: out, d loss /
// d input terms; du: d loss / d recurrent terms (split cells; else pass dz, they are equal).
// dh0 [B, H]: out, d loss / d h_0. Streams [b0, b1) only, as recurrence_forward.
template <class Cell, class S>
void recurrence_backward(const S* w_rec, const S* z, const S* u, const S* h, const S* c, S* dy, S* dc, S* dz,
                         S* du, S* dh0, int T, int B, int H, int b0, int b1) {
  const int GH = Cell::kGates * H, nb = b1 - b0;
  const std::size_t BH = sz(B) * sz(H), BGH = sz(B) * sz(GH);
  for (int t = T - 1; t >= 0; --t) {
    const std::size_t g0 = sz(t) * BGH;
    S* dh_prev = t > 0 ? dy + sz(t - 1) * BH : dh0;
    const S* c_prev = Cell::kCellState ? c + sz(t) * BH : nullptr;
    const S* c_next = Cell::kCellState ? c + sz(t + 1) * BH : nullptr;
    const S* ut = Cell::kSplitRecurrent ? u + g0 : nullptr;
    for (int b = b0; b < b1; ++b) {
      const std::size_t o = sz(b) * sz(H), og = g0 + sz(b) * sz(GH);
      backward_row<Cell>(z + og, Cell::kSplitRecurrent ? ut + sz(b) * sz(GH) : nullptr, h + sz(t) * BH + o,
                         h + sz(t + 1) * BH + o, Cell::kCellState ? c_prev + o : nullptr,
                         Cell::kCellState ? c_next + o : nullptr, dy + sz(t) * BH + o,
                         Cell::kCellState ? dc + o : nullptr, dz + og, du + og, dh_prev != nullptr ? dh_prev + o : nullptr,
                         t > 0, H);
    }
    // dh_prev (+)= du_t @ w_rec^T: at t = 0 it starts from zero unless the skip term is there.
    if (dh_prev == nullptr) continue;  // no gradient wanted into the chunk's initial state
    const S beta = t > 0 || Cell::kHiddenSkip ? S(1) : S(0);
    step_gemm(true, nb, H, GH, du + g0 + sz(b0) * sz(GH), GH, w_rec, GH, beta, dh_prev + sz(b0) * sz(H), H);
  }
}

}  // namespace cpu

namespace {

// Dropout on a layer's output h [T, B, H]: mask and dropped, same shape; steps [t0, t1).
// stream0: the chunk's index of stream 0 here (a group of its streams: the mask of a
// stream does not depend on how the chunk was cut).
template <class S>
void apply_dropout(const S* h, S* mask, S* dropped, int t0, int t1, int B, int stream0, int H, int layer,
                   U32x2 key, float p) {
  const S scale = cell::dropout_scale<S>(p);
  // One Philox call serves four units; a batch of calls runs as one vector loop (one call
  // per lane), then the units read their words.
  constexpr int kCalls = 16;
  alignas(64) std::uint32_t words[4 * kCalls];
  for (int t = t0; t < t1; ++t) {
    for (int b = 0; b < B; ++b) {
      const std::size_t row = (sz(t) * sz(B) + sz(b)) * sz(H);
      for (int j0 = 0; j0 < H; j0 += 4 * kCalls) {
        const int units = std::min(4 * kCalls, H - j0), calls = (units + 3) / 4;
#pragma omp simd
        for (int g = 0; g < calls; ++g) {
          const U32x4 bits = dropout_bits(key, layer, t, stream0 + b, j0 + 4 * g);
          for (int k = 0; k < 4; ++k) words[4 * g + k] = bits.v[k];
        }
        const S* hr = h + row + sz(j0);
        S* mr = mask + row + sz(j0);
        S* dr = dropped + row + sz(j0);
#pragma omp simd
        for (int i = 0; i < units; ++i) {
          const S f = cell::dropout_factor(uniform_from_u32(words[i]), p, scale);
          mr[i] = f;
          dr[i] = hr[i] * f;
        }
      }
    }
  }
}

// Softmax cross-entropy of rows of logits [rows, V] against targets [rows]. Returns
// the summed nats. With grad_scale != 0 the logits are replaced by
// grad_scale * d(loss)/d(logits).
template <class S>
double softmax_rows(S* logits, const TokenId* targets, std::size_t r0, std::size_t r1, int V, S grad_scale) {
  double total = 0.0;
  for (std::size_t r = r0; r < r1; ++r) {
    S* z = logits + r * sz(V);
    const int target = targets[r];
    // The loops are vector loops: the max and the sum over lanes (a fixed order for a
    // given build, so the loss is the same run to run).
    S m = z[0];
#pragma omp simd reduction(max : m)
    for (int k = 1; k < V; ++k) m = z[k] > m ? z[k] : m;
    const S shifted_target = z[target] - m;
    S sum = 0;
    if (grad_scale != S(0)) {
#pragma omp simd reduction(+ : sum)
      for (int k = 0; k < V; ++k) {
        z[k] = cell::softmax_shifted_exp(z[k], m);
        sum += z[k];
      }
    } else {
#pragma omp simd reduction(+ : sum)
      for (int k = 0; k < V; ++k) sum += cell::softmax_shifted_exp(z[k], m);
    }
    total += static_cast<double>(cell::xent_loss(shifted_target, sum));
    if (grad_scale != S(0)) {
      const S inv_sum = S(1) / sum;
#pragma omp simd
      for (int k = 0; k < V; ++k) z[k] = cell::xent_grad(z[k], inv_sum, k == target, grad_scale);
    }
  }
  return total;
}

// sum[k] += add[k] for k < n, cut into `threads` parts.
template <class S>
void add_into(S* sum, const S* add, std::size_t n, int threads) {
  for_parts(parts_for<std::size_t>(threads, n, 4096), [&](int p, int np) {
    const auto [k0, k1] = slice(n, p, np);
#pragma omp simd
    for (std::size_t k = k0; k < k1; ++k) sum[k] += add[k];
  });
}

// softmax_rows over all rows, cut into parts whose sums are added in part order.
template <class S>
double softmax_xent(S* logits, const TokenId* targets, std::size_t rows, int V, S grad_scale, int threads) {
  return sum_over_parts(parts_for<std::size_t>(threads, rows, 16), rows, [&](std::size_t r0, std::size_t r1) {
    return softmax_rows(logits, targets, r0, r1, V, grad_scale);
  });
}

}  // namespace

template <class S>
CpuModel<S>::CpuModel(const ModelConfig& config, int max_batch, int max_seq, int threads, int stream_group)
    : layout_(config), max_batch_(max_batch), max_seq_(max_seq), threads_(threads), stream_group_(stream_group) {
  if (max_batch < 1 || max_seq < 1) {
    throw Error("model batch and sequence limits must be at least 1 (got batch " +
                    std::to_string(max_batch) + ", seq " + std::to_string(max_seq) + ")",
                kExitUsage);
  }
  if (stream_group < 1) {
    throw Error("CPU stream group must be at least 1 (got " + std::to_string(stream_group) + ")", kExitUsage);
  }
  if (threads < 1 || threads > kMaxCpuThreads) {
    throw Error("CPU threads must be in 1.." + std::to_string(kMaxCpuThreads) + " (got " + std::to_string(threads) +
                    ")",
                kExitUsage);
  }
  // The model runs its own threads: OpenBLAS stays single-threaded inside each, so no
  // BLAS thread spins while another waits for it.
  openblas_set_num_threads(1);
  const CellInfo cell = cell_info(config.cell);
  const bool has_c = cell.cell_state, split = cell.split_recurrent;
  const std::size_t H = sz(config.hidden), GH = sz(layout_.gates()) * H;
  const std::size_t rows = sz(max_seq) * sz(max_batch), BH = sz(max_batch) * H;
  params_.assign(layout_.total(), S(0));
  grads_.assign(layout_.total(), S(0));
  layers_.resize(sz(config.layers));
  for (LayerStorage& buf : layers_) {
    buf.gates.assign(rows * GH, S(0));
    if (split) buf.rec.assign(rows * GH, S(0));
    buf.h.assign(rows * H + BH, S(0));
    if (has_c) buf.c.assign(rows * H + BH, S(0));
    if (config.dropout > 0.0f) {
      buf.mask.assign(rows * H, S(0));
      buf.dropped.assign(rows * H, S(0));
    }
    buf.state_h.assign(BH, S(0));
    if (has_c) buf.state_c.assign(BH, S(0));
    buf.dh0.assign(BH, S(0));
    if (has_c) buf.dc0.assign(BH, S(0));
  }
  logits_.assign(rows * sz(config.vocab), S(0));
  dgates_.assign(rows * GH, S(0));
  if (split) drec_.assign(rows * GH, S(0));
  dy_.assign(rows * H, S(0));
  dc_.assign(BH, S(0));
  // forward_backward's slices (one per thread) and groups: the tokens of each group, the
  // gradient of every slice after the first, and a scratch gradient per slice for its
  // groups after the first.
  const int workers = std::min(threads, max_batch), slice_streams = (max_batch + workers - 1) / workers;
  if (max_batch > 1) {
    group_inputs_.assign(sz(max_seq) * sz(max_batch), 0);
    group_targets_.assign(sz(max_seq) * sz(max_batch), 0);
  }
  const int blocks = workers - 1 + (slice_streams > stream_group ? workers : 0);
  grad_blocks_.assign(sz(blocks) * layout_.total(), S(0));
}

template <class S>
void CpuModel<S>::reset_state() {
  for (LayerStorage& buf : layers_) {
    std::fill(buf.state_h.begin(), buf.state_h.end(), S(0));
    std::fill(buf.state_c.begin(), buf.state_c.end(), S(0));
  }
}

template <class S>
S* CpuModel<S>::state_c(int layer) {
  auto& c = layers_[sz(layer)].state_c;
  return c.empty() ? nullptr : c.data();
}

template <class S>
const S* CpuModel<S>::initial_state_grad_h(int layer) const {
  return layers_[sz(layer)].dh0.data();
}

template <class S>
const S* CpuModel<S>::initial_state_grad_c(int layer) const {
  const auto& dc0 = layers_[sz(layer)].dc0;
  return dc0.empty() ? nullptr : dc0.data();
}

template <class S>
void CpuModel<S>::check_chunk(const Chunk& chunk) const {
  check_chunk_fits(chunk, max_batch_, max_seq_);
  const std::size_t n = sz(chunk.T) * sz(chunk.B);
  check_token_ids(chunk.inputs.data(), n, config().vocab, "input");
  check_token_ids(chunk.targets.data(), n, config().vocab, "target");
}

// The operations of the model pass (model_pass.hpp) on the CPU model's buffers. With
// threads() > 1 (evaluation, sampling, and training a single stream; training otherwise
// gives each thread its own streams, forward_backward below) each op cuts its work into
// parts that share nothing and runs them on OpenMP threads, OpenBLAS single-threaded
// inside each: the recurrence by streams (the B rows are independent for all T steps, so
// a part never waits for another), the products over all T*B rows by rows or by output
// columns, sums by columns. A part's result does not depend on the others, so a run is
// deterministic for its thread count.
template <class S>
struct CpuPassOps {
  using Scalar = S;
  using Tokens = const TokenId*;
  using Key = U32x2;
  CpuModel<S>& m;
  // The pass runs streams stream0.. of a chunk of `steps` steps (CpuModel::forward_backward's
  // groups; 0, 0 for a whole chunk). Its buffers are the share of the model's that those
  // streams have in a pass over the whole chunk, so passes over other streams can run at
  // the same time.
  int stream0 = 0, steps = 0;
  int parts = 0;  // the threads its operations are cut across; 0: the model's

  int threads() const { return parts > 0 ? parts : m.threads_; }

  LayerBuffers<S> layer(int l) const {
    auto& buf = m.layers_[sz(l)];
    const std::size_t H = sz(m.config().hidden), GH = sz(m.layout_.gates()) * H;
    // Row-wise buffers [steps, streams, width] start at steps * stream0 rows, h and c
    // [steps + 1, streams, H] at (steps + 1) * stream0, per-stream ones [streams, H] at stream0.
    const std::size_t rows0 = sz(steps) * sz(stream0), slots0 = steps > 0 ? rows0 + sz(stream0) : 0;
    auto at = [](std::vector<S>& v, std::size_t offset) { return v.empty() ? nullptr : v.data() + offset; };
    return LayerBuffers<S>{at(buf.gates, rows0 * GH), at(buf.rec, rows0 * GH),    at(buf.h, slots0 * H),
                           at(buf.c, slots0 * H),     at(buf.state_h, sz(stream0) * H), at(buf.state_c, sz(stream0) * H),
                           at(buf.mask, rows0 * H),   at(buf.dropped, rows0 * H), at(buf.dh0, sz(stream0) * H),
                           at(buf.dc0, sz(stream0) * H)};
  }
  PassBuffers<S> scratch() const {
    const std::size_t H = sz(m.config().hidden), GH = sz(m.layout_.gates()) * H, rows0 = sz(steps) * sz(stream0);
    return PassBuffers<S>{m.logits_.data() + rows0 * sz(m.config().vocab), m.dy_.data() + rows0 * H,
                          m.dgates_.data() + rows0 * GH, m.drec_.empty() ? nullptr : m.drec_.data() + rows0 * GH,
                          m.dc_.data() + sz(stream0) * H};
  }
  void copy(S* dst, const S* src, std::size_t n) const { std::copy(src, src + n, dst); }
  void zero(S* dst, std::size_t n) const { std::fill(dst, dst + n, S(0)); }

  // Rows [0, rows) cut into parts: f(r0, r1).
  template <class F>
  void by_rows(int rows, F&& f) const {
    for_parts(parts_for(threads(), rows, 8), [&](int p, int np) {
      const auto [r0, r1] = slice(rows, p, np);
      f(r0, r1);
    });
  }
  // Columns [0, n) cut into parts of at least 16: f(c0, c1).
  template <class F>
  void by_columns(int n, F&& f) const {
    for_parts(parts_for(threads(), n, 16), [&](int p, int np) {
      const auto [c0, c1] = slice(n, p, np);
      f(c0, c1);
    });
  }

  void table_input_term(Tokens tokens, const S* table, const S* bias, int rows, int N, S* z) const {
    by_rows(rows, [&](int r0, int r1) {
      for (int r = r0; r < r1; ++r) {  // row gather from the token table
        const S* row = table + sz(tokens[r]) * sz(N);
        S* zr = z + sz(r) * sz(N);
        for (int k = 0; k < N; ++k) zr[k] = row[k] + bias[k];
      }
    });
  }
  void dense_input_term(int rows, int in, int N, const S* x, const S* w, const S* bias, S* z) const {
    by_rows(rows, [&](int r0, int r1) {
      S* zr = z + sz(r0) * sz(N);
      broadcast_rows(bias, sz(r1 - r0), N, zr);
      gemm(false, false, r1 - r0, N, in, x + sz(r0) * sz(in), in, w, N, S(1), zr, N);
    });
  }
  void recurrence_forward(const LayerShape& s, const S* w_rec, const S* rec_bias, S* z, S* u, S* h, S* c) const {
    with_cell(s.cell, [&](auto cell) {
      for_parts(parts_for(threads(), s.B, 1), [&](int p, int np) {
        const auto [b0, b1] = slice(s.B, p, np);
        cpu::recurrence_forward<decltype(cell)>(w_rec, rec_bias, z, u, h, c, s.T, s.B, s.H, b0, b1);
      });
    });
  }
  void recurrence_backward(const LayerShape& s, const S* w_rec, const S* z, const S* u, const S* h, const S* c, S* dy,
                           S* dc, S* dz, S* du, S* dh0) const {
    with_cell(s.cell, [&](auto cell) {
      for_parts(parts_for(threads(), s.B, 1), [&](int p, int np) {
        const auto [b0, b1] = slice(s.B, p, np);
        cpu::recurrence_backward<decltype(cell)>(w_rec, z, u, h, c, dy, dc, dz, du != nullptr ? du : dz, dh0, s.T,
                                                 s.B, s.H, b0, b1);
      });
    });
  }
  void recurrent_weight_grads(const LayerShape& s, const S* h, const S* dz, const S* du, S* dw_rec, S* dbias,
                              S* drec_bias) const {
    const int GH = gate_count(s.cell) * s.H, rows = s.T * s.B;
    const S* drec = du != nullptr ? du : dz;
    by_columns(GH, [&](int c0, int c1) {
      gemm(true, false, s.H, c1 - c0, rows, h, s.H, drec + c0, GH, S(0), dw_rec + c0, GH);
      column_sums(dz + c0, sz(rows), c1 - c0, GH, dbias + c0);
      if (du != nullptr) column_sums(du + c0, sz(rows), c1 - c0, GH, drec_bias + c0);
    });
  }
  void table_grad(Tokens tokens, const S* dz, int rows, int V, int N, S* grad) const {
    by_columns(N, [&](int c0, int c1) {
      for (int v = 0; v < V; ++v) std::fill(grad + sz(v) * sz(N) + sz(c0), grad + sz(v) * sz(N) + sz(c1), S(0));
      for (int r = 0; r < rows; ++r) {  // scatter-add into the token table, rows ascending
        S* dst = grad + sz(tokens[r]) * sz(N);
        const S* src = dz + sz(r) * sz(N);
        for (int k = c0; k < c1; ++k) dst[k] += src[k];
      }
    });
  }
  void dense_input_grads(int rows, int in, int N, const S* x, const S* w, const S* dz, S* dw, S* dx) const {
    by_columns(N, [&](int c0, int c1) { gemm(true, false, in, c1 - c0, rows, x, in, dz + c0, N, S(0), dw + c0, N); });
    by_rows(rows, [&](int r0, int r1) {
      gemm(false, true, r1 - r0, in, N, dz + sz(r0) * sz(N), N, w, N, S(0), dx + sz(r0) * sz(in), in);
    });
  }
  void dropout_forward(const S* h, S* mask, S* dropped, int T, int B, int H, int layer, U32x2 key, float p) const {
    for_parts(parts_for(threads(), T, 1), [&](int part, int np) {
      const auto [t0, t1] = slice(T, part, np);
      apply_dropout(h, mask, dropped, t0, t1, B, stream0, H, layer, key, p);
    });
  }
  void dropout_backward(const S* mask, S* dy, std::size_t n) const {
    const int blocks = static_cast<int>((n + 1023) / 1024);  // 1024-element blocks, the last one short
    by_rows(blocks, [&](int k0, int k1) {
      const std::size_t e1 = std::min(n, sz(k1) * 1024);
      for (std::size_t k = sz(k0) * 1024; k < e1; ++k) dy[k] *= mask[k];
    });
  }
  void output_forward(int rows, int H, int V, const S* x, const S* w, const S* b, S* logits) const {
    by_rows(rows, [&](int r0, int r1) {
      for (int q0 = r0; q0 < r1; q0 += 32) {
        const int q1 = std::min(r1, q0 + 32);
        S* lr = logits + sz(q0) * sz(V);
        broadcast_rows(b, sz(q1 - q0), V, lr);
        gemm(false, false, q1 - q0, V, H, x + sz(q0) * sz(H), H, w, V, S(1), lr, V);
      }
    });
  }
  void output_backward(int rows, int H, int V, const S* x, const S* w, const S* dlogits, S* dw, S* db, S* dx) const {
    by_columns(V, [&](int c0, int c1) {
      gemm(true, false, H, c1 - c0, rows, x, H, dlogits + c0, V, S(0), dw + c0, V);
      column_sums(dlogits + c0, sz(rows), c1 - c0, V, db + c0);
    });
    by_rows(rows, [&](int r0, int r1) {
      gemm(false, true, r1 - r0, H, V, dlogits + sz(r0) * sz(V), V, w, V, S(0), dx + sz(r0) * sz(H), H);
    });
  }
  bool layer_forward_elsewhere(int, int, int, bool, const S*, const LayerBuffers<S>&) const { return false; }
  bool layer_backward_elsewhere(int, int, int, const S*, S*, S*) const { return false; }
};

// Training cuts the chunk's streams into one slice per thread (the streams are independent
// until the weight gradients): each thread runs forward and backward over its own streams
// with its operations single-threaded, so no thread waits for another inside a pass and
// each keeps its own activations in its own caches; the threads' gradients are added in
// thread order at the end. A slice goes through in groups of at most stream_group_
// streams: a group's activations stay in the caches that a large batch overflows.
template <class S>
double CpuModel<S>::forward_backward(const Chunk& chunk, std::uint64_t dropout_seed,
                                     std::uint64_t step) {
  check_chunk(chunk);
  const bool dropout = config().dropout > 0.0f;
  const int T = chunk.T, B = chunk.B, V = config().vocab;
  const std::size_t rows = sz(T) * sz(B), P = grads_.size();
  const S grad_scale = S(1) / static_cast<S>(rows);  // the mean over all the chunk's targets
  const U32x2 key = dropout_key(dropout_seed, step);
  const int workers = parts_for(threads_, B, 1);
  std::array<double, kMaxCpuThreads> sums{};
  for_parts(workers, [&](int w, int nw) {
    const auto [w0, w1] = slice(B, w, nw);
    S* total = w == 0 ? grads_.data() : grad_blocks_.data() + sz(w - 1) * P;  // this slice's gradient
    for (int g0 = w0; g0 < w1; g0 += stream_group_) {
      const int nb = std::min(stream_group_, w1 - g0);
      const TokenId* inputs = chunk.inputs.data();
      const TokenId* targets = chunk.targets.data();
      if (nb < B) {  // the group's columns of the [T, B] tokens, as [T, nb], at its share of the buffer
        TokenId* gi = group_inputs_.data() + sz(T) * sz(g0);
        TokenId* gt = group_targets_.data() + sz(T) * sz(g0);
        for (int t = 0; t < T; ++t) {
          const std::size_t from = sz(t) * sz(B) + sz(g0), to = sz(t) * sz(nb);
          std::copy_n(chunk.inputs.data() + from, nb, gi + to);
          std::copy_n(chunk.targets.data() + from, nb, gt + to);
        }
        inputs = gi;
        targets = gt;
      }
      CpuPassOps<S> ops{*this, g0, T, nw > 1 ? 1 : 0};
      model_forward(ops, layout_, params_.data(), inputs, T, nb, true, dropout, key);
      sums[sz(w)] += softmax_xent(ops.scratch().logits, targets, sz(T) * sz(nb), V, grad_scale, ops.threads());
      S* g = g0 == w0 ? total : grad_blocks_.data() + sz(nw - 1 + w) * P;  // later groups: a scratch block
      model_backward(ops, layout_, params_.data(), g, inputs, T, nb, dropout);
      if (g0 > w0) add_into(total, g, P, ops.threads());
    }
  });
  for (int w = 1; w < workers; ++w) add_into(grads_.data(), grad_blocks_.data() + sz(w - 1) * P, P, threads_);
  double sum = 0.0;
  for (int w = 0; w < workers; ++w) sum += sums[sz(w)];
  return sum / static_cast<double>(rows);
}

template <class S>
double CpuModel<S>::evaluate(const Chunk& chunk) {
  check_chunk(chunk);
  CpuPassOps<S> ops{*this};
  model_forward(ops, layout_, params_.data(), chunk.inputs.data(), chunk.T, chunk.B, false, false, U32x2{});
  return softmax_xent(logits_.data(), chunk.targets.data(), sz(chunk.T) * sz(chunk.B),
                      config().vocab, S(0), threads_);
}

template <class S>
void CpuModel<S>::step_logits(const TokenId* tokens, int batch, S* logits) {
  if (batch < 1 || batch > max_batch_) {
    throw Error("step_logits batch " + std::to_string(batch) + " is outside 1.." +
                std::to_string(max_batch_) + ": build the model with a larger batch");
  }
  check_token_ids(tokens, sz(batch), config().vocab, "input");
  CpuPassOps<S> ops{*this};
  model_forward(ops, layout_, params_.data(), tokens, 1, batch, false, false, U32x2{});
  std::copy(logits_.begin(), logits_.begin() + static_cast<std::ptrdiff_t>(sz(batch) * sz(config().vocab)),
            logits);
}

// libgomp's default wait spins 300,000 times at every join before it sleeps: on a quiet
// machine that saves a wake-up, but when other work shares the cores the spinning thread
// takes the CPU from the part it waits for. Measured, LSTM H=100 B=16, 2 threads, with two
// busy processes beside it: 16k chars/s with the default spin, 91k never spinning, 153k
// spinning 3,000 times (1 thread: 147k); on the quiet machine 3,000 spins match the
// default (about 400k) where never spinning loses 12-23%. So 3,000, unless the user set
// either variable. The runtime reads them once, at its start: this constructor runs first
// (libgomp is linked statically into the same image).
__attribute__((constructor(101))) static void short_omp_spin() {
  if (getenv("OMP_WAIT_POLICY") == nullptr && getenv("GOMP_SPINCOUNT") == nullptr) setenv("GOMP_SPINCOUNT", "3000", 0);
}

int available_cpu_threads() {
  const int n = omp_get_num_procs();  // the cores this process may run on (its affinity mask)
  return std::max(1, std::min(n, kMaxCpuThreads));
}

template class CpuModel<float>;
template class CpuModel<double>;

}  // namespace abc
