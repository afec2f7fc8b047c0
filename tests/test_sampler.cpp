// Sampler: the draw (argmax at temperature 0, softmax frequencies, no overflow),
// X: numbering, stopping at <end> and --max-len, prime errors, seed reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "abc/cpu_model.hpp"
#include "abc/error.hpp"
#include "abc/sampler.hpp"
#include "abc/sampling_math.hpp"

namespace {

const abc::Vocab kVocab = abc::Vocab::from_text("<start>\nX:1\nK:C\nABC|\n<end>\n");

// A scripted model: returns logits that make `script[i]` the clear favourite at step i
// (the step counter restarts with reset_state), <end> after the script.
struct ScriptedModel {
  std::string script;
  std::size_t pos = 0;
  std::vector<float> logits = std::vector<float>(static_cast<std::size_t>(kVocab.size()));
  abc::SamplingModel bind() {
    return {[this] { pos = 0; },
            [this](abc::TokenId) {
              std::fill(logits.begin(), logits.end(), 0.0f);
              const abc::TokenId want = pos < script.size() ? kVocab.id_of(script[pos]) : abc::Vocab::kEnd;
              if (want < 0) throw std::logic_error("script character not in the test vocabulary");
              logits[static_cast<std::size_t>(want)] = 50.0f;
              ++pos;
              return static_cast<const float*>(logits.data());
            }};
  }
};

std::string run(abc::SamplingModel model, const abc::SampleOptions& o, abc::SampleStats* stats = nullptr) {
  std::ostringstream out;
  const abc::SampleStats s = abc::sample_tunes(model, kVocab, o, out);
  if (stats) *stats = s;
  return out.str();
}

}  // namespace

TEST(SamplingMath, TemperatureZeroIsArgmax) {
  const float logits[] = {0.1f, 3.0f, -2.0f, 2.9f};
  for (float u : {0.0f, 0.5f, 0.999f}) EXPECT_EQ(abc::sample_token(logits, 4, 0.0f, u), 1);
}

TEST(SamplingMath, LowTemperatureDoesNotOverflow) {
  const float logits[] = {1000.0f, 999.0f, -1000.0f};
  EXPECT_EQ(abc::sample_token(logits, 3, 1e-3f, 0.999f), 0);  // exp(1000/1e-3) would overflow
}

TEST(SamplingMath, FrequenciesFollowTheSoftmax) {
  const float logits[] = {0.0f, 1.0f, 2.0f};
  const float temperature = 2.0f;
  int counts[3] = {};
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++counts[abc::sample_token(logits, 3, temperature, abc::sample_uniform(5, 0, i))];
  double z = 0;
  for (float l : logits) z += std::exp(l / temperature);
  for (int v = 0; v < 3; ++v) {
    const double expected = std::exp(logits[v] / temperature) / z;
    EXPECT_NEAR(counts[v] / static_cast<double>(n), expected, 0.005) << "token " << v;  // ~4 sigma
  }
}

TEST(TuneWriter, RenumbersInsertsAndSeparates) {
  std::ostringstream out;
  abc::TuneWriter w(out, false);
  for (const std::string& tune : {std::string("\nX:42\nK:C\nABC|\nX:7\nK:D\nC|"), std::string("K:G\nXABC|\n")}) {
    w.begin_tune();
    for (char c : tune) w.put(c);
    w.end_tune(true);
  }
  EXPECT_EQ(out.str(), "X:1\nK:C\nABC|\nX:2\nK:D\nC|\n\nX:3\nK:G\nXABC|\n\n");
}

TEST(TuneWriter, TagsAreKeptWhenAsked) {
  std::ostringstream out;
  abc::TuneWriter w(out, true);
  w.begin_tune();
  for (char c : std::string("\nX:9\nK:C\nC|\n")) w.put(c);
  w.end_tune(true);
  EXPECT_EQ(out.str(), "<start>\nX:1\nK:C\nC|\n<end>\n\n");
}

TEST(Sampler, StopsAtEnd) {
  ScriptedModel m{"\nX:1\nK:C\nABC|\nX:1\n"};
  abc::SampleOptions o;
  o.n = 2;
  abc::SampleStats stats;
  EXPECT_EQ(run(m.bind(), o, &stats), "X:1\nK:C\nABC|\nX:2\n\nX:3\nK:C\nABC|\nX:4\n\n");
  EXPECT_EQ(stats.ended, 2);
  EXPECT_EQ(stats.tunes, 2);
}

TEST(Sampler, MaxLenCutsATune) {
  ScriptedModel m{"\nX:1\nK:C\nABCABCABCABCABCABC"};
  abc::SampleOptions o;
  o.n = 1;
  o.max_len = 12;  // "\nX:1\nK:C\nABC" is 12 characters
  abc::SampleStats stats;
  EXPECT_EQ(run(m.bind(), o, &stats), "X:1\nK:C\nABC\n\n");
  EXPECT_EQ(stats.ended, 0);
  EXPECT_EQ(stats.tokens, 12);
}

TEST(Sampler, PrimeIsEchoedAndUnknownCharactersAreUsageErrors) {
  // The prime takes 10 steps; only the logits after its last token are sampled.
  ScriptedModel m{std::string(9, 'X') + "BC|\n"};
  abc::SampleOptions o;
  o.n = 1;
  o.prime = "<start>X:1\nK:C\nA";
  EXPECT_EQ(run(m.bind(), o), "X:1\nK:C\nABC|\n\n");
  o.prime = "<start>Q";
  try {
    run(m.bind(), o);
    FAIL() << "unknown prime character accepted";
  } catch (const abc::Error& e) {
    EXPECT_EQ(e.exit_code(), abc::kExitUsage);
    EXPECT_NE(std::string(e.what()).find("'Q'"), std::string::npos) << e.what();
  }
}

TEST(Sampler, SameSeedSameTunesOtherSeedOtherTunes) {
  abc::ModelConfig config;
  config.vocab = kVocab.size();
  config.hidden = 16;
  abc::CpuModel<float> model(config, 1, 1);
  model.init_params(3);
  std::vector<float> logits(static_cast<std::size_t>(kVocab.size()));
  abc::SamplingModel sm{[&] { model.reset_state(); },
                        [&](abc::TokenId t) {
                          model.step_logits(&t, 1, logits.data());
                          return static_cast<const float*>(logits.data());
                        }};
  abc::SampleOptions o;
  o.n = 3;
  o.max_len = 60;
  o.temperature = 1.0f;
  const std::string a = run(sm, o), b = run(sm, o);
  o.seed = 2;
  const std::string c = run(sm, o);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}
