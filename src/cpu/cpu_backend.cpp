// The CPU reference backend: CpuModel<float> + Adam<float> behind the Backend interface.
#include <cmath>
#include <vector>

#include "abc/backend.hpp"
#include "abc/cpu_model.hpp"
#include "abc/error.hpp"
#include "abc/sampling_math.hpp"

namespace abc {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(const ModelConfig& config, const AdamConfig& adam, int max_batch, int max_seq, int threads)
      : model_(config, max_batch, max_seq, threads),
        adam_(model_.num_params(), adam, threads),
        logits_(static_cast<std::size_t>(max_batch) * static_cast<std::size_t>(config.vocab)) {}

  std::string name() const override { return "cpu"; }
  const ParamLayout& layout() const override { return model_.layout(); }
  int max_batch() const override { return model_.max_batch(); }
  int max_seq() const override { return model_.max_seq(); }

  void upload_params(const float* host) override { std::copy(host, host + num_params(), model_.params()); }
  void download_params(float* host) override { std::copy(model_.params(), model_.params() + num_params(), host); }
  void download_grads(float* host) override { std::copy(model_.grads(), model_.grads() + num_params(), host); }
  void upload_adam(const float* m, const float* v, std::int64_t steps) override {
    std::copy(m, m + num_params(), adam_.m());
    std::copy(v, v + num_params(), adam_.v());
    adam_.set_steps(steps);
  }
  void download_adam(float* m, float* v) override {
    std::copy(adam_.m(), adam_.m() + num_params(), m);
    std::copy(adam_.v(), adam_.v() + num_params(), v);
  }
  std::int64_t adam_steps() const override { return adam_.steps(); }

  void reset_state() override { model_.reset_state(); }

  void download_state(float* host) override { copy_state(host, /*to_model=*/false); }
  void upload_state(const float* host) override { copy_state(const_cast<float*>(host), /*to_model=*/true); }

  void forward_backward(const Chunk& chunk, std::uint64_t dropout_seed, std::uint64_t step) override {
    const double loss = model_.forward_backward(chunk, dropout_seed, step);
    losses_.sum += loss;
    ++losses_.steps;
    if (!std::isfinite(loss)) losses_.nonfinite = true;
  }

  void optimizer_step() override { losses_.last_grad_norm = adam_.step(model_.params(), model_.grads()); }
  void set_lr(double lr) override { adam_.set_lr(lr); }

  LossReport take_losses() override {
    const LossReport report = losses_;
    losses_ = LossReport{};
    return report;
  }

  double evaluate(const Chunk& chunk) override { return model_.evaluate(chunk); }

  void sample_step(const TokenId* tokens, int n, float temperature, std::uint64_t seed, std::uint32_t first_stream,
                   std::uint32_t step, TokenId* next) override {
    model_.step_logits(tokens, n, logits_.data());
    const int V = layout().config().vocab;
    for (int i = 0; i < n; ++i) {
      const float u = sample_uniform(seed, first_stream + static_cast<std::uint32_t>(i), step);
      next[i] = sample_token(logits_.data() + static_cast<std::size_t>(i) * V, V, temperature, u);
    }
  }

  void step_logits(const TokenId* tokens, int n, float* logits) override { model_.step_logits(tokens, n, logits); }

 private:
  // Walks the state layout of Backend::state_size (per layer h, then c for LSTM).
  void copy_state(float* host, bool to_model) {
    const std::size_t n = static_cast<std::size_t>(max_batch()) * static_cast<std::size_t>(layout().config().hidden);
    for (int l = 0; l < layout().config().layers; ++l) {
      for (float* block : {model_.state_h(l), model_.state_c(l)}) {
        if (!block) continue;  // RNN: no c
        if (to_model) std::copy(host, host + n, block);
        else std::copy(block, block + n, host);
        host += n;
      }
    }
  }

  CpuModel<float> model_;
  Adam<float> adam_;
  std::vector<float> logits_;  // [max_batch, V] sampling scratch
  LossReport losses_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const ModelConfig& config, const AdamConfig& adam, int max_batch,
                                          int max_seq, int threads) {
  return std::make_unique<CpuBackend>(config, adam, max_batch, max_seq, threads);
}

}  // namespace abc
