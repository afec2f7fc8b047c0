// Sampler: the draw (argmax at temperature 0, softmax frequencies, no overflow),
// X: numbering, stopping at <end> and --max-len, prime errors, seed reproducibility.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "abc/abc_grammar.hpp"
#include "abc/backend.hpp"
#include "abc/error.hpp"
#include "abc/sampler.hpp"
#include "abc/sampling_math.hpp"
#include "test_helpers.hpp"

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
  o.grammar = false;  // scripted tokens: the mechanics without the grammar
  o.n = 2;
  abc::SampleStats stats;
  EXPECT_EQ(run(m.bind(), o, &stats), "X:1\nK:C\nABC|\nX:2\n\nX:3\nK:C\nABC|\nX:4\n\n");
  EXPECT_EQ(stats.ended, 2);
  EXPECT_EQ(stats.tunes, 2);
}

TEST(Sampler, MaxLenCutsATune) {
  ScriptedModel m{"\nX:1\nK:C\nABCABCABCABCABCABC"};
  abc::SampleOptions o;
  o.grammar = false;
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
  o.grammar = false;
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

TEST(Sampler, TuneDoneHookRunsAfterEachTuneIsWritten) {
  ScriptedModel m{"\nX:1\nK:C\nABC|\n"};
  m.max_streams = 2;  // tunes 1-2 drawn together, then tune 3
  abc::SampleOptions o;
  o.grammar = false;
  o.n = 3;
  std::ostringstream out;
  std::vector<std::string> seen;
  o.tune_done = [&](bool ended) {
    EXPECT_TRUE(ended);
    seen.push_back(out.str());
  };
  abc::sample_tunes(m.bind(), kVocab, o, out);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], "X:1\nK:C\nABC|\n\n");
  EXPECT_EQ(seen[1], seen[0] + "X:2\nK:C\nABC|\n\n");
  EXPECT_EQ(seen[2], out.str());
}

TEST(Sampler, StopHookEndsSamplingEarly) {
  ScriptedModel m{"\nX:1\nK:C\nABCABCABCABC|\n"};
  m.max_streams = 1;
  abc::SampleOptions o;
  o.grammar = false;
  o.n = 5;
  int polls = 0;
  o.stop = [&] { return ++polls > 6; };  // the group check, then 5 steps of the first tune
  int done = 0;
  o.tune_done = [&](bool) { ++done; };
  abc::SampleStats stats;
  std::ostringstream out;
  stats = abc::sample_tunes(m.bind(), kVocab, o, out);
  EXPECT_EQ(done, 0);
  EXPECT_EQ(stats.tunes, 0);
  EXPECT_EQ(stats.tokens, 6);  // the first draw (after the prime) and one per step allowed
  EXPECT_EQ(out.str(), "X:1\nK");
}

TEST(Sampler, GroupsSmallerThanNGiveTheSameOutput) {
  ScriptedModel one{"\nX:1\nK:C\nABC|\n"};
  one.max_streams = 1;
  ScriptedModel many{"\nX:1\nK:C\nABC|\n"};
  many.max_streams = 4;
  abc::SampleOptions o;
  o.grammar = false;
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
  o.grammar = false;  // this vocabulary is too small for whole tunes
  o.n = 3;
  o.max_len = 60;
  o.temperature = 1.0f;
  const std::string a = run(abc::sampling_model(*backend, o), o), b = run(abc::sampling_model(*backend, o), o);
  o.seed = 2;
  const std::string c = run(abc::sampling_model(*backend, o), o);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// --- Grammar-constrained sampling and steering -------------------------------------------

namespace {

// Every printable character and the newline, as a corpus's vocabulary has them.
std::string printable_ascii() {
  std::string text = "<start>\n<end>\n";
  for (char c = ' '; c < 0x7f; ++c) text += c;
  return text;
}

// An untrained model over all printable characters: its draws are close to uniform, the
// hardest case for the grammar (it alone keeps the tunes legal).
struct UntrainedModel {
  abc::Vocab vocab = abc::Vocab::from_text(printable_ascii());
  std::unique_ptr<abc::Backend> backend;
  explicit UntrainedModel(int streams) {
    abc::ModelConfig config;
    config.vocab = vocab.size();
    config.hidden = 16;
    backend = abc::make_cpu_backend(config, abc::AdamConfig{}, streams, 1);
    std::vector<float> params(backend->num_params());
    abc::init_param_block(backend->layout(), 7, params.data());
    backend->upload_params(params.data());
  }
};

std::string run_with(UntrainedModel& m, const abc::SampleOptions& o, abc::SampleStats* stats) {
  std::ostringstream out;
  const abc::SampleStats st = abc::sample_tunes(abc::sampling_model(*m.backend, o), m.vocab, o, out);
  if (stats) *stats = st;
  return out.str();
}

// The tunes of tagged output, and whether each ended at <end> (else --max-len cut it).
struct OutTune {
  std::string text;
  bool ended;
};
std::vector<OutTune> tunes_of(const std::string& tagged) {
  std::vector<OutTune> tunes;
  std::size_t pos = 0;
  while ((pos = tagged.find("<start>\n", pos)) != std::string::npos) {
    const std::size_t body = pos + 8, next = tagged.find("<start>\n", body), end = tagged.find("<end>\n", body);
    const bool ended = end != std::string::npos && (next == std::string::npos || end < next);
    std::string text = tagged.substr(body, (ended ? end : next == std::string::npos ? tagged.size() : next) - body);
    if (!ended) text.erase(text.find_last_not_of('\n') + 1);  // the writer's line end and blank line
    tunes.push_back({text, ended});
    pos = body;
  }
  return tunes;
}

void expect_usage_error(const abc::Steering& s, const std::string& flag) {
  try {
    abc::steering_prime(s);
    FAIL() << "accepted; expected an error naming " << flag;
  } catch (const abc::Error& e) {
    EXPECT_EQ(e.exit_code(), abc::kExitUsage) << e.what();
    EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(SamplingMath, AllowedTokenDrawsOnlyAllowedAndForcesWithoutMass) {
  const float logits[] = {5.0f, 0.0f, -30.0f, 1.0f};
  const unsigned char allowed[] = {0, 1, 1, 0};
  bool forced = true;
  for (int i = 0; i < 200; ++i) {
    const int t = abc::sample_allowed_token(logits, allowed, 4, 1.0f, abc::sample_uniform(3, 0, i), 1e-4, &forced);
    EXPECT_TRUE(t == 1 || t == 2);
    EXPECT_FALSE(forced);
  }
  const unsigned char only_unlikely[] = {0, 0, 1, 0};  // e^-35 of the mass
  EXPECT_EQ(abc::sample_allowed_token(logits, only_unlikely, 4, 1.0f, 0.5f, 1e-4, &forced), 2);
  EXPECT_TRUE(forced);
  const unsigned char none[] = {0, 0, 0, 0};
  EXPECT_EQ(abc::sample_allowed_token(logits, none, 4, 1.0f, 0.5f, 1e-4, &forced), -1);
}

TEST(Sampler, GrammarTunesAreLegalOnTheMeterAndEnd) {
  UntrainedModel m(8);
  abc::SampleOptions o;
  o.n = 16;
  o.temperature = 1.0f;
  o.max_len = 4000;
  o.tags = true;
  abc::SampleStats stats;
  const std::string out = run_with(m, o, &stats);
  const std::vector<OutTune> tunes = tunes_of(out);
  ASSERT_EQ(tunes.size(), 16u) << out;
  int ended = 0;
  for (const OutTune& t : tunes) {
    abc::AbcGrammar g;
    EXPECT_NO_THROW(g.feed(t.text)) << t.text;
    EXPECT_EQ(abc::check_bars(t.text).off, 0) << t.text;
    if (!t.ended) continue;
    ++ended;
    EXPECT_TRUE(g.may_end()) << t.text;
  }
  // Uniform draws rarely pick <end> where it is legal; some still must.
  EXPECT_GT(ended, 0);
  EXPECT_EQ(stats.ended, ended);
}

TEST(Sampler, SteeringPrimeIsTheHeaderAndChecksEachValue) {
  abc::Steering s;
  s.meter = "6/8";
  s.key = "Dmix";
  EXPECT_EQ(abc::steering_prime(s), "<start>X:1\nM:6/8\nL:1/8\nK:Dmix\n");
  s.title = "Steered";
  s.unit = "1/16";
  s.bars = "|:A2B c2d|";
  EXPECT_EQ(abc::steering_prime(s), "<start>X:1\nT:Steered\nM:6/8\nL:1/16\nK:Dmix\n|:A2B c2d|");
  abc::Steering reel;
  reel.rhythm = "Reel";
  reel.meter = "4/4";
  reel.key = "G";
  EXPECT_EQ(abc::steering_prime(reel), "<start>X:1\nR:reel\nM:4/4\nL:1/8\nK:G\n");
  abc::Steering bad;
  bad.rhythm = "polska";
  expect_usage_error(bad, "--rhythm");
  bad.rhythm = "hornpipe";
  bad.meter = "6/8";
  expect_usage_error(bad, "--rhythm hornpipe");
  bad = abc::Steering{};
  bad.meter = "7/0";
  expect_usage_error(bad, "--meter");
  bad = abc::Steering{};
  bad.key = "Xyz";
  expect_usage_error(bad, "--key");
  bad = abc::Steering{};
  bad.key = "D";
  bad.unit = "1/3";
  expect_usage_error(bad, "--unit");
  bad = abc::Steering{};
  bad.bars = "|ABc|";
  expect_usage_error(bad, "--meter and --key");
  bad.meter = "6/8";
  bad.key = "D";
  bad.bars = "|[ABc|";
  expect_usage_error(bad, "--bars");
  bad.bars = "|A4B4c4|d";  // 12/8 in a 6/8 bar
  expect_usage_error(bad, "--bars");
}

TEST(Sampler, SteeredTunesKeepTheHeaderAndTheBars) {
  UntrainedModel m(4);
  abc::Steering steer;
  steer.meter = "6/8";
  steer.key = "D";
  steer.bars = "|:A2B c2d|";
  abc::SampleOptions o;
  o.n = 8;
  o.temperature = 1.0f;
  o.max_len = 4000;
  o.tags = true;
  o.prime = abc::steering_prime(steer);
  abc::SampleStats stats;
  const std::vector<OutTune> tunes = tunes_of(run_with(m, o, &stats));
  ASSERT_EQ(tunes.size(), 8u);
  for (const OutTune& t : tunes) {
    EXPECT_EQ(t.text.rfind("X:", 0), 0u) << t.text;
    EXPECT_NE(t.text.find("\nM:6/8\nL:1/8\nK:D\n|:A2B c2d|"), std::string::npos) << t.text;
    EXPECT_EQ(abc::check_bars(t.text).off, 0) << t.text;
  }
}

TEST(Sampler, IllegalPrimeIsAUsageErrorWithTheGrammar) {
  UntrainedModel m(1);
  abc::SampleOptions o;
  o.prime = "<start>X:1\nM:4/4\nL:1/8\nK:D\nA8B|";  // a bar of 9/8 under 4/4
  try {
    run_with(m, o, nullptr);
    FAIL() << "an illegal prime was accepted";
  } catch (const abc::Error& e) {
    EXPECT_EQ(e.exit_code(), abc::kExitUsage);
    EXPECT_NE(std::string(e.what()).find("--no-grammar"), std::string::npos) << e.what();
  }
  o.grammar = false;
  o.max_len = 5;
  EXPECT_NO_THROW(run_with(m, o, nullptr));
}

TEST(Sampler, LongGrammarTunesEndAtTheirFirstLegalEndPastThreeQuarters) {
  UntrainedModel m(8);
  abc::SampleOptions o;
  o.n = 8;
  o.temperature = 1.0f;
  o.max_len = 400;  // an untrained model rarely picks <end> itself: the rule closes them
  o.tags = true;
  abc::SampleStats stats;
  const std::vector<OutTune> tunes = tunes_of(run_with(m, o, &stats));
  EXPECT_GT(stats.closed, 0);
  EXPECT_GE(stats.ended, stats.closed);
  for (const OutTune& t : tunes) {
    if (!t.ended) continue;
    abc::AbcGrammar g;
    EXPECT_NO_THROW(g.feed(t.text)) << t.text;
    EXPECT_TRUE(g.may_end()) << t.text;
  }
}
