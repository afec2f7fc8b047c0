// The kernel side of the host emulation of CUDA (tests/emu/README.md):
//  - a launch runs every block of the grid, one block after another; the threads of a
//    block are fibers on one host thread. A fiber runs until it finishes or reaches
//    __syncthreads, which is a real barrier: no thread passes it before every thread of
//    the block has reached it. Between barriers the threads run one after another in an
//    order shuffled per block (ABC_EMU_SCHEDULE=shuffle|forward|reverse), so a missing
//    barrier shows as a read of a value not written yet;
//  - shared memory, static (ABC_SHARED_ARRAY) and dynamic (ABC_DYNAMIC_SHARED), is per
//    block and filled with NaN bytes before the block starts;
//  - the launch is checked as the runtime checks it (block and grid sizes, dynamic shared
//    memory against the kernel's attribute and the device's opt-in limit) and every pointer
//    argument must be null or device memory; then the work is queued on the stream.
#pragma once
#include <cstddef>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuda_runtime_api.h"

namespace abc_emu {

// Forgets a failed kernel or copy and drops queued work (cudaDeviceReset without freeing
// memory), so one test process can go on after a test that made the device fail.
void clear_errors();

// Built-ins of the running CUDA thread (the macros threadIdx ... of cuda_runtime.h).
const dim3& thread_idx();
const dim3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
void syncthreads();

// The block's shared memory: the k-th static array a thread declares is the same memory
// for every thread of the block; the dynamic part is the launch's smem bytes.
void* static_shared(std::size_t bytes, std::size_t align);
void* dynamic_shared();

// One CUDA thread's work: calls the kernel with the launch's arguments.
class ThreadBody {
 public:
  virtual ~ThreadBody() = default;
  virtual void run() const = 0;
};

// Checks the launch and queues it on `stream`; the result is also what cudaGetLastError
// returns next. pointers: the launch's pointer arguments, checked to be device memory.
cudaError_t launch(const void* kernel, dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
                   std::shared_ptr<const ThreadBody> body, const std::vector<const void*>& pointers);

template <class... Params>
class BoundKernel final : public ThreadBody {
 public:
  template <class... Args>
  BoundKernel(void (*kernel)(Params...), Args&&... args) : kernel_(kernel), args_(std::forward<Args>(args)...) {}
  void run() const override { std::apply(kernel_, args_); }

 private:
  void (*kernel_)(Params...);
  std::tuple<std::decay_t<Params>...> args_;  // copied at launch, as <<< >>> copies them
};

template <class T>
void collect_pointer(const T& value, std::vector<const void*>& out) {
  if constexpr (std::is_pointer_v<T>) out.push_back(static_cast<const void*>(value));
}

// kernel<<<grid, block, smem, stream>>>(args...)
template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
                   Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "a kernel launch needs one argument per parameter");
  auto body = std::make_shared<const BoundKernel<Params...>>(kernel, std::forward<Args>(args)...);
  std::vector<const void*> pointers;
  (collect_pointer(static_cast<std::decay_t<Params>>(args), pointers), ...);
  launch(reinterpret_cast<const void*>(kernel), grid, block, smem, stream, std::move(body), pointers);
}

}  // namespace abc_emu
