#include "optim/state_dict_reader.h"

#include "core/error.h"

namespace ortho::optim {

const Tensor& StateDictReader::tensor(const std::string& key) {
  const auto it = dict_.find(key);
  check_argument(it != dict_.end(), owner_, ": load_state_dict: missing key '", key, "'");
  read_.insert(key);
  return it->second;
}

const Tensor& StateDictReader::scalar(const std::string& key) {
  const Tensor& t = tensor(key);
  check_argument(t.numel() == 1, owner_, ": load_state_dict: '", key, "' is not a scalar (shape ",
                 t.shape(), ")");
  return t;
}

std::int64_t StateDictReader::int64(const std::string& key) {
  const Tensor& t = scalar(key);
  check_argument(t.dtype() == DType::Int64, owner_, ": load_state_dict: '", key, "' has dtype ",
                 dtype_name(t.dtype()), ", expected int64");
  return t.to(Device::cpu()).item<std::int64_t>();
}

double StateDictReader::float64(const std::string& key) {
  return scalar(key).to(Device::cpu()).to(DType::Float64).item<double>();
}

void StateDictReader::expect_all_read() const {
  for (const auto& [key, value] : dict_) {
    check_argument(read_.contains(key), owner_, ": load_state_dict: unexpected key '", key, "'");
  }
}

}  // namespace ortho::optim
