// Adam and clipping against values worked out from PyTorch's formulas, and a small
// learning run of the CPU model.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "abc/cell_math.hpp"
#include "abc/cpu_model.hpp"
#include "abc/error.hpp"
#include "abc/optimizer.hpp"

namespace {

// Three elements, three steps, lr 0.1, no clipping. Step 1 moves each element by
// lr * g / (|g| + eps) (m_hat = g, v_hat = g^2); steps 2 and 3 were computed in
// double from torch.optim.Adam's update, written out independently of this code:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
const double kGrads[3][3] = {{0.5, -1.0, 0.0}, {0.1, 0.3, -2.0}, {-0.4, 0.2, 1.5}};
const double kExpected[3][3] = {
    {0.90000000199999997, -1.900000001, 0.5},
    {0.81969590638465173, -1.8572151424292265, 0.57441368183064556},
    {0.81032596635821164, -1.8367640907137168, 0.58208189919262154},
};

template <class S>
void run_adam_against_reference(double tol) {
  abc::AdamConfig config;
  config.lr = 0.1;
  config.clip = 0.0;
  abc::Adam<S> adam(3, config);
  S params[3] = {S(1.0), S(-2.0), S(0.5)};
  for (int t = 0; t < 3; ++t) {
    const S g[3] = {S(kGrads[t][0]), S(kGrads[t][1]), S(kGrads[t][2])};
    adam.step(params, g);
    EXPECT_EQ(adam.steps(), t + 1);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(params[k], kExpected[t][k], tol) << "step " << t + 1 << " k " << k;
  }
}

// Double agrees to rounding; float to its rounding of the update (~1e-7).
TEST(Adam, MatchesReferenceDouble) { run_adam_against_reference<double>(1e-14); }
TEST(Adam, MatchesReferenceFloat) { run_adam_against_reference<float>(1e-6); }

// Gradient (3, 4) has norm 5. With clip 1 every element is scaled by
// 1 / (5 + 1e-6), which shows in the first moment: m = (1 - b1) * g * scale.
TEST(Adam, ClipsByGlobalNormAndReturnsTheNormBeforeClipping) {
  const double g[2] = {3.0, 4.0};
  for (double clip : {1.0, 0.0, -1.0, 10.0}) {
    abc::AdamConfig config;
    config.clip = clip;
    abc::Adam<double> adam(2, config);
    double params[2] = {0.0, 0.0};
    EXPECT_DOUBLE_EQ(adam.step(params, g), 5.0) << "clip " << clip;
    const double scale = clip == 1.0 ? 1.0 / (5.0 + 1e-6) : 1.0;
    EXPECT_NEAR(adam.m()[0], 0.1 * 3.0 * scale, 1e-15) << "clip " << clip;
    EXPECT_NEAR(adam.m()[1], 0.1 * 4.0 * scale, 1e-15) << "clip " << clip;
    EXPECT_NEAR(adam.v()[1], 0.001 * 16.0 * scale * scale, 1e-15) << "clip " << clip;
  }
  EXPECT_DOUBLE_EQ(abc::cell::clip_scale(5.0, 1.0), 1.0 / (5.0 + 1e-6));
  EXPECT_DOUBLE_EQ(abc::cell::clip_scale(0.5, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(abc::cell::clip_scale(5.0, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(abc::global_norm(g, 2), 5.0);
}

TEST(Adam, NonFiniteGradientThrowsAndChangesNothing) {
  abc::Adam<float> adam(2, abc::AdamConfig{});
  float params[2] = {1.0f, 2.0f};
  const float g[2] = {0.1f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_THROW(adam.step(params, g), abc::Error);
  EXPECT_EQ(params[0], 1.0f);
  EXPECT_EQ(adam.steps(), 0);
  EXPECT_EQ(adam.m()[0], 0.0f);
}

// Period-7 sequence 0 1 2 1 3 1 4: the token after a 1 depends on the one before it,
// so the model must use its state. Unigram entropy is 1.475 nats; 150 Adam steps on
// 4 streams x 8 steps bring the training loss below 0.15 and the held-out chunk
// (evaluated after the training stream) below 0.15 nats per token too.
TEST(Learning, LossFallsWellBelowUnigramEntropy) {
  const abc::TokenId pattern[7] = {0, 1, 2, 1, 3, 1, 4};
  const double unigram = -(3.0 / 7 * std::log(3.0 / 7) + 4.0 / 7 * std::log(1.0 / 7));
  ASSERT_NEAR(unigram, 1.4751, 1e-4);
  const int B = 4, T = 8, V = 5;
  auto chunk_at = [&](int k) {
    abc::Chunk chunk;
    chunk.T = T;
    chunk.B = B;
    for (int t = 0; t < T; ++t)
      for (int b = 0; b < B; ++b) {
        const int pos = k * T + t + 3 * b;  // streams start at different phases
        chunk.inputs.push_back(pattern[pos % 7]);
        chunk.targets.push_back(pattern[(pos + 1) % 7]);
      }
    return chunk;
  };
  for (abc::CellKind cell : {abc::CellKind::kLstm, abc::CellKind::kRnn}) {
    abc::CpuModel<float> model(abc::ModelConfig{cell, V, 16, 1, 0.1f}, B, T);
    model.init_params(1);
    abc::AdamConfig config;
    config.lr = 0.02;
    abc::Adam<float> adam(model.num_params(), config);
    double first = 0, last = 0;
    for (int k = 0; k < 150; ++k) {
      const double loss = model.forward_backward(chunk_at(k), 7, static_cast<std::uint64_t>(k));
      adam.step(model.params(), model.grads());
      if (k == 0) first = loss;
      last = loss;
    }
    EXPECT_GT(first, 1.2) << abc::cell_kind_name(cell);
    EXPECT_LT(last, 0.15) << abc::cell_kind_name(cell);
    const double held_out = model.evaluate(chunk_at(150)) / (B * T);
    EXPECT_LT(held_out, 0.15) << abc::cell_kind_name(cell);
  }
}

}  // namespace
