#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/device.h"

namespace ortho::apps {

// Adds --device (cpu, cuda or cuda:N) to `app`, bound to `device`, whose value is the default.
CLI::Option* add_device_flag(CLI::App& app, std::string& device);

// Adds --tf32 to `app`, bound to `tf32`: float32 matmuls and convolutions on CUDA may use TF32
// tensor cores (ortho::set_allow_tf32); off by default, no effect on the CPU.
CLI::Option* add_tf32_flag(CLI::App& app, bool& tf32);

// The device `text` names ("cpu", "cuda" or "cuda:N"), checked to exist in this process.
// Throws std::invalid_argument for a malformed name, and for a CUDA device this process does
// not have: "--device cuda: no CUDA device is available (...)" when it has none (no GPU, or a
// build without the CUDA backend), "--device cuda:3: no such CUDA device (this process sees
// 1 CUDA device: cuda:0)" for an index past the last.
Device resolve_device(const std::string& text);

}  // namespace ortho::apps
