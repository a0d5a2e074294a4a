// libFuzzer target over the reports: the input is a snapshot's JSON, loaded, diagnosed and
// rendered by every reporter (terminal, JSON, Markdown, HTML, Prometheus), whose outputs are
// checked (feed_report.hpp).
//   build-fuzz/tests/fuzz_report tests/corpus/snapshots
#include <cstdio>
#include <cstdlib>

#include "feed_report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (auto problem = gpudoctor::fuzz::feed_report(data, size); !problem.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
