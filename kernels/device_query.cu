// Device probe: one block of one thread writes a known value; reading it back
// proves that the driver, the device and this binary's architectures all work.
#include <cuda_runtime.h>

#include <string>

#include "abc/device_probe.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

__global__ void write_marker(int* out) { *out = 0x0abc; }

std::string describe(cudaError_t err) { return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err); }

}  // namespace

DeviceProbe probe_device() {
  DeviceProbe probe;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    probe.reason = "no usable CUDA device (" + describe(err) + ")";
    return probe;
  }
  if (count == 0) {
    probe.reason = "no CUDA device found";
    return probe;
  }
  cudaDeviceProp prop{};
  if ((err = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) {
    probe.reason = "cannot query CUDA device 0 (" + describe(err) + ")";
    return probe;
  }
  int* marker = nullptr;
  int value = 0;
  if ((err = cudaMalloc(&marker, sizeof(int))) == cudaSuccess) {
    launch_kernel(write_marker, 1, 1, 0, nullptr, marker);
    err = cudaGetLastError();
    if (err == cudaSuccess) err = cudaMemcpy(&value, marker, sizeof(int), cudaMemcpyDeviceToHost);
    cudaFree(marker);
  }
  if (err != cudaSuccess || value != 0x0abc) {
    probe.reason = std::string("CUDA device 0 (") + prop.name + ") cannot run this build's kernels (" +
                   (err != cudaSuccess ? describe(err) : std::string("wrong result")) + ")";
    return probe;
  }
  probe.usable = true;
  probe.name = prop.name;
  return probe;
}

}  // namespace cuda
}  // namespace abc
