// Vocabulary: the characters of the training text plus <start> and <end> as one
// token each, so the model reads and writes a tune's frame as single symbols.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace abc {

// A character as a message shows it: 'x', '\n', or 0xNN when it is not printable.
std::string shown_char(char c);

using TokenId = std::int32_t;

class Vocab {
 public:
  static constexpr TokenId kStart = 0;  // "<start>"
  static constexpr TokenId kEnd = 1;    // "<end>"
  static constexpr const char* kStartTag = "<start>";
  static constexpr const char* kEndTag = "<end>";

  Vocab() = default;
  // Ids: <start> = 0, <end> = 1, then each distinct character by byte value.
  static Vocab from_text(const std::string& tagged_text);
  // Inverse of serialize(); throws abc::Error on malformed input.
  static Vocab deserialize(const std::string& bytes);
  std::string serialize() const;  // the characters of ids 2.. in order

  int size() const { return static_cast<int>(chars_.size()) + 2; }
  // Id of a character, or -1 when it is not in the vocabulary.
  TokenId id_of(char c) const { return ids_[static_cast<unsigned char>(c)]; }
  // Text of a token: the character, or "<start>"/"<end>".
  std::string token_text(TokenId id) const;

  // Tokenises text, reading "<start>" and "<end>" as single tokens. Characters not
  // in the vocabulary throw abc::Error, or are skipped and counted when
  // `unknown_skipped` is given.
  std::vector<TokenId> encode(const std::string& text, std::size_t* unknown_skipped = nullptr) const;
  std::string decode(const std::vector<TokenId>& ids) const;

  bool operator==(const Vocab& other) const { return chars_ == other.chars_; }

 private:
  void index();
  std::string chars_;       // characters of ids 2.., ascending byte value
  TokenId ids_[256] = {};   // byte -> id, -1 for none
};

}  // namespace abc
