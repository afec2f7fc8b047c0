// Row-major single-precision GEMM on cuBLAS (column-major underneath; the mapping is
// column_major_gemm in plan.hpp):
//   C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C
// op(A) is A [M,K] (lda >= K), or A^T with A stored [K,M] (lda >= M) when trans_a;
// likewise B. All pointers are device memory; the call only enqueues work on the
// handle's stream.
#pragma once
#include <cublas_v2.h>

namespace abc {
namespace cuda {

void gemm_row_major(cublasHandle_t handle, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                    int lda, const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace cuda
}  // namespace abc
