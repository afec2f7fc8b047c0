// The persistent recurrent kernels' plan (plan.hpp: shared-memory layout, which H fit,
// rows and threads per block), checked on the CPU against hand-computed numbers for an
// H100 (227 KB opt-in shared memory per block, 228 KB per SM, 132 SMs).
#include <gtest/gtest.h>

#include <algorithm>

#include "abc/cuda/plan.hpp"

namespace {

using abc::CellKind;
using abc::cuda::PersistentDevice;
using abc::cuda::PersistentPlan;
using abc::cuda::plan_persistent;

PersistentDevice h100() {
  PersistentDevice d;
  d.smem_optin = 232448;
  d.smem_per_sm = 233472;
  d.sm_count = 132;
  d.threads_per_sm = 2048;
  d.blocks_per_sm = 32;
  return d;
}

TEST(PersistentPlan, SharedMemoryLayoutInBytes) {
  using abc::cuda::persistent_backward_smem;
  using abc::cuda::persistent_forward_smem;
  // LSTM H=1: forward w [4, 4] + h [2][R][4]; backward w^T [4, 1] + dz [2][R][4].
  EXPECT_EQ(persistent_forward_smem(CellKind::kLstm, 1, 1), (16u + 8u) * 4u);
  EXPECT_EQ(persistent_backward_smem(CellKind::kLstm, 1, 1), (4u + 8u) * 4u);
  // LSTM H=100: w [100, 400] + h [2][2][100]; w^T [400, 101] + dz [2][2][400].
  EXPECT_EQ(persistent_forward_smem(CellKind::kLstm, 100, 2), (40000u + 400u) * 4u);
  EXPECT_EQ(persistent_backward_smem(CellKind::kLstm, 100, 2), (40400u + 1600u) * 4u);
  // RNN H=7: w [8, 7] + h [2][4][8]; w^T [8, 7] + dz [2][4][8].
  EXPECT_EQ(persistent_forward_smem(CellKind::kRnn, 7, 4), (56u + 64u) * 4u);
  EXPECT_EQ(persistent_backward_smem(CellKind::kRnn, 7, 4), (56u + 64u) * 4u);
  // The kernels' state offsets are the matrices' sizes, 16-byte aligned.
  for (int G : {1, 4}) {
    for (int H = 1; H <= 256; ++H) {
      const CellKind cell = G == 4 ? CellKind::kLstm : CellKind::kRnn;
      const int f = abc::cuda::persistent_forward_state_offset(G, H);
      const int b = abc::cuda::persistent_backward_state_offset(G, H);
      EXPECT_EQ(f % 4, 0);
      EXPECT_EQ(b % 4, 0);
      EXPECT_EQ(persistent_forward_smem(cell, H, 1),
                (static_cast<std::size_t>(f) + 2 * abc::cuda::persistent_pad4(H)) * 4);
      EXPECT_EQ(persistent_backward_smem(cell, H, 1),
                (static_cast<std::size_t>(b) + 2 * abc::cuda::persistent_pad4(G * H)) * 4);
      EXPECT_EQ(abc::cuda::persistent_odd(H) % 2, 1);
      EXPECT_GE(abc::cuda::persistent_odd(H), H);
    }
  }
}

TEST(PersistentPlan, LargestHiddenSizeOnAnH100) {
  // LSTM: w^T [476, 119] + dz [2][476] = 230384 bytes; H=120 needs w^T [480, 121]: 236160.
  EXPECT_EQ(abc::cuda::persistent_max_hidden(CellKind::kLstm, h100()), 119);
  // RNN: w [240, 239] + h [2][240] = 231360; H=240 needs w^T [240, 241] + dz: 233280.
  EXPECT_EQ(abc::cuda::persistent_max_hidden(CellKind::kRnn, h100()), 239);
  EXPECT_TRUE(plan_persistent(CellKind::kLstm, 119, 1, h100()).fits);
  const PersistentPlan too_big = plan_persistent(CellKind::kLstm, 120, 1, h100());
  EXPECT_FALSE(too_big.fits);
  EXPECT_EQ(too_big.needed, 236160u);
  EXPECT_EQ(too_big.available, 232448u);
  EXPECT_FALSE(plan_persistent(CellKind::kLstm, 128, 64, h100()).fits);
  EXPECT_TRUE(plan_persistent(CellKind::kRnn, 128, 64, h100()).fits);
  EXPECT_FALSE(plan_persistent(CellKind::kRnn, 512, 64, h100()).fits);
  EXPECT_GT(plan_persistent(CellKind::kRnn, 512, 64, h100()).needed, 232448u);
  // A device with 48 KB per block: LSTM H=64 (68608 bytes) does not fit, H=32 does.
  PersistentDevice small = h100();
  small.smem_optin = 49152;
  EXPECT_FALSE(plan_persistent(CellKind::kLstm, 64, 1, small).fits);
  EXPECT_TRUE(plan_persistent(CellKind::kLstm, 32, 1, small).fits);
}

TEST(PersistentPlan, FitsExactlyWhenOneRowFits) {
  for (CellKind cell : {CellKind::kLstm, CellKind::kRnn}) {
    for (int H = 1; H <= 300; ++H) {
      const PersistentPlan p = plan_persistent(cell, H, 64, h100());
      const std::size_t one_row =
          std::max(abc::cuda::persistent_forward_smem(cell, H, 1), abc::cuda::persistent_backward_smem(cell, H, 1));
      EXPECT_EQ(p.fits, one_row <= 232448u && H <= abc::cuda::kPersistentMaxThreads) << "H=" << H;
      if (!p.fits) continue;
      EXPECT_LE(p.needed, 232448u);
      EXPECT_EQ(p.needed, std::max(p.forward_smem, p.backward_smem));
      EXPECT_EQ(p.threads % 32, 0);
      EXPECT_GE(p.threads, H);
      EXPECT_LT(p.threads - H, 32);
      EXPECT_TRUE(p.rows == 1 || p.rows == 2 || p.rows == 4);
      EXPECT_EQ(p.blocks, (64 + p.rows - 1) / p.rows);
    }
  }
}

TEST(PersistentPlan, RowsPerBlockKeepTheGridInOneWave) {
  // Small H: many blocks per SM, one row per block.
  PersistentPlan p = plan_persistent(CellKind::kLstm, 32, 256, h100());
  EXPECT_EQ(p.rows, 1);
  EXPECT_EQ(p.blocks, 256);
  EXPECT_EQ(p.threads, 32);
  // LSTM H=100: one block per SM (164800 + 1024 bytes of 233472); 256 rows need 2 per block.
  p = plan_persistent(CellKind::kLstm, 100, 256, h100());
  EXPECT_EQ(p.rows, 2);
  EXPECT_EQ(p.blocks, 128);
  EXPECT_EQ(p.threads, 128);
  EXPECT_EQ(p.backward_smem, 168000u);
  // ... and 64 rows one.
  EXPECT_EQ(plan_persistent(CellKind::kLstm, 100, 64, h100()).rows, 1);
  // 1000 rows: 4 per block, 250 blocks (two waves; 8 rows would not fit).
  p = plan_persistent(CellKind::kLstm, 100, 1000, h100());
  EXPECT_EQ(p.rows, 4);
  EXPECT_EQ(p.blocks, 250);
  // LSTM H=119: only one row fits, whatever B.
  p = plan_persistent(CellKind::kLstm, 119, 256, h100());
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.rows, 1);
  EXPECT_EQ(p.blocks, 256);
  // More rows than the batch has are never taken.
  EXPECT_EQ(plan_persistent(CellKind::kLstm, 100, 1, h100()).rows, 1);
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 239, 3, h100()).rows, 1);
  // RNN H=64 (17152 + 1024 bytes): 12 blocks per SM, 132 * 12 = 1584 rows in one wave.
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 1584, h100()).rows, 1);
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 1585, h100()).rows, 2);
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 5000, h100()).rows, 4);
  // The thread and block limits per SM count too (one SM, shared memory plentiful).
  PersistentDevice one_sm = h100();
  one_sm.sm_count = 1;
  one_sm.smem_per_sm = 100u << 20;
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 32, one_sm).rows, 1);  // 32 blocks of 64 threads
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 33, one_sm).rows, 2);
  one_sm.threads_per_sm = 1024;
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 16, one_sm).rows, 1);
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 17, one_sm).rows, 2);
  one_sm.threads_per_sm = 2048;
  one_sm.blocks_per_sm = 8;
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 8, one_sm).rows, 1);
  EXPECT_EQ(plan_persistent(CellKind::kRnn, 64, 9, one_sm).rows, 2);
}

TEST(PersistentPlan, ForcedRows) {
  PersistentPlan p = plan_persistent(CellKind::kLstm, 7, 5, h100(), 4);
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.rows, 4);
  EXPECT_EQ(p.blocks, 2);
  EXPECT_EQ(p.forward_smem, abc::cuda::persistent_forward_smem(CellKind::kLstm, 7, 4));
  EXPECT_FALSE(plan_persistent(CellKind::kLstm, 7, 5, h100(), 3).fits);
  EXPECT_FALSE(plan_persistent(CellKind::kLstm, 119, 5, h100(), 2).fits);
  EXPECT_TRUE(plan_persistent(CellKind::kLstm, 118, 5, h100(), 2).fits);
}

TEST(PersistentPlan, DegenerateShapes) {
  EXPECT_FALSE(plan_persistent(CellKind::kLstm, 0, 4, h100()).fits);
  EXPECT_FALSE(plan_persistent(CellKind::kRnn, -1, 4, h100()).fits);
  const PersistentPlan empty = plan_persistent(CellKind::kRnn, 16, 0, h100());
  EXPECT_TRUE(empty.fits);
  EXPECT_EQ(empty.blocks, 0);
  EXPECT_EQ(empty.rows, 1);
}

}  // namespace
