// GPU tests skip with the reason when no GPU is usable, and fail instead when the
// run demands a GPU (tools/test.sh --gpu sets ABC_REQUIRE_GPU=1).
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "abc/device_probe.hpp"

inline bool abc_gpu_required() {
  const char* v = std::getenv("ABC_REQUIRE_GPU");
  return v && std::strcmp(v, "1") == 0;
}

#define ABC_SKIP_WITHOUT_GPU()                                                            \
  do {                                                                                    \
    const abc::DeviceProbe abc_probe_ = abc::probe_cuda_device();                         \
    if (!abc_probe_.usable) {                                                             \
      if (abc_gpu_required()) FAIL() << "a GPU is required here: " << abc_probe_.reason; \
      GTEST_SKIP() << "no usable GPU: " << abc_probe_.reason;                             \
    }                                                                                     \
  } while (0)
