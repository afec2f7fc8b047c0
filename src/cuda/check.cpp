// Checked CUDA and cuBLAS calls, and the RAII owners of device resources.
#include "abc/cuda/check.hpp"

#include <utility>

#include "abc/cuda/plan.hpp"
#include "abc/error.hpp"

namespace abc {
namespace cuda {
namespace {

std::string where(const char* call, const char* file, int line) {
  return std::string(call) + " at " + file + ":" + std::to_string(line);
}

std::string describe(cudaError_t err) { return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err); }

// cuBLAS wants 32 MiB on Hopper for its best kernels; smaller cards need less.
constexpr std::size_t kCublasWorkspaceBytes = std::size_t(32) << 20;

}  // namespace

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  throw Error("CUDA call failed: " + where(call, file, line) + ": " + describe(err));
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw Error("cuBLAS call failed: " + where(call, file, line) + ": " + cublasGetStatusName(status) + ": " +
              cublasGetStatusString(status));
}

DeviceMemory::DeviceMemory(std::size_t bytes, const std::string& what) : size_(bytes) {
  const cudaError_t err = cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes);
  if (err != cudaSuccess) {
    ptr_ = nullptr;
    (void)cudaGetLastError();  // an allocation failure is not sticky: clear it
    std::size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) (void)cudaGetLastError();
    throw Error(allocation_failure_message(bytes, what, describe(err), free_bytes, total_bytes));
  }
}

DeviceMemory::~DeviceMemory() {
  if (ptr_) cudaFree(ptr_);
}

DeviceMemory::DeviceMemory(DeviceMemory&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), size_(std::exchange(other.size_, 0)) {}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept {
  if (this != &other) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

PinnedMemory::PinnedMemory(std::size_t bytes, const std::string& what) {
  const cudaError_t err = cudaMallocHost(&ptr_, bytes == 0 ? 1 : bytes);
  if (err != cudaSuccess) {
    ptr_ = nullptr;
    (void)cudaGetLastError();
    throw Error("cannot allocate " + std::to_string(bytes) + " bytes of page-locked host memory for " + what + " (" +
                describe(err) + ")");
  }
}

PinnedMemory::~PinnedMemory() {
  if (ptr_) cudaFreeHost(ptr_);
}

Stream::Stream() { ABC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}
void Stream::synchronize() const { ABC_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

Event::Event() { ABC_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming)); }
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}

GraphExec::~GraphExec() {
  if (exec_) cudaGraphExecDestroy(exec_);
}
GraphExec::GraphExec(GraphExec&& other) noexcept : exec_(std::exchange(other.exec_, nullptr)) {}
GraphExec& GraphExec::operator=(GraphExec&& other) noexcept {
  if (this != &other) {
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = std::exchange(other.exec_, nullptr);
  }
  return *this;
}

GraphExec end_capture(cudaStream_t stream) {
  cudaGraph_t graph = nullptr;
  ABC_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable keeps what it needs
  if (err != cudaSuccess) throw_cuda_error(err, "cudaGraphInstantiate(&exec, graph, 0)", __FILE__, __LINE__);
  return GraphExec(exec);
}

void abandon_capture(cudaStream_t stream) noexcept {
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  (void)cudaGetLastError();  // a failed capture leaves a sticky-free error: clear it
}

CublasHandle::CublasHandle(cudaStream_t stream, bool tf32) {
  workspace_ = DeviceMemory(kCublasWorkspaceBytes, "the cuBLAS workspace");
  ABC_CUBLAS_CHECK(cublasCreate(&handle_));
  try {
    ABC_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    ABC_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_.get(), workspace_.size()));
    ABC_CUBLAS_CHECK(cublasSetMathMode(handle_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    ABC_CUBLAS_CHECK(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST));
  } catch (...) {
    cublasDestroy(handle_);
    throw;
  }
}

CublasHandle::~CublasHandle() {
  if (handle_) cublasDestroy(handle_);
}

}  // namespace cuda
}  // namespace abc
