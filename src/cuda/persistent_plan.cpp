// Applicability and launch shape of the persistent recurrent kernels (plan.hpp), in
// plain C++ so the CPU tests check it.
#include <algorithm>

#include "abc/cuda/plan.hpp"

namespace abc {
namespace cuda {
namespace {

std::size_t sz(int n) { return static_cast<std::size_t>(n); }

// The forward's matrix w [pad4(H), G*H] or the backward's w^T [pad4(G*H), odd(H)], then
// the state [2][rows][k] with k = pad4(H) or pad4(G*H): in size_t, so any H is safe.
std::size_t smem_bytes(std::size_t matrix_floats, int k_padded, int rows) {
  return (matrix_floats + 2 * sz(rows) * sz(k_padded)) * sizeof(float);
}

}  // namespace

std::size_t persistent_forward_smem(CellKind cell, int H, int rows) {
  const int G = gate_count(cell);
  return smem_bytes(sz(persistent_pad4(H)) * sz(G) * sz(H), persistent_pad4(H), rows);
}

std::size_t persistent_backward_smem(CellKind cell, int H, int rows) {
  const int GH = gate_count(cell) * H;
  return smem_bytes(sz(persistent_pad4(GH)) * sz(persistent_odd(H)), persistent_pad4(GH), rows);
}

PersistentPlan plan_persistent(CellKind cell, int H, int B, const PersistentDevice& device, int rows) {
  PersistentPlan plan;
  plan.available = device.smem_optin;
  if (H < 1 || B < 0) return plan;
  auto needed = [&](int r) {
    return std::max(persistent_forward_smem(cell, H, r), persistent_backward_smem(cell, H, r));
  };
  plan.needed = needed(1);
  if (H > kPersistentMaxThreads) return plan;
  plan.threads = (H + 31) / 32 * 32;
  auto set_rows = [&](int r) {
    plan.rows = r;
    plan.blocks = (B + r - 1) / r;
    plan.forward_smem = persistent_forward_smem(cell, H, r);
    plan.backward_smem = persistent_backward_smem(cell, H, r);
    plan.needed = needed(r);
  };
  if (rows != 0) {
    if (rows != 1 && rows != 2 && rows != 4) return plan;
    set_rows(rows);
    plan.fits = plan.needed <= device.smem_optin;
    return plan;
  }
  set_rows(1);
  if (plan.needed > device.smem_optin) return plan;
  plan.fits = true;
  for (int r = 1; r <= kPersistentMaxRows; r *= 2) {
    if (needed(r) > device.smem_optin) break;
    set_rows(r);
    const std::size_t by_smem = device.smem_per_sm / (plan.needed + kReservedSmemPerBlock);
    const std::size_t by_threads = sz(device.threads_per_sm / plan.threads);
    const std::size_t per_sm = std::max<std::size_t>(1, std::min({by_smem, by_threads, sz(device.blocks_per_sm)}));
    if (sz(plan.blocks) <= sz(device.sm_count) * per_sm || r >= B) break;  // one wave
  }
  return plan;
}

int persistent_max_hidden(CellKind cell, const PersistentDevice& device) {
  int best = 0;
  for (int H = 1; H <= kPersistentMaxThreads; ++H) {
    if (plan_persistent(cell, H, 1, device).fits) best = H;
  }
  return best;
}

}  // namespace cuda
}  // namespace abc
