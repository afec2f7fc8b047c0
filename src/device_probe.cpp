#include "abc/device_probe.hpp"

namespace abc {

DeviceProbe probe_cuda_device() {
#ifdef ABC_HAVE_CUDA
  return cuda::probe_device();
#else
  DeviceProbe probe;
  probe.reason = "this build has no CUDA support (configured with ABC_ENABLE_CUDA=OFF or without nvcc)";
  return probe;
#endif
}

}  // namespace abc
