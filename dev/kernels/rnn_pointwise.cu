// Kernel lab: the tanh RNN pointwise step, forward and backward (kernels/cell_pointwise.cu, RnnCell).
//   lab_rnn_pointwise [version] [B H] [--reps N] [--check-only]
// Shapes: n = B * H elements, flat.
//   forward:  z [n] pre-activations in, h = tanh(z) [n] out
//   backward: h, dh [n] in, dz = dh * (1 - h^2) [n] out
// Versions (0 = all). Every one calls cell::rnn_forward / cell::rnn_backward for the math:
//   1  production (abc::cuda::cell_pointwise_forward/backward): grid-stride over n in
//      size_t, its own 256 threads per block
//   2  one thread per element, a grid that covers n (no stride loop)
//   3  float4, grid-stride: every access 16 bytes. Needs n % 4 == 0: in the step loop the
//      step-t pointers z + t*n are then 16-byte aligned as well
// The reference: the same cell_math functions in double on the CPU; FP32 stays within 1e-5
// of it, relative beyond 1. GB/s: the bytes a call must move (forward 2 floats per element,
// backward 3).
#include <string>
#include <vector>

#include "abc/cells.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cuda/plan.hpp"
#include "common.cuh"
#include "kernel_util.cuh"

namespace {

using abc::cuda::launch_kernel;
using lab::sz;
namespace cell = abc::cell;

constexpr double kTol = 1e-5;  // abs, and relative beyond 1

// --- The kernels of versions 2 and 3 ------------------------------------------------------

// Version 2: grid ceil(n / block).
__global__ void forward_flat(const float* z, float* h, std::size_t n) {
  const std::size_t i = abc::cuda::grid_start();
  if (i < n) h[i] = cell::rnn_forward(z[i]);
}
__global__ void backward_flat(const float* h, const float* dh, float* dz, std::size_t n) {
  const std::size_t i = abc::cuda::grid_start();
  if (i < n) dz[i] = cell::rnn_backward(h[i], dh[i]);
}

// Version 3: n4 = n / 4 groups of four.
__global__ void forward_vec4(const float* z, float* h, std::size_t n4) {
  for (std::size_t i = abc::cuda::grid_start(); i < n4; i += abc::cuda::grid_stride()) {
    const float4 zv = reinterpret_cast<const float4*>(z)[i];
    float4 hv;
    hv.x = cell::rnn_forward(zv.x);
    hv.y = cell::rnn_forward(zv.y);
    hv.z = cell::rnn_forward(zv.z);
    hv.w = cell::rnn_forward(zv.w);
    reinterpret_cast<float4*>(h)[i] = hv;
  }
}
__global__ void backward_vec4(const float* h, const float* dh, float* dz, std::size_t n4) {
  for (std::size_t i = abc::cuda::grid_start(); i < n4; i += abc::cuda::grid_stride()) {
    const float4 hv = reinterpret_cast<const float4*>(h)[i], dhv = reinterpret_cast<const float4*>(dh)[i];
    float4 dzv;
    dzv.x = cell::rnn_backward(hv.x, dhv.x);
    dzv.y = cell::rnn_backward(hv.y, dhv.y);
    dzv.z = cell::rnn_backward(hv.z, dhv.z);
    dzv.w = cell::rnn_backward(hv.w, dhv.w);
    reinterpret_cast<float4*>(dz)[i] = dzv;
  }
}

// --- One shape: inputs, the CPU reference, device buffers -----------------------------------

class RnnCase {
 public:
  RnnCase(int B_, int H_) : B(B_), H(H_), n(sz(B_) * sz(H_)), z(n), h(n), dh(n), dz(n) {
    const unsigned seed = static_cast<unsigned>(B * 7919 + H + 17);
    z_in_ = lab::random_floats(n, -4, 4, seed);
    dh_in_ = lab::random_floats(n, -1, 1, seed + 1);
    want_h_.resize(n), want_dz_.resize(n);
    for (std::size_t k = 0; k < n; ++k) want_h_[k] = cell::rnn_forward<double>(z_in_[k]);
    // The backward reads what the forward left: the reference's h, in float.
    h_in_ = lab::to_float(want_h_);
    for (std::size_t k = 0; k < n; ++k) want_dz_[k] = cell::rnn_backward<double>(h_in_[k], dh_in_[k]);
  }

  static const char* pass_name(int p) { return p == 0 ? "forward" : "backward"; }
  double bytes(int p) const { return sizeof(float) * (p == 0 ? 2.0 : 3.0) * static_cast<double>(n); }
  void load(int p) const {
    if (p == 0) {
      z.upload(z_in_), h.fill_nan();
    } else {
      h.upload(h_in_), dh.upload(dh_in_), dz.fill_nan();
    }
  }
  lab::Check check(int p) const {
    lab::Check check;
    if (p == 0) {
      lab::compare(check, "h", h.download(), want_h_, kTol, kTol);
    } else {
      lab::compare(check, "dz", dz.download(), want_dz_, kTol, kTol);
    }
    return check;
  }

  const int B, H;
  const std::size_t n;                    // B * H
  lab::DeviceBuffer<float> z, h, dh, dz;  // forward: z in, h out; backward: h, dh in, dz out

 private:
  std::vector<float> z_in_, h_in_, dh_in_;
  std::vector<double> want_h_, want_dz_;
};

// --- The versions ------------------------------------------------------------------------------

std::string needs_n_by_4(int B, int H) {
  return sz(B) * sz(H) % 4 != 0 ? "needs B * H % 4 == 0 (16-byte aligned step pointers)" : "";
}

const std::vector<lab::Version<RnnCase>> kVersions = {
    {"production: abc::cuda::cell_pointwise_forward/backward (kernels/cell_pointwise.cu)",
     false,
     abc::cuda::kThreads,
     lab::any_shape,
     {[](const RnnCase& c, int, cudaStream_t s) {
        // h_prev: the RNN's step does not read its value (h stands in).
        abc::cuda::cell_pointwise_forward(abc::CellKind::kRnn, c.z.get(), nullptr, c.h.get(), c.h.get(), nullptr,
                                          nullptr, c.B, c.H, s);
      },
      [](const RnnCase& c, int, cudaStream_t s) {
        abc::cuda::cell_pointwise_backward(abc::CellKind::kRnn, c.z.get(), nullptr, c.h.get(), c.h.get(), nullptr,
                                           nullptr, c.dh.get(), nullptr, c.dz.get(), nullptr, nullptr, false, c.B, c.H,
                                           s);
      }}},
    {"one thread per element, no stride loop",
     true,
     0,
     lab::any_shape,
     {[](const RnnCase& c, int block, cudaStream_t s) {
        const auto grid = static_cast<unsigned>((c.n + sz(block) - 1) / sz(block));
        launch_kernel(forward_flat, grid, block, 0, s, c.z.get(), c.h.get(), c.n);
        ABC_CUDA_CHECK_LAUNCH(forward_flat);
      },
      [](const RnnCase& c, int block, cudaStream_t s) {
        const auto grid = static_cast<unsigned>((c.n + sz(block) - 1) / sz(block));
        launch_kernel(backward_flat, grid, block, 0, s, c.h.get(), c.dh.get(), c.dz.get(), c.n);
        ABC_CUDA_CHECK_LAUNCH(backward_flat);
      }}},
    {"float4, grid-stride",
     true,
     0,
     needs_n_by_4,
     {[](const RnnCase& c, int block, cudaStream_t s) {
        launch_kernel(forward_vec4, abc::cuda::grid_for(c.n / 4, block), block, 0, s, c.z.get(), c.h.get(), c.n / 4);
        ABC_CUDA_CHECK_LAUNCH(forward_vec4);
      },
      [](const RnnCase& c, int block, cudaStream_t s) {
        launch_kernel(backward_vec4, abc::cuda::grid_for(c.n / 4, block), block, 0, s, c.h.get(), c.dh.get(),
                      c.dz.get(), c.n / 4);
        ABC_CUDA_CHECK_LAUNCH(backward_vec4);
      }}},
};

}  // namespace

int main(int argc, char** argv) {
  return lab::pointwise_main(argc, argv, "lab_rnn_pointwise", "Kernel lab: the tanh RNN pointwise step (dev/kernels)",
                             kVersions);
}
