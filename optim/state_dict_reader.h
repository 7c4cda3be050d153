#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "core/serialize.h"
#include "core/tensor.h"

namespace ortho::optim {

// Reads a state dict key by key and remembers which keys it used, so that a dict of another
// layout fails on its first missing, mis-typed or left-over key. Every error is a
// std::invalid_argument starting with "<owner>: load_state_dict: " and naming the key.
class StateDictReader {
 public:
  StateDictReader(std::string owner, const TensorMap& dict)
      : owner_(std::move(owner)), dict_(dict) {}

  bool contains(const std::string& key) const { return dict_.contains(key); }
  // The tensor at `key`; throws when it is missing.
  const Tensor& tensor(const std::string& key);
  // A one-element tensor of any dtype, converted.
  std::int64_t int64(const std::string& key);
  double float64(const std::string& key);
  // Throws naming the first key no call above has read.
  void expect_all_read() const;

 private:
  const Tensor& scalar(const std::string& key);

  std::string owner_;
  const TensorMap& dict_;
  std::set<std::string> read_;
};

}  // namespace ortho::optim
