// Host-side arithmetic of the CUDA backend (plain C++, built into abc_core so the CPU
// tests check it without a GPU).
#include "abc/cuda/plan.hpp"

#include <algorithm>
#include <climits>

#include "abc/error.hpp"

namespace abc {
namespace cuda {
namespace {

std::size_t sz(int n) { return static_cast<std::size_t>(n); }
std::size_t align_up(std::size_t n) { return (n + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }

}  // namespace

ArenaPlan plan_arena(const ModelConfig& config, int max_batch, int max_seq) {
  if (max_batch < 1 || max_seq < 1) {
    throw Error("model batch and sequence limits must be at least 1 (got batch " + std::to_string(max_batch) +
                    ", seq " + std::to_string(max_seq) + ")",
                kExitUsage);
  }
  const ParamLayout layout(config);  // validates the config
  const std::size_t rows = sz(max_batch) * sz(max_seq);
  if (rows > static_cast<std::size_t>(INT_MAX)) {
    throw Error("batch * seq = " + std::to_string(rows) + " rows is too many for one chunk: lower --batch or --seq",
                kExitUsage);
  }
  const std::size_t H = sz(config.hidden), GH = sz(layout.gates()) * H, V = sz(config.vocab);
  const std::size_t BH = sz(max_batch) * H;
  const CellInfo cell = cell_info(config.cell);
  const bool lstm = cell.cell_state, split = cell.split_recurrent, dropout = config.dropout > 0.0f;

  ArenaPlan plan;
  auto add = [&plan](const std::string& name, std::size_t bytes) {
    const std::size_t offset = plan.bytes;
    plan.regions.push_back(ArenaRegion{name, offset, bytes});
    plan.bytes = align_up(offset + bytes);
    return offset;
  };
  const std::size_t f = sizeof(float);
  for (int l = 0; l < config.layers; ++l) {
    const std::string p = "layer" + std::to_string(l) + ".";
    LayerSlots s;
    s.has_c = lstm;
    s.has_dropout = dropout;
    s.gates = add(p + "gates", rows * GH * f);
    if (split) s.rec = add(p + "rec", rows * GH * f);
    s.has_rec = split;
    s.h = add(p + "h", (rows + sz(max_batch)) * H * f);
    if (lstm) s.c = add(p + "c", (rows + sz(max_batch)) * H * f);
    if (dropout) {
      s.mask = add(p + "mask", rows * H * f);
      s.dropped = add(p + "dropped", rows * H * f);
    }
    s.state_h = add(p + "state_h", BH * f);
    if (lstm) s.state_c = add(p + "state_c", BH * f);
    plan.layers.push_back(s);
  }
  plan.logits = add("logits", rows * V * f);
  plan.dgates = add("dgates", rows * GH * f);
  if (split) plan.drec = add("drec", rows * GH * f);
  plan.dy = add("dy", rows * H * f);
  plan.dc = add("dc", BH * f);
  plan.row_loss = add("row_loss", rows * f);
  plan.norm_partials = add("norm_partials", sz(kMaxNormBlocks) * sizeof(double));
  plan.loss_acc = add("loss_acc", sizeof(LossAccumulator));
  plan.opt_state = add("opt_state", sizeof(OptimizerState));
  plan.token_capacity = token_block(rows, config.vocab).ints;
  plan.tokens = add("tokens", plan.token_capacity * sizeof(std::int32_t));
  plan.next_tokens = add("next_tokens", sz(max_batch) * sizeof(std::int32_t));
  return plan;
}

TokenBlock token_block(std::size_t rows, int vocab) {
  TokenBlock b;
  b.constants = 0;
  b.inputs = kStepConstantInts;
  b.targets = b.inputs + rows;
  b.csr_offsets = b.targets + rows;
  b.csr_rows = b.csr_offsets + sz(vocab) + 1;
  b.ints = b.csr_rows + rows;
  return b;
}

void build_token_csr(const TokenId* tokens, std::size_t n, int vocab, std::int32_t* offsets, std::int32_t* rows) {
  check_token_ids(tokens, n, vocab, "input");
  // Counting sort without scratch: count into offsets[v + 1], prefix-sum to starts, place
  // each row at its token's cursor (which leaves offsets[v] at the end of token v, the
  // start of v + 1), then shift the array back by one.
  std::fill(offsets, offsets + vocab + 1, 0);
  for (std::size_t r = 0; r < n; ++r) ++offsets[tokens[r] + 1];
  for (int v = 0; v < vocab; ++v) offsets[v + 1] += offsets[v];
  for (std::size_t r = 0; r < n; ++r) rows[offsets[tokens[r]]++] = static_cast<std::int32_t>(r);
  for (int v = vocab; v > 0; --v) offsets[v] = offsets[v - 1];
  offsets[0] = 0;
}

unsigned grid_for(std::size_t n, int threads) {
  const std::size_t blocks = (n + sz(threads) - 1) / sz(threads);
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(blocks, kMaxGrid)));
}

int pow2_threads(std::size_t n, int max_threads) {
  int t = 32;
  while (t < max_threads && sz(t) < n) t *= 2;
  return t;
}

int norm_blocks(std::size_t n) {
  const std::size_t per_block = sz(kThreads) * 16;
  const std::size_t blocks = (n + per_block - 1) / per_block;
  return static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(blocks, sz(kMaxNormBlocks))));
}

ColumnMajorGemm column_major_gemm(bool trans_a, bool trans_b, int M, int N, int K) {
  ColumnMajorGemm g;
  g.trans_first = trans_b;
  g.trans_second = trans_a;
  g.m = N;
  g.n = M;
  g.k = K;
  return g;
}

std::string allocation_failure_message(std::size_t bytes, const std::string& what, const std::string& cuda_error,
                                       std::size_t free_bytes, std::size_t total_bytes) {
  auto mib = [](std::size_t b) { return std::to_string((b + (1u << 20) - 1) >> 20); };
  return "cannot allocate " + mib(bytes) + " MiB of GPU memory for " + what + " (" + cuda_error + "; " +
         mib(free_bytes) + " MiB free of " + mib(total_bytes) +
         " MiB): lower --batch, --seq or --hidden, or free the GPU";
}

}  // namespace cuda
}  // namespace abc
