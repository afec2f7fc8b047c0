// Every CUDA op alone against a CPU reference written with the same cell_math /
// philox / sampling_math functions, on random data over awkward shapes
// (H in {1, 7, 100, 128, 257}, B in {1, 3, 64}, T in {1, 5, 100}).
//
// Tolerances, and why:
//  - gathers, copies, broadcasts, dropout masks and products, the table gradient and
//    column sums: exact or 1 ulp (the kernels add in the CPU's order);
//  - cell pointwise: 1e-5 absolute (device expf is within 2 ulp of glibc's, and
//    nvcc fuses multiply-adds);
//  - softmax cross-entropy: row losses 1e-5 abs + 1e-6 rel, gradients 1e-5 relative,
//    plus 1e-5 of the 1/rows scale (the row sum is a tree, not a left-to-right loop);
//  - GEMM: 1e-5 * K absolute, inputs in [-1, 1] (summation order);
//  - Adam: parameters 1e-6 abs, moments 1e-5 rel (+1e-8 / 1e-10 abs for m / v: m can
//    cancel to near 0), the norm 1e-10 rel (double sums in another order);
//  - sampling: the same token for at least 99% of the draws (exp in double on both
//    sides; only a uniform within rounding of a CDF step could differ).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "abc/cell_math.hpp"
#include "abc/cells.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/gemm.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cuda/plan.hpp"
#include "abc/optimizer.hpp"
#include "abc/philox.hpp"
#include "abc/sampling_math.hpp"
#include "cuda_test_util.hpp"
#include "gpu_skip.hpp"

namespace {

using abc_test::DeviceArray;
using abc_test::expect_close;
using abc_test::random_floats;
namespace cell = abc::cell;
namespace cuda = abc::cuda;

const int kHidden[] = {1, 7, 100, 128, 257};
const int kBatch[] = {1, 3, 64};
const int kSeq[] = {1, 5, 100};

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

std::vector<std::int32_t> random_tokens(std::size_t n, int V, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::int32_t> t(n);
  for (auto& x : t) x = static_cast<std::int32_t>(rng() % static_cast<unsigned>(V));
  return t;
}

std::string shape(int T, int B, int H) {
  return "T=" + std::to_string(T) + " B=" + std::to_string(B) + " H=" + std::to_string(H);
}

TEST(CudaOps, GemmRowMajorAllTransposes) {
  ABC_SKIP_WITHOUT_GPU();
  cuda::CublasHandle handle(nullptr);
  const int shapes[][3] = {{1, 7, 5}, {64, 257, 100}, {3, 128, 1}, {100, 1, 257}, {15, 400, 128}};
  unsigned seed = 1;
  for (const auto& s : shapes) {
    const int M = s[0], N = s[1], K = s[2];
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const int lda = ta ? M : K, ldb = tb ? K : N;
        const std::vector<float> A = random_floats(sz(M) * sz(K), -1, 1, seed++);
        const std::vector<float> B = random_floats(sz(K) * sz(N), -1, 1, seed++);
        const std::vector<float> C0 = random_floats(sz(M) * sz(N), -1, 1, seed++);
        for (float beta : {0.0f, 1.0f}) {
          std::vector<float> want(C0.size());
          for (int i = 0; i < M; ++i) {
            for (int j = 0; j < N; ++j) {
              double acc = beta * C0[sz(i) * sz(N) + sz(j)];
              for (int k = 0; k < K; ++k) {
                const float a = ta ? A[sz(k) * sz(lda) + sz(i)] : A[sz(i) * sz(lda) + sz(k)];
                const float b = tb ? B[sz(j) * sz(ldb) + sz(k)] : B[sz(k) * sz(ldb) + sz(j)];
                acc += static_cast<double>(a) * b;
              }
              want[sz(i) * sz(N) + sz(j)] = static_cast<float>(acc);
            }
          }
          DeviceArray<float> dA(A), dB(B), dC(C0);
          cuda::gemm_row_major(handle.get(), ta, tb, M, N, K, 1.0f, dA.get(), lda, dB.get(), ldb, beta, dC.get(), N);
          expect_close(dC.download(), want, 1e-5 * K, 0,
                       "gemm M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                           " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " beta=" + std::to_string(beta));
        }
      }
    }
  }
}

TEST(CudaOps, EmbeddingGatherAndBiasBroadcast) {
  ABC_SKIP_WITHOUT_GPU();
  const int V = 97;
  unsigned seed = 10;
  for (int T : kSeq) {
    for (int B : kBatch) {
      for (int H : kHidden) {
        for (int G : {1, 4}) {
          const int N = G * H, rows = T * B;
          const std::vector<std::int32_t> tok = random_tokens(sz(rows), V, seed++);
          const std::vector<float> table = random_floats(sz(V) * sz(N), -1, 1, seed++);
          const std::vector<float> bias = random_floats(sz(N), -1, 1, seed++);
          std::vector<float> want(sz(rows) * sz(N)), want_bias(want.size());
          for (int r = 0; r < rows; ++r) {
            for (int k = 0; k < N; ++k) {
              want[sz(r) * sz(N) + sz(k)] = table[sz(tok[sz(r)]) * sz(N) + sz(k)] + bias[sz(k)];
              want_bias[sz(r) * sz(N) + sz(k)] = bias[sz(k)];
            }
          }
          DeviceArray<std::int32_t> dtok(tok);
          DeviceArray<float> dtable(table), dbias(bias), dz(want.size());
          cuda::embedding_gather(dtok.get(), dtable.get(), dbias.get(), rows, N, dz.get(), nullptr);
          EXPECT_EQ(dz.download(), want) << "gather " << shape(T, B, H) << " G=" << G;
          cuda::bias_broadcast(dbias.get(), rows, N, dz.get(), nullptr);
          EXPECT_EQ(dz.download(), want_bias) << "broadcast " << shape(T, B, H) << " G=" << G;
        }
      }
    }
  }
}

// Every cell's fused step (cell_pointwise_*) against a CPU loop that calls the cell's own
// forward/backward (cells/*.hpp) with its own indexing; backward starts from the CPU
// forward's saved values, so every gate is in its real range.
template <class Cell>
void check_cell_pointwise(unsigned seed) {
  constexpr int G = Cell::kGates;
  const abc::CellKind kind = abc::parse_cell_kind(Cell::kName);
  for (int B : kBatch) {
    for (int H : kHidden) {
      const std::string what = std::string(Cell::kName) + " B=" + std::to_string(B) + " H=" + std::to_string(H);
      const std::size_t n = sz(B) * sz(H), nG = sz(G) * n;
      const std::vector<float> x = random_floats(nG, -4, 4, seed++), u = random_floats(nG, -2, 2, seed++);
      const std::vector<float> h_prev = random_floats(n, -1, 1, seed++), c_prev = random_floats(n, -2, 2, seed++);
      const std::vector<float> dh = random_floats(n, -1, 1, seed++), dc_in = random_floats(n, -1, 1, seed++);
      const std::vector<float> skip_in = random_floats(n, -1, 1, seed++);
      // The CPU reference: unit (b, j), gate g at column g*H + j.
      std::vector<float> saved = x, h(n), c(n), dx(nG), du(nG), dc = dc_in, skip = skip_in;
      for (int b = 0; b < B; ++b) {
        for (int j = 0; j < H; ++j) {
          const std::size_t i = sz(b) * sz(H) + sz(j);
          float xs[G], us[G], dxs[G], dus[G] = {};
          for (int g = 0; g < G; ++g) {
            xs[g] = x[sz(b) * sz(G * H) + sz(g * H + j)];
            us[g] = Cell::kSplitRecurrent ? u[sz(b) * sz(G * H) + sz(g * H + j)] : 0.0f;
          }
          float cs = c_prev[i];
          h[i] = Cell::forward(xs, us, h_prev[i], cs);
          c[i] = cs;
          for (int g = 0; g < G; ++g) saved[sz(b) * sz(G * H) + sz(g * H + j)] = xs[g];
          const float sk = Cell::backward(xs, us, h_prev[i], c_prev[i], c[i], h[i], dh[i], dc[i], dxs, dus);
          for (int g = 0; g < G; ++g) {
            dx[sz(b) * sz(G * H) + sz(g * H + j)] = dxs[g];
            du[sz(b) * sz(G * H) + sz(g * H + j)] = dus[g];
          }
          skip[i] += sk;
        }
      }
      const bool has_c = Cell::kCellState, split = Cell::kSplitRecurrent;
      DeviceArray<float> d_x(x), d_u(u), d_hp(h_prev), d_h(n), d_cp(c_prev), d_c(n);
      cuda::cell_pointwise_forward(kind, d_x.get(), split ? d_u.get() : nullptr, d_hp.get(), d_h.get(),
                                   has_c ? d_cp.get() : nullptr, has_c ? d_c.get() : nullptr, B, H, nullptr);
      expect_close(d_x.download(), saved, 1e-5, 0, what + " forward saved");
      expect_close(d_h.download(), h, 1e-5, 0, what + " forward h");
      if (has_c) expect_close(d_c.download(), c, 1e-5, 0, what + " forward c");

      d_x.upload(saved);  // backward from exactly the CPU's forward
      d_h.upload(h);
      d_c.upload(c);
      DeviceArray<float> d_dh(dh), d_dc(dc_in), d_dx(nG), d_du(nG), d_skip(skip_in);
      cuda::cell_pointwise_backward(kind, d_x.get(), split ? d_u.get() : nullptr, d_hp.get(), d_h.get(),
                                    has_c ? d_cp.get() : nullptr, has_c ? d_c.get() : nullptr, d_dh.get(),
                                    has_c ? d_dc.get() : nullptr, d_dx.get(), split ? d_du.get() : nullptr,
                                    d_skip.get(), true, B, H, nullptr);
      expect_close(d_dx.download(), dx, 1e-5, 0, what + " backward dx");
      if (split) expect_close(d_du.download(), du, 1e-5, 0, what + " backward du");
      if (has_c) expect_close(d_dc.download(), dc, 1e-5, 0, what + " backward dc_prev");
      expect_close(d_skip.download(), Cell::kHiddenSkip ? skip : skip_in, 1e-5, 0, what + " backward skip (added)");
      if (Cell::kHiddenSkip) {  // stored, not added
        cuda::cell_pointwise_backward(kind, d_x.get(), split ? d_u.get() : nullptr, d_hp.get(), d_h.get(), nullptr,
                                      nullptr, d_dh.get(), nullptr, d_dx.get(), split ? d_du.get() : nullptr,
                                      d_skip.get(), false, B, H, nullptr);
        std::vector<float> stored(n);
        for (std::size_t i = 0; i < n; ++i) stored[i] = skip[i] - skip_in[i];
        expect_close(d_skip.download(), stored, 1e-5, 0, what + " backward skip (stored)");
      }
    }
  }
}

TEST(CudaOps, CellPointwiseForwardAndBackwardEveryCell) {
  ABC_SKIP_WITHOUT_GPU();
  check_cell_pointwise<abc::LstmCell>(100);
  check_cell_pointwise<abc::RnnCell>(200);
  check_cell_pointwise<abc::GruCell>(300);
  static_assert(abc::kCellCount == 3, "a new cell needs its line above");
}

TEST(CudaOps, DropoutMaskMatchesTheCpuStreamExactly) {
  ABC_SKIP_WITHOUT_GPU();
  const abc::U32x2 key = abc::dropout_key(1234, 56);
  const DeviceArray<abc::U32x2> dkey(std::vector<abc::U32x2>{key});  // kernels read the key from device memory
  unsigned seed = 300;
  for (float p : {0.0f, 0.3f}) {
    for (int T : kSeq) {
      for (int B : kBatch) {
        for (int H : kHidden) {
          const std::size_t n = sz(T) * sz(B) * sz(H);
          const int layer = static_cast<int>(seed % 3);
          const std::vector<float> h = random_floats(n, -1, 1, seed++);
          const std::vector<float> dy = random_floats(n, -1, 1, seed++);
          const float scale = cell::dropout_scale<float>(p);
          std::vector<float> want_mask(n), want_dropped(n), want_dy(n);
          for (int t = 0; t < T; ++t) {
            for (int b = 0; b < B; ++b) {
              for (int j = 0; j < H; ++j) {
                const std::size_t i = (sz(t) * sz(B) + sz(b)) * sz(H) + sz(j);
                const float u = abc::uniform_from_u32(abc::dropout_bits(key, layer, t, b, j).v[j & 3]);
                want_mask[i] = cell::dropout_factor(u, p, scale);
                want_dropped[i] = h[i] * want_mask[i];
                want_dy[i] = dy[i] * want_mask[i];
              }
            }
          }
          DeviceArray<float> dh(h), dmask(n), ddropped(n), ddy(dy);
          cuda::dropout_forward(dh.get(), dmask.get(), ddropped.get(), T, B, H, layer, dkey.get(), p, nullptr);
          ASSERT_EQ(dmask.download(), want_mask) << "mask p=" << p << " " << shape(T, B, H);
          ASSERT_EQ(ddropped.download(), want_dropped) << "dropped p=" << p << " " << shape(T, B, H);
          cuda::dropout_backward(dmask.get(), ddy.get(), n, nullptr);
          ASSERT_EQ(ddy.download(), want_dy) << "backward p=" << p << " " << shape(T, B, H);
        }
      }
    }
  }
}

// The CPU model's softmax_xent, row by row (float, left-to-right sums).
double reference_xent(std::vector<float>& z, const std::vector<std::int32_t>& targets, int rows, int V, bool grad,
                      std::vector<float>& row_loss) {
  double total = 0;
  const float scale = 1.0f / static_cast<float>(rows);
  for (int r = 0; r < rows; ++r) {
    float* row = z.data() + sz(r) * sz(V);
    const int target = targets[sz(r)];
    float m = row[0];
    for (int k = 1; k < V; ++k) m = std::max(m, row[k]);
    float sum = 0;
    for (int k = 0; k < V; ++k) sum += cell::softmax_shifted_exp(row[k], m);
    row_loss[sz(r)] = cell::xent_loss(row[target] - m, sum);
    total += row_loss[sz(r)];
    if (grad) {
      const float inv = 1.0f / sum;
      for (int k = 0; k < V; ++k)
        row[k] = cell::xent_grad(cell::softmax_shifted_exp(row[k], m), inv, k == target, scale);
    }
  }
  return total;
}

TEST(CudaOps, SoftmaxXentLossGradientAndDeviceAccumulator) {
  ABC_SKIP_WITHOUT_GPU();
  unsigned seed = 400;
  for (int T : kSeq) {
    for (int B : kBatch) {
      for (int V : {2, 97, 300}) {
        const int rows = T * B;
        const std::vector<float> logits = random_floats(sz(rows) * sz(V), -6, 6, seed++);
        const std::vector<std::int32_t> targets = random_tokens(sz(rows), V, seed++);
        std::vector<float> want_grad = logits, want_loss(sz(rows));
        const double total = reference_xent(want_grad, targets, rows, V, true, want_loss);

        DeviceArray<float> dlogits(logits), drow(sz(rows));
        DeviceArray<std::int32_t> dtargets(targets);
        DeviceArray<cuda::LossAccumulator> acc(1);
        ABC_CUDA_CHECK(cudaMemset(acc.get(), 0, sizeof(cuda::LossAccumulator)));
        // Two training calls accumulate; then an evaluation stores the sum.
        cuda::softmax_xent(dlogits.get(), dtargets.get(), rows, V, cuda::LossMode::kTrainMean, drow.get(), acc.get(),
                           nullptr);
        const std::string what = "xent T=" + std::to_string(T) + " B=" + std::to_string(B) + " V=" + std::to_string(V);
        expect_close(drow.download(), want_loss, 1e-5, 1e-6, what + " row losses");
        expect_close(dlogits.download(), want_grad, 1e-5 / rows, 1e-5, what + " gradient");
        dlogits.upload(logits);
        cuda::softmax_xent(dlogits.get(), dtargets.get(), rows, V, cuda::LossMode::kTrainMean, drow.get(), acc.get(),
                           nullptr);
        dlogits.upload(logits);
        cuda::softmax_xent(dlogits.get(), dtargets.get(), rows, V, cuda::LossMode::kEvalSum, drow.get(), acc.get(),
                           nullptr);
        EXPECT_EQ(dlogits.download(), logits) << what << ": evaluation must leave the logits alone";
        const cuda::LossAccumulator a = acc.download()[0];
        EXPECT_EQ(a.steps, 2) << what;
        EXPECT_EQ(a.nonfinite, 0) << what;
        EXPECT_NEAR(a.sum, 2 * total / rows, 1e-5 * (total / rows)) << what;
        EXPECT_NEAR(a.eval_sum, total, 1e-5 * total) << what;
      }
    }
  }
}

TEST(CudaOps, SoftmaxXentFlagsANonFiniteLoss) {
  ABC_SKIP_WITHOUT_GPU();
  std::vector<float> logits = random_floats(3 * 5, -1, 1, 7);
  logits[6] = NAN;
  DeviceArray<float> dlogits(logits), drow(3);
  DeviceArray<std::int32_t> dtargets(std::vector<std::int32_t>{0, 1, 2});
  DeviceArray<cuda::LossAccumulator> acc(1);
  ABC_CUDA_CHECK(cudaMemset(acc.get(), 0, sizeof(cuda::LossAccumulator)));
  cuda::softmax_xent(dlogits.get(), dtargets.get(), 3, 5, cuda::LossMode::kTrainMean, drow.get(), acc.get(), nullptr);
  const cuda::LossAccumulator a = acc.download()[0];
  EXPECT_EQ(a.nonfinite, 1);
  EXPECT_EQ(a.steps, 1);
  EXPECT_TRUE(std::isnan(a.sum));
}

TEST(CudaOps, ColumnSumAddsRowsInOrder) {
  ABC_SKIP_WITHOUT_GPU();
  unsigned seed = 500;
  for (int T : kSeq) {
    for (int B : kBatch) {
      for (int H : kHidden) {
        for (int G : {1, 4}) {
          const int rows = T * B, N = G * H;
          const std::vector<float> m = random_floats(sz(rows) * sz(N), -1, 1, seed++);
          std::vector<float> want(sz(N), 0.0f);
          for (int r = 0; r < rows; ++r) {
            for (int k = 0; k < N; ++k) want[sz(k)] += m[sz(r) * sz(N) + sz(k)];
          }
          DeviceArray<float> dm(m), dsums(sz(N));
          cuda::column_sum(dm.get(), rows, N, dsums.get(), nullptr);
          expect_close(dsums.download(), want, 1e-6, 1e-6, "column sums " + shape(T, B, H) + " G=" + std::to_string(G));
        }
      }
    }
  }
}

TEST(CudaOps, TableGradientFromTokenRowLists) {
  ABC_SKIP_WITHOUT_GPU();
  unsigned seed = 600;
  for (int V : {2, 97}) {
    for (int T : kSeq) {
      for (int B : kBatch) {
        for (int H : {1, 7, 100}) {
          const int rows = T * B, N = 4 * H;
          const std::vector<std::int32_t> tok = random_tokens(sz(rows), V, seed++);
          const std::vector<float> dz = random_floats(sz(rows) * sz(N), -1, 1, seed++);
          std::vector<float> want(sz(V) * sz(N), 0.0f);  // the CPU's scatter-add, row order
          for (int r = 0; r < rows; ++r) {
            for (int k = 0; k < N; ++k) want[sz(tok[sz(r)]) * sz(N) + sz(k)] += dz[sz(r) * sz(N) + sz(k)];
          }
          std::vector<std::int32_t> offsets(sz(V) + 1), csr(sz(rows));
          cuda::build_token_csr(tok.data(), sz(rows), V, offsets.data(), csr.data());
          DeviceArray<std::int32_t> doff(offsets), dcsr(csr);
          DeviceArray<float> ddz(dz), dgrad(random_floats(sz(V) * sz(N), 5, 6, seed++));  // stale values overwritten
          cuda::table_grad(ddz.get(), doff.get(), dcsr.get(), V, N, dgrad.get(), nullptr);
          expect_close(dgrad.download(), want, 1e-6, 1e-6, "table grad V=" + std::to_string(V) + " " + shape(T, B, H));
        }
      }
    }
  }
}

struct DeviceAdam {
  explicit DeviceAdam(const std::vector<float>& params)
      : p(params),
        m(params.size()),
        v(params.size()),
        g(params.size()),
        partials(cuda::kMaxNormBlocks),
        state(1),
        acc(1) {
    ABC_CUDA_CHECK(cudaMemset(m.get(), 0, m.size() * sizeof(float)));
    ABC_CUDA_CHECK(cudaMemset(v.get(), 0, v.size() * sizeof(float)));
    ABC_CUDA_CHECK(cudaMemset(state.get(), 0, sizeof(cuda::OptimizerState)));
    ABC_CUDA_CHECK(cudaMemset(acc.get(), 0, sizeof(cuda::LossAccumulator)));
  }
  void step(const std::vector<float>& grads, const abc::AdamConfig& config) {
    g.upload(grads);
    cuda::set_adam_lr(state.get(), config.lr, nullptr);
    cuda::adam_step(p.get(), m.get(), v.get(), g.get(), p.size(), config, partials.get(), state.get(), acc.get(),
                    nullptr);
  }
  DeviceArray<float> p, m, v, g;
  DeviceArray<double> partials;
  DeviceArray<cuda::OptimizerState> state;
  DeviceArray<cuda::LossAccumulator> acc;
};

TEST(CudaOps, AdamWithClippingMatchesTheCpuOptimizer) {
  ABC_SKIP_WITHOUT_GPU();
  unsigned seed = 700;
  for (std::size_t n : {std::size_t(1), std::size_t(1000), std::size_t(1000003)}) {
    for (double clip : {0.0, 0.5}) {  // off; on (the random gradients' norm is far above 0.5)
      abc::AdamConfig config;
      config.clip = clip;
      const std::vector<float> start = random_floats(n, -1, 1, seed++);
      std::vector<float> cpu_params = start;
      abc::Adam<float> cpu(n, config);
      DeviceAdam gpu(start);
      for (int t = 0; t < 3; ++t) {
        const std::vector<float> grads = random_floats(n, -0.5f, 0.5f, seed++);
        const double norm = cpu.step(cpu_params.data(), grads.data());
        gpu.step(grads, config);
        const cuda::LossAccumulator a = gpu.acc.download()[0];
        EXPECT_NEAR(a.last_grad_norm, norm, 1e-10 * norm) << "n=" << n;
        EXPECT_EQ(a.nonfinite, 0);
      }
      const std::string what = "adam n=" + std::to_string(n) + " clip=" + std::to_string(clip);
      expect_close(gpu.p.download(), cpu_params, 1e-6, 0, what + " params");
      expect_close(gpu.m.download(), std::vector<float>(cpu.m(), cpu.m() + n), 1e-8, 1e-5, what + " m");
      expect_close(gpu.v.download(), std::vector<float>(cpu.v(), cpu.v() + n), 1e-10, 1e-5, what + " v");
      const cuda::OptimizerState s = gpu.state.download()[0];
      EXPECT_EQ(s.steps, 3) << what;
      EXPECT_EQ(s.skip, 0) << what;
    }
  }
}

// The lr is read from OptimizerState when the step runs, not from config: a new lr each
// step (as a schedule sets it) gives the CPU optimizer's steps with set_lr, and config.lr
// is ignored.
TEST(CudaOps, AdamTakesTheLearningRateFromDeviceMemory) {
  ABC_SKIP_WITHOUT_GPU();
  const std::size_t n = 4099;
  const std::vector<float> start = random_floats(n, -1, 1, 40);
  std::vector<float> cpu_params = start;
  abc::AdamConfig config;
  abc::Adam<float> cpu(n, config);
  DeviceAdam gpu(start);
  abc::AdamConfig ignored = config;
  ignored.lr = 0.5;  // would move every parameter by about 0.5 if it were read
  const double lrs[] = {3e-3, 1e-3, 2.5e-4, 3e-5};
  for (int t = 0; t < 4; ++t) {
    const std::vector<float> grads = random_floats(n, -0.5f, 0.5f, 41 + static_cast<unsigned>(t));
    cpu.set_lr(lrs[t]);
    cpu.step(cpu_params.data(), grads.data());
    gpu.g.upload(grads);
    cuda::set_adam_lr(gpu.state.get(), lrs[t], nullptr);
    cuda::adam_step(gpu.p.get(), gpu.m.get(), gpu.v.get(), gpu.g.get(), n, ignored, gpu.partials.get(),
                    gpu.state.get(), gpu.acc.get(), nullptr);
    expect_close(gpu.p.download(), cpu_params, 1e-6, 0, "params after step " + std::to_string(t + 1));
  }
  EXPECT_EQ(gpu.state.download()[0].lr, 3e-5);
}

TEST(CudaOps, AdamSkipsANonFiniteGradientAndRecordsIt) {
  ABC_SKIP_WITHOUT_GPU();
  const std::size_t n = 5000;
  const std::vector<float> start = random_floats(n, -1, 1, 9);
  DeviceAdam gpu(start);
  gpu.step(random_floats(n, -1, 1, 10), abc::AdamConfig{});
  const std::vector<float> p1 = gpu.p.download(), m1 = gpu.m.download(), v1 = gpu.v.download();
  std::vector<float> bad = random_floats(n, -1, 1, 11);
  bad[1234] = INFINITY;
  gpu.step(bad, abc::AdamConfig{});
  EXPECT_EQ(gpu.p.download(), p1);
  EXPECT_EQ(gpu.m.download(), m1);
  EXPECT_EQ(gpu.v.download(), v1);
  const cuda::OptimizerState s = gpu.state.download()[0];
  EXPECT_EQ(s.steps, 1);
  EXPECT_EQ(s.skip, 1);
  const cuda::LossAccumulator a = gpu.acc.download()[0];
  EXPECT_EQ(a.nonfinite, 1);
  EXPECT_FALSE(std::isfinite(a.last_grad_norm));
}

TEST(CudaOps, SampleDrawsTheCpuSamplersTokens) {
  ABC_SKIP_WITHOUT_GPU();
  unsigned seed = 800;
  int draws = 0, same = 0;
  const std::uint64_t draw_seed = 4242 + (std::uint64_t{5} << 32);  // the high word must reach the kernel too
  for (int n : kBatch) {
    for (int V : {2, 97}) {
      for (float temperature : {0.0f, 0.5f, 1.0f, 1.5f}) {
        for (std::uint32_t step = 0; step < 5; ++step) {
          const std::vector<float> logits = random_floats(sz(n) * sz(V), -5, 5, seed++);
          DeviceArray<float> dlogits(logits);
          DeviceArray<std::int32_t> next(sz(n));
          cuda::StepConstants c{};
          c.sample_seed[0] = static_cast<std::uint32_t>(draw_seed);
          c.sample_seed[1] = static_cast<std::uint32_t>(draw_seed >> 32);
          c.first_stream = 7;
          c.sample_step = step;
          c.temperature = temperature;
          const DeviceArray<cuda::StepConstants> dconstants(std::vector<cuda::StepConstants>{c});
          cuda::sample_tokens(dlogits.get(), n, V, dconstants.get(), next.get(), nullptr);
          const std::vector<std::int32_t> got = next.download();
          for (int i = 0; i < n; ++i) {
            const float u = abc::sample_uniform(draw_seed, 7 + static_cast<std::uint32_t>(i), step);
            const int want = abc::sample_token(logits.data() + sz(i) * sz(V), V, temperature, u);
            ++draws;
            if (got[sz(i)] == want) ++same;
            if (temperature == 0.0f) {
              EXPECT_EQ(got[sz(i)], want) << "argmax n=" << n << " V=" << V;
            }
            EXPECT_GE(got[sz(i)], 0);
            EXPECT_LT(got[sz(i)], V);
          }
        }
      }
    }
  }
  EXPECT_GE(same, draws * 99 / 100) << same << " of " << draws << " draws agree";
}

}  // namespace
