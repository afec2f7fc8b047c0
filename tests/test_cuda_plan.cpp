// The CUDA backend's host-side arithmetic (plan.hpp), checked on the CPU: arena layout,
// token staging and per-token row lists, launch shapes, the row-major GEMM mapping and
// the allocation failure message. None of it needs a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "abc/cuda/plan.hpp"
#include "abc/error.hpp"

namespace {

using abc::cuda::ArenaPlan;
using abc::cuda::ArenaRegion;

std::size_t find_bytes(const ArenaPlan& plan, const std::string& name) {
  for (const ArenaRegion& r : plan.regions) {
    if (r.name == name) return r.bytes;
  }
  ADD_FAILURE() << "no region " << name;
  return 0;
}

bool has_region(const ArenaPlan& plan, const std::string& name) {
  return std::any_of(plan.regions.begin(), plan.regions.end(), [&](const ArenaRegion& r) { return r.name == name; });
}

void expect_regions_disjoint_and_aligned(const ArenaPlan& plan) {
  std::vector<ArenaRegion> sorted = plan.regions;
  std::sort(sorted.begin(), sorted.end(),
            [](const ArenaRegion& a, const ArenaRegion& b) { return a.offset < b.offset; });
  for (std::size_t k = 0; k < sorted.size(); ++k) {
    EXPECT_EQ(sorted[k].offset % abc::cuda::kArenaAlign, 0u) << sorted[k].name;
    EXPECT_GT(sorted[k].bytes, 0u) << sorted[k].name;
    EXPECT_LE(sorted[k].offset + sorted[k].bytes, plan.bytes) << sorted[k].name;
    if (k + 1 < sorted.size()) {
      EXPECT_LE(sorted[k].offset + sorted[k].bytes, sorted[k + 1].offset)
          << sorted[k].name << " overlaps " << sorted[k + 1].name;
    }
  }
}

TEST(CudaPlan, ArenaHoldsEveryBufferOfAnLstmWithDropout) {
  const abc::ModelConfig config{abc::CellKind::kLstm, 97, 100, 2, 0.25f};
  const int B = 3, T = 5, H = 100, GH = 400, V = 97;
  const std::size_t rows = T * B, f = sizeof(float);
  const ArenaPlan plan = abc::cuda::plan_arena(config, B, T);
  expect_regions_disjoint_and_aligned(plan);
  ASSERT_EQ(plan.layers.size(), 2u);
  for (int l = 0; l < 2; ++l) {
    const std::string p = "layer" + std::to_string(l) + ".";
    const abc::cuda::LayerSlots& s = plan.layers[static_cast<std::size_t>(l)];
    EXPECT_TRUE(s.has_c);
    EXPECT_TRUE(s.has_dropout);
    EXPECT_EQ(find_bytes(plan, p + "gates"), rows * GH * f);
    EXPECT_EQ(find_bytes(plan, p + "h"), (rows + B) * H * f);  // T+1 slots of [B, H]
    EXPECT_EQ(find_bytes(plan, p + "c"), (rows + B) * H * f);
    EXPECT_EQ(find_bytes(plan, p + "mask"), rows * H * f);
    EXPECT_EQ(find_bytes(plan, p + "dropped"), rows * H * f);
    EXPECT_EQ(find_bytes(plan, p + "state_h"), std::size_t(B) * H * f);
    EXPECT_EQ(find_bytes(plan, p + "state_c"), std::size_t(B) * H * f);
  }
  EXPECT_EQ(find_bytes(plan, "logits"), rows * V * f);
  EXPECT_EQ(find_bytes(plan, "dgates"), rows * GH * f);
  EXPECT_EQ(find_bytes(plan, "dy"), rows * H * f);
  EXPECT_EQ(find_bytes(plan, "dc"), std::size_t(B) * H * f);
  EXPECT_EQ(find_bytes(plan, "row_loss"), rows * f);
  EXPECT_EQ(find_bytes(plan, "norm_partials"), abc::cuda::kMaxNormBlocks * sizeof(double));
  EXPECT_EQ(find_bytes(plan, "loss_acc"), sizeof(abc::cuda::LossAccumulator));
  EXPECT_EQ(find_bytes(plan, "opt_state"), sizeof(abc::cuda::OptimizerState));
  EXPECT_EQ(plan.token_capacity, abc::cuda::kStepConstantInts + 3 * rows + V + 1);
  EXPECT_EQ(find_bytes(plan, "tokens"), plan.token_capacity * sizeof(std::int32_t));
  EXPECT_EQ(find_bytes(plan, "next_tokens"), std::size_t(B) * sizeof(std::int32_t));
  // The named offsets are the regions' offsets.
  EXPECT_EQ(plan.regions.front().offset, 0u);
  EXPECT_EQ(plan.layers[1].state_c, plan.regions[13].offset);
  EXPECT_EQ(plan.logits, plan.regions[14].offset);
  EXPECT_EQ(plan.next_tokens, plan.regions.back().offset);
}

TEST(CudaPlan, RnnWithoutDropoutHasNoCellOrMaskBuffers) {
  const abc::ModelConfig config{abc::CellKind::kRnn, 11, 7, 1, 0.0f};
  const ArenaPlan plan = abc::cuda::plan_arena(config, 64, 100);
  expect_regions_disjoint_and_aligned(plan);
  ASSERT_EQ(plan.layers.size(), 1u);
  EXPECT_FALSE(plan.layers[0].has_c);
  EXPECT_FALSE(plan.layers[0].has_dropout);
  for (const char* name : {"layer0.c", "layer0.state_c", "layer0.mask", "layer0.dropped"}) {
    EXPECT_FALSE(has_region(plan, name)) << name;
  }
  EXPECT_EQ(find_bytes(plan, "layer0.gates"), 6400u * 7 * sizeof(float));  // G = 1
}

TEST(CudaPlan, ArenaRejectsBadLimits) {
  const abc::ModelConfig config{abc::CellKind::kLstm, 11, 8, 1, 0.0f};
  EXPECT_THROW(abc::cuda::plan_arena(config, 0, 5), abc::Error);
  EXPECT_THROW(abc::cuda::plan_arena(config, 5, 0), abc::Error);
  EXPECT_THROW(abc::cuda::plan_arena(config, 1 << 16, 1 << 16), abc::Error);  // rows overflow int
  abc::ModelConfig bad = config;
  bad.hidden = 0;
  EXPECT_THROW(abc::cuda::plan_arena(bad, 1, 1), abc::Error);
}

TEST(CudaPlan, TokenBlockPacksInputsTargetsAndRowLists) {
  const abc::cuda::TokenBlock b = abc::cuda::token_block(15, 11);
  EXPECT_EQ(abc::cuda::kStepConstantInts, 8u);
  EXPECT_EQ(b.constants, 0u);
  EXPECT_EQ(b.inputs, 8u);
  EXPECT_EQ(b.targets, 23u);
  EXPECT_EQ(b.csr_offsets, 38u);
  EXPECT_EQ(b.csr_rows, 50u);  // after V+1 = 12 offsets
  EXPECT_EQ(b.ints, 65u);
}

TEST(CudaPlan, StepConstantsCarryTheWholeSamplingSeed) {
  abc::cuda::StepConstants c{};
  const std::uint64_t seed = 0x0123456789abcdefull;
  c.sample_seed[0] = static_cast<std::uint32_t>(seed);
  c.sample_seed[1] = static_cast<std::uint32_t>(seed >> 32);
  EXPECT_EQ(abc::cuda::sample_seed_of(c), seed);
}

// The CSR lists against a direct grouping, over random chunks and the edge cases.
TEST(CudaPlan, TokenCsrGroupsRowsByTokenInAscendingOrder) {
  std::mt19937 rng(5);
  for (int V : {2, 7, 100}) {
    for (std::size_t n : {std::size_t(1), std::size_t(5), std::size_t(300)}) {
      std::vector<abc::TokenId> tokens(n);
      for (auto& t : tokens) t = static_cast<abc::TokenId>(rng() % static_cast<unsigned>(V));
      std::vector<std::int32_t> offsets(static_cast<std::size_t>(V) + 1, -1), rows(n, -1);
      abc::cuda::build_token_csr(tokens.data(), n, V, offsets.data(), rows.data());
      ASSERT_EQ(offsets[0], 0);
      ASSERT_EQ(static_cast<std::size_t>(offsets[static_cast<std::size_t>(V)]), n);
      for (int v = 0; v < V; ++v) {
        std::vector<std::int32_t> expected;
        for (std::size_t r = 0; r < n; ++r) {
          if (tokens[r] == v) expected.push_back(static_cast<std::int32_t>(r));
        }
        const std::vector<std::int32_t> got(rows.begin() + offsets[static_cast<std::size_t>(v)],
                                            rows.begin() + offsets[static_cast<std::size_t>(v) + 1]);
        EXPECT_EQ(got, expected) << "V=" << V << " n=" << n << " token " << v;
      }
    }
  }
}

TEST(CudaPlan, TokenCsrAllOneTokenAndOutOfRangeIds) {
  const std::vector<abc::TokenId> same(6, 3);
  std::vector<std::int32_t> offsets(5), rows(6);
  abc::cuda::build_token_csr(same.data(), same.size(), 4, offsets.data(), rows.data());
  EXPECT_EQ(offsets, (std::vector<std::int32_t>{0, 0, 0, 0, 6}));
  EXPECT_EQ(rows, (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5}));

  const std::vector<abc::TokenId> bad{0, 4};
  try {
    abc::cuda::build_token_csr(bad.data(), bad.size(), 4, offsets.data(), rows.data());
    FAIL() << "id 4 of a vocabulary of 4 was accepted";
  } catch (const abc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 4"), std::string::npos) << e.what();
  }
  const std::vector<abc::TokenId> negative{-1};
  EXPECT_THROW(abc::check_token_ids(negative.data(), 1, 4, "target"), abc::Error);
}

TEST(CudaPlan, ChunkMustFitTheLimits) {
  abc::Chunk c;
  c.T = 2;
  c.B = 3;
  c.inputs.assign(6, 0);
  c.targets.assign(6, 0);
  EXPECT_NO_THROW(abc::check_chunk_fits(c, 3, 2));
  EXPECT_THROW(abc::check_chunk_fits(c, 2, 2), abc::Error);  // B too large
  EXPECT_THROW(abc::check_chunk_fits(c, 3, 1), abc::Error);  // T too large
  c.targets.pop_back();
  EXPECT_THROW(abc::check_chunk_fits(c, 3, 2), abc::Error);  // sizes disagree with T*B
}

TEST(CudaPlan, LaunchShapes) {
  using abc::cuda::grid_for;
  EXPECT_EQ(grid_for(1), 1u);
  EXPECT_EQ(grid_for(256), 1u);
  EXPECT_EQ(grid_for(257), 2u);
  EXPECT_EQ(grid_for(std::size_t(256) * abc::cuda::kMaxGrid * 10), abc::cuda::kMaxGrid);  // grid-stride beyond
  EXPECT_EQ(grid_for(100, 64), 2u);
  // One thread per element up to the cap; past it, a full grid (the kernels stride).
  for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(1000), std::size_t(3) << 22}) {
    const std::size_t blocks = grid_for(n);
    if (n <= std::size_t(abc::cuda::kThreads) * abc::cuda::kMaxGrid) {
      EXPECT_GE(blocks * abc::cuda::kThreads, n);
      EXPECT_LT((blocks - 1) * abc::cuda::kThreads, n);
    } else {
      EXPECT_EQ(blocks, abc::cuda::kMaxGrid);
    }
  }

  using abc::cuda::pow2_threads;
  EXPECT_EQ(pow2_threads(1, 256), 32);
  EXPECT_EQ(pow2_threads(32, 256), 32);
  EXPECT_EQ(pow2_threads(33, 256), 64);
  EXPECT_EQ(pow2_threads(97, 256), 128);
  EXPECT_EQ(pow2_threads(100000, 256), 256);

  using abc::cuda::norm_blocks;
  EXPECT_EQ(norm_blocks(0), 1);
  EXPECT_EQ(norm_blocks(1), 1);
  EXPECT_EQ(norm_blocks(4096), 1);
  EXPECT_EQ(norm_blocks(4097), 2);
  EXPECT_EQ(norm_blocks(std::size_t(1) << 30), abc::cuda::kMaxNormBlocks);
}

// Naive references: row-major C = op(A) op(B), and column-major BLAS sgemm as specified.
void row_major_gemm(bool ta, bool tb, int M, int N, int K, const std::vector<float>& A, int lda,
                    const std::vector<float>& B, int ldb, std::vector<float>& C, int ldc) {
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int k = 0; k < K; ++k) {
        const float a = ta ? A[static_cast<std::size_t>(k * lda + i)] : A[static_cast<std::size_t>(i * lda + k)];
        const float b = tb ? B[static_cast<std::size_t>(j * ldb + k)] : B[static_cast<std::size_t>(k * ldb + j)];
        s += static_cast<double>(a) * b;
      }
      C[static_cast<std::size_t>(i * ldc + j)] = static_cast<float>(s);
    }
  }
}
// C (m x n, column-major, ldc) = op(X) (m x k) op(Y) (k x n).
void column_major_sgemm(bool tx, bool ty, int m, int n, int k, const std::vector<float>& X, int ldx,
                        const std::vector<float>& Y, int ldy, std::vector<float>& C, int ldc) {
  auto x = [&](int i, int p) {
    return tx ? X[static_cast<std::size_t>(i * ldx + p)] : X[static_cast<std::size_t>(p * ldx + i)];
  };
  auto y = [&](int p, int j) {
    return ty ? Y[static_cast<std::size_t>(p * ldy + j)] : Y[static_cast<std::size_t>(j * ldy + p)];
  };
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int p = 0; p < k; ++p) s += static_cast<double>(x(i, p)) * y(p, j);
      C[static_cast<std::size_t>(j * ldc + i)] = static_cast<float>(s);
    }
  }
}

TEST(CudaPlan, RowMajorGemmMapsOntoColumnMajorBlas) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  const int M = 5, N = 3, K = 4;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const int lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
      std::vector<float> A(static_cast<std::size_t>(M * K)), B(static_cast<std::size_t>(K * N));
      for (auto& v : A) v = u(rng);
      for (auto& v : B) v = u(rng);
      std::vector<float> expected(static_cast<std::size_t>(M * N)), got(expected.size());
      row_major_gemm(ta, tb, M, N, K, A, lda, B, ldb, expected, ldc);
      const abc::cuda::ColumnMajorGemm g = abc::cuda::column_major_gemm(ta, tb, M, N, K);
      column_major_sgemm(g.trans_first, g.trans_second, g.m, g.n, g.k, B, ldb, A, lda, got, ldc);
      EXPECT_EQ(got, expected) << "trans_a " << ta << " trans_b " << tb;
    }
  }
}

TEST(CudaPlan, AllocationFailureSaysHowMuchAndWhatToLower) {
  const std::string m = abc::cuda::allocation_failure_message(std::size_t(3) << 30, "the activations",
                                                              "cudaErrorMemoryAllocation: out of memory",
                                                              std::size_t(1) << 30, std::size_t(80) << 30);
  EXPECT_NE(m.find("3072 MiB"), std::string::npos) << m;
  EXPECT_NE(m.find("the activations"), std::string::npos) << m;
  EXPECT_NE(m.find("1024 MiB free of 81920 MiB"), std::string::npos) << m;
  EXPECT_NE(m.find("--batch"), std::string::npos) << m;
  EXPECT_NE(m.find("--seq"), std::string::npos) << m;
  EXPECT_NE(m.find("--hidden"), std::string::npos) << m;
}

}  // namespace
