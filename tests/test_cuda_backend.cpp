// The CUDA backends ("cuda": our kernels; "cudnn": cuDNN runs the recurrent layers)
// against the CPU reference backend, through the Backend interface:
// one training step (loss, every gradient tensor, Adam's moments, parameters after the
// step), 50 steps of the same loss curve, evaluation, step logits, sampling, the carried
// state, non-finite handling and the contract's bookkeeping. LSTM and RNN, 1 and 2
// layers, dropout on and off. Every test skips (with the reason) where no GPU is usable.
//
// Tolerances (both sides are float; cuBLAS and OpenBLAS sum in different orders):
//  - loss: 1e-5 relative; gradient norm: 1e-4 relative;
//  - gradients and Adam moments, per tensor: max |gpu - cpu| <= 1e-4 * max |cpu| (+1e-7
//    for all-zero tensors; 3e-4 for the T=100, B=64 shape);
//  - parameters after one Adam step: within 1e-6 of the CPU optimizer's step applied to
//    the GPU's own gradient (the gradients are compared on their own above);
//  - the 50-step loss curve: every step within 2e-3 relative;
//  - carried state and logits: 1e-4 absolute;
//  - sampling: the same token for at least 90% of the draws, fed the same tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "abc/backend.hpp"
#include "abc/device_probe.hpp"
#include "abc/error.hpp"
#include "abc/optimizer.hpp"
#include "gpu_skip.hpp"

namespace {

// The suite runs again with ABC_RECURRENCE=loop (tests/CMakeLists.txt, gpu_check.sh): the
// harness's choice, passed to the backends it builds as their explicit option.
abc::BackendOptions env_backend_options() {
  abc::BackendOptions options;
  if (const char* v = std::getenv("ABC_RECURRENCE")) options.recurrence = abc::parse_recurrence_path(v);
  return options;
}

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

struct Case {
  abc::CellKind cell;
  int layers;
  float dropout;
  const char* backend;  // "cuda" or "cudnn"
};

std::string case_name(const Case& c) {
  return std::string(c.backend) + "_" + abc::cell_kind_name(c.cell) + "_" + std::to_string(c.layers) + "layers" +
         (c.dropout > 0 ? "_dropout" : "_nodropout");
}

// What gtest (and so ctest) prints for a case.
void PrintTo(const Case& c, std::ostream* os) { *os << case_name(c); }

constexpr int kV = 31, kH = 37, kT = 9, kB = 6, kMaxB = 8, kMaxT = 10;

// Inputs, then targets, uniform over the vocabulary.
abc::Chunk random_chunk(int T, int B, int V, unsigned seed) {
  std::mt19937 rng(seed);
  auto draw = [&rng, V] { return static_cast<abc::TokenId>(rng() % static_cast<unsigned>(V)); };
  abc::Chunk c;
  c.T = T;
  c.B = B;
  c.inputs.resize(sz(T) * sz(B));
  c.targets.resize(c.inputs.size());
  std::generate(c.inputs.begin(), c.inputs.end(), draw);
  std::generate(c.targets.begin(), c.targets.end(), draw);
  return c;
}

// Chunk `step` of B streams reading a periodic "tune" (so the loss can fall), each
// stream at its own phase; state carries from chunk to chunk as in training.
abc::Chunk periodic_chunk(int T, int B, int V, int step) {
  std::mt19937 rng(99);
  std::vector<abc::TokenId> tune(23);
  for (auto& t : tune) t = static_cast<abc::TokenId>(rng() % static_cast<unsigned>(V));
  abc::Chunk c;
  c.T = T;
  c.B = B;
  for (int t = 0; t < T; ++t) {
    for (int b = 0; b < B; ++b) {
      const std::size_t k = sz(step) * sz(T) + sz(t) + sz(b) * 5;
      c.inputs.push_back(tune[k % tune.size()]);
      c.targets.push_back(tune[(k + 1) % tune.size()]);
    }
  }
  return c;
}

// The GPU backends this build has: cuDNN's only where it was found at configure time (the
// host emulation of CUDA has none).
std::vector<const char*> gpu_backends() {
#if ABC_HAVE_CUDNN
  return {"cuda", "cudnn"};
#else
  return {"cuda"};
#endif
}

struct Backends {
  std::unique_ptr<abc::Backend> cpu, gpu;
};

Backends make_both(const abc::ModelConfig& config, int max_batch, int max_seq, std::uint64_t init_seed,
                   const abc::AdamConfig& adam = abc::AdamConfig{}, const std::string& gpu_backend = "cuda") {
  Backends b{abc::make_cpu_backend(config, adam, max_batch, max_seq),
             abc::make_backend(gpu_backend, config, adam, max_batch, max_seq, env_backend_options())};
  std::vector<float> init(b.cpu->num_params());
  abc::init_param_block(b.cpu->layout(), init_seed, init.data());
  b.cpu->upload_params(init.data());
  b.gpu->upload_params(init.data());
  return b;
}

// Per tensor of the layout: max |got - want| <= rel * max |want| + abs.
void expect_tensors_close(const abc::ParamLayout& layout, const std::vector<float>& got, const std::vector<float>& want,
                          double rel, double abs, const std::string& what) {
  for (const abc::ParamTensor& t : layout.tensors()) {
    double max_want = 0, max_diff = 0;
    std::size_t worst = t.offset;
    for (std::size_t k = t.offset; k < t.offset + t.size(); ++k) {
      max_want = std::max(max_want, std::fabs(static_cast<double>(want[k])));
      const double d = std::fabs(static_cast<double>(got[k]) - want[k]);
      if (!(d <= max_diff)) {  // NaN counts as worst
        max_diff = std::isnan(d) ? INFINITY : d;
        worst = k;
      }
    }
    EXPECT_LE(max_diff, rel * max_want + abs)
        << what << " " << t.name << ": worst at element " << worst - t.offset << ", gpu " << got[worst] << ", cpu "
        << want[worst] << " (largest |cpu| " << max_want << ")";
  }
}

std::vector<float> grads_of(abc::Backend& b) {
  std::vector<float> g(b.num_params());
  b.download_grads(g.data());
  return g;
}
std::vector<float> params_of(abc::Backend& b) {
  std::vector<float> p(b.num_params());
  b.download_params(p.data());
  return p;
}
std::vector<float> state_of(abc::Backend& b) {
  std::vector<float> s(b.state_size());
  b.download_state(s.data());
  return s;
}

void expect_all_near(const std::vector<float>& got, const std::vector<float>& want, double tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  std::size_t bad = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    if (!(std::fabs(static_cast<double>(got[k]) - want[k]) <= tol)) ++bad;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " elements differ by more than " << tol;
}

// One step on both; compares loss, gradients, the norm, Adam's moments, parameters and state.
void compare_one_step(const abc::ModelConfig& config, int T, int B, int max_batch, int max_seq, double grad_rel,
                      const std::string& gpu_backend = "cuda") {
  const abc::AdamConfig adam{};
  Backends b = make_both(config, max_batch, max_seq, 5, adam, gpu_backend);
  const abc::Chunk chunk = random_chunk(T, B, config.vocab, 11);
  b.cpu->forward_backward(chunk, 77, 3);
  b.gpu->forward_backward(chunk, 77, 3);
  const std::vector<float> want_g = grads_of(*b.cpu), got_g = grads_of(*b.gpu);
  expect_tensors_close(b.cpu->layout(), got_g, want_g, grad_rel, 1e-7, "gradient");
  const std::vector<float> before = params_of(*b.gpu);

  b.cpu->optimizer_step();
  b.gpu->optimizer_step();
  const abc::Backend::LossReport rc = b.cpu->take_losses(), rg = b.gpu->take_losses();
  EXPECT_EQ(rg.steps, 1);
  EXPECT_FALSE(rg.nonfinite);
  EXPECT_NEAR(rg.sum, rc.sum, 1e-5 * rc.sum);
  EXPECT_NEAR(rg.last_grad_norm, rc.last_grad_norm, 1e-4 * rc.last_grad_norm);
  EXPECT_EQ(b.gpu->adam_steps(), 1);

  const std::size_t n = b.cpu->num_params();
  std::vector<float> mc(n), vc(n), mg(n), vg(n);
  b.cpu->download_adam(mc.data(), vc.data());
  b.gpu->download_adam(mg.data(), vg.data());
  expect_tensors_close(b.cpu->layout(), mg, mc, grad_rel, 1e-8, "adam m");
  expect_tensors_close(b.cpu->layout(), vg, vc, 2 * grad_rel, 1e-12, "adam v");

  // The update, apart from the gradient it starts from: the GPU's step must be the CPU
  // optimizer's step applied to the GPU's own gradient. (Against the CPU's parameters a
  // first Adam step, lr * g / (|g| + eps), turns a difference within rounding of a tiny
  // gradient into a difference of up to 2 lr, so that comparison could fail a correct GPU.)
  abc::Adam<float> reference(n, adam);
  std::vector<float> want_p = before;
  reference.step(want_p.data(), got_g.data());
  const std::vector<float> got_p = params_of(*b.gpu);
  std::size_t off = 0, worst = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double d = std::fabs(static_cast<double>(got_p[k]) - want_p[k]);
    if (!(d <= 1e-6)) ++off;
    if (!(d <= std::fabs(static_cast<double>(got_p[worst]) - want_p[worst]))) worst = k;
  }
  EXPECT_EQ(off, 0u) << off << " of " << n << " parameters differ by more than 1e-6 from the CPU optimizer's step on the "
                     << "GPU's gradient; worst at " << worst << ": gpu " << got_p[worst] << ", want " << want_p[worst];

  expect_all_near(state_of(*b.gpu), state_of(*b.cpu), 1e-4, "carried state");
}

class CudaVsCpu : public ::testing::TestWithParam<Case> {
 protected:
  abc::ModelConfig config() const { return {GetParam().cell, kV, kH, GetParam().layers, GetParam().dropout}; }
  std::string backend() const { return GetParam().backend; }
  Backends both(int max_batch, int max_seq, std::uint64_t init_seed) const {
    return make_both(config(), max_batch, max_seq, init_seed, abc::AdamConfig{}, backend());
  }
};

TEST_P(CudaVsCpu, OneTrainingStep) {
  ABC_SKIP_WITHOUT_GPU();
  compare_one_step(config(), kT, kB, kMaxB, kMaxT, 1e-4, backend());
}

TEST_P(CudaVsCpu, FiftyStepsFollowTheSameLossCurve) {
  ABC_SKIP_WITHOUT_GPU();
  Backends b = both(kMaxB, kMaxT, 8);
  double first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    const abc::Chunk chunk = periodic_chunk(kT, kB, kV, step);
    for (abc::Backend* x : {b.cpu.get(), b.gpu.get()}) {
      x->forward_backward(chunk, 5, static_cast<std::uint64_t>(step));
      x->optimizer_step();
    }
    const abc::Backend::LossReport rc = b.cpu->take_losses(), rg = b.gpu->take_losses();
    ASSERT_FALSE(rg.nonfinite) << "step " << step;
    ASSERT_NEAR(rg.sum, rc.sum, 2e-3 * rc.sum) << "step " << step;
    if (step == 0) first = rc.sum;
    last = rc.sum;
  }
  EXPECT_LT(last, first) << "the curve compared should at least move";
  EXPECT_EQ(b.gpu->adam_steps(), 50);
}

TEST_P(CudaVsCpu, EvaluateAndStepLogits) {
  ABC_SKIP_WITHOUT_GPU();
  Backends b = both(kMaxB, kMaxT, 6);
  const abc::Chunk chunk = random_chunk(kT, kB, kV, 12);
  const double ec = b.cpu->evaluate(chunk), eg = b.gpu->evaluate(chunk);
  EXPECT_NEAR(eg, ec, 1e-5 * ec);
  const abc::TokenId tokens[5] = {0, 30, 2, 17, 2};
  std::vector<float> lc(5 * kV), lg(5 * kV);
  b.cpu->step_logits(tokens, 5, lc.data());
  b.gpu->step_logits(tokens, 5, lg.data());
  expect_all_near(lg, lc, 1e-4, "step logits (state carried from the evaluation)");
  // Evaluation computes no gradient and takes no training step.
  EXPECT_EQ(b.gpu->take_losses().steps, 0);
}

TEST_P(CudaVsCpu, SampleStepDrawsTheSameTokens) {
  ABC_SKIP_WITHOUT_GPU();
  Backends b = both(kMaxB, 1, 7);
  std::vector<abc::TokenId> tokens = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<abc::TokenId> next_c(kMaxB), next_g(kMaxB);
  int same = 0, draws = 0;
  for (std::uint32_t step = 0; step < 40; ++step) {
    const float temperature = step % 4 == 0 ? 0.0f : 1.0f;
    b.cpu->sample_step(tokens.data(), kMaxB, temperature, 2024, 3, step, next_c.data());
    b.gpu->sample_step(tokens.data(), kMaxB, temperature, 2024, 3, step, next_g.data());
    for (int i = 0; i < kMaxB; ++i) {
      ++draws;
      if (next_c[sz(i)] == next_g[sz(i)]) ++same;
      ASSERT_GE(next_g[sz(i)], 0);
      ASSERT_LT(next_g[sz(i)], kV);
    }
    tokens = next_c;  // both sides read the same tokens, so their states stay together
  }
  EXPECT_GE(same, draws * 9 / 10) << same << " of " << draws << " draws agree";
}

TEST_P(CudaVsCpu, CarriedStateRoundTripsAndResets) {
  ABC_SKIP_WITHOUT_GPU();
  Backends b = both(kMaxB, kMaxT, 9);
  const abc::Chunk chunk = random_chunk(kT, kB, kV, 13);
  b.cpu->forward_backward(chunk, 1, 1);
  b.gpu->forward_backward(chunk, 1, 1);
  const std::vector<float> s = state_of(*b.gpu);
  expect_all_near(s, state_of(*b.cpu), 1e-4, "state after a chunk");
  b.gpu->reset_state();
  for (float x : state_of(*b.gpu)) ASSERT_EQ(x, 0.0f);
  b.gpu->upload_state(s.data());
  EXPECT_EQ(state_of(*b.gpu), s);
  // The uploaded state is what the next chunk starts from.
  b.cpu->forward_backward(chunk, 1, 2);
  b.gpu->forward_backward(chunk, 1, 2);
  const abc::Backend::LossReport rc = b.cpu->take_losses(), rg = b.gpu->take_losses();
  EXPECT_EQ(rg.steps, 2);
  EXPECT_NEAR(rg.sum, rc.sum, 1e-5 * rc.sum);
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const char* backend : gpu_backends()) {
    for (abc::CellKind cell : abc::all_cell_kinds()) {
      for (int layers : {1, 2}) {
        for (float dropout : {0.0f, 0.3f}) cases.push_back(Case{cell, layers, dropout, backend});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllCells, CudaVsCpu, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return case_name(info.param); });

// Awkward and large shapes, one training step each.
TEST(CudaBackend, OneTrainingStepAtAwkwardShapes) {
  ABC_SKIP_WITHOUT_GPU();
  struct Shape {
    abc::CellKind cell;
    int layers, H, T, B;
    float dropout;
    double grad_rel;
  };
  const Shape shapes[] = {
      {abc::CellKind::kLstm, 1, 1, 1, 1, 0.0f, 1e-4},      {abc::CellKind::kLstm, 2, 7, 5, 3, 0.2f, 1e-4},
      {abc::CellKind::kRnn, 2, 257, 5, 3, 0.0f, 1e-4},     {abc::CellKind::kLstm, 1, 100, 1, 64, 0.1f, 1e-4},
      {abc::CellKind::kLstm, 2, 128, 100, 64, 0.1f, 3e-4}, {abc::CellKind::kRnn, 1, 128, 100, 64, 0.0f, 3e-4},
      {abc::CellKind::kGru, 2, 7, 5, 3, 0.2f, 1e-4},       {abc::CellKind::kGru, 1, 128, 100, 64, 0.1f, 3e-4},
  };
  for (const char* backend : gpu_backends()) {
    for (const Shape& s : shapes) {
      SCOPED_TRACE(std::string(backend) + " " + abc::cell_kind_name(s.cell) + " layers=" + std::to_string(s.layers) +
                   " H=" + std::to_string(s.H) + " T=" + std::to_string(s.T) + " B=" + std::to_string(s.B));
      compare_one_step({s.cell, 97, s.H, s.layers, s.dropout}, s.T, s.B, s.B, s.T, s.grad_rel, backend);
    }
  }
}

const abc::ModelConfig kSmall{abc::CellKind::kLstm, 11, 8, 2, 0.2f};

TEST(CudaBackend, NonFiniteGradientIsRecordedAndNotApplied) {
  ABC_SKIP_WITHOUT_GPU();
  auto gpu = abc::make_cuda_backend(kSmall, abc::AdamConfig{}, 2, 3, env_backend_options());
  std::vector<float> p(gpu->num_params(), 0.01f);
  p[gpu->layout().w_out().offset] = NAN;
  gpu->upload_params(p.data());
  gpu->forward_backward(random_chunk(3, 2, 11, 3), 1, 0);
  EXPECT_NO_THROW(gpu->optimizer_step());  // a GPU backend records it instead of throwing
  const abc::Backend::LossReport r = gpu->take_losses();
  EXPECT_TRUE(r.nonfinite);
  EXPECT_EQ(r.steps, 1);
  EXPECT_EQ(gpu->adam_steps(), 0);
  const std::vector<float> after = params_of(*gpu);
  for (std::size_t k = 0; k < p.size(); ++k) {
    if (std::isnan(p[k])) {
      EXPECT_TRUE(std::isnan(after[k]));
    } else {
      ASSERT_EQ(after[k], p[k]) << k;
    }
  }
  EXPECT_FALSE(gpu->take_losses().nonfinite);  // reading resets
}

TEST(CudaBackend, AdamStateRoundTrips) {
  ABC_SKIP_WITHOUT_GPU();
  auto gpu = abc::make_cuda_backend(kSmall, abc::AdamConfig{}, 2, 4, env_backend_options());
  const std::size_t n = gpu->num_params();
  std::vector<float> m(n), v(n);
  for (std::size_t k = 0; k < n; ++k) {
    m[k] = 0.001f * static_cast<float>(k % 17);
    v[k] = 1e-6f * static_cast<float>(k % 5);
  }
  gpu->upload_adam(m.data(), v.data(), 7);
  EXPECT_EQ(gpu->adam_steps(), 7);
  std::vector<float> m2(n), v2(n);
  gpu->download_adam(m2.data(), v2.data());
  EXPECT_EQ(m2, m);
  EXPECT_EQ(v2, v);

  // The next step continues at t = 8 exactly as the CPU backend does.
  auto cpu = abc::make_cpu_backend(kSmall, abc::AdamConfig{}, 2, 4);
  cpu->upload_adam(m.data(), v.data(), 7);
  std::vector<float> p(n);
  abc::init_param_block(cpu->layout(), 3, p.data());
  cpu->upload_params(p.data());
  gpu->upload_params(p.data());
  const abc::Chunk chunk = random_chunk(4, 2, 11, 4);
  for (abc::Backend* x : {cpu.get(), gpu.get()}) {
    x->forward_backward(chunk, 1, 0);
    x->optimizer_step();
  }
  EXPECT_EQ(gpu->adam_steps(), 8);
  expect_tensors_close(cpu->layout(), params_of(*gpu), params_of(*cpu), 1e-4, 1e-5, "parameters after step 8");
}

// A learning-rate schedule calls set_lr between steps: the optimizer graph captured at
// the first step must replay with the lr set last, not the one it was captured with.
TEST(CudaBackend, ReplayedOptimizerStepUsesTheLrSetLast) {
  ABC_SKIP_WITHOUT_GPU();
  abc::AdamConfig adam;
  adam.lr = 2e-3;
  auto gpu = abc::make_cuda_backend(kSmall, adam, 2, 4, env_backend_options());
  const std::size_t n = gpu->num_params();
  std::vector<float> p(n);
  abc::init_param_block(gpu->layout(), 3, p.data());
  gpu->upload_params(p.data());
  const abc::Chunk chunk = random_chunk(4, 2, 11, 4);
  gpu->forward_backward(chunk, 1, 0);
  gpu->optimizer_step();  // captures the optimizer step (graphs on) at lr 2e-3
  EXPECT_NE(params_of(*gpu), p);

  gpu->set_lr(0.0);
  const std::vector<float> before = params_of(*gpu);
  gpu->forward_backward(chunk, 1, 1);
  gpu->optimizer_step();
  EXPECT_EQ(params_of(*gpu), before) << "lr 0 was set, yet the step moved the parameters";
  EXPECT_EQ(gpu->adam_steps(), 2);

  // lr 1e-2: the CPU optimizer's step 3 on the GPU's own gradient and moments.
  gpu->set_lr(1e-2);
  gpu->forward_backward(chunk, 1, 2);
  const std::vector<float> g = grads_of(*gpu);
  adam.lr = 1e-2;
  abc::Adam<float> reference(n, adam);
  gpu->download_adam(reference.m(), reference.v());
  reference.set_steps(2);
  std::vector<float> want = params_of(*gpu);
  reference.step(want.data(), g.data());
  gpu->optimizer_step();
  EXPECT_EQ(gpu->adam_steps(), 3);
  expect_all_near(params_of(*gpu), want, 1e-6, "parameters after a step at lr 1e-2");
  EXPECT_FALSE(gpu->take_losses().nonfinite);
}

TEST(CudaBackend, RejectsWhatDoesNotFit) {
  ABC_SKIP_WITHOUT_GPU();
  auto gpu = abc::make_cuda_backend(kSmall, abc::AdamConfig{}, 2, 3, env_backend_options());
  EXPECT_THROW(gpu->forward_backward(random_chunk(4, 2, 11, 1), 1, 0), abc::Error);  // T > max_seq
  EXPECT_THROW(gpu->forward_backward(random_chunk(3, 3, 11, 1), 1, 0), abc::Error);  // B > max_batch
  abc::Chunk bad = random_chunk(3, 2, 11, 1);
  bad.inputs[4] = 11;
  EXPECT_THROW(gpu->forward_backward(bad, 1, 0), abc::Error);
  bad = random_chunk(3, 2, 11, 1);
  bad.targets[0] = -1;
  EXPECT_THROW(gpu->evaluate(bad), abc::Error);
  const abc::TokenId tokens[3] = {0, 1, 2};
  std::vector<float> logits(3 * 11);
  EXPECT_THROW(gpu->step_logits(tokens, 3, logits.data()), abc::Error);  // n > max_batch
  EXPECT_EQ(gpu->take_losses().steps, 0);                                // nothing was queued
}

// CUDA graphs replay the launches they captured with each call's own constants (dropout
// key, sampling seed and step): graphs on and off must agree bit for bit, over steps
// whose keys differ, a shorter last chunk (a second graph), evaluation and sampling.
TEST(CudaBackend, GraphReplayEqualsPlainLaunches) {
  ABC_SKIP_WITHOUT_GPU();
  const abc::ModelConfig config{abc::CellKind::kLstm, 31, 37, 2, 0.3f};
  auto run = [&](bool graphs) {
    if (graphs) {
      unsetenv("ABC_CUDA_GRAPHS");
    } else {
      setenv("ABC_CUDA_GRAPHS", "0", 1);
    }
    auto gpu = abc::make_cuda_backend(config, abc::AdamConfig{}, kMaxB, kMaxT, env_backend_options());
    unsetenv("ABC_CUDA_GRAPHS");
    std::vector<float> init(gpu->num_params());
    abc::init_param_block(gpu->layout(), 3, init.data());
    gpu->upload_params(init.data());
    for (int step = 0; step < 6; ++step) {
      const int T = step == 4 ? 3 : kT;
      gpu->forward_backward(periodic_chunk(T, kB, kV, step), 17, static_cast<std::uint64_t>(step));
      gpu->optimizer_step();
    }
    std::vector<float> out = params_of(*gpu);
    out.push_back(static_cast<float>(gpu->take_losses().sum));
    out.push_back(static_cast<float>(gpu->evaluate(random_chunk(kT, kB, kV, 5))));
    std::vector<abc::TokenId> tokens = {0, 1, 2, 3, 4, 5, 6, 7}, next(kMaxB);
    for (std::uint32_t step = 0; step < 10; ++step) {
      gpu->sample_step(tokens.data(), kMaxB, 0.9f, 99, 0, step, next.data());
      for (abc::TokenId t : next) out.push_back(static_cast<float>(t));
      tokens = next;
    }
    return out;
  };
  const std::vector<float> plain = run(false), replayed = run(true);
  ASSERT_EQ(plain.size(), replayed.size());
  std::size_t differ = 0;
  for (std::size_t k = 0; k < plain.size(); ++k) differ += plain[k] != replayed[k];
  EXPECT_EQ(differ, 0u) << differ << " of " << plain.size() << " values differ between graph replay and plain launches";
}

// ABC_CUDA_TF32=1 lets the GEMMs over all T*B rows use TF32 tensor cores (10-bit
// mantissa inputs, FP32 sums): their own tolerances, loss within 1e-3 relative and every
// gradient tensor within 1e-2 of its largest value.
TEST(CudaBackend, Tf32RowGemmsStayWithinTheirTolerance) {
  ABC_SKIP_WITHOUT_GPU();
  for (const abc::ModelConfig& config :
       {abc::ModelConfig{abc::CellKind::kLstm, 97, 128, 2, 0.1f}, abc::ModelConfig{abc::CellKind::kRnn, 97, 256, 1, 0.0f}}) {
    SCOPED_TRACE(std::string(abc::cell_kind_name(config.cell)) + " H=" + std::to_string(config.hidden));
    setenv("ABC_CUDA_TF32", "1", 1);
    Backends b = make_both(config, 64, 100, 4);
    unsetenv("ABC_CUDA_TF32");
    const abc::Chunk chunk = random_chunk(100, 64, config.vocab, 21);
    b.cpu->forward_backward(chunk, 3, 1);
    b.gpu->forward_backward(chunk, 3, 1);
    expect_tensors_close(b.cpu->layout(), grads_of(*b.gpu), grads_of(*b.cpu), 1e-2, 1e-6, "TF32 gradient");
    const double lc = b.cpu->take_losses().sum, lg = b.gpu->take_losses().sum;
    EXPECT_NEAR(lg, lc, 1e-3 * lc);
  }
}

TEST(CudaBackend, FactoryExplainsWhyWithoutAUsableGpu) {
  const abc::DeviceProbe probe = abc::probe_cuda_device();
  if (probe.usable) GTEST_SKIP() << "a GPU is usable here (" << probe.name << ")";
  try {
    abc::make_backend("cuda", kSmall, abc::AdamConfig{}, 2, 3);
    FAIL() << "a CUDA backend was made without a usable GPU";
  } catch (const abc::Error& e) {
    const std::string what = e.what();
#ifdef ABC_HAVE_CUDA_BACKEND
    EXPECT_NE(what.find(probe.reason), std::string::npos) << what;
#endif
    EXPECT_NE(what.find("--device cpu"), std::string::npos) << what;
  }
  try {
    abc::make_backend("cudnn", kSmall, abc::AdamConfig{}, 2, 3);
    FAIL() << "a cuDNN backend was made without a usable GPU";
  } catch (const abc::Error& e) {
    const std::string what = e.what();
#ifdef ABC_HAVE_CUDA_BACKEND
    EXPECT_NE(what.find(probe.reason), std::string::npos) << what;
#endif
  }
}

}  // namespace
