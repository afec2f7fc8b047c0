// The host emulation of CUDA (tests/emu) itself: that it catches what it claims to catch.
// A missing __syncthreads, a barrier in divergent code, a write past an allocation, a host
// pointer handed to a kernel, too much shared memory, work read before its stream ran it,
// calls that a graph capture forbids, bad cuBLAS arguments. Each check pairs a correct
// use (which must pass) with the broken one (which must be caught).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "../kernels/kernel_util.cuh"
#include "abc/cuda/check.hpp"
#include "abc/error.hpp"
#include "cuda_test_util.hpp"

namespace {

using abc_test::DeviceArray;

// out[i] = in[n - 1 - i] within one block, through shared memory.
__global__ void reverse_block(const float* in, float* out, int n, bool sync) {
  ABC_SHARED_ARRAY(float, tile, 256);
  const int i = static_cast<int>(threadIdx.x);
  if (i < n) tile[i] = in[i];
  if (sync) __syncthreads();
  if (i < n) out[i] = tile[n - 1 - i];
}

std::vector<float> ramp(int n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i);
  return v;
}

int reversed_wrongly(const std::vector<float>& out) {
  const int n = static_cast<int>(out.size());
  int wrong = 0;
  for (int i = 0; i < n; ++i) wrong += out[static_cast<std::size_t>(i)] != static_cast<float>(n - 1 - i);
  return wrong;
}

TEST(Emulation, SyncthreadsIsABarrierAndAMissingOneShows) {
  const int n = 256;
  DeviceArray<float> in(ramp(n)), out(static_cast<std::size_t>(n));
  abc::cuda::launch_kernel(reverse_block, 1, n, 0, nullptr, in.get(), out.get(), n, true);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(reversed_wrongly(out.download()), 0);
  abc::cuda::launch_kernel(reverse_block, 1, n, 0, nullptr, in.get(), out.get(), n, false);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  // Threads run one after another between barriers, in a shuffled order: without the
  // barrier about half of them read a tile slot not written yet (NaN).
  EXPECT_GT(reversed_wrongly(out.download()), n / 4);
}

__global__ void divergent_barrier(float* out) {
  if (threadIdx.x % 2 == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

TEST(Emulation, BarrierInDivergentCodeFailsTheLaunch) {
  DeviceArray<float> out(64);
  abc::cuda::launch_kernel(divergent_barrier, 1, 64, 0, nullptr, out.get());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // the launch itself is valid
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  abc_emu::clear_errors();
}

__global__ void write_at(float* p, long index) { p[index] = 1.0f; }

TEST(Emulation, WriteJustPastAnAllocationIsCaught) {
  DeviceArray<float> a(10);
  abc::cuda::launch_kernel(write_at, 1, 1, 0, nullptr, a.get(), 9L);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  abc::cuda::launch_kernel(write_at, 1, 1, 0, nullptr, a.get(), 10L);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
  abc_emu::clear_errors();
}

TEST(Emulation, WriteBeforeAnAllocationIsCaught) {
  DeviceArray<float> a(10);
  abc::cuda::launch_kernel(write_at, 1, 1, 0, nullptr, a.get(), -1L);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
  abc_emu::clear_errors();
}

// Past the 256-byte slack, the next page is inaccessible: the access faults at once.
TEST(EmulationDeathTest, AccessFurtherPastAnAllocationFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceArray<float> a(64);
        abc::cuda::launch_kernel(write_at, 1, 1, 0, nullptr, a.get(), 200L);
        (void)cudaDeviceSynchronize();
      },
      "out-of-bounds access");
}

TEST(Emulation, HostPointerArgumentIsRefused) {
  std::vector<float> host(4);
  abc::cuda::launch_kernel(write_at, 1, 1, 0, nullptr, host.data(), 0L);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevicePointer);
  EXPECT_EQ(host[0], 0.0f);
}

__global__ void touch_dynamic(float* out) {
  ABC_DYNAMIC_SHARED(float, smem);
  smem[threadIdx.x] = 2.0f;
  __syncthreads();
  out[threadIdx.x] = smem[blockDim.x - 1 - threadIdx.x];
}

TEST(Emulation, DynamicSharedMemoryAbove48KbNeedsTheAttribute) {
  DeviceArray<float> out(32);
  const std::size_t big = 100 * 1024;
  abc::cuda::launch_kernel(touch_dynamic, 1, 32, big, nullptr, out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  ASSERT_EQ(cudaFuncSetAttribute(touch_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(big)),
            cudaSuccess);
  abc::cuda::launch_kernel(touch_dynamic, 1, 32, big, nullptr, out.get());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  for (float x : out.download()) EXPECT_EQ(x, 2.0f);
  // Above the device's opt-in limit (227 KB) even the attribute is refused.
  EXPECT_EQ(cudaFuncSetAttribute(touch_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 * 1024),
            cudaErrorInvalidValue);
}

TEST(Emulation, BadLaunchConfigurationIsRefused) {
  DeviceArray<float> out(1);
  abc::cuda::launch_kernel(write_at, 1, 2048, 0, nullptr, out.get(), 0L);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  abc::cuda::launch_kernel(write_at, 0, 1, 0, nullptr, out.get(), 0L);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
}

// Queued work runs when the host waits for it, not before: a read of device memory
// without the wait sees the old contents, as it may on a GPU.
TEST(Emulation, StreamWorkRunsOnlyWhenWaitedFor) {
  abc::cuda::Stream stream;
  DeviceArray<float> a(std::vector<float>{1.0f, 1.0f});
  ASSERT_EQ(cudaMemsetAsync(a.get(), 0, 2 * sizeof(float), stream.get()), cudaSuccess);
  float peek;
  std::memcpy(&peek, a.get(), sizeof peek);  // the emulated device memory is host memory
  EXPECT_EQ(peek, 1.0f);
  // A plain cudaMemcpy runs on the legacy stream and does not wait for a non-blocking one.
  std::vector<float> host(2);
  ASSERT_EQ(cudaMemcpy(host.data(), a.get(), sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(host[0], 1.0f);
  stream.synchronize();
  EXPECT_EQ(a.download(), (std::vector<float>{0.0f, 0.0f}));
}

TEST(Emulation, CopiesAreCheckedAgainstTheirAllocations) {
  DeviceArray<float> a(4);
  std::vector<float> host(8, 1.0f);
  EXPECT_EQ(cudaMemcpy(a.get(), host.data(), 8 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), a.get(), 4 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemset(a.get() + 2, 0, 3 * sizeof(float)), cudaErrorInvalidValue);
  (void)cudaGetLastError();
}

TEST(Emulation, GraphReplaysWhatWasCapturedWithItsArguments) {
  abc::cuda::Stream stream;
  DeviceArray<float> a(1);
  abc::cuda::GraphExec graph = abc::cuda::capture_graph(stream.get(), [&] {
    abc::cuda::launch_kernel(write_at, 1, 1, 0, stream.get(), a.get(), 0L);
    ABC_CUDA_CHECK_LAUNCH(write_at);
  });
  stream.synchronize();
  float x;
  ABC_CUDA_CHECK(cudaMemcpy(&x, a.get(), sizeof x, cudaMemcpyDeviceToHost));
  EXPECT_TRUE(std::isnan(x)) << "capture must only record, not run";
  ABC_CUDA_CHECK(cudaGraphLaunch(graph.get(), stream.get()));
  stream.synchronize();
  EXPECT_EQ(a.download(), std::vector<float>{1.0f});
  ABC_CUDA_CHECK(cudaMemset(a.get(), 0, sizeof(float)));
  ABC_CUDA_CHECK(cudaGraphLaunch(graph.get(), stream.get()));
  stream.synchronize();
  EXPECT_EQ(a.download(), std::vector<float>{1.0f});
}

TEST(Emulation, CaptureForbidsWaitingAndAllocating) {
  abc::cuda::Stream stream;
  EXPECT_THROW(abc::cuda::capture_graph(stream.get(), [&] { stream.synchronize(); }), abc::Error);
  EXPECT_THROW(abc::cuda::capture_graph(stream.get(), [&] { abc::cuda::DeviceMemory m(16, "a buffer"); }), abc::Error);
  std::vector<float> host(4);
  DeviceArray<float> a(4);
  EXPECT_THROW(abc::cuda::capture_graph(stream.get(),
                                        [&] {
                                          ABC_CUDA_CHECK(cudaMemcpyAsync(a.get(), host.data(), 16,
                                                                         cudaMemcpyHostToDevice, stream.get()));
                                        }),
               abc::Error);
  // The stream works normally afterwards.
  ABC_CUDA_CHECK(cudaMemsetAsync(a.get(), 0, 16, stream.get()));
  stream.synchronize();
}

TEST(Emulation, CublasChecksItsArguments) {
  abc::cuda::CublasHandle handle(nullptr);
  DeviceArray<float> A(6), B(6), C(4);
  const float one = 1.0f, zero = 0.0f;
  // C[2x2] = A[2x3] B[3x2], column-major.
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, A.get(), 2, B.get(), 3, &zero, C.get(),
                        2),
            CUBLAS_STATUS_SUCCESS);
  // lda below the rows of A.
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, A.get(), 1, B.get(), 3, &zero, C.get(),
                        2),
            CUBLAS_STATUS_INVALID_VALUE);
  // B would span 4 x 2 with ldb 4: past its 6 floats.
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, A.get(), 2, B.get(), 4, &zero, C.get(),
                        2),
            CUBLAS_STATUS_INVALID_VALUE);
  // A host pointer.
  std::vector<float> host(6);
  EXPECT_EQ(cublasSgemm(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, host.data(), 2, B.get(), 3, &zero,
                        C.get(), 2),
            CUBLAS_STATUS_INVALID_VALUE);
}

}  // namespace
