// Our parameter layout <-> cuDNN's weight space, in one place (plain C++ and
// __host__ __device__ index math, so the CPU suite tests the mapping without a GPU).
//
// Ours (model.hpp), layer l with input size In (V for layer 0: the token table is the
// weight of a one-hot input), G gates, H units:
//   w_in [In, G*H], w_rec [H, G*H], bias [G*H]; column g*H + j is gate g of unit j.
// cuDNN (cudnnGetRNNWeightParams), per pseudo-layer and linear-layer id:
//   a matrix [H, In] (input) or [H, H] (recurrent), row-major, row j = unit j, and a bias
//   [H]; LSTM ids 0..3 = input matrices of gates i, f, g (cuDNN's "c'"), o, ids 4..7 the
//   recurrent ones (the same gate order as ours); GRU ids 0..2 = r, z, n (cuDNN's "h'"),
//   3..5 recurrent; tanh RNN id 0 input, 1 recurrent.
//   CUDNN_RNN_DOUBLE_BIAS gives every id a bias: z = W x + bW + R h + bR.
// Mapping: cuDNN W_g[j][k] = w_in[k][g*H + j], R_g[j][k] = w_rec[k][g*H + j],
// bW_g[j] = bias[g*H + j], bR_g[j] = rec_bias[g*H + j] for cells that have one (GRU), else
// 0. Backward: d bias = d bW, d rec_bias = d bR; without a recurrent bias cuDNN's d bR is
// the same sum over rows as d bW (the GPU suite checks that it is).
#pragma once
#include <cstddef>
#include <functional>
#include <vector>

#include "abc/cell_math.hpp"  // ABC_HD
#include "abc/model.hpp"

namespace abc {

// cuDNN's linear-layer id of gate g's input (recurrent = false) or recurrent matrix.
ABC_HD inline int cudnn_lin_id(int gates, int gate, bool recurrent) { return (recurrent ? gates : 0) + gate; }

// One matrix or bias vector of one gate, in both layouts. Offsets are in floats: `ours`
// from the start of our parameter block, `theirs` from the start of cuDNN's weight space.
struct CudnnSlot {
  int layer = 0;
  int lin_id = 0;
  int gate = 0;
  bool bias = false;       // a bias vector [H] (bW: ours is the layer's bias; bR: its rec_bias, or zero)
  bool zero = false;       // cuDNN's bR of a cell without rec_bias: packed as zeros, gradient ignored
  std::size_t ours = 0;    // offset of the tensor (w_in, w_rec or bias) in our block
  int ours_cols = 0;       // G*H: the row stride of our tensor
  int in = 0;              // k range: In (input matrix), H (recurrent), 1 (bias)
  int hidden = 0;          // j range: H
  std::size_t theirs = 0;  // offset of the [H, in] matrix or [H] bias in cuDNN's space
  std::size_t size() const { return static_cast<std::size_t>(hidden) * static_cast<std::size_t>(in); }
};

// Element e (0 <= e < slot.size()) of a slot: its index in cuDNN's [H, in] row-major
// matrix is theirs + e; in ours, element (j = e / in, k = e % in) sits at row k,
// column gate*H + j.
ABC_HD inline std::size_t cudnn_slot_ours_index(std::size_t ours, int ours_cols, int in, int hidden, int gate,
                                                std::size_t e) {
  const std::size_t j = e / static_cast<std::size_t>(in), k = e % static_cast<std::size_t>(in);
  return ours + k * static_cast<std::size_t>(ours_cols) + static_cast<std::size_t>(gate) * hidden + j;
}

// Where cuDNN keeps (layer, lin_id)'s matrix (bias = false) or bias, as a float offset
// into its weight space; on the GPU this is cudnnGetRNNWeightParams.
using CudnnOffsetFn = std::function<std::size_t(int layer, int lin_id, bool bias)>;

// Every slot of layers [first_layer, first_layer + layers) of `layout`, in cuDNN's
// pseudo-layer numbering (pseudo-layer p = our layer first_layer + p).
std::vector<CudnnSlot> cudnn_slots(const ParamLayout& layout, int first_layer, int layers, const CudnnOffsetFn& offset);

// Host reference of the pack and unpack kernels (tests; the GPU runs kernels/cudnn_pack.cu
// with the same index math).
// pack: theirs <- ours for every slot (zeros for bR).
void cudnn_pack_host(const std::vector<CudnnSlot>& slots, const float* ours, float* theirs);
// unpack: ours <- theirs for every slot except bR (gradients).
void cudnn_unpack_host(const std::vector<CudnnSlot>& slots, const float* theirs, float* ours);

}  // namespace abc
