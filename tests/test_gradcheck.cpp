// The CPU model: finite-difference gradient checks of every parameter and of the
// carried-in state, float against double, state carrying, dropout and the layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "abc/cpu_model.hpp"
#include "abc/error.hpp"
#include "abc/model.hpp"

namespace {

using abc::CellKind;
using abc::Chunk;
using abc::CpuModel;
using abc::ModelConfig;

Chunk random_chunk(int T, int B, int V, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Chunk chunk;
  chunk.T = T;
  chunk.B = B;
  for (int k = 0; k < T * B; ++k) {
    chunk.inputs.push_back(static_cast<abc::TokenId>(rng() % static_cast<unsigned>(V)));
    chunk.targets.push_back(static_cast<abc::TokenId>(rng() % static_cast<unsigned>(V)));
  }
  return chunk;
}

// The carried state of the first B streams of every layer, saved so each evaluation
// of the loss starts from the same state.
template <class S>
struct StateSnapshot {
  std::vector<std::vector<S>> h, c;

  void save(CpuModel<S>& model, int B) {
    const std::size_t n = static_cast<std::size_t>(B) * model.config().hidden;
    h.clear();
    c.clear();
    for (int l = 0; l < model.config().layers; ++l) {
      h.emplace_back(model.state_h(l), model.state_h(l) + n);
      if (model.state_c(l)) c.emplace_back(model.state_c(l), model.state_c(l) + n);
    }
  }
  void restore(CpuModel<S>& model) const {
    for (std::size_t l = 0; l < h.size(); ++l) {
      std::copy(h[l].begin(), h[l].end(), model.state_h(static_cast<int>(l)));
      if (!c.empty()) std::copy(c[l].begin(), c[l].end(), model.state_c(static_cast<int>(l)));
    }
  }
};

// Central differences in double with step 1e-5: truncation (~eps^2) and rounding
// (~1e-16/eps) errors are both near 1e-11, so an element passes when
// |analytic - numeric| <= 1e-9 + 1e-6 * |numeric|; the worst seen is 5e-11.
// Gradients here are 1e-4 .. 1e-1.
constexpr double kEps = 1e-5;
constexpr double kAbsTol = 1e-9;
constexpr double kRelTol = 1e-6;
bool grads_agree(double analytic, double numeric) {
  return std::abs(analytic - numeric) <= kAbsTol + kRelTol * std::abs(numeric);
}

constexpr std::uint64_t kDropoutSeed = 99;
constexpr std::uint64_t kStep = 5;

// A double model with a non-zero state carried in from a previous chunk, and a
// chunk whose mean loss is differentiated.
struct GradCheck {
  GradCheck(const ModelConfig& config, int B, int T, int max_batch, int max_seq,
            int stream_group = abc::kCpuStreamGroup)
      : model(config, max_batch, max_seq, 1, stream_group), chunk(random_chunk(T, B, config.vocab, 17)) {
    model.init_params(3);
    model.forward_backward(random_chunk(T, B, config.vocab, 23), kDropoutSeed, kStep - 1);
    state.save(model, B);
  }

  double loss(std::uint64_t step = kStep) {
    state.restore(model);
    return model.forward_backward(chunk, kDropoutSeed, step);
  }

  // d loss / d x by central differences, x being a parameter or a state element.
  double numeric(double& x) {
    const double saved = x;
    x = saved + kEps;
    const double up = loss();
    x = saved - kEps;
    const double down = loss();
    x = saved;
    return (up - down) / (2 * kEps);
  }

  std::vector<double> numeric_param_grads() {
    std::vector<double> out(model.num_params());
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = numeric(model.params()[k]);
    return out;
  }

  std::vector<double> analytic_param_grads(std::uint64_t step = kStep) {
    loss(step);
    return std::vector<double>(model.grads(), model.grads() + model.num_params());
  }

  CpuModel<double> model;
  Chunk chunk;
  StateSnapshot<double> state;
};

int count_disagreements(const std::vector<double>& analytic, const std::vector<double>& numeric) {
  int bad = 0;
  for (std::size_t k = 0; k < analytic.size(); ++k) bad += grads_agree(analytic[k], numeric[k]) ? 0 : 1;
  return bad;
}

struct GradCase {
  CellKind cell;
  int layers;
  float dropout;
  int max_batch, max_seq;  // larger limits than the chunk's exercise short chunks
  int B = 3, T = 4;        // the chunk; B = 1 takes the single-row (GEMV) path
  int stream_group = abc::kCpuStreamGroup;  // < B: the chunk's streams go through in groups
  int hidden = 5;  // 21: a row's cell loop has whole vectors of 16 units and a window over the rest
};

std::string case_name(const testing::TestParamInfo<GradCase>& info) {
  const GradCase& c = info.param;
  return std::string(abc::cell_kind_name(c.cell)) + "_L" + std::to_string(c.layers) +
         (c.dropout > 0 ? "_dropout" : "_nodropout") +
         (c.max_seq > c.T || c.max_batch > c.B ? "_short" : "_exact") + (c.B == 1 ? "_B1" : "") +
         (c.stream_group < c.B ? "_groups_of_" + std::to_string(c.stream_group) : "") +
         (c.hidden != 5 ? "_H" + std::to_string(c.hidden) : "");
}

class GradCheckTest : public testing::TestWithParam<GradCase> {};

// Every element of every parameter tensor and of the carried-in state.
TEST_P(GradCheckTest, EveryParameterAndStateElementMatchesCentralDifferences) {
  const GradCase& c = GetParam();
  const int B = c.B, T = c.T;
  const int H = c.hidden;
  ModelConfig config{c.cell, 7, H, c.layers, c.dropout};
  GradCheck gc(config, B, T, c.max_batch, c.max_seq, c.stream_group);

  const std::vector<double> analytic = gc.analytic_param_grads();
  std::vector<std::vector<double>> dh0, dc0;
  for (int l = 0; l < c.layers; ++l) {
    const double* dh = gc.model.initial_state_grad_h(l);
    dh0.emplace_back(dh, dh + B * H);
    if (const double* dc = gc.model.initial_state_grad_c(l)) dc0.emplace_back(dc, dc + B * H);
  }
  const std::vector<double> numeric = gc.numeric_param_grads();

  for (const abc::ParamTensor& t : gc.model.layout().tensors()) {
    double largest = 0;
    for (std::size_t k = t.offset; k < t.offset + t.size(); ++k) {
      largest = std::max(largest, std::abs(analytic[k]));
      EXPECT_TRUE(grads_agree(analytic[k], numeric[k]))
          << t.name << "[" << (k - t.offset) << "]: analytic " << analytic[k] << ", numeric "
          << numeric[k];
    }
    // A tensor whose gradient is all zero would pass vacuously.
    EXPECT_GT(largest, 1e-4) << t.name << " has no gradient to check";
  }

  for (int l = 0; l < c.layers; ++l) {
    for (int k = 0; k < B * H; ++k) {
      const double n = gc.numeric(gc.state.h[l][k]);
      EXPECT_TRUE(grads_agree(dh0[l][k], n)) << "h0 of layer " << l << "[" << k << "]: analytic "
                                             << dh0[l][k] << ", numeric " << n;
      if (abc::cell_info(c.cell).cell_state) {
        const double nc = gc.numeric(gc.state.c[l][k]);
        EXPECT_TRUE(grads_agree(dc0[l][k], nc)) << "c0 of layer " << l << "[" << k << "]: analytic "
                                                << dc0[l][k] << ", numeric " << nc;
      }
    }
  }
}

// Per cell: 1 to 3 layers, with and without dropout, chunks shorter than the limits, and
// B = 1 (the single-row GEMV path).
std::vector<GradCase> grad_cases() {
  std::vector<GradCase> cases;
  for (CellKind cell : abc::all_cell_kinds()) {
    cases.push_back(GradCase{cell, 1, 0.0f, 4, 6});
    cases.push_back(GradCase{cell, 1, 0.3f, 3, 4});
    cases.push_back(GradCase{cell, 2, 0.0f, 3, 4});
    cases.push_back(GradCase{cell, 2, 0.3f, 4, 6});
    cases.push_back(GradCase{cell, 2, 0.3f, 1, 4, 1, 4});
  }
  cases.push_back(GradCase{CellKind::kLstm, 3, 0.3f, 3, 4});
  cases.push_back(GradCase{CellKind::kRnn, 1, 0.0f, 2, 4, 1, 4});
  // Streams in groups of 2 (2 + 1): each group's state rows, dropout masks and gradients.
  for (CellKind cell : abc::all_cell_kinds()) cases.push_back(GradCase{cell, 2, 0.3f, 3, 4, 3, 4, 2});
  // Rows of 21 units: the CPU cell loops' whole vectors (16 units) and their window over the
  // last 16, of which 11 were done already (cpu_model.cpp's forward_row, backward_row).
  for (CellKind cell : abc::all_cell_kinds()) cases.push_back(GradCase{cell, 2, 0.3f, 2, 3, 2, 3, 2, 21});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(CpuModel, GradCheckTest, testing::ValuesIn(grad_cases()), case_name);

// The check above must be able to fail: gradients from the wrong dropout masks, or
// one element off by one part in 10^4, are caught.
TEST(GradCheckSelfTest, CatchesWrongGradients) {
  GradCheck gc(ModelConfig{CellKind::kLstm, 7, 5, 2, 0.3f}, 3, 4, 3, 4);
  const std::vector<double> numeric = gc.numeric_param_grads();
  const std::vector<double> right = gc.analytic_param_grads();
  EXPECT_EQ(count_disagreements(right, numeric), 0);

  const std::vector<double> wrong_masks = gc.analytic_param_grads(kStep + 1);
  EXPECT_GT(count_disagreements(wrong_masks, numeric), static_cast<int>(numeric.size() / 4));

  std::vector<double> one_off = right;
  const auto biggest = std::max_element(one_off.begin(), one_off.end(),
                                        [](double a, double b) { return std::abs(a) < std::abs(b); });
  *biggest *= 1.0 + 1e-4;
  EXPECT_EQ(count_disagreements(one_off, numeric), 1);
}

// float trains, double checks: on the same parameters, state and chunk they agree
// to float rounding. Loss to 1e-6 relative; each gradient element to
// 1e-5 * (largest gradient of the whole block). Seen: 2e-8 and 2e-7.
TEST(CpuModel, FloatAgreesWithDouble) {
  for (CellKind cell : abc::all_cell_kinds()) {
    const ModelConfig config{cell, 11, 16, 2, 0.2f};
    const int B = 4, T = 6;
    CpuModel<float> mf(config, B, T);
    CpuModel<double> md(config, B, T);
    mf.init_params(5);
    md.init_params(5);
    const Chunk first = random_chunk(T, B, 11, 1), second = random_chunk(T, B, 11, 2);
    const double lf0 = mf.forward_backward(first, 8, 0);
    const double ld0 = md.forward_backward(first, 8, 0);
    EXPECT_NEAR(lf0, ld0, 1e-6 * ld0);
    const double lf = mf.forward_backward(second, 8, 1);  // with the carried state
    const double ld = md.forward_backward(second, 8, 1);
    EXPECT_NEAR(lf, ld, 1e-6 * ld) << abc::cell_kind_name(cell);
    double largest = 0;
    for (std::size_t k = 0; k < md.num_params(); ++k) largest = std::max(largest, std::abs(md.grads()[k]));
    for (std::size_t k = 0; k < md.num_params(); ++k) {
      ASSERT_NEAR(mf.grads()[k], md.grads()[k], 1e-5 * largest) << abc::cell_kind_name(cell) << " k=" << k;
    }
  }
}

// One training step of `chunk` (dropout on) on two models that should agree to double
// rounding: the losses, and every gradient to 1e-12 of the largest, which it returns.
double expect_same_step(CpuModel<double>& expected, CpuModel<double>& actual, const Chunk& chunk, std::uint64_t step) {
  const std::string cell = abc::cell_kind_name(expected.config().cell);
  const double le = expected.forward_backward(chunk, 3, step), la = actual.forward_backward(chunk, 3, step);
  EXPECT_NEAR(la, le, 1e-13 * le) << cell << " step " << step;
  double largest = 0;
  for (std::size_t k = 0; k < expected.num_params(); ++k) largest = std::max(largest, std::abs(expected.grads()[k]));
  EXPECT_GT(largest, 0.0) << cell;
  for (std::size_t k = 0; k < expected.num_params(); ++k) {
    if (std::abs(actual.grads()[k] - expected.grads()[k]) > 1e-12 * largest) {
      ADD_FAILURE() << cell << " step " << step << ": gradient " << k << " is " << actual.grads()[k] << ", expected "
                    << expected.grads()[k] << " (the first that differs)";
      break;
    }
  }
  return largest;
}

// A chunk's streams in groups (forward_backward) give what one pass over all of them
// gives: the loss, every gradient, the carried state and the initial-state gradients, to
// double rounding; over two chunks, so the second starts from the carried state.
TEST(CpuModel, StreamGroupsMatchOnePass) {
  for (CellKind cell : abc::all_cell_kinds()) {
    const ModelConfig config{cell, 9, 6, 2, 0.4f};
    const int B = 7, T = 5;
    CpuModel<double> whole(config, B, T, 1, B), grouped(config, B, T, 2, 3);  // groups of 3, 3, 1; 2 threads
    whole.init_params(6);
    grouped.init_params(6);
    for (std::uint64_t step = 0; step < 2; ++step) {
      const double largest = expect_same_step(whole, grouped, random_chunk(T, B, 9, 40 + step), step);
      for (int l = 0; l < config.layers; ++l) {
        for (int k = 0; k < B * config.hidden; ++k) {
          ASSERT_NEAR(grouped.state_h(l)[k], whole.state_h(l)[k], 1e-13) << "h, layer " << l << " k=" << k;
          ASSERT_NEAR(grouped.initial_state_grad_h(l)[k], whole.initial_state_grad_h(l)[k], 1e-13 * largest)
              << "dh0, layer " << l << " k=" << k;
          if (whole.state_c(l) != nullptr) {
            ASSERT_NEAR(grouped.state_c(l)[k], whole.state_c(l)[k], 1e-13) << "c, layer " << l << " k=" << k;
            ASSERT_NEAR(grouped.initial_state_grad_c(l)[k], whole.initial_state_grad_c(l)[k], 1e-13 * largest)
                << "dc0, layer " << l << " k=" << k;
          }
        }
      }
    }
  }
  EXPECT_THROW(CpuModel<float>(ModelConfig{CellKind::kRnn, 5, 4, 1, 0.0f}, 2, 3, 1, 0), abc::Error);
}

// On 3 threads a step gives what one thread gives, to double rounding, and so does a
// second step that starts from its state: 5 streams (each thread its own slice of 1, 2 and
// 2 streams, their gradients added at the end) and 1 stream (one pass, each operation cut
// across the threads: 24 rows, 48 gate columns, 40 output columns).
TEST(CpuModel, ThreadsGiveWhatOneThreadGives) {
  struct Shape {
    int vocab, hidden, B, T;
  };
  for (const Shape& shape : {Shape{9, 6, 5, 6}, Shape{40, 12, 1, 24}}) {
    for (CellKind cell : abc::all_cell_kinds()) {
      const ModelConfig config{cell, shape.vocab, shape.hidden, 2, 0.4f};
      CpuModel<double> one(config, shape.B, shape.T, 1), three(config, shape.B, shape.T, 3);
      one.init_params(8);
      three.init_params(8);
      for (std::uint64_t step = 0; step < 2; ++step) {
        expect_same_step(one, three, random_chunk(shape.T, shape.B, shape.vocab, 70 + step), step);
      }
    }
  }
}

TEST(CpuModel, GradientsAreOverwrittenNotAccumulated) {
  CpuModel<double> model(ModelConfig{CellKind::kLstm, 7, 5, 2, 0.0f}, 3, 4);
  model.init_params(1);
  const Chunk chunk = random_chunk(4, 3, 7, 4);
  model.forward_backward(chunk, 0, 0);
  const std::vector<double> first(model.grads(), model.grads() + model.num_params());
  model.reset_state();
  model.forward_backward(chunk, 0, 0);
  for (std::size_t k = 0; k < first.size(); ++k) ASSERT_EQ(model.grads()[k], first[k]) << k;
}

// Evaluating 8 steps at once equals 4 + 4 with the state carried between chunks, and
// step_logits one token at a time gives the same nats.
TEST(CpuModel, StateCarriesAcrossChunksAndSteps) {
  for (CellKind cell : abc::all_cell_kinds()) {
    for (const int B : {1, 2}) {  // B = 1 takes the single-row (GEMV) path
      const ModelConfig config{cell, 9, 6, 2, 0.5f};
      const Chunk whole = random_chunk(8, B, 9, 6);
      Chunk head = whole, tail = whole;
      head.T = tail.T = 4;
      head.inputs.resize(static_cast<std::size_t>(4 * B));
      head.targets.resize(static_cast<std::size_t>(4 * B));
      tail.inputs.erase(tail.inputs.begin(), tail.inputs.begin() + 4 * B);
      tail.targets.erase(tail.targets.begin(), tail.targets.begin() + 4 * B);

      CpuModel<double> model(config, B, 8);
      model.init_params(2);
      const double at_once = model.evaluate(whole);
      model.reset_state();
      const double halves = model.evaluate(head) + model.evaluate(tail);
      EXPECT_NEAR(at_once, halves, 1e-12 * at_once);

      model.reset_state();
      double stepped = 0;
      std::vector<double> logits(static_cast<std::size_t>(B) * 9);
      for (int t = 0; t < 8; ++t) {
        model.step_logits(&whole.inputs[static_cast<std::size_t>(t) * B], B, logits.data());
        for (int b = 0; b < B; ++b) {
          const double* z = &logits[static_cast<std::size_t>(b) * 9];
          double sum = 0;
          for (int k = 0; k < 9; ++k) sum += std::exp(z[k]);
          stepped += std::log(sum) - z[whole.targets[static_cast<std::size_t>(t) * B + b]];
        }
      }
      EXPECT_NEAR(at_once, stepped, 1e-12 * at_once) << abc::cell_kind_name(cell) << " B=" << B;
    }
  }
}

// evaluate() ignores the dropout setting; forward_backward applies it, with masks
// that depend on (seed, step) only.
TEST(CpuModel, DropoutOnlyInTrainingAndDeterministic) {
  const Chunk chunk = random_chunk(5, 3, 7, 9);
  CpuModel<double> plain(ModelConfig{CellKind::kLstm, 7, 8, 2, 0.0f}, 3, 5);
  CpuModel<double> dropped(ModelConfig{CellKind::kLstm, 7, 8, 2, 0.5f}, 3, 5);
  plain.init_params(4);
  dropped.init_params(4);

  EXPECT_EQ(plain.evaluate(chunk), dropped.evaluate(chunk));  // bit for bit

  // p = 0 is the identity: the training loss equals the evaluation loss.
  plain.reset_state();
  const double eval_mean = plain.evaluate(chunk) / 15.0;
  plain.reset_state();
  EXPECT_NEAR(plain.forward_backward(chunk, 1, 0), eval_mean, 1e-14);

  dropped.reset_state();
  const double a = dropped.forward_backward(chunk, 1, 0);
  const std::vector<double> ga(dropped.grads(), dropped.grads() + dropped.num_params());
  dropped.reset_state();
  const double again = dropped.forward_backward(chunk, 1, 0);
  dropped.reset_state();
  const double other_step = dropped.forward_backward(chunk, 1, 1);
  dropped.reset_state();
  const double other_seed = dropped.forward_backward(chunk, 2, 0);
  EXPECT_NE(a, eval_mean);
  EXPECT_EQ(a, again);
  EXPECT_NE(a, other_step);
  EXPECT_NE(a, other_seed);
  dropped.reset_state();
  dropped.forward_backward(chunk, 1, 0);
  for (std::size_t k = 0; k < ga.size(); ++k) ASSERT_EQ(dropped.grads()[k], ga[k]) << k;
}

TEST(CpuModel, RejectsChunksThatDoNotFit) {
  CpuModel<float> model(ModelConfig{CellKind::kRnn, 5, 4, 1, 0.0f}, 2, 3);
  EXPECT_THROW(model.evaluate(random_chunk(4, 2, 5, 1)), abc::Error);  // T > max_seq
  EXPECT_THROW(model.evaluate(random_chunk(3, 3, 5, 1)), abc::Error);  // B > max_batch
  Chunk bad = random_chunk(3, 2, 5, 1);
  bad.targets[2] = 5;
  EXPECT_THROW(model.evaluate(bad), abc::Error);
  const abc::TokenId tokens[2] = {0, -1};
  float logits[10];
  EXPECT_THROW(model.step_logits(tokens, 2, logits), abc::Error);
  EXPECT_THROW(CpuModel<float>(ModelConfig{CellKind::kRnn, 5, 4, 1, 1.0f}, 2, 3), abc::Error);
  EXPECT_THROW(CpuModel<float>(ModelConfig{CellKind::kRnn, 1, 4, 1, 0.0f}, 2, 3), abc::Error);
  EXPECT_THROW(abc::parse_cell_kind("GRU"), abc::Error);
  EXPECT_THROW(abc::parse_cell_kind("lstm2"), abc::Error);
  EXPECT_EQ(abc::parse_cell_kind("rnn"), CellKind::kRnn);
  EXPECT_EQ(abc::parse_cell_kind("gru"), CellKind::kGru);
  try {
    abc::parse_cell_kind("transformer");
  } catch (const abc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lstm, rnn or gru"), std::string::npos) << e.what();
  }
}

TEST(ParamLayout, TensorsTileTheBlockInOrder) {
  const abc::ParamLayout layout(ModelConfig{CellKind::kLstm, 10, 6, 2, 0.0f});
  const std::vector<abc::ParamTensor>& ts = layout.tensors();
  ASSERT_EQ(ts.size(), 8u);
  std::size_t offset = 0;
  for (const auto& t : ts) {
    EXPECT_EQ(t.offset, offset) << t.name;
    offset += t.size();
  }
  EXPECT_EQ(offset, layout.total());
  EXPECT_EQ(layout.layer(0).w_in.rows, 10);  // token table [V, 4H]
  EXPECT_EQ(layout.layer(0).w_in.cols, 24);
  EXPECT_EQ(layout.layer(1).w_in.rows, 6);
  EXPECT_EQ(layout.w_out().rows, 6);
  EXPECT_EQ(layout.w_out().cols, 10);
  EXPECT_EQ(layout.total(), 10u * 24 + 6 * 24 + 24 + 6 * 24 + 6 * 24 + 24 + 6 * 10 + 10);
  const abc::ParamLayout rnn(ModelConfig{CellKind::kRnn, 10, 6, 1, 0.0f});
  EXPECT_EQ(rnn.total(), 10u * 6 + 6 * 6 + 6 + 6 * 10 + 10);
  EXPECT_EQ(rnn.layer(0).rec_bias.size(), 0u);
  // GRU: 3 gates and a recurrent bias after the input bias.
  const abc::ParamLayout gru(ModelConfig{CellKind::kGru, 10, 6, 1, 0.0f});
  ASSERT_EQ(gru.tensors().size(), 6u);
  EXPECT_EQ(gru.layer(0).rec_bias.name, "layer0.rec_bias");
  EXPECT_EQ(gru.layer(0).rec_bias.offset, gru.layer(0).bias.offset + 18);
  EXPECT_EQ(gru.total(), 10u * 18 + 6 * 18 + 18 + 18 + 6 * 10 + 10);
}

// The init is the same on every platform: std::mt19937_64's output is fixed by the
// standard (first draw of seed 5489 is 14514284786278117030) and the mapping is ours.
TEST(ParamLayout, InitIsDeterministicAndBounded) {
  const abc::ParamLayout layout(ModelConfig{CellKind::kLstm, 10, 16, 2, 0.0f});
  std::vector<double> d(layout.total());
  std::vector<float> f(layout.total());
  abc::init_param_block(layout, 5489, d.data());
  abc::init_param_block(layout, 5489, f.data());
  const double first = (static_cast<double>(14514284786278117030ull >> 11) * 0x1.0p-53 * 2 - 1) * 0.25;
  EXPECT_EQ(d[0], first);
  double lo = 1, hi = -1;
  for (std::size_t k = 0; k < d.size(); ++k) {
    ASSERT_EQ(f[k], static_cast<float>(d[k]));
    lo = std::min(lo, d[k]);
    hi = std::max(hi, d[k]);
  }
  EXPECT_GE(lo, -0.25);
  EXPECT_LT(hi, 0.25);
  EXPECT_LT(lo, -0.24);  // the whole range is used
  EXPECT_GT(hi, 0.24);
  std::vector<double> other(layout.total());
  abc::init_param_block(layout, 5490, other.data());
  EXPECT_NE(other, d);
}

}  // namespace
