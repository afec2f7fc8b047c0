#include "abc/checkpoint.hpp"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "abc/error.hpp"
#include "abc/io.hpp"

namespace abc {
namespace {

constexpr char kMagic[8] = {'A', 'B', 'C', 'C', 'K', 'P', 'T', '\n'};
constexpr std::size_t kHeaderBytes = 8 + 4 + 8 + 4;

// Record tags, four ASCII letters read as a little-endian u32.
constexpr std::uint32_t tag(const char (&s)[5]) {
  return static_cast<std::uint32_t>(s[0]) | static_cast<std::uint32_t>(s[1]) << 8 |
         static_cast<std::uint32_t>(s[2]) << 16 | static_cast<std::uint32_t>(s[3]) << 24;
}
constexpr std::uint32_t kConf = tag("CONF"), kVocab = tag("VOCB"), kParams = tag("PARM"),
                        kAdamM = tag("ADMM"), kAdamV = tag("ADMV"), kState = tag("STAT");

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // the project targets little-endian x86-64
  out.append(bytes, sizeof(T));
}

template <class T>
T get(const std::string& in, std::size_t offset) {
  T value;
  std::memcpy(&value, in.data() + offset, sizeof(T));
  return value;
}

void put_record(std::string& out, std::uint32_t record_tag, const void* data, std::size_t bytes) {
  put<std::uint32_t>(out, record_tag);
  put<std::uint64_t>(out, bytes);
  out.append(static_cast<const char*>(data), bytes);
}

std::uint32_t crc_of(const char* data, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

std::vector<float> floats_of(const std::string& bytes, const std::string& path, const char* what) {
  if (bytes.size() % sizeof(float) != 0) throw file_error(path, std::string("corrupt checkpoint: bad ") + what + " size");
  std::vector<float> values(bytes.size() / sizeof(float));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());  // data() may be null when empty
  return values;
}

std::map<std::string, std::string> parse_key_values(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

}  // namespace

std::string config_text(const ModelConfig& model, const std::map<std::string, std::string>& meta) {
  std::map<std::string, std::string> kv = meta;
  kv["cell"] = cell_kind_name(model.cell);
  kv["vocab"] = std::to_string(model.vocab);
  kv["hidden"] = std::to_string(model.hidden);
  kv["layers"] = std::to_string(model.layers);
  std::ostringstream dropout;
  dropout << model.dropout;
  kv["dropout"] = dropout.str();
  std::string out;
  for (const auto& [k, v] : kv) out += k + "=" + v + "\n";
  return out;
}

void save_checkpoint(const Checkpoint& ckpt, const std::string& path) {
  const ParamLayout layout(ckpt.model);
  if (ckpt.params.size() != layout.total()) throw Error("internal: parameter block size does not match the model");
  std::string payload;
  const std::string conf = config_text(ckpt.model, ckpt.meta);
  const std::string vocab = ckpt.vocab.serialize();
  put_record(payload, kConf, conf.data(), conf.size());
  put_record(payload, kVocab, vocab.data(), vocab.size());
  put_record(payload, kParams, ckpt.params.data(), ckpt.params.size() * sizeof(float));
  if (!ckpt.adam_m.empty()) {
    put_record(payload, kAdamM, ckpt.adam_m.data(), ckpt.adam_m.size() * sizeof(float));
    put_record(payload, kAdamV, ckpt.adam_v.data(), ckpt.adam_v.size() * sizeof(float));
  }
  if (!ckpt.state.empty()) put_record(payload, kState, ckpt.state.data(), ckpt.state.size() * sizeof(float));
  std::string file(kMagic, sizeof kMagic);
  put<std::uint32_t>(file, kCheckpointVersion);
  put<std::uint64_t>(file, payload.size());
  put<std::uint32_t>(file, crc_of(payload.data(), payload.size()));
  file += payload;
  write_file_atomic(path, file);
}

Checkpoint load_checkpoint(const std::string& path) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw file_error(path, "cannot open checkpoint (no such file? train a model first, or pass --checkpoint)");
  return parse_checkpoint(read_file(path), path);
}

Checkpoint parse_checkpoint(const std::string& file, const std::string& path) {
  if (file.size() < sizeof kMagic || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    throw file_error(path, "not an abc-cuda checkpoint");
  }
  if (file.size() < kHeaderBytes) throw file_error(path, "truncated checkpoint (header incomplete)");
  const auto version = get<std::uint32_t>(file, 8);
  if (version != kCheckpointVersion) {
    throw file_error(path, "checkpoint format version " + std::to_string(version) + ", this program reads version " +
                               std::to_string(kCheckpointVersion));
  }
  const auto size = get<std::uint64_t>(file, 12);
  const auto crc = get<std::uint32_t>(file, 20);
  if (file.size() - kHeaderBytes < size) {
    throw file_error(path, "truncated checkpoint (" + std::to_string(file.size()) + " bytes, expected " +
                               std::to_string(kHeaderBytes + size) + ")");
  }
  if (file.size() - kHeaderBytes > size) throw file_error(path, "corrupt checkpoint (trailing bytes)");
  if (crc_of(file.data() + kHeaderBytes, size) != crc) throw file_error(path, "corrupt checkpoint (checksum mismatch)");

  std::map<std::uint32_t, std::string> records;
  for (std::size_t at = kHeaderBytes; at < file.size();) {
    if (file.size() - at < 12) throw file_error(path, "corrupt checkpoint (record header)");
    const auto record_tag = get<std::uint32_t>(file, at);
    const auto length = get<std::uint64_t>(file, at + 4);
    at += 12;
    if (file.size() - at < length) throw file_error(path, "corrupt checkpoint (record length)");
    records[record_tag] = file.substr(at, length);
    at += length;
  }
  for (std::uint32_t required : {kConf, kVocab, kParams}) {
    if (!records.count(required)) throw file_error(path, "corrupt checkpoint (missing record)");
  }
  Checkpoint ckpt;
  ckpt.meta = parse_key_values(records[kConf]);
  try {
    ckpt.model.cell = parse_cell_kind(ckpt.meta.at("cell"));
    ckpt.model.vocab = std::stoi(ckpt.meta.at("vocab"));
    ckpt.model.hidden = std::stoi(ckpt.meta.at("hidden"));
    ckpt.model.layers = std::stoi(ckpt.meta.at("layers"));
    ckpt.model.dropout = std::stof(ckpt.meta.at("dropout"));
    for (const char* key : {"cell", "vocab", "hidden", "layers", "dropout"}) ckpt.meta.erase(key);
    ckpt.vocab = Vocab::deserialize(records[kVocab]);
  } catch (const std::exception& e) {
    throw file_error(path, std::string("corrupt checkpoint configuration (") + e.what() + ")");
  }
  if (ckpt.vocab.size() != ckpt.model.vocab) throw file_error(path, "corrupt checkpoint (vocabulary size)");
  std::size_t expected = 0;
  try {
    expected = ParamLayout(ckpt.model).total();
  } catch (const Error& e) {
    throw file_error(path, std::string("corrupt checkpoint configuration (") + e.what() + ")");
  }
  ckpt.params = floats_of(records[kParams], path, "parameter block");
  if (ckpt.params.size() != expected) throw file_error(path, "corrupt checkpoint (parameter count)");
  if (records.count(kAdamM) && records.count(kAdamV)) {
    ckpt.adam_m = floats_of(records[kAdamM], path, "optimizer state");
    ckpt.adam_v = floats_of(records[kAdamV], path, "optimizer state");
    if (ckpt.adam_m.size() != expected || ckpt.adam_v.size() != expected) {
      throw file_error(path, "corrupt checkpoint (optimizer state size)");
    }
  }
  if (records.count(kState)) ckpt.state = floats_of(records[kState], path, "hidden state");
  return ckpt;
}

}  // namespace abc
