// abc_cuda_device: says whether a CUDA GPU is usable here, and if not, why.
// Exit 0 when usable, 1 when not.
#include <iostream>

#include "abc/device_probe.hpp"
#include "abc/error.hpp"

int main() {
  const abc::DeviceProbe probe = abc::probe_cuda_device();
  if (probe.usable) {
    std::cout << "GPU usable: " << probe.name << "\n";
    return abc::kExitOk;
  }
  std::cout << "no usable GPU: " << probe.reason << "\n";
  return abc::kExitRuntime;
}
