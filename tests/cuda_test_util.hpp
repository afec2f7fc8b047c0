// Helpers of the CUDA kernel tests: typed device arrays, random data, a tolerance check
// that reports the worst element, and a table of the worst errors over many shapes.
// Tests run their ops on the legacy default stream (0), so the blocking copies here are
// ordered after the kernels.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "abc/cuda/check.hpp"
#include "device_array.hpp"  // DeviceArray, random_floats

namespace abc_test {

// Every |got - want| <= abs_tol + rel_tol * |want|; on failure names the worst element.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double abs_tol, double rel_tol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  std::size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double diff = std::fabs(static_cast<double>(got[k]) - want[k]);
    const double allowed = abs_tol + rel_tol * std::fabs(static_cast<double>(want[k]));
    const bool ok = diff <= allowed;  // false for NaN
    if (!ok) ++bad;
    const double excess = ok ? diff - allowed : INFINITY;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = k;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " elements outside tolerance; worst at " << worst
                     << ": got " << got[worst] << ", want " << want[worst];
}

// --- Worst errors over a grid of shapes ------------------------------------------------

struct Tolerance {
  double abs, rel;  // allowed: abs + rel * max |reference| over the tensor
};

// Worst error seen for one quantity over a test's shapes.
struct Worst {
  double abs_err = 0, rel_err = 0;  // max |diff|, and max |diff| / M at that shape
  double ratio = 0;                 // max |diff| / allowed: <= 1 passes
  std::string shape;
};

class WorstTable {
 public:
  explicit WorstTable(std::string reference) : reference_(std::move(reference)) {}

  // Records and checks one tensor pair: max |ours - theirs| <= tol.abs + tol.rel * max |theirs|.
  void check(const std::string& quantity, const std::vector<float>& ours, const std::vector<float>& theirs,
             Tolerance tol, const std::string& shape) {
    ASSERT_EQ(ours.size(), theirs.size()) << quantity << " at " << shape;
    double max_ref = 0, max_diff = 0;
    std::size_t worst = 0;
    for (std::size_t k = 0; k < ours.size(); ++k) {
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(theirs[k])));
      const double d = std::fabs(static_cast<double>(ours[k]) - theirs[k]);
      if (!(d <= max_diff)) {  // NaN counts as worst
        max_diff = std::isnan(d) ? INFINITY : d;
        worst = k;
      }
    }
    const double allowed = tol.abs + tol.rel * max_ref;
    Worst& w = table_[quantity];
    if (!(max_diff / allowed <= w.ratio)) {
      w.ratio = max_diff / allowed;
      w.abs_err = max_diff;
      w.rel_err = max_ref > 0 ? max_diff / max_ref : max_diff;
      w.shape = shape;
    }
    EXPECT_LE(max_diff, allowed) << quantity << " at " << shape << ": worst element " << worst << ", ours "
                                 << ours[worst] << ", " << reference_ << " " << theirs[worst] << " (max |" << reference_
                                 << "| " << max_ref << ")";
  }

  std::string report(const std::string& title) const {
    std::string out = "### " + title + "\n\n| quantity | worst max abs error | relative to max | of allowed | at |\n"
                      "|---|---|---|---|---|\n";
    char line[256];
    for (const auto& [quantity, w] : table_) {
      std::snprintf(line, sizeof line, "| %s | %.3g | %.3g | %.0f%% | %s |\n", quantity.c_str(), w.abs_err, w.rel_err,
                    100 * w.ratio, w.shape.c_str());
      out += line;
    }
    return out + "\n";
  }

 private:
  std::string reference_;
  std::map<std::string, Worst> table_;
};

}  // namespace abc_test
