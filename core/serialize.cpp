// safetensors reader and writer: an 8-byte little-endian header length N, N bytes of JSON
// naming each tensor's dtype, shape and byte range, then the raw little-endian data.
#include "core/serialize.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ortho {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; this writer copies host bytes as they are");

using Json = nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
// The reference implementation refuses headers above 100 MB; so does this one.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

const char* dtype_tag(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Int64:
      break;
  }
  return "I64";
}

std::optional<DType> dtype_from_tag(const std::string& tag) {
  if (tag == "F32") return DType::Float32;
  if (tag == "F64") return DType::Float64;
  if (tag == "I64") return DType::Int64;
  return std::nullopt;
}

std::string system_error(const char* what) {
  return error_message(what, ": ", std::strerror(errno));
}

// Closes a file descriptor on every path out of a scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now so that a failing close (data not written back) is reported.
  bool close() {
    const int fd = std::exchange(fd_, -1);
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// ---- writing --------------------------------------------------------------------------------

struct SaveEntry {
  std::string name;
  Tensor host;  // contiguous, on the CPU
  std::uint64_t begin = 0, end = 0;
};

[[noreturn]] void throw_save_error(const std::string& path, const std::string& what) {
  throw std::runtime_error(error_message("save_safetensors: '", path, "': ", what));
}

std::vector<SaveEntry> host_entries(const std::string& path, const TensorMap& tensors) {
  std::vector<SaveEntry> entries;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    check_argument(tensor.defined(), "save_safetensors: '", path, "': tensor '", name,
                   "' is undefined");
    check_argument(name != kMetadataKey, "save_safetensors: '", path, "': the tensor name '",
                   kMetadataKey, "' is reserved for metadata");
    SaveEntry entry{name, tensor.to(Device::cpu()).contiguous()};
    entry.begin = offset;
    entry.end = offset + static_cast<std::uint64_t>(entry.host.numel()) *
                             static_cast<std::uint64_t>(dtype_size(entry.host.dtype()));
    offset = entry.end;
    entries.push_back(std::move(entry));
  }
  return entries;
}

// The JSON header, padded with spaces so the data buffer starts 8-byte aligned.
std::string header_json(const std::string& path, const std::vector<SaveEntry>& entries,
                        const Metadata& metadata) {
  Json header = Json::object();
  for (const SaveEntry& e : entries) {
    header[e.name] = {{"dtype", dtype_tag(e.host.dtype())},
                      {"shape", e.host.shape().dims()},
                      {"data_offsets", {e.begin, e.end}}};
  }
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& error) {
    throw std::invalid_argument(error_message("save_safetensors: '", path,
                                              "': tensor names and metadata must be valid UTF-8 (",
                                              error.what(), ")"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

void write_all(int fd, const void* data, std::size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_save_error(path, system_error("write failed"));
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

std::array<unsigned char, 8> little_endian_u64(std::uint64_t value) {
  std::array<unsigned char, 8> bytes{};
  for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
  return bytes;
}

// Writes the whole file to `tmp`, flushed to disk before it is closed.
void write_file(const std::string& tmp, const std::string& path, const std::string& header,
                const std::vector<SaveEntry>& entries) {
  FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw_save_error(path, system_error(("cannot create " + tmp).c_str()));
  const auto length = little_endian_u64(header.size());
  write_all(fd.get(), length.data(), length.size(), path);
  write_all(fd.get(), header.data(), header.size(), path);
  for (const SaveEntry& e : entries) {
    write_all(fd.get(), e.host.raw_data(), static_cast<std::size_t>(e.end - e.begin), path);
  }
  if (::fsync(fd.get()) != 0) throw_save_error(path, system_error("fsync failed"));
  if (!fd.close()) throw_save_error(path, system_error("close failed"));
}

// Makes the rename itself durable; a failure here leaves a complete file, so it is not fatal.
void sync_directory(const std::filesystem::path& dir) {
  const FileDescriptor fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY));
  if (fd.get() >= 0) ::fsync(fd.get());
}

// ---- reading --------------------------------------------------------------------------------

[[noreturn]] void throw_load_error(const std::string& path, const std::string& what) {
  throw std::runtime_error(error_message("load_safetensors: '", path, "': ", what));
}

void read_exactly(int fd, void* data, std::size_t bytes, std::uint64_t offset,
                  const std::string& path) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, p, bytes, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_load_error(path, system_error("read failed"));
    if (n == 0) throw_load_error(path, "unexpected end of file");
    p += n;
    bytes -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
}

struct LoadEntry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

// A JSON value as a non-negative integer, or an error naming `what`.
std::uint64_t json_unsigned(const Json& value, const std::string& path, const std::string& what) {
  if (!value.is_number_unsigned()) {
    throw_load_error(path, what + " must be a non-negative integer, got " + value.dump());
  }
  return value.get<std::uint64_t>();
}

LoadEntry parse_entry(const std::string& path, const std::string& name, const Json& info) {
  const std::string where = "tensor '" + name + "'";
  if (!info.is_object()) throw_load_error(path, where + " is not a JSON object");
  for (const auto& [key, value] : info.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      throw_load_error(path, where + " has an unknown field '" + key + "'");
    }
  }
  if (!info.contains("dtype") || !info["dtype"].is_string()) {
    throw_load_error(path, where + " has no string field 'dtype'");
  }
  if (!info.contains("shape") || !info["shape"].is_array()) {
    throw_load_error(path, where + " has no array field 'shape'");
  }
  if (!info.contains("data_offsets") || !info["data_offsets"].is_array() ||
      info["data_offsets"].size() != 2) {
    throw_load_error(path, where + " has no field 'data_offsets' of two integers");
  }
  LoadEntry entry;
  entry.name = name;
  const std::string tag = info["dtype"].get<std::string>();
  const std::optional<DType> dtype = dtype_from_tag(tag);
  if (!dtype)
    throw_load_error(path, where + " has unsupported dtype '" + tag + "' (F32, F64, I64)");
  entry.dtype = *dtype;
  std::uint64_t numel = 1;
  for (const Json& d : info["shape"]) {
    const std::uint64_t size = json_unsigned(d, path, where + " shape entry");
    const std::uint64_t limit =
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (size > limit || (size != 0 && numel > limit / size)) {
      throw_load_error(path, where + " has a shape too large to address");
    }
    numel *= size;
    entry.shape.dims().push_back(static_cast<std::int64_t>(size));
  }
  entry.begin = json_unsigned(info["data_offsets"][0], path, where + " data_offsets[0]");
  entry.end = json_unsigned(info["data_offsets"][1], path, where + " data_offsets[1]");
  if (entry.end < entry.begin) {
    throw_load_error(path, error_message(where, " has data_offsets [", entry.begin, ", ", entry.end,
                                         "] that end before they begin"));
  }
  const std::uint64_t item = dtype_size(entry.dtype);
  if (numel > std::numeric_limits<std::uint64_t>::max() / item) {
    throw_load_error(path, where + " has a shape too large to address");
  }
  if (entry.end - entry.begin != numel * item) {
    throw_load_error(
        path, error_message(where, " of dtype ", tag, " and shape ", entry.shape, " needs ",
                            numel * item, " bytes but data_offsets [", entry.begin, ", ", entry.end,
                            "] hold ", entry.end - entry.begin));
  }
  return entry;
}

Metadata parse_metadata(const std::string& path, const Json& value) {
  if (!value.is_object()) throw_load_error(path, "__metadata__ is not a JSON object");
  Metadata metadata;
  for (const auto& [key, text] : value.items()) {
    if (!text.is_string()) {
      throw_load_error(path, "__metadata__ value of '" + key + "' is not a string");
    }
    metadata[key] = text.get<std::string>();
  }
  return metadata;
}

// The byte ranges must tile [0, buffer_size) exactly: no overlap, no gap, nothing trailing.
void check_coverage(const std::string& path, std::vector<LoadEntry> entries,
                    std::uint64_t buffer_size) {
  std::sort(entries.begin(), entries.end(), [](const LoadEntry& a, const LoadEntry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  std::uint64_t cursor = 0;
  for (const LoadEntry& e : entries) {
    if (e.end > buffer_size) {
      throw_load_error(
          path, error_message("tensor '", e.name, "' has data_offsets [", e.begin, ", ", e.end,
                              "] beyond the ", buffer_size, "-byte data buffer"));
    }
    if (e.begin < cursor) {
      throw_load_error(path, error_message("tensor '", e.name, "' at data_offsets [", e.begin, ", ",
                                           e.end, "] overlaps the tensor before it"));
    }
    if (e.begin > cursor) {
      throw_load_error(path, error_message("bytes [", cursor, ", ", e.begin,
                                           ") of the data buffer belong to no tensor"));
    }
    cursor = e.end;
  }
  if (cursor != buffer_size) {
    throw_load_error(path, error_message("trailing bytes [", cursor, ", ", buffer_size,
                                         ") of the data buffer belong to no tensor"));
  }
}

Json parse_header(const std::string& path, const std::string& text) {
  if (text.empty() || text.front() != '{') {
    throw_load_error(path, "the JSON header does not start with '{'");
  }
  try {
    Json header = Json::parse(text);
    if (!header.is_object()) throw_load_error(path, "the JSON header is not an object");
    return header;
  } catch (const Json::exception& error) {
    throw_load_error(path, error_message("invalid JSON header: ", error.what()));
  }
}

}  // namespace

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  const std::vector<SaveEntry> entries = host_entries(path, tensors);
  const std::string header = header_json(path, entries, metadata);
  const std::string tmp = error_message(path, ".tmp.", ::getpid());
  try {
    write_file(tmp, path, header, entries);
    std::error_code error;
    std::filesystem::rename(tmp, path, error);
    if (error) throw_save_error(path, "cannot rename " + tmp + " into place: " + error.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  sync_directory(std::filesystem::path(path).parent_path());
}

SafetensorsFile load_safetensors(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_load_error(path, system_error("cannot open"));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw_load_error(path, system_error("cannot stat"));
  if (!S_ISREG(info.st_mode)) throw_load_error(path, "not a regular file");
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  if (file_size < 8) {
    throw_load_error(path, error_message("the file has ", file_size,
                                         " bytes, fewer than the 8-byte header length"));
  }

  std::array<unsigned char, 8> length_bytes{};
  read_exactly(fd.get(), length_bytes.data(), 8, 0, path);
  std::uint64_t header_size = 0;
  for (std::size_t i = 0; i < 8; ++i) header_size |= std::uint64_t{length_bytes[i]} << (8 * i);
  if (header_size > file_size - 8 || header_size > kMaxHeaderBytes) {
    throw_load_error(path, error_message("header length ", header_size, " exceeds the ",
                                         file_size - 8, " bytes after the length field"));
  }
  std::string text(static_cast<std::size_t>(header_size), '\0');
  read_exactly(fd.get(), text.data(), text.size(), 8, path);
  const Json header = parse_header(path, text);

  SafetensorsFile out;
  std::vector<LoadEntry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      out.metadata = parse_metadata(path, value);
    } else {
      entries.push_back(parse_entry(path, name, value));
    }
  }
  const std::uint64_t data_start = 8 + header_size;
  check_coverage(path, entries, file_size - data_start);

  for (const LoadEntry& e : entries) {
    Tensor tensor = Tensor::empty(e.shape, e.dtype);
    read_exactly(fd.get(), tensor.raw_data(), static_cast<std::size_t>(e.end - e.begin),
                 data_start + e.begin, path);
    out.tensors.emplace(e.name, std::move(tensor));
  }
  return out;
}

}  // namespace ortho
