// Row-major SGEMM through column-major cuBLAS.
#include "abc/cuda/gemm.hpp"

#include "abc/cuda/check.hpp"
#include "abc/cuda/plan.hpp"

namespace abc {
namespace cuda {

void gemm_row_major(cublasHandle_t handle, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                    int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  const ColumnMajorGemm g = column_major_gemm(trans_a, trans_b, M, N, K);
  ABC_CUBLAS_CHECK(cublasSgemm(handle, g.trans_first ? CUBLAS_OP_T : CUBLAS_OP_N,
                               g.trans_second ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &alpha, B, ldb, A, lda, &beta,
                               C, ldc));
}

}  // namespace cuda
}  // namespace abc
