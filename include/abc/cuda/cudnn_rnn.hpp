// A stack of recurrent layers run by cuDNN 9 (its v8-style RNN API): the reference our
// kernels are tested against (tests/test_cudnn_compare.cpp), and the recurrence of the
// `cudnn` backend (a developer and benchmark option). Every cuDNN call is checked and
// throws abc::Error naming the call, file and line.
//
// Data, time-major and packed without padding (CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED
// with every sequence T long is exactly our [T, B, n] layout):
//   x [T, B, input], y [T, B, H] (the top layer's h at every step),
//   hx, hy, cx, cy [layers, B, H] (cx, cy LSTM only). A null hx/cx means zeros; a null
//   hy/cy, dhy/dcy or dhx/dcx means "not needed" (cuDNN's convention).
// Weights: one weight space in cuDNN's own layout; cudnn_layout.hpp maps ours to it.
// Math: FP32 with plain FMA (CUDNN_FMA_MATH, no tensor cores) unless allow_tf32.
#pragma once
#include <cudnn.h>

#include <cstddef>
#include <string>
#include <vector>

#include "abc/cuda/check.hpp"
#include "abc/cudnn_layout.hpp"
#include "abc/model.hpp"

namespace abc {
namespace cuda {

[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line);
inline void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS) throw_cudnn_error(status, call, file, line);
}

}  // namespace cuda
}  // namespace abc

#define ABC_CUDNN_CHECK(call) ::abc::cuda::check_cudnn((call), #call, __FILE__, __LINE__)

namespace abc {
namespace cuda {

// A cuDNN handle bound to one stream.
class CudnnHandle {
 public:
  explicit CudnnHandle(cudaStream_t stream);
  ~CudnnHandle();
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  cudnnHandle_t get() const { return handle_; }

 private:
  cudnnHandle_t handle_ = nullptr;
};

struct CudnnRnnShape {
  CellKind cell = CellKind::kLstm;
  int input = 0;   // features of x
  int hidden = 0;  // H
  int layers = 1;
  int max_batch = 1, max_seq = 1;
  bool allow_tf32 = false;
};

class CudnnRnn {
 public:
  // Allocates the weight space, its gradient, the workspace and the reserve space for
  // (max_seq, max_batch). The handle must outlive this object.
  CudnnRnn(cudnnHandle_t handle, const CudnnRnnShape& shape);
  ~CudnnRnn();
  CudnnRnn(const CudnnRnn&) = delete;
  CudnnRnn& operator=(const CudnnRnn&) = delete;

  const CudnnRnnShape& shape() const { return shape_; }
  float* weights() const { return static_cast<float*>(weights_.get()); }
  float* dweights() const { return static_cast<float*>(dweights_.get()); }
  std::size_t weight_floats() const { return weight_bytes_ / sizeof(float); }
  // Float offset of (pseudo-layer, lin_id)'s matrix or bias in the weight space, after
  // checking that cuDNN reports the [H, in] / [H] shape cudnn_layout.hpp assumes.
  std::size_t offset(int layer, int lin_id, bool bias) const;
  // The stream of the cuDNN handle: where its calls, and ours around them, run.
  cudaStream_t stream() const;

  // training: keeps what backward needs in the reserve space (the next backward_data
  // and backward_weights must use the same T, B and tensors).
  void forward(int T, int B, bool training, const float* x, float* y, const float* hx, float* hy, const float* cx,
               float* cy);
  // After forward(training): dy [T, B, H] in; dx [T, B, input] out.
  void backward_data(const float* y, const float* dy, float* dx, const float* hx, const float* dhy, float* dhx,
                     const float* cx, const float* dcy, float* dcx);
  // After backward_data: zeroes dweights(), then lets cuDNN add this chunk's gradient.
  void backward_weights(const float* x, const float* hx, const float* y);

 private:
  void set_shape(int T, int B);  // data and state descriptors, device sequence lengths

  cudnnHandle_t handle_;
  CudnnRnnShape shape_;
  cudnnRNNDescriptor_t rnn_ = nullptr;
  cudnnDropoutDescriptor_t dropout_ = nullptr;
  cudnnRNNDataDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr;
  cudnnTensorDescriptor_t h_desc_ = nullptr, matrix_desc_ = nullptr, bias_desc_ = nullptr;
  std::size_t weight_bytes_ = 0, work_bytes_ = 0, reserve_bytes_ = 0;
  DeviceMemory weights_, dweights_, work_, reserve_, seq_lengths_, dropout_states_;
  int T_ = 0, B_ = 0;  // shape of the descriptors now
};

// Our layers [first_layer, first_layer + rnn.shape().layers) <-> the rnn's weight space.
// Uploads the slot table once; pack and unpack then run one kernel each.
class CudnnWeightMap {
 public:
  CudnnWeightMap(const ParamLayout& layout, int first_layer, const CudnnRnn& rnn);
  const std::vector<CudnnSlot>& slots() const { return slots_; }
  // rnn.weights() <- our block (bR zeros).
  void pack(const float* ours, float* theirs, cudaStream_t stream) const;
  // our gradient block <- rnn.dweights() for every slot but bR.
  void unpack(const float* theirs, float* ours, cudaStream_t stream) const;

 private:
  std::vector<CudnnSlot> slots_;
  std::size_t max_slot_ = 0;
  DeviceMemory device_slots_;
};

}  // namespace cuda
}  // namespace abc
