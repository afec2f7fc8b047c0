// An incremental automaton for one ABC tune (ABC 2.1, as the corpus writes tunes): fed one
// character at a time, it says before each draw which characters keep the tune legal, and
// where the tune may end. Two layers:
//  - syntax: header fields with valid values (X: first, then T: C: M: L: Q: P: V: U: W:,
//    K: last; K: with modes), music only after K:, balanced chords [...], annotations
//    "^..." (chord symbols are not offered: the corpus has none and abc2midi's
//    accompaniment for them can outlast the tune), grace groups {...}, inline fields
//    [K:...]; no nested or unfinished tuplets; ties only to a following note of the same
//    pitch; repeats and endings abc2midi accepts (repeat_bar_line in eval.hpp), and the
//    other abc2midi rules a random walk through the automaton ran into (abc_grammar.cpp
//    lists each where it is applied);
//  - meter (Options::enforce_meter): every bar lasts exactly the meter's bar (L:, M:, note
//    lengths, broken rhythm, tuplets, chords), except that a bar may be shorter when it is
//    the tune's first (a pickup), when a section boundary (any bar line but a plain |, or a
//    P: part) or the tune's end closes it, or when it follows a section boundary; no bar is
//    ever longer. check_bars applies the same rule with the same code (one place: the
//    sampler's grammar and abc_cuda_eval stats cannot disagree).
// With enforce_meter (the sampler's mode) the automaton also leaves out two things it reads
// but cannot keep abc2midi-safe: voices (V:, [V:]) and the header's part order (P:ABA).
// The sampler keeps one automaton per stream and asks allows() for every token before each
// draw, so allows() is cheap: no allocation, a small fixed-size state copied by value.
#pragma once
#include <cstdint>
#include <string>

namespace abc {

// The bars of a whole tune (without <start>/<end>) measured against its meter, with the
// same rules as AbcGrammar's meter layer.
struct BarCheck {
  int bars = 0;             // bars measured
  int off = 0;              // of those, bars whose duration disagrees with the meter
  bool free_meter = false;  // M:none (or no M:): nothing to measure
  int skipped = 0;          // characters the syntax layer rejected (taken leniently or skipped)
};
BarCheck check_bars(const std::string& tune);

class AbcGrammar {
 public:
  struct Options {
    bool enforce_meter = true;  // false: the syntax layer only
  };
  AbcGrammar() : AbcGrammar(Options{}) {}
  explicit AbcGrammar(const Options& options);  // at a tune's start, just after <start>

  // Whether appending `c` leaves a prefix of some legal tune.
  bool allows(char c) const;
  // Whether the tune may end here (<end> is legal).
  bool may_end() const;
  // Appends `c`; throws abc::Error (saying what was expected) when !allows(c).
  void feed(char c);
  // Feeds every character of `text` (a prime); throws abc::Error naming the position.
  void feed(const std::string& text);

 private:
  static constexpr int kMaxVoices = 4;  // V:1 .. V:4
  friend struct AbcGrammarImpl;  // abc_grammar.cpp: the transition function
  friend BarCheck check_bars(const std::string& tune);
  // Per voice (V:1..V:4): where it is in its bar, and its repeats and endings.
  struct Voice {
    std::int64_t pos;     // ticks since the bar started
    std::uint8_t flags;   // kV* bits (abc_grammar.cpp)
  };
  // The whole state: plain data, no pointers, copied by value in allows().
  struct State {
    std::int64_t bar_ticks;    // the meter's bar; 0: free meter
    std::int64_t unit_ticks;   // L:
    std::int64_t last_dur;     // the last note, chord or rest, for broken rhythm
    std::uint64_t dict_mask;   // words of the dictionary still matching
    Voice voice[kMaxVoices];
    std::int32_t bars, off;    // bars measured, and off the meter (measuring mode)
    std::uint32_t parts_wanted, parts_defined;  // P:ABA letters, P:A sections seen
    std::uint16_t count;       // characters of a value or annotation so far
    std::uint8_t mode, sub, field, dict, dict_pos;
    std::uint8_t node, octaves, elem;      // the note being spelled
    std::uint8_t elem_num, elem_den;       // its factor (broken rhythm x tuplet)
    std::uint8_t tup_left, tup_p, tup_q;   // tuplet notes still to come, p:q
    std::uint8_t brk_num, brk_den, brk_n;  // broken rhythm: factor of the next note
    std::uint32_t flags;       // flag bits (abc_grammar.cpp)
    std::uint8_t last, slur, chord_n, chord_v8, grace_n, cur_voice;
    std::uint8_t spaces;                   // spaces in a row in the music
    std::uint8_t ebits;                    // the element's tie, tuplet, broken rhythm
    std::uint8_t last_v8, brk_v8;          // broken rhythm: a>b need a's length in b
    std::uint8_t note_letter, note_acc;    // the note just read (for a tie)
    std::uint8_t tie_letter, tie_acc, tie_octaves;  // the tied note
    std::uint8_t nvoices;                  // voices named so far (V:1, V:2 .. in order)
    std::uint8_t mods, last_mods, brk_mods;  // staccato, fermata, breath, roll: next, last, a>b
    std::uint8_t meter_num, meter_den;
    bool enforce;
  };
  State s_;
};

}  // namespace abc
