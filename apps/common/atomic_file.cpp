// Whole-file writes that never leave a torn file behind.
#include "apps/common/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace ortho::apps {

void write_file_atomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw std::runtime_error(path + ": cannot create " + tmp + ": " + std::strerror(errno));
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw std::runtime_error(path + ": cannot write " + tmp);
    }
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error(path + ": cannot rename " + tmp + " into place: " + error.message());
  }
}

void prepare_output_dir(const std::string& dir, const std::string& flag) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    throw std::invalid_argument("cannot create " + flag + " " + dir + ": " + error.message());
  const std::string probe = dir + "/.ortho-write-test";
  try {
    write_file_atomically(probe, "");
  } catch (const std::runtime_error&) {
    throw std::invalid_argument(flag + " " + dir + " is not writable");
  }
  std::filesystem::remove(probe, error);
}

}  // namespace ortho::apps
