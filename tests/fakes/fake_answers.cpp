#include "fake_answers.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <toml++/toml.h>

namespace fake {

namespace {

const nlohmann::json& all() {
  static const nlohmann::json j = [] {
    const char* path = std::getenv("GPUDOCTOR_FAKE_DRIVER");
    if (path == nullptr) return nlohmann::json::object();
    std::ifstream in(path);
    if (!in) return nlohmann::json::object();
    auto parsed = nlohmann::json::parse(in, nullptr, false);
    return parsed.is_discarded() ? nlohmann::json::object() : parsed;
  }();
  return j;
}

struct ErrorText {
  std::string name;
  std::string message;
};

const std::map<int, ErrorText>& table(const char* which) {
  static std::map<std::string, std::map<int, ErrorText>> tables;
  auto it = tables.find(which);
  if (it != tables.end()) return it->second;
  std::map<int, ErrorText> t;
  try {
    auto doc = toml::parse_file(std::string(GPUDOCTOR_KB_DIR) + "/" + which + "_errors.toml");
    if (const auto* arr = doc["error"].as_array()) {
      for (const auto& n : *arr) {
        const auto* e = n.as_table();
        if (e == nullptr) continue;
        int code = static_cast<int>((*e)["code"].value_or(int64_t{-1}));
        t[code] = {(*e)["name"].value_or(std::string{}), (*e)["message"].value_or(std::string{})};
      }
    }
  } catch (...) {
  }
  return tables.emplace(which, std::move(t)).first->second;
}

}  // namespace

const nlohmann::json& answers(const char* section) {
  static const nlohmann::json empty = nlohmann::json::object();
  const auto& j = all();
  if (j.contains(section) && j[section].is_object()) return j[section];
  return empty;
}

void maybe_misbehave(const char* section, const char* fn) {
  const auto& a = answers(section);
  if (a.value("freeze_in", std::string{}) == fn) {
    // The stand-in for a call stuck in the kernel: join the cgroup v1 freezer folder the test
    // made and freeze it. A frozen task sleeps uninterruptibly (state D) and does not die of
    // SIGKILL until the folder is thawed, as a task stuck in a driver's ioctl does not.
    std::string cgroup = a.value("freezer_cgroup", std::string{});
    std::ofstream(cgroup + "/cgroup.procs") << ::getpid() << std::endl;
    std::ofstream(cgroup + "/freezer.state") << "FROZEN" << std::endl;
    for (;;) ::pause();
  }
  if (a.value("hang_in", std::string{}) == fn) {
    for (;;) ::pause();
  }
  if (a.value("crash_in", std::string{}) == fn) ::raise(SIGSEGV);
}

const char* error_name(const char* which, int code) {
  const auto& t = table(which);
  auto it = t.find(code);
  return it == t.end() ? nullptr : it->second.name.c_str();
}

const char* error_message(const char* which, int code) {
  const auto& t = table(which);
  auto it = t.find(code);
  return it == t.end() ? "Unknown Error" : it->second.message.c_str();
}

bool copy_string(const std::string& s, char* buf, unsigned len) {
  if (buf == nullptr || s.size() + 1 > len) return false;
  std::memcpy(buf, s.c_str(), s.size() + 1);
  return true;
}

}  // namespace fake
