#include <fcntl.h>
#include <re2/re2.h>
#include <re2/set.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <deque>
#include <utility>

#include "collect/collect.hpp"
#include "core/path.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {

namespace {

constexpr size_t k_max_lines = 200;

// Kernel messages about the GPU stack, from the kernel-log catalogue (kb/data/kernel_log.toml):
// every line of it and its `keep` patterns (the nvidia module's own NVRM: lines, nvidia and nouveau
// devices). Its lines that name a fault (an Xid, a GPU gone from the bus, a refused module) are kept
// apart from the module's ordinary chatter, so that a chatty driver cannot push them out of the window.
struct Patterns {
  re2::RE2::Set keep{re2::RE2::Options(), re2::RE2::UNANCHORED};
  re2::RE2::Set fault{re2::RE2::Options(), re2::RE2::UNANCHORED};
};

const Patterns& patterns() {
  static const Patterns* p = [] {
    auto* out = new Patterns();
    const auto& kb = kb::KnowledgeBase::get();
    for (const auto& k : kb.kernel_log_keep()) out->keep.Add(k, nullptr);
    for (const auto& line : kb.kernel_log_lines()) {
      out->keep.Add(line.pattern, nullptr);
      if (line.fault) out->fault.Add(line.pattern, nullptr);
    }
    out->keep.Compile();
    out->fault.Compile();
    return out;
  }();
  return *p;
}

// The kernel's first message of a boot (init/main.c prints linux_banner first): "[    0.000000] Linux
// version ..." in dmesg and older syslog files, "kernel: Linux version ..." where rsyslog takes the
// journal's records without the kernel's time stamp (Ubuntu 22.04 and newer).
const re2::RE2& boot_pattern() {
  static const re2::RE2 re("(?:\\[ *0\\.0+\\] |kernel: )Linux version [0-9]");
  return re;
}

struct Kept {
  std::deque<std::pair<size_t, std::string>> faults, others;
  size_t seen = 0;
  void add(std::string_view line) {
    if (!patterns().keep.Match(line, nullptr)) return;
    auto& into = patterns().fault.Match(line, nullptr) ? faults : others;
    into.emplace_back(seen++, std::string(line.substr(0, 1000)));
    if (into.size() > k_max_lines) into.pop_front();
  }
  void clear() {
    faults.clear();
    others.clear();
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    auto f = faults.begin(), o = others.begin();
    while (f != faults.end() || o != others.end()) {
      if (o == others.end() || (f != faults.end() && f->first < o->first)) out.push_back((f++)->second);
      else out.push_back((o++)->second);
    }
    return out;
  }
};

bool read_kmsg(Kept& lines) {
  int fd = ::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  std::array<char, 8192> buf{};
  for (int records = 0; records < 200000; ++records) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) continue;  // overwritten records
      break;                         // EAGAIN: the end
    }
    if (n == 0) break;
    std::string_view rec(buf.data(), static_cast<size_t>(n));
    size_t semi = rec.find(';');
    std::string_view msg = semi == std::string_view::npos ? rec : rec.substr(semi + 1);
    size_t nl = msg.find('\n');
    if (nl != std::string_view::npos) msg = msg.substr(0, nl);
    lines.add(msg);
  }
  ::close(fd);
  return true;
}

}  // namespace

std::vector<std::string> kernel_log_lines_of_file(std::string_view text) {
  Kept kept;
  for_each_line(text, [&](std::string_view line) {
    // A log file spans boots: what an earlier boot said is not the state of this one.
    if (re2::RE2::PartialMatch(line, boot_pattern())) kept.clear();
    kept.add(line);
  });
  return kept.lines();
}

void collect_kernel_log(CollectContext& ctx) {
  auto& log = ctx.snapshot.kernel_log;
  Kept kept;
  if (ctx.fs.is_host() && read_kmsg(kept)) {  // /dev/kmsg holds this boot only
    log.source = std::string("/dev/kmsg");
    log.lines = kept.lines();
    return;
  }
  log.source = Fact<std::string>::unknown("/dev/kmsg not readable and no kernel log file found");
  for (const char* file : {"/var/log/kern.log", "/var/log/dmesg", "/var/log/messages", "/var/log/syslog"}) {
    auto text = ctx.fs.read_tail(file, std::size_t{8} << 20);
    if (!text) continue;
    log.lines = kernel_log_lines_of_file(*text);
    log.source = std::string(file);
    break;
  }
}

}  // namespace gpudoctor
