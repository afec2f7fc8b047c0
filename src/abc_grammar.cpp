// The ABC grammar automaton (include/abc/abc_grammar.hpp): a hand-written character-level
// state machine over a small plain-data State. step() is the whole transition function:
// allows() runs it on a copy, feed() on the real state, check_bars() in measuring mode.
//
// Durations are integer ticks: a whole note is 2^20 * 315 ticks, so every length this
// grammar can spell (L: 1/1..1/64, spellings down to /8, broken rhythm down to 1/4,
// tuplets p = 2..9) is a whole number of ticks and the arithmetic is exact. A note lasts
// L x its length (A3/2: 3/2 L); a>b gives a 3/2 and b 1/2 of their lengths (a>>b 7/4 and
// 1/4, a<b and a<<b the other way round); (p:q:r puts the next r notes (chords count one,
// grace notes none) in the time of q (ABC 2.1 defaults: q = 3 for p = 2, 4, 8; 2 for 3, 6;
// for 5, 7, 9 3 in compound meters (6/8, 9/8, 12/8, 6/4), else 2; r = p); a chord lasts
// its first note's length, or, when that note has none, the chord's own ([CE]2: 2 L); Z is
// a whole bar's rest. Only the lengths in kSpellings are offered.
//
// The bar rule (the same for the sampler's meter layer and for check_bars):
//  - a bar is the music between two bar lines of one voice; a bar with no duration (two
//    bar lines in a row, a bar line at the start of a line after one at the end of the
//    previous line) is not a bar and is not measured;
//  - a bar must last exactly the meter's bar (M:; C is 4/4, C| 2/2), except that it may be
//    SHORTER when
//      (a) it is the first bar of the tune (of its voice): a pickup,
//      (b) it ends at a section boundary: any bar line other than a plain | (|| |] [| |:
//          :| :: :|| :||: and the like, :|2 included) or a P: part change, or at the end
//          of the tune: the last bar of a section,
//      (c) it starts right after a section boundary: the pickup of the next section;
//  - a bar is never longer than the meter's bar;
//  - M:none (or no M: at all, syntax layer only) is free meter: nothing is measured.
// With the meter enforced, the automaton never lets a bar grow past the meter and lets a
// plain | close a short bar only under (a) or (c); check_bars applies the same rule and
// counts the bars that break it. abc2midi's own check (its "Bar N has ... time units"
// warnings) differs in two ways: it carries a short bar over a section boundary into the
// next one (so a section's short last bar plus a pickup must make one bar), and it
// measures again the bars it replays for repeats.
//
// "Can this still be completed" is kept exact and cheap: every note length is a node of a
// small trie whose nodes all are complete lengths, with the least length under each node;
// a note, tuplet or broken rhythm is taken only while its shortest completion fits in what
// is left of the bar, and a short bar can always be closed by a section boundary (:| is
// always possible). Random walks through the automaton (tests/test_abc_grammar.cpp) check
// that no state is a dead end.
#include "abc/abc_grammar.hpp"

#include <cstring>
#include <type_traits>

#include "abc/abc_tune.hpp"
#include "abc/error.hpp"
#include "abc/eval.hpp"
#include "abc/vocab.hpp"

namespace abc {
namespace {

using i64 = std::int64_t;

constexpr i64 kWhole = (i64{1} << 20) * 315;  // ticks in a whole note

// ---- Note lengths ----------------------------------------------------------------------
// The spellings a note length may take, in eighths of the unit L (v8): those the corpus
// uses (train.txt: "", 2, /, 3, 4, /2, 6, //, /4, 3/2, 8, 3/, 3/4, 7/2, 1, /8, 7/, ///, 7,
// 3//) plus 12 and 16 (a dotted half and a whole note under L:1/16). Every prefix of a
// spelling is itself a spelling, so the spellings form a trie whose every node is a
// complete length: "can this note still fit" is "does the smallest spelling under this
// node fit".
struct Spelling {
  const char* text;
  std::uint8_t v8;
};
constexpr Spelling kSpellings[] = {
    {"", 8},   {"1", 8},   {"2", 16},  {"3", 24},   {"4", 32},   {"6", 48},  {"7", 56},  {"8", 64},
    {"12", 96}, {"16", 128}, {"/", 4},  {"/2", 4},   {"//", 2},   {"///", 1}, {"/4", 2},  {"/8", 1},
    {"3/", 12}, {"3/2", 12}, {"3//", 6}, {"3/4", 6}, {"7/", 28}, {"7/2", 28}};
constexpr int kNumSpellings = sizeof(kSpellings) / sizeof(kSpellings[0]);

constexpr int length_class(char c) { return c == '/' ? 10 : (c >= '0' && c <= '9') ? c - '0' : -1; }
constexpr int cstrlen(const char* s) {
  int n = 0;
  while (s[n]) ++n;
  return n;
}
constexpr bool starts_with(const char* s, const char* prefix) {
  for (int i = 0; prefix[i]; ++i) {
    if (s[i] != prefix[i]) return false;
  }
  return true;
}

// The distinct lengths (v8), for bit masks of the lengths a node can still become.
constexpr std::uint8_t kLengthValues[] = {1, 2, 4, 6, 8, 12, 16, 24, 28, 32, 48, 56, 64, 96, 128};
constexpr std::uint16_t value_bit(int v8) {
  for (int i = 0; i < static_cast<int>(sizeof(kLengthValues)); ++i) {
    if (kLengthValues[i] == v8) return static_cast<std::uint16_t>(1u << i);
  }
  return 0;
}

struct LengthTrie {
  std::int8_t next[kNumSpellings][11];  // child by length_class, -1: none
  std::uint8_t value[kNumSpellings];    // v8 of the node's spelling
  std::uint8_t min[kNumSpellings];      // least v8 of the spellings under the node
  std::uint16_t can[kNumSpellings];     // value_bit of every v8 under the node
  bool complete;                        // every spelling's parent is a spelling
};

constexpr LengthTrie make_trie() {
  LengthTrie t{};
  t.complete = cstrlen(kSpellings[0].text) == 0;
  for (int i = 0; i < kNumSpellings; ++i) {
    for (int k = 0; k < 11; ++k) t.next[i][k] = -1;
    t.value[i] = kSpellings[i].v8;
    t.min[i] = 255;
    t.can[i] = 0;
    for (int j = 0; j < kNumSpellings; ++j) {
      if (!starts_with(kSpellings[j].text, kSpellings[i].text)) continue;
      if (kSpellings[j].v8 < t.min[i]) t.min[i] = kSpellings[j].v8;
      t.can[i] = static_cast<std::uint16_t>(t.can[i] | value_bit(kSpellings[j].v8));
      if (!value_bit(kSpellings[j].v8)) t.complete = false;
    }
  }
  for (int j = 1; j < kNumSpellings; ++j) {
    const int len = cstrlen(kSpellings[j].text);
    int parent = -1;
    for (int i = 0; i < kNumSpellings; ++i) {
      if (cstrlen(kSpellings[i].text) == len - 1 && starts_with(kSpellings[j].text, kSpellings[i].text)) parent = i;
    }
    if (parent < 0) {
      t.complete = false;
      continue;
    }
    t.next[parent][length_class(kSpellings[j].text[len - 1])] = static_cast<std::int8_t>(j);
  }
  return t;
}
constexpr LengthTrie kTrie = make_trie();
static_assert(kTrie.complete, "every prefix of a length spelling must be a spelling");
static_assert(kTrie.min[0] == 1, "the shortest length is /8 of the unit");

// ---- Dictionaries --------------------------------------------------------------------
// Small word lists matched a character at a time: the candidates still matching are a
// bit mask, so a step is a loop over at most 64 words and no allocation.
constexpr const char* kMeterWords[] = {"C", "C|", "2/4", "3/4", "4/4", "6/8", "9/8", "12/8",
                                       "3/8", "6/4", "3/2", "5/4", "2/2", "none"};
constexpr std::uint8_t kMeterNum[] = {4, 2, 2, 3, 4, 6, 9, 12, 3, 6, 3, 5, 2, 0};
constexpr std::uint8_t kMeterDen[] = {4, 2, 4, 4, 4, 8, 8, 8, 8, 4, 2, 4, 2, 0};
constexpr const char* kUnitWords[] = {"1/1", "1/2", "1/4", "1/8", "1/16", "1/32", "1/64"};
// K: modes, matched without case ("Dorian", "DOR", "dor", "m" and "M" all read as ABC 2.1
// reads them: only the first three letters matter, m alone is minor).
constexpr const char* kModeWords[] = {"m",    "maj",   "major",    "min",  "minor",   "mix", "mixolydian",
                                      "dor",  "dorian", "phr",     "phrygian", "lyd", "lydian", "loc",
                                      "locrian", "aeo", "aeolian", "ion",  "ionian"};
constexpr const char* kKeySpecialWords[] = {"none", "HP", "Hp"};
// !decorations!: the corpus's and the common ABC 2.1 ones (abc2midi plays or ignores
// each of them with at most a warning).
constexpr const char* kDecorationWords[] = {
    "trill",     "trill(",     "trill)",      "roll",        "fermata",     "invertedfermata", "accent",
    "emphasis",  "tenuto",     "mordent",     "uppermordent", "lowermordent", "pralltriller",  "turn",
    "breath",    "upbow",      "downbow",     "arpeggio",    "wedge",       "open",            "thumb",
    "snap",      "slide",      "segno",       "Segno",       "coda",        "fine",            "D.C.",
    "D.S.",      "dacapo",     "dacoda",      "p",           "pp",          "ppp",             "mp",
    "mf",        "f",          "ff",          "fff",         "sf",          "sfz",             "0",
    "1",         "2",          "3",           "4",           "5",           "crescendo(",      "crescendo)",
    "diminuendo(", "diminuendo)", "8va(",     "8va)"};
constexpr const char* kVoiceTailWords[] = {"", " merge", " merge down"};
// Chord symbol qualities the corpus cleaner keeps (is_chord_symbol in abc_tune.cpp).
constexpr const char* kChordQualityWords[] = {"maj", "min", "dim", "aug", "sus", "add", "m", "M", "+", "o", "-"};

constexpr int deco_index(const char* w) {
  for (int i = 0; i < static_cast<int>(sizeof(kDecorationWords) / sizeof(kDecorationWords[0])); ++i) {
    const char* d = kDecorationWords[i];
    int k = 0;
    while (d[k] && d[k] == w[k]) ++k;
    if (d[k] == '\0' && w[k] == '\0') return i;
  }
  return -1;
}
constexpr int kDecoTrill = deco_index("trill");
constexpr int kDecoFermata = deco_index("fermata");
constexpr int kDecoBreath = deco_index("breath");
static_assert(kDecoTrill >= 0 && kDecoFermata >= 0 && kDecoBreath >= 0, "decorations");
// Ornaments abc2midi plays as extra notes: none on a tied-to note (it then loses the tie).
constexpr std::uint64_t ornament_mask() {
  std::uint64_t m = 0;
  for (const char* w : {"trill", "trill(", "trill)", "roll", "mordent", "uppermordent", "lowermordent",
                        "pralltriller", "turn", "arpeggio"}) {
    if (deco_index(w) >= 0) m |= std::uint64_t{1} << deco_index(w);
  }
  return m;
}
constexpr std::uint64_t kOrnaments = ornament_mask();

struct Dict {
  const char* const* words;
  int n;
  bool fold;  // compare without case
};
enum DictId : std::uint8_t {
  kDictMeter, kDictUnit, kDictMode, kDictKeySpecial, kDictDeco, kDictVoiceTail, kDictChordQuality, kDictRhythm
};
#define ABC_DICT(words, fold) Dict{words, static_cast<int>(sizeof(words) / sizeof(words[0])), fold}
constexpr Dict kDicts[] = {ABC_DICT(kMeterWords, false),      ABC_DICT(kUnitWords, false),
                           ABC_DICT(kModeWords, true),        ABC_DICT(kKeySpecialWords, false),
                           ABC_DICT(kDecorationWords, false), ABC_DICT(kVoiceTailWords, false),
                           ABC_DICT(kChordQualityWords, false), ABC_DICT(kRhythmNames, false)};
#undef ABC_DICT
static_assert(sizeof(kDecorationWords) / sizeof(kDecorationWords[0]) <= 64, "a dictionary holds at most 64 words");
static_assert(sizeof(kMeterNum) == sizeof(kMeterWords) / sizeof(kMeterWords[0]), "meter table");
// The meters abc2midi plays a hornpipe in (hornpipe_meter, abc_tune.hpp), as bits over
// kMeterWords, and the hornpipe's index in kRhythmNames.
constexpr std::uint64_t hornpipe_meter_bits() {
  std::uint64_t bits = 0;
  for (int w = 0; w < static_cast<int>(sizeof(kMeterWords) / sizeof(kMeterWords[0])); ++w) {
    if (hornpipe_meter(kMeterWords[w])) bits |= std::uint64_t{1} << w;
  }
  return bits;
}
constexpr std::uint64_t kHornpipeMeters = hornpipe_meter_bits();
constexpr int rhythm_index(std::string_view name) {
  for (int i = 0; i < kRhythmCount; ++i) {
    if (name == kRhythmNames[i]) return i;
  }
  return -1;
}
constexpr int kRhythmHornpipe = rhythm_index(kHornpipeName);
static_assert(kHornpipeMeters == ((1u << 0) | (1u << 2) | (1u << 4)) && kRhythmHornpipe >= 0, "C, 2/4, 4/4");

constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// ---- Lexical modes and flags -------------------------------------------------------------
enum Mode : std::uint8_t {
  kStartX,       // the tune's first characters: "X:"
  kHeaderLine,   // start of a header line: a field letter
  kFieldColon,   // after a field letter: ':'
  kValueLead,    // after "F:": an optional space, then the value
  kValX,         // X: digits
  kValText,      // free text (T: C: W: w:)
  kValDict,      // a dictionary word (M: L: K: mode or none/HP, V: tail)
  kValKey,       // K: tonic, accidental, space
  kValTempo,     // Q:
  kValParts,     // P: in the header (the order of the parts: ABA)
  kValPart,      // P: in the body (a part's label)
  kValVoice,     // V:
  kValU,         // U:
  kLineStart,    // start of a body line
  kMusic,        // between the elements of a music line
  kAcc,          // after ^ _ =: the note letter
  kNoteLen,      // after a note letter or rest: octave marks, then the length
  kChord,        // inside [...]
  kChordOuter,   // after the ']' of a chord whose first note has no length: its length
  kGrace,        // inside {...}
  kQuote,        // inside "..."
  kBang,         // after '!': '\n' (a line-break mark) or a decoration
  kDeco,         // inside !...!
  kParen,        // after '(': a tuplet's digit or a slur
  kTuplet,       // inside (p:q:r
  kBroken,       // after > or <
  kBar,          // a bar line (sub: its shape so far)
  kBracket,      // after '[': chord, inline field, [| or [1
  kInlineColon,  // after "[K"
  kBackslash,    // after '\': '\n'
};

// What came last on a music line (for ties, broken rhythm, slur ends, line ends).
enum Last : std::uint8_t {
  kLastNone,    // nothing yet on this line
  kLastNote,    // a note or chord (a tie, broken rhythm or ')' may follow)
  kLastRest,
  kLastRParen,  // ')' after a note
  kLastTie,
  kLastBar,
  kLastSpace,
  kLastLParen,  // '(' opening a slur
  kLastDeco,    // !decoration!
  kLastGrace,   // {grace notes}
  kLastZ,       // Z (a multi-bar rest may give its count)
  kLastOther,
};

// State::flags
constexpr std::uint32_t kTie = 1;         // a tie waits for its note
constexpr std::uint32_t kNeed = 2;        // a note must come next (after > < . ~)
constexpr std::uint32_t kCont = 4;        // this line continues the previous (after '\')
constexpr std::uint32_t kAfterBar = 8;    // a bar line, then only spaces or line ends: [1 may follow
constexpr std::uint32_t kHasNote = 16;    // the tune has a note or rest
constexpr std::uint32_t kBody = 32;       // past the K: line
constexpr std::uint32_t kInline = 64;     // reading an inline field [X:...]
constexpr std::uint32_t kSeenM = 128;     // M: in the header
constexpr std::uint32_t kSeenL = 256;     // L: given
constexpr std::uint32_t kHeaderP = 512;   // P: in the header
constexpr std::uint32_t kLastChord = 1024;  // the last element was a chord (no tie after it)
constexpr std::uint32_t kFreeMeter = 2048;  // the header's meter is free (M:none or no M:)
// Parts or voices: abc2midi then plays each part or voice through without its repeat
// patching, so ":: after :|" and "[1 after :|" are not errors there.
constexpr std::uint32_t kPartsOrVoices = 4096;
constexpr std::uint32_t kLastTupNote = 1u << 13;  // the last element was a tuplet's
constexpr std::uint32_t kNoteNow = 1u << 14;      // after '.': a note or chord right now
constexpr std::uint32_t kRollNow = 1u << 15;      // after '~': a note right now
constexpr std::uint32_t kGracePending = 1u << 16;  // grace notes wait for their note
constexpr std::uint32_t kLineLetter = 1u << 17;    // the line's first character was a letter
constexpr std::uint32_t kLastBroken = 1u << 18;    // the last element ended a broken rhythm (a>b)
constexpr std::uint32_t kNeedVoice = 1u << 19;     // the header names voices: the body starts with one
constexpr std::uint32_t kTrill = 1u << 23;         // !trill! waits for its note (abc2midi: not a chord)
constexpr std::uint32_t kGraceBroken = 1u << 24;   // a>{g}: b comes right away, undecorated
constexpr std::uint32_t kLastRestEl = 1u << 25;    // the last element was a rest
constexpr std::uint32_t kBrkFree = 1u << 26;       // a>b with a chord a: abc2midi checks nothing
constexpr int kMaxSampledSpaces = 2;
constexpr std::uint32_t kSeenR = 1u << 27;         // R: in the header
constexpr std::uint32_t kHornpipe = 1u << 28;      // R:hornpipe: the meter must be 2/4 or 4/4 (abc2midi)

// Voice::flags. Repeats: before any repeat sign a voice is at its start, where abc2midi
// assumes a |: (so :: and [1 may come); |: and :: open a repeat (repeat_bar_line); :|
// closes it, and until the next |: neither :: nor (before the tune's first ending) [1 may
// come: abc2midi reports "found :: before |:" and "found [1 or like before |:".
constexpr std::uint8_t kVFirst = 1;          // no bar measured yet: the next may be a pickup
constexpr std::uint8_t kVAfterBoundary = 2;  // the bar after a section boundary: may be short
constexpr std::uint8_t kVRepOpen = 4;        // a |: is open (repeat_bar_line)
constexpr std::uint8_t kVClosed = 8;         // a :| closed the last repeat, no |: since
constexpr std::uint8_t kVInE1 = 16;          // inside a first ending: runs until :|
constexpr std::uint8_t kVE2Ok = 32;          // a :| just closed a first ending: [2 may start
constexpr std::uint8_t kVInE2 = 64;          // inside a second ending: until the next || |: :| ::
constexpr std::uint8_t kVPlayed = 128;       // an ending has been seen

// kBar shape bits (State::sub)
constexpr std::uint8_t kTokLeadMask = 3;   // colons before the first '|': 0, 1, 2 (::)
constexpr std::uint8_t kTokPipe1 = 4;      // pipes: 1 or 2 (bits 2-3)
constexpr std::uint8_t kTokPipeMask = 12;
constexpr std::uint8_t kTokThickStart = 16;  // [|
constexpr std::uint8_t kTokThickEnd = 32;    // |]
constexpr std::uint8_t kTokTrail = 64;       // |:

// State::elem: where a note is being read, and its letter's case.
constexpr std::uint8_t kCtxMain = 0, kCtxChord = 1, kCtxGrace = 2, kCtxMask = 3;
constexpr std::uint8_t kElemLower = 4, kElemUpper = 8, kElemRest = 16;
// State::ebits: what the element being read (note, rest or chord) owes.
constexpr std::uint8_t kElemTied = 1;      // a tie goes to it: same letter, octave, accidental
constexpr std::uint8_t kElemInTuplet = 2;  // it is a tuplet's
constexpr std::uint8_t kElemBroken = 4;    // a>b: its length must be brk_v8 (abc2midi)
constexpr std::uint8_t kElemSecond = 8;    // it is the b of a>b (so no b>c: abc2midi)

// State::mods: what decorates the next element. abc2midi shortens or lengthens a note for
// a staccato, a fermata or a breath, so both sides of a>b need the same ones; and it ties
// no note that has one of them or a roll.
constexpr std::uint8_t kModDot = 1, kModFermata = 2, kModBreath = 4, kModRoll = 8;
constexpr std::uint8_t kModDotLost = 16;  // .( : abc2midi drops that staccato; no second one
constexpr std::uint8_t kModDur = kModDot | kModFermata | kModBreath;
// a>b in abc2midi: a and b need the same staccato, fermata and breath, and when a is a
// rolled note of length 3 or a rolled staccato, b needs a roll too (abc2midi plays those
// as figures: ~G3>g3 and .~G>.g are errors, ~G>g and ~G3>~g3 are not).
constexpr bool broken_mods_ok(std::uint8_t first, std::uint8_t second) {
  return (first & kModDur) == (second & kModDur) && (!(first & kModRoll) || (second & kModRoll));
}

constexpr int kMaxText = 100;        // characters of a free-text field value
constexpr int kMaxAnnotation = 40;   // characters of an annotation
constexpr int kMaxChordNotes = 6;
constexpr int kMaxGraceNotes = 8;
constexpr int kMaxSlurDepth = 3;

constexpr bool is_note_letter(char c) { return (c >= 'A' && c <= 'G') || (c >= 'a' && c <= 'g'); }
constexpr bool is_accidental(char c) { return c == '^' || c == '_' || c == '='; }
constexpr std::uint8_t accidental_sub(char c) { return c == '^' ? 1 : c == '_' ? 3 : 5; }
constexpr std::uint8_t letter_case(char c) { return c >= 'a' ? kElemLower : kElemUpper; }
constexpr bool is_text_char(char c) { return c >= 0x20 && c < 0x7f && c != '%'; }

}  // namespace

struct AbcGrammarImpl {
  using State = AbcGrammar::State;
  using Voice = AbcGrammar::Voice;
  static_assert(std::is_trivially_copyable<State>::value, "allows() copies the state");

  // ---- dictionaries ----
  static void dict_start(State& s, DictId d) {
    s.dict = d;
    s.dict_pos = 0;
    const int n = kDicts[d].n;
    s.dict_mask = n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
  }
  static bool dict_step(State& s, char c) {
    const Dict& d = kDicts[s.dict];
    std::uint64_t left = 0;
    const char cc = d.fold ? lower(c) : c;
    for (std::uint64_t m = s.dict_mask; m; m &= m - 1) {
      const int i = __builtin_ctzll(m);
      const char w = d.words[i][s.dict_pos];
      if ((d.fold ? lower(w) : w) == cc && w != '\0') left |= std::uint64_t{1} << i;
    }
    if (!left) return false;
    s.dict_mask = left;
    ++s.dict_pos;
    return true;
  }
  // The word the dictionary has read completely, or -1.
  static int dict_word(const State& s) {
    const Dict& d = kDicts[s.dict];
    for (std::uint64_t m = s.dict_mask; m; m &= m - 1) {
      const int i = __builtin_ctzll(m);
      if (d.words[i][s.dict_pos] == '\0') return i;
    }
    return -1;
  }

  // ---- durations ----
  static Voice& voice(State& s) { return s.voice[s.cur_voice]; }
  static const Voice& voice(const State& s) { return s.voice[s.cur_voice]; }
  static bool metered(const State& s) { return s.enforce && s.bar_ticks > 0; }
  // v8 eighths of the unit, times num/den (exact: see kWhole).
  static i64 ticks(const State& s, int v8, int num, int den) { return s.unit_ticks / 8 * v8 * num / den; }
  // The least the tuplet notes still to come take.
  static i64 reserve(const State& s) { return s.tup_left ? s.tup_left * ticks(s, 1, s.tup_q, s.tup_p) : 0; }
  static bool fits(const State& s, i64 add) { return !metered(s) || voice(s).pos + add <= s.bar_ticks; }
  static bool broken_pending(const State& s) { return s.brk_num != 1 || s.brk_den != 1; }

  // Whether a note could start here and fit in the bar (after a>, one of a's length).
  static bool can_begin(const State& s) {
    const int v8 = broken_pending(s) && s.brk_v8 ? s.brk_v8 : kTrie.min[0];
    int num = s.brk_num, den = s.brk_den;
    i64 after = 0;
    if (s.tup_left) {
      num *= s.tup_q;
      den *= s.tup_p;
      after = (s.tup_left - 1) * ticks(s, 1, s.tup_q, s.tup_p);
    }
    return fits(s, ticks(s, v8, num, den) + after);
  }

  enum Kind { kNoteKind, kRestKind, kChordKind };
  // A note, rest or chord starts: it takes the broken rhythm and tuplet factors.
  static bool begin_element(State& s, Kind kind) {
    std::uint8_t bits = 0;
    if (s.flags & kTie) {
      // abc2midi ties a note to a note of the same pitch: no rest, no chord.
      if (kind != kNoteKind) return false;
      bits |= kElemTied;
    }
    if (kind != kNoteKind && (s.flags & kTrill)) return false;  // abc2midi: a trill on a chord or rest fails
    if (!can_begin(s)) return false;
    int num = s.brk_num, den = s.brk_den;
    if (broken_pending(s) && !(s.flags & kBrkFree) && kind != kChordKind) {
      // abc2midi compares a>b when neither is a chord: one length, the same decorations
      // that change a length (a rest keeps only its fermata)
      if (kind == kRestKind ? ((s.mods & kModFermata) != (s.brk_mods & kModDur) || (s.brk_mods & kModRoll))
                            : !broken_mods_ok(s.brk_mods, s.mods)) {
        return false;
      }
      bits |= kElemBroken;
    }
    if (broken_pending(s)) bits |= kElemSecond;
    s.flags &= ~kBrkFree;
    s.last_mods = s.mods;
    s.mods = 0;
    s.brk_num = s.brk_den = 1;
    s.brk_n = 0;
    if (s.tup_left) {
      num *= s.tup_q;
      den *= s.tup_p;
      --s.tup_left;
      bits |= kElemInTuplet;
    }
    s.ebits = bits;
    s.elem_num = static_cast<std::uint8_t>(num);
    s.elem_den = static_cast<std::uint8_t>(den);
    s.flags = (s.flags & ~(kTie | kNeed | kAfterBar | kNoteNow | kRollNow | kGracePending | kGraceBroken)) | kHasNote;
    if (kind == kNoteKind) s.flags &= ~kTrill;
    voice(s).flags &= ~kVE2Ok;
    return true;
  }
  // Whether the element's length may go on to trie node `node` and still fit.
  static bool element_fits(const State& s, int node) {
    if ((s.ebits & kElemBroken) && !(kTrie.can[node] & value_bit(s.brk_v8))) return false;
    const int v8 = (s.ebits & kElemBroken) ? s.brk_v8 : kTrie.min[node];
    return fits(s, ticks(s, v8, s.elem_num, s.elem_den) + reserve(s));
  }
  // The element is complete: v8 eighths of the unit.
  static bool finish_element(State& s, int v8, Kind kind) {
    if ((s.ebits & kElemBroken) && v8 != s.brk_v8) return false;
    const i64 d = ticks(s, v8, s.elem_num, s.elem_den);
    if (!fits(s, d + reserve(s))) return false;
    voice(s).pos += d;
    s.last_dur = d;
    s.last_v8 = static_cast<std::uint8_t>(v8);
    s.flags &= ~(kLastChord | kLastRestEl | kLastTupNote | kLastBroken);
    if (kind == kChordKind) s.flags |= kLastChord;
    if (kind == kRestKind) s.flags |= kLastRestEl;
    if (s.ebits & kElemSecond) s.flags |= kLastBroken;
    if (s.ebits & kElemInTuplet) s.flags |= kLastTupNote;
    return true;
  }
  // A tied-to note: its accidental so far (kAcc's sub, 0: none) must lead to the tied one's.
  static bool tie_acc_ok(const State& s, int sub) {
    if (!(s.ebits & kElemTied)) return true;
    return s.tie_acc == sub || (sub == 1 && s.tie_acc == 2) || (sub == 3 && s.tie_acc == 4);
  }

  // ---- bars ----
  // A bar ends (a bar line, a P: part change): measure it by the bar rule.
  static bool measure_bar(State& s, bool boundary) {
    Voice& v = voice(s);
    if (v.pos != 0) {
      if (s.bar_ticks > 0) {
        const bool ok = v.pos == s.bar_ticks ||
                        (v.pos < s.bar_ticks && (boundary || (v.flags & (kVFirst | kVAfterBoundary))));
        if (!ok) {
          if (s.enforce) return false;
          ++s.off;
        }
        ++s.bars;
      }
      v.flags &= ~(kVFirst | kVAfterBoundary);
      v.pos = 0;
    }
    if (boundary) v.flags |= kVAfterBoundary;
    return true;
  }

  static bool bar_ok(const State& s) {
    return !(s.flags & kNeed) && !s.tup_left && s.last != kLastLParen && s.last != kLastBar;
  }
  // A tie crosses only a plain bar line (abc2midi loses it over repeats).
  static bool bar_tie_ok(const State& s) {
    if (!(s.flags & kTie)) return true;
    if (voice(s).pos == 0) return false;  // one bar line at most between the tied notes
    const int lead = s.sub & kTokLeadMask;
    const int pipes = (s.sub & kTokPipeMask) >> 2;
    return lead == 0 && pipes == 1 && !(s.sub & (kTokThickStart | kTokThickEnd | kTokTrail));
  }

  static bool finish_bar(State& s) {
    const int lead = s.sub & kTokLeadMask;
    const int pipes = (s.sub & kTokPipeMask) >> 2;
    const bool closes = lead >= 1;
    const bool opens = (s.sub & kTokTrail) || lead == 2;
    const bool plain = !closes && !opens && !(s.sub & (kTokThickStart | kTokThickEnd)) && pipes == 1;
    if (lead == 1 && pipes == 0) return false;  // a lone ':'
    Voice& v = voice(s);
    if (closes && opens && (v.flags & kVClosed) && !(s.flags & kPartsOrVoices)) return false;  // :: after :|
    // The sampler's style: no || or |] while a |: is open. Real tunes do it now and then; a
    // drawn tune that does can go on for ever without the :| that abc2midi wants at its end.
    if (s.enforce && !plain && !closes && !opens && (v.flags & kVRepOpen)) return false;
    bool open = v.flags & kVRepOpen;
    if (!repeat_bar_line(&open, closes, opens)) return false;
    v.flags = static_cast<std::uint8_t>(open ? v.flags | kVRepOpen : v.flags & ~kVRepOpen);
    if (opens) {
      v.flags &= ~kVClosed;
    } else if (closes) {
      v.flags |= kVClosed;
    }
    // A bar line right after another (the previous line ended with one) changes nothing:
    // :|\n|2 is :|2.
    if (plain && voice(s).pos == 0) {
      s.last = kLastBar;
      s.flags |= kAfterBar;
      return true;
    }
    v.flags &= ~kVE2Ok;
    if (v.flags & kVInE1) {
      if (!plain && !closes) return false;  // a first ending runs until its :|
      if (closes) {
        v.flags &= ~kVInE1;
        if (!opens) v.flags |= kVE2Ok;
      }
    } else if ((v.flags & kVInE2) && !plain) {
      v.flags &= ~kVInE2;
    }
    if (!measure_bar(s, !plain)) return false;
    s.last = kLastBar;
    s.flags |= kAfterBar;
    return true;
  }

  // c continues the bar line token (|| |] |: :| :: [|: ...): the new shape; false when c
  // is not part of it. An ending digit (|1 :|2) ends the bar line and starts the ending.
  static bool bar_extend(State& s, char c) {
    const int lead = s.sub & kTokLeadMask;
    const int pipes = (s.sub & kTokPipeMask) >> 2;
    const bool thick = s.sub & (kTokThickStart | kTokThickEnd);
    const bool trail = s.sub & kTokTrail;
    if (lead == 1 && pipes == 0) {
      if (c == ':') {
        s.sub = static_cast<std::uint8_t>((s.sub & ~kTokLeadMask) | 2);  // ::
        return true;
      }
      if (c == '|') {
        s.sub |= kTokPipe1;
        return true;
      }
      return false;
    }
    if (lead == 2 || pipes == 0) return false;
    if (c == '|' && pipes == 1 && !thick && !trail) {
      s.sub = static_cast<std::uint8_t>((s.sub & ~kTokPipeMask) | (2 << 2));
      return true;
    }
    // abc2midi reads :|: as :| and ||: as ||, each with a stray ':'
    if (c == ':' && !trail && !(s.sub & kTokThickEnd) && !(lead == 1 && pipes == 1) && !(lead == 0 && pipes == 2)) {
      s.sub |= kTokTrail;
      return true;
    }
    if (c == ']' && pipes == 1 && !thick && !trail) {
      s.sub |= kTokThickEnd;
      return true;
    }
    if ((c == '1' || c == '2') && pipes == 1 && !thick && !trail) {  // |1 :|2 (no tie into an ending)
      if ((s.flags & kTie) || !finish_bar(s) || !start_ending(s, c - '0')) return false;
      s.mode = kMusic;
      return true;
    }
    return false;
  }

  // Whether the bar line being read can end well, now or after a few more characters.
  static bool bar_can_finish(const State& s, int depth) {
    State t = s;
    if (bar_tie_ok(t) && finish_bar(t)) return true;
    if (depth == 0) return false;
    for (const char c : {'|', ':', ']', '1', '2'}) {
      State u = s;
      if (bar_extend(u, c) && (u.mode != kBar || bar_can_finish(u, depth - 1))) return true;
    }
    return false;
  }

  static bool start_ending(State& s, int n) {
    Voice& v = voice(s);
    if (n == 1) {
      if ((v.flags & kVClosed) && !(v.flags & kVPlayed) && !(s.flags & kPartsOrVoices)) return false;
      if (v.flags & (kVInE1 | kVInE2)) return false;
      v.flags |= kVInE1 | kVPlayed;
    } else {
      if (!(v.flags & kVE2Ok)) return false;
      v.flags = static_cast<std::uint8_t>((v.flags & ~kVE2Ok) | kVInE2);
    }
    s.flags &= ~kAfterBar;
    s.last = kLastBar;
    return true;
  }

  // A body P: field: a section boundary; repeats and endings must be closed.
  static bool part_ok(const State& s) {
    return !(voice(s).flags & (kVRepOpen | kVInE1)) && !(s.flags & kTie) &&
           (s.parts_defined & 0x3ffffffu) != 0x3ffffffu;
  }

  // M: changes the meter of every voice: only where no voice is inside a bar.
  static bool meter_change_ok(const State& s) {
    if (!s.enforce) return true;  // (from free meter too: the new meter measures the bar)
    for (const Voice& v : s.voice) {
      if (v.pos != 0) return false;
    }
    return true;
  }

  // The decorations that may come here.
  static std::uint64_t deco_mask(const State& s) {
    std::uint64_t m = ~std::uint64_t{0};
    if (s.flags & kTie) m &= ~kOrnaments;
    // (abc2midi shortens a note once per breath or fermata: one of each)
    if (s.mods & kModFermata) m &= ~(std::uint64_t{1} << kDecoFermata);
    if (s.mods & kModBreath) m &= ~(std::uint64_t{1} << kDecoBreath);
    if (broken_pending(s) && !(s.flags & kBrkFree)) {
      // a>b: b takes only the fermata or breath that a has (abc2midi changes b's length
      // for them, and fails on more: !breath!C<!trill!!breath!c)
      std::uint64_t keep = 0;
      if (s.brk_mods & kModFermata) keep |= std::uint64_t{1} << kDecoFermata;
      if (s.brk_mods & kModBreath) keep |= std::uint64_t{1} << kDecoBreath;
      m &= keep;
    }
    return m;
  }

  static bool line_end_ok(const State& s) {
    return s.last != kLastNone && !(s.flags & kNeed) && !s.tup_left && s.last != kLastLParen && s.last != kLastDeco;
  }

  static int default_q(const State& s, int p) {
    switch (p) {
      case 2: case 4: case 8: return 3;
      case 3: case 6: return 2;
      default: return (s.bar_ticks > 0 && s.meter_num % 3 == 0 && s.meter_num > 3) ? 3 : 2;
    }
  }

  // ---- fields ----
  static bool at_terminator(const State& s, char c) { return (s.flags & kInline) ? c == ']' : c == '\n'; }

  // The kMeterWords index of the current meter (-1 for none matched).
  static int meter_word(const State& s) {
    for (int w = 0; w < static_cast<int>(sizeof(kMeterNum)); ++w) {
      if (kMeterNum[w] == s.meter_num && kMeterDen[w] == s.meter_den) return w;
    }
    return -1;
  }

  static void set_meter(State& s, int word) {
    s.meter_num = kMeterNum[word];
    s.meter_den = kMeterDen[word];
    s.bar_ticks = s.meter_den ? kWhole * s.meter_num / s.meter_den : 0;
  }

  static void end_header(State& s) {
    if (!(s.flags & kSeenM)) s.bar_ticks = 0;  // no M: free meter (ABC 2.1)
    if (s.bar_ticks == 0) s.flags |= kFreeMeter;
    if (!(s.flags & kSeenL)) {
      // ABC 2.1: 1/16 when the meter is below 3/4, else 1/8 (free meter: 1/8).
      const bool small = s.bar_ticks > 0 && 4 * s.meter_num < 3 * s.meter_den;
      s.unit_ticks = kWhole / (small ? 16 : 8);
    }
    s.flags |= kBody;
    if (s.nvoices) s.flags |= kNeedVoice;
    s.mode = kLineStart;
    s.last = kLastNone;
  }

  // The value of the field is complete (at its terminator): apply it, go on.
  static bool finish_field(State& s) {
    const bool body = s.flags & kBody;
    switch (s.field) {
      case 'M': {
        const int w = dict_word(s);
        set_meter(s, w);
        if (!body) s.flags |= kSeenM;
        break;
      }
      case 'R':
        if (dict_word(s) == kRhythmHornpipe) s.flags |= kHornpipe;
        break;
      case 'L': {
        const int w = dict_word(s);
        s.unit_ticks = kWhole >> w;  // kUnitWords: 1/1, 1/2, .. 1/64
        s.flags |= kSeenL;
        break;
      }
      case 'P':
        if (!body) s.flags |= kPartsOrVoices;  // abc2midi plays the parts of P:ABA one by one
        if (body && !measure_bar(s, true)) return false;  // a part change ends a section
        if (body && (s.flags & kHeaderP)) voice(s).flags &= ~kVClosed;  // each part's repeats afresh
        break;
      case 'V':
        s.flags |= kPartsOrVoices;
        if (s.count > s.nvoices) s.nvoices = static_cast<std::uint8_t>(s.count);
        if (body) {
          if (s.flags & (kTie | kGracePending)) return false;
          s.flags &= ~kNeedVoice;
          s.cur_voice = static_cast<std::uint8_t>(s.count - 1);
        }
        break;
      default:
        break;
    }
    if (s.flags & kInline) {
      s.flags &= ~kInline;
      s.mode = kMusic;
      s.last = kLastOther;
    } else if (body) {
      s.mode = kLineStart;
      s.last = kLastNone;
    } else if (s.field == 'K') {
      end_header(s);
    } else {
      s.mode = kHeaderLine;
    }
    return true;
  }

  // The value of field s.field starts with c (after the optional space).
  static bool start_value(State& s, char c, bool lead_space) {
    s.count = 0;
    s.sub = 0;
    switch (s.field) {
      case 'X': s.mode = kValX; break;
      case 'T': case 'C': case 'W': case 'w':
        s.mode = kValText;
        s.sub = lead_space;
        break;
      case 'M':
        dict_start(s, kDictMeter);
        if (s.flags & kHornpipe) s.dict_mask &= kHornpipeMeters;
        s.mode = kValDict;
        break;
      case 'R':
        dict_start(s, kDictRhythm);
        // After M:, a hornpipe only where abc2midi plays one.
        if ((s.flags & kSeenM) && (meter_word(s) < 0 || !((kHornpipeMeters >> meter_word(s)) & 1))) {
          s.dict_mask &= ~(std::uint64_t{1} << kRhythmHornpipe);
        }
        s.mode = kValDict;
        break;
      case 'L': dict_start(s, kDictUnit); s.mode = kValDict; break;
      case 'K': s.mode = kValKey; break;
      case 'Q': s.mode = kValTempo; break;
      case 'P': s.mode = (s.flags & kBody) ? kValPart : kValParts; break;
      case 'V': s.mode = kValVoice; break;
      case 'U': s.mode = kValU; break;
      default: return false;
    }
    return step(s, c);
  }

  // ---- the transition function ----
  static bool step(State& s, char c) {
    if (c != '\n' && (c < 0x20 || c >= 0x7f)) return false;
    if (s.flags & kLineLetter) {  // the second character of a music line
      if (c == ':') return false;
      s.flags &= ~kLineLetter;
    }
    for (;;) {
      switch (s.mode) {
        case kStartX:
          if (s.sub == 0 && c == 'X') {
            s.sub = 1;
            return true;
          }
          if (s.sub == 1 && c == ':') {
            s.field = 'X';
            s.mode = kValueLead;
            s.sub = 0;
            return true;
          }
          return false;

        case kHeaderLine:
          if (!std::strchr("TCRMLQPVUWK", c) || c == '\0') return false;
          if (c == 'R') {  // the rhythm label, once
            if (s.flags & kSeenR) return false;
            s.flags |= kSeenR;
          }
          if (c == 'K' && s.enforce && !(s.flags & kSeenM)) return false;  // M: is required
          if (c == 'P') {
            // P:ABA (the order of the parts): read, but with the meter enforced (the
            // sampler) not offered: abc2midi then assembles the parts and a broken rhythm,
            // tie or repeat that crosses a part's edge fails in ways this automaton does
            // not model.
            if ((s.flags & kHeaderP) || s.enforce) return false;
            s.flags |= kHeaderP;
          }
          // Voices: the syntax layer reads them (the corpus has a few two- and three-voice
          // tunes); with the meter enforced (the sampler) none are offered, abc2midi's voice
          // handling (renumbering, repeats and parts per voice) being beyond this automaton.
          if (c == 'V' && (s.enforce || s.nvoices >= AbcGrammar::kMaxVoices)) return false;
          s.field = static_cast<std::uint8_t>(c);
          s.mode = kFieldColon;
          return true;

        case kFieldColon:
          if (c != ':') return false;
          s.mode = kValueLead;
          s.sub = 0;
          return true;

        case kValueLead:
          if (c == ' ' && s.sub == 0) {
            s.sub = 1;
            return true;
          }
          return start_value(s, c, s.sub == 1);

        case kValX:
          if (at_terminator(s, c)) return s.count > 0 && finish_field(s);
          if (c < '0' || c > '9' || (c == '0' && s.count == 0) || s.count >= 6) return false;
          ++s.count;
          return true;

        case kValText:
          // No trailing space or '\' (the corpus strips spaces; abc2midi would join the next
          // line), and no ':' or '|' first (abc2midi reads "W:|..." as music).
          if (c == '\n') return !(s.sub & 1) && finish_field(s);
          if (!is_text_char(c) || s.count >= kMaxText) return false;
          if (s.count == 0 && (c == ':' || c == '|')) return false;
          if ((c == ' ' || c == '\\') && s.count + 1 >= kMaxText) return false;  // not last at the cap
          ++s.count;
          s.sub = c == ' ' || c == '\\';
          return true;

        case kValDict:
          if (at_terminator(s, c) && dict_word(s) >= 0) return finish_field(s);
          return dict_step(s, c);

        case kValKey:
          if (s.sub == 0) {
            if (c >= 'A' && c <= 'G') {
              s.sub = 1;
              return true;
            }
            if (c == 'n' || c == 'H') {
              dict_start(s, kDictKeySpecial);
              s.mode = kValDict;
              continue;
            }
            return false;
          }
          if (s.sub == 1 && (c == '#' || c == 'b')) {
            s.sub = 2;
            return true;
          }
          if (s.sub <= 2) {
            if (at_terminator(s, c)) return finish_field(s);
            if (c == ' ') {
              s.sub = 3;
              return true;
            }
          }
          dict_start(s, kDictMode);
          s.mode = kValDict;
          continue;

        case kValTempo:
          return tempo_step(s, c);

        case kValParts:  // P:ABA in the header: the parts to play, at least two
          if (at_terminator(s, c)) return s.count >= 2 && finish_field(s);
          if (c < 'A' || c > 'Z' || s.count >= 6) return false;  // the corpus: ABA .. ABCDA
          s.parts_wanted |= 1u << (c - 'A');
          ++s.count;
          return true;

        case kValPart:  // P:A (or a word: P:Chos.) in the body: a part's label, once
          if (s.sub == 0) {
            if (c < 'A' || c > 'Z' || (s.parts_defined & (1u << (c - 'A')))) return false;
            s.parts_defined |= 1u << (c - 'A');
            s.sub = 1;
            return true;
          }
          if (at_terminator(s, c)) return finish_field(s);
          if (!((c >= 'a' && c <= 'z') || c == '.') || s.count >= 12) return false;
          ++s.count;
          return true;

        case kValVoice:  // voices come in order: V:1, then V:2 ... (abc2midi renumbers others)
          if (s.sub == 0) {
            if (c < '1' || c > '0' + AbcGrammar::kMaxVoices) return false;
            if (c - '0' > s.nvoices + 1 || (!(s.flags & kBody) && c - '0' != s.nvoices + 1)) return false;
            s.count = static_cast<std::uint16_t>(c - '0');
            s.sub = 1;
            return true;
          }
          if (!(s.flags & kBody)) {  // the header may name a voice's merge
            dict_start(s, kDictVoiceTail);
            s.mode = kValDict;
            continue;
          }
          return at_terminator(s, c) && finish_field(s);

        case kValU:  // U:T=!trill!
          switch (s.sub) {
            case 0:
              if (!std::strchr("HIJKLMNOPQRSTUVWhijklmnopqrstuvw~", c) || c == '\0') return false;
              s.sub = 1;
              return true;
            case 1:
              if (c != '=') return false;
              s.sub = 2;
              return true;
            case 2:
              if (c != '!') return false;
              dict_start(s, kDictDeco);
              s.sub = 3;
              return true;
            case 3:
              if (c == '!' && dict_word(s) >= 0) {
                s.sub = 4;
                return true;
              }
              return dict_step(s, c);
            default:
              return at_terminator(s, c) && finish_field(s);
          }

        case kLineStart:
          if (!(s.flags & (kCont | kGracePending | kTie)) && std::strchr("KMLPQTWwV", c) && c != '\0' &&
              !(c == 'V' && s.enforce)) {
            if (c == 'M' && !meter_change_ok(s)) return false;  // a meter changes between bars
            if (c == 'P' && !part_ok(s)) return false;
            if (c == 'V' && (s.flags & kTie)) return false;
            s.field = static_cast<std::uint8_t>(c);
            s.mode = kFieldColon;
            return true;
          }
          if (c == '\n' || c == ' ') return false;  // no blank lines, no indentation
          if ((s.flags & kNeedVoice) && c != '[') return false;
          s.flags &= ~kCont;
          s.mode = kMusic;
          s.last = kLastNone;
          if (!music_step(s, c)) return false;
          // abc2midi reads a line "E:..." as a field: a letter then ':' starts no music line.
          if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) s.flags |= kLineLetter;
          return true;

        case kMusic:
          return music_step(s, c);

        case kAcc: {
          const bool main = (s.elem & kCtxMask) == kCtxMain;
          if ((c == '^' && s.sub == 1) || (c == '_' && s.sub == 3)) {
            if (main && (s.ebits & kElemTied) && s.tie_acc != s.sub + 1) return false;
            ++s.sub;
            return true;
          }
          if (!is_note_letter(c)) return false;
          if (main) {
            if ((s.ebits & kElemTied) && (s.tie_acc != s.sub || c != s.tie_letter)) return false;
            s.note_letter = static_cast<std::uint8_t>(c);
            s.note_acc = s.sub;
          }
          s.elem = static_cast<std::uint8_t>((s.elem & kCtxMask) | letter_case(c));
          s.node = 0;
          s.octaves = 0;
          s.mode = kNoteLen;
          return true;
        }

        case kNoteLen: {
          const int ctx = s.elem & kCtxMask;
          const bool tied = ctx == kCtxMain && (s.ebits & kElemTied);
          if (s.node == 0 && s.octaves < 2 &&
              ((c == '\'' && (s.elem & kElemLower)) || (c == ',' && (s.elem & kElemUpper)))) {
            if (tied && s.octaves >= s.tie_octaves) return false;
            ++s.octaves;
            return true;
          }
          const int k = length_class(c);
          if (k >= 0 && kTrie.next[s.node][k] >= 0) {
            const int child = kTrie.next[s.node][k];
            if (tied && s.octaves != s.tie_octaves) return false;
            if ((ctx == kCtxMain || (ctx == kCtxChord && s.chord_n == 0)) && !element_fits(s, child)) return false;
            s.node = static_cast<std::uint8_t>(child);
            return true;
          }
          if (ctx == kCtxMain) {
            if ((s.ebits & kElemTied) && s.octaves != s.tie_octaves) return false;
            if (!finish_element(s, kTrie.value[s.node], (s.elem & kElemRest) ? kRestKind : kNoteKind)) return false;
            s.last = (s.elem & kElemRest) ? kLastRest : kLastNote;
            s.mode = kMusic;
          } else if (ctx == kCtxChord) {
            if (s.chord_n == 0) {  // the first note gives the chord its length
              if (s.node) {
                const int v8 = kTrie.value[s.node];
                if ((s.ebits & kElemBroken) && v8 != s.brk_v8) return false;
                if (!fits(s, ticks(s, v8, s.elem_num, s.elem_den) + reserve(s))) return false;
              }
              s.chord_v8 = s.node ? kTrie.value[s.node] : 0;
            }
            ++s.chord_n;
            s.mode = kChord;
            s.sub = 1;
          } else {
            ++s.grace_n;
            s.mode = kGrace;
            s.sub = 1;
          }
          continue;
        }

        case kChord:
          if (c == ']') {
            if (s.chord_n == 0 || s.sub == 3) return false;
            if (s.chord_v8 == 0) {  // [CEG]2: the chord's own length
              s.mode = kChordOuter;
              s.node = 0;
              return true;
            }
            if (!finish_element(s, s.chord_v8, kChordKind)) return false;
            s.last = kLastNote;
            s.mode = kMusic;
            return true;
          }
          if (c == '(' && s.sub != 3 && s.chord_n > 0 && s.chord_n < kMaxChordNotes && s.slur < kMaxSlurDepth) {
            ++s.slur;
            s.sub = 3;  // a note must follow
            return true;
          }
          if (s.chord_n >= kMaxChordNotes) return false;
          if (is_accidental(c)) {
            s.elem = kCtxChord;
            s.mode = kAcc;
            s.sub = accidental_sub(c);
            return true;
          }
          if (is_note_letter(c)) {
            s.elem = static_cast<std::uint8_t>(kCtxChord | letter_case(c));
            s.node = 0;
            s.octaves = 0;
            s.mode = kNoteLen;
            return true;
          }
          return false;

        case kChordOuter: {
          const int k = length_class(c);
          if (k >= 0 && kTrie.next[s.node][k] >= 0) {
            const int child = kTrie.next[s.node][k];
            if (!element_fits(s, child)) return false;
            s.node = static_cast<std::uint8_t>(child);
            return true;
          }
          if (!finish_element(s, kTrie.value[s.node], kChordKind)) return false;
          s.last = kLastNote;
          s.mode = kMusic;
          continue;
        }

        case kGrace:
          if (c == '/' && s.sub == 0) {
            s.sub = 3;
            return true;
          }
          if (c == '}') {
            if (s.grace_n == 0) return false;
            s.mode = kMusic;
            s.last = kLastGrace;
            s.flags |= kGracePending;  // abc2midi: grace notes need a note after them
            if (broken_pending(s)) s.flags |= kGraceBroken;
            return true;
          }
          if (s.grace_n >= kMaxGraceNotes) return false;
          if (is_accidental(c)) {
            s.elem = kCtxGrace;
            s.mode = kAcc;
            s.sub = accidental_sub(c);
            return true;
          }
          if (is_note_letter(c)) {
            s.elem = static_cast<std::uint8_t>(kCtxGrace | letter_case(c));
            s.node = 0;
            s.octaves = 0;
            s.mode = kNoteLen;
            return true;
          }
          return false;

        case kQuote:
          return quote_step(s, c);

        case kBang:
          if (c == '\n') {  // a lone '!' ending a line: an old line-break mark
            if (!line_end_ok(s)) return false;
            s.mode = kLineStart;
            s.last = kLastNone;
            return true;
          }
          dict_start(s, kDictDeco);
          s.dict_mask &= deco_mask(s);
          s.mode = kDeco;
          return dict_step(s, c);

        case kDeco:
          if (c == '!' && dict_word(s) >= 0) {
            const int w = dict_word(s);
            if (w == kDecoTrill) s.flags |= kTrill;
            if (w == kDecoFermata) s.mods |= kModFermata;
            if (w == kDecoBreath) s.mods |= kModBreath;
            s.mode = kMusic;
            s.last = kLastDeco;
            return true;
          }
          return dict_step(s, c);

        case kParen:
          if (s.flags & kNoteNow) {  // abc2midi: .(a has no staccato on a
            s.mods = static_cast<std::uint8_t>((s.mods & ~kModDot) | kModDotLost);
          }
          if (c >= '2' && c <= '9') {  // a tuplet (p
            if (s.tup_left || broken_pending(s) || (s.flags & kNoteNow)) return false;
            s.tup_p = static_cast<std::uint8_t>(c - '0');
            s.tup_q = 1;
            if (!fits(s, ticks(s, 1, 1, s.tup_p))) return false;  // "(p:1:1" at least
            s.tup_q = static_cast<std::uint8_t>(default_q(s, s.tup_p));
            s.mode = kTuplet;
            s.sub = 0;
            return true;
          }
          if (s.slur >= kMaxSlurDepth) return false;
          ++s.slur;
          s.last = kLastLParen;
          s.mode = kMusic;
          continue;

        case kTuplet:
          switch (s.sub) {
            case 0:  // (p
            case 2:  // (p:q
              if (c == ':') {
                if (s.sub == 0) {
                  s.sub = 1;
                  return fits(s, ticks(s, 1, 1, s.tup_p));
                }
                s.sub = 3;
                return true;
              }
              if (!start_tuplet(s, s.tup_p)) return false;
              continue;
            case 1:  // (p:
              if (c == ':') {
                s.sub = 3;
                return fits(s, ticks(s, 1, s.tup_q, s.tup_p));
              }
              if (c < '1' || c > '9') return false;
              s.tup_q = static_cast<std::uint8_t>(c - '0');
              s.sub = 2;
              return fits(s, ticks(s, 1, s.tup_q, s.tup_p));
            default:  // (p:q: or (p::
              if (c < '1' || c > '9') return false;
              return start_tuplet(s, c - '0');
          }

        case kBroken:
          if (s.brk_n == 1 && c == (s.sub == 1 ? '>' : '<')) {
            Voice& v = voice(s);
            if (s.sub == 1) {
              v.pos += s.last_dur / 4;  // a>>b: 7/4 and 1/4
              s.brk_num = 1;
              s.brk_den = 4;
            } else {
              v.pos -= s.last_dur / 4;  // a<<b: 1/4 and 7/4
              s.brk_num = 7;
              s.brk_den = 4;
            }
            s.brk_n = 2;
            return can_begin(s);
          }
          if (c == ')') {  // (A>)B: the slur ends inside the broken rhythm
            if (s.slur) --s.slur;
            s.brk_n = 2;
            return true;
          }
          if (c == ' ') {  // A> B
            s.brk_n = 2;
            return true;
          }
          s.flags |= kNeed;
          s.last = kLastOther;
          s.mode = kMusic;
          continue;

        case kBar: {
          // A bar line's characters are taken only while the bar line can still end well.
          State t = s;
          if (!bar_extend(t, c)) {
            if (!bar_tie_ok(s) || !finish_bar(s)) return false;
            s.mode = kMusic;
            continue;
          }
          if (t.mode == kBar && !bar_can_finish(t, 3)) return false;
          s = t;
          return true;
        }

        case kBracket:
          if ((s.flags & kNeedVoice) && c != 'V') return false;  // the header named voices: [V:n] first
          if (c == '1' || c == '2') {  // [1 [2 after a bar line (abc2midi takes them after a space too)
            if ((!(s.flags & kAfterBar) && s.last != kLastSpace) || (s.flags & (kNeed | kTie))) return false;
            if (!start_ending(s, c - '0')) return false;
            s.mode = kMusic;
            return true;
          }
          if (c == '|') {
            if (!bar_ok(s)) return false;
            s.mode = kBar;
            s.sub = kTokThickStart | kTokPipe1;
            return bar_can_finish(s, 3);
          }
          if (std::strchr("KMLPQV", c) && c != '\0') {
            if ((s.flags & (kNeed | kTie)) || s.tup_left) return false;  // (a field breaks a tie)
            if (c == 'V' && (s.sub != 1 || s.enforce || (s.flags & (kTie | kGracePending)))) return false;  // [V:] starts a line
            if (c == 'M' && !meter_change_ok(s)) return false;
            if (c == 'P' && (!part_ok(s) || s.sub != 1)) return false;  // [P:] starts a line
            s.field = static_cast<std::uint8_t>(c);
            s.mode = kInlineColon;
            return true;
          }
          if (is_accidental(c) || is_note_letter(c)) {
            if (!begin_element(s, kChordKind)) return false;
            s.chord_n = 0;
            s.chord_v8 = 0;
            s.mode = kChord;
            s.sub = 0;
            continue;
          }
          return false;

        case kInlineColon:
          if (c != ':') return false;
          s.flags |= kInline;
          s.mode = kValueLead;
          s.sub = 0;
          return true;

        case kBackslash:
          if (c != '\n') return false;
          s.mode = kLineStart;
          s.flags |= kCont;
          s.last = kLastNone;
          return true;
      }
      return false;
    }
  }

  static bool start_tuplet(State& s, int r) {
    if (!fits(s, r * ticks(s, 1, s.tup_q, s.tup_p))) return false;
    s.tup_left = static_cast<std::uint8_t>(r);
    s.mode = kMusic;
    s.last = kLastOther;
    return true;
  }

  // Q: [n/d=]bpm [ "text"]: 1/4=120, 3/8=104 "Slow", 80.
  static bool tempo_step(State& s, char c) {
    const bool digit = c >= '0' && c <= '9';
    switch (s.sub) {
      case 0:
        if (c < '1' || c > '9') return false;
        s.sub = 1;
        return true;
      case 1:
        if (c == '/') {
          s.sub = 2;
          return true;
        }
        if (!digit) return false;
        s.count = 2;  // a bare bpm: 80
        s.sub = 5;
        return true;
      case 2:
        if (c == '2' || c == '4' || c == '8') {
          s.sub = 3;
          return true;
        }
        if (c == '1') {
          s.sub = 20;  // 1/16
          return true;
        }
        return false;
      case 20:
        if (c != '6') return false;
        s.sub = 3;
        return true;
      case 3:
        if (c != '=') return false;
        s.sub = 4;
        return true;
      case 4:
        if (c < '1' || c > '9') return false;
        s.count = 1;
        s.sub = 5;
        return true;
      case 5:
        if (digit && s.count < 3) {
          ++s.count;
          return true;
        }
        if (s.count < 2) return false;
        if (at_terminator(s, c)) return finish_field(s);
        if (c == ' ') {
          s.sub = 6;
          return true;
        }
        return false;
      case 6:
        if (c != '"') return false;
        s.sub = 7;
        s.count = 0;
        return true;
      case 7:
        if (c == '"' && s.count > 0) {
          s.sub = 8;
          return true;
        }
        // abc2midi: '=' would be read as the tempo's, '\\' escapes the closing quote
        if (!is_text_char(c) || std::strchr("\"]=\\;", c) || s.count >= kMaxAnnotation) return false;
        ++s.count;
        return true;
      default:
        return at_terminator(s, c) && finish_field(s);
    }
  }

  // "^annotation": ^ _ < > @ then text. Chord symbols ("Am7", "G/B", "(G)": the ones the
  // corpus cleaner keeps, is_chord_symbol in abc_tune.cpp) are read by the syntax layer
  // but not offered with the meter enforced: the corpus has none, and abc2midi plays them
  // as an accompaniment that can outlast the tune ("Sustained notes beyond end of track"
  // when the last note is short).
  // The quote leaves s.last as it was: "A"^x">B" is A>B.
  static constexpr std::uint8_t kAnnotationText = 0x40;
  static bool quote_step(State& s, char c) {
    const auto close = [&s] {
      s.mode = kMusic;
      if (s.last == kLastBar || s.last == kLastNone) s.last = kLastOther;  // |"^x"| is two bar lines
      return true;
    };
    const bool root = c >= 'A' && c <= 'G';
    switch (s.sub) {
      case 0:
        if (std::strchr("^_<>@", c) && c != '\0') {
          s.sub = kAnnotationText;
          s.count = 0;
          return true;
        }
        if (s.enforce) return false;
        if (c == '(') {  // "(G)"
          s.sub = 1;
          return true;
        }
        if (!root) return false;
        s.sub = 3;
        s.count = 0;
        return true;
      case 1:  // after "(
      case 2:  // after "(..., the ) read
        if (s.sub == 1 && root) {
          s.sub = 3 | 0x80;  // (the 0x80 bit: a ')' must close it)
          s.count = 0;
          return true;
        }
        return s.sub == 2 && c == '"' && close();
      default:
        break;
    }
    if (s.sub == kAnnotationText) {
      if (c == '"') return close();
      // abc2midi: ';' starts another chord symbol, '\\' escapes the closing quote
      if (!is_text_char(c) || c == ';' || c == '\\' || s.count >= kMaxAnnotation) return false;
      ++s.count;
      return true;
    }
    // A chord symbol: root [#b] [quality] digits [/bass [#b]]. sub: 3 after the root, 4
    // after its accidental, 5 in the quality, 6 in the digits (count), 8 after '/', 9 after
    // the bass, 11 after its accidental; bit 0x80: inside "(...)".
    const std::uint8_t paren = s.sub & 0x80;
    const auto to = [&s, paren](int sub) { s.sub = static_cast<std::uint8_t>(sub | paren); };
    const auto end = [&] {
      if (paren) {
        if (c != ')') return false;
        s.sub = 2;
        return true;
      }
      return c == '"' && close();
    };
    switch (s.sub & 0x7f) {
      case 3:
        if (c == '#' || c == 'b') {
          to(4);
          return true;
        }
        [[fallthrough]];
      case 4:
        if (std::strchr("mdasMo+-", c) && c != '\0') {
          dict_start(s, kDictChordQuality);
          if (dict_step(s, c)) {
            to(5);
            return true;
          }
        }
        break;
      case 5:
        if (dict_step(s, c)) return true;
        if (dict_word(s) < 0) return false;
        to(6);
        break;
      case 6:
        break;
      case 8:
        if (!root) return false;
        to(9);
        return true;
      case 9:
        if (c == '#' || c == 'b') {
          to(11);
          return true;
        }
        return end();
      default:  // 11
        return end();
    }
    // the digits, then '/' and the bass, or the end
    if (c >= '0' && c <= '9' && s.count < 3) {
      ++s.count;
      to(6);
      return true;
    }
    if (c == '/') {
      to(8);
      return true;
    }
    return end();
  }

  static bool music_step(State& s, char c) {
    if (c != ' ') s.spaces = 0;
    if ((s.flags & kGraceBroken) && !is_accidental(c) && !is_note_letter(c) && c != ')') return false;
    if (s.flags & kNoteNow) {  // after . a note or chord, after ~ a note (abc2midi)
      const bool ok = is_accidental(c) || is_note_letter(c) ||
                      (!(s.flags & kRollNow) && (c == '[' || c == '.' || c == '~' || (c == '(' && !broken_pending(s))));
      if (!ok) return false;
    }
    switch (c) {
      case ' ':
        if (s.last == kLastNone || s.last == kLastLParen || (s.flags & kNeed)) return false;
        // The sampler's style: runs of spaces align a printed score (the corpus has up to
        // 25); drawn, a run can grow without end, so at most kMaxSampledSpaces in a row.
        if (s.enforce && ++s.spaces > kMaxSampledSpaces) return false;
        s.last = kLastSpace;
        return true;
      case '\n':
        if (!line_end_ok(s) || s.last == kLastSpace) return false;
        s.mode = kLineStart;
        s.last = kLastNone;
        return true;
      case '\\':  // (also after a decoration, and alone on a line)
        if (!line_end_ok(s) && s.last != kLastDeco && s.last != kLastNone) return false;
        if ((s.flags & kNeed) || s.tup_left || s.last == kLastLParen) return false;
        s.mode = kBackslash;
        return true;
      case '|':
      case ':':
        if (!bar_ok(s)) return false;
        s.mode = kBar;
        s.sub = c == '|' ? kTokPipe1 : 1;
        return bar_can_finish(s, 3);
      case '[': {
        s.mode = kBracket;
        s.sub = s.last == kLastNone ? 1 : 0;
        // chord, inline field, [| or [1: take '[' only if one of them can follow
        for (const char n : {'A', '^', 'K', 'V', 'M', '|', '1', '2'}) {
          State t = s;
          if (step(t, n)) return true;
        }
        return false;
      }
      case '"':
        s.mode = kQuote;
        s.sub = 0;
        return true;
      case '!':  // a decoration, or (before '\n') a line-break mark
        if (!deco_mask(s) && !line_end_ok(s)) return false;
        s.mode = kBang;
        return true;
      case '.':
      case '~':
        if (!can_begin(s)) return false;
        if (c == '~' && (s.flags & (kTie | kGracePending))) return false;  // a roll is grace notes
        if (c == '.' && (s.flags & kTie)) return false;
        if (c == '.' && (s.mods & (kModDot | kModDotLost))) return false;  // (abc2midi: ..( and .(.( fail)
        {
          // after . or ~ only notes come: the decorations a>b asks for must be there
          const std::uint8_t m = static_cast<std::uint8_t>(s.mods | (c == '.' ? kModDot : kModRoll));
          if (broken_pending(s) && !(s.flags & kBrkFree) && (m & kModDur) != (s.brk_mods & kModDur)) return false;
          s.mods = m;
        }
        s.flags |= kNeed | kNoteNow | (c == '~' ? kRollNow : 0);
        s.last = kLastOther;
        return true;
      case '{':
        if (s.flags & (kTie | kGracePending)) return false;  // abc2midi: a note between grace groups
        if (broken_pending(s) && s.brk_mods) return false;   // (b's decorations would go to them)
        s.mods = 0;  // abc2midi gives the decorations before grace notes to them
        s.mode = kGrace;
        s.sub = 0;
        s.grace_n = 0;
        return true;
      case '(':  // (a slur may hold only grace notes: ({Bc}) fits in a full bar)
        if (s.slur >= kMaxSlurDepth) {
          // only a tuplet can follow
          if (s.tup_left || broken_pending(s) || (s.flags & kNoteNow)) return false;
          bool any = false;
          for (int p = 2; p <= 9 && !any; ++p) any = fits(s, ticks(s, 1, 1, p));
          if (!any) return false;
        }
        s.mode = kParen;
        return true;
      case ')':
        if (s.last != kLastNote && s.last != kLastRest && s.last != kLastRParen && s.last != kLastTie &&
            s.last != kLastGrace && !(s.last == kLastSpace && s.slur)) {
          return false;
        }
        if (s.slur) --s.slur;
        // a broken rhythm may follow (A)>B only when the ')' closes on a note
        s.last = (s.last == kLastNote || s.last == kLastRest || s.last == kLastRParen) ? kLastRParen : kLastOther;
        return true;
      case '-':  // a tie, from a single note (abc2midi: to the same pitch)
        if (s.last != kLastNote || (s.flags & kLastChord) || s.last_mods) return false;  // (abc2midi: not .c-c)
        s.flags |= kTie;
        s.tie_letter = s.note_letter;
        s.tie_acc = s.note_acc;
        s.tie_octaves = s.octaves;
        s.last = kLastTie;
        return true;
      case '>':
      case '<': {
        if ((s.last != kLastNote && s.last != kLastRest && s.last != kLastRParen) || (s.flags & kTie) ||
            broken_pending(s)) {
          return false;
        }
        // abc2midi: both sides of a broken rhythm have one length, both in or out of a tuplet
        // and a<b>c is an error (b in two of them)
        if (((s.flags & kLastTupNote) && !s.tup_left) || (s.flags & kLastBroken)) return false;
        if (s.flags & kLastChord) {
          s.brk_v8 = 0;
          s.brk_mods = 0;
          s.flags |= kBrkFree;
        } else if (s.flags & kLastRestEl) {
          s.brk_v8 = s.last_v8;
          s.brk_mods = s.last_mods & kModFermata;
        } else {
          s.brk_v8 = s.last_v8;
          s.brk_mods = s.last_mods;
          // (abc2midi plays a roll on a note of 3 units or with a staccato, fermata or
          // breath as a figure of its own)
          if (s.last_v8 != 24 && s.last_dur != 3 * s.unit_ticks && !(s.last_mods & kModDur)) s.brk_mods &= ~kModRoll;
        }
        Voice& v = voice(s);
        if (c == '>') {
          v.pos += s.last_dur / 2;  // a>b: 3/2 and 1/2
          s.brk_num = 1;
          s.brk_den = 2;
        } else {
          v.pos -= s.last_dur / 2;  // a<b: 1/2 and 3/2
          s.brk_num = 3;
          s.brk_den = 2;
        }
        s.brk_n = 1;
        s.mode = kBroken;
        s.sub = c == '>' ? 1 : 2;
        return can_begin(s);
      }
      case 'z':
      case 'x':
        if (!begin_element(s, kRestKind)) return false;
        s.elem = kCtxMain | kElemRest;
        s.node = 0;
        s.octaves = 0;
        s.mode = kNoteLen;
        return true;
      case 'Z':  // a whole bar's rest
        if ((s.flags & (kNeed | kTie | kGracePending | kTrill)) || s.tup_left || (metered(s) && voice(s).pos != 0)) return false;
        voice(s).pos += s.bar_ticks;
        s.flags = (s.flags & ~kAfterBar) | kHasNote;
        s.last = kLastZ;
        return true;
      case 'y':  // a spacer
        if (s.flags & kNeed) return false;
        s.last = kLastOther;
        return true;
      default:
        if (c >= '2' && c <= '9' && s.last == kLastZ && !s.enforce) {  // Z4: four bars' rest
          if (s.bar_ticks > 0) s.bars += c - '1';  // the bars after the first, all full
          s.last = kLastOther;
          return true;
        }
        if (is_accidental(c)) {
          if (!begin_element(s, kNoteKind) || !tie_acc_ok(s, accidental_sub(c))) return false;
          s.elem = kCtxMain;
          s.mode = kAcc;
          s.sub = accidental_sub(c);
          return true;
        }
        if (is_note_letter(c)) {
          if (!begin_element(s, kNoteKind)) return false;
          if ((s.ebits & kElemTied) && c != s.tie_letter) return false;
          s.note_letter = static_cast<std::uint8_t>(c);
          s.note_acc = 0;
          s.elem = static_cast<std::uint8_t>(kCtxMain | letter_case(c));
          s.node = 0;
          s.octaves = 0;
          s.mode = kNoteLen;
          return true;
        }
        return false;
    }
  }

  static bool may_end(const State& state) {
    State s = state;
    if (s.mode == kBar) {
      if (!finish_bar(s)) return false;
      s.mode = kMusic;
    }
    const bool at_end_point = (s.mode == kLineStart && !(s.flags & kCont)) || (s.mode == kMusic && s.last == kLastBar);
    if (!at_end_point || !(s.flags & kBody) || !(s.flags & kHasNote)) return false;
    if ((s.flags & (kTie | kNeed | kGracePending)) || s.tup_left) return false;
    for (const Voice& v : s.voice) {
      if (v.flags & (kVRepOpen | kVInE1)) return false;
    }
    return (s.parts_wanted & ~s.parts_defined) == 0;
  }

  // check_bars: forget what the element being read owes to abc2midi's rules.
  static void relax(State& s) {
    s.ebits = 0;
    s.mods = s.brk_mods = 0;
    s.flags &= ~(kTie | kNoteNow | kRollNow | kGraceBroken | kGracePending | kTrill | kLastBroken | kLastTupNote |
                 kBrkFree | kLastChord | kLineLetter);
  }

  // check_bars: after a rejected line end, start the next line afresh.
  static void recover_line(State& s) {
    if (!(s.flags & kBody)) {
      if (s.mode == kStartX) return;
      const bool key = s.field == 'K' && s.mode >= kValueLead && s.mode <= kValU && !(s.flags & kInline);
      s.flags &= ~kInline;
      if (key) {
        end_header(s);
      } else {
        s.mode = kHeaderLine;
      }
      return;
    }
    s.mode = kLineStart;
    s.last = kLastNone;
    s.flags &= ~(kNeed | kCont | kInline | kNoteNow | kRollNow | kGracePending);
    s.tup_left = 0;
    s.brk_num = s.brk_den = 1;
    s.brk_n = 0;
  }
};

AbcGrammar::AbcGrammar(const Options& options) : s_{} {
  s_.mode = kStartX;
  s_.enforce = options.enforce_meter;
  s_.brk_num = s_.brk_den = 1;
  s_.elem_num = s_.elem_den = 1;
  s_.meter_num = s_.meter_den = 4;
  s_.bar_ticks = kWhole;
  s_.unit_ticks = kWhole / 8;
  for (Voice& v : s_.voice) v.flags = kVFirst;
}

bool AbcGrammar::allows(char c) const {
  State t = s_;
  return AbcGrammarImpl::step(t, c);
}

bool AbcGrammar::may_end() const { return AbcGrammarImpl::may_end(s_); }

void AbcGrammar::feed(char c) {
  State t = s_;
  if (AbcGrammarImpl::step(t, c)) {
    s_ = t;
    return;
  }
  std::string expected;
  for (int k = 0; k < 128; ++k) {
    const char e = static_cast<char>(k);
    if (allows(e)) expected += e == '\n' ? std::string("\\n") : std::string(1, e);
  }
  if (may_end()) expected += " or <end>";
  throw Error("ABC grammar: " + shown_char(c) + " is not allowed here; expected one of: " +
              (expected.empty() ? std::string("(nothing)") : expected));
}

void AbcGrammar::feed(const std::string& text) {
  int line = 1, column = 1;
  for (char c : text) {
    try {
      feed(c);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (line " + std::to_string(line) + ", column " + std::to_string(column) + ")");
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
}

BarCheck check_bars(const std::string& tune) {
  AbcGrammar g(AbcGrammar::Options{false});
  BarCheck r;
  // A character the syntax layer rejects (generated text is full of them) is counted; it
  // is taken after dropping what the element owes to abc2midi's rules (a tie's pitch, a
  // broken rhythm's equal lengths and decorations ...), or skipped; a rejected line end
  // starts the next line afresh. Then the bars are measured as written.
  auto put = [&](char c) {
    AbcGrammar::State t = g.s_;
    if (AbcGrammarImpl::step(t, c)) {
      g.s_ = t;
      return;
    }
    ++r.skipped;
    t = g.s_;
    AbcGrammarImpl::relax(t);
    if (AbcGrammarImpl::step(t, c)) {
      g.s_ = t;
    } else if (c == '\n') {
      AbcGrammarImpl::recover_line(g.s_);
    }
  };
  for (char c : tune) put(c);
  if (!tune.empty() && tune.back() != '\n') put('\n');
  AbcGrammar::State& s = g.s_;
  // The last bar of each voice: it may be short (the end of the tune), never long.
  for (const AbcGrammar::Voice& v : s.voice) {
    if (v.pos != 0 && s.bar_ticks > 0) {
      ++s.bars;
      if (v.pos > s.bar_ticks) ++s.off;
    }
  }
  r.bars = s.bars;
  r.off = s.off;
  r.free_meter = !(s.flags & kBody) || (s.flags & kFreeMeter);
  return r;
}

}  // namespace abc
