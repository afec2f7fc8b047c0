// Learning-rate schedules and early stopping for the trainer.
//
// The lr is a per-epoch value: every step of epoch e (1-based) uses lr_for_epoch(s, e),
// so it changes at the same points as the validation loss that early stopping reads,
// metrics.csv's `lr` column is exactly what each step of that epoch used, and a run
// resumed mid-epoch gets it back from the epoch number alone.
//   constant: lr.
//   step:     lr * decay^max(0, e - decay_after): decay_after epochs at lr, then one
//             multiplication by decay per epoch (folk-rnn's learning_rate_decay 0.97;
//             its configurations start after 20 of 100 epochs, our default after 10 of 20).
//   cosine:   floor + (lr - floor) * (1 + cos(pi * (e - 1) / (epochs - 1))) / 2 with
//             floor = lr * kCosineFloorFraction: lr at epoch 1, the floor at epoch
//             `epochs` (the run's first --epochs, kept when a resume raises --epochs), the
//             floor after it; a 1-epoch cosine is lr.
#pragma once
#include <cmath>
#include <string>

namespace abc {

enum class LrScheduleKind { kConstant, kCosine, kStep };

// "constant" / "cosine" / "step".
const char* lr_schedule_name(LrScheduleKind kind);
// Inverse of lr_schedule_name(); throws abc::Error (usage) naming the accepted values.
LrScheduleKind parse_lr_schedule(const std::string& name);

constexpr double kCosineFloorFraction = 0.01;  // the cosine ends at lr / 100
constexpr double kDefaultLrDecay = 0.97;       // --lr-decay (folk-rnn's)
constexpr int kDefaultDecayAfter = 10;         // --decay-after: half the default 20 epochs

struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::kConstant;
  double lr = 3e-3;                   // --lr: the first epoch's
  double decay = kDefaultLrDecay;     // step: factor per epoch, in (0, 1]
  int decay_after = kDefaultDecayAfter;  // step: epochs at the full lr
  int epochs = 20;                    // cosine: the epochs the curve spans
};

// Throws abc::Error (usage) for an lr <= 0, a decay outside (0, 1], a negative
// decay_after or epochs < 1.
void validate(const LrSchedule& schedule);

// The lr of every step of epoch `epoch` (1-based).
double lr_for_epoch(const LrSchedule& schedule, int epoch);

// --patience: stop when the validation loss has not improved (strictly below the best so
// far) for `patience` epochs in a row; 0 never stops.
struct EarlyStopping {
  int patience = 0;
  double best = INFINITY;
  int best_epoch = 0;
  int epochs_since_best = 0;

  // Records epoch `epoch`'s validation loss; true when it is a new best.
  bool record(int epoch, double val_loss) {
    if (val_loss < best) {
      best = val_loss;
      best_epoch = epoch;
      epochs_since_best = 0;
      return true;
    }
    ++epochs_since_best;
    return false;
  }
  bool should_stop() const { return patience > 0 && epochs_since_best >= patience; }
};

}  // namespace abc
