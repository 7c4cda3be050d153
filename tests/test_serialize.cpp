#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/serialize.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

namespace fs = std::filesystem;
using testing::random_tensor;

class Safetensors : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }

  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  testing::TempDir dir_{"ortho_serialize"};
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string length_prefix(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
  return out;
}

// A file of the given header text followed by `data_bytes` zero bytes.
std::string file_with_header(const std::string& header, std::size_t data_bytes) {
  return length_prefix(header.size()) + header + std::string(data_bytes, '\0');
}

// Expects load_safetensors(path) to throw std::runtime_error mentioning the path and `what`.
void expect_load_error(const std::string& path, const std::string& what) {
  try {
    load_safetensors(path);
    ADD_FAILURE() << "no error for " << what;
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
}

void expect_same(const Tensor& actual, const Tensor& expected) {
  ASSERT_EQ(actual.dtype(), expected.dtype());
  ASSERT_EQ(actual.shape(), expected.shape());
  EXPECT_TRUE(actual.is_contiguous());
  if (expected.dtype() == DType::Int64) {
    EXPECT_EQ(actual.to_vector<std::int64_t>(), expected.to_vector<std::int64_t>());
  } else {
    EXPECT_EQ(actual.to_vector<double>(), expected.to_vector<double>());
  }
}

TEST_F(Safetensors, RoundTripsEveryDtypeScalarsAndEmptyTensors) {
  const TensorMap tensors = {
      {"f32", random_tensor({2, 3}, 1, DType::Float32)},
      {"f64", random_tensor({4}, 2)},
      {"i64", Tensor::from_vector(std::vector<std::int64_t>{-5, 0, 7, 1LL << 40, 3, 9}, {3, 2})},
      {"scalar", Tensor::scalar(2.5, DType::Float64)},
      {"empty", Tensor::zeros({0, 5}, DType::Float32)},
      {"layer.0.weight", random_tensor({3, 2, 2, 2}, 3, DType::Float32)},
  };
  save_safetensors(path("model.safetensors"), tensors);
  const SafetensorsFile loaded = load_safetensors(path("model.safetensors"));
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_EQ(loaded.tensors.count(name), 1u);
    expect_same(loaded.tensors.at(name), tensor);
    EXPECT_TRUE(loaded.tensors.at(name).device().is_cpu());
  }
  EXPECT_TRUE(loaded.metadata.empty());
}

TEST_F(Safetensors, SavesNonContiguousViewsInRowMajorOrder) {
  const Tensor base = random_tensor({4, 6}, 4);
  const Tensor view = base.t().slice(0, 1, 5, 2);  // (2, 4), strided
  ASSERT_FALSE(view.is_contiguous());
  save_safetensors(path("view.safetensors"), {{"v", view}});
  expect_same(load_safetensors(path("view.safetensors")).tensors.at("v"), view.contiguous());
}

TEST_F(Safetensors, MetadataRoundTrips) {
  const Metadata metadata = {{"format", "pt"}, {"epoch", "12"}, {"note", "quotes \" and ünïcode"}};
  save_safetensors(path("m.safetensors"), {{"x", Tensor::ones({2})}}, metadata);
  EXPECT_EQ(load_safetensors(path("m.safetensors")).metadata, metadata);
  save_safetensors(path("only.safetensors"), {}, metadata);
  const SafetensorsFile only = load_safetensors(path("only.safetensors"));
  EXPECT_TRUE(only.tensors.empty());
  EXPECT_EQ(only.metadata, metadata);
}

TEST_F(Safetensors, FileFollowsTheHeaderSpec) {
  const Tensor a = Tensor::from_vector(std::vector<float>{1.0f, -2.0f, 3.5f}, {3});
  const Tensor b = Tensor::from_vector(std::vector<double>{0.25, 8.0}, {1, 2});
  save_safetensors(path("spec.safetensors"), {{"a", a}, {"b", b}}, {{"k", "v"}});
  const std::string bytes = read_bytes(path("spec.safetensors"));
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) {
    n |= std::uint64_t{static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)])} << (8 * i);
  }
  EXPECT_EQ((8 + n) % 8, 0u) << "the data buffer starts 8-byte aligned";
  ASSERT_EQ(bytes.size(), 8 + n + 3 * 4 + 2 * 8);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  const nlohmann::json json = nlohmann::json::parse(header);
  EXPECT_EQ(json["a"]["dtype"], "F32");
  EXPECT_EQ(json["a"]["shape"], nlohmann::json::array({3}));
  EXPECT_EQ(json["b"]["dtype"], "F64");
  EXPECT_EQ(json["b"]["shape"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(json["__metadata__"]["k"], "v");
  const std::string data = bytes.substr(8 + n);
  for (const auto& [name, tensor] : {std::pair<std::string, Tensor>{"a", a}, {"b", b}}) {
    const auto begin = json[name]["data_offsets"][0].get<std::size_t>();
    const auto end = json[name]["data_offsets"][1].get<std::size_t>();
    ASSERT_EQ(end - begin, static_cast<std::size_t>(tensor.numel()) * dtype_size(tensor.dtype()));
    EXPECT_EQ(std::memcmp(data.data() + begin, tensor.raw_data(), end - begin), 0) << name;
  }
}

TEST_F(Safetensors, WritesThroughATemporaryFile) {
  save_safetensors(path("w.safetensors"), {{"x", Tensor::ones({3})}});
  save_safetensors(path("w.safetensors"), {{"y", Tensor::zeros({2}, DType::Float64)}});
  EXPECT_EQ(files(), std::vector<std::string>{"w.safetensors"}) << "no .tmp file is left behind";
  const SafetensorsFile loaded = load_safetensors(path("w.safetensors"));
  EXPECT_EQ(loaded.tensors.count("x"), 0u) << "the second save replaced the first";
  EXPECT_EQ(loaded.tensors.count("y"), 1u);
}

TEST_F(Safetensors, SaveFailureNamesThePathAndLeavesNothing) {
  const std::string target = path("missing_dir/out.safetensors");
  try {
    save_safetensors(target, {{"x", Tensor::ones({3})}});
    ADD_FAILURE() << "saving into a missing directory did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(target), std::string::npos) << e.what();
  }
  EXPECT_TRUE(files().empty());
  // Renaming onto a directory fails after the temporary is complete; it is removed too.
  fs::create_directories(path("taken.safetensors/inside"));
  EXPECT_THROW(save_safetensors(path("taken.safetensors"), {{"x", Tensor::ones({3})}}),
               std::runtime_error);
  EXPECT_EQ(files(), std::vector<std::string>{"taken.safetensors"});
}

TEST_F(Safetensors, InvalidArgumentsToSave) {
  EXPECT_THROW(save_safetensors(path("a.safetensors"), {{"x", Tensor()}}), std::invalid_argument);
  EXPECT_THROW(save_safetensors(path("a.safetensors"), {{"__metadata__", Tensor::ones({1})}}),
               std::invalid_argument);
  EXPECT_THROW(save_safetensors(path("a.safetensors"), {{"bad\xff", Tensor::ones({1})}}),
               std::invalid_argument);
  EXPECT_TRUE(files().empty());
}

TEST_F(Safetensors, MissingTruncatedAndShortFiles) {
  expect_load_error(path("nope.safetensors"), "cannot open");
  write_bytes(path("short"), "abc");
  expect_load_error(path("short"), "fewer than the 8-byte header length");
  save_safetensors(path("full"), {{"x", random_tensor({4, 4}, 5)}});
  const std::string bytes = read_bytes(path("full"));
  write_bytes(path("cut_header"), bytes.substr(0, 20));
  expect_load_error(path("cut_header"), "header length");
  write_bytes(path("cut_data"), bytes.substr(0, bytes.size() - 8));
  expect_load_error(path("cut_data"), "beyond the");
  write_bytes(path("huge_length"), length_prefix(1ULL << 60) + "{}");
  expect_load_error(path("huge_length"), "header length");
  expect_load_error(dir_.path().string(), "not a regular file");
}

TEST_F(Safetensors, CorruptHeaders) {
  const auto expect = [&](const std::string& name, const std::string& header, std::size_t data,
                          const std::string& what) {
    write_bytes(path(name), file_with_header(header, data));
    expect_load_error(path(name), what);
  };
  expect("json", R"({"x": {"dtype": "F32", )", 0, "invalid JSON header");
  expect("array", R"([1, 2])", 0, "does not start with '{'");
  expect("not_object", R"({"x": 3})", 0, "is not a JSON object");
  expect("dtype", R"({"x": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})", 4,
         "unsupported dtype 'F16'");
  expect("no_dtype", R"({"x": {"shape": [2], "data_offsets": [0, 8]}})", 8, "'dtype'");
  expect("no_shape", R"({"x": {"dtype": "F32", "data_offsets": [0, 8]}})", 8, "'shape'");
  expect("extra", R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "y": 1}})", 8,
         "unknown field 'y'");
  expect("negative", R"({"x": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8,
         "non-negative integer");
  expect("offsets3", R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]}})", 8,
         "data_offsets");
  expect("size", R"({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8,
         "needs 12 bytes");
  expect("reversed", R"({"x": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", 8,
         "end before they begin");
  expect("range", R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", 8,
         "beyond the 8-byte data buffer");
  expect("overlap",
         R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
         12, "overlaps");
  expect("gap",
         R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "y": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
         12, "bytes [4, 8)");
  expect("trailing", R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 12,
         "trailing bytes [8, 12)");
  expect("metadata", R"({"__metadata__": {"k": 1}})", 0, "is not a string");
}

TEST_F(Safetensors, AcceptsAHandWrittenFile) {
  // Unpadded header, metadata first, tensors out of name order: all allowed by the spec.
  const std::string header =
      R"({"__metadata__":{"a":"b"},"z":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
      R"("a":{"dtype":"F64","shape":[],"data_offsets":[8,16]}})";
  std::string data(16, '\0');
  const std::int64_t z = -3;
  const double a = 1.25;
  std::memcpy(data.data(), &z, 8);
  std::memcpy(data.data() + 8, &a, 8);
  write_bytes(path("hand"), length_prefix(header.size()) + header + data);
  const SafetensorsFile f = load_safetensors(path("hand"));
  EXPECT_EQ(f.tensors.at("z").to_vector<std::int64_t>(), std::vector<std::int64_t>{-3});
  EXPECT_EQ(f.tensors.at("a").dim(), 0);
  EXPECT_EQ(f.tensors.at("a").item<double>(), 1.25);
  EXPECT_EQ(f.metadata.at("a"), "b");
}

}  // namespace
}  // namespace ortho
