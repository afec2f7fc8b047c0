// Whole-file reads and atomic writes, with errors that name the file.
#pragma once
#include <string>

namespace abc {

// The bytes of a file; throws abc::Error "PATH: cannot open ..." when it cannot be read.
std::string read_file(const std::string& path);

// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync,
// rename): a crash or a full disk never leaves a half-written file under the real
// name, and the previous file stays as it was.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace abc
