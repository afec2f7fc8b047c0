// Cutting the CPU backend's work into parts that run on OpenMP threads (cpu_model.cpp,
// optimizer.cpp). Internal to src/cpu.
#pragma once
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "abc/cpu_model.hpp"  // kMaxCpuThreads

namespace abc {
namespace {

// Runs f(part, parts) for every part 0..parts-1 on up to `parts` OpenMP threads (parts <= 1:
// inline, no thread). Each part owns a fixed slice of the work, so the result depends on
// the number of parts only, never on which thread ran a part or when. f must not throw.
template <class F>
void for_parts(int parts, F&& f) {
  if (parts <= 1) {
    f(0, 1);
    return;
  }
#pragma omp parallel num_threads(parts)
  {
    const int n = omp_get_num_threads();
    for (int p = omp_get_thread_num(); p < parts; p += n) f(p, parts);
  }
}

// Part p's slice [first, second) of n items cut into `parts` nearly equal slices.
template <class N>
std::pair<N, N> slice(N n, int p, int parts) {
  const unsigned long long count = static_cast<unsigned long long>(n);
  return {static_cast<N>(count * static_cast<unsigned>(p) / static_cast<unsigned>(parts)),
          static_cast<N>(count * static_cast<unsigned>(p + 1) / static_cast<unsigned>(parts))};
}

// Parts for n items when each part should have at least `grain` of them.
template <class N>
int parts_for(int threads, N n, N grain) {
  const N per = std::max<N>(1, grain);
  return static_cast<int>(std::max<N>(1, std::min<N>(static_cast<N>(threads), n / per)));
}

// The sum of part_sum(first, last) over the slices of n items cut into `parts` (at most
// kMaxCpuThreads): each part's sum is taken on its thread, and the sums are added in part
// order, so the total is the same run to run for a number of parts.
template <class N, class F>
double sum_over_parts(int parts, N n, F&& part_sum) {
  std::array<double, kMaxCpuThreads> sums{};
  for_parts(parts, [&](int p, int np) {
    const auto [first, last] = slice(n, p, np);
    sums[static_cast<std::size_t>(p)] = part_sum(first, last);
  });
  double total = 0.0;
  for (int p = 0; p < parts; ++p) total += sums[static_cast<std::size_t>(p)];
  return total;
}

}  // namespace
}  // namespace abc
