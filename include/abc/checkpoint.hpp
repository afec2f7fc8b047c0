// Checkpoint files: one file holding everything needed to sample from a model or to
// continue training it.
//
// Layout (little-endian):
//   magic    8 bytes  "ABCCKPT\n"
//   version  u32      kCheckpointVersion
//   size     u64      payload bytes that follow the header
//   crc32    u32      zlib CRC-32 of the payload
//   payload: records of [tag u32][length u64][bytes]:
//     CONF  text "key=value" lines: the model and the run's settings
//     VOCB  the vocabulary (Vocab::serialize)
//     PARM  float32 parameter block (ParamLayout order)
//     ADMM, ADMV  float32 Adam moments (optional, same layout)
//     STAT  float32 carried hidden state (optional: a run stopped mid-epoch)
// Writes are atomic (temporary file, flush, fsync, rename): a crash never leaves a
// half-written checkpoint under the real name.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "abc/model.hpp"
#include "abc/vocab.hpp"

namespace abc {

constexpr std::uint32_t kCheckpointVersion = 1;

struct Checkpoint {
  ModelConfig model;
  Vocab vocab;
  std::vector<float> params;               // [ParamLayout(model).total()]
  std::vector<float> adam_m, adam_v;       // empty, or the same size as params
  std::vector<float> state;                // empty, or Backend::state_size() floats
  std::map<std::string, std::string> meta;  // run settings and progress (epoch, step, ...)
};

// Text form of the model config and meta ("key=value" lines, sorted).
std::string config_text(const ModelConfig& model, const std::map<std::string, std::string>& meta);

void save_checkpoint(const Checkpoint& ckpt, const std::string& path);
// Throws abc::Error naming the file: missing, not a checkpoint, newer version,
// truncated, checksum mismatch, inconsistent sizes.
Checkpoint load_checkpoint(const std::string& path);
// The same from the file's bytes; `path` names it in errors (fuzzing, tests).
Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path);

}  // namespace abc
