// Kernel lab: the fused LSTM pointwise step, forward and backward (kernels/cell_pointwise.cu, LstmCell).
//   lab_lstm_pointwise [version] [B H] [--reps N] [--check-only]
// Shapes (gate order i, f, g, o; column g*H + j is gate g of unit j):
//   forward:  z [B, 4H] pre-activations in, activated gates out; c_prev [B, H] in; c, h [B, H] out
//   backward: gates [B, 4H], c_prev, c, dh [B, H] in; dc [B, H] in (from step t+1), out
//             (d loss / d c_prev); dz [B, 4H] out
// Versions (0 = all). Every one calls cell::lstm_forward / cell::lstm_backward for the math:
//   1  production (abc::cuda::cell_pointwise_forward/backward): one thread per (b, j),
//      grid-stride over B*H in size_t, its own 256 threads per block
//   2  2-D grid: blockIdx.y is the batch row, threads over units (no division by H)
//   3  one thread per unit j for 4 batch rows (a quarter of the threads, 4 rows in flight)
//   4  float4: one thread per 4 consecutive units of a row, each gate one 16-byte access
//      (H % 4 == 0, so every row and gate starts 16-byte aligned)
// The reference: the same cell_math functions in double on the CPU; the kernels' FP32
// (device expf within 2 ulp, fused multiply-adds) stays within 1e-5 of it, relative
// beyond 1. GB/s: the bytes a call must move (forward 11 floats per (b, j), backward 13).
#include <string>
#include <vector>

#include "abc/cells.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cuda/plan.hpp"
#include "common.cuh"
#include "kernel_util.cuh"

namespace {

using abc::cuda::launch_kernel;
using lab::sz;
namespace cell = abc::cell;

constexpr double kTol = 1e-5;      // abs, and relative beyond 1
constexpr int kRowsPerThread = 4;  // version 3
constexpr int kMaxGridY = 65535;   // versions 2 and 3 put batch rows on gridDim.y

// --- The kernels of versions 2-4 -----------------------------------------------------------

// Unit j of one row: zb = z + b*4H, k = b*H + j. The activated gates overwrite zb.
__device__ inline void forward_unit(float* zb, const float* c_prev, float* c, float* h, int H, int j, std::size_t k) {
  cell::lstm_forward(zb[j], zb[H + j], zb[2 * H + j], zb[3 * H + j], c_prev[k],  //
                     zb[j], zb[H + j], zb[2 * H + j], zb[3 * H + j], c[k], h[k]);
}
// gb = gates + b*4H, db = dz + b*4H, k = b*H + j; dc[k] in and out.
__device__ inline void backward_unit(const float* gb, const float* c_prev, const float* c, const float* dh, float* dc,
                                     float* db, int H, int j, std::size_t k) {
  cell::lstm_backward(gb[j], gb[H + j], gb[2 * H + j], gb[3 * H + j], c_prev[k], c[k], dh[k], dc[k],  //
                      db[j], db[H + j], db[2 * H + j], db[3 * H + j], dc[k]);
}

// Version 2: grid (ceil(H / block), B).
__global__ void forward_2d(float* z, const float* c_prev, float* c, float* h, int H) {
  const int j = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (j >= H) return;
  const std::size_t b = blockIdx.y;
  forward_unit(z + b * 4 * sz(H), c_prev, c, h, H, j, b * sz(H) + sz(j));
}
__global__ void backward_2d(const float* gates, const float* c_prev, const float* c, const float* dh, float* dc,
                            float* dz, int H) {
  const int j = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (j >= H) return;
  const std::size_t b = blockIdx.y;
  backward_unit(gates + b * 4 * sz(H), c_prev, c, dh, dc, dz + b * 4 * sz(H), H, j, b * sz(H) + sz(j));
}

// Version 3: grid (ceil(H / block), ceil(B / 4)); thread j of grid row y does rows 4y .. 4y+3.
__global__ void forward_rows(float* z, const float* c_prev, float* c, float* h, int B, int H) {
  const int j = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (j >= H) return;
  const int b0 = static_cast<int>(blockIdx.y) * kRowsPerThread;
  for (int b = b0; b < b0 + kRowsPerThread && b < B; ++b) {
    forward_unit(z + sz(b) * 4 * sz(H), c_prev, c, h, H, j, sz(b) * sz(H) + sz(j));
  }
}
__global__ void backward_rows(const float* gates, const float* c_prev, const float* c, const float* dh, float* dc,
                              float* dz, int B, int H) {
  const int j = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (j >= H) return;
  const int b0 = static_cast<int>(blockIdx.y) * kRowsPerThread;
  for (int b = b0; b < b0 + kRowsPerThread && b < B; ++b) {
    const std::size_t row = sz(b) * 4 * sz(H);
    backward_unit(gates + row, c_prev, c, dh, dc, dz + row, H, j, sz(b) * sz(H) + sz(j));
  }
}

// Version 4: grid-stride over the B * H/4 groups of 4 units; q is the group within its row.
// In float4 units a row of z is 4 * H4 long and gate g starts at g * H4.
__global__ void forward_vec4(float* z, const float* c_prev, float* c, float* h, std::size_t B, std::size_t H4) {
  const std::size_t n = B * H4;
  for (std::size_t i = abc::cuda::grid_start(); i < n; i += abc::cuda::grid_stride()) {
    const std::size_t b = i / H4, q = i - b * H4;
    float4* zb = reinterpret_cast<float4*>(z) + b * 4 * H4;
    float4 zi = zb[q], zf = zb[H4 + q], zg = zb[2 * H4 + q], zo = zb[3 * H4 + q];
    const float4 cp = reinterpret_cast<const float4*>(c_prev)[i];
    float4 cv, hv;
    cell::lstm_forward(zi.x, zf.x, zg.x, zo.x, cp.x, zi.x, zf.x, zg.x, zo.x, cv.x, hv.x);
    cell::lstm_forward(zi.y, zf.y, zg.y, zo.y, cp.y, zi.y, zf.y, zg.y, zo.y, cv.y, hv.y);
    cell::lstm_forward(zi.z, zf.z, zg.z, zo.z, cp.z, zi.z, zf.z, zg.z, zo.z, cv.z, hv.z);
    cell::lstm_forward(zi.w, zf.w, zg.w, zo.w, cp.w, zi.w, zf.w, zg.w, zo.w, cv.w, hv.w);
    zb[q] = zi;
    zb[H4 + q] = zf;
    zb[2 * H4 + q] = zg;
    zb[3 * H4 + q] = zo;
    reinterpret_cast<float4*>(c)[i] = cv;
    reinterpret_cast<float4*>(h)[i] = hv;
  }
}
__global__ void backward_vec4(const float* gates, const float* c_prev, const float* c, const float* dh, float* dc,
                              float* dz, std::size_t B, std::size_t H4) {
  const std::size_t n = B * H4;
  for (std::size_t i = abc::cuda::grid_start(); i < n; i += abc::cuda::grid_stride()) {
    const std::size_t b = i / H4, q = i - b * H4;
    const float4* gb = reinterpret_cast<const float4*>(gates) + b * 4 * H4;
    float4* db = reinterpret_cast<float4*>(dz) + b * 4 * H4;
    const float4 gi = gb[q], gf = gb[H4 + q], gg = gb[2 * H4 + q], go = gb[3 * H4 + q];
    const float4 cp = reinterpret_cast<const float4*>(c_prev)[i], cv = reinterpret_cast<const float4*>(c)[i];
    const float4 dhv = reinterpret_cast<const float4*>(dh)[i];
    float4 dcv = reinterpret_cast<float4*>(dc)[i];
    float4 di, df, dg, dout;
    cell::lstm_backward(gi.x, gf.x, gg.x, go.x, cp.x, cv.x, dhv.x, dcv.x, di.x, df.x, dg.x, dout.x, dcv.x);
    cell::lstm_backward(gi.y, gf.y, gg.y, go.y, cp.y, cv.y, dhv.y, dcv.y, di.y, df.y, dg.y, dout.y, dcv.y);
    cell::lstm_backward(gi.z, gf.z, gg.z, go.z, cp.z, cv.z, dhv.z, dcv.z, di.z, df.z, dg.z, dout.z, dcv.z);
    cell::lstm_backward(gi.w, gf.w, gg.w, go.w, cp.w, cv.w, dhv.w, dcv.w, di.w, df.w, dg.w, dout.w, dcv.w);
    db[q] = di;
    db[H4 + q] = df;
    db[2 * H4 + q] = dg;
    db[3 * H4 + q] = dout;
    reinterpret_cast<float4*>(dc)[i] = dcv;
  }
}

// --- One shape: inputs, the CPU reference, device buffers -----------------------------------

class LstmCase {
 public:
  LstmCase(int B_, int H_)
      : B(B_), H(H_), n(sz(B_) * sz(H_)), z(4 * n), c_prev(n), c(n), h(n), gates(4 * n), dh(n), dc(n), dz(4 * n) {
    const unsigned seed = static_cast<unsigned>(B * 7919 + H);
    z_in_ = lab::random_floats(4 * n, -4, 4, seed);
    c_prev_in_ = lab::random_floats(n, -2, 2, seed + 1);
    dh_in_ = lab::random_floats(n, -1, 1, seed + 2);
    dc_in_ = lab::random_floats(n, -1, 1, seed + 3);
    want_gates_.resize(4 * n), want_c_.resize(n), want_h_.resize(n);
    for_each_unit([&](std::size_t row, std::size_t k) {
      const float* zr = z_in_.data() + row;
      double* g = want_gates_.data() + row;
      cell::lstm_forward<double>(zr[0], zr[H], zr[2 * H], zr[3 * H], c_prev_in_[k],  //
                                 g[0], g[H], g[2 * H], g[3 * H], want_c_[k], want_h_[k]);
    });
    // The backward reads what the forward left: the reference's gates and c, in float.
    gates_in_ = lab::to_float(want_gates_);
    c_in_ = lab::to_float(want_c_);
    want_dz_.resize(4 * n), want_dc_.resize(n);
    for_each_unit([&](std::size_t row, std::size_t k) {
      const float* g = gates_in_.data() + row;
      double* d = want_dz_.data() + row;
      cell::lstm_backward<double>(g[0], g[H], g[2 * H], g[3 * H], c_prev_in_[k], c_in_[k], dh_in_[k], dc_in_[k],  //
                                  d[0], d[H], d[2 * H], d[3 * H], want_dc_[k]);
    });
  }

  static const char* pass_name(int p) { return p == 0 ? "forward" : "backward"; }
  double bytes(int p) const { return sizeof(float) * (p == 0 ? 11.0 : 13.0) * static_cast<double>(n); }
  void load(int p) const {
    c_prev.upload(c_prev_in_);
    if (p == 0) {
      z.upload(z_in_), c.fill_nan(), h.fill_nan();
    } else {
      gates.upload(gates_in_), c.upload(c_in_), dh.upload(dh_in_), dc.upload(dc_in_), dz.fill_nan();
    }
  }
  lab::Check check(int p) const {
    lab::Check check;
    if (p == 0) {
      lab::compare(check, "gates", z.download(), want_gates_, kTol, kTol);
      lab::compare(check, "c", c.download(), want_c_, kTol, kTol);
      lab::compare(check, "h", h.download(), want_h_, kTol, kTol);
    } else {
      lab::compare(check, "dz", dz.download(), want_dz_, kTol, kTol);
      lab::compare(check, "dc_prev", dc.download(), want_dc_, kTol, kTol);
    }
    return check;
  }

  const int B, H;
  const std::size_t n;                         // B * H
  lab::DeviceBuffer<float> z, c_prev, c, h;    // forward: z in and out, c_prev in, c and h out
  lab::DeviceBuffer<float> gates, dh, dc, dz;  // backward (with c_prev and c): dc in and out, dz out

 private:
  // f(row, k): row = b*4H + j (unit j's gate i in z), k = b*H + j.
  template <class F>
  void for_each_unit(F f) const {
    for (int b = 0; b < B; ++b) {
      for (int j = 0; j < H; ++j) f(sz(b) * 4 * sz(H) + sz(j), sz(b) * sz(H) + sz(j));
    }
  }

  std::vector<float> z_in_, c_prev_in_, gates_in_, c_in_, dh_in_, dc_in_;
  std::vector<double> want_gates_, want_c_, want_h_, want_dz_, want_dc_;
};

// --- The versions ------------------------------------------------------------------------------

unsigned blocks_for(int n, int block) { return static_cast<unsigned>((n + block - 1) / block); }

std::string rows_on_grid_y(int B, int) {
  return B > kMaxGridY ? "B > " + std::to_string(kMaxGridY) + " rows do not fit gridDim.y" : "";
}
std::string rows_by_4_on_grid_y(int B, int) {
  return (B + kRowsPerThread - 1) / kRowsPerThread > kMaxGridY ? "ceil(B / 4) > 65535 does not fit gridDim.y" : "";
}
std::string needs_h_by_4(int, int H) { return H % 4 != 0 ? "needs H % 4 == 0 (16-byte aligned gate rows)" : ""; }

const std::vector<lab::Version<LstmCase>> kVersions = {
    {"production: abc::cuda::cell_pointwise_forward/backward (kernels/cell_pointwise.cu)",
     false,
     abc::cuda::kThreads,
     lab::any_shape,
     {[](const LstmCase& c, int, cudaStream_t s) {
        // h_prev: the LSTM's step does not read its value (h stands in).
        abc::cuda::cell_pointwise_forward(abc::CellKind::kLstm, c.z.get(), nullptr, c.h.get(), c.h.get(),
                                          c.c_prev.get(), c.c.get(), c.B, c.H, s);
      },
      [](const LstmCase& c, int, cudaStream_t s) {
        abc::cuda::cell_pointwise_backward(abc::CellKind::kLstm, c.gates.get(), nullptr, c.h.get(), c.h.get(),
                                           c.c_prev.get(), c.c.get(), c.dh.get(), c.dc.get(), c.dz.get(), nullptr,
                                           nullptr, false, c.B, c.H, s);
      }}},
    {"2-D grid: a block row per batch row, threads over units",
     true,
     0,
     rows_on_grid_y,
     {[](const LstmCase& c, int block, cudaStream_t s) {
        const dim3 grid(blocks_for(c.H, block), static_cast<unsigned>(c.B));
        launch_kernel(forward_2d, grid, block, 0, s, c.z.get(), c.c_prev.get(), c.c.get(), c.h.get(), c.H);
        ABC_CUDA_CHECK_LAUNCH(forward_2d);
      },
      [](const LstmCase& c, int block, cudaStream_t s) {
        const dim3 grid(blocks_for(c.H, block), static_cast<unsigned>(c.B));
        launch_kernel(backward_2d, grid, block, 0, s, c.gates.get(), c.c_prev.get(), c.c.get(), c.dh.get(), c.dc.get(),
                      c.dz.get(), c.H);
        ABC_CUDA_CHECK_LAUNCH(backward_2d);
      }}},
    {"one thread per unit for 4 batch rows",
     true,
     0,
     rows_by_4_on_grid_y,
     {[](const LstmCase& c, int block, cudaStream_t s) {
        const dim3 grid(blocks_for(c.H, block), blocks_for(c.B, kRowsPerThread));
        launch_kernel(forward_rows, grid, block, 0, s, c.z.get(), c.c_prev.get(), c.c.get(), c.h.get(), c.B, c.H);
        ABC_CUDA_CHECK_LAUNCH(forward_rows);
      },
      [](const LstmCase& c, int block, cudaStream_t s) {
        const dim3 grid(blocks_for(c.H, block), blocks_for(c.B, kRowsPerThread));
        launch_kernel(backward_rows, grid, block, 0, s, c.gates.get(), c.c_prev.get(), c.c.get(), c.dh.get(),
                      c.dc.get(), c.dz.get(), c.B, c.H);
        ABC_CUDA_CHECK_LAUNCH(backward_rows);
      }}},
    {"float4: a thread per 4 units of a row, grid-stride",
     true,
     0,
     needs_h_by_4,
     {[](const LstmCase& c, int block, cudaStream_t s) {
        const std::size_t groups = sz(c.B) * sz(c.H / 4);
        launch_kernel(forward_vec4, abc::cuda::grid_for(groups, block), block, 0, s, c.z.get(), c.c_prev.get(),
                      c.c.get(), c.h.get(), sz(c.B), sz(c.H / 4));
        ABC_CUDA_CHECK_LAUNCH(forward_vec4);
      },
      [](const LstmCase& c, int block, cudaStream_t s) {
        const std::size_t groups = sz(c.B) * sz(c.H / 4);
        launch_kernel(backward_vec4, abc::cuda::grid_for(groups, block), block, 0, s, c.gates.get(), c.c_prev.get(),
                      c.c.get(), c.dh.get(), c.dc.get(), c.dz.get(), sz(c.B), sz(c.H / 4));
        ABC_CUDA_CHECK_LAUNCH(backward_vec4);
      }}},
};

}  // namespace

int main(int argc, char** argv) {
  return lab::pointwise_main(argc, argv, "lab_lstm_pointwise",
                             "Kernel lab: the fused LSTM pointwise step (dev/kernels)", kVersions);
}
