// The device probe on a GPU: it must find the device and run a kernel.
#include <gtest/gtest.h>

#include "gpu_skip.hpp"

TEST(GpuProbe, FindsTheDeviceAndRunsAKernel) {
  ABC_SKIP_WITHOUT_GPU();
  const abc::DeviceProbe probe = abc::probe_cuda_device();
  EXPECT_TRUE(probe.usable);
  EXPECT_FALSE(probe.name.empty());
  EXPECT_TRUE(probe.reason.empty());
}

TEST(GpuProbe, ReasonGivenWhenNotUsable) {
  const abc::DeviceProbe probe = abc::probe_cuda_device();
  if (probe.usable) GTEST_SKIP() << "a GPU is usable here (" << probe.name << ")";
  EXPECT_FALSE(probe.reason.empty());
}
