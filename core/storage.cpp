#include "core/storage.h"

#include "core/allocator.h"

namespace ortho {

Storage::Storage(std::size_t bytes, Device device)
    : Storage(bytes, device, allocator_for(device)) {}

Storage::Storage(std::size_t bytes, Device device, Allocator& allocator)
    : bytes_(bytes), device_(device), allocator_(&allocator) {
  data_ = allocator_->allocate(bytes);
}

Storage::~Storage() {
  allocator_->deallocate(data_, bytes_);
}

}  // namespace ortho
