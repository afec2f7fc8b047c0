// What the emulated runtime (runtime.cpp) offers the emulated cuBLAS (cublas.cpp).
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "cuda_runtime_api.h"

namespace abc_emu {

// Queues `work` on `stream` (or records it into the stream's capture); `what` names it in
// error reports. Returns cudaErrorStreamCaptureInvalidated etc. as the runtime would.
cudaError_t enqueue(cudaStream_t stream, std::string what, std::function<void()> work);

// Where a pointer points.
enum class Memory { kHost, kPinned, kDevice };
Memory memory_of(const void* p);
// Empty when [p, p + bytes) lies inside one device allocation; otherwise why not.
std::string device_range_problem(const void* p, std::size_t bytes);
// One line on stderr, prefixed "abc-cuda emulation: ".
void report(const std::string& message);

}  // namespace abc_emu
