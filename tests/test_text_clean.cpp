#include <gtest/gtest.h>

#include "abc/text_clean.hpp"

TEST(TextClean, CrlfAndLoneCrBecomeLf) {
  EXPECT_EQ(abc::normalize_line_ends("a\r\nb\rc\n"), "a\nb\nc\n");
}
