#include "abc/error.hpp"

namespace abc {

Error file_error(const std::string& path, const std::string& message) {
  return Error(path + ": " + message);
}

}  // namespace abc
