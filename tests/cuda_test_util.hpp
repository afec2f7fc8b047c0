// Helpers of the CUDA kernel tests: typed device arrays, random data and a tolerance
// check that reports the worst element. Tests run their ops on the legacy default
// stream (0), so the blocking copies here are ordered after the kernels.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "abc/cuda/check.hpp"

namespace abc_test {

template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : mem_(n * sizeof(T), "a test buffer"), n_(n) {}
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  T* get() const { return static_cast<T*>(mem_.get()); }
  std::size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    ABC_CUDA_CHECK(cudaMemcpy(get(), host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
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

// Every |got - want| <= abs_tol + rel_tol * |want|; on failure names the worst element.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double abs_tol, double rel_tol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  std::size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double diff = std::fabs(static_cast<double>(got[k]) - want[k]);
    const double allowed = abs_tol + rel_tol * std::fabs(static_cast<double>(want[k]));
    const bool ok = diff <= allowed;  // false for NaN
    if (!ok) ++bad;
    const double excess = ok ? diff - allowed : INFINITY;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = k;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " elements outside tolerance; worst at " << worst
                     << ": got " << got[worst] << ", want " << want[worst];
}

}  // namespace abc_test
