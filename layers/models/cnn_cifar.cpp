#include "layers/models/cnn_cifar.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "layers/activation.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/pooling.h"

namespace ortho::nn {
namespace {

// A bias-free conv drawn from N(0, 2 / fan_in), the authors' init.
std::shared_ptr<Conv2d> conv(std::int64_t in, std::int64_t out, std::int64_t k,
                             std::int64_t padding, Generator* gen) {
  auto c = std::make_shared<Conv2d>(in, out, k, 1, padding, 1, /*bias=*/false, 1, gen);
  init::normal_(c->weight().value(), 0.0, std::sqrt(2.0 / static_cast<double>(in * k * k)), gen);
  return c;
}

}  // namespace

CNNCifar::CNNCifar(const std::vector<std::int64_t>& widths, std::int64_t convs_per_stage,
                   std::int64_t num_classes, Generator* gen) {
  check_argument(!widths.empty() && convs_per_stage > 0 && num_classes > 0,
                 "CNNCifar: need at least one stage, one conv per stage and one class, got ",
                 widths.size(), " stages, ", convs_per_stage, " convs, ", num_classes, " classes");
  std::int64_t channels = 3;
  for (std::size_t s = 0; s < widths.size(); ++s) {
    const std::string stage = std::to_string(s + 1);
    for (std::int64_t i = 0; i < convs_per_stage; ++i) {
      const std::string id = stage + "_" + std::to_string(i);
      add("conv" + id, conv(channels, widths[s], 3, 1, gen));
      add("bn" + id, std::make_shared<BatchNorm2d>(widths[s]));
      add("relu" + id, std::make_shared<ReLU>());
      channels = widths[s];
    }
    add("pool" + stage, std::make_shared<MaxPool2d>(2, 2));
  }
  add("fc6", conv(channels, channels, 4, 0, gen));
  add("flatten", std::make_shared<Flatten>(1));
  add("fc", std::make_shared<Linear>(channels, num_classes, /*bias=*/true, gen));
}

std::shared_ptr<CNNCifar> cnn6(std::int64_t num_classes, Generator* gen) {
  return std::make_shared<CNNCifar>(std::vector<std::int64_t>{64, 64, 64}, 2, num_classes, gen);
}

std::shared_ptr<CNNCifar> cnn9(std::int64_t num_classes, Generator* gen) {
  return std::make_shared<CNNCifar>(std::vector<std::int64_t>{64, 64, 64}, 3, num_classes, gen);
}

std::shared_ptr<CNNCifar> wide_cnn9(std::int64_t num_classes, Generator* gen) {
  return std::make_shared<CNNCifar>(std::vector<std::int64_t>{64, 128, 256}, 3, num_classes, gen);
}

}  // namespace ortho::nn
