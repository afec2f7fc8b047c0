// A typed device array and random inputs, shared by the CUDA tests (cuda_test_util.hpp) and
// the kernel lab (dev/kernels/common.cuh). No GoogleTest here, so the lab can use it.
// Copies synchronise the whole device on both sides: the lab's kernels run on a non-blocking
// stream, which a plain copy on the legacy stream does not wait for (nor they for it).
#pragma once
#include <algorithm>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

#include "abc/cuda/check.hpp"

namespace abc_test {

template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : mem_(std::max<std::size_t>(n, 1) * sizeof(T), "a test buffer"), n_(n) {}
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  T* get() const { return static_cast<T*>(mem_.get()); }
  std::size_t size() const { return n_; }
  void upload(const std::vector<T>& host) const {
    ABC_CUDA_CHECK(cudaDeviceSynchronize());
    ABC_CUDA_CHECK(cudaMemcpy(get(), host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
    ABC_CUDA_CHECK(cudaDeviceSynchronize());
  }
  // Outputs start as NaN, so an element a kernel fails to write fails its check.
  void fill_nan() const { upload(std::vector<T>(n_, std::numeric_limits<T>::quiet_NaN())); }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    ABC_CUDA_CHECK(cudaDeviceSynchronize());
    ABC_CUDA_CHECK(cudaMemcpy(host.data(), get(), n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  abc::cuda::DeviceMemory mem_;
  std::size_t n_;
};

inline std::vector<float> random_floats(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace abc_test
