// Every CUDA runtime and cuBLAS call is checked: a failure throws abc::Error naming the
// call, the file and the line. Plus the RAII owners of device resources (memory, pinned
// host memory, stream, event, cuBLAS handle); their destructors never throw.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

namespace abc {
namespace cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line);

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda_error(err, call, file, line);
}
inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas_error(status, call, file, line);
}

}  // namespace cuda
}  // namespace abc

#define ABC_CUDA_CHECK(call) ::abc::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define ABC_CUBLAS_CHECK(call) ::abc::cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: a bad launch configuration shows up here, named.
#define ABC_CUDA_CHECK_LAUNCH(kernel) \
  ::abc::cuda::check_cuda(cudaGetLastError(), "launch of " #kernel, __FILE__, __LINE__)

namespace abc {
namespace cuda {

// Device memory. Throws abc::Error with the size asked, the free memory and what to
// lower (--batch, --seq, --hidden) when the allocation fails.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(std::size_t bytes, const std::string& what);
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& other) noexcept;
  DeviceMemory& operator=(DeviceMemory&& other) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  void* get() const { return ptr_; }
  char* bytes() const { return static_cast<char*>(ptr_); }
  std::size_t size() const { return size_; }

 private:
  void* ptr_ = nullptr;
  std::size_t size_ = 0;
};

// Page-locked host memory (the source of asynchronous copies).
class PinnedMemory {
 public:
  PinnedMemory() = default;
  PinnedMemory(std::size_t bytes, const std::string& what);
  ~PinnedMemory();
  PinnedMemory(const PinnedMemory&) = delete;
  PinnedMemory& operator=(const PinnedMemory&) = delete;

  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

class Stream {
 public:
  Stream();  // non-blocking with respect to the legacy default stream
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  Event();  // timing disabled
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// An instantiated CUDA graph (cudaGraphExec_t), owned.
class GraphExec {
 public:
  explicit GraphExec(cudaGraphExec_t exec = nullptr) : exec_(exec) {}
  ~GraphExec();
  GraphExec(GraphExec&& other) noexcept;
  GraphExec& operator=(GraphExec&& other) noexcept;
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  cudaGraphExec_t get() const { return exec_; }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// Records what `enqueue()` queues on `stream` (kernels, copies, cuBLAS calls; nothing
// that waits or allocates) into a graph and instantiates it. The work is only recorded:
// launch the result to run it. If enqueue throws, the capture is ended and discarded.
template <class Enqueue>
GraphExec capture_graph(cudaStream_t stream, Enqueue&& enqueue);

// A cuBLAS handle bound to one stream, FP32 math (TF32 tensor cores only when `tf32`),
// with its own workspace so cuBLAS allocates nothing while training.
class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t stream, bool tf32 = false);
  ~CublasHandle();
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
  DeviceMemory workspace_;
};

}  // namespace cuda
}  // namespace abc

namespace abc {
namespace cuda {

// Ends a capture begun on `stream` and instantiates it (throws on failure, after
// discarding the graph).
GraphExec end_capture(cudaStream_t stream);
// Ends and discards a capture after an error (never throws).
void abandon_capture(cudaStream_t stream) noexcept;

template <class Enqueue>
GraphExec capture_graph(cudaStream_t stream, Enqueue&& enqueue) {
  ABC_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue();
  } catch (...) {
    abandon_capture(stream);
    throw;
  }
  return end_capture(stream);
}

}  // namespace cuda
}  // namespace abc
