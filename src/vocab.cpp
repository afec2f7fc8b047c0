#include "abc/vocab.hpp"

#include <cstdio>
#include <cstring>

#include "abc/error.hpp"

namespace abc {

std::string shown_char(char ch) {
  if (ch == '\n') return "'\\n'";
  const unsigned char c = static_cast<unsigned char>(ch);
  char buf[8];
  std::snprintf(buf, sizeof buf, c >= 0x20 && c < 0x7F ? "'%c'" : "0x%02x", c);
  return buf;
}
namespace {

// Length of the tag at text[i], or 0.
std::size_t tag_at(const std::string& text, std::size_t i, TokenId* id) {
  static const std::size_t kStartLen = std::strlen(Vocab::kStartTag);
  static const std::size_t kEndLen = std::strlen(Vocab::kEndTag);
  if (text[i] != '<') return 0;
  if (text.compare(i, kStartLen, Vocab::kStartTag) == 0) {
    *id = Vocab::kStart;
    return kStartLen;
  }
  if (text.compare(i, kEndLen, Vocab::kEndTag) == 0) {
    *id = Vocab::kEnd;
    return kEndLen;
  }
  return 0;
}

}  // namespace

void Vocab::index() {
  for (auto& id : ids_) id = -1;
  for (std::size_t k = 0; k < chars_.size(); ++k) {
    ids_[static_cast<unsigned char>(chars_[k])] = static_cast<TokenId>(k + 2);
  }
}

Vocab Vocab::from_text(const std::string& tagged_text) {
  bool present[256] = {};
  for (std::size_t i = 0; i < tagged_text.size();) {
    TokenId tag;
    if (const std::size_t len = tag_at(tagged_text, i, &tag)) {
      i += len;
      continue;
    }
    present[static_cast<unsigned char>(tagged_text[i++])] = true;
  }
  Vocab vocab;
  for (int c = 0; c < 256; ++c) {
    if (present[c]) vocab.chars_.push_back(static_cast<char>(c));
  }
  vocab.index();
  return vocab;
}

Vocab Vocab::deserialize(const std::string& bytes) {
  Vocab vocab;
  for (std::size_t k = 0; k < bytes.size(); ++k) {
    if (k > 0 && static_cast<unsigned char>(bytes[k]) <= static_cast<unsigned char>(bytes[k - 1])) {
      throw Error("corrupt vocabulary: characters not in ascending order");
    }
  }
  vocab.chars_ = bytes;
  vocab.index();
  return vocab;
}

std::string Vocab::serialize() const { return chars_; }

std::string Vocab::token_text(TokenId id) const {
  if (id == kStart) return kStartTag;
  if (id == kEnd) return kEndTag;
  if (id < 2 || id >= size()) throw Error("token id " + std::to_string(id) + " out of range");
  return std::string(1, chars_[static_cast<std::size_t>(id - 2)]);
}

std::vector<TokenId> Vocab::encode(const std::string& text, std::size_t* unknown_skipped) const {
  std::vector<TokenId> ids;
  ids.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    TokenId tag;
    if (const std::size_t len = tag_at(text, i, &tag)) {
      ids.push_back(tag);
      i += len;
      continue;
    }
    const TokenId id = id_of(text[i]);
    if (id >= 0) {
      ids.push_back(id);
    } else if (unknown_skipped) {
      ++*unknown_skipped;
    } else {
      throw Error("character " + shown_char(text[i]) + " is not in the model's vocabulary");
    }
    ++i;
  }
  return ids;
}

std::string Vocab::decode(const std::vector<TokenId>& ids) const {
  std::string text;
  for (TokenId id : ids) text += token_text(id);
  return text;
}

}  // namespace abc
