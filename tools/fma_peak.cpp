// This machine's fp32 fused multiply-add peak, measured: every core runs independent chains
// of vector FMAs in the widest vectors -march=native gives (AVX-512: 16 floats, else 8), so
// neither latency nor memory limits them. bench_cpu.sh compiles and runs it for the "share
// of FMA peak" column, instead of a peak computed from a nominal clock and a guessed number
// of FMA units.
//   c++ -O2 -march=native -fopenmp tools/fma_peak.cpp -o fma_peak && ./fma_peak
// Prints: fma_peak_gflops=<best of 5 runs, all threads> threads=<n> lanes=<floats per vector>
#include <omp.h>

#include <chrono>
#include <cstdio>

#ifdef __AVX512F__
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

// Independent accumulators: more than latency x FMA units per core (4 x 2 on current x86).
constexpr int kChains = 12;
constexpr long kIterations = 50'000'000;

// FLOP done by one thread, and a checksum that keeps the compiler from dropping the loop.
static float run_chains(float seed) {
  Vec acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = Vec{} + seed * static_cast<float>(k + 1);
  const Vec mul = Vec{} + 0.999999f, add = Vec{} + 1e-7f;
  for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) acc[k] = acc[k] * mul + add;  // contracted to one FMA
  }
  float sum = 0.0f;
  for (int k = 0; k < kChains; ++k)
    for (int l = 0; l < kLanes; ++l) sum += acc[k][l];
  return sum;
}

int main() {
  const int threads = omp_get_max_threads();
  double best = 0.0;
  float checksum = 0.0f;
  for (int run = 0; run < 5; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+ : checksum)
    checksum += run_chains(static_cast<float>(omp_get_thread_num() + run));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double flop = 2.0 * kLanes * kChains * static_cast<double>(kIterations) * threads;
    if (flop / s > best) best = flop / s;
  }
  std::printf("fma_peak_gflops=%.1f threads=%d lanes=%d checksum=%g\n", best / 1e9, threads, kLanes, checksum);
  return 0;
}
