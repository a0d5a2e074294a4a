// Child processes with a time limit: a hang, a crash or an exception in a driver call must
// become an outcome, never a hang or a crash of gpudoctor.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "driver/child_process.hpp"

namespace gpudoctor {
namespace {

TEST(ChildProcess, KeepsTheLastStateOfEachChild) {
  auto r = run_children({[](const Emit& emit) {
                           emit("first");
                           emit("second");
                         },
                         [](const Emit& emit) { emit("other"); }},
                        std::chrono::milliseconds(5000));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(to_string(r[0].outcome.status), "ok");
  EXPECT_EQ(r[0].last_state, "second");
  EXPECT_EQ(r[1].last_state, "other");
}

TEST(ChildProcess, AHangIsKilledAtTheLimitAndKeepsWhatItSaid) {
  auto start = std::chrono::steady_clock::now();
  auto r = run_children({[](const Emit& emit) {
                          emit("before cuInit");
                          for (;;) ::pause();
                        }},
                        std::chrono::milliseconds(300));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(to_string(r[0].outcome.status), "timeout");
  EXPECT_EQ(r[0].last_state, "before cuInit");
  EXPECT_LT(ms, 3000);
}

TEST(ChildProcess, ALastWordEndsTheWaitAndTheChildIsOk) {
  // The probe's child says "done" and then tears its contexts down, which can take seconds: the
  // parent stops at "done", kills it, and counts it a success.
  ChildGroup group({[](const Emit& emit) {
    emit("working");
    emit("done");
    for (;;) ::pause();
  }});
  std::vector<std::string> seen;
  auto r = group.wait(std::chrono::milliseconds(10000), [&](std::size_t job, const std::string& state) {
    EXPECT_EQ(job, 0u);
    seen.push_back(state);
    return state == "done";
  });
  EXPECT_EQ(to_string(r[0].outcome.status), "ok");
  EXPECT_EQ(r[0].last_state, "done");
  EXPECT_EQ(seen, (std::vector<std::string>{"working", "done"}));
  EXPECT_LT(r[0].outcome.elapsed_ms, 5000);
}

TEST(ChildProcess, ACrashIsReportedWithItsSignal) {
  auto r = run_children({[](const Emit& emit) {
                          emit("loaded");
                          ::raise(SIGSEGV);
                        }},
                        std::chrono::milliseconds(5000));
  EXPECT_EQ(to_string(r[0].outcome.status), "crashed");
  EXPECT_NE(r[0].outcome.detail.find("SIGSEGV"), std::string::npos) << r[0].outcome.detail;
  EXPECT_EQ(r[0].last_state, "loaded");
}

TEST(ChildProcess, AnExceptionEndsTheChildNotTheCaller) {
  pid_t parent = ::getpid();
  auto r = run_children({[](const Emit&) { throw std::runtime_error("from the library"); }},
                        std::chrono::milliseconds(5000));
  EXPECT_EQ(::getpid(), parent);  // only the parent ever gets here
  EXPECT_EQ(to_string(r[0].outcome.status), "failed");
}

TEST(ChildProcess, OutputOfTheChildDoesNotReachOurs) {
  testing::internal::CaptureStdout();
  auto r = run_children({[](const Emit& emit) {
                          std::printf("library noise\n");
                          std::fflush(stdout);
                          emit("state");
                        }},
                        std::chrono::milliseconds(5000));
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(r[0].last_state, "state");
}

}  // namespace
}  // namespace gpudoctor
