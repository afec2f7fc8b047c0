// --device and --backend: the same two options, with the same names, defaults, help and
// checks, in every program that computes (train, sample, eval loss, bench).
//   --device auto|cpu|cuda  where to compute; auto: the GPU when one is usable, else the
//                           CPU with a one-line notice
//   --backend ours|cudnn    on the GPU, who runs the recurrent layers: our kernels, or
//                           NVIDIA's cuDNN (to compare loss curves and speed against)
//   --recurrence auto|loop|persistent
//                           which of our kernels' implementations runs them (BackendOptions)
//   --threads N             on the CPU, the cores the work is cut across (default: all this
//                           process may use)
#pragma once
#include <string>

#include "abc/backend.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace abc {

struct DeviceOptions {
  std::string device = "auto";   // auto | cpu | cuda
  std::string backend = "ours";  // ours | cudnn
  std::string recurrence = "auto";  // auto | loop | persistent
  int threads = 0;                  // CPU threads; 0: all cores available
};

// Registers --device and --backend on `app` (a program or a subcommand). A --device cudnn
// (abc_cuda_bench's old spelling) is a usage error that names --device cuda --backend cudnn.
void add_device_options(CLI::App& app, DeviceOptions& options);

struct ResolvedDevice {
  std::string device;   // "cpu" or "cuda"
  std::string backend;  // make_backend's name: "cpu", "cuda" or "cudnn"
  std::string notice;   // why --device auto runs on the CPU; empty otherwise
  BackendOptions options;  // make_backend's options
  // One line for the log: where the work runs, e.g. "computing on the CPU with 2 threads".
  std::string summary() const;
  bool gpu() const { return device == "cuda"; }
};

// What runs. Throws abc::Error: a usage error (exit 2) for a value outside the lists or
// --backend cudnn with --device cpu; a runtime error (exit 1) for --device cuda, or
// --backend cudnn, without a usable GPU.
ResolvedDevice resolve_device(const DeviceOptions& options);

}  // namespace abc
