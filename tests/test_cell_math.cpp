// Per-element math: Philox known answers, every cell's equations against central
// differences, dropout and the softmax cross-entropy pieces.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "abc/cell_math.hpp"
#include "abc/cells.hpp"
#include "abc/philox.hpp"

namespace {

using abc::U32x2;
using abc::U32x4;

void expect_philox(U32x4 ctr, U32x2 key, U32x4 expected) {
  const U32x4 got = abc::philox4x32_10(ctr, key);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(got.v[k], expected.v[k]) << "word " << k;
}

// Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
TEST(Philox, KnownAnswerZero) {
  expect_philox({{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
}
TEST(Philox, KnownAnswerAllOnes) {
  expect_philox({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, {{0xffffffffu, 0xffffffffu}},
                {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
}
TEST(Philox, KnownAnswerPi) {
  expect_philox({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, {{0xa4093822u, 0x299f31d0u}},
                {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

TEST(Philox, UniformIsInUnitIntervalAndExactAtEnds) {
  EXPECT_EQ(abc::uniform_from_u32(0u), 0.0f);
  EXPECT_LT(abc::uniform_from_u32(0xffffffffu), 1.0f);
  EXPECT_EQ(abc::uniform_from_u32(0xffffffffu), 1.0f - 1.0f / 16777216.0f);
  EXPECT_EQ(abc::uniform_from_u32(0x80000000u), 0.5f);
}

TEST(Philox, DropoutStreamDependsOnEveryCoordinate) {
  const U32x2 key = abc::dropout_key(7, 3);
  const float base = abc::dropout_uniform(key, 1, 2, 3, 5);
  EXPECT_EQ(base, abc::dropout_uniform(abc::dropout_key(7, 3), 1, 2, 3, 5));  // pure function
  EXPECT_NE(base, abc::dropout_uniform(abc::dropout_key(8, 3), 1, 2, 3, 5));  // seed
  EXPECT_NE(base, abc::dropout_uniform(abc::dropout_key(7, 4), 1, 2, 3, 5));  // step
  EXPECT_NE(base, abc::dropout_uniform(key, 0, 2, 3, 5));                     // layer
  EXPECT_NE(base, abc::dropout_uniform(key, 1, 1, 3, 5));                     // t
  EXPECT_NE(base, abc::dropout_uniform(key, 1, 2, 2, 5));                     // b
  EXPECT_NE(base, abc::dropout_uniform(key, 1, 2, 3, 4));                     // j, same group
  EXPECT_NE(base, abc::dropout_uniform(key, 1, 2, 3, 9));                     // j, next group
  // The high halves of seed and step count too.
  EXPECT_NE(base, abc::dropout_uniform(abc::dropout_key(7 + (1ull << 32), 3), 1, 2, 3, 5));
  EXPECT_NE(base, abc::dropout_uniform(abc::dropout_key(7, 3 + (1ull << 32)), 1, 2, 3, 5));
}

// Keep rate over 2^20 elements of several layers and steps: within 0.003 of 1 - p
// (the binomial standard deviation is below 0.0005), and the mean factor near 1.
TEST(Dropout, KeepRateMatchesOneMinusP) {
  for (float p : {0.1f, 0.25f, 0.5f}) {
    const double scale = abc::cell::dropout_scale<double>(p);
    long kept = 0, n = 0;
    double factor_sum = 0.0;
    for (std::uint64_t step = 0; step < 4; ++step) {
      const U32x2 key = abc::dropout_key(1234, step);
      for (int layer = 0; layer < 2; ++layer)
        for (int t = 0; t < 64; ++t)
          for (int b = 0; b < 16; ++b)
            for (int j = 0; j < 64; ++j) {
              const float u = abc::dropout_uniform(key, layer, t, b, j);
              kept += abc::cell::dropout_keep(u, p) ? 1 : 0;
              factor_sum += abc::cell::dropout_factor(u, p, scale);
              ++n;
            }
    }
    EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - p, 0.003) << "p=" << p;
    EXPECT_NEAR(factor_sum / n, 1.0, 0.01) << "p=" << p;
  }
}

TEST(Dropout, ZeroPKeepsEverythingAtFactorOne) {
  const float scale = abc::cell::dropout_scale<float>(0.0f);
  EXPECT_EQ(scale, 1.0f);
  for (float u : {0.0f, 1e-7f, 0.5f, 1.0f - 1.0f / 16777216.0f}) {
    EXPECT_EQ(abc::cell::dropout_factor(u, 0.0f, scale), 1.0f);
  }
  EXPECT_EQ(abc::cell::dropout_factor(0.2f, 0.25f, abc::cell::dropout_scale<float>(0.25f)), 0.0f);
  EXPECT_FLOAT_EQ(abc::cell::dropout_factor(0.3f, 0.25f, abc::cell::dropout_scale<float>(0.25f)),
                  4.0f / 3.0f);
}

TEST(CellMath, SigmoidValuesAndSaturation) {
  EXPECT_DOUBLE_EQ(abc::cell::sigmoid(0.0), 0.5);
  EXPECT_NEAR(abc::cell::sigmoid(2.0), 1.0 / (1.0 + std::exp(-2.0)), 1e-15);
  EXPECT_EQ(abc::cell::sigmoid(-200.0f), 0.0f);  // exp overflows to inf: still 0, not NaN
  EXPECT_EQ(abc::cell::sigmoid(200.0f), 1.0f);
}

// The scalar function L = a*h + b*c of the cell's outputs has upstream gradients
// dh = a and dc = b, so lstm_backward must return its derivatives. Central
// differences with eps 1e-6 in double agree to 1e-8.
TEST(CellMath, LstmBackwardMatchesFiniteDifferences) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> dist(-2.0, 2.0);  // test inputs only
  const double eps = 1e-6, tol = 1e-8;
  for (int trial = 0; trial < 50; ++trial) {
    double x[5];  // zi, zf, zg, zo, c_prev
    for (double& v : x) v = dist(rng);
    const double a = dist(rng), b = dist(rng);
    auto loss = [&](const double* in) {
      double i, f, g, o, c, h;
      abc::cell::lstm_forward(in[0], in[1], in[2], in[3], in[4], i, f, g, o, c, h);
      return a * h + b * c;
    };
    double i, f, g, o, c, h;
    abc::cell::lstm_forward(x[0], x[1], x[2], x[3], x[4], i, f, g, o, c, h);
    EXPECT_NEAR(h, o * std::tanh(c), 1e-15);
    double d[5];
    abc::cell::lstm_backward(i, f, g, o, x[4], c, a, b, d[0], d[1], d[2], d[3], d[4]);
    for (int k = 0; k < 5; ++k) {
      double xp[5], xm[5];
      std::copy(x, x + 5, xp);
      std::copy(x, x + 5, xm);
      xp[k] += eps;
      xm[k] -= eps;
      EXPECT_NEAR(d[k], (loss(xp) - loss(xm)) / (2 * eps), tol) << "input " << k << " trial " << trial;
    }
  }
}

TEST(CellMath, RnnBackwardMatchesFiniteDifferences) {
  const double eps = 1e-6;
  for (double z : {-3.0, -0.7, 0.0, 0.4, 2.5}) {
    const double dh = 1.7;
    const double h = abc::cell::rnn_forward(z);
    const double numeric =
        dh * (abc::cell::rnn_forward(z + eps) - abc::cell::rnn_forward(z - eps)) / (2 * eps);
    EXPECT_NEAR(abc::cell::rnn_backward(h, dh), numeric, 1e-8) << "z=" << z;
  }
}

// The host's float exp (cell_math.hpp, written to vectorise) against exp in double over
// the whole range where a float e^x is normal: within 2 ulp (2.4e-7 relative); beyond it
// inf, denormals and 0 as expf gives them, NaN stays NaN. tanh_of on top of it: within 2e-7.
TEST(CellMath, FloatExpIsWithinTwoUlpEverywhere) {
  double worst = 0;
  for (float x = -87.3f; x < 88.72f; x += 0.000731f) {
    const double want = std::exp(static_cast<double>(x));
    const double got = abc::cell::exp_of(x);
    worst = std::max(worst, std::abs(got - want) / want);
  }
  EXPECT_LT(worst, 2.4e-7) << "worst relative error of exp_of(float)";
  EXPECT_EQ(abc::cell::exp_of(0.0f), 1.0f);
  EXPECT_EQ(abc::cell::exp_of(89.0f), INFINITY);
  EXPECT_EQ(abc::cell::exp_of(1e30f), INFINITY);
  EXPECT_EQ(abc::cell::exp_of(88.75f), INFINITY);
  for (float x : {-87.5f, -88.0f, -95.0f, -103.0f}) {  // denormal: within one step of the smallest denormal
    EXPECT_NEAR(abc::cell::exp_of(x), std::exp(static_cast<double>(x)), 1.5e-45) << x;
  }
  EXPECT_EQ(abc::cell::exp_of(-104.0f), 0.0f);
  EXPECT_EQ(abc::cell::exp_of(-1e30f), 0.0f);
  EXPECT_EQ(abc::cell::exp_of(-INFINITY), 0.0f);
  EXPECT_TRUE(std::isnan(abc::cell::exp_of(-NAN)));
  EXPECT_TRUE(std::isnan(abc::cell::exp_of(NAN)));
  double worst_tanh = 0;
  for (float x = -12.0f; x < 12.0f; x += 0.000377f) {
    worst_tanh = std::max(worst_tanh, std::abs(abc::cell::tanh_of(x) - std::tanh(static_cast<double>(x))));
  }
  EXPECT_LT(worst_tanh, 2e-7) << "worst absolute error of tanh_of(float)";
  EXPECT_TRUE(std::isnan(abc::cell::tanh_of(NAN)));
}

// Every registered cell as a unit: L = a*h + b*c of forward(x, u, h_prev, c_prev) has
// upstream gradients dh = a, dc = b; backward's dx, du (split cells; else dx), the skip
// term plus U's share (here the bypass alone: h_prev enters only directly) and dc_prev must
// match central differences over every input.
template <class Cell>
void check_cell_unit_gradients(std::uint64_t seed) {
  constexpr int G = Cell::kGates;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-2.0, 2.0);
  const double eps = 1e-6, tol = 1e-8;
  for (int trial = 0; trial < 50; ++trial) {
    double in[2 * G + 2];  // x[G], u[G], h_prev, c_prev
    for (double& v : in) v = dist(rng);
    const double a = dist(rng), b = Cell::kCellState ? dist(rng) : 0.0;
    auto loss = [&](const double* p) {
      double x[G], u[G];
      for (int g = 0; g < G; ++g) x[g] = p[g], u[g] = Cell::kSplitRecurrent ? p[G + g] : 0.0;
      double c = p[2 * G + 1];
      const double h = Cell::forward(x, u, p[2 * G], c);
      return a * h + b * (Cell::kCellState ? c : 0.0);
    };
    double x[G], u[G], dx[G], du[G] = {};
    for (int g = 0; g < G; ++g) x[g] = in[g], u[g] = Cell::kSplitRecurrent ? in[G + g] : 0.0;
    double c = in[2 * G + 1];
    const double h = Cell::forward(x, u, in[2 * G], c);
    double dc = b;
    const double skip = Cell::backward(x, u, in[2 * G], in[2 * G + 1], c, h, a, dc, dx, du);
    double analytic[2 * G + 2];
    for (int g = 0; g < G; ++g) {
      analytic[g] = dx[g];
      analytic[G + g] = Cell::kSplitRecurrent ? du[g] : 0.0;
    }
    analytic[2 * G] = skip;
    analytic[2 * G + 1] = Cell::kCellState ? dc : 0.0;
    for (int k = 0; k < 2 * G + 2; ++k) {
      if (k >= G && k < 2 * G && !Cell::kSplitRecurrent) continue;  // u is not an input of these cells
      double pp[2 * G + 2], pm[2 * G + 2];
      std::copy(in, in + 2 * G + 2, pp);
      std::copy(in, in + 2 * G + 2, pm);
      pp[k] += eps;
      pm[k] -= eps;
      EXPECT_NEAR(analytic[k], (loss(pp) - loss(pm)) / (2 * eps), tol)
          << Cell::kName << " input " << k << " trial " << trial;
    }
  }
}

TEST(CellMath, EveryCellUnitMatchesFiniteDifferences) {
  check_cell_unit_gradients<abc::LstmCell>(21);
  check_cell_unit_gradients<abc::RnnCell>(22);
  check_cell_unit_gradients<abc::GruCell>(23);
  static_assert(abc::kCellCount == 3, "a new cell needs its line above");
}

// The GRU in PyTorch's formulation, written out: n sees r * (U_n h + b_hn), not U_n (r * h).
TEST(CellMath, GruMatchesItsEquations) {
  const double xr = 0.3, xz = -0.4, xn = 0.9, ur = -0.2, uz = 0.5, un = 1.1, hp = -0.6;
  double r, z, n, h;
  abc::cell::gru_forward(xr, xz, xn, ur, uz, un, hp, r, z, n, h);
  const double want_r = 1 / (1 + std::exp(-(xr + ur))), want_z = 1 / (1 + std::exp(-(xz + uz)));
  const double want_n = std::tanh(xn + want_r * un);
  EXPECT_NEAR(r, want_r, 1e-15);
  EXPECT_NEAR(z, want_z, 1e-15);
  EXPECT_NEAR(n, want_n, 1e-15);
  EXPECT_NEAR(h, (1 - want_z) * want_n + want_z * hp, 1e-15);
}

// One row's loss from the pieces against log-softmax computed directly, and the
// gradient against central differences.
TEST(CellMath, SoftmaxCrossEntropyPieces) {
  const double z[4] = {0.3, -1.2, 2.0, 0.7};
  const int target = 1;
  auto loss = [&](const double* zz) {
    double m = zz[0];
    for (int k = 1; k < 4; ++k) m = std::max(m, zz[k]);
    double s = 0;
    for (int k = 0; k < 4; ++k) s += abc::cell::softmax_shifted_exp(zz[k], m);
    return abc::cell::xent_loss(zz[target] - m, s);
  };
  double direct = 0;
  for (double v : z) direct += std::exp(v);
  EXPECT_NEAR(loss(z), std::log(direct) - z[target], 1e-14);
  double s = 0;
  for (double v : z) s += abc::cell::softmax_shifted_exp(v, 2.0);
  for (int k = 0; k < 4; ++k) {
    double zp[4], zm[4];
    std::copy(z, z + 4, zp);
    std::copy(z, z + 4, zm);
    zp[k] += 1e-6;
    zm[k] -= 1e-6;
    const double grad = abc::cell::xent_grad(abc::cell::softmax_shifted_exp(z[k], 2.0), 1.0 / s,
                                             k == target, 0.5);
    EXPECT_NEAR(grad, 0.5 * (loss(zp) - loss(zm)) / 2e-6, 1e-9) << "k=" << k;
  }
  // Large logits: the max subtraction keeps it finite.
  const double big[2] = {1000.0, 999.0};
  double m = 1000.0, sb = abc::cell::softmax_shifted_exp(big[0], m) + abc::cell::softmax_shifted_exp(big[1], m);
  EXPECT_NEAR(abc::cell::xent_loss(big[1] - m, sb), std::log(1.0 + std::exp(-1.0)) + 1.0, 1e-12);
}

}  // namespace

// The float tanh is our own (one expf): close to the exact value everywhere, odd,
// saturating without NaN.
TEST(CellMath, FloatTanhMatchesTheExactValue) {
  double worst_abs = 0, worst_rel = 0;
  for (double x = -12.0; x <= 12.0; x += 1.0 / 4096) {
    const float xf = static_cast<float>(x);
    const double exact = std::tanh(static_cast<double>(xf));
    const double got = abc::cell::tanh_of(xf);
    worst_abs = std::max(worst_abs, std::abs(got - exact));
    if (exact != 0) worst_rel = std::max(worst_rel, std::abs(got - exact) / std::abs(exact));
    EXPECT_EQ(abc::cell::tanh_of(-xf), -abc::cell::tanh_of(xf));
  }
  EXPECT_LT(worst_abs, 2e-7);
  EXPECT_LT(worst_rel, 1e-5);
  for (float tiny : {1e-30f, 1e-8f, 1e-3f}) EXPECT_NEAR(abc::cell::tanh_of(tiny), std::tanh(double{tiny}), 1e-7 * tiny);
  EXPECT_EQ(abc::cell::tanh_of(1e30f), 1.0f);
  EXPECT_EQ(abc::cell::tanh_of(-INFINITY), -1.0f);
  EXPECT_EQ(abc::cell::tanh_of(0.0f), 0.0f);
}
