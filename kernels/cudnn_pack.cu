// Our parameter layout <-> cuDNN's weight space (the index math is cudnn_layout.hpp's):
//   pack:   theirs[slot.theirs + e] = ours[cudnn_slot_ours_index(slot, e)]  (bR: 0)
//   unpack: ours[cudnn_slot_ours_index(slot, e)] = theirs[slot.theirs + e]  (bR skipped)
// One launch for every slot: blockIdx.y picks the slot, x strides over its elements.
#include <algorithm>

#include "abc/cuda/check.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cudnn_layout.hpp"
#include "kernel_util.cuh"

namespace abc {
namespace cuda {
namespace {

// kUnpack = false: src is ours, dst cuDNN's weight space; true: the other way round.
template <bool kUnpack>
__global__ void cudnn_pack_kernel(const CudnnSlot* slots, const float* src, float* dst) {
  const CudnnSlot s = slots[blockIdx.y];
  if (kUnpack && s.zero) return;  // bR has no parameter of ours
  const std::size_t n = static_cast<std::size_t>(s.hidden) * static_cast<std::size_t>(s.in);
  for (std::size_t e = grid_start(); e < n; e += grid_stride()) {
    const std::size_t i = cudnn_slot_ours_index(s.ours, s.ours_cols, s.in, s.hidden, s.gate, e);
    if (kUnpack) {
      dst[i] = src[s.theirs + e];
    } else {
      dst[s.theirs + e] = s.zero ? 0.0f : src[i];
    }
  }
}

template <bool kUnpack>
void launch(const CudnnSlot* slots, int n_slots, std::size_t max_slot, const float* src, float* dst,
            cudaStream_t stream) {
  if (n_slots <= 0 || max_slot == 0) return;
  const dim3 grid(std::min(grid_for(max_slot), 1024u), static_cast<unsigned>(n_slots));
  launch_kernel(cudnn_pack_kernel<kUnpack>, grid, kThreads, 0, stream, slots, src, dst);
  ABC_CUDA_CHECK_LAUNCH(cudnn_pack_kernel);
}

}  // namespace

void cudnn_pack(const CudnnSlot* slots, int n_slots, std::size_t max_slot, const float* ours, float* theirs,
                cudaStream_t stream) {
  launch<false>(slots, n_slots, max_slot, ours, theirs, stream);
}

void cudnn_unpack(const CudnnSlot* slots, int n_slots, std::size_t max_slot, const float* theirs, float* ours,
                  cudaStream_t stream) {
  launch<true>(slots, n_slots, max_slot, theirs, ours, stream);
}

}  // namespace cuda
}  // namespace abc
