// This machine's fp32 fused multiply-add peak, measured: every core runs independent chains
// of vector FMAs in the widest vectors -march=native gives (AVX-512: 16 floats, else 8), so
// neither latency nor memory limits them. bench_cpu.sh compiles and runs it for the "share
// of FMA peak" column, instead of a peak computed from a nominal clock and a guessed number
// of FMA units, and with --quick before and after each measurement, to see whether every
// core still delivers its rate (a shared machine's virtual cores can land on one physical
// core for a while: each then does about half).
//   c++ -O2 -march=native -fopenmp tools/fma_peak.cpp -o fma_peak && ./fma_peak [--quick]
// Prints: fma_peak_gflops=<all threads> min_thread_gflops=<the slowest thread's rate>
// threads=<n> lanes=<floats per vector>; the best of 5 runs, or of 3 short ones with --quick.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#ifdef __AVX512F__
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

// Independent accumulators: more than latency x FMA units per core (4 x 2 on current x86).
constexpr int kChains = 12;
// Runs `iterations` rounds of the chains; returns a checksum that keeps the compiler from
// dropping the loop.
static float run_chains(long iterations, float seed) {
  Vec acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = Vec{} + seed * static_cast<float>(k + 1);
  const Vec mul = Vec{} + 0.999999f, add = Vec{} + 1e-7f;
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) acc[k] = acc[k] * mul + add;  // contracted to one FMA
  }
  float sum = 0.0f;
  for (int k = 0; k < kChains; ++k)
    for (int l = 0; l < kLanes; ++l) sum += acc[k][l];
  return sum;
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const long iterations = quick ? 5'000'000 : 50'000'000;  // about 0.05 s or 0.5 s a run here
  const int runs = quick ? 3 : 5;
  const int threads = omp_get_max_threads();
  const double flop_per_thread = 2.0 * kLanes * kChains * static_cast<double>(iterations);
  double best = 0.0, best_min_thread = 0.0;
  float checksum = 0.0f;
  for (int run = 0; run < runs; ++run) {
    std::vector<double> thread_s(static_cast<std::size_t>(threads), 0.0);
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+ : checksum)
    {
      const auto start = std::chrono::steady_clock::now();
      checksum += run_chains(iterations, static_cast<float>(omp_get_thread_num() + run));
      thread_s[static_cast<std::size_t>(omp_get_thread_num())] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double slowest = 0.0;
    for (const double t : thread_s) slowest = t > slowest ? t : slowest;
    if (flop_per_thread * threads / s > best) best = flop_per_thread * threads / s;
    if (flop_per_thread / slowest > best_min_thread) best_min_thread = flop_per_thread / slowest;
  }
  std::printf("fma_peak_gflops=%.1f min_thread_gflops=%.1f threads=%d lanes=%d checksum=%g\n", best / 1e9,
              best_min_thread / 1e9, threads, kLanes, checksum);
  return 0;
}
