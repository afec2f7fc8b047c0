#include "abc/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "abc/cell_math.hpp"
#include "abc/cpu_model.hpp"  // kMaxCpuThreads
#include "abc/error.hpp"
#include "parts.hpp"

namespace abc {

namespace {

// Sum of values[k]^2 in double: element k goes to lane k % 8, the lanes are added in
// order. The lanes are independent chains, so the loop is one vector of additions per
// eight elements instead of one addition's latency per element; the order is fixed, so
// the sum is the same run to run.
template <class S>
double sum_of_squares(const S* values, std::size_t n) {
  constexpr std::size_t kLanes = 8;
  double lanes[kLanes] = {};
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) lanes[l] += static_cast<double>(values[k + l]) * values[k + l];
  }
  for (std::size_t l = 0; k + l < n; ++l) lanes[l] += static_cast<double>(values[k + l]) * values[k + l];
  double sum = 0.0;
  for (const double lane : lanes) sum += lane;
  return sum;
}

}  // namespace

template <class S>
double global_norm(const S* values, std::size_t n) {
  return std::sqrt(sum_of_squares(values, n));
}

template <class S>
Adam<S>::Adam(std::size_t num_params, const AdamConfig& config, int threads)
    : config_(config),
      threads_(std::clamp(threads, 1, kMaxCpuThreads)),
      m_(num_params, S(0)),
      v_(num_params, S(0)) {}

template <class S>
double Adam<S>::step(S* params, const S* grads) {
  const std::size_t n = m_.size();
  // Parts of at least 4096 elements; their sums of squares are added in part order, so the
  // norm is the same run to run for a thread count.
  const int parts = parts_for<std::size_t>(threads_, n, 4096);
  const double norm = std::sqrt(
      sum_over_parts(parts, n, [&](std::size_t k0, std::size_t k1) { return sum_of_squares(grads + k0, k1 - k0); }));
  if (!std::isfinite(norm)) {
    throw Error("gradient norm is " + std::to_string(norm) + " at optimizer step " +
                std::to_string(steps_ + 1) +
                ": training diverged; lower --lr or set a gradient clip");
  }
  const S scale = static_cast<S>(cell::clip_scale(norm, config_.clip));
  ++steps_;
  const cell::AdamStep<S> k =
      cell::adam_step<S>(config_.lr, config_.beta1, config_.beta2, config_.eps, steps_);
  for_parts(parts, [&](int p, int np) {
    const auto [k0, k1] = slice(n, p, np);
    S* m = m_.data();
    S* v = v_.data();
#pragma omp simd
    for (std::size_t i = k0; i < k1; ++i) cell::adam_update(params[i], m[i], v[i], grads[i] * scale, k);
  });
  return norm;
}

template double global_norm<float>(const float*, std::size_t);
template double global_norm<double>(const double*, std::size_t);
template class Adam<float>;
template class Adam<double>;

}  // namespace abc
