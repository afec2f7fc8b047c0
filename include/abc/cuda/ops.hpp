// Host-side launchers of the CUDA kernels (kernels/*.cu), one op each. Every launcher only
// enqueues work on `stream` and checks the launch; all pointers are device memory. Shapes
// are row-major, in elements. The per-element math of every kernel is cell_math.hpp,
// philox.hpp or sampling_math.hpp: the kernels add only indexing and memory movement.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "abc/cuda/plan.hpp"
#include "abc/cudnn_layout.hpp"
#include "abc/optimizer.hpp"
#include "abc/philox.hpp"

namespace abc {
namespace cuda {

// Layer 0 input term: z[r, :] = table[tokens[r], :] + bias.
// tokens [rows], table [V, N], bias [N], z [rows, N].
void embedding_gather(const std::int32_t* tokens, const float* table, const float* bias, int rows, int N, float* z,
                      cudaStream_t stream);

// out[r, v] = (tokens[r] == v): the one-hot input of a cuDNN layer 0.
// tokens [rows] (ids already checked), out [rows, V].
void one_hot(const std::int32_t* tokens, int rows, int V, float* out, cudaStream_t stream);

// out[r, :] = bias for every row. bias [N], out [rows, N].
void bias_broadcast(const float* bias, int rows, int N, float* out, cudaStream_t stream);

// One recurrent step of the batch, every unit through cells.hpp's step_unit_forward.
// x [B, G*H]: in, the input term (plus the recurrent term for unsplit cells: nothing else
// is added); out, what the cell's backward needs. u [B, G*H]: the recurrent term (split
// cells; else null). h_prev, h [B, H]; c_prev, c [B, H] (cell state; else null).
void cell_pointwise_forward(CellKind cell, float* x, const float* u, const float* h_prev, float* h,
                            const float* c_prev, float* c, int B, int H, cudaStream_t stream);

// Backward of one step (step_unit_backward), from forward's x (saved), u, h_prev, h, c_prev,
// c. dh [B, H]: total d loss / d h; dc [B, H]: in from step t+1, out d c_prev (cell state;
// else null). dx [B, G*H] out; du [B, G*H] out (split cells; else null). skip [B, H]: gets
// the part of d h_prev that bypasses w_rec (hidden-skip cells), added when skip_accumulate,
// else stored; null drops it.
void cell_pointwise_backward(CellKind cell, const float* saved, const float* u, const float* h_prev, const float* h,
                             const float* c_prev, const float* c, const float* dh, float* dc, float* dx, float* du,
                             float* skip, bool skip_accumulate, int B, int H, cudaStream_t stream);

// Inverted dropout of a layer's output h [T, B, H]: mask (0 or 1/(1-p)) and dropped =
// h * mask, same shape; element (t, b, j) draws dropout_bits(*key, layer, t, b, j).
// key: device memory (StepConstants::dropout_key), read when the kernel runs.
void dropout_forward(const float* h, float* mask, float* dropped, int T, int B, int H, int layer, const U32x2* key,
                     float p, cudaStream_t stream);
// dy *= mask, [n].
void dropout_backward(const float* mask, float* dy, std::size_t n, cudaStream_t stream);

enum class LossMode {
  kTrainMean,  // logits <- (1/rows) d loss / d logits; acc.sum += mean, acc.steps += 1
  kEvalSum,    // logits untouched; acc.eval_sum = summed nats
};
// Softmax cross-entropy, one block per row (max, sum, loss, gradient in place), then a
// one-block deterministic reduction of the per-row losses into `acc` (a non-finite mean
// sets acc.nonfinite). logits [rows, V], targets [rows], row_loss [rows] scratch.
void softmax_xent(float* logits, const std::int32_t* targets, int rows, int V, LossMode mode, float* row_loss,
                  LossAccumulator* acc, cudaStream_t stream);

// sums[k] = sum over r of m[r, k], rows in ascending order (a bias gradient).
// m [rows, N], sums [N].
void column_sum(const float* m, int rows, int N, float* sums, cudaStream_t stream);

// Token-table gradient without atomics: grad[v, :] = sum of dz[r, :] over the rows r of
// token v (csr_rows[csr_offsets[v] .. csr_offsets[v+1]), ascending), zero for absent
// tokens. dz [rows, N], csr_offsets [V+1], csr_rows [rows], grad [V, N].
void table_grad(const float* dz, const std::int32_t* csr_offsets, const std::int32_t* csr_rows, int V, int N,
                float* grad, cudaStream_t stream);

// Clip by global norm, then Adam (PyTorch semantics), over n elements:
//  1. per-block sums of squares in double into partials [norm_blocks(n)];
//  2. one block sums them in a fixed order, norm = sqrt; acc.last_grad_norm = norm; a
//     non-finite norm sets state.skip and acc.nonfinite, else state.steps += 1 and
//     state's clip scale and Adam constants for that step;
//  3. the update p, m, v with grads * clip_scale, skipped when state.skip.
// params, m, v, grads [n]; partials [kMaxNormBlocks]. The learning rate is state->lr,
// read when step 2 runs (set it with set_adam_lr); config.lr is not read, so a graph
// captured around this call replays with whatever lr was set last. config's betas, eps
// and clip are launch arguments, fixed at capture.
void adam_step(float* params, float* m, float* v, const float* grads, std::size_t n, const AdamConfig& config,
               double* partials, OptimizerState* state, LossAccumulator* acc, cudaStream_t stream);

// state->lr = lr, in stream order (one tiny kernel; the value travels as its argument, so
// nothing on the host has to outlive the call and the host does not wait).
void set_adam_lr(OptimizerState* state, double lr, cudaStream_t stream);

// For every stream i < n: next[i] = sample_token(logits[i, :], V, c.temperature,
// sample_uniform(sample_seed_of(c), c.first_stream + i, c.sample_step)) with c =
// *constants (device memory, read when the kernel runs). logits [n, V], next [n].
void sample_tokens(const float* logits, int n, int V, const StepConstants* constants, std::int32_t* next,
                   cudaStream_t stream);

// Our parameter block <-> cuDNN's weight space (cudnn_layout.hpp), every slot of the
// device array slots [n_slots] in one launch; max_slot = the largest slot.size().
// pack: theirs <- ours (bR zeros); unpack: ours <- theirs for every slot but bR.
void cudnn_pack(const CudnnSlot* slots, int n_slots, std::size_t max_slot, const float* ours, float* theirs,
                cudaStream_t stream);
void cudnn_unpack(const CudnnSlot* slots, int n_slots, std::size_t max_slot, const float* theirs, float* ours,
                  cudaStream_t stream);

// Raises the persistent kernels' dynamic shared memory limit
// (cudaFuncAttributeMaxDynamicSharedMemorySize, a property of the kernel) to what each
// rows-per-block variant needs at hidden size H, for the variants within smem_optin; never
// lowers it. Call before the first launch and before any graph capture (the CUDA backend
// does, at construction): the launchers do not set it, so a replayed graph launches under
// the limit set here. A launch above 48 KB that was not prepared throws abc::Error.
void persistent_recurrence_prepare(CellKind cell, int H, std::size_t smem_optin);

// Persistent recurrence (kernels/persistent_recurrence.cu): all T steps of one layer in
// one launch, with recurrence_forward / recurrence_backward's semantics (recurrence.hpp);
// `plan` from plan_persistent(cell, H, B, ...) must fit (else abc::Error). Block k owns
// batch rows [k * rows, k * rows + rows) for every step, with w_rec resident in shared
// memory. T = 0 or B = 0: nothing.
// Forward: w_rec [H, G*H]; z [T*B, G*H] in the input terms, out what the cell's backward
// needs; rec_bias [G*H] in and u [T*B, G*H] out, the recurrent terms (split-recurrent
// cells; else null); h, c [T+1, B, H] slot 0 in, slots 1..T out (c null without cell state).
void persistent_recurrence_forward(CellKind cell, int T, int B, int H, const PersistentPlan& plan, const float* w_rec,
                                   const float* rec_bias, float* z, float* u, float* h, float* c,
                                   cudaStream_t stream);
// Backward: z, u, h, c as the forward left them; dy [T, B, H] in, gains the recurrent terms;
// dc [B, H] in d c_T, out d c_0 (cell state; else null); dz [T*B, G*H] out; du [T*B, G*H]
// out (split cells; else null); dh0 [B, H] out or null.
void persistent_recurrence_backward(CellKind cell, int T, int B, int H, const PersistentPlan& plan, const float* w_rec,
                                    const float* z, const float* u, const float* h, const float* c, float* dy,
                                    float* dc, float* dz, float* du, float* dh0, cudaStream_t stream);

}  // namespace cuda
}  // namespace abc
