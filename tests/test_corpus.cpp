// Corpus reading and cleaning: both input formats, CRLF, stray tags, missing
// fields, non-ASCII, empty/binary/missing inputs, duplicates, playability, split.
#include <gtest/gtest.h>

#include <set>

#include "abc/abc_tune.hpp"
#include "abc/corpus.hpp"
#include "abc/error.hpp"
#include "abc/playability.hpp"
#include "abc/text_clean.hpp"
#include "test_helpers.hpp"

using abc_test::data_path;

namespace {

// Runs f and returns the abc::Error message it throws ("" when it does not throw).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const abc::Error& e) {
    return e.what();
  }
  return "";
}

abc::CorpusOptions no_abc2midi() {
  abc::CorpusOptions o;
  o.keep_unplayable = true;
  return o;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(TextClean, CrlfAndLoneCrBecomeLf) {
  EXPECT_EQ(abc::normalize_line_ends("a\r\nb\rc\n"), "a\nb\nc\n");
}

TEST(TextClean, BinaryDetection) {
  EXPECT_TRUE(abc::looks_binary(std::string("abc\0def", 7)));
  EXPECT_TRUE(abc::looks_binary("\x01\x02\x03\x04xyz"));
  EXPECT_FALSE(abc::looks_binary("X:1\r\nT:ok\tfine\n"));
}

TEST(TextClean, NonAsciiIsMappedOrDropped) {
  abc::AsciiStats stats;
  // UTF-8 e-acute, Latin-1 (invalid UTF-8) o-umlaut, curly quote, tab, bell, euro sign.
  const std::string in = "Caf\xc3\xa9 K\xf6ln \xe2\x80\x99x\ty\x07 \xe2\x82\xac";
  EXPECT_EQ(abc::to_printable_ascii(in, &stats), "Cafe Koln 'x y ");
  EXPECT_EQ(stats.mapped, 4u);
  EXPECT_EQ(stats.dropped, 2u);
}

TEST(AbcTune, SplitsAtXAndBlankLines) {
  const auto tunes = abc::split_abc_text(abc_test::read_text(data_path("tunes.abc")));
  ASSERT_EQ(tunes.size(), 4u);  // the file header is not a tune; X:4 follows X:3 directly
  EXPECT_TRUE(contains(tunes[2].text, "T:Slow Air"));
  EXPECT_FALSE(contains(tunes[2].text, "Hornpipe"));
  EXPECT_EQ(tunes[0].first_line, 4);
}

TEST(AbcTune, CleaningKeepsMusicAndDropsFreeText) {
  const auto tunes = abc::split_abc_text(abc_test::read_text(data_path("tunes.abc")));
  const abc::CleanResult r = abc::clean_tune(tunes[0].text, abc::CleanOptions{});
  ASSERT_EQ(r.drop_reason, "");
  EXPECT_TRUE(r.normalised);  // the fingering "4" went
  EXPECT_EQ(r.text,
            "X:1\nT:The Test Reel\nC:abc-cuda\nR:reel\nM:4/4\nL:1/8\nK:D\n"
            "|:DFAF dFAF|GBdB AFED|\"G\"B2 dB \"A\"AFED|\"D\"D2 F2 D4:|\n"
            "|:fdfa gfed|\"Bm\"B2 dB AF F2\n"
            "e2 fe dB A2|d2 f2 d4:|\n");
}

TEST(AbcTune, RhythmIsNormalisedOrDropped) {
  EXPECT_EQ(abc::normalised_rhythm("Reel"), "reel");
  EXPECT_EQ(abc::normalised_rhythm(" Double Jig "), "jig");
  EXPECT_EQ(abc::normalised_rhythm("slipjig"), "slip jig");
  EXPECT_EQ(abc::normalised_rhythm("Slip-Jig"), "slip jig");
  EXPECT_EQ(abc::normalised_rhythm("Highland Fling"), "fling");
  EXPECT_EQ(abc::normalised_rhythm("Hornpipe."), "hornpipe");
  EXPECT_EQ(abc::normalised_rhythm("walkaround"), "");
  EXPECT_EQ(abc::normalised_rhythm(""), "");
  const auto clean = [](const std::string& header) {
    return abc::clean_tune("X:3\nT:t\n" + header + "L:1/8\nK:D\nABcd efga|\n", abc::CleanOptions{}).text;
  };
  EXPECT_EQ(clean("R:Double Jig\nM:6/8\n"), "X:1\nT:t\nR:jig\nM:6/8\nL:1/8\nK:D\nABcd efga|\n");
  EXPECT_EQ(clean("R:Hornpipe\nM:4/4\n"), "X:1\nT:t\nR:hornpipe\nM:4/4\nL:1/8\nK:D\nABcd efga|\n");
  // abc2midi refuses a hornpipe outside 2/4 and 4/4: the label goes, the tune stays.
  EXPECT_EQ(clean("R:hornpipe\nM:3/2\n"), "X:1\nT:t\nM:3/2\nL:1/8\nK:D\nABcd efga|\n");
  EXPECT_EQ(clean("R:walkaround\nM:2/4\n"), "X:1\nT:t\nM:2/4\nL:1/8\nK:D\nABcd efga|\n");
}

TEST(AbcTune, LetterDecorationsAreRemoved) {
  const auto tunes = abc::split_abc_text(abc_test::read_text(data_path("tunes.abc")));
  const abc::CleanResult r = abc::clean_tune(tunes[1].text, abc::CleanOptions{});
  ASSERT_EQ(r.drop_reason, "");
  EXPECT_TRUE(contains(r.text, "|GAB d2g|"));  // "uGAB vd2g" lost its bowings
  EXPECT_TRUE(contains(r.text, "|:gfg e2g|dBd G2B| cBA BGE|G3 G3:|"));  // H fermata, T trill
}

TEST(AbcTune, NormalisationCanBeTurnedOff) {
  const auto tunes = abc::split_abc_text(abc_test::read_text(data_path("tunes.abc")));
  abc::CleanOptions options;
  options.normalise = false;
  const abc::CleanResult r = abc::clean_tune(tunes[1].text, options);
  EXPECT_FALSE(r.normalised);
  EXPECT_TRUE(contains(r.text, "uGAB vd2g"));
}

TEST(AbcTune, ChordSymbolsAndAnnotationsSurvive) {
  const std::string tune = "X:1\nK:C\n\"Am7\"A \"G/B\"B \"F#m\"c \"^loud\"d \"_mf\"e \"Very slow\"f \"3\"g|]\n";
  const abc::CleanResult r = abc::clean_tune(tune, abc::CleanOptions{});
  EXPECT_EQ(r.text, "X:1\nK:C\n\"Am7\"A \"G/B\"B \"F#m\"c \"^loud\"d \"_mf\"e f g|]\n");
}

TEST(AbcTune, MissingFieldsAreDropReasons) {
  EXPECT_EQ(abc::clean_tune("X:1\nT:t\nCDEF|\n", {}).drop_reason, "no K: field");
  EXPECT_EQ(abc::clean_tune("X:1\nT:t\nK:C\n% only a comment\n", {}).drop_reason, "no music line");
  abc::CleanOptions small;
  small.max_chars = 100;
  EXPECT_EQ(abc::clean_tune("X:1\nK:C\n" + std::string(200, 'C') + "\n", small).drop_reason,
            "too long (over 100 characters)");
}

TEST(AbcTune, TaggedFormatWithCrlfAndStrayTags) {
  int merged = 0;
  const auto tunes = abc::read_tune_file(data_path("tagged_crlf.txt"), &merged);
  ASSERT_EQ(tunes.size(), 3u);
  EXPECT_EQ(merged, 1);
  EXPECT_TRUE(contains(tunes[0].text, "CDEF GABc|c4 G4|\ncBAG FEDC|C8|]\n"));
  EXPECT_FALSE(contains(tunes[0].text, "\r"));
  // A tune without X: gets one; a tune without K: is dropped.
  EXPECT_EQ(abc::clean_tune(tunes[1].text, {}).text.substr(0, 16), "X:1\nT:No X Field");
  EXPECT_EQ(abc::clean_tune(tunes[2].text, {}).drop_reason, "no K: field");
}

TEST(Corpus, BadInputsAreClearErrorsNamingTheFile) {
  const auto opts = no_abc2midi();
  std::string e = error_of([&] { abc::build_corpus({data_path("empty.abc")}, opts); });
  EXPECT_TRUE(contains(e, "empty.abc: empty file")) << e;
  e = error_of([&] { abc::build_corpus({data_path("binary.abc")}, opts); });
  EXPECT_TRUE(contains(e, "binary.abc: binary data")) << e;
  e = error_of([&] { abc::build_corpus({data_path("does_not_exist.abc")}, opts); });
  EXPECT_TRUE(contains(e, "does_not_exist.abc: no such file or directory")) << e;
  e = error_of([&] { abc::build_corpus({data_path("no_tunes")}, opts); });
  EXPECT_TRUE(contains(e, "no_tunes: no tunes found")) << e;
  abc_test::ScratchDir empty_dir("empty_dir");
  e = error_of([&] { abc::build_corpus({empty_dir.str()}, opts); });
  EXPECT_TRUE(contains(e, "folder has no .abc or .txt files")) << e;
  e = error_of([&] { abc::build_corpus({}, opts); });
  EXPECT_TRUE(contains(e, "no input")) << e;
}

TEST(Corpus, FolderSkipsUnreadableFilesAndCountsThem) {
  const abc::Corpus c = abc::build_corpus({abc_test::data_dir()}, no_abc2midi());
  ASSERT_EQ(c.sources.size(), 1u);
  EXPECT_EQ(c.sources[0].dropped.at("unreadable file (empty or binary)"), 2);  // empty.abc, binary.abc
  EXPECT_GT(c.sources[0].kept, 5);
}

TEST(Corpus, CountsDropsPerSourceAndDeduplicatesAcrossSources) {
  const abc::Corpus c =
      abc::build_corpus({data_path("tunes.abc"), data_path("broken.abc")}, no_abc2midi());
  ASSERT_EQ(c.sources.size(), 2u);
  EXPECT_EQ(c.sources[0].found, 4);
  EXPECT_EQ(c.sources[0].kept, 4);
  EXPECT_EQ(c.sources[0].normalised, 2);
  const auto& broken = c.sources[1];
  EXPECT_EQ(broken.found, 5);
  EXPECT_EQ(broken.dropped.at("no K: field"), 1);
  EXPECT_EQ(broken.dropped.at("no music line"), 1);
  EXPECT_EQ(broken.dropped.at("duplicate"), 1);  // same as tunes.abc X:1 once cleaned
  EXPECT_EQ(broken.kept, 2);                     // Cafe Tune + the unplayable one (kept here)
  EXPECT_EQ(c.ascii_mapped, 2u);                 // e-acute, tab
  EXPECT_EQ(c.ascii_dropped, 1u);                // bell
  EXPECT_TRUE(contains(c.tunes[4].text, "T:Cafe Tune\n"));
  EXPECT_TRUE(contains(abc::format_report(c), "dropped 1: duplicate"));
}

TEST(Corpus, Abc2midiFilterDropsUnplayableTunesByErrorKind) {
  ASSERT_FALSE(abc::find_abc2midi().empty()) << "abc2midi missing: run tools/setup.sh";
  abc::CorpusOptions options;
  const abc::Corpus c = abc::build_corpus({data_path("tunes.abc"), data_path("broken.abc")}, options);
  EXPECT_EQ(c.sources[0].kept, 4);  // all of ours play
  EXPECT_EQ(c.sources[1].kept, 1);
  EXPECT_EQ(c.sources[1].dropped.at("abc2midi error"), 1);
  EXPECT_EQ(c.abc2midi_error_kinds.at("Cannot apply broken rhythm. Notes not equal durations"), 1);
}

TEST(Corpus, MessageKindsGroupNumbers) {
  EXPECT_EQ(abc::message_kind("Bar 3 has 9/4 time units"), "Bar # has #/# time units");
}

TEST(Corpus, SplitIsDeterministicByTuneAndDisjoint) {
  std::vector<abc::Tune> tunes;
  for (int i = 0; i < 200; ++i) tunes.push_back({"X:1\nK:C\nC" + std::to_string(i) + "|\n", "s"});
  const abc::Split a = abc::split_tunes(tunes, 0.1, 0.05, 42);
  const abc::Split b = abc::split_tunes(tunes, 0.1, 0.05, 42);
  const abc::Split c = abc::split_tunes(tunes, 0.1, 0.05, 43);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(a.val, c.val);
  EXPECT_EQ(a.val.size(), 20u);
  EXPECT_EQ(a.test.size(), 10u);
  EXPECT_EQ(a.train.size(), 170u);
  std::set<std::string> seen;
  for (const auto* part : {&a.train, &a.val, &a.test}) {
    for (const auto& t : *part) EXPECT_TRUE(seen.insert(t).second) << "tune in two parts: " << t;
  }
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_THROW(abc::split_tunes(tunes, 0.6, 0.5, 1), abc::Error);
}

TEST(Corpus, TaggedTextRenumbersAndFramesTunes) {
  const std::string text = abc::to_tagged_text({"X:1\nK:C\nC|\n", "X:1\nK:D\nD|\n"});
  EXPECT_EQ(text, "<start>\nX:1\nK:C\nC|\n<end>\n<start>\nX:2\nK:D\nD|\n<end>\n");
}

TEST(Corpus, WriteSplitWritesFilesAndReadsBack) {
  abc_test::ScratchDir dir("write_split");
  abc::Split split;
  split.train = {"X:1\nK:C\nC|\n", "X:1\nK:D\nD|\n"};
  split.val = {"X:1\nK:E\nE|\n"};
  abc::write_split(split, dir.str());
  EXPECT_EQ(abc_test::read_text(dir.file("val.txt")), "<start>\nX:1\nK:E\nE|\n<end>\n");
  EXPECT_FALSE(std::filesystem::exists(dir.file("test.txt")));
  int merged = 0;
  EXPECT_EQ(abc::read_tune_file(dir.file("train.txt"), &merged).size(), 2u);
}
