#include "abc/export.hpp"

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "abc/model.hpp"

namespace abc {
namespace {

struct Tensor {
  std::string name;
  std::vector<std::size_t> shape;
  std::vector<float> data;
};

// rows x cols row-major at src -> cols x rows row-major.
std::vector<float> transposed(const float* src, int rows, int cols) {
  std::vector<float> out(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      out[static_cast<std::size_t>(c) * static_cast<std::size_t>(rows) + static_cast<std::size_t>(r)] =
          src[static_cast<std::size_t>(r) * static_cast<std::size_t>(cols) + static_cast<std::size_t>(c)];
    }
  }
  return out;
}

std::vector<float> copy_of(const float* src, std::size_t n) { return std::vector<float>(src, src + n); }

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

}  // namespace

std::string safetensors_of(const Checkpoint& ckpt) {
  const ParamLayout layout(ckpt.model);
  const float* p = ckpt.params.data();
  std::vector<Tensor> tensors;
  for (int l = 0; l < ckpt.model.layers; ++l) {
    const LayerParams& lp = layout.layer(l);
    const std::string k = std::to_string(l);
    const int GH = lp.w_in.cols;
    tensors.push_back({"rnn.weight_ih_l" + k, {sz(GH), sz(lp.w_in.rows)}, transposed(p + lp.w_in.offset, lp.w_in.rows, GH)});
    tensors.push_back(
        {"rnn.weight_hh_l" + k, {sz(GH), sz(lp.w_rec.rows)}, transposed(p + lp.w_rec.offset, lp.w_rec.rows, GH)});
    tensors.push_back({"rnn.bias_ih_l" + k, {sz(GH)}, copy_of(p + lp.bias.offset, sz(GH))});
    // PyTorch's recurrent bias: the cell's own (GRU), else zeros (ours is folded into bias_ih).
    tensors.push_back({"rnn.bias_hh_l" + k, {sz(GH)},
                       lp.rec_bias.size() > 0 ? copy_of(p + lp.rec_bias.offset, sz(GH)) : std::vector<float>(sz(GH))});
  }
  const ParamTensor& w = layout.w_out();
  tensors.push_back({"out.weight", {sz(w.cols), sz(w.rows)}, transposed(p + w.offset, w.rows, w.cols)});
  tensors.push_back({"out.bias", {sz(layout.b_out().cols)}, copy_of(p + layout.b_out().offset, sz(layout.b_out().cols))});

  nlohmann::json header = nlohmann::json::object();
  std::size_t offset = 0;
  for (const Tensor& t : tensors) {
    const std::size_t bytes = t.data.size() * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  nlohmann::json vocab = nlohmann::json::array();
  for (TokenId id = 0; id < ckpt.vocab.size(); ++id) vocab.push_back(ckpt.vocab.token_text(id));
  header["__metadata__"] = {{"format", "abc-cuda"},
                            {"cell", cell_kind_name(ckpt.model.cell)},
                            {"torch_module", cell_info(ckpt.model.cell).torch_module},
                            {"hidden", std::to_string(ckpt.model.hidden)},
                            {"layers", std::to_string(ckpt.model.layers)},
                            {"input", "one-hot"},
                            {"vocab", vocab.dump()}};
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const std::uint64_t n = json.size();
  for (int b = 0; b < 8; ++b) out[static_cast<std::size_t>(b)] = static_cast<char>((n >> (8 * b)) & 0xff);
  out += json;
  static_assert(sizeof(float) == 4, "float32");
  for (const Tensor& t : tensors) {
    const std::size_t at = out.size();
    out.resize(at + t.data.size() * sizeof(float));
    std::memcpy(&out[at], t.data.data(), t.data.size() * sizeof(float));  // x86-64: little-endian
  }
  return out;
}

}  // namespace abc
