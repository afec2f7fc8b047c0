// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
// written out so the CPU model and the CUDA kernels draw the same numbers from the
// same (key, counter): a dropout mask is a pure function of its coordinates, never of
// the order in which threads happen to run.
#pragma once
#include <cstdint>

#include "abc/cell_math.hpp"  // ABC_HD

namespace abc {

struct U32x4 {
  std::uint32_t v[4];
};
struct U32x2 {
  std::uint32_t v[2];
};

namespace philox_detail {

constexpr std::uint32_t kMul0 = 0xD2511F53u;
constexpr std::uint32_t kMul1 = 0xCD9E8D57u;
constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1

ABC_HD inline U32x4 round(U32x4 ctr, U32x2 key) {
  const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * ctr.v[0];
  const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * ctr.v[2];
  const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
  const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
  return U32x4{{hi1 ^ ctr.v[1] ^ key.v[0], lo1, hi0 ^ ctr.v[3] ^ key.v[1], lo0}};
}

}  // namespace philox_detail

// Ten rounds, the key bumped by the Weyl constants between rounds.
ABC_HD inline U32x4 philox4x32_10(U32x4 ctr, U32x2 key) {
  ctr = philox_detail::round(ctr, key);
  for (int r = 1; r < 10; ++r) {
    key.v[0] += philox_detail::kWeyl0;
    key.v[1] += philox_detail::kWeyl1;
    ctr = philox_detail::round(ctr, key);
  }
  return ctr;
}

// Top 24 bits -> a float in [0, 1): every value is exact, and 1.0f is never returned.
ABC_HD inline float uniform_from_u32(std::uint32_t x) {
  return static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
}

// --- Dropout mask stream ---------------------------------------------------------
// key = Philox(counter = (step, domain tag), key = seed): one key per training step,
// so masks never repeat across steps and the full 64 bits of seed and step count.
// Element (layer, t, b, j) then reads word j % 4 of Philox(counter = (j / 4, b, t,
// layer), key): a CPU loop or a GPU thread can take four neighbours from one call.

ABC_HD inline U32x2 dropout_key(std::uint64_t seed, std::uint64_t step) {
  constexpr std::uint32_t kDropoutTag = 0x44524F50u;  // "DROP": keeps other streams apart
  const U32x4 ctr{{static_cast<std::uint32_t>(step), static_cast<std::uint32_t>(step >> 32), 0u,
                   kDropoutTag}};
  const U32x2 key{{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const U32x4 r = philox4x32_10(ctr, key);
  return U32x2{{r.v[0], r.v[1]}};
}

// The four words of the group holding element j (elements 4*(j/4) .. 4*(j/4)+3).
ABC_HD inline U32x4 dropout_bits(U32x2 key, int layer, int t, int b, int j) {
  const U32x4 ctr{{static_cast<std::uint32_t>(j) >> 2, static_cast<std::uint32_t>(b),
                   static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(layer)}};
  return philox4x32_10(ctr, key);
}

// Uniform in [0, 1) of one element of the mask of `layer` at (t, b, j).
ABC_HD inline float dropout_uniform(U32x2 key, int layer, int t, int b, int j) {
  return uniform_from_u32(dropout_bits(key, layer, t, b, j).v[j & 3]);
}

}  // namespace abc
