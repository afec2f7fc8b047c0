// The persistent recurrent kernels against the step loop (cuda/recurrence.hpp): the same
// random inputs (input term z, w_rec, h0, c0, dy, dc) through recurrence_forward and
// recurrence_backward once with RecurrencePath::kStepLoop and once with kPersistent, for
// every cell (LSTM, tanh RNN, GRU) over H in {1, 7, 32, 64, 100, 128} (the shapes that fit the device's
// shared memory: LSTM H=128 does not on an H100), B in {1, 3, 64, 256}, T in {1, 7, 100};
// then every rows-per-block variant (1, 2, 4) through the launchers directly, with batch
// sizes that leave the last block part empty; dh0 null; and which path a shape takes.
// Compared: z after the forward (what the cell's backward needs), u (GRU's recurrent
// terms), h and c at every step, dz, du, dy after the backward (it gains the recurrent
// terms), d c_0 and dh0.
// Outputs of the step loop are pre-filled with NaN so that an element the persistent
// kernels fail to write shows up.
//
// Tolerances, on max |persistent - step loop| over the tensor, with M = max |step loop|:
//   z out, h, c:                   <= 1e-5 + 1e-4 * M
//   dz, dy after, d c_0, dh0:      <= 1e-5 + 2e-4 * M
// Both sides are FP32 and call the same cell_math functions; only the recurrent sums run
// in another order (cuBLAS's against ascending k with fmaf), ~1e-7 relative per step.
// Each test prints the worst error of every quantity over its shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cuda/plan.hpp"
#include "abc/cuda/recurrence.hpp"
#include "abc/error.hpp"
#include "cuda_test_util.hpp"
#include "gpu_skip.hpp"

namespace {

using abc::CellKind;
using abc::cuda::RecurrencePath;
using abc::cuda::RecurrenceShape;
using abc_test::DeviceArray;
using abc_test::random_floats;
using abc_test::Tolerance;
using abc_test::WorstTable;

constexpr Tolerance kOutputTol{1e-5, 1e-4};
constexpr Tolerance kGradTol{1e-5, 2e-4};
constexpr float kUntouched = 7.0f;  // dh0's content when the backward gets dh0 = null

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

// `s` on `path`: the path is a value each call carries.
RecurrenceShape on(RecurrencePath path, RecurrenceShape s) {
  s.path = path;
  return s;
}

std::string shape_name(const RecurrenceShape& s) {
  return std::string(abc::cell_kind_name(s.cell)) + " H=" + std::to_string(s.H) + " B=" + std::to_string(s.B) +
         " T=" + std::to_string(s.T);
}

struct Inputs {
  std::vector<float> w, rec_bias, z, h0, c0, dy, dc;
};

Inputs random_inputs(const RecurrenceShape& s) {
  const int GH = abc::gate_count(s.cell) * s.H;
  const std::size_t BH = sz(s.B) * sz(s.H);
  const unsigned seed = static_cast<unsigned>(s.H * 10007 + s.B * 101 + s.T + 7 * static_cast<int>(s.cell));
  const float bound = 1.0f / std::sqrt(static_cast<float>(s.H));  // the model's init range
  Inputs in;
  in.w = random_floats(sz(s.H) * sz(GH), -bound, bound, seed);
  in.rec_bias = random_floats(sz(GH), -bound, bound, seed + 6);
  in.z = random_floats(sz(s.T) * sz(s.B) * sz(GH), -1, 1, seed + 1);
  in.h0 = random_floats(BH, -0.5f, 0.5f, seed + 2);
  in.c0 = random_floats(BH, -0.5f, 0.5f, seed + 3);
  in.dy = random_floats(sz(s.T) * BH, -1, 1, seed + 4);
  in.dc = random_floats(BH, -0.5f, 0.5f, seed + 5);
  return in;
}

struct Outputs {
  std::vector<float> z, u, h, c, dz, du, dy, dc, dh0;
};

// The device buffers of one run: inputs uploaded, outputs pre-filled with NaN (dh0 with
// kUntouched).
struct Buffers {
  DeviceArray<float> w, rec_bias, z, u, h, c, dy, dc, dz, du, dh0;
  bool lstm, split;
  Buffers(const RecurrenceShape& s, const Inputs& in)
      : w(in.w),
        rec_bias(in.rec_bias),
        z(in.z),
        u(std::vector<float>(in.z.size(), std::numeric_limits<float>::quiet_NaN())),
        h(with_initial(in.h0, s.T)),
        c(with_initial(in.c0, s.T)),
        dy(in.dy),
        dc(in.dc),
        dz(std::vector<float>(in.z.size(), std::numeric_limits<float>::quiet_NaN())),
        du(std::vector<float>(in.z.size(), std::numeric_limits<float>::quiet_NaN())),
        dh0(std::vector<float>(in.h0.size(), kUntouched)),
        lstm(abc::cell_info(s.cell).cell_state),
        split(abc::cell_info(s.cell).split_recurrent) {}

  // What the cell uses, else null.
  float* c_or_null() const { return lstm ? c.get() : nullptr; }
  float* dc_or_null() const { return lstm ? dc.get() : nullptr; }
  const float* rec_bias_or_null() const { return split ? rec_bias.get() : nullptr; }
  float* u_or_null() const { return split ? u.get() : nullptr; }
  float* du_or_null() const { return split ? du.get() : nullptr; }

  static std::vector<float> with_initial(const std::vector<float>& state0, int T) {
    std::vector<float> v(state0.size() * sz(T + 1), std::numeric_limits<float>::quiet_NaN());
    std::copy(state0.begin(), state0.end(), v.begin());
    return v;
  }

  Outputs download() const {
    Outputs o;
    o.z = z.download();
    if (split) {
      o.u = u.download();
      o.du = du.download();
    }
    o.h = h.download();
    o.dz = dz.download();
    o.dy = dy.download();
    o.dh0 = dh0.download();
    if (lstm) {
      o.c = c.download();
      o.dc = dc.download();
    }
    return o;
  }
};

// Forward then backward through recurrence_forward / recurrence_backward on `path`.
Outputs run(RecurrencePath path, const RecurrenceShape& s, const Inputs& in, const abc::cuda::CublasHandle& cublas,
            bool with_dh0 = true) {
  abc::cuda::prepare_recurrence(s.cell, s.H);  // as the CUDA backend does at construction
  Buffers b(s, in);
  abc::cuda::recurrence_forward(cublas.get(), on(path, s), b.w.get(), b.rec_bias_or_null(), b.z.get(), b.u_or_null(), b.h.get(),
                                b.c_or_null(), nullptr);
  abc::cuda::recurrence_backward(cublas.get(), on(path, s), b.w.get(), b.z.get(), b.u_or_null(), b.h.get(), b.c_or_null(),
                                 b.dy.get(), b.dc_or_null(), b.dz.get(), b.du_or_null(),
                                 with_dh0 ? b.dh0.get() : nullptr, nullptr);
  return b.download();
}

// The same through the persistent launchers with a given plan (rows forced by the test).
Outputs run_launchers(const abc::cuda::PersistentPlan& plan, const RecurrenceShape& s, const Inputs& in) {
  abc::cuda::prepare_recurrence(s.cell, s.H);
  Buffers b(s, in);
  abc::cuda::persistent_recurrence_forward(s.cell, s.T, s.B, s.H, plan, b.w.get(), b.rec_bias_or_null(), b.z.get(),
                                           b.u_or_null(), b.h.get(), b.c_or_null(), nullptr);
  abc::cuda::persistent_recurrence_backward(s.cell, s.T, s.B, s.H, plan, b.w.get(), b.z.get(), b.u_or_null(),
                                            b.h.get(), b.c_or_null(), b.dy.get(), b.dc_or_null(), b.dz.get(),
                                            b.du_or_null(), b.dh0.get(), nullptr);
  return b.download();
}

void compare(WorstTable& worst, const Outputs& ours, const Outputs& loop, CellKind cell, const std::string& name) {
  const bool lstm = abc::cell_info(cell).cell_state;
  worst.check("z out", ours.z, loop.z, kOutputTol, name);
  if (abc::cell_info(cell).split_recurrent) {
    worst.check("u out", ours.u, loop.u, kOutputTol, name);
    worst.check("du", ours.du, loop.du, kGradTol, name);
  }
  worst.check("h, every step", ours.h, loop.h, kOutputTol, name);
  worst.check("dz", ours.dz, loop.dz, kGradTol, name);
  worst.check("dy after", ours.dy, loop.dy, kGradTol, name);
  worst.check("dh0", ours.dh0, loop.dh0, kGradTol, name);
  if (lstm) {
    worst.check("c, every step", ours.c, loop.c, kOutputTol, name);
    worst.check("d c_0", ours.dc, loop.dc, kGradTol, name);
  }
}

class PersistentRecurrence : public ::testing::TestWithParam<CellKind> {};

TEST_P(PersistentRecurrence, MatchesTheStepLoopOverTheShapeGrid) {
  ABC_SKIP_WITHOUT_GPU();
  const CellKind cell = GetParam();
  const abc::cuda::CublasHandle cublas(nullptr);
  WorstTable worst("step loop");
  int shapes = 0, skipped = 0;
  for (int H : {1, 7, 32, 64, 100, 128}) {
    for (int B : {1, 3, 64, 256}) {
      for (int T : {1, 7, 100}) {
        const RecurrenceShape s{cell, T, B, H};
        const std::string name = shape_name(s);
        SCOPED_TRACE(name);
        bool fits = false;
        fits = abc::cuda::uses_persistent(on(RecurrencePath::kAuto, s));
        if (!fits) {
          ++skipped;
          continue;
        }
        const Inputs in = random_inputs(s);
        const Outputs loop = run(RecurrencePath::kStepLoop, s, in, cublas);
        const Outputs ours = run(RecurrencePath::kPersistent, s, in, cublas);
        compare(worst, ours, loop, cell, name);
        ++shapes;
      }
    }
  }
  // Every H up to 100 fits an H100 (LSTM up to 119, RNN up to 239).
  EXPECT_GE(shapes, 5 * 4 * 3);
  const std::string report =
      worst.report(std::string(abc::cell_kind_name(cell)) + ": persistent vs step loop, " + std::to_string(shapes) +
                   " shapes (" + std::to_string(skipped) + " too large for the device)");
  std::printf("%s", report.c_str());
}

// Rows per block 1, 2 and 4, with batches that leave the last block partly empty.
TEST_P(PersistentRecurrence, EveryRowsPerBlock) {
  ABC_SKIP_WITHOUT_GPU();
  const CellKind cell = GetParam();
  const abc::cuda::CublasHandle cublas(nullptr);
  const abc::cuda::PersistentDevice device = abc::cuda::persistent_device();
  WorstTable worst("step loop");
  for (int H : {7, 33, 100}) {
    for (int B : {1, 3, 5, 7, 9}) {
      for (int rows : {1, 2, 4}) {
        const RecurrenceShape s{cell, 7, B, H};
        const abc::cuda::PersistentPlan plan = abc::cuda::plan_persistent(cell, H, B, device, rows);
        const std::string name = shape_name(s) + " rows=" + std::to_string(rows);
        SCOPED_TRACE(name);
        ASSERT_TRUE(plan.fits);
        ASSERT_EQ(plan.rows, rows);
        const Inputs in = random_inputs(s);
        const Outputs loop = run(RecurrencePath::kStepLoop, s, in, cublas);
        compare(worst, run_launchers(plan, s, in), loop, cell, name);
      }
    }
  }
  std::printf("%s", worst.report(std::string(abc::cell_kind_name(cell)) + ": rows per block 1, 2, 4").c_str());
}

// dh0 = null: no dh0 written, everything else as with it.
TEST_P(PersistentRecurrence, NullDh0LeavesItAndChangesNothingElse) {
  ABC_SKIP_WITHOUT_GPU();
  const CellKind cell = GetParam();
  const abc::cuda::CublasHandle cublas(nullptr);
  for (int T : {1, 2, 7}) {
    const RecurrenceShape s{cell, T, 5, 33};
    SCOPED_TRACE(shape_name(s));
    const Inputs in = random_inputs(s);
    const Outputs with = run(RecurrencePath::kPersistent, s, in, cublas, true);
    const Outputs without = run(RecurrencePath::kPersistent, s, in, cublas, false);
    EXPECT_EQ(without.dh0, std::vector<float>(in.h0.size(), kUntouched));
    EXPECT_EQ(without.dz, with.dz);
    EXPECT_EQ(without.dy, with.dy);
    EXPECT_EQ(without.dc, with.dc);
    EXPECT_EQ(without.du, with.du);
    EXPECT_EQ(without.h, with.h);
  }
}

INSTANTIATE_TEST_SUITE_P(Cells, PersistentRecurrence, ::testing::ValuesIn(abc::all_cell_kinds()),
                         [](const ::testing::TestParamInfo<CellKind>& info) {
                           return std::string(abc::cell_kind_name(info.param));
                         });

TEST(PersistentRecurrencePath, WhichShapesTakeIt) {
  ABC_SKIP_WITHOUT_GPU();
  const RecurrenceShape small{CellKind::kLstm, 7, 3, 64}, lstm128{CellKind::kLstm, 7, 3, 128},
      rnn512{CellKind::kRnn, 7, 3, 512};
  EXPECT_EQ(small.path, RecurrencePath::kAuto);  // the default
  EXPECT_FALSE(abc::cuda::uses_persistent(on(RecurrencePath::kStepLoop, small)));
  EXPECT_FALSE(abc::cuda::uses_persistent(on(RecurrencePath::kStepLoop, lstm128)));
  EXPECT_TRUE(abc::cuda::uses_persistent(small));
  EXPECT_TRUE(abc::cuda::uses_persistent(RecurrenceShape{CellKind::kRnn, 7, 3, 128}));
  EXPECT_TRUE(abc::cuda::uses_persistent(RecurrenceShape{CellKind::kGru, 7, 3, 128}));
  EXPECT_FALSE(abc::cuda::uses_persistent(rnn512));
  // LSTM H=128: 268 KB of fp32 weights and state; fits only a device with more.
  EXPECT_EQ(abc::cuda::uses_persistent(lstm128),
            abc::cuda::plan_persistent(CellKind::kLstm, 128, 3, abc::cuda::persistent_device()).fits);
  {
    EXPECT_TRUE(abc::cuda::uses_persistent(on(RecurrencePath::kPersistent, small)));
    try {
      abc::cuda::uses_persistent(on(RecurrencePath::kPersistent, rnn512));
      ADD_FAILURE() << "kPersistent took RNN H=512";
    } catch (const abc::Error& e) {
      EXPECT_NE(std::string(e.what()).find("H=512"), std::string::npos) << e.what();
    }
  }
}

TEST(PersistentRecurrencePath, TooLargeForTheDeviceThrows) {
  ABC_SKIP_WITHOUT_GPU();
  const abc::cuda::PersistentDevice device = abc::cuda::persistent_device();
  const int H = abc::cuda::persistent_max_hidden(CellKind::kLstm, device) + 1;  // 120 on an H100
  const RecurrenceShape s{CellKind::kLstm, 3, 2, H, RecurrencePath::kPersistent};
  const std::size_t needed = abc::cuda::plan_persistent(CellKind::kLstm, H, 2, device).needed;
  const abc::cuda::CublasHandle cublas(nullptr);
  const Inputs in = random_inputs(s);
  Buffers b(s, in);
  try {
    abc::cuda::recurrence_forward(cublas.get(), s, b.w.get(), nullptr, b.z.get(), nullptr, b.h.get(), b.c.get(),
                                  nullptr);
    ADD_FAILURE() << "kPersistent ran LSTM H=" << H;
  } catch (const abc::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("H=" + std::to_string(H)), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(needed)), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(device.smem_optin)), std::string::npos) << what;
  }
  EXPECT_THROW(abc::cuda::recurrence_backward(cublas.get(), s, b.w.get(), b.z.get(), nullptr, b.h.get(), b.c.get(),
                                              b.dy.get(), b.dc.get(), b.dz.get(), nullptr, b.dh0.get(), nullptr),
               abc::Error);
}

// No GPU needed: the values of --recurrence.
// The kernels' shared-memory limit is raised once, by prepare_recurrence (the CUDA
// backend's constructor), never by a launch: a launch would raise it at capture time only,
// not when a captured graph replays. Unprepared, a launch above 48 KB is a clear error.
// (H = 90 is used by no other test, so its variants are unprepared until here.)
TEST(PersistentRecurrencePath, LaunchesNeedThePrepareCall) {
  ABC_SKIP_WITHOUT_GPU();
  const RecurrenceShape s{CellKind::kLstm, 2, 3, 90};
  const abc::cuda::PersistentPlan plan = abc::cuda::plan_persistent(s.cell, s.H, s.B, abc::cuda::persistent_device());
  ASSERT_TRUE(plan.fits);
  ASSERT_GT(plan.forward_smem, abc::cuda::kDefaultDynamicSmem);
  const Inputs in = random_inputs(s);
  Buffers b(s, in);
  try {
    abc::cuda::persistent_recurrence_forward(s.cell, s.T, s.B, s.H, plan, b.w.get(), nullptr, b.z.get(), nullptr,
                                             b.h.get(), b.c.get(), nullptr);
    FAIL() << "an unprepared launch went ahead";
  } catch (const abc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("persistent_recurrence_prepare"), std::string::npos) << e.what();
  }
  abc::cuda::prepare_recurrence(s.cell, s.H);
  EXPECT_NO_THROW(abc::cuda::persistent_recurrence_forward(s.cell, s.T, s.B, s.H, plan, b.w.get(), nullptr, b.z.get(),
                                                           nullptr, b.h.get(), b.c.get(), nullptr));
  ABC_CUDA_CHECK(cudaDeviceSynchronize());
}

TEST(PersistentRecurrencePath, ParsesTheOptionValues) {
  EXPECT_EQ(abc::parse_recurrence_path("auto"), RecurrencePath::kAuto);
  EXPECT_EQ(abc::parse_recurrence_path("loop"), RecurrencePath::kStepLoop);
  EXPECT_EQ(abc::parse_recurrence_path("persistent"), RecurrencePath::kPersistent);
  for (const char* bad : {"", "Loop", "persist", "auto "}) {
    try {
      abc::parse_recurrence_path(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const abc::Error& e) {
      EXPECT_NE(std::string(e.what()).find("auto, loop, persistent"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
