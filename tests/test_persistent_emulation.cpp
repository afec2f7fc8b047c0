// The persistent recurrent kernels (kernels/persistent_recurrence_body.cuh) run on the host:
// a small fake CUDA environment (below) lets the very device code compile as C++, and each
// CUDA thread of a block becomes a std::thread, with a std::barrier for __syncthreads;
// blocks run one after another. This checks the kernels' indexing, their shared-memory
// layout (filled with NaN before each block, so a read of a slot nobody wrote shows up)
// and their barriers, on a machine without a GPU; it says nothing of device timing, and a
// race that the barriers would not prevent on a GPU can still hide here, since host threads
// interleave differently. tests/test_persistent_recurrence.cpp runs the same kernels on a GPU.
//
// Reference: the step loop of cuda/recurrence.hpp written out on the CPU with the
// cell_math.hpp functions, the recurrent sums in double. For LSTM and tanh RNN over
// H in {1, 7, 33, 100}, B in {1, 3, 5}, T in {1, 4}, 1, 2 and 4 rows per block (forced, so
// the last block is often part empty) and the rows the plan picks, dh0 given and null:
// z after the forward, h and c at every step, dz, dy after the backward, d c_0 and dh0,
// each within 1e-5 + 1e-4 * max |reference|.
#include <gtest/gtest.h>

#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "abc/cell_math.hpp"
#include "abc/cuda/plan.hpp"
#include "abc/model.hpp"

// --- The fake CUDA environment the body header compiles in ------------------------------
namespace {
struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
thread_local Dim3 threadIdx, blockIdx;  // this host thread's CUDA thread and block
Dim3 blockDim;                          // the same for every thread of a launch
float4* emu_smem = nullptr;             // the running block's dynamic shared memory
std::barrier<>* emu_barrier = nullptr;  // the running block's __syncthreads
void emu_syncthreads() { emu_barrier->arrive_and_wait(); }
}  // namespace

#define __global__
#define __device__
#define __launch_bounds__(n)
#define __syncthreads() emu_syncthreads()
#define ABC_PERSISTENT_SHARED(name) float4* const name = emu_smem

#include "../kernels/persistent_recurrence_body.cuh"

namespace {

using abc::CellKind;
using abc::cuda::PersistentPlan;

// Runs `kernel` (called with no arguments in each thread) over `blocks` blocks of
// `threads` threads with `smem_bytes` of NaN-filled shared memory, block after block.
template <class Kernel>
void emulate_launch(int blocks, int threads, std::size_t smem_bytes, const Kernel& kernel) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float4> smem(smem_bytes / sizeof(float4) + 1);
  blockDim.x = static_cast<unsigned>(threads);
  for (int b = 0; b < blocks; ++b) {
    std::fill(smem.begin(), smem.end(), float4{nan, nan, nan, nan});
    emu_smem = smem.data();
    std::barrier<> barrier(threads);
    emu_barrier = &barrier;
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&kernel, b, t] {
        blockIdx.x = static_cast<unsigned>(b);
        threadIdx.x = static_cast<unsigned>(t);
        kernel();
      });
    }
    for (std::thread& th : pool) th.join();
  }
  emu_smem = nullptr;
  emu_barrier = nullptr;
}

std::vector<float> random_floats(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

// Forward and backward state of one layer: inputs, then what the kernels (or the
// reference) leave there.
struct Layer {
  std::vector<float> z, h, c;                    // z [T*B, G*H]; h, c [T+1, B, H]
  std::vector<float> dy, dc, dz;                 // dy [T, B, H]; dc [B, H]; dz [T*B, G*H]
  std::vector<float> dh0_given;                  // [B, H], the backward given dh0
  std::vector<float> dy_null, dc_null, dz_null;  // the backward given dh0 = null
};

constexpr float kUntouched = 7.0f;  // dh0's content where the backward must not write

struct Shape {
  CellKind cell;
  int H, B, T;
};

Layer make_inputs(const Shape& s, unsigned seed) {
  const int G = abc::gate_count(s.cell);
  const std::size_t BH = sz(s.B) * sz(s.H);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Layer L;
  L.z = random_floats(sz(s.T) * sz(s.B) * sz(G * s.H), -1.0f, 1.0f, seed + 1);
  L.h.assign(sz(s.T + 1) * BH, nan);
  L.c.assign(sz(s.T + 1) * BH, nan);
  const std::vector<float> h0 = random_floats(BH, -0.5f, 0.5f, seed + 2), c0 = random_floats(BH, -0.5f, 0.5f, seed + 3);
  std::copy(h0.begin(), h0.end(), L.h.begin());
  std::copy(c0.begin(), c0.end(), L.c.begin());
  L.dy = random_floats(sz(s.T) * BH, -1.0f, 1.0f, seed + 4);
  L.dc = random_floats(BH, -0.5f, 0.5f, seed + 5);
  L.dz.assign(sz(s.T) * sz(s.B) * sz(G * s.H), nan);
  L.dh0_given.assign(BH, kUntouched);
  L.dy_null = L.dy;
  L.dc_null = L.dc;
  L.dz_null = L.dz;
  return L;
}

// The step loop on the CPU.
void reference_forward(const Shape& s, const std::vector<float>& w, Layer& L) {
  const bool lstm = s.cell == CellKind::kLstm;
  const int H = s.H, GH = abc::gate_count(s.cell) * H;
  const std::size_t BH = sz(s.B) * sz(H);
  for (int t = 0; t < s.T; ++t) {
    for (int b = 0; b < s.B; ++b) {
      float* z = &L.z[(sz(t) * sz(s.B) + sz(b)) * sz(GH)];
      const float* hp = &L.h[sz(t) * BH + sz(b) * sz(H)];
      for (int col = 0; col < GH; ++col) {
        double sum = z[col];
        for (int k = 0; k < H; ++k) sum += static_cast<double>(hp[k]) * w[sz(k) * sz(GH) + sz(col)];
        z[col] = static_cast<float>(sum);
      }
      for (int j = 0; j < H; ++j) {
        const std::size_t o = sz(t + 1) * BH + sz(b) * sz(H) + sz(j);
        if (lstm) {
          float gi, gf, gg, go, cn, hn;
          abc::cell::lstm_forward(z[j], z[H + j], z[2 * H + j], z[3 * H + j], L.c[o - BH], gi, gf, gg, go, cn, hn);
          z[j] = gi;
          z[H + j] = gf;
          z[2 * H + j] = gg;
          z[3 * H + j] = go;
          L.c[o] = cn;
          L.h[o] = hn;
        } else {
          L.h[o] = abc::cell::rnn_forward(z[j]);
        }
      }
    }
  }
}

void reference_backward(const Shape& s, const std::vector<float>& w, const Layer& fwd, std::vector<float>& dy,
                        std::vector<float>& dc, std::vector<float>& dz, float* dh0) {
  const bool lstm = s.cell == CellKind::kLstm;
  const int H = s.H, GH = abc::gate_count(s.cell) * H;
  const std::size_t BH = sz(s.B) * sz(H);
  for (int t = s.T - 1; t >= 0; --t) {
    for (int b = 0; b < s.B; ++b) {
      const std::size_t zrow = (sz(t) * sz(s.B) + sz(b)) * sz(GH);
      float* d = &dz[zrow];
      const float* g = &fwd.z[zrow];
      for (int j = 0; j < H; ++j) {
        const std::size_t o = sz(t) * BH + sz(b) * sz(H) + sz(j);
        if (lstm) {
          float dc_prev;
          abc::cell::lstm_backward(g[j], g[H + j], g[2 * H + j], g[3 * H + j], fwd.c[o], fwd.c[o + BH], dy[o],
                                   dc[sz(b) * sz(H) + sz(j)], d[j], d[H + j], d[2 * H + j], d[3 * H + j], dc_prev);
          dc[sz(b) * sz(H) + sz(j)] = dc_prev;
        } else {
          d[j] = abc::cell::rnn_backward(fwd.h[o + BH], dy[o]);
        }
      }
      // dy_{t-1} += dz_t w^T, or dh0 = dz_0 w^T.
      float* target = t > 0 ? &dy[sz(t - 1) * BH + sz(b) * sz(H)] : (dh0 ? dh0 + sz(b) * sz(H) : nullptr);
      if (target == nullptr) continue;
      for (int k = 0; k < H; ++k) {
        double sum = t > 0 ? target[k] : 0.0;
        for (int col = 0; col < GH; ++col) sum += static_cast<double>(d[col]) * w[sz(k) * sz(GH) + sz(col)];
        target[k] = static_cast<float>(sum);
      }
    }
  }
}

// Every kernel of the body header at R rows per block, run through the emulation.
template <bool kLstm, int R>
void emulate(const Shape& s, const PersistentPlan& p, const std::vector<float>& w, Layer& L) {
  using abc::cuda::persistent_backward_kernel;
  using abc::cuda::persistent_forward_kernel;
  const int T = s.T, B = s.B, H = s.H;
  float* const c = kLstm ? L.c.data() : nullptr;
  emulate_launch(p.blocks, p.threads, p.forward_smem,
                 [&] { persistent_forward_kernel<kLstm, R>(w.data(), L.z.data(), L.h.data(), c, T, B, H); });
  emulate_launch(p.blocks, p.threads, p.backward_smem, [&] {
    persistent_backward_kernel<kLstm, R>(w.data(), L.z.data(), L.h.data(), c, L.dy.data(), kLstm ? L.dc.data() : nullptr,
                                         L.dz.data(), L.dh0_given.data(), T, B, H);
  });
  emulate_launch(p.blocks, p.threads, p.backward_smem, [&] {
    persistent_backward_kernel<kLstm, R>(w.data(), L.z.data(), L.h.data(), c, L.dy_null.data(),
                                         kLstm ? L.dc_null.data() : nullptr, L.dz_null.data(), nullptr, T, B, H);
  });
}

template <bool kLstm>
void emulate_rows(const Shape& s, const PersistentPlan& p, const std::vector<float>& w, Layer& L) {
  switch (p.rows) {
    case 1:
      emulate<kLstm, 1>(s, p, w, L);
      break;
    case 2:
      emulate<kLstm, 2>(s, p, w, L);
      break;
    default:
      emulate<kLstm, 4>(s, p, w, L);
      break;
  }
}

// Worst |got - want| within 1e-5 + 1e-4 * max |want|; NaN anywhere fails.
void expect_close(const char* what, const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& shape) {
  ASSERT_EQ(got.size(), want.size()) << shape << " " << what;
  double max_ref = 0.0, worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    const double e = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(e <= worst)) worst = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
  }
  EXPECT_LE(worst, 1e-5 + 1e-4 * max_ref) << shape << ": " << what << " differs from the step loop";
}

// A device with an H100's shared memory and SM count, as the GPU would report it.
abc::cuda::PersistentDevice h100() {
  abc::cuda::PersistentDevice d;
  d.smem_optin = 232448;
  d.smem_per_sm = 233472;
  d.sm_count = 132;
  return d;
}

// rows = 0: the plan's choice.
void check_shape(const Shape& s, int rows) {
  const bool lstm = s.cell == CellKind::kLstm;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s H=%d B=%d T=%d rows=%d", lstm ? "LSTM" : "RNN", s.H, s.B, s.T, rows);
  const std::string shape = buf;
  const PersistentPlan p = abc::cuda::plan_persistent(s.cell, s.H, s.B, h100(), rows);
  ASSERT_TRUE(p.fits) << shape;
  ASSERT_TRUE(p.threads >= s.H && p.threads % 32 == 0 && static_cast<long long>(p.blocks) * p.rows >= s.B) << shape;
  if (rows != 0) {
    ASSERT_EQ(p.rows, rows) << shape;
  }

  const int GH = abc::gate_count(s.cell) * s.H;
  const unsigned seed = static_cast<unsigned>(s.H * 1000 + s.B * 100 + s.T * 10 + rows) + (lstm ? 0u : 50000u);
  const float bound = 1.0f / std::sqrt(static_cast<float>(s.H));
  const std::vector<float> w = random_floats(sz(s.H) * sz(GH), -bound, bound, seed);

  Layer want = make_inputs(s, seed);
  Layer got = want;
  reference_forward(s, w, want);
  reference_backward(s, w, want, want.dy, want.dc, want.dz, want.dh0_given.data());
  reference_backward(s, w, want, want.dy_null, want.dc_null, want.dz_null, nullptr);
  if (lstm) {
    emulate_rows<true>(s, p, w, got);
  } else {
    emulate_rows<false>(s, p, w, got);
  }

  expect_close("z", got.z, want.z, shape);
  expect_close("h", got.h, want.h, shape);
  if (lstm) expect_close("c", got.c, want.c, shape);
  expect_close("dz", got.dz, want.dz, shape);
  expect_close("dy", got.dy, want.dy, shape);
  if (lstm) expect_close("dc", got.dc, want.dc, shape);
  expect_close("dh0", got.dh0_given, want.dh0_given, shape);
  expect_close("dz (dh0 null)", got.dz_null, want.dz_null, shape);
  expect_close("dy (dh0 null)", got.dy_null, want.dy_null, shape);
  if (lstm) expect_close("dc (dh0 null)", got.dc_null, want.dc_null, shape);
}

void check_grid(CellKind cell) {
  for (int H : {1, 7, 33, 100}) {
    for (int B : {1, 3, 5}) {
      for (int T : {1, 4}) {
        for (int rows : {1, 2, 4}) check_shape(Shape{cell, H, B, T}, rows);
      }
    }
  }
  // The rows the plan picks (1 for these batches on an H100), past the forced range.
  check_shape(Shape{cell, 100, 9, 4}, 0);
}

TEST(PersistentEmulation, LstmMatchesStepLoop) { check_grid(CellKind::kLstm); }

TEST(PersistentEmulation, RnnMatchesStepLoop) { check_grid(CellKind::kRnn); }

}  // namespace
