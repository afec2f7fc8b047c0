// Persistent recurrence: one launch runs all T steps of one layer, forward or backward,
// with the semantics of recurrence_forward / recurrence_backward's step loop
// (cuda/recurrence.hpp). Batch rows are independent, so block `blk` owns rows
// [blk * R, blk * R + R) for every step and never waits for another block. Its shared
// memory holds the recurrent matrix (fp32, loaded once) and its rows' state, laid out as
// plan.hpp's persistent_* functions say; thread j owns hidden unit j of all R rows (all G
// gates of it), so the cell's math (Cell::forward / backward of cells/*.hpp, as the
// pointwise kernels run it) needs nothing from other threads and c, dc and the cell's
// skip term stay in registers. One __syncthreads per step: the state vector (h forward,
// du backward) is double-buffered.
//
// Forward step t, row b:   u[b, col] = sum_k h_t[b, k] * w[k, col] (+ rec_bias[col] for
//   split-recurrent cells, stored to u_t), then Cell::forward(z_t, u, h_t, c); z_t gets
//   what backward needs, h_{t+1} and c_{t+1} go to global memory.
// Backward step t, row b:  dh = dy_t[b, :] (+ the recurrent term of step t+1 and the cell's
//   skip term, written back into dy_t as the step loop does), Cell::backward gives dz_t
//   and du_t (split cells; else du = dz); then rec[b, k] = sum_col du_t[b, col] * w[k, col]
//   is step t-1's recurrent term (or, with the skip term, dh0 at t = 0).
// The inputs of the next step are loaded while this one computes; sums run in ascending k
// (or col) with fmaf, so they differ from cuBLAS's only in rounding order.
//
// This header is the device code only (the launchers are in persistent_recurrence.cu).
#pragma once
#include <cstddef>

#include "abc/cells.hpp"
#include "abc/cuda/plan.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

// Row-major [rows, cols] offset in size_t: T * B * G * H can pass 2^31.
__device__ inline std::size_t at(std::size_t row, int cols, int col) {
  return row * static_cast<std::size_t>(cols) + static_cast<std::size_t>(col);
}

// out[r] += sum over k in [0, K) of vec[r * K + k] * mat[k * stride + col], k ascending;
// K a multiple of 4 (pads zero on both sides), vec 16-byte aligned, all R rows at once so
// each matrix element is read once per block.
template <int R, int M>
__device__ inline void dot_rows(const float* vec, int K, const float* mat, int stride, const int (&col)[M],
                                float (&out)[R][M]) {
  const float4* v4 = reinterpret_cast<const float4*>(vec);
  const int K4 = K / 4;
  for (int k4 = 0; k4 < K4; ++k4) {
    float4 v[R];
#pragma unroll
    for (int r = 0; r < R; ++r) v[r] = v4[r * K4 + k4];
    const float* m = mat + 4 * k4 * stride;
#pragma unroll
    for (int g = 0; g < M; ++g) {
      const float m0 = m[col[g]], m1 = m[stride + col[g]], m2 = m[2 * stride + col[g]], m3 = m[3 * stride + col[g]];
#pragma unroll
      for (int r = 0; r < R; ++r) {
        out[r][g] = fmaf(v[r].x, m0, out[r][g]);
        out[r][g] = fmaf(v[r].y, m1, out[r][g]);
        out[r][g] = fmaf(v[r].z, m2, out[r][g]);
        out[r][g] = fmaf(v[r].w, m3, out[r][g]);
      }
    }
  }
}

// z [T*B, G*H] in/out, h and c [T+1, B, H] (c null without cell state), w_rec [H, G*H];
// rec_bias [G*H] and u [T*B, G*H] out: split-recurrent cells only (else null).
template <class Cell, int R>
__global__ void __launch_bounds__(kPersistentMaxThreads)
    persistent_forward_kernel(const float* __restrict__ w_rec, const float* __restrict__ rec_bias,
                              float* __restrict__ z, float* __restrict__ u, float* __restrict__ h,
                              float* __restrict__ c, int T, int B, int H) {
  constexpr int G = Cell::kGates;
  ABC_DYNAMIC_SHARED(float4, smem4);
  float* const w_s = reinterpret_cast<float*>(smem4);              // [Kp, GH]
  float* const h_s = w_s + persistent_forward_state_offset(G, H);  // [2][R][Kp]
  const int GH = G * H, Kp = persistent_pad4(H);
  const int tid = static_cast<int>(threadIdx.x), nthreads = static_cast<int>(blockDim.x);
  const int b0 = static_cast<int>(blockIdx.x) * R;
  const int j = tid;
  const bool unit = j < H;
  const std::size_t Bs = static_cast<std::size_t>(B);

  for (int i = tid; i < Kp * GH; i += nthreads) w_s[i] = i < H * GH ? w_rec[i] : 0.0f;
  // Buffer 0 = h_0 of this block's rows; buffer 1, pads and absent rows zero.
  for (int i = tid; i < 2 * R * Kp; i += nthreads) {
    const int r = (i / Kp) % R, k = i % Kp;
    h_s[i] = (i < R * Kp && k < H && b0 + r < B) ? h[at(static_cast<std::size_t>(b0 + r), H, k)] : 0.0f;
  }
  bool valid[R];
  float c_reg[R], zin[R][G], znext[R][G], bias[G];
  int col[G];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    col[g] = g * H + j;
    bias[g] = (Cell::kSplitRecurrent && unit) ? rec_bias[col[g]] : 0.0f;
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    valid[r] = unit && b0 + r < B;
    c_reg[r] = (Cell::kCellState && valid[r]) ? c[at(static_cast<std::size_t>(b0 + r), H, j)] : 0.0f;
#pragma unroll
    for (int g = 0; g < G; ++g) zin[r][g] = valid[r] ? z[at(static_cast<std::size_t>(b0 + r), GH, col[g])] : 0.0f;
  }
  __syncthreads();

  int cur = 0;
  for (int t = 0; t < T; ++t) {
    const bool more = t + 1 < T;
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int g = 0; g < G; ++g) {
        znext[r][g] = (more && valid[r]) ? z[at((t + 1) * Bs + static_cast<std::size_t>(b0 + r), GH, col[g])] : 0.0f;
      }
    }
    float acc[R][G];
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int g = 0; g < G; ++g) acc[r][g] = bias[g];
    }
    const float* const h_cur_s = h_s + cur * R * Kp;
    if (unit) dot_rows<R, G>(h_cur_s, Kp, w_s, GH, col, acc);

    float* const h_next_s = h_s + (cur ^ 1) * R * Kp;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (!valid[r]) continue;
      const std::size_t row = t * Bs + static_cast<std::size_t>(b0 + r);  // of z; of h, c at t+1: row + B
      float* const zr = z + at(row, GH, 0);
      if (Cell::kSplitRecurrent) {
#pragma unroll
        for (int g = 0; g < G; ++g) u[at(row, GH, col[g])] = acc[r][g];
      }
      const float hn = Cell::forward(zin[r], acc[r], h_cur_s[r * Kp + j], c_reg[r]);
#pragma unroll
      for (int g = 0; g < G; ++g) zr[col[g]] = zin[r][g];
      if (Cell::kCellState) c[at(row + Bs, H, j)] = c_reg[r];
      h[at(row + Bs, H, j)] = hn;
      h_next_s[r * Kp + j] = hn;
    }
    __syncthreads();
    cur ^= 1;
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int g = 0; g < G; ++g) zin[r][g] = znext[r][g];
    }
  }
}

// One backward step's inputs of one (row, unit): what Cell::backward reads (the saved
// values, u for split cells, h_t, h_{t+1}, c_t for cell state) and dy_t.
template <class Cell>
struct StepIn {
  float saved[Cell::kGates];
  float u[Cell::kGates];
  float h_prev, h_out, c_prev;
  float dy;
};

template <class Cell>
__device__ inline void load_step(StepIn<Cell>& in, bool ok, const float* z, const float* u, const float* h,
                                 const float* c, const float* dy, std::size_t row, std::size_t Bs, int H, int j) {
  constexpr int G = Cell::kGates;
#pragma unroll
  for (int g = 0; g < G; ++g) {
    in.saved[g] = ok ? z[at(row, G * H, g * H + j)] : 0.0f;
    in.u[g] = (ok && Cell::kSplitRecurrent) ? u[at(row, G * H, g * H + j)] : 0.0f;
  }
  in.h_prev = ok ? h[at(row, H, j)] : 0.0f;
  in.h_out = ok ? h[at(row + Bs, H, j)] : 0.0f;
  in.c_prev = (ok && Cell::kCellState) ? c[at(row, H, j)] : 0.0f;
  in.dy = ok ? dy[at(row, H, j)] : 0.0f;
}

// z, u, h, c as recurrence_forward left them (u: split cells, else null); dy [T, B, H]
// in/scratch; dc [B, H] in/out (cell state; else null); dz [T*B, G*H] out; du [T*B, G*H]
// out (split cells; else null); dh0 [B, H] out or null; w_rec [H, G*H].
template <class Cell, int R>
__global__ void __launch_bounds__(kPersistentMaxThreads)
    persistent_backward_kernel(const float* __restrict__ w_rec, const float* __restrict__ z,
                               const float* __restrict__ u, const float* __restrict__ h, const float* __restrict__ c,
                               float* __restrict__ dy, float* __restrict__ dc, float* __restrict__ dz,
                               float* __restrict__ du, float* __restrict__ dh0, int T, int B, int H) {
  constexpr int G = Cell::kGates;
  ABC_DYNAMIC_SHARED(float4, smem4);
  float* const wt_s = reinterpret_cast<float*>(smem4);                // [Kp, Hs]: w^T
  float* const du_s = wt_s + persistent_backward_state_offset(G, H);  // [2][R][Kp]
  const int GH = G * H, Kp = persistent_pad4(GH), Hs = persistent_odd(H);
  const int tid = static_cast<int>(threadIdx.x), nthreads = static_cast<int>(blockDim.x);
  const int b0 = static_cast<int>(blockIdx.x) * R;
  const int j = tid;
  const bool unit = j < H;
  const std::size_t Bs = static_cast<std::size_t>(B);

  // Transposing load: global reads along w's rows; consecutive threads write consecutive
  // rows of w^T, Hs (odd) floats apart: distinct banks.
  for (int i = tid; i < H * GH; i += nthreads) {
    const int k = i / GH, cl = i - k * GH;
    wt_s[cl * Hs + k] = w_rec[i];
  }
  for (int i = GH * Hs + tid; i < Kp * Hs; i += nthreads) wt_s[i] = 0.0f;
  for (int i = tid; i < 2 * R * Kp; i += nthreads) du_s[i] = 0.0f;

  bool valid[R];
  float dc_reg[R], c_cur[R], rec[R], skip[R];
  StepIn<Cell> in[R], next[R];
  const int col[1] = {j};
#pragma unroll
  for (int r = 0; r < R; ++r) {
    valid[r] = unit && b0 + r < B;
    const std::size_t row = (T - 1) * Bs + static_cast<std::size_t>(b0 + r);
    dc_reg[r] = (Cell::kCellState && valid[r]) ? dc[at(static_cast<std::size_t>(b0 + r), H, j)] : 0.0f;
    c_cur[r] = (Cell::kCellState && valid[r]) ? c[at(row + Bs, H, j)] : 0.0f;  // c_T
    load_step<Cell>(in[r], valid[r], z, u, h, c, dy, row, Bs, H, j);
    rec[r] = 0.0f;
    skip[r] = 0.0f;
  }
  __syncthreads();

  int cur = 0;
  for (int t = T - 1; t >= 0; --t) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      load_step<Cell>(next[r], valid[r] && t > 0, z, u, h, c, dy, (t - 1) * Bs + static_cast<std::size_t>(b0 + r),
                      Bs, H, j);
    }
    float* const dus = du_s + cur * R * Kp;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (!valid[r]) continue;
      const std::size_t row = t * Bs + static_cast<std::size_t>(b0 + r);
      float dh = in[r].dy;
      if (t < T - 1) {
        // The step loop's order: dy_t + skip_{t+1}, then + du_{t+1} w^T.
        dh = (in[r].dy + skip[r]) + rec[r];
        dy[at(row, H, j)] = dh;
      }
      float dxs[G], dus_r[G];
      skip[r] = Cell::backward(in[r].saved, in[r].u, in[r].h_prev, in[r].c_prev, c_cur[r], in[r].h_out, dh,
                               dc_reg[r], dxs, dus_r);
      float* const dzr = dz + at(row, GH, 0);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        dzr[g * H + j] = dxs[g];
        const float d = Cell::kSplitRecurrent ? dus_r[g] : dxs[g];
        if (Cell::kSplitRecurrent) du[at(row, GH, g * H + j)] = d;
        dus[r * Kp + g * H + j] = d;
      }
      c_cur[r] = in[r].c_prev;
    }
    if (t > 0 || dh0 != nullptr) {  // uniform over the block
      __syncthreads();
      float acc[R][1];
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r][0] = 0.0f;
      if (unit) dot_rows<R, 1>(dus, Kp, wt_s, Hs, col, acc);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        rec[r] = acc[r][0];
        if (t == 0 && valid[r]) dh0[at(static_cast<std::size_t>(b0 + r), H, j)] = skip[r] + rec[r];
      }
    }
    cur ^= 1;
#pragma unroll
    for (int r = 0; r < R; ++r) in[r] = next[r];
  }
  if (Cell::kCellState) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (valid[r]) dc[at(static_cast<std::size_t>(b0 + r), H, j)] = dc_reg[r];
    }
  }
}

}  // namespace
}  // namespace cuda
}  // namespace abc
