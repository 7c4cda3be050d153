// The --device and --tf32 flags of the ortho apps, and the check that a requested GPU exists.
#include "apps/common/device_choice.h"

#include <stdexcept>

namespace ortho::apps {
namespace {

// The CUDA devices this process has, for an error message: "1 CUDA device: cuda:0".
std::string visible_cuda_devices(int count) {
  std::string text = std::to_string(count) + (count == 1 ? " CUDA device: " : " CUDA devices: ");
  text += "cuda:0";
  if (count > 1) text += " to cuda:" + std::to_string(count - 1);
  return text;
}

}  // namespace

CLI::Option* add_device_flag(CLI::App& app, std::string& device) {
  return app
      .add_option("--device", device,
                  "where tensors live and ops run: cpu, cuda (the first GPU) or cuda:N")
      ->capture_default_str();
}

CLI::Option* add_tf32_flag(CLI::App& app, bool& tf32) {
  return app.add_flag("--tf32", tf32,
                      "let float32 matmuls and convolutions on CUDA use TF32 tensor cores "
                      "(10-bit mantissa inputs; faster, less exact; no effect on cpu)");
}

Device resolve_device(const std::string& text) {
  Device device;
  try {
    device = Device::parse(text);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("--device " + text + ": " + error.what());
  }
  if (device.is_cpu()) return device;
  const int count = cuda_device_count();
  if (count == 0) {
    throw std::invalid_argument("--device " + text +
                                ": no CUDA device is available (no GPU visible to this process, "
                                "or ortho was built without its CUDA backend); use --device cpu");
  }
  if (device.index >= count) {
    throw std::invalid_argument("--device " + text + ": no such CUDA device (this process sees " +
                                visible_cuda_devices(count) + ")");
  }
  return device;
}

}  // namespace ortho::apps
