// The host-side arithmetic of the CUDA backend, in plain C++ so the CPU test suite can
// check it on a machine without a GPU: where every buffer sits in the activation arena,
// how token ids and their per-token row lists travel to the device, launch shapes, the
// row-major to column-major GEMM mapping, and the device-side counters.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "abc/batcher.hpp"
#include "abc/cell_math.hpp"
#include "abc/model.hpp"
#include "abc/philox.hpp"

namespace abc {
namespace cuda {

// --- Counters that live on the device (plain structs: nvcc and the host compiler lay
// them out alike) --------------------------------------------------------------------

// Written by the loss and optimizer kernels; take_losses() reads and zeroes it.
struct LossAccumulator {
  double sum;             // sum of the chunks' mean losses since the last report
  double eval_sum;        // summed nats of the last evaluate()
  double last_grad_norm;  // global norm before clipping, last optimizer step
  int steps;              // forward_backward calls since the last report
  int nonfinite;          // 1 once a non-finite loss or gradient norm was seen
};

// Written by the norm kernel of each optimizer step, read by the update kernel. `lr` is
// written by set_adam_lr (Backend::set_lr) and read by every optimizer step when it runs,
// so a captured optimizer graph uses the current learning rate, not the capture's.
struct OptimizerState {
  long long steps;          // Adam updates made so far (t of the last update)
  double lr;                // learning rate of the next steps (set_adam_lr)
  int skip;                 // 1 when this step's norm was not finite: no update
  float clip_scale;         // min(1, clip / (norm + 1e-6)), as a float
  cell::AdamStep<float> k;  // this step's constants
};

// --- The activation arena ---------------------------------------------------------------

constexpr std::size_t kArenaAlign = 256;  // bytes; every region starts on this boundary

struct ArenaRegion {
  std::string name;
  std::size_t offset = 0;  // bytes from the arena's start
  std::size_t bytes = 0;
};

// Byte offsets of one layer's buffers (rows = max_seq * max_batch, BH = max_batch * H).
struct LayerSlots {
  std::size_t gates = 0;    // float [rows, G*H]: input terms, then what the cell's backward needs
  std::size_t rec = 0;      // float [rows, G*H]: recurrent terms (split-recurrent cells only)
  std::size_t h = 0;        // float [rows + max_batch, H]: slots 0..T, slot 0 the carried state
  std::size_t c = 0;        // float [rows + max_batch, H] (cell state only)
  std::size_t mask = 0;     // float [rows, H] dropout factors (dropout > 0 only)
  std::size_t dropped = 0;  // float [rows, H] h * mask (dropout > 0 only)
  std::size_t state_h = 0;  // float [max_batch, H] carried between chunks
  std::size_t state_c = 0;  // float [max_batch, H] (cell state only)
  bool has_c = false, has_rec = false, has_dropout = false;
};

struct ArenaPlan {
  std::vector<LayerSlots> layers;
  std::size_t logits = 0;            // float [rows, V]; after the loss, d(mean loss)/d logits
  std::size_t dgates = 0;            // float [rows, G*H] backward scratch
  std::size_t drec = 0;              // float [rows, G*H] d loss / d recurrent terms (split cells only)
  std::size_t dy = 0;                // float [rows, H] gradient of a layer's output, then dh
  std::size_t dc = 0;                // float [max_batch, H] cell gradient carried back in time
  std::size_t row_loss = 0;          // float [rows] per-row nats
  std::size_t norm_partials = 0;     // double [kMaxNormBlocks]
  std::size_t loss_acc = 0;          // LossAccumulator
  std::size_t opt_state = 0;         // OptimizerState
  std::size_t tokens = 0;            // int32 [token_block_capacity]: see TokenBlock
  std::size_t next_tokens = 0;       // int32 [max_batch] sampled ids
  std::size_t token_capacity = 0;    // ints in the token region
  std::size_t bytes = 0;             // the whole arena
  std::vector<ArenaRegion> regions;  // every region above, in arena order
};

// Throws abc::Error when max_batch or max_seq is below 1 or T*B rows overflow int.
ArenaPlan plan_arena(const ModelConfig& config, int max_batch, int max_seq);

// --- Token ids on their way to the device ------------------------------------------------

// The numbers of one call that kernels read from device memory instead of taking them as
// launch arguments, so a captured CUDA graph replays with each call's own values. They
// travel with the token ids, at the head of the block.
struct StepConstants {
  U32x2 dropout_key;             // forward_backward: dropout_key(seed, step)
  std::uint32_t sample_seed[2];  // sample_step: the seed, low word first
  std::uint32_t first_stream;    // sample_step
  std::uint32_t sample_step;     // sample_step: the draw's step
  float temperature;             // sample_step
  std::uint32_t unused;
};
static_assert(sizeof(StepConstants) % sizeof(std::int32_t) == 0, "StepConstants travels as int32 words");
constexpr std::size_t kStepConstantInts = sizeof(StepConstants) / sizeof(std::int32_t);

ABC_HD inline std::uint64_t sample_seed_of(const StepConstants& c) {
  return static_cast<std::uint64_t>(c.sample_seed[0]) | static_cast<std::uint64_t>(c.sample_seed[1]) << 32;
}

// One call's ids travel in one copy, packed as (offsets in int32 elements):
//   constants [kStepConstantInts] | inputs [rows] | targets [rows] | csr_offsets [V+1] | csr_rows [rows]
// so the pinned staging buffer and the device region share this layout. A sampling step
// copies only the constants and its inputs.
struct TokenBlock {
  std::size_t constants = 0, inputs = 0, targets = 0, csr_offsets = 0, csr_rows = 0;
  std::size_t ints = 0;  // total
};
TokenBlock token_block(std::size_t rows, int vocab);

// Groups the rows of a chunk by input token, for the deterministic table gradient:
// the rows holding token v are rows[offsets[v] .. offsets[v+1]), ascending.
// offsets: [vocab + 1], rows: [n]. Throws abc::Error on an id outside [0, vocab).
void build_token_csr(const TokenId* tokens, std::size_t n, int vocab, std::int32_t* offsets, std::int32_t* rows);


// --- Launch shapes -------------------------------------------------------------------------

constexpr int kThreads = 256;        // threads of an element-wise block
constexpr unsigned kMaxGrid = 8192;  // element-wise grids stride beyond this many blocks
constexpr int kMaxNormBlocks = 512;  // first stage of the gradient norm

// Blocks of `threads` covering n elements (grid-stride past kMaxGrid); n >= 1.
unsigned grid_for(std::size_t n, int threads = kThreads);
// The smallest power of two >= n, kept in [32, max_threads] (max_threads a power of two):
// the block size of a tree reduction over n values.
int pow2_threads(std::size_t n, int max_threads);
// Blocks of the first norm stage for n values: ceil(n / (kThreads * 16)) in [1, kMaxNormBlocks].
int norm_blocks(std::size_t n);

// --- Row-major GEMM through column-major cuBLAS ---------------------------------------------
// C[M,N] = op(A)[M,K] op(B)[K,N] in row-major is C^T = op(B)^T op(A)^T in column-major: call
// cublasSgemm(trans_first, trans_second, m, n, k, B, ldb, A, lda, C, ldc) with these values.
struct ColumnMajorGemm {
  bool trans_first = false;   // applies to the row-major B, passed first
  bool trans_second = false;  // applies to the row-major A, passed second
  int m = 0, n = 0, k = 0;
};
ColumnMajorGemm column_major_gemm(bool trans_a, bool trans_b, int M, int N, int K);

// The message of a failed device allocation: how much was asked, what the device had,
// and which options shrink it.
std::string allocation_failure_message(std::size_t bytes, const std::string& what, const std::string& cuda_error,
                                       std::size_t free_bytes, std::size_t total_bytes);


// --- The persistent recurrent kernels (kernels/persistent_recurrence.cu) -------------------
// One launch runs all T steps of a layer: each block owns `rows` batch rows, keeps the
// recurrent matrix and its rows' state in shared memory (fp32) and needs no other block.
// Per-block dynamic shared memory, in floats (the kernels place their arrays with these
// same functions, so the plan's byte counts are what the kernels index):
//   forward:  w     [pad4(H), G*H]      rows >= H zero
//             h     [2][rows][pad4(H)]  double-buffered state, pads zero
//   backward: w^T   [pad4(G*H), odd(H)] rows >= G*H zero; odd row stride: the transposing
//                                       load writes without bank conflicts
//             dz    [2][rows][pad4(G*H)] double-buffered, pads zero
// pad4 lets a thread read four values of the broadcast vector (h or dz) in one float4.
ABC_HD inline int persistent_pad4(int n) { return (n + 3) / 4 * 4; }
ABC_HD inline int persistent_odd(int n) { return n | 1; }
// Offset of the second array (the state) in floats; both offsets are multiples of 4.
ABC_HD inline int persistent_forward_state_offset(int G, int H) { return persistent_pad4(H) * G * H; }
ABC_HD inline int persistent_backward_state_offset(int G, int H) { return persistent_pad4(G * H) * persistent_odd(H); }
std::size_t persistent_forward_smem(CellKind cell, int H, int rows);   // bytes
std::size_t persistent_backward_smem(CellKind cell, int H, int rows);  // bytes

// What the plan needs to know of the device (recurrence.cpp queries it once).
struct PersistentDevice {
  std::size_t smem_optin = 0;   // cudaDevAttrMaxSharedMemoryPerBlockOptin (H100: 232448)
  std::size_t smem_per_sm = 0;  // cudaDevAttrMaxSharedMemoryPerMultiprocessor (H100: 233472)
  int sm_count = 0;             // cudaDevAttrMultiProcessorCount (H100 SXM: 132)
  int threads_per_sm = 2048;    // cudaDevAttrMaxThreadsPerMultiProcessor
  int blocks_per_sm = 32;       // cudaDevAttrMaxBlocksPerMultiprocessor
};

constexpr int kPersistentMaxRows = 4;  // batch rows per block: 1, 2 or 4
// Threads per block = units per block: H <= 256 (its launch bound lets a thread keep its
// 4 * rows accumulators and the prefetched inputs in registers; an fp32 w of a larger H
// fits no current GPU's shared memory anyway: RNN H = 256 needs 256 KB).
constexpr int kPersistentMaxThreads = 256;
constexpr std::size_t kDefaultDynamicSmem = 48 * 1024;  // a kernel's limit until raised
constexpr std::size_t kReservedSmemPerBlock = 1024;  // the runtime's share of each block (sm_80+)

struct PersistentPlan {
  bool fits = false;      // the weights and the state of one row fit, and H <= 256
  int rows = 0;           // batch rows per block
  int threads = 0;        // 32 * ceil(H / 32): thread j owns unit j of every row
  int blocks = 0;         // ceil(B / rows)
  std::size_t forward_smem = 0, backward_smem = 0;  // dynamic bytes per block at `rows`
  std::size_t needed = 0;     // max of the two (at 1 row when it does not fit)
  std::size_t available = 0;  // the device's opt-in limit per block
};

// Threads: one per hidden unit (all G gates of unit j, so the cell math needs no
// exchange between threads and c stays in a register); the matrix product is then a
// length-H (forward) or length-G*H (backward) loop per thread.
// Rows per block (rows = 0: chosen): the smallest of 1, 2, 4 whose grid runs in one wave
// (ceil(B / rows) blocks <= SMs * blocks per SM by shared memory, threads and the 32-block
// limit), else the largest that fits. Each block re-reads all of w from shared memory
// every step whatever its rows, so more rows per block cost little per step (the product
// is bound by shared-memory bandwidth), while a second wave doubles the time; beyond 4
// rows the 4 * rows accumulators per thread (LSTM) cost registers for nothing on an H100.
// A forced `rows` (1, 2 or 4; for tests) that does not fit gives fits = false.
PersistentPlan plan_persistent(CellKind cell, int H, int B, const PersistentDevice& device, int rows = 0);
// The largest H for which plan_persistent fits (0 if none).
int persistent_max_hidden(CellKind cell, const PersistentDevice& device);

}  // namespace cuda
}  // namespace abc
