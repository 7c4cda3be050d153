// Command-line conventions shared by the ortho apps, over CLI11.
#include "apps/common/flags.h"

#include <exception>
#include <iostream>
#include <stdexcept>

namespace ortho::apps {

void print_error(const std::string& program, const std::string& message) {
  std::string line = message;
  for (char& ch : line) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  std::cerr << program << ": " << line << '\n';
}

std::optional<int> parse_flags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& help) {
    return app.exit(help);  // --help (and --version) print to stdout and exit 0
  } catch (const CLI::ParseError& error) {
    print_error(app.get_name(), std::string(error.what()) + " (run with --help for usage)");
    return 2;
  }
  return std::nullopt;
}

CLI::Option* add_threads_flag(CLI::App& app, int& threads) {
  return app.add_option("--threads", threads, "CPU threads for OpenMP loops and OpenBLAS")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
}

int run_app(const std::string& program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::invalid_argument& error) {
    print_error(program, error.what());
    return 2;
  } catch (const std::exception& error) {
    print_error(program, error.what());
    return 1;
  }
}

}  // namespace ortho::apps
