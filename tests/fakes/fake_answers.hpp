#pragma once
// The answers a fake driver library gives: read from the JSON file named by the environment
// variable GPUDOCTOR_FAKE_DRIVER (a scenario's driver.json, recorded from a real host or taken
// from a real report). Error names and strings come from the knowledge base, whose `message`
// fields are what the real libraries returned on a real host.

#include <nlohmann/json.hpp>
#include <string>

namespace fake {

/// The scenario's answers for `section` ("nvml" or "cuda"); an empty object when the file or
/// section is missing.
const nlohmann::json& answers(const char* section);

/// Behaves as the scenario asks at entry point `fn`: sleeps forever for "hang", raises SIGSEGV
/// for "crash" (keys "hang_in" / "crash_in" of the section); for "freeze_in", moves itself
/// into the cgroup v1 freezer folder "freezer_cgroup" and freezes it (unkillable until thawed).
void maybe_misbehave(const char* section, const char* fn);

/// Name and message of an error code from src/kb/data/{cuda,nvml}_errors.toml.
const char* error_name(const char* table, int code);
const char* error_message(const char* table, int code);

/// Copies `s` into `buf` of `len` bytes, NUL-terminated; false when it does not fit.
bool copy_string(const std::string& s, char* buf, unsigned len);

}  // namespace fake
