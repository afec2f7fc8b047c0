// A trained model in PyTorch's names and layouts, as a safetensors file: the weights of
// torch_reference.py's Model (one-hot input -> nn.LSTM / nn.RNN -> nn.Linear), so that
//   model.load_state_dict(safetensors.torch.load_file("model.safetensors"))
// (or the few lines of tools/export_check.py) gives PyTorch the same model.
//   rnn.weight_ih_l{k}  [G*H, in]  our layer{k}.w_in transposed (in = V for layer 0: the
//                                  one-hot input times it is our table row)
//   rnn.weight_hh_l{k}  [G*H, H]   our layer{k}.w_rec transposed
//   rnn.bias_ih_l{k}    [G*H]      our layer{k}.bias
//   rnn.bias_hh_l{k}    [G*H]      zeros (we have one bias per gate row; PyTorch two)
//   out.weight          [V, H]     our out.w transposed
//   out.bias            [V]        our out.b
// Gate rows in PyTorch's order, which is ours: LSTM i, f, g, o. The metadata holds the
// format, cell, hidden, layers and the vocabulary (a JSON array of token strings, by id).
#pragma once
#include <string>

#include "abc/checkpoint.hpp"

namespace abc {

// The safetensors bytes: 8-byte little-endian header size, the JSON header (padded with
// spaces to 8 bytes), then the little-endian float32 data of every tensor in order.
std::string safetensors_of(const Checkpoint& ckpt);

}  // namespace abc
