#include "abc/device_options.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <vector>

#include "abc/cpu_model.hpp"
#include "abc/device_probe.hpp"
#include "abc/error.hpp"

namespace abc {
namespace {

const std::vector<std::string> kDevices = {"auto", "cpu", "cuda"};
const std::vector<std::string> kBackends = {"ours", "cudnn"};

bool one_of(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// cuDNN was once a device of abc_cuda_bench; it runs on the GPU, so it is a backend.
constexpr char kCudnnIsABackend[] = "cudnn is a --backend, not a device: use --device cuda --backend cudnn";

}  // namespace

void add_device_options(CLI::App& app, DeviceOptions& options) {
  const CLI::Validator not_cudnn([](std::string& v) { return v == "cudnn" ? kCudnnIsABackend : std::string(); }, "");
  app.add_option("--device", options.device,
                 "Where to compute: auto (the GPU when usable, else the CPU with a notice), cpu or cuda")
      ->check(not_cudnn)
      ->check(CLI::IsMember(kDevices))
      ->capture_default_str();
  app.add_option("--backend", options.backend,
                 "Who runs the recurrent layers on the GPU: ours (the product's kernels) or cudnn (NVIDIA's "
                 "library: a reference for comparing loss curves and speed)")
      ->check(CLI::IsMember(kBackends))
      ->capture_default_str()
      ->group("Developer");
  app.add_option("--recurrence", options.recurrence,
                 "With --backend ours on the GPU, which implementation runs the recurrent layers: auto (the "
                 "persistent kernels where the shape fits, else the step loop), loop or persistent")
      ->check(CLI::IsMember({"auto", "loop", "persistent"}))
      ->capture_default_str()
      ->group("Developer");
  app.add_option("--threads", options.threads,
                 "CPU threads to cut the work across (0: every core this process may use; results are the same "
                 "run to run for a given count)")
      ->check(CLI::Range(0, kMaxCpuThreads))
      ->capture_default_str();
}

ResolvedDevice resolve_device(const DeviceOptions& options) {
  if (options.device == "cudnn") throw Error(std::string("--device ") + kCudnnIsABackend, kExitUsage);
  if (!one_of(kDevices, options.device)) {
    throw Error("--device must be auto, cpu or cuda (got '" + options.device + "')", kExitUsage);
  }
  if (!one_of(kBackends, options.backend)) {
    throw Error("--backend must be ours or cudnn (got '" + options.backend + "')", kExitUsage);
  }
  ResolvedDevice r;
  r.options.recurrence = parse_recurrence_path(options.recurrence);
  if (options.threads < 0 || options.threads > kMaxCpuThreads) {
    throw Error("--threads must be in 0.." + std::to_string(kMaxCpuThreads) + " (got " +
                    std::to_string(options.threads) + ")",
                kExitUsage);
  }
  r.options.cpu_threads = options.threads > 0 ? options.threads : available_cpu_threads();
  std::string no_gpu;  // why auto fell back to the CPU
  r.device = "cpu";
  if (options.device != "cpu") {
    // Usable only in a build with the CUDA backend (device_probe.cpp).
    const DeviceProbe probe = probe_cuda_device();
    if (probe.usable) {
      r.device = "cuda";
    } else if (options.device == "cuda") {
      throw Error("--device cuda: " + probe.reason + "; use --device cpu or auto");
    } else {
      no_gpu = probe.reason;
    }
  }
  if (options.backend == "cudnn" && !r.gpu()) {
    // Contradictory flags are a usage error; a machine without a GPU is not.
    throw Error("--backend cudnn runs on a GPU, but " + (no_gpu.empty() ? "--device cpu was asked for" : no_gpu) +
                    ": drop --backend cudnn",
                no_gpu.empty() ? kExitUsage : kExitRuntime);
  }
  r.backend = options.backend == "cudnn" ? "cudnn" : r.device;
  if (!no_gpu.empty()) r.notice = no_gpu + ": running on the CPU";
  return r;
}

std::string ResolvedDevice::summary() const {
  if (gpu()) return std::string("computing on the GPU (") + (backend == "cudnn" ? "cuDNN's" : "our") + " recurrence)";
  const int n = options.cpu_threads;
  return "computing on the CPU with " + std::to_string(n) + (n == 1 ? " thread" : " threads") + " (--threads)";
}

}  // namespace abc
