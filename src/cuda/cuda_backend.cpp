// The CUDA backend: the CPU reference model (cpu_model.cpp) step for step on the GPU.
//
// Memory, all allocated by the constructor: one block holding parameters, gradients and
// Adam's m and v (ParamLayout order each); one arena for activations, scratch, token ids
// and the device-side counters (plan_arena); pinned staging slots for token ids.
// Nothing is allocated per step.
//
// The model pass is model_pass.hpp's (the CPU model runs the same code); this backend
// gives it its operations: the input term (row gather for layer 0, one GEMM over T*B
// rows above), the recurrence (cuda/recurrence.hpp: step loop or persistent kernels, or
// cuDNN for whole layers), dropout, the output layer as one GEMM over T*B rows; then the
// fused softmax cross-entropy, whose loss stays on the device. Everything is queued on
// one stream; only calls that return numbers to the host wait for it.
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <tuple>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "abc/backend.hpp"
#include "abc/cuda/check.hpp"
#include "abc/cuda/gemm.hpp"
#include "abc/cuda/ops.hpp"
#include "abc/cuda/plan.hpp"
#include "abc/cuda/recurrence.hpp"
#include "abc/device_probe.hpp"
#include "abc/error.hpp"
#include "abc/model_pass.hpp"
#include "abc/philox.hpp"
#if ABC_HAVE_CUDNN
#include "abc/cuda/cudnn_rnn.hpp"
#endif

namespace abc {
namespace {

static_assert(sizeof(TokenId) == sizeof(std::int32_t), "token ids travel to the device as int32");

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

// Pinned staging slots for token ids, used in turn: the host may queue this many
// chunks ahead of the device before it waits for the oldest copy.
constexpr int kStagingSlots = 4;

// Device addresses of one call's constants and token ids (see cuda::TokenBlock).
struct DeviceTokens {
  const cuda::StepConstants* constants = nullptr;
  const std::int32_t* inputs = nullptr;
  const std::int32_t* targets = nullptr;
  const std::int32_t* csr_offsets = nullptr;
  const std::int32_t* csr_rows = nullptr;
};

// The launch sequences replayed as CUDA graphs, by kind and shape.
enum class GraphKind { kTrain, kOptimizer, kSample };
struct GraphKey {
  GraphKind kind;
  int T, B;
  bool operator<(const GraphKey& o) const { return std::tie(kind, T, B) < std::tie(o.kind, o.T, o.B); }
};
// Training sees one chunk shape (and a shorter last chunk now and then), sampling one
// stream count: a few graphs in practice; past this many, calls run without one.
constexpr std::size_t kMaxGraphs = 16;

// CUDA graphs are on unless ABC_CUDA_GRAPHS=0 (for benchmarks: graph vs plain launches).
bool graphs_enabled() {
  const char* v = std::getenv("ABC_CUDA_GRAPHS");
  return v == nullptr || std::string(v) != "0";
}

// ABC_CUDA_TF32=1: the GEMMs over all T*B rows (input and output layers, weight
// gradients) may use TF32 tensor cores; the recurrence stays FP32. Off by default.
bool tf32_enabled() {
  const char* v = std::getenv("ABC_CUDA_TF32");
  return v != nullptr && std::string(v) == "1";
}

// Who runs the recurrent layers: our kernels, or cuDNN (the `cudnn` backend, a
// developer and benchmark option: everything around the recurrence stays ours).
enum class Recurrence { kOurs, kCudnn };

#if ABC_HAVE_CUDNN
// The `cudnn` backend's recurrence: one single-layer cuDNN RNN per layer, so our own
// dropout masks run between layers as in every other backend. Layer 0 reads one-hot
// rows: cuDNN's input matrix of layer 0 is our token table.
struct CudnnLayers {
  CudnnLayers(const ParamLayout& layout, int max_batch, int max_seq, cudaStream_t stream) : handle(stream) {
    const ModelConfig& c = layout.config();
    const std::size_t rows = sz(max_batch) * sz(max_seq);
    for (int l = 0; l < c.layers; ++l) {
      cuda::CudnnRnnShape shape;
      shape.cell = c.cell;
      shape.input = l == 0 ? c.vocab : c.hidden;
      shape.hidden = c.hidden;
      shape.max_batch = max_batch;
      shape.max_seq = max_seq;
      rnns.push_back(std::make_unique<cuda::CudnnRnn>(handle.get(), shape));
      maps.push_back(std::make_unique<cuda::CudnnWeightMap>(layout, l, *rnns.back()));
    }
    one_hot = cuda::DeviceMemory(rows * sz(c.vocab) * sizeof(float), "cuDNN's one-hot input");
    dx = cuda::DeviceMemory(rows * sz(std::max(c.vocab, c.hidden)) * sizeof(float), "cuDNN's input gradient");
  }
  float* one_hot_input() const { return static_cast<float*>(one_hot.get()); }
  float* dx_buffer() const { return static_cast<float*>(dx.get()); }

  cuda::CudnnHandle handle;
  std::vector<std::unique_ptr<cuda::CudnnRnn>> rnns;         // [layers]
  std::vector<std::unique_ptr<cuda::CudnnWeightMap>> maps;  // [layers]
  cuda::DeviceMemory one_hot;  // float [rows, V]
  cuda::DeviceMemory dx;       // float [rows, max(V, H)]: d loss / d layer input
  bool stale = true;           // our parameters changed since the last pack
};
#else
struct CudnnLayers {
  bool stale = true;
};
#endif

class CudaBackend final : public Backend {
 public:
  CudaBackend(const ModelConfig& config, const AdamConfig& adam, int max_batch, int max_seq, Recurrence recurrence,
              const BackendOptions& options)
      : layout_(config),
        path_(options.recurrence),
        adam_(adam),
        max_batch_(max_batch),
        max_seq_(max_seq),
        plan_(cuda::plan_arena(config, max_batch, max_seq)),
        cublas_(stream_.get()),
        cublas_rows_(stream_.get(), tf32_enabled()),
        block_(4 * layout_.total() * sizeof(float), "the parameters, gradients and Adam moments"),
        arena_(plan_.bytes, "the activations (their size grows with batch x seq x hidden)"),
        staging_(kStagingSlots * plan_.token_capacity * sizeof(std::int32_t), "token ids") {
    ABC_CUDA_CHECK(cudaMemsetAsync(block_.get(), 0, block_.size(), stream()));
    ABC_CUDA_CHECK(cudaMemsetAsync(arena_.get(), 0, arena_.size(), stream()));
    cuda::set_adam_lr(opt_state(), adam.lr, stream());
    if (recurrence == Recurrence::kCudnn) cudnn_ = make_cudnn_layers();
    // cuDNN re-describes its data (and may wait) when the shape changes: not capturable.
    use_graphs_ = graphs_enabled() && !cudnn_;
    // The device limits the recurrence path is planned with and the persistent kernels'
    // shared memory limit are settled once, here: nothing is queried or set inside a capture.
    cuda::prepare_recurrence(config.cell, config.hidden);
    if (path_ == RecurrencePath::kPersistent && !cudnn_) {  // a shape that cannot run is reported now
      (void)cuda::uses_persistent(cuda::RecurrenceShape{config.cell, 1, max_batch, config.hidden, path_});
    }
    stream_.synchronize();
  }

  // Queued work may still read the staging buffer and the arena: let it finish before
  // the members free them (errors are ignored: a destructor must not throw).
  ~CudaBackend() override { (void)cudaStreamSynchronize(stream()); }

  std::string name() const override { return cudnn_ ? "cudnn" : "cuda"; }
  const ParamLayout& layout() const override { return layout_; }
  int max_batch() const override { return max_batch_; }
  int max_seq() const override { return max_seq_; }

  void upload_params(const float* host) override {
    to_device(params(), host, param_bytes());
    if (cudnn_) cudnn_->stale = true;
  }
  void download_params(float* host) override { to_host(host, params(), param_bytes()); }
  void download_grads(float* host) override { to_host(host, grads(), param_bytes()); }
  void upload_adam(const float* m, const float* v, std::int64_t steps) override {
    to_device(adam_m(), m, param_bytes());
    to_device(adam_v(), v, param_bytes());
    const long long t = steps;
    to_device(arena_.bytes() + plan_.opt_state + offsetof(cuda::OptimizerState, steps), &t, sizeof t);
  }
  void download_adam(float* m, float* v) override {
    to_host(m, adam_m(), param_bytes());
    to_host(v, adam_v(), param_bytes());
  }
  std::int64_t adam_steps() const override {
    long long t = 0;
    to_host(&t, arena_.bytes() + plan_.opt_state + offsetof(cuda::OptimizerState, steps), sizeof t);
    return t;
  }

  void reset_state() override {
    for (const cuda::LayerSlots& s : plan_.layers) {
      ABC_CUDA_CHECK(cudaMemsetAsync(arena_.bytes() + s.state_h, 0, state_bytes(), stream()));
      if (s.has_c) ABC_CUDA_CHECK(cudaMemsetAsync(arena_.bytes() + s.state_c, 0, state_bytes(), stream()));
    }
  }

  // Backend::state_size order: per layer h, then c (LSTM), each [max_batch, H].
  void download_state(float* host) override {
    for (const cuda::LayerSlots& s : plan_.layers) {
      to_host(host, arena_.bytes() + s.state_h, state_bytes());
      host += state_floats();
      if (!s.has_c) continue;
      to_host(host, arena_.bytes() + s.state_c, state_bytes());
      host += state_floats();
    }
  }
  void upload_state(const float* host) override {
    for (const cuda::LayerSlots& s : plan_.layers) {
      to_device(arena_.bytes() + s.state_h, host, state_bytes());
      host += state_floats();
      if (!s.has_c) continue;
      to_device(arena_.bytes() + s.state_c, host, state_bytes());
      host += state_floats();
    }
  }

  void forward_backward(const Chunk& chunk, std::uint64_t dropout_seed, std::uint64_t step) override {
    cuda::StepConstants constants{};
    constants.dropout_key = dropout_key(dropout_seed, step);
    const DeviceTokens tokens = stage_chunk(chunk, constants);
    const bool dropout = config().dropout > 0.0f;
    const int T = chunk.T, B = chunk.B;
    replay(GraphKey{GraphKind::kTrain, T, B}, [&] {
      forward(tokens, T, B, true, dropout, &tokens.constants->dropout_key);
      cuda::softmax_xent(f(plan_.logits), tokens.targets, T * B, config().vocab, cuda::LossMode::kTrainMean,
                         f(plan_.row_loss), loss_acc(), stream());
      backward(tokens, T, B, dropout);
    });
  }

  void optimizer_step() override {
    replay(GraphKey{GraphKind::kOptimizer, 0, 0}, [&] {
      cuda::adam_step(params(), adam_m(), adam_v(), grads(), num_params(), adam_,
                      reinterpret_cast<double*>(arena_.bytes() + plan_.norm_partials), opt_state(), loss_acc(),
                      stream());
    });
    if (cudnn_) cudnn_->stale = true;
  }

  // The graph captured above reads the lr from OptimizerState when it runs: a kernel
  // queued here updates it before the next replay, and the host does not wait.
  void set_lr(double lr) override {
    adam_.lr = lr;
    cuda::set_adam_lr(opt_state(), lr, stream());
  }

  LossReport take_losses() override {
    cuda::LossAccumulator acc{};
    to_host(&acc, loss_acc(), sizeof acc);
    ABC_CUDA_CHECK(cudaMemsetAsync(loss_acc(), 0, sizeof acc, stream()));
    LossReport report;
    report.sum = acc.sum;
    report.steps = acc.steps;
    report.nonfinite = acc.nonfinite != 0;
    report.last_grad_norm = acc.last_grad_norm;
    return report;
  }

  double evaluate(const Chunk& chunk) override {
    const DeviceTokens tokens = stage_chunk(chunk, cuda::StepConstants{});
    forward(tokens, chunk.T, chunk.B, false, false, nullptr);
    cuda::softmax_xent(f(plan_.logits), tokens.targets, chunk.T * chunk.B, config().vocab, cuda::LossMode::kEvalSum,
                       f(plan_.row_loss), loss_acc(), stream());
    double sum = 0;
    to_host(&sum, arena_.bytes() + plan_.loss_acc + offsetof(cuda::LossAccumulator, eval_sum), sizeof sum);
    return sum;
  }

  void sample_step(const TokenId* tokens, int n, float temperature, std::uint64_t seed, std::uint32_t first_stream,
                   std::uint32_t step, TokenId* next) override {
    cuda::StepConstants constants{};
    constants.sample_seed[0] = static_cast<std::uint32_t>(seed);
    constants.sample_seed[1] = static_cast<std::uint32_t>(seed >> 32);
    constants.first_stream = first_stream;
    constants.sample_step = step;
    constants.temperature = temperature;
    const DeviceTokens d = stage_step(tokens, n, constants);
    auto* next_dev = reinterpret_cast<std::int32_t*>(arena_.bytes() + plan_.next_tokens);
    replay(GraphKey{GraphKind::kSample, 1, n}, [&] {
      forward(d, 1, n, false, false, nullptr);
      cuda::sample_tokens(f(plan_.logits), n, config().vocab, d.constants, next_dev, stream());
    });
    to_host(next, next_dev, sz(n) * sizeof(std::int32_t));
  }

  void step_logits(const TokenId* tokens, int n, float* logits) override {
    const DeviceTokens d = stage_step(tokens, n, cuda::StepConstants{});
    forward(d, 1, n, false, false, nullptr);
    to_host(logits, f(plan_.logits), sz(n) * sz(config().vocab) * sizeof(float));
  }

 private:
  const ModelConfig& config() const { return layout_.config(); }
  cudaStream_t stream() const { return stream_.get(); }
  std::size_t param_bytes() const { return num_params() * sizeof(float); }
  std::size_t state_floats() const { return sz(max_batch_) * sz(config().hidden); }
  std::size_t state_bytes() const { return state_floats() * sizeof(float); }

  float* params() const { return static_cast<float*>(block_.get()); }
  float* grads() const { return params() + num_params(); }
  float* adam_m() const { return params() + 2 * num_params(); }
  float* adam_v() const { return params() + 3 * num_params(); }
  float* f(std::size_t arena_offset) const { return reinterpret_cast<float*>(arena_.bytes() + arena_offset); }
  cuda::OptimizerState* opt_state() const {
    return reinterpret_cast<cuda::OptimizerState*>(arena_.bytes() + plan_.opt_state);
  }
  cuda::LossAccumulator* loss_acc() const {
    return reinterpret_cast<cuda::LossAccumulator*>(arena_.bytes() + plan_.loss_acc);
  }

  // Host <-> device copies in stream order; they wait for the copy to finish.
  void to_device(void* dst, const void* src, std::size_t bytes) const {
    ABC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()));
    stream_.synchronize();
  }
  void to_host(void* dst, const void* src, std::size_t bytes) const {
    ABC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
    stream_.synchronize();
  }
  void copy_on_device(float* dst, const float* src, std::size_t floats) const {
    ABC_CUDA_CHECK(cudaMemcpyAsync(dst, src, floats * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
  }

  // The GEMMs over all T*B rows (the recurrence has its own FP32 handle).
  void gemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
            float beta, float* C, int ldc) const {
    cuda::gemm_row_major(cublas_rows_.get(), trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  }

  // Packs the call's constants and ids (and, for a chunk, targets and the per-token row
  // lists) into the next pinned staging slot and queues one copy to the device. The
  // slot's previous copy (kStagingSlots calls ago) must have finished before the host
  // rewrites it: the host waits only when it runs that far ahead of the device. The
  // device addresses depend only on rows, so a graph captured for a shape stays valid.
  DeviceTokens stage(const TokenId* inputs, const TokenId* targets, std::size_t rows,
                     const cuda::StepConstants& constants) {
    const int V = config().vocab;
    const cuda::TokenBlock block = cuda::token_block(rows, V);
    ABC_CUDA_CHECK(cudaEventSynchronize(copied_[slot_].get()));
    auto* host = static_cast<std::int32_t*>(staging_.get()) + sz(slot_) * plan_.token_capacity;
    std::memcpy(host + block.constants, &constants, sizeof constants);
    std::size_t ints = block.inputs + rows;
    if (targets) {
      cuda::build_token_csr(inputs, rows, V, host + block.csr_offsets, host + block.csr_rows);
      std::memcpy(host + block.targets, targets, rows * sizeof(std::int32_t));
      ints = block.ints;
    } else {
      check_token_ids(inputs, rows, V, "input");
    }
    std::memcpy(host + block.inputs, inputs, rows * sizeof(std::int32_t));
    auto* dev = reinterpret_cast<std::int32_t*>(arena_.bytes() + plan_.tokens);
    ABC_CUDA_CHECK(cudaMemcpyAsync(dev, host, ints * sizeof(std::int32_t), cudaMemcpyHostToDevice, stream()));
    ABC_CUDA_CHECK(cudaEventRecord(copied_[slot_].get(), stream()));
    slot_ = (slot_ + 1) % kStagingSlots;
    return DeviceTokens{reinterpret_cast<const cuda::StepConstants*>(dev + block.constants), dev + block.inputs,
                        dev + block.targets, dev + block.csr_offsets, dev + block.csr_rows};
  }

  DeviceTokens stage_chunk(const Chunk& chunk, const cuda::StepConstants& constants) {
    check_chunk_fits(chunk, max_batch_, max_seq_);
    const std::size_t rows = sz(chunk.T) * sz(chunk.B);
    check_token_ids(chunk.targets.data(), rows, config().vocab, "target");
    return stage(chunk.inputs.data(), chunk.targets.data(), rows, constants);
  }

  // One step of n streams (sampling, step logits).
  DeviceTokens stage_step(const TokenId* tokens, int n, const cuda::StepConstants& constants) {
    if (n < 1 || n > max_batch_) {
      throw Error("step batch " + std::to_string(n) + " is outside 1.." + std::to_string(max_batch_) +
                  ": build the model with a larger batch");
    }
    return stage(tokens, nullptr, sz(n), constants);
  }

  // Runs `enqueue` through a CUDA graph captured on the first call with this key (its
  // launches depend only on the key: every per-call number is read from the staged
  // StepConstants), so a step costs one graph launch instead of a few hundred kernel
  // and GEMM launches. Without graphs (ABC_CUDA_GRAPHS=0, the cudnn backend, or the
  // cache full) it enqueues directly.
  template <class Enqueue>
  void replay(const GraphKey& key, Enqueue&& enqueue) {
    if (!use_graphs_) {
      enqueue();
      return;
    }
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      if (graphs_.size() >= kMaxGraphs) {
        enqueue();
        return;
      }
      it = graphs_.emplace(key, cuda::capture_graph(stream(), enqueue)).first;
    }
    ABC_CUDA_CHECK(cudaGraphLaunch(it->second.get(), stream()));
  }

  std::unique_ptr<CudnnLayers> make_cudnn_layers() const {
#if ABC_HAVE_CUDNN
    return std::make_unique<CudnnLayers>(layout_, max_batch_, max_seq_, stream());
#else
    throw Error("this build has no cuDNN (it was not found at configure time): use --backend ours");
#endif
  }

#if ABC_HAVE_CUDNN
  // Before a forward on cuDNN: our parameters into its weight spaces (when they
  // changed), the chunk's tokens as one-hot rows.
  void cudnn_prepare(const std::int32_t* inputs, int rows) {
    if (cudnn_->stale) {
      for (std::size_t l = 0; l < cudnn_->maps.size(); ++l) {
        cudnn_->maps[l]->pack(params(), cudnn_->rnns[l]->weights(), stream());
      }
      cudnn_->stale = false;
    }
    cuda::one_hot(inputs, rows, config().vocab, cudnn_->one_hot_input(), stream());
  }

  // Layer l on cuDNN: reads x (layer > 0) and the initial state in slot 0 of h and c,
  // writes h slots 1..T and the carried state (c slots 1..T stay unused).
  void cudnn_layer_forward(int l, int T, int B, bool training, const float* x, float* h, float* c) {
    const cuda::LayerSlots& s = plan_.layers[sz(l)];
    const float* input = l == 0 ? cudnn_->one_hot_input() : x;
    float* h_out = h + sz(B) * sz(config().hidden);
    cudnn_->rnns[sz(l)]->forward(T, B, training, input, h_out, h, f(s.state_h), c, s.has_c ? f(s.state_c) : nullptr);
  }

  // Backward of layer l on cuDNN; x: the layer's input (layer > 0); dy [T*B, H] holds
  // d loss / d h (after dropout) and becomes the lower layer's. No gradient into the
  // chunk's initial state (truncated BPTT): null dhx, dcx.
  void cudnn_layer_backward(int l, int T, int B, const float* x, float* dy, float* grads_out) {
    const cuda::LayerSlots& s = plan_.layers[sz(l)];
    const std::size_t rows = sz(T) * sz(B), BH = sz(B) * sz(config().hidden);
    const float* h = f(s.h);
    const float* c = s.has_c ? f(s.c) : nullptr;
    const float* input = l == 0 ? cudnn_->one_hot_input() : x;
    cuda::CudnnRnn& rnn = *cudnn_->rnns[sz(l)];
    rnn.backward_data(h + BH, dy, cudnn_->dx_buffer(), h, nullptr, nullptr, c, nullptr, nullptr);
    rnn.backward_weights(input, h, h + BH);
    cudnn_->maps[sz(l)]->unpack(rnn.dweights(), grads_out, stream());
    if (l > 0) copy_on_device(dy, cudnn_->dx_buffer(), rows * sz(config().hidden));
  }
#else
  [[noreturn]] void no_cudnn() const { throw Error("this build has no cuDNN"); }
  void cudnn_prepare(const std::int32_t*, int) { no_cudnn(); }
  void cudnn_layer_forward(int, int, int, bool, const float*, float*, float*) { no_cudnn(); }
  void cudnn_layer_backward(int, int, int, const float*, float*, float*) { no_cudnn(); }
#endif

  // The operations of the model pass (model_pass.hpp) on this backend's arena: kernels and
  // cuBLAS on one stream; cuDNN runs whole layers when the backend is `cudnn`.
  struct PassOps {
    using Scalar = float;
    using Tokens = DeviceTokens;
    using Key = const U32x2*;  // device memory, read when the kernel runs
    CudaBackend& be;

    LayerBuffers<float> layer(int l) const {
      const cuda::LayerSlots& s = be.plan_.layers[sz(l)];
      auto at = [&](bool present, std::size_t offset) { return present ? be.f(offset) : nullptr; };
      return LayerBuffers<float>{be.f(s.gates),
                                 at(s.has_rec, s.rec),
                                 be.f(s.h),
                                 at(s.has_c, s.c),
                                 be.f(s.state_h),
                                 at(s.has_c, s.state_c),
                                 at(s.has_dropout, s.mask),
                                 at(s.has_dropout, s.dropped),
                                 nullptr,   // no gradient into the chunk's initial state
                                 nullptr};  // (truncated BPTT)
    }
    PassBuffers<float> scratch() const {
      const cuda::ArenaPlan& p = be.plan_;
      return PassBuffers<float>{be.f(p.logits), be.f(p.dy), be.f(p.dgates), p.layers[0].has_rec ? be.f(p.drec) : nullptr,
                                be.f(p.dc)};
    }
    void copy(float* dst, const float* src, std::size_t n) const { be.copy_on_device(dst, src, n); }
    void zero(float* dst, std::size_t n) const {
      ABC_CUDA_CHECK(cudaMemsetAsync(dst, 0, n * sizeof(float), be.stream()));
    }
    void table_input_term(const Tokens& tokens, const float* table, const float* bias, int rows, int N,
                          float* z) const {
      cuda::embedding_gather(tokens.inputs, table, bias, rows, N, z, be.stream());
    }
    void dense_input_term(int rows, int in, int N, const float* x, const float* w, const float* bias, float* z) const {
      cuda::dense_input_term(be.cublas_rows_.get(), rows, in, N, x, w, bias, z, be.stream());
    }
    void recurrence_forward(const LayerShape& s, const float* w_rec, const float* rec_bias, float* z, float* u,
                            float* h, float* c) const {
      cuda::recurrence_forward(be.cublas_.get(), shape(s), w_rec, rec_bias, z, u, h, c, be.stream());
    }
    void recurrence_backward(const LayerShape& s, const float* w_rec, const float* z, const float* u, const float* h,
                             const float* c, float* dy, float* dc, float* dz, float* du, float* dh0) const {
      cuda::recurrence_backward(be.cublas_.get(), shape(s), w_rec, z, u, h, c, dy, dc, dz, du, dh0, be.stream());
    }
    void recurrent_weight_grads(const LayerShape& s, const float* h, const float* dz, const float* du, float* dw_rec,
                                float* dbias, float* drec_bias) const {
      cuda::recurrent_weight_grads(be.cublas_rows_.get(), shape(s), h, dz, du, dw_rec, dbias, drec_bias, be.stream());
    }
    void table_grad(const Tokens& tokens, const float* dz, int, int V, int N, float* grad) const {
      cuda::table_grad(dz, tokens.csr_offsets, tokens.csr_rows, V, N, grad, be.stream());
    }
    void dense_input_grads(int rows, int in, int N, const float* x, const float* w, const float* dz, float* dw,
                           float* dx) const {
      cuda::dense_input_grads(be.cublas_rows_.get(), rows, in, N, x, w, dz, dw, dx, be.stream());
    }
    void dropout_forward(const float* h, float* mask, float* dropped, int T, int B, int H, int layer, Key key,
                         float p) const {
      cuda::dropout_forward(h, mask, dropped, T, B, H, layer, key, p, be.stream());
    }
    void dropout_backward(const float* mask, float* dy, std::size_t n) const {
      cuda::dropout_backward(mask, dy, n, be.stream());
    }
    void output_forward(int rows, int H, int V, const float* x, const float* w, const float* b, float* logits) const {
      cuda::bias_broadcast(b, rows, V, logits, be.stream());
      be.gemm(false, false, rows, V, H, x, H, w, V, 1.0f, logits, V);
    }
    void output_backward(int rows, int H, int V, const float* x, const float* w, const float* dlogits, float* dw,
                         float* db, float* dx) const {
      be.gemm(true, false, H, V, rows, x, H, dlogits, V, 0.0f, dw, V);
      cuda::column_sum(dlogits, rows, V, db, be.stream());
      be.gemm(false, true, rows, H, V, dlogits, V, w, V, 0.0f, dx, H);
    }
    bool layer_forward_elsewhere(int l, int T, int B, bool training, const float* x,
                                 const LayerBuffers<float>& b) const {
      if (!be.cudnn_) return false;
      be.cudnn_layer_forward(l, T, B, training, x, b.h, b.c);
      return true;
    }
    bool layer_backward_elsewhere(int l, int T, int B, const float* x, float* dy, float* grads) const {
      if (!be.cudnn_) return false;
      be.cudnn_layer_backward(l, T, B, x, dy, grads);
      return true;
    }
    cuda::RecurrenceShape shape(const LayerShape& s) const {
      return cuda::RecurrenceShape{s.cell, s.T, s.B, s.H, be.path_};
    }
  };

  // The model pass's forward: fills the logits [T*B, V]. training: cuDNN keeps what
  // backward needs. key: the dropout key in device memory (read only when dropout).
  void forward(const DeviceTokens& tokens, int T, int B, bool training, bool dropout, const U32x2* key) {
    if (cudnn_) cudnn_prepare(tokens.inputs, T * B);
    PassOps ops{*this};
    model_forward(ops, layout_, params(), tokens, T, B, training, dropout, key);
  }

  // The model pass's backward: needs the logits holding d(mean loss)/d(logits) and the
  // activations of forward(training); overwrites the gradient block.
  void backward(const DeviceTokens& tokens, int T, int B, bool dropout) {
    PassOps ops{*this};
    model_backward(ops, layout_, params(), grads(), tokens, T, B, dropout);
  }

  ParamLayout layout_;
  RecurrencePath path_;  // which of our implementations runs the recurrent layers
  AdamConfig adam_;
  int max_batch_, max_seq_;
  cuda::ArenaPlan plan_;
  cuda::Stream stream_;
  cuda::CublasHandle cublas_;       // the recurrence's per-step GEMMs: always FP32
  cuda::CublasHandle cublas_rows_;  // the GEMMs over all T*B rows (gemm()): TF32 if asked
  cuda::DeviceMemory block_;           // params | grads | adam m | adam v, [num_params] each
  cuda::DeviceMemory arena_;           // plan_
  cuda::PinnedMemory staging_;         // kStagingSlots slots of plan_.token_capacity int32
  cuda::Event copied_[kStagingSlots];  // the last copy out of each staging slot
  int slot_ = 0;
  std::unique_ptr<CudnnLayers> cudnn_;  // set: the recurrent layers run on cuDNN
  bool use_graphs_ = false;
  std::map<GraphKey, cuda::GraphExec> graphs_;
};

// `what` names the backend in the error when no GPU is usable.
std::unique_ptr<Backend> start(const char* what, const ModelConfig& config, const AdamConfig& adam, int max_batch,
                               int max_seq, Recurrence recurrence, const BackendOptions& options) {
  const DeviceProbe probe = probe_cuda_device();
  if (!probe.usable) {
    throw Error(std::string("the ") + what + " backend cannot start: " + probe.reason + "; use --device cpu");
  }
  return std::make_unique<CudaBackend>(config, adam, max_batch, max_seq, recurrence, options);
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const ModelConfig& config, const AdamConfig& adam, int max_batch,
                                           int max_seq, const BackendOptions& options) {
  return start("CUDA", config, adam, max_batch, max_seq, Recurrence::kOurs, options);
}

std::unique_ptr<Backend> make_cudnn_backend(const ModelConfig& config, const AdamConfig& adam, int max_batch,
                                            int max_seq, const BackendOptions& options) {
  return start("cuDNN", config, adam, max_batch, max_seq, Recurrence::kCudnn, options);
}

}  // namespace abc
