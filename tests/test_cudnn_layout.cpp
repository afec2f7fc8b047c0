// The mapping between our parameter layout and cuDNN's weight space (cudnn_layout.hpp),
// on the CPU: cuDNN's documented ids, a pack/unpack round trip, and that the packed
// weights compute the same gate pre-activations as ours (z = W x + bW + R h + bR per
// gate, as cuDNN defines it).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "abc/cudnn_layout.hpp"
#include "abc/model.hpp"

namespace {

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

// A stand-in for cudnnGetRNNWeightParams: every (layer, id, bias) gets its own block of
// a flat space, in first-asked order (the mapping must not depend on where cuDNN puts them).
struct FakeWeightSpace {
  explicit FakeWeightSpace(const abc::ParamLayout& layout) : layout(layout) {}
  std::size_t offset(int layer, int lin_id, bool bias) {
    const auto key = std::make_tuple(layer, lin_id, bias);
    auto it = offsets.find(key);
    if (it != offsets.end()) return it->second;
    const int H = layout.config().hidden, G = layout.gates();
    const int in = bias ? 1 : (lin_id < G ? layout.layer(layer).w_in.rows : H);
    const std::size_t at = total;
    total += sz(H) * sz(in) + 3;  // a gap, so an off-by-one shows
    offsets[key] = at;
    return at;
  }
  const abc::ParamLayout& layout;
  std::map<std::tuple<int, int, bool>, std::size_t> offsets;
  std::size_t total = 0;
};

std::vector<float> random_block(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

TEST(CudnnLayout, LinearLayerIdsFollowCudnnsDocumentedOrder) {
  // LSTM: 0..3 input matrices of i, f, g (c'), o; 4..7 the recurrent ones.
  for (int g = 0; g < 4; ++g) {
    EXPECT_EQ(abc::cudnn_lin_id(4, g, false), g);
    EXPECT_EQ(abc::cudnn_lin_id(4, g, true), 4 + g);
  }
  // tanh RNN: 0 input, 1 recurrent.
  EXPECT_EQ(abc::cudnn_lin_id(1, 0, false), 0);
  EXPECT_EQ(abc::cudnn_lin_id(1, 0, true), 1);
}

TEST(CudnnLayout, PackUnpackRoundTripsEveryLayerParameter) {
  for (abc::CellKind cell : {abc::CellKind::kLstm, abc::CellKind::kRnn}) {
    const abc::ParamLayout layout({cell, 13, 5, 3, 0.0f});
    FakeWeightSpace space(layout);
    const auto slots = abc::cudnn_slots(layout, 0, 3, [&](int l, int id, bool b) { return space.offset(l, id, b); });
    EXPECT_EQ(slots.size(), sz(3 * 2 * layout.gates() * 2));  // layers x (W, R) x gates x (matrix, bias)

    const std::vector<float> ours = random_block(layout.total(), 1);
    std::vector<float> theirs(space.total, 7.0f);
    abc::cudnn_pack_host(slots, ours.data(), theirs.data());
    std::vector<float> back(layout.total(), -99.0f);
    abc::cudnn_unpack_host(slots, theirs.data(), back.data());
    for (const abc::ParamTensor& t : layout.tensors()) {
      const bool recurrent_layer_tensor = t.name.rfind("layer", 0) == 0;
      for (std::size_t k = t.offset; k < t.offset + t.size(); ++k) {
        // Every recurrent-layer element comes back; the output layer is not cuDNN's.
        ASSERT_EQ(back[k], recurrent_layer_tensor ? ours[k] : -99.0f) << t.name << " element " << k - t.offset;
      }
    }
    // cuDNN's second bias (bR) is packed as zeros: our single bias is its bW.
    for (const abc::CudnnSlot& s : slots) {
      if (!s.zero) continue;
      EXPECT_TRUE(s.bias);
      for (std::size_t e = 0; e < s.size(); ++e) ASSERT_EQ(theirs[s.theirs + e], 0.0f);
    }
  }
}

// z_g[j] = sum_k W_g[j][k] x[k] + bW_g[j] + sum_k R_g[j][k] h[k] + bR_g[j] (cuDNN) must be
// z[g*H + j] = (x @ w_in + h @ w_rec + bias)[g*H + j] (ours), for every layer.
TEST(CudnnLayout, PackedWeightsComputeOurGatePreactivations) {
  for (abc::CellKind cell : {abc::CellKind::kLstm, abc::CellKind::kRnn}) {
    const abc::ParamLayout layout({cell, 11, 6, 2, 0.0f});
    const int H = layout.config().hidden, G = layout.gates(), GH = G * H;
    FakeWeightSpace space(layout);
    const auto slots = abc::cudnn_slots(layout, 0, 2, [&](int l, int id, bool b) { return space.offset(l, id, b); });
    const std::vector<float> ours = random_block(layout.total(), 2);
    std::vector<float> theirs(space.total);
    abc::cudnn_pack_host(slots, ours.data(), theirs.data());

    for (int l = 0; l < 2; ++l) {
      const abc::LayerParams& lp = layout.layer(l);
      const int In = lp.w_in.rows;
      const std::vector<float> x = random_block(sz(In), 10 + l), h = random_block(sz(H), 20 + l);
      for (int g = 0; g < G; ++g) {
        const float* W = theirs.data() + space.offset(l, abc::cudnn_lin_id(G, g, false), false);
        const float* bW = theirs.data() + space.offset(l, abc::cudnn_lin_id(G, g, false), true);
        const float* R = theirs.data() + space.offset(l, abc::cudnn_lin_id(G, g, true), false);
        const float* bR = theirs.data() + space.offset(l, abc::cudnn_lin_id(G, g, true), true);
        for (int j = 0; j < H; ++j) {
          double cudnn = bW[j] + bR[j], mine = ours[lp.bias.offset + sz(g * H + j)];
          for (int k = 0; k < In; ++k) {
            cudnn += static_cast<double>(W[sz(j) * sz(In) + sz(k)]) * x[sz(k)];
            mine += static_cast<double>(ours[lp.w_in.offset + sz(k) * sz(GH) + sz(g * H + j)]) * x[sz(k)];
          }
          for (int k = 0; k < H; ++k) {
            cudnn += static_cast<double>(R[sz(j) * sz(H) + sz(k)]) * h[sz(k)];
            mine += static_cast<double>(ours[lp.w_rec.offset + sz(k) * sz(GH) + sz(g * H + j)]) * h[sz(k)];
          }
          ASSERT_NEAR(cudnn, mine, 1e-12) << abc::cell_kind_name(cell) << " layer " << l << " gate " << g << " unit "
                                         << j;
        }
      }
    }
  }
}

// cuDNN's gradient of W_g[j][k] is ours of w_in[k][g*H + j]; of bW_g[j] ours of bias[g*H + j].
TEST(CudnnLayout, UnpackPlacesGradientsWhereOurBackwardWould) {
  const abc::ParamLayout layout({abc::CellKind::kLstm, 7, 3, 1, 0.0f});
  const int H = 3, GH = 12;
  FakeWeightSpace space(layout);
  const auto slots = abc::cudnn_slots(layout, 0, 1, [&](int l, int id, bool b) { return space.offset(l, id, b); });
  const std::vector<float> dtheirs = random_block(space.total, 3);
  std::vector<float> dours(layout.total(), 0.0f);
  abc::cudnn_unpack_host(slots, dtheirs.data(), dours.data());
  const abc::LayerParams& lp = layout.layer(0);
  for (int g = 0; g < 4; ++g) {
    const std::size_t W = space.offset(0, g, false), bW = space.offset(0, g, true), R = space.offset(0, 4 + g, false);
    for (int j = 0; j < H; ++j) {
      EXPECT_EQ(dours[lp.bias.offset + sz(g * H + j)], dtheirs[bW + sz(j)]);
      for (int k = 0; k < 7; ++k) {
        EXPECT_EQ(dours[lp.w_in.offset + sz(k) * GH + sz(g * H + j)], dtheirs[W + sz(j) * 7 + sz(k)]);
      }
      for (int k = 0; k < H; ++k) {
        EXPECT_EQ(dours[lp.w_rec.offset + sz(k) * GH + sz(g * H + j)], dtheirs[R + sz(j) * H + sz(k)]);
      }
    }
  }
}

TEST(CudnnLayout, SlotsOfAnUpperLayerStackUseCudnnsOwnLayerNumbers) {
  const abc::ParamLayout layout({abc::CellKind::kRnn, 9, 4, 3, 0.0f});
  std::vector<int> layers_asked;
  const auto slots = abc::cudnn_slots(layout, 1, 2, [&](int l, int, bool) {
    layers_asked.push_back(l);
    return std::size_t{0};
  });
  ASSERT_EQ(slots.size(), 8u);  // 2 layers x (W, R) x (matrix, bias)
  for (int l : layers_asked) EXPECT_TRUE(l == 0 || l == 1);
  EXPECT_EQ(slots.front().ours, layout.layer(1).w_in.offset);
  EXPECT_EQ(slots.front().in, 4);  // layer 1's input is H wide
}

}  // namespace
