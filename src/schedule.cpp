#include "abc/schedule.hpp"

#include <cmath>

#include "abc/error.hpp"

namespace abc {

const char* lr_schedule_name(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::kConstant: return "constant";
    case LrScheduleKind::kCosine: return "cosine";
    case LrScheduleKind::kStep: return "step";
  }
  return "?";
}

LrScheduleKind parse_lr_schedule(const std::string& name) {
  if (name == "constant") return LrScheduleKind::kConstant;
  if (name == "cosine") return LrScheduleKind::kCosine;
  if (name == "step") return LrScheduleKind::kStep;
  throw Error("--lr-schedule must be constant, cosine or step (got '" + name + "')", kExitUsage);
}

void validate(const LrSchedule& s) {
  if (!(s.lr > 0) || !std::isfinite(s.lr)) throw Error("--lr must be above 0", kExitUsage);
  if (!(s.decay > 0 && s.decay <= 1)) {
    throw Error("--lr-decay must be in (0, 1] (got " + std::to_string(s.decay) + ")", kExitUsage);
  }
  if (s.decay_after < 0) throw Error("--decay-after must be 0 or more", kExitUsage);
  if (s.epochs < 1) throw Error("the schedule needs at least 1 epoch", kExitUsage);
}

double lr_for_epoch(const LrSchedule& s, int epoch) {
  switch (s.kind) {
    case LrScheduleKind::kConstant:
      return s.lr;
    case LrScheduleKind::kStep:
      return epoch > s.decay_after ? s.lr * std::pow(s.decay, epoch - s.decay_after) : s.lr;
    case LrScheduleKind::kCosine: {
      if (s.epochs <= 1 || epoch <= 1) return s.lr;
      const double floor = s.lr * kCosineFloorFraction;
      if (epoch >= s.epochs) return floor;
      const double pi = std::acos(-1.0);
      return floor + (s.lr - floor) * 0.5 * (1 + std::cos(pi * (epoch - 1) / (s.epochs - 1)));
    }
  }
  return s.lr;
}

}  // namespace abc
