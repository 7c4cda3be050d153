#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ortho::testing {

// Largest |a - b| over all elements (both converted to double); shapes must match.
double max_abs_diff(const Tensor& a, const Tensor& b);

// Expects equal shapes and every element within atol + rtol * |expected|.
void expect_close(const Tensor& actual, const Tensor& expected, double atol = 1e-5,
                  double rtol = 1e-5);

// A float64 (or other dtype) tensor of values in [-1, 1) from a fixed seed.
Tensor random_tensor(const Shape& shape, std::uint64_t seed, DType dtype = DType::Float64);

// A fresh directory under the system temp folder, named after `prefix`, the running test and
// the process, removed with its contents when this goes out of scope.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Expects fn() to throw std::invalid_argument whose message contains `needle`.
void expect_invalid_argument(const std::function<void()>& fn, const std::string& needle);

// Standard deviation over all elements (dividing by the count), e.g. to check an init's spread.
double population_std(const Tensor& t);

}  // namespace ortho::testing
