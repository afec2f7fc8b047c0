// Sampler: the draw (argmax at temperature 0, softmax frequencies, no overflow),
// X: numbering, stopping at <end> and --max-len, prime errors, seed reproducibility.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "abc/backend.hpp"
#include "abc/error.hpp"
#include "abc/sampler.hpp"
#include "abc/sampling_math.hpp"

namespace {

const abc::Vocab kVocab = abc::Vocab::from_text("<start>\nX:1\nK:C\nABC|\n<end>\n");

// A scripted model: every stream draws `script[i]` at its i-th step since
// reset_state, then <end>.
struct ScriptedModel {
  std::string script;
  int max_streams = 4;
  std::size_t pos = 0;
  abc::SamplingModel bind() {
    abc::SamplingModel m;
    m.max_streams = max_streams;
    m.reset_state = [this] { pos = 0; };
    m.step = [this](const abc::TokenId*, int n, std::uint32_t, std::uint32_t, abc::TokenId* next) {
      const abc::TokenId want = pos < script.size() ? kVocab.id_of(script[pos]) : abc::Vocab::kEnd;
      if (want < 0) throw std::logic_error("script character not in the test vocabulary");
      std::fill(next, next + n, want);
      ++pos;
    };
    return m;
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
  w.begin_tune();
  for (char c : std::string("\nX:9\nK:C\nCDE")) w.put(c);
  w.end_tune(false);  // cut at --max-len: no <end>
  EXPECT_EQ(out.str(), "<start>\nX:1\nK:C\nC|\n<end>\n\n<start>\nX:2\nK:C\nCDE\n\n");
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

TEST(Sampler, GroupsSmallerThanNGiveTheSameOutput) {
  ScriptedModel one{"\nX:1\nK:C\nABC|\n"};
  one.max_streams = 1;
  ScriptedModel many{"\nX:1\nK:C\nABC|\n"};
  many.max_streams = 4;
  abc::SampleOptions o;
  o.n = 5;
  EXPECT_EQ(run(one.bind(), o), run(many.bind(), o));
}

TEST(Sampler, SameSeedSameTunesOtherSeedOtherTunes) {
  abc::ModelConfig config;
  config.vocab = kVocab.size();
  config.hidden = 16;
  auto backend = abc::make_cpu_backend(config, abc::AdamConfig{}, 3, 1);
  std::vector<float> params(backend->num_params());
  abc::init_param_block(backend->layout(), 3, params.data());
  backend->upload_params(params.data());
  abc::SampleOptions o;
  o.n = 3;
  o.max_len = 60;
  o.temperature = 1.0f;
  const std::string a = run(abc::sampling_model(*backend, o), o), b = run(abc::sampling_model(*backend, o), o);
  o.seed = 2;
  const std::string c = run(abc::sampling_model(*backend, o), o);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}
