// The Backend contract, checked on the CPU backend (GPU backends are compared
// against this one in the gpu suite).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "abc/backend.hpp"
#include "abc/cpu_model.hpp"
#include "abc/error.hpp"
#include "abc/sampling_math.hpp"

namespace {

abc::Chunk random_chunk(int T, int B, int V, unsigned seed) {
  std::mt19937 rng(seed);
  abc::Chunk c;
  c.T = T;
  c.B = B;
  for (int k = 0; k < T * B; ++k) {
    c.inputs.push_back(static_cast<abc::TokenId>(rng() % V));
    c.targets.push_back(static_cast<abc::TokenId>(rng() % V));
  }
  return c;
}

const abc::ModelConfig kConfig{abc::CellKind::kLstm, 11, 8, 2, 0.2f};

}  // namespace

TEST(CpuBackend, MatchesTheReferenceModelStepForStep) {
  auto backend = abc::make_cpu_backend(kConfig, abc::AdamConfig{}, 3, 5);
  abc::CpuModel<float> model(kConfig, 3, 5);
  model.init_params(4);
  backend->upload_params(model.params());
  abc::Adam<float> adam(model.num_params(), abc::AdamConfig{});
  const std::size_t n = backend->num_params();
  std::vector<float> got(n);
  double expected_sum = 0;
  for (int step = 0; step < 3; ++step) {
    const abc::Chunk chunk = random_chunk(5, 3, 11, static_cast<unsigned>(step));
    backend->forward_backward(chunk, 9, static_cast<std::uint64_t>(step));
    expected_sum += model.forward_backward(chunk, 9, static_cast<std::uint64_t>(step));
    backend->download_grads(got.data());
    for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(got[k], model.grads()[k]) << k;
    backend->optimizer_step();
    adam.step(model.params(), model.grads());
  }
  backend->download_params(got.data());
  for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(got[k], model.params()[k]) << k;
  const abc::Backend::LossReport r = backend->take_losses();
  EXPECT_EQ(r.steps, 3);
  EXPECT_DOUBLE_EQ(r.sum, expected_sum);
  EXPECT_FALSE(r.nonfinite);
  EXPECT_GT(r.last_grad_norm, 0);
  EXPECT_EQ(backend->take_losses().steps, 0);  // reading resets
  EXPECT_EQ(backend->adam_steps(), 3);
}

// set_lr changes the lr of the following steps: the CPU optimizer with the same set_lr
// calls, bit for bit; lr 0 leaves the parameters as they are.
TEST(CpuBackend, SetLrAppliesToTheFollowingSteps) {
  auto backend = abc::make_cpu_backend(kConfig, abc::AdamConfig{}, 3, 5);
  abc::CpuModel<float> model(kConfig, 3, 5);
  model.init_params(4);
  backend->upload_params(model.params());
  abc::Adam<float> adam(model.num_params(), abc::AdamConfig{});
  const std::size_t n = backend->num_params();
  std::vector<float> got(n), before(n);
  const double lrs[] = {1e-2, 0.0, 3e-4};
  for (int step = 0; step < 3; ++step) {
    const abc::Chunk chunk = random_chunk(5, 3, 11, static_cast<unsigned>(step));
    backend->forward_backward(chunk, 9, static_cast<std::uint64_t>(step));
    model.forward_backward(chunk, 9, static_cast<std::uint64_t>(step));
    backend->download_params(before.data());
    backend->set_lr(lrs[step]);
    backend->optimizer_step();
    adam.set_lr(lrs[step]);
    adam.step(model.params(), model.grads());
    backend->download_params(got.data());
    for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(got[k], model.params()[k]) << "step " << step << " element " << k;
    if (lrs[step] == 0.0) EXPECT_EQ(got, before);
    else EXPECT_NE(got, before);
  }
}

TEST(CpuBackend, AdamStateRoundTrips) {
  auto a = abc::make_cpu_backend(kConfig, abc::AdamConfig{}, 2, 4);
  std::vector<float> p(a->num_params());
  abc::init_param_block(a->layout(), 1, p.data());
  a->upload_params(p.data());
  a->forward_backward(random_chunk(4, 2, 11, 1), 1, 0);
  a->optimizer_step();
  std::vector<float> m(a->num_params()), v(a->num_params());
  a->download_adam(m.data(), v.data());
  a->download_params(p.data());

  auto b = abc::make_cpu_backend(kConfig, abc::AdamConfig{}, 2, 4);
  b->upload_params(p.data());
  b->upload_adam(m.data(), v.data(), a->adam_steps());
  for (auto* x : {a.get(), b.get()}) {
    x->reset_state();
    x->forward_backward(random_chunk(4, 2, 11, 2), 1, 1);
    x->optimizer_step();
  }
  std::vector<float> pa(a->num_params()), pb(b->num_params());
  a->download_params(pa.data());
  b->download_params(pb.data());
  EXPECT_EQ(pa, pb);
}

TEST(CpuBackend, SampleStepDrawsFromTheStepLogits) {
  auto backend = abc::make_cpu_backend(kConfig, abc::AdamConfig{}, 4, 1);
  std::vector<float> p(backend->num_params());
  abc::init_param_block(backend->layout(), 2, p.data());
  backend->upload_params(p.data());
  const abc::TokenId tokens[4] = {0, 3, 5, 10};
  std::vector<float> logits(4 * 11);
  backend->step_logits(tokens, 4, logits.data());
  backend->reset_state();
  abc::TokenId next[4];
  backend->sample_step(tokens, 4, 0.9f, 77, 10, 3, next);
  for (int i = 0; i < 4; ++i) {
    const float u = abc::sample_uniform(77, static_cast<std::uint32_t>(10 + i), 3);
    EXPECT_EQ(next[i], abc::sample_token(logits.data() + i * 11, 11, 0.9f, u)) << i;
  }
}

TEST(CpuBackend, NonFiniteGradientStopsWithAClearError) {
  auto backend = abc::make_cpu_backend(kConfig, abc::AdamConfig{}, 2, 3);
  std::vector<float> p(backend->num_params(), 0.0f);
  p[backend->layout().w_out().offset] = NAN;
  backend->upload_params(p.data());
  backend->forward_backward(random_chunk(3, 2, 11, 3), 1, 0);
  EXPECT_TRUE(backend->take_losses().nonfinite);
  try {
    backend->optimizer_step();
    FAIL() << "a NaN gradient was applied";
  } catch (const abc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lower --lr"), std::string::npos) << e.what();
  }
}

TEST(Backend, FactoryNamesTheDevice) {
  EXPECT_EQ(abc::make_backend("cpu", kConfig, abc::AdamConfig{}, 1, 1)->name(), "cpu");
  EXPECT_THROW(abc::make_backend("tpu", kConfig, abc::AdamConfig{}, 1, 1), abc::Error);
}
