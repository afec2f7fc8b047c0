// cuDNN 9's RNN API around our buffers: descriptors, weight space, workspace and reserve
// space are made once; a call with a new (T, B) only re-describes the data.
#include "abc/cuda/cudnn_rnn.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "abc/cuda/ops.hpp"
#include "abc/error.hpp"

namespace abc {
namespace cuda {

void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  throw Error(std::string("cuDNN call failed: ") + call + " at " + file + ":" + std::to_string(line) + ": " +
              cudnnGetErrorString(status));
}

CudnnHandle::CudnnHandle(cudaStream_t stream) {
  ABC_CUDNN_CHECK(cudnnCreate(&handle_));
  const cudnnStatus_t status = cudnnSetStream(handle_, stream);
  if (status != CUDNN_STATUS_SUCCESS) {
    cudnnDestroy(handle_);
    throw_cudnn_error(status, "cudnnSetStream(handle_, stream)", __FILE__, __LINE__);
  }
}

CudnnHandle::~CudnnHandle() {
  if (handle_) cudnnDestroy(handle_);
}

CudnnRnn::CudnnRnn(cudnnHandle_t handle, const CudnnRnnShape& shape) : handle_(handle), shape_(shape) {
  if (shape.input < 1 || shape.hidden < 1 || shape.layers < 1 || shape.max_batch < 1 || shape.max_seq < 1) {
    throw Error("cuDNN RNN shape out of range: input " + std::to_string(shape.input) + ", hidden " +
                std::to_string(shape.hidden) + ", layers " + std::to_string(shape.layers) + ", batch " +
                std::to_string(shape.max_batch) + ", seq " + std::to_string(shape.max_seq));
  }
  ABC_CUDNN_CHECK(cudnnCreateRNNDescriptor(&rnn_));
  ABC_CUDNN_CHECK(cudnnCreateDropoutDescriptor(&dropout_));
  ABC_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&x_desc_));
  ABC_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&y_desc_));
  ABC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&h_desc_));
  ABC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&matrix_desc_));
  ABC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias_desc_));

  // Our dropout runs between layers with our own masks (the backend stacks one-layer
  // RNNs); cuDNN's own is off, but the descriptor must exist.
  std::size_t state_bytes = 0;
  ABC_CUDNN_CHECK(cudnnDropoutGetStatesSize(handle_, &state_bytes));
  dropout_states_ = DeviceMemory(state_bytes, "cuDNN's dropout state");
  ABC_CUDNN_CHECK(cudnnSetDropoutDescriptor(dropout_, handle_, 0.0f, dropout_states_.get(), state_bytes, 1));

  // FMA math keeps FP32 products exact enough to compare with our kernels; TF32 only when asked.
  ABC_CUDNN_CHECK(cudnnSetRNNDescriptor_v8(
      rnn_, CUDNN_RNN_ALGO_STANDARD, static_cast<cudnnRNNMode_t>(cell_info(shape.cell).cudnn_mode), CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL,
      CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, shape.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH,
      shape.input, shape.hidden, shape.hidden, shape.layers, dropout_, CUDNN_RNN_PADDED_IO_DISABLED));

  ABC_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(handle_, rnn_, &weight_bytes_));
  weights_ = DeviceMemory(weight_bytes_, "cuDNN's weight space");
  dweights_ = DeviceMemory(weight_bytes_, "cuDNN's weight gradients");
  seq_lengths_ = DeviceMemory(static_cast<std::size_t>(shape.max_batch) * sizeof(std::int32_t), "sequence lengths");
  set_shape(shape.max_seq, shape.max_batch);  // sizes the workspace and reserve space
}

CudnnRnn::~CudnnRnn() {
  if (bias_desc_) cudnnDestroyTensorDescriptor(bias_desc_);
  if (matrix_desc_) cudnnDestroyTensorDescriptor(matrix_desc_);
  if (h_desc_) cudnnDestroyTensorDescriptor(h_desc_);
  if (y_desc_) cudnnDestroyRNNDataDescriptor(y_desc_);
  if (x_desc_) cudnnDestroyRNNDataDescriptor(x_desc_);
  if (dropout_) cudnnDestroyDropoutDescriptor(dropout_);
  if (rnn_) cudnnDestroyRNNDescriptor(rnn_);
}

void CudnnRnn::set_shape(int T, int B) {
  if (T == T_ && B == B_) return;
  if (T < 1 || T > shape_.max_seq || B < 1 || B > shape_.max_batch) {
    throw Error("cuDNN RNN called with T=" + std::to_string(T) + ", B=" + std::to_string(B) + " outside its limits " +
                std::to_string(shape_.max_seq) + " x " + std::to_string(shape_.max_batch));
  }
  const std::vector<int> lengths(static_cast<std::size_t>(B), T);
  ABC_CUDNN_CHECK(cudnnSetRNNDataDescriptor(x_desc_, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, T, B,
                                            shape_.input, lengths.data(), nullptr));
  ABC_CUDNN_CHECK(cudnnSetRNNDataDescriptor(y_desc_, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, T, B,
                                            shape_.hidden, lengths.data(), nullptr));
  const int dims[3] = {shape_.layers, B, shape_.hidden};
  const int strides[3] = {B * shape_.hidden, shape_.hidden, 1};
  ABC_CUDNN_CHECK(cudnnSetTensorNdDescriptor(h_desc_, CUDNN_DATA_FLOAT, 3, dims, strides));

  // cuDNN's kernels read the lengths from device memory, in stream order.
  cudaStream_t stream = nullptr;
  ABC_CUDNN_CHECK(cudnnGetStream(handle_, &stream));
  ABC_CUDA_CHECK(cudaMemcpyAsync(seq_lengths_.get(), lengths.data(), lengths.size() * sizeof(int),
                                 cudaMemcpyHostToDevice, stream));
  ABC_CUDA_CHECK(cudaStreamSynchronize(stream));  // `lengths` dies here

  // forward() runs in training mode (training steps) and in inference mode (evaluation,
  // sampling), with one workspace: size it for the larger need of the two.
  std::size_t train_work = 0, infer_work = 0, infer_reserve = 0;
  ABC_CUDNN_CHECK(
      cudnnGetRNNTempSpaceSizes(handle_, rnn_, CUDNN_FWD_MODE_TRAINING, x_desc_, &train_work, &reserve_bytes_));
  ABC_CUDNN_CHECK(
      cudnnGetRNNTempSpaceSizes(handle_, rnn_, CUDNN_FWD_MODE_INFERENCE, x_desc_, &infer_work, &infer_reserve));
  work_bytes_ = std::max(train_work, infer_work);
  // Sized at construction for the largest shape; grow only if cuDNN ever asks for more.
  if (work_bytes_ > work_.size()) work_ = DeviceMemory(work_bytes_, "cuDNN's RNN workspace");
  if (reserve_bytes_ > reserve_.size()) reserve_ = DeviceMemory(reserve_bytes_, "cuDNN's RNN reserve space");
  T_ = T;
  B_ = B;
}

cudaStream_t CudnnRnn::stream() const {
  cudaStream_t stream = nullptr;
  ABC_CUDNN_CHECK(cudnnGetStream(handle_, &stream));
  return stream;
}

std::size_t CudnnRnn::offset(int layer, int lin_id, bool bias) const {
  void* matrix = nullptr;
  void* bias_addr = nullptr;
  ABC_CUDNN_CHECK(cudnnGetRNNWeightParams(handle_, rnn_, layer, weight_bytes_, weights_.get(), lin_id, matrix_desc_,
                                          &matrix, bias_desc_, &bias_addr));
  void* addr = bias ? bias_addr : matrix;
  const int cols = bias ? 1 : (layer == 0 && lin_id < gate_count(shape_.cell) ? shape_.input : shape_.hidden);
  cudnnDataType_t type{};
  int nb = 0, dims[3] = {0, 0, 0}, strides[3] = {0, 0, 0};
  ABC_CUDNN_CHECK(cudnnGetTensorNdDescriptor(bias ? bias_desc_ : matrix_desc_, 3, &type, &nb, dims, strides));
  // cudnn_layout.hpp assumes a packed row-major [H, cols] block (a bias: H values).
  const long long count = static_cast<long long>(dims[0]) * dims[1] * dims[2];
  const bool ok = addr != nullptr && type == CUDNN_DATA_FLOAT && nb == 3 &&
                  count == static_cast<long long>(shape_.hidden) * cols && (bias || (dims[1] == shape_.hidden &&
                                                                                      dims[2] == cols && strides[2] == 1 &&
                                                                                      strides[1] == cols));
  if (!ok) {
    throw Error("cuDNN's weight layout is not the one abc-cuda maps to (pseudo-layer " + std::to_string(layer) +
                ", linear layer " + std::to_string(lin_id) + (bias ? " bias" : " matrix") + ": dims " +
                std::to_string(dims[0]) + "x" + std::to_string(dims[1]) + "x" + std::to_string(dims[2]) +
                "); see include/abc/cudnn_layout.hpp");
  }
  return static_cast<std::size_t>(static_cast<const char*>(addr) - static_cast<const char*>(weights_.get())) /
         sizeof(float);
}

void CudnnRnn::forward(int T, int B, bool training, const float* x, float* y, const float* hx, float* hy,
                       const float* cx, float* cy) {
  set_shape(T, B);
  const bool lstm = cell_info(shape_.cell).cell_state;
  ABC_CUDNN_CHECK(cudnnRNNForward(handle_, rnn_, training ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE,
                                  static_cast<const std::int32_t*>(seq_lengths_.get()), x_desc_, x, y_desc_, y, h_desc_,
                                  hx, hy, h_desc_, lstm ? cx : nullptr, lstm ? cy : nullptr, weight_bytes_,
                                  weights_.get(), work_bytes_, work_.get(), training ? reserve_bytes_ : 0,
                                  training ? reserve_.get() : nullptr));
}

void CudnnRnn::backward_data(const float* y, const float* dy, float* dx, const float* hx, const float* dhy, float* dhx,
                             const float* cx, const float* dcy, float* dcx) {
  const bool lstm = cell_info(shape_.cell).cell_state;
  ABC_CUDNN_CHECK(cudnnRNNBackwardData_v8(handle_, rnn_, static_cast<const std::int32_t*>(seq_lengths_.get()), y_desc_,
                                          y, dy, x_desc_, dx, h_desc_, hx, dhy, dhx, h_desc_, lstm ? cx : nullptr,
                                          lstm ? dcy : nullptr, lstm ? dcx : nullptr, weight_bytes_, weights_.get(),
                                          work_bytes_, work_.get(), reserve_bytes_, reserve_.get()));
}

void CudnnRnn::backward_weights(const float* x, const float* hx, const float* y) {
  cudaStream_t stream = nullptr;
  ABC_CUDNN_CHECK(cudnnGetStream(handle_, &stream));
  ABC_CUDA_CHECK(cudaMemsetAsync(dweights_.get(), 0, weight_bytes_, stream));
  ABC_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(handle_, rnn_, CUDNN_WGRAD_MODE_ADD,
                                             static_cast<const std::int32_t*>(seq_lengths_.get()), x_desc_, x, h_desc_,
                                             hx, y_desc_, y, weight_bytes_, dweights_.get(), work_bytes_, work_.get(),
                                             reserve_bytes_, reserve_.get()));
}

CudnnWeightMap::CudnnWeightMap(const ParamLayout& layout, int first_layer, const CudnnRnn& rnn) {
  const CudnnRnnShape& s = rnn.shape();
  if (first_layer < 0 || first_layer + s.layers > layout.config().layers || s.hidden != layout.config().hidden ||
      s.cell != layout.config().cell || layout.layer(first_layer).w_in.rows != s.input) {
    throw Error("cuDNN RNN (input " + std::to_string(s.input) + ", hidden " + std::to_string(s.hidden) + ", " +
                std::to_string(s.layers) + " layers) does not match the model's layers from " +
                std::to_string(first_layer));
  }
  slots_ = cudnn_slots(layout, first_layer, s.layers,
                       [&rnn](int layer, int lin_id, bool bias) { return rnn.offset(layer, lin_id, bias); });
  for (const CudnnSlot& slot : slots_) max_slot_ = std::max(max_slot_, slot.size());
  device_slots_ = DeviceMemory(slots_.size() * sizeof(CudnnSlot), "the cuDNN weight map");
  // On the stream the pack and unpack kernels run on: a plain cudaMemcpy goes on the legacy
  // stream, which a non-blocking stream does not wait for.
  const cudaStream_t stream = rnn.stream();
  ABC_CUDA_CHECK(cudaMemcpyAsync(device_slots_.get(), slots_.data(), slots_.size() * sizeof(CudnnSlot),
                                 cudaMemcpyHostToDevice, stream));
  ABC_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void CudnnWeightMap::pack(const float* ours, float* theirs, cudaStream_t stream) const {
  cudnn_pack(static_cast<const CudnnSlot*>(device_slots_.get()), static_cast<int>(slots_.size()), max_slot_, ours,
             theirs, stream);
}

void CudnnWeightMap::unpack(const float* theirs, float* ours, cudaStream_t stream) const {
  cudnn_unpack(static_cast<const CudnnSlot*>(device_slots_.get()), static_cast<int>(slots_.size()), max_slot_, theirs,
               ours, stream);
}

}  // namespace cuda
}  // namespace abc
