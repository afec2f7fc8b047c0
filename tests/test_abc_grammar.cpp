// The ABC grammar automaton (abc_grammar.hpp): header fields and values, each element of a
// music line and each way to leave one open, ties, tuplets, repeats and endings; the meter
// layer's arithmetic (a table of bars) and its bar rule; character by character, that the
// meter layer takes a note's length only while it can still fit; random walks through the
// automaton (no dead end, abc2midi converts every tune, check_bars finds no bar off); the
// real tunes in tests/data and data/corpus/val.txt; and the cost of allows().
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "abc/abc_grammar.hpp"
#include "abc/corpus.hpp"
#include "abc/error.hpp"
#include "abc/eval.hpp"
#include "abc/playability.hpp"
#include "test_helpers.hpp"

namespace {

using abc::AbcGrammar;
using abc::check_bars;

const AbcGrammar::Options kSyntax{false};
const AbcGrammar::Options kMeter{true};

// Whether `text` is a legal prefix (every character allowed in turn).
bool prefix(const std::string& text, const AbcGrammar::Options& o = kMeter) {
  AbcGrammar g(o);
  for (char c : text) {
    if (!g.allows(c)) return false;
    g.feed(c);
  }
  return true;
}

// Whether `text` is a whole legal tune (<end> allowed after it).
bool accepts(const std::string& text, const AbcGrammar::Options& o = kMeter) {
  AbcGrammar g(o);
  for (char c : text) {
    if (!g.allows(c)) return false;
    g.feed(c);
  }
  return g.may_end();
}

// The automaton after `text` (which must be legal).
AbcGrammar after(const std::string& text, const AbcGrammar::Options& o = kMeter) {
  AbcGrammar g(o);
  g.feed(text);
  return g;
}

std::string tune(const std::string& body, const std::string& header = "M:4/4\nL:1/8\nK:G\n") {
  return "X:1\nT:Test\n" + header + body;
}

// ---- header -------------------------------------------------------------------------------

TEST(AbcGrammar, HeaderFieldsAndValues) {
  EXPECT_TRUE(accepts("X:1\nT:A Reel\nT:Second title\nC:Trad.\nM:4/4\nL:1/8\nQ:1/4=120\nK:D\nABcd efga|\n"));
  EXPECT_TRUE(accepts("X:12\nM:6/8\nK:G\nABc def|\n"));  // no L: (default 1/8 for 6/8)
  EXPECT_TRUE(accepts("X:1\nM:C|\nL:1/8\nQ:1/2=100 \"Slow\"\nW:words\nU:T=!trill!\nK:G\nABcd efga|\n"));
  for (const char* m : {"C", "C|", "2/4", "3/4", "4/4", "6/8", "9/8", "12/8", "3/8", "6/4", "3/2", "5/4", "2/2", "none"}) {
    EXPECT_TRUE(prefix(std::string("X:1\nM:") + m + "\nK:G\n")) << m;
  }
  for (const char* l : {"1/1", "1/2", "1/4", "1/8", "1/16", "1/32", "1/64"}) {
    EXPECT_TRUE(prefix(std::string("X:1\nM:4/4\nL:") + l + "\nK:G\n")) << l;
  }
  for (const char* k : {"G", "D", "Bb", "F#m", "Em", "Dmix", "Ador", "A Dorian", "G Major", "EDorian", "Amin", "AMix",
                        "C Lydian", "Bphr", "Eloc", "Aaeolian", "Fion", "HP", "Hp", "none", "EM"}) {
    EXPECT_TRUE(prefix(std::string("X:1\nM:4/4\nK:") + k + "\n")) << k;
  }
  EXPECT_TRUE(prefix("X:1\nM:4/4\nQ:80\nQ:3/8=104\nQ:1/16=200\nK:G\n"));
  for (const char* r : {"reel", "jig", "slip jig", "hornpipe", "strathspey", "air", "fling"}) {
    EXPECT_TRUE(prefix(std::string("X:1\nT:t\nR:") + r + "\nM:2/4\nL:1/8\nK:G\n")) << r;
  }
  EXPECT_TRUE(prefix("X:1\nR:hornpipe\nM:4/4\nK:G\n"));
  EXPECT_TRUE(prefix("X:1\nM:C\nR:hornpipe\nK:G\n"));
  EXPECT_TRUE(prefix("X:1\nM:6/8\nR:slip jig\nK:G\n"));
}

TEST(AbcGrammar, BadHeaders) {
  EXPECT_FALSE(prefix("T:Title\n"));                 // X: first
  EXPECT_FALSE(prefix("X:0"));                       // X:1, X:2, ...
  EXPECT_FALSE(prefix("X:1\n\n"));                   // a blank line ends a tune
  EXPECT_FALSE(prefix("X:1\nZ:"));                   // a field the corpus drops
  EXPECT_FALSE(prefix("X:1\nR:Reel"));              // the corpus's spelling: reel
  EXPECT_FALSE(prefix("X:1\nR:reel\nR:"));           // once
  EXPECT_FALSE(prefix("X:1\nR:polska"));             // not a rhythm the corpus labels
  // abc2midi plays R:hornpipe as swung pairs and refuses it outside 2/4 and 4/4.
  EXPECT_FALSE(prefix("X:1\nR:hornpipe\nM:6/8"));
  EXPECT_FALSE(prefix("X:1\nR:hornpipe\nM:C|"));
  EXPECT_FALSE(prefix("X:1\nM:3/2\nR:hornpipe"));
  EXPECT_FALSE(prefix("X:1\nM:4/4\nA"));             // music before K:
  EXPECT_FALSE(prefix("X:1\nM:7/7"));
  EXPECT_FALSE(prefix("X:1\nM:4/4\nL:1/3\n"));
  EXPECT_FALSE(prefix("X:1\nM:4/4\nK:H\n"));
  EXPECT_FALSE(prefix("X:1\nM:4/4\nK:Gx"));
  EXPECT_FALSE(prefix("X:1\nM:4/4\nK:G \n"));        // a trailing space
  EXPECT_FALSE(prefix("X:1\nQ:fast"));
  EXPECT_FALSE(prefix("X:1\nQ:1/4 =80"));
  EXPECT_FALSE(prefix("X:1\nT:|A"));                 // abc2midi reads "T:|A" as music
  EXPECT_FALSE(prefix("X:1\nT:title \n"));
  EXPECT_FALSE(prefix("X:1\nT:100% sure"));          // '%' starts a comment
  EXPECT_FALSE(prefix("X:1\nP:A\n", kSyntax));       // P: in the header lists parts: AB, ABA
  EXPECT_TRUE(prefix("X:1\nP:ABA\n", kSyntax));
  EXPECT_FALSE(prefix("X:1\nP:ABA\n", kMeter));      // (not offered to the sampler)
  // M: is required with the meter enforced; the syntax layer reads a tune without one.
  EXPECT_FALSE(prefix("X:1\nT:t\nK"));
  EXPECT_TRUE(accepts("X:1\nT:t\nK:G\nABc|\n", kSyntax));
}

// ---- body ---------------------------------------------------------------------------------

TEST(AbcGrammar, MusicLines) {
  EXPECT_TRUE(accepts(tune("^A _B =c ^^d __e f' G, z|x8|\n")));
  EXPECT_TRUE(accepts(tune("A2 B/ B/ c3/2 c/ d|\n", "M:3/4\nL:1/8\nK:G\n")));
  EXPECT_TRUE(accepts(tune("A>B c<d e>>f g<<a|\n")));
  EXPECT_TRUE(accepts(tune("(3ABc (3:2:3def (3:2gab c2|\n")));
  EXPECT_TRUE(accepts(tune("[CEG]2 [C2E2] [CE]/[CE]/ z3|\n")));
  EXPECT_TRUE(accepts(tune("\"^hi\"A \"_lo\"B {g}c {/gag}d !trill!e .f (~ga)|\n")));
  EXPECT_TRUE(accepts(tune("ABcd [K:D] efga|[L:1/16]ABcdefga ABcdefga|\n")));
  EXPECT_TRUE(accepts(tune("A4- A4|A4- A2 A2-|A8|\n")));
  EXPECT_TRUE(accepts(tune("|:ABcd efga:|\n|:ABcd efga|1 ABcd efga:|2 ABcd efga||\nABcd efga|:ABcd efga:|]\n")));
  EXPECT_TRUE(accepts(tune("ABcd \\\nefga|\nK:D\nM:3/4\nABc def|\nP:B\nABc def|]\n")));
  EXPECT_TRUE(accepts(tune("ABcd efga|]\nw:some words\nW:more\n")));
  EXPECT_TRUE(accepts(tune("\"G\"ABcd \"Am7/C\"efga|\n"), kSyntax));  // chord symbols: syntax layer only
  EXPECT_FALSE(prefix(tune("\"G"), kMeter));
  EXPECT_TRUE(accepts(tune("[V:1] ABcd efga|\n[V:2] abcd efga|\n"), kSyntax));  // voices: syntax layer only
  EXPECT_FALSE(prefix(tune("[V:"), kMeter));
}

// Runs of spaces align a printed score; the sampler is offered at most two in a row, so a
// drawn tune cannot drift into an endless run.
TEST(AbcGrammar, SampledSpaceRunsAreShort) {
  EXPECT_TRUE(prefix(tune("AB  cd", "M:4/4\nL:1/8\nK:G\n")));
  EXPECT_FALSE(prefix(tune("AB   cd", "M:4/4\nL:1/8\nK:G\n")));
  EXPECT_TRUE(prefix(tune("AB          cd efga|\n", "M:4/4\nL:1/8\nK:G\n"), kSyntax));
}

// Nor a section end (|| |]) while a |: is open: a drawn tune could leave it open for ever,
// and abc2midi wants its :| by the end.
TEST(AbcGrammar, SampledSectionsCloseTheirRepeatFirst) {
  const std::string open = "|:ABcd efga|";
  EXPECT_FALSE(prefix(tune(open + "ABcd efga||", "M:4/4\nL:1/8\nK:G\n") + "\n"));
  EXPECT_FALSE(prefix(tune(open + "ABcd efga|]", "M:4/4\nL:1/8\nK:G\n") + "\n"));
  EXPECT_TRUE(prefix(tune(open + "ABcd efga:|\n", "M:4/4\nL:1/8\nK:G\n")));
  EXPECT_TRUE(prefix(tune(open + "ABcd efga||\n", "M:4/4\nL:1/8\nK:G\n"), kSyntax));
  EXPECT_TRUE(prefix(tune("ABcd efga||\n", "M:4/4\nL:1/8\nK:G\n")));  // no repeat open
}

TEST(AbcGrammar, EachBracketMustClose) {
  const std::string head = tune("");
  EXPECT_FALSE(prefix(head + "[CEG|"));      // chord
  EXPECT_FALSE(prefix(head + "[CEG\n"));
  EXPECT_FALSE(prefix(head + "[]"));
  EXPECT_FALSE(prefix(head + "\"^text\n"));  // annotation
  EXPECT_FALSE(prefix(head + "\"\"A"));
  EXPECT_FALSE(prefix(head + "{ga|"));       // grace group
  EXPECT_FALSE(prefix(head + "{}"));
  EXPECT_FALSE(prefix(head + "[K:D\n"));     // inline field
  EXPECT_FALSE(prefix(head + "!trill\n"));   // decoration
  // <end> where a construct is open
  for (const char* open : {"ABcd [CE", "ABcd \"^x", "ABcd {g", "ABcd (3AB", "ABcd e-", "ABcd efg>", "ABcd [K:D",
                           "ABcd !tr", "ABcd efga|:"}) {
    const AbcGrammar g = after(head + open);
    EXPECT_FALSE(g.may_end()) << open;
  }
  EXPECT_TRUE(after(head + "ABcd efga|").may_end());     // after a bar line
  EXPECT_TRUE(after(head + "ABcd efga|\n").may_end());   // at a line start
  EXPECT_TRUE(after(head + "ABcd efga|]").may_end());
  EXPECT_FALSE(after(head + "ABcd efga|\\\n").may_end());  // a continued line
  EXPECT_FALSE(after(head).may_end());                     // no music yet
}

TEST(AbcGrammar, Tuplets) {
  const std::string head = tune("");
  EXPECT_FALSE(prefix(head + "(3A(3"));   // nested: '(' may open a slur, not a tuplet
  EXPECT_TRUE(prefix(head + "(3A(B"));
  EXPECT_FALSE(prefix(head + "(3AB|"));   // unfinished at a bar line
  EXPECT_FALSE(prefix(head + "(3AB\n"));  // or a line end
  EXPECT_FALSE(prefix(head + "(1"));
  EXPECT_FALSE(prefix(head + "(3:A"));    // "(3:" needs q or ':'
  EXPECT_TRUE(prefix(head + "(3::2AB"));
}

TEST(AbcGrammar, TiesGoToTheSameNote) {
  const std::string head = tune("");
  EXPECT_TRUE(accepts(head + "ABcd efg2-|g2 ABcd e2|\n"));
  EXPECT_FALSE(prefix(head + "ABcd efg2-|a"));      // another pitch
  EXPECT_FALSE(prefix(head + "ABcd efg2-|g'"));     // another octave
  EXPECT_FALSE(prefix(head + "ABcd efg2-|^g"));     // another accidental
  EXPECT_FALSE(prefix(head + "ABcd efg2-|z"));      // a rest
  EXPECT_FALSE(prefix(head + "ABcd efg2-|[g"));     // a chord
  EXPECT_FALSE(prefix(head + "ABcd efg2-||"));      // over a section boundary
  EXPECT_FALSE(prefix(head + "ABcd efg2-|\n|"));    // over two bar lines
  EXPECT_FALSE(prefix(head + "z-"));                // from a rest
  EXPECT_FALSE(prefix(head + "[CE]-"));             // from a chord
  EXPECT_FALSE(accepts(head + "ABcd efg2-|\n"));    // to nothing
}

TEST(AbcGrammar, RepeatsAndEndings) {
  const std::string head = tune("", "M:2/4\nL:1/8\nK:G\n");
  EXPECT_TRUE(accepts(head + "ABcd:|ABcd:|\n"));              // each part repeated, no |: written
  EXPECT_FALSE(prefix(head + "|:ABcd:|:"));                   // abc2midi reads :|: as :| and a stray ':'
  EXPECT_FALSE(prefix(head + "|:ABcd|:"));                    // |: twice (repeat_bar_line)
  EXPECT_FALSE(accepts(head + "|:ABcd|ABcd|\n"));             // never closed
  EXPECT_FALSE(prefix(head + "ABcd:|ABcd::"));                // :: after :| (abc2midi: "found :: before |:")
  EXPECT_TRUE(accepts(head + "ABcd::ABcd:|\n"));              // :: with the tune's start open
  EXPECT_FALSE(prefix(head + "|:ABcd|2"));                    // a second ending with no first
  EXPECT_FALSE(prefix(head + "|:ABcd|1ABcd||"));              // a first ending runs until :|
  EXPECT_FALSE(accepts(head + "|:ABcd|1ABcd|\n"));
  EXPECT_FALSE(prefix(head + "|:ABcd|1ABcd:|2ABcd|1"));       // a first ending inside the second
  EXPECT_TRUE(accepts(head + "|:ABcd|1ABcd:|2ABcd||\n|:ABcd|1ABcd:|\n|2ABcd|]\n"));
  EXPECT_FALSE(prefix(head + "ABcd:|ABcd|1"));                // [1 after :| before any ending
  // repeats_balanced says the same on whole tunes
  EXPECT_FALSE(abc::repeats_balanced("|:AB|:cd:|"));
}

// ---- the meter layer ---------------------------------------------------------------------------

struct BarCase {
  const char* header;  // M: L: K: lines
  const char* body;
  int bars, off;
};

TEST(AbcGrammar, BarDurations) {
  const BarCase cases[] = {
      {"M:4/4\nL:1/8\nK:G\n", "ABcd efga|ABcd efga|\n", 2, 0},
      {"M:4/4\nL:1/8\nK:G\n", "ABcd efga|ABcd efgab|\n", 2, 1},            // a bar too long
      {"M:C\nL:1/8\nK:G\n", "ABcd efga|\n", 1, 0},                          // C is 4/4
      {"M:C|\nL:1/4\nK:G\n", "ABcd|\n", 1, 0},                              // C| is 2/2
      {"M:2/4\nK:G\n", "ABcd efga|ABcd efga|\n", 2, 0},                     // default L 1/16 below 3/4
      {"M:2/4\nL:1/8\nK:G\n", "ABcd|ABcd efga|\n", 2, 1},
      {"M:6/8\nK:G\n", "ABc def|ABc def|\n", 2, 0},                         // default L 1/8 from 3/4 up
      {"M:3/4\nL:1/4\nK:G\n", "A B c|A3/2 B/ c|A2 B|\n", 3, 0},
      {"M:4/4\nL:1/8\nK:G\n", "A>B c<d e>>f g<<a|A>B c>d e>f g3|\n", 2, 1},  // 3/2+1/2, 7/4+1/4
      {"M:2/4\nL:1/8\nK:G\n", "(3ABc d2|(3ABc (3def|(3:2:2AB c2|\n", 3, 1},  // (3:2:2AB is 4/3
      {"M:6/8\nL:1/8\nK:G\n", "(2AB c3|(4ABcd c3|\n", 2, 0},                 // (2 and (4 in the time of 3
      {"M:2/4\nL:1/8\nK:G\n", "(5ABcde d2|\n", 1, 0},                        // (5: 2 in simple meter
      {"M:6/8\nL:1/8\nK:G\n", "(5ABcde f3|\n", 1, 0},                        // 3 in compound meter
      {"M:4/4\nL:1/8\nK:G\n", "[CEG]2 [C2E] [CE]/[CE]/ z3|\n", 1, 0},        // a chord: first note or own length
      {"M:6/8\nL:1/8\nK:G\n", "E|ABc def|ABc de:|\n", 3, 0},                 // pickup, short last bar
      {"M:6/8\nL:1/8\nK:G\n", "ABc def|E|ABc def|\n", 3, 1},                 // a short bar inside a section
      {"M:6/8\nL:1/8\nK:G\n", "ABc de||f|ABc def|\n", 3, 0},                 // after a boundary: a pickup
      {"M:6/8\nL:1/8\nK:G\n", "ABc def|ABc d\n", 2, 0},                      // the tune's last bar
      {"M:6/8\nL:1/8\nK:G\n", "ABc def|[L:1/16]ABcdef fedcba|[M:2/4]ABcdefga|\n", 3, 0},  // inline L: and M:
      {"M:6/8\nL:1/8\nK:G\n", "ABc def|[M:2/4]ABcd|ABcd|\n", 3, 0},
      {"M:4/4\nL:1/8\nK:G\n", "Z|ABcd efga|\n", 2, 0},                       // a whole bar's rest
      {"M:none\nL:1/8\nK:G\n", "ABcdefgabc|ABc|\n", 0, 0},                   // free meter
  };
  for (const BarCase& c : cases) {
    const std::string text = "X:1\n" + std::string(c.header) + c.body;
    const abc::BarCheck b = check_bars(text);
    EXPECT_EQ(b.bars, c.bars) << text;
    EXPECT_EQ(b.off, c.off) << text;
    EXPECT_EQ(b.skipped, 0) << text;
    EXPECT_TRUE(accepts(text, kSyntax)) << text;
    // The meter layer takes the tune exactly when check_bars finds no bar off.
    EXPECT_EQ(accepts(text, kMeter), c.off == 0) << text;
  }
  EXPECT_TRUE(check_bars("X:1\nM:none\nK:G\nABc|\n").free_meter);
  EXPECT_FALSE(check_bars("X:1\nM:3/4\nK:G\nABc|\n").free_meter);
  // Two voices, each with its own bars.
  const abc::BarCheck v = check_bars("X:1\nM:6/8\nL:1/8\nK:G\n[V:1] ABc def|ab\n[V:2] abc d2 e|\n[V:1] c d3|\n");
  EXPECT_EQ(v.bars, 3);
  EXPECT_EQ(v.off, 0);
  // Generated text full of errors: the rejected characters are skipped and counted.
  const abc::BarCheck junk = check_bars("X:1\nM:4/4\nL:1/8\nK:G\nABcd efga|ABcd Hefga|ABcd efga b|\n");
  EXPECT_EQ(junk.skipped, 1);
  EXPECT_EQ(junk.bars, 3);
  EXPECT_EQ(junk.off, 1);
}

TEST(AbcGrammar, LengthsAreTakenOnlyWhileTheyFit) {
  const std::string head = tune("");
  {
    const AbcGrammar g = after(head + "ABcd efga");  // a full bar
    EXPECT_FALSE(g.allows('2'));                     // a2 would not fit
    EXPECT_TRUE(g.allows('/'));                      // a/ would
    EXPECT_TRUE(g.allows('|'));
    EXPECT_TRUE(g.allows(' '));
    const AbcGrammar full = after(head + "ABcd efga ");
    EXPECT_FALSE(full.allows('A'));  // not even A/8 fits
    EXPECT_FALSE(full.allows('z'));
    EXPECT_FALSE(full.allows('>'));  // a>b would lengthen a
  }
  {
    EXPECT_TRUE(after(head + "ABcd efg2").allows(' '));  // 6 + 2: the bar is full
    const AbcGrammar three = after(head + "ABcd efg3");  // 6 + 3: too long, but g3/ fits
    EXPECT_FALSE(three.allows(' '));
    EXPECT_FALSE(three.allows('|'));
    EXPECT_FALSE(three.allows('2'));
    EXPECT_TRUE(three.allows('/'));
    EXPECT_TRUE(after(head + "ABcd efg3/").allows('|'));
  }
  {
    // A plain bar line closes a short bar only as the tune's first (a pickup) or after a
    // section boundary; elsewhere the bar line must become a boundary (|| |] |: :|).
    EXPECT_TRUE(prefix(head + "E|A"));
    const AbcGrammar g = after(head + "ABcd efga|E|");
    EXPECT_FALSE(g.allows('A'));
    EXPECT_FALSE(g.allows(' '));
    EXPECT_TRUE(g.allows('|'));
    EXPECT_TRUE(g.allows(']'));
    EXPECT_TRUE(g.allows(':'));
    EXPECT_TRUE(prefix(head + "ABcd efga|E||A"));
  }
  // A tuplet is taken only when its notes can fit.
  EXPECT_FALSE(after(head + "ABcd efga(").allows('3'));
  EXPECT_TRUE(after(head + "ABcd efg(").allows('3'));
  // The meter changes only between bars.
  EXPECT_FALSE(prefix(head + "ABc\nM:3/4\n"));
  EXPECT_TRUE(prefix(head + "ABcd efga|\nM:3/4\nABc def|\n"));
}

// ---- random walks ---------------------------------------------------------------------------

// A random tune through the automaton: each step picks among the allowed characters
// (printable ASCII and '\n') uniformly, with '\n' more likely as a line grows; after 300
// characters it leans towards what closes a tune (line ends, bar lines, repeats) and takes
// <end> as soon as it may. Returns false on a dead end (nothing allowed and no <end>), or
// when the walk wanders past `cap` characters (then `text` is dropped).
bool random_tune(std::mt19937_64& rng, const AbcGrammar::Options& o, std::size_t cap, std::string* text, bool* dead) {
  AbcGrammar g(o);
  text->clear();
  *dead = false;
  int line = 0;
  std::vector<int> choice;
  std::vector<double> weight;
  while (text->size() < cap) {
    choice.clear();
    weight.clear();
    const bool closing = text->size() > 300;
    for (int k = 0; k < 128; ++k) {
      const char c = static_cast<char>(k);
      if ((c != '\n' && (c < 0x20 || c >= 0x7f)) || !g.allows(c)) continue;
      double w = c == '\n' ? 1.0 + line / 4.0 : 1.0;
      if (closing && std::strchr("\n:|[]", c)) w *= 30;
      choice.push_back(k);
      weight.push_back(w);
    }
    if (g.may_end()) {
      choice.push_back(-1);
      weight.push_back(closing ? 1000.0 : 0.0);
    }
    if (choice.empty()) {
      *dead = true;
      return false;
    }
    double total = 0;
    for (double w : weight) total += w;
    if (total <= 0) {  // only <end>, not yet wanted: take it
      return true;
    }
    std::discrete_distribution<int> pick(weight.begin(), weight.end());
    const int k = choice[static_cast<std::size_t>(pick(rng))];
    if (k < 0) return true;
    g.feed(static_cast<char>(k));
    text->push_back(static_cast<char>(k));
    line = k == '\n' ? 0 : line + 1;
  }
  return false;
}

TEST(AbcGrammar, RandomWalksNeverDeadEnd) {
  std::mt19937_64 rng(20261201);
  for (const AbcGrammar::Options& o : {kMeter, kSyntax}) {
    int done = 0;
    for (int walk = 0; walk < 150; ++walk) {
      std::string text;
      bool dead = false;
      const bool ended = random_tune(rng, o, 6000, &text, &dead);
      ASSERT_FALSE(dead) << "no character allowed and no <end> after:\n" << text;
      if (!ended) continue;
      ++done;
      // What the automaton wrote, it reads back; with the meter enforced no bar is off.
      EXPECT_TRUE(accepts(text, o)) << text;
      EXPECT_TRUE(accepts(text, kSyntax)) << text;
      if (o.enforce_meter) {
        const abc::BarCheck b = check_bars(text);
        EXPECT_EQ(b.off, 0) << text;
        EXPECT_EQ(b.skipped, 0) << text;
      }
    }
    // (with the meter enforced walks end within a few hundred characters; the syntax layer
    // lets them open voices and parts, which a uniform walk is slow to close)
    EXPECT_GE(done, o.enforce_meter ? 140 : 50) << "most walks end within 6000 characters";
  }
}

TEST(AbcGrammar, RandomTunesConvertInAbc2midi) {
  if (abc::find_abc2midi().empty()) GTEST_SKIP() << "abc2midi not on PATH (Debian package abcmidi)";
  std::mt19937_64 rng(7);
  std::vector<std::string> tunes;
  int dropped = 0;
  while (tunes.size() < 50) {
    std::string text;
    bool dead = false;
    if (random_tune(rng, kMeter, 4000, &text, &dead)) {
      tunes.push_back(text);
    } else {
      ASSERT_FALSE(dead) << text;
      ASSERT_LT(++dropped, 50) << "too many walks wander past 4000 characters";
    }
  }
  const auto results = abc::check_playability(tunes, 2);
  int bar_warnings = 0;
  for (std::size_t i = 0; i < tunes.size(); ++i) {
    EXPECT_TRUE(results[i].errors.empty()) << results[i].errors.front() << "\n" << tunes[i];
    const abc::BarCheck b = check_bars(tunes[i]);
    EXPECT_EQ(b.off, 0) << tunes[i];
    for (const std::string& w : results[i].warnings) bar_warnings += w.find("time units") != std::string::npos;
  }
  std::printf("50 random tunes (%d longer walks dropped): abc2midi errors in none; check_bars off bars 0; "
              "abc2midi bar-length warnings %d (its own bar rule, see abc_grammar.cpp)\n",
              dropped, bar_warnings);
}

// ---- real tunes ------------------------------------------------------------------------------

TEST(AbcGrammar, TestDataTunesAreAccepted) {
  abc::CorpusOptions options;
  options.keep_unplayable = true;  // (no abc2midi needed: the one unplayable tune is named below)
  const abc::Corpus corpus = abc::build_corpus(
      {abc_test::data_path("tunes.abc"), abc_test::data_path("broken.abc"), abc_test::data_path("tagged_crlf.txt")},
      options);
  ASSERT_GE(corpus.tunes.size(), 7u);
  for (const abc::Tune& t : corpus.tunes) {
    // broken.abc's "A2>B" has two lengths in a broken rhythm: abc2midi's error, and ours.
    const bool unplayable = t.text.find("T:Unplayable Broken Rhythm") != std::string::npos;
    EXPECT_EQ(accepts(t.text, kSyntax), !unplayable) << t.text;
  }
}

std::string corpus_path(const char* name) {
  return (std::filesystem::path(abc_test::data_dir()) / ".." / ".." / "data" / "corpus" / name).lexically_normal().string();
}

TEST(AbcGrammar, ValidationCorpus) {
  const std::string path = corpus_path("val.txt");
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << "no data/corpus/val.txt: run tools/run.sh or tools/fetch_corpus.sh + build/abc_cuda_corpus";
  }
  const auto tunes = abc::read_eval_tunes(abc_test::read_text(path));
  ASSERT_FALSE(tunes.empty());
  int off_tunes = 0, off_bars = 0, bars = 0, sampler_rejects = 0;
  std::vector<std::string> texts;
  std::vector<int> offs;
  for (const abc::EvalTune& t : tunes) {
    // Every validation tune passed abc2midi when the corpus was built: the syntax layer
    // must read each one.
    AbcGrammar g(kSyntax);
    EXPECT_NO_THROW(g.feed(t.text)) << t.text;
    EXPECT_TRUE(g.may_end()) << t.text;
    const abc::BarCheck b = check_bars(t.text);
    EXPECT_EQ(b.skipped, 0) << t.text;
    bars += b.bars;
    off_bars += b.off;
    off_tunes += b.off > 0;
    offs.push_back(b.off);
    texts.push_back(t.text);
    // The meter layer takes a tune exactly when its bars keep the rule and it has no
    // voices, header part order or runs of more than two spaces (which the sampler is not
    // offered).
    const bool offered = t.text.find("\nV:") == std::string::npos && t.text.find("[V:") == std::string::npos &&
                         t.text.substr(0, t.text.find("\nK:")).find("\nP:") == std::string::npos &&
                         t.text.find("   ") == std::string::npos;
    const bool meter = accepts(t.text, kMeter);
    EXPECT_EQ(meter, b.off == 0 && offered) << t.text;
    sampler_rejects += !meter;
  }
  std::printf("val: %zu tunes read by the syntax layer; check_bars: %d bars, %d off in %d tunes; "
              "the meter layer takes %zu\n",
              tunes.size(), bars, off_bars, off_tunes, tunes.size() - sampler_rejects);
  if (abc::find_abc2midi().empty()) return;
  // abc2midi's bar-length warnings beside check_bars: they need not be equal (abc2midi
  // carries a short bar over a section boundary and measures repeats again), but every
  // tune check_bars finds a bar off in, abc2midi finds one too.
  const auto results = abc::check_playability(texts, 2);
  int warned_tunes = 0, warnings = 0, in_repeat = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    int w = 0;
    for (const std::string& m : results[i].warnings) {
      if (m.find("time units") == std::string::npos) continue;
      ++w;
      in_repeat += m.find("in repeat") != std::string::npos;
    }
    warnings += w;
    warned_tunes += w > 0;
    if (offs[i] > 0) EXPECT_GT(w, 0) << "check_bars finds a bar off, abc2midi none:\n" << texts[i];
  }
  std::printf("val: abc2midi bar-length warnings %d (%d of them in repeats) in %d tunes\n", warnings, in_repeat,
              warned_tunes);
}

// ---- cost ---------------------------------------------------------------------------------------

TEST(AbcGrammar, AllowsIsCheap) {
  // A fixed walk; at each step allows() for all 96 characters a sampler would ask about.
  std::mt19937_64 rng(3);
  std::vector<std::string> walks;
  while (walks.size() < 20) {
    std::string text;
    bool dead = false;
    if (random_tune(rng, kMeter, 4000, &text, &dead)) walks.push_back(text);
  }
  std::size_t calls = 0, yes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const std::string& w : walks) {
    AbcGrammar g(kMeter);
    for (char c : w) {
      for (int k = 0x20; k < 0x7f; ++k) yes += g.allows(static_cast<char>(k));
      yes += g.allows('\n');
      calls += 96;
      g.feed(c);
    }
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / calls;
  std::printf("allows(): %.1f ns per call (%zu calls, %.0f%% allowed), state %zu bytes\n", ns, calls,
              100.0 * yes / calls, sizeof(AbcGrammar));
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  EXPECT_LT(ns, 500.0);  // (the target is well under 100 ns; this bound only catches a blow-up)
#endif
}

}  // namespace
