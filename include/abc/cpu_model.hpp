// The CPU reference model: the specification every CUDA kernel is checked against.
//
// The model pass is model_pass.hpp's, written once for every backend; this class gives it
// the CPU's operations: the input term for all T steps at once (a row gather for layer 0,
// one GEMM over T*B rows above), then per step one GEMM for the recurrent term of the
// batch plus the cell's per-unit step (cells.hpp); inverted dropout on every layer's
// output; the output layer as one GEMM over T*B rows, then the softmax cross-entropy.
// Backward mirrors it, weight gradients as single GEMMs over T*B rows, bias gradients as
// column sums. Training gives each thread its own slice of the batch's streams and takes a
// slice in groups (kCpuStreamGroup), each group through the whole pass, the weight
// gradients added up over groups and threads.
//
// Everything is allocated by the constructor; forward_backward, evaluate and
// step_logits allocate nothing. float trains; double is for gradient checks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "abc/batcher.hpp"
#include "abc/model.hpp"
#include "abc/philox.hpp"

namespace abc {

template <class S>
struct CpuPassOps;

// Streams per group of a training step on the CPU (CpuModel::forward_backward). Measured,
// LSTM H=100 T=100, 2 threads: B=16 trained at 430-440k chars/s, B=64 in one pass at about
// 380k (its 10 MB of gate activations, and as much again of their gradients, spill out
// of the caches). Groups of 8 against 16 (each thread's slice cut into groups): B=64 on 2
// threads +9%, B=16 on 1 thread +6%; groups of 4 against 8 within the noise (+1-3%), with
// the recurrence's products at 4 rows instead of 8.
constexpr int kCpuStreamGroup = 8;

template <class Scalar>
class CpuModel {
 public:
  // Chunks may have any T <= max_seq and B <= max_batch. threads: how many cores the
  // model's work is cut across (1..kMaxCpuThreads; the result is deterministic for a given
  // count). stream_group: forward_backward takes a chunk's streams this many at a time
  // (the result is deterministic for a given group size too). Throws abc::Error on a bad
  // config or limits. Parameters start at zero: call init_params() or fill params().
  CpuModel(const ModelConfig& config, int max_batch, int max_seq, int threads = 1,
           int stream_group = kCpuStreamGroup);

  const ModelConfig& config() const { return layout_.config(); }
  const ParamLayout& layout() const { return layout_; }
  int max_batch() const { return max_batch_; }
  int max_seq() const { return max_seq_; }
  int threads() const { return threads_; }

  std::size_t num_params() const { return layout_.total(); }
  Scalar* params() { return params_.data(); }  // [num_params], see ParamLayout
  const Scalar* params() const { return params_.data(); }
  Scalar* grads() { return grads_.data(); }  // same layout; written by forward_backward
  const Scalar* grads() const { return grads_.data(); }
  void init_params(std::uint64_t seed) { init_param_block(layout_, seed, params_.data()); }

  // Carried state, per layer [max_batch, H]; a chunk of B streams uses the first B
  // rows. state_c is nullptr for cells without a cell state (RNN, GRU).
  void reset_state();  // zeros
  Scalar* state_h(int layer) { return layers_[static_cast<std::size_t>(layer)].state_h.data(); }
  Scalar* state_c(int layer);

  // Teacher-forced forward through the chunk, then backward through time. Returns the
  // mean softmax cross-entropy over the T*B targets (nats) and writes the gradient of
  // that mean into grads() (overwritten, not accumulated). Dropout masks are a pure
  // function of (dropout_seed, step, layer, t, b, j): see philox.hpp. The final h/c
  // become the state for the next chunk; no gradient flows into the previous chunk.
  double forward_backward(const Chunk& chunk, std::uint64_t dropout_seed, std::uint64_t step);

  // After forward_backward: d(mean loss)/d(state at chunk start), per layer [B, H]
  // (truncated BPTT drops it; exposed for gradient checks). dc is nullptr without cell state.
  const Scalar* initial_state_grad_h(int layer) const;
  const Scalar* initial_state_grad_c(int layer) const;

  // Forward only, no dropout, state carried. Returns the SUM of nats over the chunk's
  // T*B targets so the caller can average over a whole text.
  double evaluate(const Chunk& chunk);

  // One step for sampling, state carried, no dropout: tokens [batch] in,
  // logits [batch, V] out. batch <= max_batch.
  void step_logits(const TokenId* tokens, int batch, Scalar* logits);

 private:
  struct LayerStorage {  // one layer's vectors; the model pass sees them as LayerBuffers<Scalar>
    std::vector<Scalar> gates;     // [T, B, G*H] input terms, then what the cell's backward needs
    std::vector<Scalar> rec;       // [T, B, G*H] recurrent terms (cells with kSplitRecurrent only)
    std::vector<Scalar> h;         // [T+1, B, H]; slot 0 is the state carried in
    std::vector<Scalar> c;         // [T+1, B, H] (LSTM only)
    std::vector<Scalar> mask;      // [T, B, H] dropout factors 0 or 1/(1-p) (when p > 0)
    std::vector<Scalar> dropped;   // [T, B, H] h * mask: the input of the layer above
    std::vector<Scalar> state_h;   // [max_batch, H]
    std::vector<Scalar> state_c;   // [max_batch, H] (LSTM only)
    std::vector<Scalar> dh0, dc0;  // [max_batch, H] d loss / d state at chunk start
  };

  // The model pass (model_pass.hpp) runs on these buffers through it.
  friend struct CpuPassOps<Scalar>;

  void check_chunk(const Chunk& chunk) const;

  ParamLayout layout_;
  int max_batch_, max_seq_, threads_, stream_group_;
  std::vector<Scalar> params_, grads_;
  std::vector<LayerStorage> layers_;
  std::vector<Scalar> logits_;  // [T, B, V]; after the loss, d loss / d logits
  std::vector<Scalar> dgates_;  // [T, B, G*H] backward scratch, reused by every layer
  std::vector<Scalar> drec_;    // [T, B, G*H] d loss / d recurrent terms (split cells only)
  std::vector<Scalar> dy_;      // [T, B, H] d loss / d (a layer's output), then dh
  std::vector<Scalar> dc_;      // [max_batch, H] cell gradient carried back in time
  // forward_backward's groups of streams: their tokens [T, group] at T * (first stream);
  // [threads - 1] gradients of the threads' slices after the first, then (when a slice can
  // hold more than one group) [threads] scratch gradients of a slice's later groups.
  std::vector<TokenId> group_inputs_, group_targets_;
  std::vector<Scalar> grad_blocks_;
};

constexpr int kMaxCpuThreads = 64;
// The cores this process may run on (at most kMaxCpuThreads): the default of --threads.
int available_cpu_threads();

extern template class CpuModel<float>;
extern template class CpuModel<double>;

}  // namespace abc
