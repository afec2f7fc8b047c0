// The per-element math of the model and the optimizer: the one place it is written (each
// recurrent cell's own math is in its header, cells/*.hpp, built on the functions here).
// The CPU loops and the CUDA kernels call these functions and differ only in how they
// index and move memory. Every function is __host__ __device__ under nvcc.
#pragma once
#include <math.h>

#ifdef __CUDACC__
#define ABC_HD __host__ __device__
#else
#define ABC_HD
#endif

namespace abc {
namespace cell {

// Overloads so templates pick the float or double function on host and device.
#ifdef __CUDA_ARCH__
__device__ inline float exp_of(float x) { return ::expf(x); }
#else
// float exp in straight-line code, so that the compiler vectorises the CPU loops that call
// it (glibc's expf is one call per element, and was a seventh of the CPU training time).
// e^x = 2^n * e^r with n = round(x / ln 2) and r = x - n ln 2 (ln 2 in two parts, so r is
// exact), |r| <= ln 2 / 2, e^r = 1 + r + r^2 p(r) with Cephes' degree-5 minimax p. Within
// 2 ulp of e^x wherever e^x is a normal float (tests/test_cell_math.cpp checks). Beyond,
// the last product overflows to inf (above 88.72) or underflows to expf's denormal and to 0
// (below -87.34; x is clamped to [-104, 89] first, and e^-104 rounds to 0); NaN goes through
// the polynomial as NaN. No branches, so the loops that call it vectorise; no selects for
// the special values either (the products give them): the LSTM cell's loop took 13% fewer
// instructions.
inline float exp_of(float x) {
  const float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);  // n stays in [-150, 129]
  // Round to nearest by the 1.5 * 2^23 trick (no SSE4.1 round instruction needed).
  const float n = (xc * 1.44269504089f + 12582912.0f) - 12582912.0f;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r2 + r + 1.0f;
  // 2^n = 2^a * 2^b with a = floor(n / 2), b = n - a: both normal floats (|a|, |b| <= 75),
  // so e^x near either end of the float range comes out right.
  const int ni = static_cast<int>(n), a = ni >> 1, b = ni - a;
  const unsigned bits_a = static_cast<unsigned>(a + 127) << 23, bits_b = static_cast<unsigned>(b + 127) << 23;
  float two_a, two_b;
  __builtin_memcpy(&two_a, &bits_a, sizeof two_a);
  __builtin_memcpy(&two_b, &bits_b, sizeof two_b);
  return er * two_a * two_b;
}
#endif
ABC_HD inline double exp_of(double x) { return ::exp(x); }
// float tanh from one exp_of: glibc's tanhf goes through expm1f and was a quarter of
// the CPU training time. Near 0, where 1 - e^{-2|x|} loses digits, the series
// x - x^3/3 + 2x^5/15 is exact to float precision (next term 17x^7/315 < 2e-12 there).
// Absolute error elsewhere is below 1e-7. Both are computed and one selected: the CPU
// loops vectorise.
ABC_HD inline float tanh_of(float x) {
  const float a = x < 0.0f ? -x : x;
  const float x2 = x * x;
  const float series = x * (1.0f - x2 * (1.0f / 3.0f - x2 * (2.0f / 15.0f)));
  const float e = exp_of(-2.0f * a);  // in (0, 1]: no overflow for any x
  const float t = (1.0f - e) / (1.0f + e);
  const float far = x < 0.0f ? -t : t;
  return a < 0.03f ? series : far;
}
ABC_HD inline double tanh_of(double x) { return ::tanh(x); }
ABC_HD inline float log_of(float x) { return ::logf(x); }
ABC_HD inline double log_of(double x) { return ::log(x); }
ABC_HD inline float sqrt_of(float x) { return ::sqrtf(x); }
ABC_HD inline double sqrt_of(double x) { return ::sqrt(x); }

// For x << 0, exp(-x) overflows to inf and the result is the correct 0.
template <class S>
ABC_HD inline S sigmoid(S x) {
  return S(1) / (S(1) + exp_of(-x));
}

// --- Inverted dropout ------------------------------------------------------------------
// An element is kept when its uniform u in [0, 1) is >= p; kept elements are scaled
// by 1/(1-p) so the expected output equals the input. p = 0 keeps every element at
// factor exactly 1. Requires p < 1.
ABC_HD inline bool dropout_keep(float u, float p) { return u >= p; }
template <class S>
ABC_HD inline S dropout_scale(float p) {
  return S(1) / (S(1) - S(p));
}
template <class S>
ABC_HD inline S dropout_factor(float u, float p, S scale) {
  return dropout_keep(u, p) ? scale : S(0);
}

// --- Softmax cross-entropy of one row, max-subtracted ---------------------------------
// With m = max_k z_k, e_k = exp(z_k - m) and s = sum_k e_k:
//   loss = log(s) - (z_target - m)       (nats)
//   d loss / d z_k = e_k / s - [k == target]
template <class S>
ABC_HD inline S softmax_shifted_exp(S z, S row_max) {
  return exp_of(z - row_max);
}
template <class S>
ABC_HD inline S xent_loss(S shifted_target_logit, S sum_exp) {
  return log_of(sum_exp) - shifted_target_logit;
}
// `scale` folds in the mean over rows; inv_sum = 1 / s.
template <class S>
ABC_HD inline S xent_grad(S shifted_exp, S inv_sum, bool is_target, S scale) {
  return (shifted_exp * inv_sum - (is_target ? S(1) : S(0))) * scale;
}

// --- Adam (PyTorch semantics: eps added to sqrt(v_hat)) --------------------------------
// Per-step constants, computed once per optimizer step on the host.
template <class S>
struct AdamStep {
  S beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  S step_size;   // lr / (1 - beta1^t)
  S sqrt_bias2;  // sqrt(1 - beta2^t)
};

// In double, rounded once to S (as PyTorch passes Python floats to its kernels).
template <class S>
ABC_HD inline AdamStep<S> adam_step(double lr, double beta1, double beta2, double eps, long long t) {
  const double bias1 = 1.0 - ::pow(beta1, static_cast<double>(t));
  const double bias2 = 1.0 - ::pow(beta2, static_cast<double>(t));
  return AdamStep<S>{S(beta1), S(1.0 - beta1), S(beta2),        S(1.0 - beta2),
                     S(eps),   S(lr / bias1),  S(::sqrt(bias2))};
}

// m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
// p <- p - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
template <class S>
ABC_HD inline void adam_update(S& param, S& m, S& v, S grad, const AdamStep<S>& k) {
  m = k.beta1 * m + k.one_minus_beta1 * grad;
  v = k.beta2 * v + k.one_minus_beta2 * grad * grad;
  param -= k.step_size * m / (sqrt_of(v) / k.sqrt_bias2 + k.eps);
}

// --- Clipping by global norm (PyTorch clip_grad_norm_) ---------------------------------
// Factor applied to every gradient element: min(1, max_norm / (norm + 1e-6));
// max_norm <= 0 disables clipping.
ABC_HD inline double clip_scale(double norm, double max_norm) {
  if (max_norm <= 0.0) return 1.0;
  const double s = max_norm / (norm + 1e-6);
  return s < 1.0 ? s : 1.0;
}

}  // namespace cell
}  // namespace abc
