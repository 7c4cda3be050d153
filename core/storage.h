#pragma once

#include <cstddef>
#include <memory>

#include "core/device.h"

namespace ortho {
class Allocator;
}

namespace ortho {

// A block of device memory owned through the device's allocator; tensors share it.
class Storage {
 public:
  Storage(std::size_t bytes, Device device);
  // Memory from a specific allocator, e.g. page-locked host memory (pinned_host_allocator()).
  Storage(std::size_t bytes, Device device, Allocator& allocator);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
};

using StoragePtr = std::shared_ptr<Storage>;

}  // namespace ortho
