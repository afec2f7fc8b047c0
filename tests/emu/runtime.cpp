// Host emulation of the CUDA runtime subset abc-cuda uses (tests/emu/README.md).
//
// Device memory: every allocation sits at the end of its own mapping, between two
// inaccessible guard pages; the slack around it (to the page before, and to the next
// 256-byte boundary after) is filled with 0xFF and checked after every operation, so an
// access out of bounds faults at once or is reported by the operation that made it.
// New allocations are 0xFF bytes too (NaN as floats), as device memory is never zeroed.
//
// Streams: work is queued and runs only when the host waits for it (a synchronising call,
// an event, a copy into pageable host memory), in stream order; a plain cudaMemcpy or
// cudaMemset runs on the legacy stream and does not wait for non-blocking streams, as on
// a GPU. Capture records a stream's work into a graph instead; a launched graph queues
// what it recorded, with the arguments it recorded. While a capture is open, calls that
// would wait or allocate fail with cudaErrorStreamCaptureUnsupported and invalidate it.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_runtime_api.h"
#include "emu.hpp"
#include "emu_internal.hpp"

struct CUstream_st {
  bool nonblocking = false;
  struct Op {
    std::string what;
    std::function<void()> work;
  };
  std::deque<Op> queue;
  std::uint64_t queued = 0, done = 0;  // operations ever queued / finished
  struct Capture* capture = nullptr;   // open capture, if any
};

struct CUevent_st {
  CUstream_st* stream = nullptr;  // null: never recorded
  std::uint64_t seq = 0;          // done when stream->done >= seq
};

struct CUgraph_st {
  std::vector<CUstream_st::Op> nodes;
};
struct CUgraphExec_st {
  // Shared with the launches still queued: destroying an executable graph is allowed
  // while a launch of it is pending.
  std::shared_ptr<const std::vector<CUstream_st::Op>> nodes;
};

struct Capture {
  CUgraph_st* graph = nullptr;
  bool invalidated = false;
  std::string why;
};

namespace abc_emu {
namespace {

namespace ctx = boost::context;

// --- The emulated device: an H100 SXM's limits ---------------------------------------------
constexpr std::size_t kGlobalMem = std::size_t(80) << 30;
constexpr std::size_t kDefaultSmem = 48 * 1024;    // dynamic + static without opting in
constexpr std::size_t kSmemOptin = 227 * 1024;     // per block, opted in
constexpr std::size_t kSmemPerSm = 228 * 1024;
constexpr int kSms = 132, kThreadsPerSm = 2048, kBlocksPerSm = 32, kMaxThreadsPerBlock = 1024;
constexpr std::size_t kDeviceAlign = 256;          // cudaMalloc's alignment
constexpr unsigned char kPoison = 0xFF;            // fresh memory and slack: NaN as float

// --- Errors ------------------------------------------------------------------------------
thread_local cudaError_t g_last_error = cudaSuccess;
cudaError_t g_sticky = cudaSuccess;  // a failed kernel or copy: every later call fails

cudaError_t fail(cudaError_t err) {
  if (err != cudaSuccess) g_last_error = err;
  return err;
}

// --- Memory ---------------------------------------------------------------------------------
struct Allocation {
  char* user = nullptr;
  std::size_t size = 0;
  Memory kind = Memory::kDevice;
  char* map = nullptr;  // device: the whole mapping, guard pages included
  std::size_t map_len = 0;
  char* data_begin = nullptr;  // device: first accessible byte (front slack starts here)
  char* data_end = nullptr;    // device: one past the last accessible byte
};
std::map<const char*, Allocation> g_allocations;  // by user pointer
std::size_t g_device_bytes = 0;

std::size_t page_size() {
  static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

const Allocation* find_allocation(const void* p) {
  const char* c = static_cast<const char*>(p);
  auto it = g_allocations.upper_bound(c);
  if (it == g_allocations.begin()) return nullptr;
  --it;
  const Allocation& a = it->second;
  return c <= a.user + a.size ? &a : nullptr;  // one past the end still belongs to it
}

// A guard page or slack byte that is not what the allocation left there: empty if fine.
std::string slack_problem(const Allocation& a) {
  for (const char* p = a.data_begin; p < a.user; ++p) {
    if (static_cast<unsigned char>(*p) != kPoison) {
      return "a write " + std::to_string(a.user - p) + " bytes before the start of a device allocation of " +
             std::to_string(a.size) + " bytes";
    }
  }
  for (const char* p = a.user + a.size; p < a.data_end; ++p) {
    if (static_cast<unsigned char>(*p) != kPoison) {
      return "a write " + std::to_string(p - (a.user + a.size)) + " bytes past the end of a device allocation of " +
             std::to_string(a.size) + " bytes";
    }
  }
  return {};
}

void check_all_slack(const std::string& after) {
  for (auto& [user, a] : g_allocations) {
    if (a.kind != Memory::kDevice) continue;
    const std::string problem = slack_problem(a);
    if (problem.empty()) continue;
    report("out-of-bounds access: " + problem + ", found after " + after);
    std::memset(a.data_begin, kPoison, static_cast<std::size_t>(a.user - a.data_begin));  // report once
    std::memset(a.user + a.size, kPoison, static_cast<std::size_t>(a.data_end - (a.user + a.size)));
    g_sticky = cudaErrorIllegalAddress;
  }
}

// A fault in a guard page names the allocation, then crashes as it would have.
void on_segv(int sig, siginfo_t* info, void*) {
  const char* addr = static_cast<const char*>(info->si_addr);
  char line[256];
  std::snprintf(line, sizeof line, "abc-cuda emulation: segmentation fault at %p, not next to a device allocation\n",
                info->si_addr);
  for (const auto& [user, a] : g_allocations) {
    if (a.kind != Memory::kDevice || addr < a.map || addr >= a.map + a.map_len) continue;
    std::snprintf(line, sizeof line,
                  "abc-cuda emulation: out-of-bounds access at byte offset %ld of a device allocation of %zu bytes\n",
                  static_cast<long>(addr - a.user), a.size);
    break;
  }
  (void)!write(2, line, std::strlen(line));
  signal(sig, SIG_DFL);  // returning re-runs the access, which now kills the process
}

void install_fault_handler() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa {};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
}

// --- Streams ----------------------------------------------------------------------------------
CUstream_st g_legacy;  // stream 0
std::vector<CUstream_st*> g_streams{&g_legacy};
int g_open_captures = 0;  // captures open on this (the only) host thread

CUstream_st* stream_of(cudaStream_t s) { return s ? s : &g_legacy; }

bool known_stream(CUstream_st* s) { return std::find(g_streams.begin(), g_streams.end(), s) != g_streams.end(); }

void run_op(const CUstream_st::Op& op) {
  if (g_sticky != cudaSuccess) return;  // the context is lost: nothing more runs
  try {
    op.work();
  } catch (const std::exception& e) {
    report(op.what + " failed: " + e.what());
    g_sticky = cudaErrorLaunchFailure;
    return;
  }
  check_all_slack(op.what);
}

void run_until(CUstream_st* s, std::uint64_t seq) {
  while (s->done < seq && !s->queue.empty()) {
    const CUstream_st::Op op = std::move(s->queue.front());
    s->queue.pop_front();
    run_op(op);
    ++s->done;
  }
}
void drain(CUstream_st* s) { run_until(s, s->queued); }
void drain_all() {
  for (CUstream_st* s : g_streams) drain(s);
}

// A call that waits or allocates while a capture is open invalidates it, as in
// cudaStreamCaptureModeThreadLocal (the only mode the project uses).
bool capture_forbids(const char* call) {
  if (g_open_captures == 0) return false;
  for (CUstream_st* s : g_streams) {
    if (s->capture && !s->capture->invalidated) {
      s->capture->invalidated = true;
      s->capture->why = std::string(call) + " during capture";
    }
  }
  report(std::string(call) + " while a stream capture is open: not permitted (the capture is invalidated)");
  return true;
}

// --- Launches ---------------------------------------------------------------------------------
std::map<const void*, int> g_max_dynamic_smem;  // cudaFuncAttributeMaxDynamicSharedMemorySize

struct Fiber {
  dim3 idx;
  ctx::fiber context;  // the CUDA thread
  ctx::fiber caller;   // the scheduler, while the thread runs
  bool at_barrier = false, finished = false;
  std::size_t static_decl = 0;  // static shared arrays this thread has declared
};

struct Block {
  dim3 idx, block_dim, grid_dim;
  std::vector<char> dynamic;  // the launch's dynamic shared memory (16-byte aligned start)
  std::vector<std::unique_ptr<std::vector<char>>> statics;  // static shared arrays, in order
  std::size_t static_bytes = 0;
};

thread_local Fiber* g_fiber = nullptr;
thread_local Block* g_block = nullptr;

// Fiber stacks, reused from launch to launch; each has a guard page below it.
class StackPool {
 public:
  static constexpr std::size_t kStack = 64 * 1024;
  ctx::stack_context allocate() {
    if (free_.empty()) {
      const std::size_t len = kStack + page_size();
      void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) throw std::bad_alloc();
      mprotect(m, page_size(), PROT_NONE);
      free_.push_back(static_cast<char*>(m) + len);
    }
    ctx::stack_context sc;
    sc.sp = free_.back();
    sc.size = kStack;
    free_.pop_back();
    return sc;
  }
  void deallocate(ctx::stack_context& sc) { free_.push_back(static_cast<char*>(sc.sp)); }

 private:
  std::vector<char*> free_;  // stack tops
};
StackPool g_stacks;

struct PooledStack {
  ctx::stack_context allocate() { return g_stacks.allocate(); }
  void deallocate(ctx::stack_context& sc) { g_stacks.deallocate(sc); }
};

enum class Schedule { kShuffle, kForward, kReverse };
Schedule schedule() {
  static const Schedule s = [] {
    const char* v = std::getenv("ABC_EMU_SCHEDULE");
    if (!v || std::strcmp(v, "shuffle") == 0) return Schedule::kShuffle;
    if (std::strcmp(v, "forward") == 0) return Schedule::kForward;
    if (std::strcmp(v, "reverse") == 0) return Schedule::kReverse;
    std::fprintf(stderr, "abc-cuda emulation: ABC_EMU_SCHEDULE must be shuffle, forward or reverse (got '%s')\n", v);
    std::exit(2);
  }();
  return s;
}
std::mt19937 g_schedule_rng(20261130);

std::string block_name(const dim3& b) {
  return "block (" + std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.z) + ")";
}

// Runs one block: every thread a fiber, scheduled in phases separated by __syncthreads.
void run_block(Block& block, const ThreadBody& body) {
  const dim3 bd = block.block_dim;
  const std::size_t n = static_cast<std::size_t>(bd.x) * bd.y * bd.z;
  std::fill(block.dynamic.begin(), block.dynamic.end(), static_cast<char>(kPoison));
  block.statics.clear();
  block.static_bytes = 0;
  std::vector<Fiber> fibers(n);
  for (std::size_t i = 0; i < n; ++i) {
    Fiber& f = fibers[i];
    f.idx = dim3(static_cast<unsigned>(i % bd.x), static_cast<unsigned>(i / bd.x % bd.y),
                 static_cast<unsigned>(i / (std::size_t(bd.x) * bd.y)));
    f.context = ctx::fiber(std::allocator_arg, PooledStack(), [&f, &body](ctx::fiber&& caller) {
      f.caller = std::move(caller);
      body.run();
      f.finished = true;
      return std::move(f.caller);
    });
  }
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  g_block = &block;
  for (int phase = 0;; ++phase) {
    if (schedule() == Schedule::kShuffle) std::shuffle(order.begin(), order.end(), g_schedule_rng);
    if (schedule() == Schedule::kReverse) std::reverse(order.begin(), order.end());
    std::size_t finished = 0, waiting = 0;
    for (std::size_t i : order) {
      Fiber& f = fibers[i];
      if (!f.finished) {
        g_fiber = &f;
        f.at_barrier = false;
        f.context = std::move(f.context).resume();
        g_fiber = nullptr;
      }
      finished += f.finished;
      waiting += f.at_barrier;
    }
    if (finished == n) break;
    if (finished != 0) {
      g_block = nullptr;
      throw std::runtime_error("__syncthreads reached by " + std::to_string(waiting) + " of the " + std::to_string(n) +
                               " threads of " + block_name(block.idx) + " while the others had exited (phase " +
                               std::to_string(phase) + "): a barrier in divergent code");
    }
  }
  g_block = nullptr;
}

void run_grid(const dim3 grid, const dim3 block_dim, std::size_t smem, const ThreadBody& body) {
  Block block;
  block.block_dim = block_dim;
  block.grid_dim = grid;
  block.dynamic.resize(smem + 16);
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        block.idx = dim3(x, y, z);
        run_block(block, body);
        if (block.static_bytes + smem > kSmemOptin) {
          throw std::runtime_error("the block used " + std::to_string(block.static_bytes) + " bytes of static and " +
                                   std::to_string(smem) + " of dynamic shared memory, over the device's " +
                                   std::to_string(kSmemOptin));
        }
      }
    }
  }
}

std::string dims(const dim3& d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

}  // namespace

// --- Interface for emu.hpp and cublas.cpp ----------------------------------------------------------

void report(const std::string& message) { std::fprintf(stderr, "abc-cuda emulation: %s\n", message.c_str()); }

Memory memory_of(const void* p) {
  const Allocation* a = find_allocation(p);
  return a ? a->kind : Memory::kHost;
}

std::string device_range_problem(const void* p, std::size_t bytes) {
  const Allocation* a = find_allocation(p);
  if (!a || a->kind != Memory::kDevice) return "not device memory";
  const std::size_t offset = static_cast<std::size_t>(static_cast<const char*>(p) - a->user);
  if (offset + bytes > a->size) {
    return std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + " overrun a device allocation of " +
           std::to_string(a->size) + " bytes";
  }
  return {};
}

cudaError_t enqueue(cudaStream_t stream, std::string what, std::function<void()> work) {
  if (g_sticky != cudaSuccess) return g_sticky;
  CUstream_st* s = stream_of(stream);
  if (!known_stream(s)) return cudaErrorInvalidResourceHandle;
  if (s->capture) {
    if (s->capture->invalidated) return cudaErrorStreamCaptureInvalidated;
    s->capture->graph->nodes.push_back({std::move(what), std::move(work)});
    return cudaSuccess;
  }
  // The legacy stream waits for the blocking streams' earlier work, and they for its.
  if (s == &g_legacy) {
    for (CUstream_st* other : g_streams) {
      if (other != s && !other->nonblocking) drain(other);
    }
  } else if (!s->nonblocking) {
    drain(&g_legacy);
  }
  s->queue.push_back({std::move(what), std::move(work)});
  ++s->queued;
  return cudaSuccess;
}

void clear_errors() {
  g_sticky = cudaSuccess;
  g_last_error = cudaSuccess;
  for (CUstream_st* s : g_streams) {
    s->done += s->queue.size();
    s->queue.clear();
  }
}

const dim3& thread_idx() { return g_fiber->idx; }
const dim3& block_idx() { return g_block->idx; }
const dim3& block_dim() { return g_block->block_dim; }
const dim3& grid_dim() { return g_block->grid_dim; }

void syncthreads() {
  Fiber& f = *g_fiber;
  f.at_barrier = true;
  f.caller = std::move(f.caller).resume();
}

void* static_shared(std::size_t bytes, std::size_t align) {
  Fiber& f = *g_fiber;
  Block& b = *g_block;
  const std::size_t k = f.static_decl++;
  if (k == b.statics.size()) {  // the first thread to reach this declaration makes it
    auto mem = std::make_unique<std::vector<char>>(bytes + align, static_cast<char>(kPoison));
    b.statics.push_back(std::move(mem));
    b.static_bytes += bytes;
  }
  char* base = b.statics[k]->data();
  const std::uintptr_t u = reinterpret_cast<std::uintptr_t>(base);
  return base + (round_up(u, align) - u);
}

void* dynamic_shared() {
  char* base = g_block->dynamic.data();
  const std::uintptr_t u = reinterpret_cast<std::uintptr_t>(base);
  return base + (round_up(u, 16) - u);
}

cudaError_t launch(const void* kernel, dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
                   std::shared_ptr<const ThreadBody> body, const std::vector<const void*>& pointers) {
  if (g_sticky != cudaSuccess) return fail(g_sticky);
  const std::size_t threads = static_cast<std::size_t>(block.x) * block.y * block.z;
  if (threads == 0 || threads > kMaxThreadsPerBlock || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
    report("launch with grid " + dims(grid) + " and block " + dims(block) + ": invalid configuration");
    return fail(cudaErrorInvalidConfiguration);
  }
  if (smem > kDefaultSmem) {
    auto it = g_max_dynamic_smem.find(kernel);
    const std::size_t allowed = it == g_max_dynamic_smem.end() ? 0 : static_cast<std::size_t>(it->second);
    if (smem > allowed) {
      report("launch with " + std::to_string(smem) +
             " bytes of dynamic shared memory, above 48 KB, while the kernel's "
             "cudaFuncAttributeMaxDynamicSharedMemorySize is " +
             std::to_string(allowed) + ": set it (cudaFuncSetAttribute) before launching or capturing");
      return fail(cudaErrorInvalidValue);
    }
  }
  for (std::size_t k = 0; k < pointers.size(); ++k) {
    const void* p = pointers[k];
    if (p != nullptr && memory_of(p) != Memory::kDevice) {
      report("kernel launch: pointer argument " + std::to_string(k) + " is " +
             (memory_of(p) == Memory::kPinned ? "page-locked host memory" : "host memory") + ", not device memory");
      return fail(cudaErrorInvalidDevicePointer);
    }
  }
  const std::string what = "kernel launch with grid " + dims(grid) + " and block " + dims(block);
  return fail(enqueue(stream, what, [grid, block, smem, body] { run_grid(grid, block, smem, *body); }));
}

}  // namespace abc_emu

// --- The runtime API ------------------------------------------------------------------------------
using abc_emu::fail;
using abc_emu::Memory;

namespace {
const char* error_name(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorStreamCaptureUnjoined: return "cudaErrorStreamCaptureUnjoined";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "cudaErrorUnknown";
}

// Checks a copy's or memset's device side(s) before it is queued.
cudaError_t check_device_range(const void* p, std::size_t bytes, const char* call, const char* side) {
  const std::string problem = abc_emu::device_range_problem(p, bytes);
  if (problem.empty()) return cudaSuccess;
  abc_emu::report(std::string(call) + ": the " + side + " (" + std::to_string(bytes) + " bytes): " + problem);
  return cudaErrorInvalidValue;
}

cudaError_t check_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind& kind, const char* call) {
  const Memory d = abc_emu::memory_of(dst), s = abc_emu::memory_of(src);
  if (kind == cudaMemcpyDefault) {
    kind = d == Memory::kDevice ? (s == Memory::kDevice ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                : (s == Memory::kDevice ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  }
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (bytes == 0) return cudaSuccess;
  if (dst_device) {
    if (cudaError_t e = check_device_range(dst, bytes, call, "destination")) return e;
  } else if (d == Memory::kDevice) {
    abc_emu::report(std::string(call) + ": the destination is device memory, but the copy's kind says host");
    return cudaErrorInvalidValue;
  }
  if (src_device) {
    if (cudaError_t e = check_device_range(src, bytes, call, "source")) return e;
  } else if (s == Memory::kDevice) {
    abc_emu::report(std::string(call) + ": the source is device memory, but the copy's kind says host");
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
}  // namespace

const char* cudaGetErrorName(cudaError_t error) { return error_name(error); }
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered (host emulation)";
    case cudaErrorLaunchFailure: return "unspecified launch failure (host emulation: see the line above)";
    default: return "see the emulation's message above";
  }
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = abc_emu::g_last_error;
  abc_emu::g_last_error = cudaSuccess;
  return e != cudaSuccess ? e : abc_emu::g_sticky;
}
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "NVIDIA H100 80GB HBM3 (abc-cuda host emulation)");
  prop->totalGlobalMem = abc_emu::kGlobalMem;
  prop->sharedMemPerBlock = abc_emu::kDefaultSmem;
  prop->sharedMemPerBlockOptin = abc_emu::kSmemOptin;
  prop->sharedMemPerMultiprocessor = abc_emu::kSmemPerSm;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = abc_emu::kMaxThreadsPerBlock;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = abc_emu::kSms;
  prop->maxThreadsPerMultiProcessor = abc_emu::kThreadsPerSm;
  prop->maxBlocksPerMultiProcessor = abc_emu::kBlocksPerSm;
  prop->major = 9;
  prop->minor = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = abc_emu::kMaxThreadsPerBlock; break;
    case cudaDevAttrMultiProcessorCount: *value = abc_emu::kSms; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = abc_emu::kThreadsPerSm; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(abc_emu::kSmemPerSm); break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: *value = abc_emu::kBlocksPerSm; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(abc_emu::kSmemOptin); break;
    default: return fail(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  if (abc_emu::capture_forbids("cudaDeviceSynchronize")) return fail(cudaErrorStreamCaptureUnsupported);
  abc_emu::drain_all();
  return fail(abc_emu::g_sticky);
}

cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  *total_bytes = abc_emu::kGlobalMem;
  *free_bytes = abc_emu::kGlobalMem - std::min(abc_emu::kGlobalMem, abc_emu::g_device_bytes);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, std::size_t bytes) {
  *ptr = nullptr;
  if (abc_emu::capture_forbids("cudaMalloc")) return fail(cudaErrorStreamCaptureUnsupported);
  if (bytes > abc_emu::kGlobalMem - std::min(abc_emu::kGlobalMem, abc_emu::g_device_bytes)) {
    return fail(cudaErrorMemoryAllocation);
  }
  abc_emu::install_fault_handler();
  const std::size_t page = abc_emu::page_size();
  const std::size_t rounded = abc_emu::round_up(std::max<std::size_t>(bytes, 1), abc_emu::kDeviceAlign);
  const std::size_t data = abc_emu::round_up(rounded, page);
  const std::size_t len = data + 2 * page;
  void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
  char* map = static_cast<char*>(m);
  mprotect(map, page, PROT_NONE);
  mprotect(map + page + data, page, PROT_NONE);
  abc_emu::Allocation a;
  a.map = map;
  a.map_len = len;
  a.data_begin = map + page;
  a.data_end = map + page + data;
  a.user = a.data_end - rounded;
  a.size = bytes;
  a.kind = Memory::kDevice;
  std::memset(a.data_begin, abc_emu::kPoison, data);
  abc_emu::g_allocations[a.user] = a;
  abc_emu::g_device_bytes += bytes;
  *ptr = a.user;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  if (abc_emu::capture_forbids("cudaFree")) return fail(cudaErrorStreamCaptureUnsupported);
  abc_emu::drain_all();  // cudaFree waits for the device
  auto it = abc_emu::g_allocations.find(static_cast<const char*>(ptr));
  if (it == abc_emu::g_allocations.end() || it->second.kind != Memory::kDevice) {
    abc_emu::report("cudaFree of a pointer that cudaMalloc did not return");
    return fail(cudaErrorInvalidValue);
  }
  const abc_emu::Allocation a = it->second;
  const std::string problem = abc_emu::slack_problem(a);
  if (!problem.empty()) abc_emu::report("out-of-bounds access found at cudaFree: " + problem);
  abc_emu::g_allocations.erase(it);
  abc_emu::g_device_bytes -= a.size;
  munmap(a.map, a.map_len);
  return fail(problem.empty() ? abc_emu::g_sticky : cudaErrorIllegalAddress);
}

cudaError_t cudaMallocHost(void** ptr, std::size_t bytes) {
  *ptr = nullptr;
  if (abc_emu::capture_forbids("cudaMallocHost")) return fail(cudaErrorStreamCaptureUnsupported);
  void* p = std::aligned_alloc(abc_emu::kDeviceAlign, abc_emu::round_up(std::max<std::size_t>(bytes, 1), 256));
  if (!p) return fail(cudaErrorMemoryAllocation);
  abc_emu::Allocation a;
  a.user = static_cast<char*>(p);
  a.size = bytes;
  a.kind = Memory::kPinned;
  abc_emu::g_allocations[a.user] = a;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  if (abc_emu::capture_forbids("cudaFreeHost")) return fail(cudaErrorStreamCaptureUnsupported);
  abc_emu::drain_all();
  auto it = abc_emu::g_allocations.find(static_cast<const char*>(ptr));
  if (it == abc_emu::g_allocations.end() || it->second.kind != Memory::kPinned) return fail(cudaErrorInvalidValue);
  abc_emu::g_allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (abc_emu::g_sticky != cudaSuccess) return fail(abc_emu::g_sticky);
  if (cudaError_t e = check_copy(dst, src, bytes, kind, "cudaMemcpyAsync")) return fail(e);
  if (bytes == 0) return cudaSuccess;
  CUstream_st* s = abc_emu::stream_of(stream);
  const bool pageable_src = kind == cudaMemcpyHostToDevice && abc_emu::memory_of(src) == Memory::kHost;
  const bool pageable_dst = kind == cudaMemcpyDeviceToHost && abc_emu::memory_of(dst) == Memory::kHost;
  if (s->capture && (pageable_src || pageable_dst)) {
    abc_emu::capture_forbids("cudaMemcpyAsync with pageable host memory");
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  if (pageable_src) {
    // A copy from pageable memory is staged before the call returns: the caller may
    // reuse its buffer at once.
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src),
                                                      static_cast<const char*>(src) + bytes);
    return fail(abc_emu::enqueue(stream, "cudaMemcpyAsync (host to device)",
                                 [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); }));
  }
  const cudaError_t e = abc_emu::enqueue(stream, "cudaMemcpyAsync", [dst, src, bytes] { std::memcpy(dst, src, bytes); });
  if (e != cudaSuccess) return fail(e);
  // Into pageable memory the call returns only once the copy is done.
  if (pageable_dst) abc_emu::drain(s);
  return fail(abc_emu::g_sticky);
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (abc_emu::capture_forbids("cudaMemcpy")) return fail(cudaErrorStreamCaptureUnsupported);
  if (cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, nullptr)) return e;
  abc_emu::drain(&abc_emu::g_legacy);  // waits for the legacy stream, not for non-blocking ones
  return fail(abc_emu::g_sticky);
}

cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream) {
  if (abc_emu::g_sticky != cudaSuccess) return fail(abc_emu::g_sticky);
  if (bytes == 0) return cudaSuccess;
  if (cudaError_t e = check_device_range(dst, bytes, "cudaMemsetAsync", "destination")) return fail(e);
  return fail(abc_emu::enqueue(stream, "cudaMemsetAsync", [dst, value, bytes] { std::memset(dst, value, bytes); }));
}

cudaError_t cudaMemset(void* dst, int value, std::size_t bytes) {
  if (abc_emu::capture_forbids("cudaMemset")) return fail(cudaErrorStreamCaptureUnsupported);
  if (cudaError_t e = cudaMemsetAsync(dst, value, bytes, nullptr)) return e;
  abc_emu::drain(&abc_emu::g_legacy);
  return fail(abc_emu::g_sticky);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  auto* s = new CUstream_st;
  s->nonblocking = (flags & cudaStreamNonBlocking) != 0;
  abc_emu::g_streams.push_back(s);
  *stream = s;
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  CUstream_st* s = stream;
  if (!s || s == &abc_emu::g_legacy || !abc_emu::known_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  abc_emu::drain(s);  // queued work still completes
  if (s->capture) {
    --abc_emu::g_open_captures;
    delete s->capture->graph;
    delete s->capture;
  }
  abc_emu::g_streams.erase(std::find(abc_emu::g_streams.begin(), abc_emu::g_streams.end(), s));
  delete s;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  CUstream_st* s = abc_emu::stream_of(stream);
  if (!abc_emu::known_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  if (abc_emu::capture_forbids("cudaStreamSynchronize")) return fail(cudaErrorStreamCaptureUnsupported);
  abc_emu::drain(s);
  return fail(abc_emu::g_sticky);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  *event = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  CUstream_st* s = abc_emu::stream_of(stream);
  if (!event || !abc_emu::known_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  if (s->capture) {
    abc_emu::report("cudaEventRecord on a capturing stream is not emulated");
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  event->stream = s;
  event->seq = s->queued;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  if (abc_emu::capture_forbids("cudaEventSynchronize")) return fail(cudaErrorStreamCaptureUnsupported);
  if (event->stream && abc_emu::known_stream(event->stream)) abc_emu::run_until(event->stream, event->seq);
  return fail(abc_emu::g_sticky);
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  CUstream_st* s = abc_emu::stream_of(stream);
  if (s == &abc_emu::g_legacy) return fail(cudaErrorStreamCaptureUnsupported);
  if (!abc_emu::known_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  if (s->capture) return fail(cudaErrorInvalidValue);  // already capturing
  s->capture = new Capture;
  s->capture->graph = new CUgraph_st;
  ++abc_emu::g_open_captures;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  CUstream_st* s = abc_emu::stream_of(stream);
  *graph = nullptr;
  if (!abc_emu::known_stream(s) || !s->capture) return fail(cudaErrorStreamCaptureUnmatched);
  Capture* c = s->capture;
  s->capture = nullptr;
  --abc_emu::g_open_captures;
  const bool invalidated = c->invalidated;
  if (invalidated) {
    abc_emu::report("stream capture ended invalidated: " + c->why);
    delete c->graph;
  } else {
    *graph = c->graph;
  }
  delete c;
  return invalidated ? fail(cudaErrorStreamCaptureInvalidated) : cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!graph) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{std::make_shared<const std::vector<CUstream_st::Op>>(graph->nodes)};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return fail(cudaErrorInvalidValue);
  return fail(abc_emu::enqueue(stream, "a graph launch", [nodes = exec->nodes] {
    for (const CUstream_st::Op& node : *nodes) {
      node.work();
      abc_emu::check_all_slack(node.what + " (a graph node)");
    }
  }));
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t abc_emu_func_set_attribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<std::size_t>(value) > abc_emu::kSmemOptin) {
    return fail(cudaErrorInvalidValue);
  }
  abc_emu::g_max_dynamic_smem[func] = value;
  return cudaSuccess;
}
