// libFuzzer target: the checkpoint reader on arbitrary bytes. Every input must end in a
// checkpoint or an abc::Error, never a crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <zlib.h>

#include "abc/checkpoint.hpp"
#include "abc/error.hpp"

namespace {

void parse(const std::string& bytes) {
  try {
    const abc::Checkpoint c = abc::parse_checkpoint(bytes, "fuzz");
    if (c.params.size() != abc::ParamLayout(c.model).total()) __builtin_trap();
  } catch (const abc::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  parse(bytes);
  // Most mutations fail the checksum; patch size and CRC-32 so the records behind
  // them get fuzzed too.
  constexpr std::size_t kHeader = 24;
  if (bytes.size() >= kHeader) {
    const std::uint64_t payload = bytes.size() - kHeader;
    const auto crc = static_cast<std::uint32_t>(
        crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data() + kHeader), static_cast<uInt>(payload)));
    std::memcpy(&bytes[12], &payload, sizeof payload);
    std::memcpy(&bytes[20], &crc, sizeof crc);
    parse(bytes);
  }
  return 0;
}
