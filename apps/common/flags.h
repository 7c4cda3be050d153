#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

namespace ortho::apps {

// Parses the command line with `app`. Returns std::nullopt when the program should go on;
// otherwise the exit status it should return at once: 0 after printing --help to stdout, 2
// after printing one readable line about a bad flag to stderr.
std::optional<int> parse_flags(CLI::App& app, int argc, char** argv);

// Adds --threads N (>= 1) to `app`, bound to `threads`, whose value is the default.
CLI::Option* add_threads_flag(CLI::App& app, int& threads);

// Runs an app's body with the exit-status conventions of every ortho app: the body's status
// on success; 2 with one line on stderr when it throws std::invalid_argument (bad flags or
// input); 1 with one line on stderr for any other exception.
int run_app(const std::string& program, const std::function<int()>& body);

// Prints "<program>: <message>" on one line of stderr (newlines in `message` become spaces).
void print_error(const std::string& program, const std::string& message);

}  // namespace ortho::apps
