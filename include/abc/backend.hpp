// One interface for every place the model can run. The trainer and the sampler talk
// only to a Backend; `--device` picks which one (make_backend). The CPU backend is the
// reference every other backend is tested against.
//
// Conventions (all backends):
//  - Parameters, gradients and Adam's moments use the ParamLayout of the model
//    (model.hpp), float32, on whatever memory the backend keeps them in.
//  - A Chunk is time-major [T, B] token ids; T <= max_seq, B <= max_batch.
//  - Calls that return numbers to the host wait for the device; the others may only
//    enqueue work (a GPU backend must not synchronise in forward_backward or
//    optimizer_step).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "abc/batcher.hpp"
#include "abc/model.hpp"
#include "abc/optimizer.hpp"

namespace abc {

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;  // "cpu", "cuda", "cudnn"
  virtual const ParamLayout& layout() const = 0;
  std::size_t num_params() const { return layout().total(); }
  virtual int max_batch() const = 0;
  virtual int max_seq() const = 0;

  // Host copies of the flat blocks, [num_params] each.
  virtual void upload_params(const float* host) = 0;
  virtual void download_params(float* host) = 0;
  virtual void download_grads(float* host) = 0;
  virtual void upload_adam(const float* m, const float* v, std::int64_t steps) = 0;
  virtual void download_adam(float* m, float* v) = 0;
  virtual std::int64_t adam_steps() const = 0;

  // Zeroes the carried hidden (and cell) state of every layer.
  virtual void reset_state() = 0;

  // Host copy of the carried state (resuming a run mid-epoch): per layer, h then
  // (cells with a cell state: LSTM) c, each [max_batch, H]. state_size() floats in all.
  std::size_t state_size() const {
    const auto& c = layout().config();
    return static_cast<std::size_t>(c.layers) * (cell_info(c.cell).cell_state ? 2u : 1u) *
           static_cast<std::size_t>(max_batch()) * static_cast<std::size_t>(c.hidden);
  }
  virtual void download_state(float* host) = 0;
  virtual void upload_state(const float* host) = 0;

  // Teacher-forced forward through the chunk, mean softmax cross-entropy, backward
  // through time; the gradient of the mean loss overwrites the gradient block. The
  // final state carries into the next chunk. Dropout masks: philox.hpp, keyed by
  // (dropout_seed, step). The chunk's mean loss is added to the loss accumulator.
  virtual void forward_backward(const Chunk& chunk, std::uint64_t dropout_seed, std::uint64_t step) = 0;

  // Clips the gradient block by global norm and takes one Adam step (AdamConfig given
  // at construction, the learning rate as last set by set_lr). A non-finite norm leaves
  // parameters and moments unchanged: the CPU backend throws abc::Error at once; a GPU
  // backend records it for take_losses.
  virtual void optimizer_step() = 0;

  // The learning rate of every optimizer_step from now on (a schedule's value; the
  // constructor's AdamConfig::lr until the first call). Enqueues only: a GPU backend
  // writes it to device memory in stream order, where a replayed graph reads it.
  virtual void set_lr(double lr) = 0;

  struct LossReport {
    double sum = 0;           // sum of the chunks' mean losses since the last report
    int steps = 0;            // forward_backward calls since the last report
    bool nonfinite = false;   // a non-finite loss or gradient norm was seen
    double last_grad_norm = 0;
  };
  // Reads and resets the loss accumulator (waits for the device).
  virtual LossReport take_losses() = 0;

  // Forward only, no dropout, state carried; returns the SUM of nats over the chunk's
  // T*B targets (waits).
  virtual double evaluate(const Chunk& chunk) = 0;

  // One sampling step for n streams (n <= max_batch), state carried, no dropout:
  // feeds tokens [n], writes the next tokens [n] drawn as
  //   sample_token(logits_i, V, temperature, sample_uniform(seed, first_stream + i, step))
  // (sampling_math.hpp). Waits.
  virtual void sample_step(const TokenId* tokens, int n, float temperature, std::uint64_t seed,
                           std::uint32_t first_stream, std::uint32_t step, TokenId* next) = 0;

  // One step's logits for n streams, [n, V] (tests and diagnostics). Waits.
  virtual void step_logits(const TokenId* tokens, int n, float* logits) = 0;
};

// Which of our CUDA implementations runs a recurrent layer, a value each CUDA backend is
// built with (the CPU has one loop; cuDNN its own):
//   kAuto:       the persistent kernels when the shape fits the device, else the step loop;
//   kStepLoop:   per step one cuBLAS GEMM and the fused pointwise kernel;
//   kPersistent: always the persistent kernels; a shape that does not fit throws abc::Error.
enum class RecurrencePath { kAuto, kStepLoop, kPersistent };
// "auto" / "loop" / "persistent" (--recurrence); anything else throws abc::Error naming them.
RecurrencePath parse_recurrence_path(const std::string& value);

// How a backend runs.
struct BackendOptions {
  RecurrencePath recurrence = RecurrencePath::kAuto;  // CUDA: which implementation runs the layers
  int cpu_threads = 1;  // CPU: the cores its work is cut across (--threads; results are
                        // deterministic for a given count)
};

// The CPU reference backend (OpenBLAS).
std::unique_ptr<Backend> make_cpu_backend(const ModelConfig& config, const AdamConfig& adam, int max_batch,
                                          int max_seq, int threads = 1);

// The CUDA backend; throws abc::Error when this build has no CUDA or no GPU is usable.
std::unique_ptr<Backend> make_cuda_backend(const ModelConfig& config, const AdamConfig& adam, int max_batch,
                                           int max_seq, const BackendOptions& options = {});

// The CUDA backend with cuDNN running the recurrent layers (a developer and benchmark
// option: `--backend cudnn`); throws abc::Error when this build has no cuDNN or no GPU
// is usable.
std::unique_ptr<Backend> make_cudnn_backend(const ModelConfig& config, const AdamConfig& adam, int max_batch,
                                            int max_seq, const BackendOptions& options = {});

// "cpu", "cuda" or "cudnn" ("cuda" already resolved from "auto" by resolve_device).
std::unique_ptr<Backend> make_backend(const std::string& device, const ModelConfig& config, const AdamConfig& adam,
                                      int max_batch, int max_seq, const BackendOptions& options = {});

}  // namespace abc
