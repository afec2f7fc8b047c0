// Persistent recurrence: one launch runs all T steps of one layer, forward or backward,
// with the semantics of recurrence_forward / recurrence_backward's step loop
// (cuda/recurrence.hpp). Batch rows are independent, so block `blk` owns rows
// [blk * R, blk * R + R) for every step and never waits for another block. Its shared
// memory holds the recurrent matrix (fp32, loaded once) and its rows' state, laid out as
// plan.hpp's persistent_* functions say; thread j owns hidden unit j of all R rows (all G
// gates of it), so the cell math (cell_math.hpp, as the pointwise kernels call it) needs
// nothing from other threads and c, dc stay in registers. One __syncthreads per step:
// the state vector (h forward, dz backward) is double-buffered.
//
// Forward step t, row b:   pre[b, col] = z_t[b, col] + sum_k h_t[b, k] * w[k, col]
//   then the cell forward; z_t gets the activated gates (LSTM) or pre (RNN: what the
//   step loop's GEMM leaves there), h_{t+1} and c_{t+1} go to global memory.
// Backward step t, row b:  dh = dy_t[b, :] (+ the recurrent term of step t+1, written back
//   into dy_t as the step loop's GEMM does), the cell backward gives dz_t; then
//   rec[b, k] = sum_col dz_t[b, col] * w[k, col] is step t-1's recurrent term (or dh0 at t = 0).
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

// z [T*B, G*H] in/out, h and c [T+1, B, H] (c null for RNN), w_rec [H, G*H].
template <bool kLstm, int R>
__global__ void __launch_bounds__(kPersistentMaxThreads)
    persistent_forward_kernel(const float* __restrict__ w_rec, float* __restrict__ z, float* __restrict__ h,
                              float* __restrict__ c, int T, int B, int H) {
  constexpr int G = kLstm ? 4 : 1;
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
  float c_reg[R], zin[R][G], znext[R][G];
  int col[G];
#pragma unroll
  for (int g = 0; g < G; ++g) col[g] = g * H + j;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    valid[r] = unit && b0 + r < B;
    c_reg[r] = (kLstm && valid[r]) ? c[at(static_cast<std::size_t>(b0 + r), H, j)] : 0.0f;
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
      for (int g = 0; g < G; ++g) acc[r][g] = 0.0f;
    }
    if (unit) dot_rows<R, G>(h_s + cur * R * Kp, Kp, w_s, GH, col, acc);

    float* const h_next_s = h_s + (cur ^ 1) * R * Kp;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (!valid[r]) continue;
      const std::size_t row = t * Bs + static_cast<std::size_t>(b0 + r);  // of z; of h, c at t+1: row + B
      float* const zr = z + at(row, GH, 0);
      float pre[G];
#pragma unroll
      for (int g = 0; g < G; ++g) pre[g] = zin[r][g] + acc[r][g];
      float hn;
      if constexpr (kLstm) {
        float gi, gf, gg, go, cn;
        cell::lstm_forward(pre[0], pre[1], pre[2], pre[3], c_reg[r], gi, gf, gg, go, cn, hn);
        zr[col[0]] = gi;
        zr[col[1]] = gf;
        zr[col[2]] = gg;
        zr[col[3]] = go;
        c[at(row + Bs, H, j)] = cn;
        c_reg[r] = cn;
      } else {
        zr[col[0]] = pre[0];
        hn = cell::rnn_forward(pre[0]);
      }
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

// One backward step's inputs of one (row, unit): the saved gates (LSTM) or output h_{t+1}
// (RNN), c_t (LSTM) and dy_t.
template <int G>
struct StepIn {
  float gate[G];
  float c_prev;
  float h_out;
  float dy;
};

template <bool kLstm>
__device__ inline void load_step(StepIn<kLstm ? 4 : 1>& in, bool ok, const float* z, const float* h, const float* c,
                                 const float* dy, std::size_t row, std::size_t Bs, int H, int j) {
  constexpr int G = kLstm ? 4 : 1;
#pragma unroll
  for (int g = 0; g < G; ++g) in.gate[g] = (ok && kLstm) ? z[at(row, G * H, g * H + j)] : 0.0f;
  in.c_prev = (ok && kLstm) ? c[at(row, H, j)] : 0.0f;
  in.h_out = (ok && !kLstm) ? h[at(row + Bs, H, j)] : 0.0f;
  in.dy = ok ? dy[at(row, H, j)] : 0.0f;
}

// z, h, c as recurrence_forward left them; dy [T, B, H] in/scratch; dc [B, H] in/out
// (LSTM; else null); dz [T*B, G*H] out; dh0 [B, H] out or null; w_rec [H, G*H].
template <bool kLstm, int R>
__global__ void __launch_bounds__(kPersistentMaxThreads)
    persistent_backward_kernel(const float* __restrict__ w_rec, const float* __restrict__ z,
                               const float* __restrict__ h, const float* __restrict__ c, float* __restrict__ dy,
                               float* __restrict__ dc, float* __restrict__ dz, float* __restrict__ dh0, int T, int B,
                               int H) {
  constexpr int G = kLstm ? 4 : 1;
  ABC_DYNAMIC_SHARED(float4, smem4);
  float* const wt_s = reinterpret_cast<float*>(smem4);                // [Kp, Hs]: w^T
  float* const dz_s = wt_s + persistent_backward_state_offset(G, H);  // [2][R][Kp]
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
  for (int i = tid; i < 2 * R * Kp; i += nthreads) dz_s[i] = 0.0f;

  bool valid[R];
  float dc_reg[R], c_cur[R], rec[R];
  StepIn<G> in[R], next[R];
  const int col[1] = {j};
#pragma unroll
  for (int r = 0; r < R; ++r) {
    valid[r] = unit && b0 + r < B;
    const std::size_t row = (T - 1) * Bs + static_cast<std::size_t>(b0 + r);
    dc_reg[r] = (kLstm && valid[r]) ? dc[at(static_cast<std::size_t>(b0 + r), H, j)] : 0.0f;
    c_cur[r] = (kLstm && valid[r]) ? c[at(row + Bs, H, j)] : 0.0f;  // c_T
    load_step<kLstm>(in[r], valid[r], z, h, c, dy, row, Bs, H, j);
    rec[r] = 0.0f;
  }
  __syncthreads();

  int cur = 0;
  for (int t = T - 1; t >= 0; --t) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      load_step<kLstm>(next[r], valid[r] && t > 0, z, h, c, dy, (t - 1) * Bs + static_cast<std::size_t>(b0 + r), Bs, H,
                       j);
    }
    float* const dzs = dz_s + cur * R * Kp;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (!valid[r]) continue;
      const std::size_t row = t * Bs + static_cast<std::size_t>(b0 + r);
      float dh = in[r].dy;
      if (t < T - 1) {
        dh = rec[r] + in[r].dy;  // the step loop's GEMM: 1 * (dz_{t+1} w^T) + 1 * dy_t
        dy[at(row, H, j)] = dh;
      }
      float* const dzr = dz + at(row, GH, 0);
      if constexpr (kLstm) {
        float d[4], dc_prev;
        cell::lstm_backward(in[r].gate[0], in[r].gate[1], in[r].gate[2], in[r].gate[3], in[r].c_prev, c_cur[r], dh,
                            dc_reg[r], d[0], d[1], d[2], d[3], dc_prev);
#pragma unroll
        for (int g = 0; g < 4; ++g) {
          dzr[g * H + j] = d[g];
          dzs[r * Kp + g * H + j] = d[g];
        }
        dc_reg[r] = dc_prev;
        c_cur[r] = in[r].c_prev;
      } else {
        const float d = cell::rnn_backward(in[r].h_out, dh);
        dzr[j] = d;
        dzs[r * Kp + j] = d;
      }
    }
    if (t > 0 || dh0 != nullptr) {  // uniform over the block
      __syncthreads();
      float acc[R][1];
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r][0] = 0.0f;
      if (unit) dot_rows<R, 1>(dzs, Kp, wt_s, Hs, col, acc);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        rec[r] = acc[r][0];
        if (t == 0 && valid[r]) dh0[at(static_cast<std::size_t>(b0 + r), H, j)] = rec[r];
      }
    }
    cur ^= 1;
#pragma unroll
    for (int r = 0; r < R; ++r) in[r] = next[r];
  }
  if constexpr (kLstm) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (valid[r]) dc[at(static_cast<std::size_t>(b0 + r), H, j)] = dc_reg[r];
    }
  }
}

}  // namespace
}  // namespace cuda
}  // namespace abc
