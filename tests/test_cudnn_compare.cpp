// Our recurrent layers (cuda/recurrence.hpp on our kernels and cuBLAS) against cuDNN's
// (cuda/cudnn_rnn.hpp), forward and backward, for every cell (LSTM, tanh RNN, GRU) in stacks of 1 and 2
// layers over H in {1, 100, 128, 257, 512}, B in {1, 3, 64}, T in {1, 7, 100}, with a
// dense input of 23 features and a random carried-in state (h0, c0). Compared: the top
// layer's h at every step, the final h and c of every layer, and the gradients of the
// input, of the initial h and c, of every weight matrix and every bias, given a random
// gradient on the top layer's outputs. Both sides are FP32 without TF32.
//
// Tolerances, per quantity, on max |ours - cuDNN| over the tensor, with M = max |cuDNN|:
//   outputs h, final h, final c:                <= 1e-5 + 1e-4 * M
//   d input, d h0, d c0:                         <= 1e-5 + 2e-4 * M
//   d input matrices, d recurrent matrices, d bias: <= 1e-5 + 2e-4 * M
// (a gradient summed over T*B = 6400 rows in another order differs by ~1e-6 * M).
// Each test prints the worst error of every quantity over its shapes, and appends it to
// the file named by ABC_CUDNN_REPORT if set (tools/test.sh --gpu shows it).
#include <gtest/gtest.h>

#if ABC_HAVE_CUDNN
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "abc/cuda/check.hpp"
#include "abc/cuda/cudnn_rnn.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cuda/recurrence.hpp"
#include "cuda_test_util.hpp"
#include "gpu_skip.hpp"

namespace {

using abc_test::DeviceArray;
using abc_test::random_floats;
using abc_test::Tolerance;
using abc_test::WorstTable;

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

constexpr int kInput = 23;

constexpr Tolerance kOutputTol{1e-5, 1e-4};
constexpr Tolerance kGradTol{1e-5, 2e-4};

struct Case {
  abc::CellKind cell;
  int layers;
};

std::string case_name(const Case& c) { return std::string(abc::cell_kind_name(c.cell)) + "_" + std::to_string(c.layers) + "layers"; }
void PrintTo(const Case& c, std::ostream* os) { *os << case_name(c); }

// Everything one shape compares, downloaded.
struct Result {
  std::vector<float> y, hy, cy, dx, dhx, dcx, dparams;
};

// Our stack, through the same functions the CUDA backend's layers above 0 call
// (recurrence.hpp), plus the gradients into the stack's input and initial state.
Result run_ours(const abc::ParamLayout& layout, int T, int B, const DeviceArray<float>& params,
                const DeviceArray<float>& x, const DeviceArray<float>& h0, const DeviceArray<float>& c0,
                const DeviceArray<float>& dy_top, abc::cuda::CublasHandle& cublas) {
  const abc::ModelConfig& cfg = layout.config();
  const int H = cfg.hidden, GH = layout.gates() * H, L = cfg.layers, rows = T * B;
  const bool lstm = abc::cell_info(cfg.cell).cell_state, split = abc::cell_info(cfg.cell).split_recurrent;
  const std::size_t BH = sz(B) * sz(H);
  const float* p = params.get();
  const cudaStream_t s = nullptr;
  const abc::cuda::RecurrenceShape shape{cfg.cell, T, B, H};

  std::vector<DeviceArray<float>> z, u, h, c;
  for (int l = 0; l < L; ++l) {
    z.emplace_back(sz(rows) * sz(GH));
    u.emplace_back(sz(rows) * sz(GH));
    h.emplace_back(sz(rows + B) * sz(H));
    c.emplace_back(sz(rows + B) * sz(H));
  }
  for (int l = 0; l < L; ++l) {
    const abc::LayerParams& lp = layout.layer(l);
    const float* in = l == 0 ? x.get() : h[sz(l - 1)].get() + BH;
    const int in_cols = lp.w_in.rows;
    abc::cuda::dense_input_term(cublas.get(), rows, in_cols, GH, in, p + lp.w_in.offset, p + lp.bias.offset,
                                z[sz(l)].get(), s);
    ABC_CUDA_CHECK(cudaMemcpy(h[sz(l)].get(), h0.get() + sz(l) * BH, BH * sizeof(float), cudaMemcpyDeviceToDevice));
    ABC_CUDA_CHECK(cudaMemcpy(c[sz(l)].get(), c0.get() + sz(l) * BH, BH * sizeof(float), cudaMemcpyDeviceToDevice));
    abc::cuda::recurrence_forward(cublas.get(), shape, p + lp.w_rec.offset, split ? p + lp.rec_bias.offset : nullptr,
                                  z[sz(l)].get(), split ? u[sz(l)].get() : nullptr, h[sz(l)].get(),
                                  lstm ? c[sz(l)].get() : nullptr, s);
  }

  Result r;
  const std::vector<float> top = h[sz(L - 1)].download();
  r.y.assign(top.begin() + static_cast<std::ptrdiff_t>(BH), top.end());
  for (int l = 0; l < L; ++l) {
    const std::vector<float> hl = h[sz(l)].download(), cl = c[sz(l)].download();
    r.hy.insert(r.hy.end(), hl.end() - static_cast<std::ptrdiff_t>(BH), hl.end());
    if (lstm) r.cy.insert(r.cy.end(), cl.end() - static_cast<std::ptrdiff_t>(BH), cl.end());
  }

  DeviceArray<float> grads(layout.total()), dz(sz(rows) * sz(GH)), du(sz(rows) * sz(GH)), dc(BH), dhx(sz(L) * BH),
      dcx(sz(L) * BH);
  DeviceArray<float> dy(sz(rows) * sz(H)), dx(sz(rows) * sz(kInput));
  ABC_CUDA_CHECK(cudaMemset(grads.get(), 0, layout.total() * sizeof(float)));
  ABC_CUDA_CHECK(cudaMemcpy(dy.get(), dy_top.get(), dy.size() * sizeof(float), cudaMemcpyDeviceToDevice));
  float* g = grads.get();
  for (int l = L - 1; l >= 0; --l) {
    const abc::LayerParams& lp = layout.layer(l);
    const float* in = l == 0 ? x.get() : h[sz(l - 1)].get() + BH;
    const int in_cols = lp.w_in.rows;
    ABC_CUDA_CHECK(cudaMemset(dc.get(), 0, BH * sizeof(float)));
    abc::cuda::recurrence_backward(cublas.get(), shape, p + lp.w_rec.offset, z[sz(l)].get(),
                                   split ? u[sz(l)].get() : nullptr, h[sz(l)].get(), lstm ? c[sz(l)].get() : nullptr,
                                   dy.get(), dc.get(), dz.get(), split ? du.get() : nullptr, dhx.get() + sz(l) * BH, s);
    if (lstm) ABC_CUDA_CHECK(cudaMemcpy(dcx.get() + sz(l) * BH, dc.get(), BH * sizeof(float), cudaMemcpyDeviceToDevice));
    abc::cuda::recurrent_weight_grads(cublas.get(), shape, h[sz(l)].get(), dz.get(), split ? du.get() : nullptr,
                                      g + lp.w_rec.offset, g + lp.bias.offset, g + lp.rec_bias.offset, s);
    // d input of this layer: the layer below's dy, or the stack's dx.
    abc::cuda::dense_input_grads(cublas.get(), rows, in_cols, GH, in, p + lp.w_in.offset, dz.get(), g + lp.w_in.offset,
                                 l == 0 ? dx.get() : dy.get(), s);
  }
  r.dx = dx.download();
  r.dhx = dhx.download();
  if (lstm) r.dcx = dcx.download();
  r.dparams = grads.download();
  return r;
}

// The same stack through cuDNN; for cells without a recurrent bias also checks that its
// second bias gets the same gradient as the first (our single bias takes bW's).
Result run_cudnn(const abc::ParamLayout& layout, int T, int B, const DeviceArray<float>& params,
                 const DeviceArray<float>& x, const DeviceArray<float>& h0, const DeviceArray<float>& c0,
                 const DeviceArray<float>& dy, abc::cuda::CudnnHandle& handle, WorstTable& worst,
                 const std::string& shape_name) {
  const abc::ModelConfig& cfg = layout.config();
  const int H = cfg.hidden, L = cfg.layers, rows = T * B;
  const bool lstm = abc::cell_info(cfg.cell).cell_state;
  const std::size_t BH = sz(B) * sz(H);
  abc::cuda::CudnnRnnShape shape;
  shape.cell = cfg.cell;
  shape.input = kInput;
  shape.hidden = H;
  shape.layers = L;
  shape.max_batch = B;
  shape.max_seq = T;
  abc::cuda::CudnnRnn rnn(handle.get(), shape);
  const abc::cuda::CudnnWeightMap map(layout, 0, rnn);
  map.pack(params.get(), rnn.weights(), nullptr);

  DeviceArray<float> y(sz(rows) * sz(H)), hy(sz(L) * BH), cy(sz(L) * BH), dx(sz(rows) * sz(kInput)),
      dhx(sz(L) * BH), dcx(sz(L) * BH), grads(layout.total());
  rnn.forward(T, B, true, x.get(), y.get(), h0.get(), hy.get(), c0.get(), cy.get());
  rnn.backward_data(y.get(), dy.get(), dx.get(), h0.get(), nullptr, dhx.get(), c0.get(), nullptr, dcx.get());
  rnn.backward_weights(x.get(), h0.get(), y.get());
  ABC_CUDA_CHECK(cudaMemset(grads.get(), 0, layout.total() * sizeof(float)));
  map.unpack(rnn.dweights(), grads.get(), nullptr);

  Result r;
  r.y = y.download();
  r.hy = hy.download();
  if (lstm) r.cy = cy.download();
  r.dx = dx.download();
  r.dhx = dhx.download();
  if (lstm) r.dcx = dcx.download();
  r.dparams = grads.download();

  // d bR (dropped by unpack) against d bW, slot by slot.
  std::vector<float> dweights(rnn.weight_floats());
  ABC_CUDA_CHECK(cudaDeviceSynchronize());
  ABC_CUDA_CHECK(cudaMemcpy(dweights.data(), rnn.dweights(), dweights.size() * sizeof(float), cudaMemcpyDeviceToHost));
  std::vector<float> dbw, dbr;
  for (const abc::CudnnSlot& s : map.slots()) {
    if (!s.bias) continue;
    auto& into = s.zero ? dbr : dbw;
    into.insert(into.end(), dweights.begin() + static_cast<std::ptrdiff_t>(s.theirs),
                dweights.begin() + static_cast<std::ptrdiff_t>(s.theirs + s.size()));
  }
  if (!dbr.empty()) worst.check("cuDNN d bR vs d bW", dbr, dbw, kGradTol, shape_name);
  return r;
}

// One layer tensor's slice of a gradient block.
std::vector<float> slice(const std::vector<float>& block, const abc::ParamTensor& t) {
  return std::vector<float>(block.begin() + static_cast<std::ptrdiff_t>(t.offset),
                            block.begin() + static_cast<std::ptrdiff_t>(t.offset + t.size()));
}

class OursVsCudnn : public ::testing::TestWithParam<Case> {};

TEST_P(OursVsCudnn, ForwardAndBackwardOverTheShapeGrid) {
  ABC_SKIP_WITHOUT_GPU();
  const Case& k = GetParam();
  abc::cuda::CublasHandle cublas(nullptr);
  abc::cuda::CudnnHandle cudnn(nullptr);
  WorstTable worst("cuDNN");
  int shapes = 0;
  for (int H : {1, 100, 128, 257, 512}) {
    for (int B : {1, 3, 64}) {
      for (int T : {1, 7, 100}) {
        const std::string name = "H=" + std::to_string(H) + " B=" + std::to_string(B) + " T=" + std::to_string(T);
        SCOPED_TRACE(case_name(k) + " " + name);
        // A "model" whose layer 0 reads kInput features: its token table is the input matrix.
        const abc::ParamLayout layout({k.cell, kInput, H, k.layers, 0.0f});
        std::vector<float> init(layout.total());
        abc::init_param_block(layout, 100 + static_cast<unsigned>(H), init.data());
        const unsigned seed = static_cast<unsigned>(H * 10007 + B * 101 + T);
        const std::size_t BH = sz(B) * sz(H), rows = sz(T) * sz(B);
        const DeviceArray<float> params(init), x(random_floats(rows * kInput, -1, 1, seed)),
            h0(random_floats(sz(k.layers) * BH, -0.5f, 0.5f, seed + 1)),
            c0(random_floats(sz(k.layers) * BH, -0.5f, 0.5f, seed + 2)),
            dy(random_floats(rows * sz(H), -1, 1, seed + 3));

        const Result ours = run_ours(layout, T, B, params, x, h0, c0, dy, cublas);
        const Result theirs = run_cudnn(layout, T, B, params, x, h0, c0, dy, cudnn, worst, name);
        worst.check("h, every step (top layer)", ours.y, theirs.y, kOutputTol, name);
        worst.check("final h", ours.hy, theirs.hy, kOutputTol, name);
        worst.check("d input", ours.dx, theirs.dx, kGradTol, name);
        worst.check("d h0", ours.dhx, theirs.dhx, kGradTol, name);
        if (abc::cell_info(k.cell).cell_state) {
          worst.check("final c", ours.cy, theirs.cy, kOutputTol, name);
          worst.check("d c0", ours.dcx, theirs.dcx, kGradTol, name);
        }
        for (int l = 0; l < k.layers; ++l) {
          const abc::LayerParams& lp = layout.layer(l);
          const std::string p = "layer " + std::to_string(l) + " ";
          worst.check(p + "d input matrix", slice(ours.dparams, lp.w_in), slice(theirs.dparams, lp.w_in), kGradTol,
                      name);
          worst.check(p + "d recurrent matrix", slice(ours.dparams, lp.w_rec), slice(theirs.dparams, lp.w_rec),
                      kGradTol, name);
          worst.check(p + "d bias", slice(ours.dparams, lp.bias), slice(theirs.dparams, lp.bias), kGradTol, name);
          if (lp.rec_bias.size() > 0) {
            worst.check(p + "d recurrent bias", slice(ours.dparams, lp.rec_bias), slice(theirs.dparams, lp.rec_bias),
                        kGradTol, name);
          }
        }
        ++shapes;
      }
    }
  }
  const std::string report = worst.report(case_name(k) + ": " + std::to_string(shapes) + " shapes");
  std::printf("%s", report.c_str());
  if (const char* path = std::getenv("ABC_CUDNN_REPORT")) {
    if (FILE* f = std::fopen(path, "a")) {
      std::fputs(report.c_str(), f);
      std::fclose(f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cells, OursVsCudnn,
                         ::testing::Values(Case{abc::CellKind::kLstm, 1}, Case{abc::CellKind::kLstm, 2},
                                           Case{abc::CellKind::kRnn, 1}, Case{abc::CellKind::kRnn, 2},
                                           Case{abc::CellKind::kGru, 1}, Case{abc::CellKind::kGru, 2}),
                         [](const ::testing::TestParamInfo<Case>& info) { return case_name(info.param); });

}  // namespace

#else  // no cuDNN in this build

#include "gpu_skip.hpp"

TEST(OursVsCudnn, NeedsCudnn) {
  if (abc_gpu_required()) FAIL() << "a GPU run needs cuDNN, and this build was configured without it";
  GTEST_SKIP() << "this build has no cuDNN (not found at configure time)";
}

#endif
