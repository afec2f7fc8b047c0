// Kernel lab: the recurrence of one layer over T steps (kernels/persistent_recurrence.cu
// against the step loop of src/cuda/recurrence.cpp).
//   lab_persistent_recurrence [version] [B H [T]] [--cell lstm|rnn|both] [--reps N] [--check-only]
// Shapes (G = 4 gates for LSTM, 1 for RNN):
//   forward:  w_rec [H, G*H]; z [T*B, G*H] input terms in, activated gates (LSTM) or
//             pre-activations (RNN) out; h, c [T+1, B, H] slot 0 in, slots 1..T out (c: LSTM)
//   backward: dy [T, B, H] in (it gains the recurrent terms); dc [B, H] d c_T in, d c_0 out
//             (LSTM); dz [T*B, G*H] out; dh0 [B, H] out
// Versions (0 = all):
//   1     the step loop: abc::cuda::recurrence_forward/backward with RecurrenceShape::path = kStepLoop
//         (ABC_RECURRENCE=loop): per step a cuBLAS GEMM and the fused pointwise kernel
//   2-4   the persistent kernels at R = 1, 2, 4 batch rows per block (plan_persistent with
//         rows forced); a plan that does not fit the device is skipped with the reason
// The reference: a plain CPU loop in double, the GEMMs by hand and the pointwise math by
// the cell_math functions. Tolerances as tests/test_persistent_recurrence.cpp, with M the
// largest |reference| of a tensor: z, h, c within 1e-5 + 1e-4 M; dz, dy, d c_0, dh0 within
// 1e-5 + 2e-4 M (FP32 over T steps against double).
// Times are per call (all T steps) and per step. The backward adds into dy, so each timed
// backward first restores dy and dc from a copy; that restore is timed alone as well.
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "abc/cells.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cuda/plan.hpp"
#include "abc/cuda/recurrence.hpp"
#include "abc/model.hpp"
#include "common.cuh"

namespace {

using abc::CellKind;
using abc::cuda::PersistentPlan;
using abc::cuda::RecurrenceShape;
using lab::sz;
namespace cell = abc::cell;

constexpr int kRows[] = {1, 2, 4};  // versions 2, 3, 4
constexpr int kDefaultT = 100;
constexpr int kDefaultReps = 10;  // a call is already T steps

// One shape: its inputs, the CPU reference and the device buffers.
class Case {
 public:
  explicit Case(const RecurrenceShape& shape);
  void load() const;                        // every input uploaded, every output NaN
  lab::Check check(int p) const;            // p = 0: z, h, c after the forward; 1: the backward's outputs
  void restore(cudaStream_t stream) const;  // dy and dc as loaded (the backward changes them)
  double restore_bytes() const { return sizeof(float) * static_cast<double>(dy.size() + (lstm ? dc.size() : 0)); }

  const RecurrenceShape s;
  const bool lstm;
  const std::size_t GH, BH;
  lab::DeviceBuffer<float> w, z, h, c, dy, dc, dz, dh0, dy_in, dc_in;

 private:
  void reference();

  std::vector<float> w_in_, z_in_, h_in_, c_in_, dy_in_, dc_in_;  // h_in_, c_in_: slot 0, then NaN
  std::vector<double> z_, h_, c_, dz_, dy_, dc_, dh0_;            // the reference's outputs
};

Case::Case(const RecurrenceShape& shape)
    : s(shape),
      lstm(shape.cell == CellKind::kLstm),
      GH(sz(abc::gate_count(shape.cell)) * sz(shape.H)),
      BH(sz(shape.B) * sz(shape.H)),
      w(sz(shape.H) * GH),
      z(sz(shape.T) * sz(shape.B) * GH),
      h(sz(shape.T + 1) * BH),
      c(sz(shape.T + 1) * BH),
      dy(sz(shape.T) * BH),
      dc(BH),
      dz(z.size()),
      dh0(BH),
      dy_in(dy.size()),
      dc_in(BH) {
  const unsigned seed = static_cast<unsigned>(s.H * 10007 + s.B * 101 + s.T + (lstm ? 0 : 7));
  const float bound = 1.0f / std::sqrt(static_cast<float>(s.H));  // the model's init range
  const float nan = std::numeric_limits<float>::quiet_NaN();
  w_in_ = lab::random_floats(w.size(), -bound, bound, seed);
  z_in_ = lab::random_floats(z.size(), -1, 1, seed + 1);
  h_in_ = lab::random_floats(BH, -0.5f, 0.5f, seed + 2);
  c_in_ = lab::random_floats(BH, -0.5f, 0.5f, seed + 3);
  h_in_.resize(h.size(), nan), c_in_.resize(c.size(), nan);
  dy_in_ = lab::random_floats(dy.size(), -1, 1, seed + 4);
  dc_in_ = lab::random_floats(BH, -0.5f, 0.5f, seed + 5);
  reference();
}

void Case::load() const {
  w.upload(w_in_), z.upload(z_in_), h.upload(h_in_), c.upload(c_in_);
  dy.upload(dy_in_), dc.upload(dc_in_), dy_in.upload(dy_in_), dc_in.upload(dc_in_);
  dz.fill_nan(), dh0.fill_nan();
}

void Case::restore(cudaStream_t stream) const {
  ABC_CUDA_CHECK(cudaMemcpyAsync(dy.get(), dy_in.get(), dy.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  if (lstm) {
    ABC_CUDA_CHECK(cudaMemcpyAsync(dc.get(), dc_in.get(), BH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  }
}

// recurrence_forward then recurrence_backward in double: row b of step t is
// z[t, b, :] += h[t, b, :] w_rec, then the cell; backward the cell, then
// dy[t-1, b, :] (dh0 at t = 0) += dz[t, b, :] w_rec^T.
void Case::reference() {
  const int T = s.T, B = s.B, H = s.H;
  z_ = lab::to_double(z_in_);
  h_ = lab::to_double(h_in_), c_ = lab::to_double(c_in_);
  for (int t = 0; t < T; ++t) {
    for (int b = 0; b < B; ++b) {
      double* zr = &z_[(sz(t) * sz(B) + sz(b)) * GH];
      const std::size_t now = sz(t) * BH + sz(b) * sz(H), next = now + BH;  // (t, b, 0) and (t+1, b, 0)
      for (int k = 0; k < H; ++k) {
        const double hk = h_[now + sz(k)];
        const float* wk = &w_in_[sz(k) * GH];
        for (std::size_t n = 0; n < GH; ++n) zr[n] += hk * wk[n];
      }
      for (int j = 0; j < H; ++j) {
        if (lstm) {
          cell::lstm_forward<double>(zr[j], zr[H + j], zr[2 * H + j], zr[3 * H + j], c_[now + sz(j)],  //
                                     zr[j], zr[H + j], zr[2 * H + j], zr[3 * H + j], c_[next + sz(j)],
                                     h_[next + sz(j)]);
        } else {
          h_[next + sz(j)] = cell::rnn_forward<double>(zr[j]);  // z keeps the pre-activation
        }
      }
    }
  }
  dy_ = lab::to_double(dy_in_), dc_ = lab::to_double(dc_in_);
  dz_.assign(z_.size(), 0.0), dh0_.assign(BH, 0.0);
  for (int t = T - 1; t >= 0; --t) {
    for (int b = 0; b < B; ++b) {
      const std::size_t row = (sz(t) * sz(B) + sz(b)) * GH, now = sz(t) * BH + sz(b) * sz(H), next = now + BH;
      const double* g = &z_[row];
      double* d = &dz_[row];
      for (int j = 0; j < H; ++j) {
        const std::size_t k = sz(b) * sz(H) + sz(j);
        if (lstm) {
          cell::lstm_backward<double>(g[j], g[H + j], g[2 * H + j], g[3 * H + j], c_[now + sz(j)], c_[next + sz(j)],
                                      dy_[sz(t) * BH + k], dc_[k],  //
                                      d[j], d[H + j], d[2 * H + j], d[3 * H + j], dc_[k]);
        } else {
          d[j] = cell::rnn_backward<double>(h_[next + sz(j)], dy_[sz(t) * BH + k]);
        }
      }
      double* into = t > 0 ? &dy_[sz(t - 1) * BH + sz(b) * sz(H)] : &dh0_[sz(b) * sz(H)];
      for (int k = 0; k < H; ++k) {
        const float* wk = &w_in_[sz(k) * GH];
        double sum = 0;
        for (std::size_t n = 0; n < GH; ++n) sum += d[n] * wk[n];
        into[k] += sum;
      }
    }
  }
}

lab::Check Case::check(int p) const {
  constexpr double kAbs = 1e-5, kOutputRel = 1e-4, kGradRel = 2e-4;
  auto add = [](lab::Check& check, const char* what, const lab::DeviceBuffer<float>& got,
                const std::vector<double>& want, double rel) {
    const double tol = kAbs + rel * lab::max_abs(want);  // M = max |reference| of the tensor
    lab::compare(check, what, got.download(), want, tol, 0);
  };
  lab::Check check;
  if (p == 0) {
    add(check, "z out", z, z_, kOutputRel);
    add(check, "h", h, h_, kOutputRel);
    if (lstm) add(check, "c", c, c_, kOutputRel);
  } else {
    add(check, "dz", dz, dz_, kGradRel);
    add(check, "dy after", dy, dy_, kGradRel);
    add(check, "dh0", dh0, dh0_, kGradRel);
    if (lstm) add(check, "d c_0", dc, dc_, kGradRel);
  }
  return check;
}

// --- The paths, and the only calls into the recurrence API -----------------------------------
// When the recurrence functions gain a parameter (a new cell), run_pass changes, nothing else.

struct Path {
  int rows = 0;  // 0: the step loop; else persistent with this plan
  PersistentPlan plan;
};

// Pass p (0 forward, 1 backward) of `path` on k's buffers.
void run_pass(int p, const Path& path, const Case& k, cublasHandle_t cublas, cudaStream_t stream) {
  const RecurrenceShape& s = k.s;
  RecurrenceShape loop = s;  // version 1: the step loop, whatever fits
  loop.path = abc::cuda::RecurrencePath::kStepLoop;
  float* c = k.lstm ? k.c.get() : nullptr;
  float* dc = k.lstm ? k.dc.get() : nullptr;
  if (p == 0 && path.rows == 0) {
    abc::cuda::recurrence_forward(cublas, loop, k.w.get(), nullptr, k.z.get(), nullptr, k.h.get(), c, stream);
  } else if (p == 0) {
    abc::cuda::persistent_recurrence_forward(s.cell, s.T, s.B, s.H, path.plan, k.w.get(), nullptr, k.z.get(), nullptr,
                                             k.h.get(), c, stream);
  } else if (path.rows == 0) {
    abc::cuda::recurrence_backward(cublas, loop, k.w.get(), k.z.get(), nullptr, k.h.get(), c, k.dy.get(), dc, k.dz.get(),
                                   nullptr, k.dh0.get(), stream);
  } else {
    abc::cuda::persistent_recurrence_backward(s.cell, s.T, s.B, s.H, path.plan, k.w.get(), k.z.get(), nullptr,
                                              k.h.get(), c, k.dy.get(), dc, k.dz.get(), nullptr, k.dh0.get(), stream);
  }
}

// --- The driver --------------------------------------------------------------------------------

// Why plan cannot run, or "" when it fits.
std::string does_not_fit(const PersistentPlan& plan, int H) {
  if (plan.fits) return "";
  if (H > abc::cuda::kPersistentMaxThreads) {
    return "H > " + std::to_string(abc::cuda::kPersistentMaxThreads) + ": one thread per unit, at most that many";
  }
  return "needs " + std::to_string(plan.needed) + " bytes of shared memory per block, the device allows " +
         std::to_string(plan.available);
}

// us per call, and per step when steps > 0; n/a without a clock.
void print_time(double us, int steps) {
  if (std::isnan(us)) {
    std::printf("  n/a");
  } else {
    std::printf("  %10.1f us", us);
    if (steps > 0) std::printf(" per call  %8.2f us per step", us / steps);
  }
}

// Every selected version on one shape.
void run_shape(const RecurrenceShape& s, const lab::Args& args, int reps, lab::Tally& tally) {
  const abc::cuda::PersistentDevice& device = abc::cuda::persistent_device();
  const PersistentPlan chosen = abc::cuda::plan_persistent(s.cell, s.H, s.B, device);
  std::printf("\n%s H=%d B=%d T=%d (ABC_RECURRENCE=auto takes %s)\n", abc::cell_kind_name(s.cell), s.H, s.B, s.T,
              chosen.fits ? ("the persistent kernels, R=" + std::to_string(chosen.rows)).c_str() : "the step loop");
  abc::cuda::prepare_recurrence(s.cell, s.H);  // the shared memory limit, before any launch or capture
  const Case k(s);
  const abc::cuda::Stream stream;
  const abc::cuda::CublasHandle cublas(stream.get());
  for (int v = 1; v <= 1 + static_cast<int>(std::size(kRows)); ++v) {
    if (args.version != 0 && args.version != v) continue;
    Path path;
    if (v == 1) {
      std::printf("  v1 step loop: a cuBLAS GEMM and the fused pointwise kernel per step\n");
    } else {
      path.rows = kRows[v - 2];
      path.plan = abc::cuda::plan_persistent(s.cell, s.H, s.B, device, path.rows);
      std::printf("  v%d persistent, R=%d batch rows per block", v, path.rows);
      const std::string why = does_not_fit(path.plan, s.H);
      if (!why.empty()) {
        std::printf(": skipped, %s\n", why.c_str());
        continue;
      }
      std::printf(" (grid %d x %d threads; shared memory %zu B forward, %zu B backward)\n", path.plan.blocks,
                  path.plan.threads, path.plan.forward_smem, path.plan.backward_smem);
    }
    // Both checks before any timing: a timed forward changes what the backward reads.
    k.load();
    run_pass(0, path, k, cublas.get(), stream.get());
    const lab::Check forward_check = k.check(0);
    run_pass(1, path, k, cublas.get(), stream.get());
    const lab::Check checks[2] = {forward_check, k.check(1)};
    for (int p = 0; p < 2; ++p) {
      tally.add(checks[p]);
      std::printf("    %-8s  %s", p == 0 ? "forward" : "backward", checks[p].line().c_str());
      if (!args.check_only) {
        const double us = lab::median_us(stream.get(), reps, [&] {
          if (p == 1) k.restore(stream.get());
          run_pass(p, path, k, cublas.get(), stream.get());
        });
        print_time(us, s.T);
      }
      std::printf("\n");
    }
  }
  if (!args.check_only) {
    std::printf("  restoring %s (%.0f bytes), part of every backward time above:", k.lstm ? "dy and dc" : "dy",
                k.restore_bytes());
    print_time(lab::median_us(stream.get(), reps, [&] { k.restore(stream.get()); }), 0);
    std::printf("\n");
  }
}

int run(const lab::Args& args, const std::string& cells) {
  const auto todo = lab::shapes(args, {{64, 32}, {64, 64}, {64, 100}, {64, 200}});
  if (!lab::gpu_usable("lab_persistent_recurrence", args)) return lab::kExitNoGpu;
  const int reps = lab::timing_reps(args, kDefaultReps);
  const int T = args.T > 0 ? args.T : kDefaultT;
  // Version 1 must be the step loop whatever ABC_RECURRENCE says; the persistent versions
  // call their launchers directly.
  std::vector<CellKind> cell_list;
  if (cells != "rnn") cell_list.push_back(CellKind::kLstm);
  if (cells != "lstm") cell_list.push_back(CellKind::kRnn);
  lab::Tally tally;
  for (CellKind kind : cell_list) {
    for (const auto& [B, H] : todo) run_shape(RecurrenceShape{kind, T, B, H}, args, reps, tally);
  }
  return tally.finish("lab_persistent_recurrence");
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args;
  std::string cells = "both";
  return lab::lab_main(
      argc, argv, "lab_persistent_recurrence",
      "Kernel lab: one layer's recurrence, the step loop against the persistent kernels (dev/kernels)",
      1 + static_cast<int>(std::size(kRows)), args, [&] { return run(args, cells); },
      [&](CLI::App& app) {
        app.add_option("T", args.T, "time steps (default 100)")->check(CLI::PositiveNumber);
        app.add_option("--cell", cells, "lstm, rnn or both")->check(CLI::IsMember({"lstm", "rnn", "both"}));
      });
}
