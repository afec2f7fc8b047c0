// Adam with clipping by global norm over the flat parameter block. The per-element
// math is cell::adam_update and cell::clip_scale (cell_math.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace abc {

// Doubles, as PyTorch's Python floats: the per-step constants are rounded once.
struct AdamConfig {
  double lr = 2e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double clip = 5.0;  // max global gradient norm; <= 0 disables clipping
};

// sqrt(sum g^2), accumulated in double.
template <class S>
double global_norm(const S* values, std::size_t n);

template <class S>
class Adam {
 public:
  // Moments start at zero; threads: the cores a step's work is cut across (held to 1..kMaxCpuThreads).
  Adam(std::size_t num_params, const AdamConfig& config, int threads = 1);

  // Clips the gradient by global norm (without changing `grads`), then one Adam step
  // on `params`. Returns the gradient norm before clipping. Throws abc::Error and
  // leaves everything unchanged when the norm is not finite.
  double step(S* params, const S* grads);

  const AdamConfig& config() const { return config_; }
  void set_lr(double lr) { config_.lr = lr; }  // for schedules
  std::int64_t steps() const { return steps_; }  // updates made so far
  std::size_t size() const { return m_.size(); }

  // Moments in the parameter layout, and the step counter, for checkpoints.
  S* m() { return m_.data(); }
  S* v() { return v_.data(); }
  const S* m() const { return m_.data(); }
  const S* v() const { return v_.data(); }
  void set_steps(std::int64_t steps) { steps_ = steps; }

 private:
  AdamConfig config_;
  int threads_;
  std::int64_t steps_ = 0;
  std::vector<S> m_, v_;
};

extern template class Adam<float>;
extern template class Adam<double>;

}  // namespace abc
