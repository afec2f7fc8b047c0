// What every kernel lab program shares (dev/kernels/README.md): the command line, the GPU
// check, device buffers, seeded inputs, the comparison with a CPU reference and the timing.
// Compiled by nvcc, or by the host compiler against the CUDA emulation in tests/emu
// (ABC_CUDA_EMULATION): there the checks run, and each timing captures and replays its
// CUDA graph once (so the capture is tested too) but reads no clock.
#pragma once
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "abc/cli.hpp"
#include "abc/cuda/check.hpp"
#include "abc/device_probe.hpp"
#include "abc/error.hpp"
#include "device_array.hpp"

namespace lab {

constexpr int kExitNoGpu = 2;  // no usable GPU: nothing was checked or timed
constexpr int kBlockSizes[] = {64, 128, 256, 512, 1024};
constexpr int kSamples = 9;  // timed replays of a graph; the median is reported
#if defined(ABC_CUDA_EMULATION)
constexpr bool kHasClock = false;  // the emulation's time says nothing about a GPU's
#else
constexpr bool kHasClock = true;
#endif

__host__ __device__ inline std::size_t sz(int n) { return static_cast<std::size_t>(n); }

// --- Command line --------------------------------------------------------------------------

struct Args {
  int version = 0;   // 0: every version
  int B = 0, H = 0;  // 0: the program's default shapes
  int T = 0;         // persistent recurrence only (0: its default)
  int reps = 0;      // calls per timed graph (0: the program's default; 1 under the emulation)
  bool check_only = false;
};

// The positional [version] [B H] and the options every lab program takes.
inline void add_common_options(CLI::App& app, Args& args, int versions) {
  app.add_option("version", args.version, "kernel version, 0 = all")->check(CLI::Range(0, versions));
  app.add_option("B", args.B, "batch rows (with H: only this shape)")->check(CLI::PositiveNumber);
  app.add_option("H", args.H, "hidden units")->check(CLI::PositiveNumber);
  app.add_option("--reps", args.reps, "calls per timed CUDA graph")->check(CLI::PositiveNumber);
  app.add_flag("--check-only", args.check_only, "compare with the CPU reference, time nothing");
}

// The shapes to run: the one on the command line, else `defaults` ({B, H} pairs).
inline std::vector<std::pair<int, int>> shapes(const Args& args, std::vector<std::pair<int, int>> defaults) {
  if ((args.B == 0) != (args.H == 0)) throw abc::Error("give both B and H, or neither", abc::kExitUsage);
  if (args.B > 0) return {{args.B, args.H}};
  return defaults;
}

// One line on stdout naming the device, or "no usable GPU: <reason>" and false.
inline bool gpu_usable(const char* program, const Args& args) {
  const abc::DeviceProbe probe = abc::cuda::probe_device();
  if (!probe.usable) {
    std::printf("no usable GPU: %s\n", probe.reason.c_str());
    return false;
  }
  std::printf("%s on %s%s\n", program, probe.name.c_str(), args.check_only ? ": checks only (--check-only)" : "");
  return true;
}

// Calls per timed graph, and the line that says how times are taken (none: --check-only).
inline int timing_reps(const Args& args, int gpu_default) {
  const int reps = args.reps > 0 ? args.reps : kHasClock ? gpu_default : 1;
  if (args.check_only) return reps;
  if (kHasClock) {
    std::printf("times: per call, the median of %d replays of a CUDA graph of %d calls\n", kSamples, reps);
  } else {
    std::printf(
        "no clock under the emulation: each timing's CUDA graph (%d call%s) is captured and replayed once; "
        "times read n/a\n",
        reps, reps == 1 ? "" : "s");
  }
  return reps;
}

// --- Buffers and inputs ----------------------------------------------------------------------

// The tests' device array (tests/device_array.hpp): copies that wait for the lab's stream.
template <class T>
using DeviceBuffer = abc_test::DeviceArray<T>;
using abc_test::random_floats;

inline std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
inline std::vector<float> to_float(const std::vector<double>& v) {
  std::vector<float> f(v.size());
  std::transform(v.begin(), v.end(), f.begin(), [](double x) { return static_cast<float>(x); });
  return f;
}
inline double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// --- Comparison with the CPU reference -----------------------------------------------------

// The outcome of comparing one call's outputs with the reference.
struct Check {
  std::size_t bad = 0, count = 0;
  double max_err = 0;  // max |got - want| over every output compared (inf for a NaN)
  std::string worst;   // the first output outside tolerance and its worst element
  bool pass() const { return bad == 0; }
  std::string line() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s  max err %8.2e", pass() ? "PASS" : "FAIL", max_err);
    std::string s = buf;
    if (!pass())
      s += "  (" + std::to_string(bad) + " of " + std::to_string(count) + " outside tolerance; " + worst + ")";
    return s;
  }
};

// Adds output `what`: every |got[k] - want[k]| <= abs_tol + rel_tol * |want[k]|.
inline void compare(Check& check, const char* what, const std::vector<float>& got, const std::vector<double>& want,
                    double abs_tol, double rel_tol) {
  std::size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (std::size_t k = 0; k < want.size(); ++k) {
    const double diff = std::fabs(static_cast<double>(got[k]) - want[k]);
    const double allowed = abs_tol + rel_tol * std::fabs(want[k]);
    const double excess = diff <= allowed ? diff - allowed : INFINITY;  // a NaN is never <=
    if (excess == INFINITY) ++bad;
    if (excess > worst_excess) worst_excess = excess, worst = k;
    check.max_err = std::max(check.max_err, std::isnan(diff) ? INFINITY : diff);
  }
  check.count += want.size();
  if (bad > 0 && check.bad == 0) {
    check.worst = std::string(what) + "[" + std::to_string(worst) + "]: got " + std::to_string(got[worst]) + ", want " +
                  std::to_string(want[worst]);
  }
  check.bad += bad;
}

// The checks of a run: counts them, and ends the run with one line and the exit code.
struct Tally {
  int checks = 0, failed = 0;
  void add(const Check& check) { ++checks, failed += !check.pass(); }
  // 0 when every check passed (or none ran: every version selected was skipped), else 1.
  int finish(const char* program) const {
    if (failed > 0) {
      std::printf("\n%s: %d of %d checks FAILED\n", program, failed, checks);
    } else if (checks == 0) {
      std::printf("\n%s: nothing was checked (every version selected was skipped for these shapes)\n", program);
    } else {
      std::printf("\n%s: all %d checks PASSED\n", program, checks);
    }
    return failed > 0 ? abc::kExitRuntime : abc::kExitOk;
  }
};

// --- Timing --------------------------------------------------------------------------------

#if !defined(ABC_CUDA_EMULATION)
// A CUDA event that records time (abc::cuda::Event has timing off).
class TimingEvent {
 public:
  TimingEvent() { ABC_CUDA_CHECK(cudaEventCreate(&event_)); }
  ~TimingEvent() { cudaEventDestroy(event_); }
  TimingEvent(const TimingEvent&) = delete;
  TimingEvent& operator=(const TimingEvent&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};
#endif

// Median microseconds of one enqueue(): `reps` calls captured into one CUDA graph (so the
// host's launch cost is left out, as in training, which replays graphs), replayed once to
// warm up, then kSamples times between two events. NaN under the emulation (no clock).
inline double median_us(cudaStream_t stream, int reps, const std::function<void()>& enqueue) {
  const abc::cuda::GraphExec graph = abc::cuda::capture_graph(stream, [&] {
    for (int r = 0; r < reps; ++r) enqueue();
  });
  ABC_CUDA_CHECK(cudaGraphLaunch(graph.get(), stream));
  ABC_CUDA_CHECK(cudaStreamSynchronize(stream));
#if defined(ABC_CUDA_EMULATION)
  return std::numeric_limits<double>::quiet_NaN();
#else
  TimingEvent start, stop;
  std::vector<double> us;
  for (int s = 0; s < kSamples; ++s) {
    ABC_CUDA_CHECK(cudaEventRecord(start.get(), stream));
    ABC_CUDA_CHECK(cudaGraphLaunch(graph.get(), stream));
    ABC_CUDA_CHECK(cudaEventRecord(stop.get(), stream));
    ABC_CUDA_CHECK(cudaEventSynchronize(stop.get()));
    float ms = 0;
    ABC_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    us.push_back(1e3 * ms / reps);
  }
  std::nth_element(us.begin(), us.begin() + kSamples / 2, us.end());
  return us[kSamples / 2];
#endif
}

// --- The pointwise labs' driver --------------------------------------------------------------

// One shape of a pointwise kernel family with its inputs, CPU reference and device buffers.
// A Case provides, for pass p (0 forward, 1 backward):
//   static const char* pass_name(int p);
//   double bytes(int p) const;      device memory one call reads and writes, at least
//   void load(int p) const;         uploads the pass's inputs (again: some are updated in place),
//                                   fills its outputs with NaN
//   Check check(int p) const;       downloads its outputs and compares them with the reference
template <class Case>
struct Version {
  const char* what;
  bool takes_block;  // false: the launcher picks its block size (`own_block`)
  int own_block;
  std::string (*rejects)(int B, int H);  // why the version cannot run B x H; "" when it can
  void (*pass[2])(const Case&, int block, cudaStream_t);
};

// Version::rejects of a version that runs every shape.
inline std::string any_shape(int, int) { return ""; }

// Every version (or args.version) on every shape: at each block size a check against the
// reference, then a timing. Returns the exit code: 0 when every check passed, else 1.
template <class Case>
int run_pointwise_lab(const char* program, const Args& args, const std::vector<Version<Case>>& versions,
                      const std::vector<std::pair<int, int>>& default_shapes) {
  const auto todo = shapes(args, default_shapes);
  if (!gpu_usable(program, args)) return kExitNoGpu;
  const int reps = timing_reps(args, 100);
  const abc::cuda::Stream stream;
  Tally tally;
  for (const auto& [B, H] : todo) {
    std::printf("\nB=%d H=%d\n", B, H);
    const Case c(B, H);
    for (std::size_t v = 0; v < versions.size(); ++v) {
      if (args.version != 0 && args.version != static_cast<int>(v) + 1) continue;
      const Version<Case>& ver = versions[v];
      std::printf("  v%zu %s\n", v + 1, ver.what);
      const std::string why = ver.rejects(B, H);
      if (!why.empty()) {
        std::printf("    skipped: %s\n", why.c_str());
        continue;
      }
      std::vector<int> blocks(std::begin(kBlockSizes), std::end(kBlockSizes));
      if (!ver.takes_block) blocks = {ver.own_block};
      for (int p = 0; p < 2; ++p) {
        for (int block : blocks) {
          c.load(p);
          ver.pass[p](c, block, stream.get());
          const Check check = c.check(p);
          tally.add(check);
          std::printf("    %-8s block %4d%s  %s", Case::pass_name(p), block, ver.takes_block ? "      " : " (own)",
                      check.line().c_str());
          if (!args.check_only) {
            const double us = median_us(stream.get(), reps, [&] { ver.pass[p](c, block, stream.get()); });
            if (std::isnan(us)) {
              std::printf("  n/a");
            } else {
              std::printf("  %9.2f us  %7.1f GB/s", us, c.bytes(p) / (us * 1e3));
            }
          }
          std::printf("\n");
        }
      }
    }
  }
  return tally.finish(program);
}

// main() of a lab program: parse (`more` adds the program's own options), run, turn an
// exception into one line and exit code 1 (a usage error: 2).
inline int lab_main(int argc, char** argv, const char* program, const char* description, int versions, Args& args,
                    const std::function<int()>& body, const std::function<void(CLI::App&)>& more = {}) {
  CLI::App app{description, program};
  add_common_options(app, args, versions);
  if (more) more(app);
  return abc::run_cli(app, argc, argv, body);
}

// main() of a pointwise lab program; default shapes B=64 with H = 100 (the default model),
// 256, 512 and 1024.
template <class Case>
int pointwise_main(int argc, char** argv, const char* program, const char* description,
                   const std::vector<Version<Case>>& versions) {
  Args args;
  return lab_main(argc, argv, program, description, static_cast<int>(versions.size()), args, [&] {
    return run_pointwise_lab<Case>(program, args, versions, {{64, 100}, {64, 256}, {64, 512}, {64, 1024}});
  });
}

}  // namespace lab
