// The model-wide code of include/abc/model.hpp: the parameter layout every backend shares
// (offsets of each tensor in the flat block), cell names, and the initialisation.
#include <cmath>
#include <random>

#include "abc/error.hpp"
#include "abc/model.hpp"

namespace abc {

std::vector<std::string> cell_names() {
  std::vector<std::string> names;
  for (int k = 0; k < kCellCount; ++k) names.emplace_back(cell_kind_name(cell_kind_at(k)));
  return names;
}

CellKind parse_cell_kind(const std::string& name) {
  std::string accepted;
  for (int k = 0; k < kCellCount; ++k) {
    if (name == cell_kind_name(cell_kind_at(k))) return cell_kind_at(k);
    accepted += (k == 0 ? "" : k + 1 == kCellCount ? " or " : ", ") + std::string(cell_kind_name(cell_kind_at(k)));
  }
  throw Error("unknown cell type '" + name + "': use " + accepted, kExitUsage);
}

void validate(const ModelConfig& config) {
  if (config.vocab < 2) {
    throw Error("model vocabulary has " + std::to_string(config.vocab) +
                " tokens; it needs at least 2 (<start> and <end>)");
  }
  // Upper bounds keep every offset and G*H product far inside int and size_t.
  if (config.vocab > 65536) {
    throw Error("model vocabulary has " + std::to_string(config.vocab) + " tokens; at most 65536 are supported");
  }
  if (config.hidden < 1 || config.hidden > 16384) {
    throw Error("hidden size must be in 1..16384 (got " + std::to_string(config.hidden) + ")", kExitUsage);
  }
  if (config.layers < 1 || config.layers > 64) {
    throw Error("layers must be in 1..64 (got " + std::to_string(config.layers) + ")", kExitUsage);
  }
  // The negated form also rejects NaN.
  if (!(config.dropout >= 0.0f && config.dropout < 1.0f)) {
    throw Error("dropout must be in [0, 1) (got " + std::to_string(config.dropout) + ")", kExitUsage);
  }
}

ParamLayout::ParamLayout(const ModelConfig& config) : config_(config) {
  validate(config);
  const int H = config.hidden, GH = gates() * H;
  auto add = [this](const std::string& name, int rows, int cols) {
    ParamTensor t{name, total_, rows, cols};
    total_ += t.size();
    tensors_.push_back(t);
    return t;
  };
  for (int l = 0; l < config.layers; ++l) {
    const std::string p = "layer" + std::to_string(l) + ".";
    LayerParams lp;
    lp.w_in = add(p + "w_in", l == 0 ? config.vocab : H, GH);
    lp.w_rec = add(p + "w_rec", H, GH);
    lp.bias = add(p + "bias", 1, GH);
    if (cell_info(config.cell).split_recurrent) lp.rec_bias = add(p + "rec_bias", 1, GH);
    layers_.push_back(lp);
  }
  w_out_ = add("out.w", H, config.vocab);
  b_out_ = add("out.b", 1, config.vocab);
}

namespace {

template <class S>
void init_block(const ParamLayout& layout, std::uint64_t seed, S* block) {
  std::mt19937_64 rng(seed);
  const double bound = 1.0 / std::sqrt(static_cast<double>(layout.config().hidden));
  for (std::size_t k = 0; k < layout.total(); ++k) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1), 53 exact bits
    block[k] = static_cast<S>((2.0 * u - 1.0) * bound);
  }
}

}  // namespace

void init_param_block(const ParamLayout& layout, std::uint64_t seed, float* block) {
  init_block(layout, seed, block);
}
void init_param_block(const ParamLayout& layout, std::uint64_t seed, double* block) {
  init_block(layout, seed, block);
}

}  // namespace abc
