// Picks the backend for a resolved device name.
#include "abc/backend.hpp"

#include "abc/error.hpp"

namespace abc {

// ABC_HAVE_CUDA_BACKEND is defined by CMake when src/cuda/ is compiled in.
#ifndef ABC_HAVE_CUDA_BACKEND
std::unique_ptr<Backend> make_cuda_backend(const ModelConfig&, const AdamConfig&, int, int, const BackendOptions&) {
  throw Error("this build has no CUDA backend (configured with ABC_ENABLE_CUDA=OFF or without nvcc): use --device cpu");
}
std::unique_ptr<Backend> make_cudnn_backend(const ModelConfig&, const AdamConfig&, int, int, const BackendOptions&) {
  throw Error("this build has no CUDA backend, so no cuDNN backend either: drop --backend cudnn");
}
#endif

RecurrencePath parse_recurrence_path(const std::string& value) {
  if (value == "auto") return RecurrencePath::kAuto;
  if (value == "loop") return RecurrencePath::kStepLoop;
  if (value == "persistent") return RecurrencePath::kPersistent;
  throw Error("--recurrence: unknown recurrence path '" + value + "' (accepted: auto, loop, persistent)", kExitUsage);
}

std::unique_ptr<Backend> make_backend(const std::string& device, const ModelConfig& config, const AdamConfig& adam,
                                      int max_batch, int max_seq, const BackendOptions& options) {
  if (device == "cpu") return make_cpu_backend(config, adam, max_batch, max_seq, options.cpu_threads);
  if (device == "cuda") return make_cuda_backend(config, adam, max_batch, max_seq, options);
  if (device == "cudnn") return make_cudnn_backend(config, adam, max_batch, max_seq, options);
  throw Error("unknown backend '" + device + "' (expected cpu, cuda or cudnn)", kExitUsage);
}

}  // namespace abc
