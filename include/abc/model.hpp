// Model configuration and the layout of the one contiguous parameter block.
//
// Block order, per layer l = 0 .. layers-1 (G gates per unit, cells.hpp: LSTM 4 i,f,g,o;
// RNN 1; GRU 3 r,z,n):
//   layer{l}.w_in      layer 0: [V, G*H], a table whose row is the token id
//                      (forward: row gather; backward: scatter-add)
//                      layer > 0: [H, G*H], x @ w_in with x the lower layer's output
//   layer{l}.w_rec     [H, G*H], h_prev @ w_rec
//   layer{l}.bias      [G*H], the input term's bias
//   layer{l}.rec_bias  [G*H], the recurrent term's bias (cells with kSplitRecurrent only)
// then out.w [H, V] and out.b [V]. All row-major; column g*H + j is gate g of unit j.
// Gradients and the optimizer moments use the same layout.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "abc/cells.hpp"

namespace abc {

struct ModelConfig {
  CellKind cell = CellKind::kLstm;
  int vocab = 0;
  int hidden = 0;
  int layers = 1;
  float dropout = 0.0f;  // inverted dropout on every layer's output, in [0, 1)
};

// Throws abc::Error saying which field is out of range.
void validate(const ModelConfig& config);

// Gates per unit: 4 for LSTM, 1 for RNN, 3 for GRU.
inline int gate_count(CellKind kind) { return cell_info(kind).gates; }

struct ParamTensor {
  std::string name;         // e.g. "layer0.w_in", "out.b"
  std::size_t offset = 0;   // elements from the start of the block
  int rows = 0, cols = 0;   // a bias is [1, cols]
  std::size_t size() const { return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols); }
};

struct LayerParams {
  ParamTensor w_in, w_rec, bias;
  ParamTensor rec_bias;  // empty (size 0) for cells without a recurrent bias
};

class ParamLayout {
 public:
  explicit ParamLayout(const ModelConfig& config);  // validates the config

  const ModelConfig& config() const { return config_; }
  int gates() const { return gate_count(config_.cell); }
  const LayerParams& layer(int l) const { return layers_[static_cast<std::size_t>(l)]; }
  const ParamTensor& w_out() const { return w_out_; }
  const ParamTensor& b_out() const { return b_out_; }
  // Every tensor in block order (for tests, checkpoints and reports).
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  std::size_t total() const { return total_; }

 private:
  ModelConfig config_;
  std::vector<LayerParams> layers_;
  ParamTensor w_out_, b_out_;
  std::vector<ParamTensor> tensors_;
  std::size_t total_ = 0;
};

// PyTorch-like init: every element uniform(-1/sqrt(H), 1/sqrt(H)), drawn in block
// order from std::mt19937_64(seed) with our own bits-to-double mapping, so the same
// seed gives the same block on every platform and for float and double alike.
void init_param_block(const ParamLayout& layout, std::uint64_t seed, float* block);
void init_param_block(const ParamLayout& layout, std::uint64_t seed, double* block);

}  // namespace abc
