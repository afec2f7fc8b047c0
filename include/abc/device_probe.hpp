// Is a CUDA GPU usable here? Used by `--device auto` and by the GPU tests to skip
// with the reason.
#pragma once
#include <string>

namespace abc {

struct DeviceProbe {
  bool usable = false;
  std::string name;    // e.g. "NVIDIA H100 80GB HBM3" when usable
  std::string reason;  // why not, when not usable
};

DeviceProbe probe_cuda_device();

#ifdef ABC_HAVE_CUDA
namespace cuda {
// Implemented in kernels/device_query.cu: counts devices and runs one tiny kernel,
// so a driver/architecture mismatch shows up as "not usable" with the CUDA error.
DeviceProbe probe_device();
}  // namespace cuda
#endif

}  // namespace abc
