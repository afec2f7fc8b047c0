// Host emulation of the cuBLAS subset abc-cuda uses: column-major SGEMM with cuBLAS's
// argument checks (sizes, leading dimensions, device pointers and the extent each matrix
// spans inside its allocation), computed by OpenBLAS when the handle's stream runs it.
// Under CUBLAS_TF32_TENSOR_OP_MATH the inputs are rounded to TF32 (10-bit mantissa) first,
// as tensor cores read them.
#include <cblas.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "emu_internal.hpp"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
};

namespace {

// Round to nearest (ties away from zero) at TF32's 10 mantissa bits.
float to_tf32(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;  // inf, NaN
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, sizeof u);
  return x;
}

// A column-major rows x cols matrix with leading dimension ld spans this many floats.
std::size_t span(int rows, int cols, int ld) {
  if (rows == 0 || cols == 0) return 0;
  return static_cast<std::size_t>(ld) * static_cast<std::size_t>(cols - 1) + static_cast<std::size_t>(rows);
}

bool bad_matrix(const char* name, const float* p, int rows, int cols, int ld) {
  const std::size_t n = span(rows, cols, ld);
  if (n == 0) return false;
  const std::string problem = abc_emu::device_range_problem(p, n * sizeof(float));
  if (problem.empty()) return false;
  abc_emu::report(std::string("cublasSgemm: matrix ") + name + " (" + std::to_string(rows) + " x " +
                  std::to_string(cols) + ", ld " + std::to_string(ld) + "): " + problem);
  return true;
}

// A copy of the span, rounded to TF32.
std::shared_ptr<std::vector<float>> tf32_copy(const float* p, std::size_t n) {
  auto v = std::make_shared<std::vector<float>>(p, p + n);
  for (float& x : *v) x = to_tf32(x);
  return v;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, std::size_t bytes) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes > 0 && !abc_emu::device_range_problem(workspace, bytes).empty()) return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasGetStatusString(cublasStatus_t status) {
  return status == CUBLAS_STATUS_SUCCESS ? "success" : "see the emulation's message above";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  // op(A) is m x k, op(B) k x n, C m x n; A is stored m x k (or k x m when transposed).
  const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  const auto at_least_1 = [](int v) { return v > 1 ? v : 1; };
  if (m < 0 || n < 0 || k < 0 || lda < at_least_1(a_rows) || ldb < at_least_1(b_rows) || ldc < at_least_1(m)) {
    abc_emu::report("cublasSgemm: invalid value (m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " +
                    std::to_string(k) + ", lda " + std::to_string(lda) + ", ldb " + std::to_string(ldb) + ", ldc " +
                    std::to_string(ldc) + ", transa " + std::to_string(ta) + ", transb " + std::to_string(tb) + ")");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (handle->pointer_mode != CUBLAS_POINTER_MODE_HOST) {
    abc_emu::report("cublasSgemm: device pointer mode is not emulated");
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if ((k > 0 && (bad_matrix("A", A, a_rows, a_cols, lda) || bad_matrix("B", B, b_rows, b_cols, ldb))) ||
      bad_matrix("C", C, m, n, ldc)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const float al = *alpha, be = *beta;  // host pointer mode: read at the call
  const bool tf32 = handle->math == CUBLAS_TF32_TENSOR_OP_MATH;
  const std::size_t a_span = span(a_rows, a_cols, lda), b_span = span(b_rows, b_cols, ldb);
  const cudaError_t e = abc_emu::enqueue(handle->stream, "cublasSgemm", [=] {
    std::shared_ptr<std::vector<float>> a32, b32;
    const float* a = A;
    const float* b = B;
    if (tf32 && k > 0) {
      a32 = tf32_copy(A, a_span);
      b32 = tf32_copy(B, b_span);
      a = a32->data();
      b = b32->data();
    }
    if (k == 0) {  // C = beta * C (OpenBLAS is not asked about k = 0)
      for (int j = 0; j < n; ++j) {
        for (int i = 0; i < m; ++i) {
          float& c = C[static_cast<std::size_t>(j) * static_cast<std::size_t>(ldc) + static_cast<std::size_t>(i)];
          c = be == 0.0f ? 0.0f : be * c;
        }
      }
      return;
    }
    cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, al, a, lda, b,
                ldb, be, C, ldc);
  });
  return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}
