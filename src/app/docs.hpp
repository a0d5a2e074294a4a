#pragma once
// The man page and the shell completions, generated from the command line's own definition (the
// CLI11 app that --help prints), so that they cannot drift from it: `gpudoctor --help-man`,
// `gpudoctor --completion bash|zsh|fish` (hidden options; the build writes the files the .deb ships).

#include <CLI/CLI.hpp>

#include <ostream>
#include <string_view>

namespace gpudoctor {

/// roff for man(1): NAME, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS (each with its options), and the
/// app's footer as EXIT STATUS.
void write_man_page(std::ostream& out, const CLI::App& app, std::string_view version);

/// A completion script for bash, zsh or fish: subcommands, and each one's options after it.
/// false for another shell.
bool write_completion(std::ostream& out, const CLI::App& app, std::string_view shell);

}  // namespace gpudoctor
