// Learning-rate schedules (the lr of each epoch) and the early-stopping rule.
#include <gtest/gtest.h>

#include <cmath>

#include "abc/error.hpp"
#include "abc/schedule.hpp"

namespace {

abc::LrSchedule schedule(abc::LrScheduleKind kind, double lr = 3e-3, int epochs = 20) {
  abc::LrSchedule s;
  s.kind = kind;
  s.lr = lr;
  s.epochs = epochs;
  return s;
}

}  // namespace

TEST(LrSchedule, ConstantIsTheSameEveryEpoch) {
  const abc::LrSchedule s = schedule(abc::LrScheduleKind::kConstant);
  for (int e : {1, 2, 10, 20, 21, 1000}) EXPECT_EQ(abc::lr_for_epoch(s, e), 3e-3) << e;
}

TEST(LrSchedule, StepDecaysOncePerEpochAfterDecayAfter) {
  abc::LrSchedule s = schedule(abc::LrScheduleKind::kStep, 2e-3);
  s.decay = 0.97;
  s.decay_after = 10;
  for (int e = 1; e <= 10; ++e) EXPECT_EQ(abc::lr_for_epoch(s, e), 2e-3) << e;
  EXPECT_DOUBLE_EQ(abc::lr_for_epoch(s, 11), 2e-3 * 0.97);
  EXPECT_DOUBLE_EQ(abc::lr_for_epoch(s, 12), 2e-3 * 0.97 * 0.97);
  EXPECT_NEAR(abc::lr_for_epoch(s, 30), 2e-3 * std::pow(0.97, 20), 1e-18);
  // Each epoch after decay_after is exactly decay times the one before.
  for (int e = 11; e < 40; ++e) {
    EXPECT_NEAR(abc::lr_for_epoch(s, e + 1) / abc::lr_for_epoch(s, e), 0.97, 1e-12) << e;
  }
  s.decay_after = 0;  // decays from the first epoch on
  EXPECT_DOUBLE_EQ(abc::lr_for_epoch(s, 1), 2e-3 * 0.97);
  s.decay = 1;  // no decay at all
  EXPECT_EQ(abc::lr_for_epoch(s, 50), 2e-3);
}

TEST(LrSchedule, CosineGoesFromLrToAHundredthOverTheRunsEpochs) {
  const abc::LrSchedule s = schedule(abc::LrScheduleKind::kCosine, 3e-3, 5);
  const double floor = 3e-5;
  const double pi = std::acos(-1.0);
  EXPECT_EQ(abc::lr_for_epoch(s, 1), 3e-3);
  for (int e = 2; e <= 4; ++e) {
    const double want = floor + (3e-3 - floor) * 0.5 * (1 + std::cos(pi * (e - 1) / 4.0));
    EXPECT_NEAR(abc::lr_for_epoch(s, e), want, 1e-15) << e;
  }
  EXPECT_NEAR(abc::lr_for_epoch(s, 3), (3e-3 + floor) / 2, 1e-15);  // halfway
  EXPECT_DOUBLE_EQ(abc::lr_for_epoch(s, 5), floor);
  // Past the span (a resumed run given more --epochs): the floor.
  EXPECT_DOUBLE_EQ(abc::lr_for_epoch(s, 6), floor);
  EXPECT_DOUBLE_EQ(abc::lr_for_epoch(s, 100), floor);
  // Strictly decreasing over the span.
  const abc::LrSchedule long_run = schedule(abc::LrScheduleKind::kCosine, 1e-2, 50);
  for (int e = 1; e < 50; ++e) EXPECT_LT(abc::lr_for_epoch(long_run, e + 1), abc::lr_for_epoch(long_run, e)) << e;
  // A 1-epoch cosine is the lr.
  EXPECT_EQ(abc::lr_for_epoch(schedule(abc::LrScheduleKind::kCosine, 3e-3, 1), 1), 3e-3);
}

TEST(LrSchedule, NamesAndValidation) {
  for (auto kind : {abc::LrScheduleKind::kConstant, abc::LrScheduleKind::kCosine, abc::LrScheduleKind::kStep}) {
    EXPECT_EQ(abc::parse_lr_schedule(abc::lr_schedule_name(kind)), kind);
  }
  try {
    abc::parse_lr_schedule("linear");
    FAIL();
  } catch (const abc::Error& e) {
    EXPECT_EQ(e.exit_code(), abc::kExitUsage);
    EXPECT_NE(std::string(e.what()).find("linear"), std::string::npos) << e.what();
  }
  abc::LrSchedule s = schedule(abc::LrScheduleKind::kStep);
  EXPECT_NO_THROW(abc::validate(s));
  for (double bad : {0.0, -0.5, 1.0000001, static_cast<double>(NAN)}) {
    s.decay = bad;
    EXPECT_THROW(abc::validate(s), abc::Error) << bad;
  }
  s.decay = 1.0;
  EXPECT_NO_THROW(abc::validate(s));
  s.decay_after = -1;
  EXPECT_THROW(abc::validate(s), abc::Error);
  s.decay_after = 0;
  s.lr = 0;
  EXPECT_THROW(abc::validate(s), abc::Error);
}

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutAStrictImprovement) {
  abc::EarlyStopping early;
  early.patience = 2;
  EXPECT_TRUE(early.record(1, 3.0));
  EXPECT_FALSE(early.should_stop());
  EXPECT_FALSE(early.record(2, 3.0));  // equal is not better
  EXPECT_EQ(early.epochs_since_best, 1);
  EXPECT_FALSE(early.should_stop());
  EXPECT_TRUE(early.record(3, 2.5));  // a new best resets the count
  EXPECT_EQ(early.epochs_since_best, 0);
  EXPECT_FALSE(early.record(4, 2.6));
  EXPECT_FALSE(early.should_stop());
  EXPECT_FALSE(early.record(5, 2.5));
  EXPECT_TRUE(early.should_stop());
  EXPECT_EQ(early.best, 2.5);
  EXPECT_EQ(early.best_epoch, 3);
}

TEST(EarlyStopping, PatienceZeroNeverStops) {
  abc::EarlyStopping early;
  early.record(1, 1.0);
  for (int e = 2; e < 100; ++e) early.record(e, 2.0);
  EXPECT_EQ(early.epochs_since_best, 98);
  EXPECT_FALSE(early.should_stop());
  early.patience = 1;
  EXPECT_TRUE(early.should_stop());
}
