#include "abc/cudnn_layout.hpp"

namespace abc {

std::vector<CudnnSlot> cudnn_slots(const ParamLayout& layout, int first_layer, int layers, const CudnnOffsetFn& offset) {
  const int G = layout.gates(), H = layout.config().hidden;
  std::vector<CudnnSlot> slots;
  for (int p = 0; p < layers; ++p) {
    const LayerParams& lp = layout.layer(first_layer + p);
    for (int recurrent = 0; recurrent < 2; ++recurrent) {
      const ParamTensor& w = recurrent ? lp.w_rec : lp.w_in;
      for (int g = 0; g < G; ++g) {
        CudnnSlot s;
        s.layer = p;
        s.lin_id = cudnn_lin_id(G, g, recurrent != 0);
        s.gate = g;
        s.ours_cols = G * H;
        s.hidden = H;

        s.ours = w.offset;
        s.in = w.rows;
        s.theirs = offset(p, s.lin_id, false);
        slots.push_back(s);

        s.bias = true;
        const bool has_rec_bias = lp.rec_bias.size() > 0;
        s.zero = recurrent != 0 && !has_rec_bias;  // bR of a cell without a recurrent bias
        s.ours = recurrent != 0 && has_rec_bias ? lp.rec_bias.offset : lp.bias.offset;
        s.in = 1;
        s.theirs = offset(p, s.lin_id, true);
        slots.push_back(s);
      }
    }
  }
  return slots;
}

void cudnn_pack_host(const std::vector<CudnnSlot>& slots, const float* ours, float* theirs) {
  for (const CudnnSlot& s : slots) {
    for (std::size_t e = 0; e < s.size(); ++e) {
      theirs[s.theirs + e] =
          s.zero ? 0.0f : ours[cudnn_slot_ours_index(s.ours, s.ours_cols, s.in, s.hidden, s.gate, e)];
    }
  }
}

void cudnn_unpack_host(const std::vector<CudnnSlot>& slots, const float* theirs, float* ours) {
  for (const CudnnSlot& s : slots) {
    if (s.zero) continue;
    for (std::size_t e = 0; e < s.size(); ++e) {
      ours[cudnn_slot_ours_index(s.ours, s.ours_cols, s.in, s.hidden, s.gate, e)] = theirs[s.theirs + e];
    }
  }
}

}  // namespace abc
