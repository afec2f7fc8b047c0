// Checkpoints: round trip, and clear errors for missing, foreign, truncated,
// altered and newer-version files.
#include <gtest/gtest.h>

#include <fstream>

#include "abc/checkpoint.hpp"
#include "abc/io.hpp"
#include "abc/error.hpp"
#include "test_helpers.hpp"

namespace {

abc::Checkpoint small_checkpoint() {
  abc::Checkpoint c;
  c.vocab = abc::Vocab::from_text("<start>\nX:1\nK:C\nABC|\n<end>\n");
  c.model.cell = abc::CellKind::kRnn;
  c.model.vocab = c.vocab.size();
  c.model.hidden = 3;
  c.model.layers = 2;
  c.model.dropout = 0.25f;
  const abc::ParamLayout layout(c.model);
  for (std::size_t i = 0; i < layout.total(); ++i) c.params.push_back(0.001f * static_cast<float>(i) - 0.1f);
  c.adam_m.assign(layout.total(), 0.5f);
  c.adam_v.assign(layout.total(), 0.25f);
  c.meta = {{"epoch", "3"}, {"lr", "0.002"}};
  return c;
}

std::string error_loading(const std::string& path) {
  try {
    abc::load_checkpoint(path);
  } catch (const abc::Error& e) {
    return e.what();
  }
  return "";
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST(Checkpoint, RoundTrip) {
  abc_test::ScratchDir dir("ckpt_round_trip");
  const abc::Checkpoint a = small_checkpoint();
  abc::save_checkpoint(a, dir.file("m.ckpt"));
  const abc::Checkpoint b = abc::load_checkpoint(dir.file("m.ckpt"));
  EXPECT_EQ(b.model.cell, a.model.cell);
  EXPECT_EQ(b.model.vocab, a.model.vocab);
  EXPECT_EQ(b.model.hidden, 3);
  EXPECT_EQ(b.model.layers, 2);
  EXPECT_FLOAT_EQ(b.model.dropout, 0.25f);
  EXPECT_TRUE(b.vocab == a.vocab);
  EXPECT_EQ(b.params, a.params);
  EXPECT_EQ(b.adam_m, a.adam_m);
  EXPECT_EQ(b.adam_v, a.adam_v);
  EXPECT_EQ(b.meta, a.meta);
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.ckpt.tmp")));
}

TEST(Checkpoint, BadFilesAreClearErrors) {
  abc_test::ScratchDir dir("ckpt_bad");
  abc::save_checkpoint(small_checkpoint(), dir.file("good.ckpt"));
  const std::string good = abc_test::read_text(dir.file("good.ckpt"));

  EXPECT_NE(error_loading(dir.file("missing.ckpt")).find("missing.ckpt: cannot open checkpoint"), std::string::npos);

  write_bytes(dir.file("text.ckpt"), "X:1\nK:C\nABC|\n");
  EXPECT_NE(error_loading(dir.file("text.ckpt")).find("not an abc-cuda checkpoint"), std::string::npos);

  write_bytes(dir.file("empty.ckpt"), "");
  EXPECT_NE(error_loading(dir.file("empty.ckpt")).find("not an abc-cuda checkpoint"), std::string::npos);

  for (std::size_t keep : {std::size_t{10}, good.size() / 2, good.size() - 1}) {
    write_bytes(dir.file("cut.ckpt"), good.substr(0, keep));
    EXPECT_NE(error_loading(dir.file("cut.ckpt")).find("truncated"), std::string::npos) << "kept " << keep;
  }

  std::string flipped = good;
  flipped[flipped.size() - 5] ^= 0x40;
  write_bytes(dir.file("flipped.ckpt"), flipped);
  EXPECT_NE(error_loading(dir.file("flipped.ckpt")).find("checksum mismatch"), std::string::npos);

  std::string newer = good;
  newer[8] = 99;  // version field
  write_bytes(dir.file("newer.ckpt"), newer);
  EXPECT_NE(error_loading(dir.file("newer.ckpt")).find("format version 99"), std::string::npos);
}

TEST(Checkpoint, AtomicWriteLeavesOldFileOnFailure) {
  abc_test::ScratchDir dir("ckpt_atomic");
  abc::write_file_atomic(dir.file("a.txt"), "old");
  EXPECT_THROW(abc::write_file_atomic(dir.file("no_such_dir/a.txt"), "new"), abc::Error);
  EXPECT_EQ(abc_test::read_text(dir.file("a.txt")), "old");
}
