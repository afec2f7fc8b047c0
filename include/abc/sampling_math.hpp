// Drawing the next token from a row of logits: temperature softmax (maximum
// subtracted, so no overflow at low temperature) and a categorical draw by inverse
// CDF. Shared by the CPU sampler and the CUDA sampling kernel.
#pragma once
#include <cstdint>

#include "abc/cell_math.hpp"
#include "abc/philox.hpp"

namespace abc {

// Uniform in [0, 1) for stream `stream` at generation step `step`: the draw of a tune
// does not depend on how many tunes run beside it.
ABC_HD inline float sample_uniform(std::uint64_t seed, std::uint32_t stream, std::uint32_t step) {
  constexpr std::uint32_t kSampleTag = 0x53414D50u;  // "SAMP"
  const U32x4 ctr{{step, stream, 0u, kSampleTag}};
  const U32x2 key{{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  return uniform_from_u32(philox4x32_10(ctr, key).v[0]);
}

// Token drawn from softmax(logits / temperature) with the uniform u (inverse CDF over the
// ids in order), restricted to the tokens with allowed[v] != 0 (allowed null: every token;
// else at least one must be): the softmax renormalised over them. Temperature 0 (or below)
// returns the most likely allowed token. When the allowed tokens hold less than min_mass
// of the whole distribution, the model has next to no opinion among them: the most likely
// allowed one is returned instead of a draw, and *forced (if given) is set. -1 when no
// token is allowed. logits: [V]. Lower temperature = safer, more repetitive tunes; higher =
// wilder ones.
template <class S>
ABC_HD inline int sample_allowed_token(const S* logits, const unsigned char* allowed, int V, float temperature,
                                       float u, double min_mass, bool* forced) {
  if (forced) *forced = false;
  int best = 0, best_allowed = -1;
  for (int v = 0; v < V; ++v) {
    if (logits[v] > logits[best]) best = v;
    if ((!allowed || allowed[v]) && (best_allowed < 0 || logits[v] > logits[best_allowed])) best_allowed = v;
  }
  if (best_allowed < 0) return -1;
  if (temperature <= 0.0f) return best_allowed;
  const double inv_t = 1.0 / static_cast<double>(temperature);
  const double top = static_cast<double>(logits[best]);
  double all = 0.0, legal = 0.0;
  for (int v = 0; v < V; ++v) {
    const double p = cell::exp_of((static_cast<double>(logits[v]) - top) * inv_t);
    all += p;
    if (!allowed || allowed[v]) legal += p;
  }
  if (!(legal >= min_mass * all) || legal <= 0.0) {
    if (forced) *forced = true;
    return best_allowed;
  }
  const double target = static_cast<double>(u) * legal;
  double cumulative = 0.0;
  for (int v = 0; v < V; ++v) {
    if (allowed && !allowed[v]) continue;
    cumulative += cell::exp_of((static_cast<double>(logits[v]) - top) * inv_t);
    if (target < cumulative) return v;
  }
  return best_allowed;  // rounding left target at the very top: the most likely token
}

// The unrestricted draw: every token allowed, never forced.
template <class S>
ABC_HD inline int sample_token(const S* logits, int V, float temperature, float u) {
  return sample_allowed_token(logits, static_cast<const unsigned char*>(nullptr), V, temperature, u, 0.0,
                              static_cast<bool*>(nullptr));
}

}  // namespace abc
