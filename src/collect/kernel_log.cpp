#include <fcntl.h>
#include <re2/re2.h>
#include <re2/set.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <deque>

#include "collect/collect.hpp"

namespace gpudoctor {

namespace {

constexpr size_t k_max_lines = 200;

// Kernel messages about the GPU stack: the nvidia module's own (NVRM: ..., Xid), nouveau, and the
// module loader's refusals under Secure Boot (kernel/module/signing.c, security/lockdown).
const re2::RE2::Set& patterns() {
  static const re2::RE2::Set* set = [] {
    auto* s = new re2::RE2::Set(re2::RE2::Options(), re2::RE2::UNANCHORED);
    for (const char* p : {"NVRM:", "Xid", "nvidia", "nouveau", "fallen off the bus", "Key was rejected",
                          "module verification failed", "Loading of unsigned module is rejected",
                          "Lockdown:.*unsigned module", "Required key not available"}) {
      s->Add(p, nullptr);
    }
    s->Compile();
    return s;
  }();
  return *set;
}

void keep(std::deque<std::string>& lines, std::string_view line) {
  std::vector<int> hits;
  if (!patterns().Match(line, &hits)) return;
  lines.emplace_back(line.substr(0, 1000));
  if (lines.size() > k_max_lines) lines.pop_front();
}

bool read_kmsg(std::deque<std::string>& lines) {
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
    keep(lines, msg);
  }
  ::close(fd);
  return true;
}

}  // namespace

void collect_kernel_log(CollectContext& ctx) {
  auto& log = ctx.snapshot.kernel_log;
  std::deque<std::string> lines;
  if (ctx.fs.is_host() && read_kmsg(lines)) {
    log.source = std::string("/dev/kmsg");
  } else {
    log.source = Fact<std::string>::unknown("/dev/kmsg not readable and no kernel log file found");
    for (const char* file : {"/var/log/kern.log", "/var/log/dmesg", "/var/log/messages", "/var/log/syslog"}) {
      auto text = ctx.fs.read_tail(file, std::size_t{8} << 20);
      if (!text) continue;
      size_t pos = 0;
      while (pos < text->size()) {
        size_t nl = text->find('\n', pos);
        if (nl == std::string::npos) nl = text->size();
        keep(lines, std::string_view(*text).substr(pos, nl - pos));
        pos = nl + 1;
      }
      log.source = std::string(file);
      break;
    }
  }
  log.lines.assign(lines.begin(), lines.end());
}


}  // namespace gpudoctor
