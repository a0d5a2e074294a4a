// Every typed state of the snapshot and the diagnosis against its JSON word: each enumerator has
// exactly one word and comes back from it, the words are the ones snapshots and --json have always
// carried, and a word that is no enumerator's is refused (a snapshot holding one is bad input).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/finding.hpp"
#include "core/library_copy_text.hpp"
#include "core/snapshot_json.hpp"

namespace gpudoctor {
namespace {

// The table lists the enumerators 0..last in declaration order, each once, each word once, and
// each word maps back to its enumerator; `words` are the words JSON has always used.
template <NamedEnum E>
void expect_every_enumerator_round_trips(E last, const std::vector<std::string>& words) {
  const auto& names = EnumText<E>::names;
  ASSERT_EQ(std::size(names), static_cast<std::size_t>(last) + 1) << EnumText<E>::what << ": an enumerator has no word";
  std::set<std::string_view> seen;
  std::vector<std::string> got;
  for (std::size_t i = 0; i < std::size(names); ++i) {
    E e = static_cast<E>(i);
    EXPECT_EQ(names[i].first, e) << EnumText<E>::what << " table out of declaration order at " << i;
    EXPECT_TRUE(seen.insert(to_string(e)).second) << "word used twice: " << to_string(e);
    EXPECT_EQ(enum_from_string<E>(to_string(e)), e) << to_string(e);
    got.emplace_back(to_string(e));
  }
  EXPECT_EQ(got, words);
}

TEST(EnumText, EveryStateRoundTripsThroughTheWordsJsonHasAlwaysUsed) {
  expect_every_enumerator_round_trips(ChildStatus::unanswered,
                                      {"ok", "timeout", "stuck", "crashed", "failed", "not run", "unanswered"});
  expect_every_enumerator_round_trips(DriverProbeOrigin::text, {"none", "host", "text"});
  expect_every_enumerator_round_trips(ProbeMode::full, {"", "quick", "full"});
  expect_every_enumerator_round_trips(FigureState::no_reference,
                                      {"ok", "low", "wrong", "failed", "not measured", "no reference"});
  expect_every_enumerator_round_trips(GpuState::not_reached, {"healthy", "degraded", "failed", "not reached"});
  expect_every_enumerator_round_trips(PerProcess::no_nvml,
                                      {"", "pid", "nspid", "not visible", "no processes listed", "no nvml"});
  expect_every_enumerator_round_trips(LibraryMatch::not_loaded,
                                      {"as predicted", "another file", "not predicted", "not loaded"});
  expect_every_enumerator_round_trips(
      ProgramVerdict::unknown, {"", "used_gpu", "starved", "one_of_many", "not_used", "not_visible", "unknown"});
  expect_every_enumerator_round_trips(CopyStatus::also_mapped,
                                      {"accepted", "wrong ELF class", "wrong machine",
                                       "same name, in a folder the loader does not search", "another version",
                                       "also mapped: a second copy in the same process"});
  expect_every_enumerator_round_trips(ProcessKind::graphics, {"", "compute", "graphics"});
  expect_every_enumerator_round_trips(LibraryRequest::dlopen, {"", "NEEDED", "dlopen"});
}

TEST(EnumText, AWordThatIsNoEnumeratorsIsNone) {
  EXPECT_EQ(enum_from_string<ChildStatus>("not_run"), std::nullopt);  // the word has a space
  EXPECT_EQ(enum_from_string<ChildStatus>("OK"), std::nullopt);       // exact, not case-folded
  EXPECT_EQ(enum_from_string<ChildStatus>("ok "), std::nullopt);
  EXPECT_EQ(enum_from_string<ChildStatus>(""), std::nullopt);
  EXPECT_EQ(enum_from_string<ProbeMode>(""), ProbeMode::none);  // no probe: the word of every other snapshot
  EXPECT_EQ(enum_from_string<GpuState>("not_reached"), std::nullopt);
  EXPECT_EQ(enum_from_string<FigureState>("not measured"), FigureState::not_measured);
}

nlohmann::json snapshot_with(const nlohmann::json& driver) {
  return nlohmann::json{{"kind", "gpudoctor-snapshot"}, {"schema", 1}, {"driver", driver}};
}

TEST(EnumText, SnapshotsCarryTheWordsAndReadThemBack) {
  Snapshot s;
  s.driver.mode = DriverProbeOrigin::host;
  s.driver.nvml_child = {ChildStatus::stuck, "did not die when killed", 5000};
  s.compute.attempted = true;
  s.compute.mode = ProbeMode::quick;
  auto j = to_json(s);
  EXPECT_EQ(j["driver"]["mode"], "host");
  EXPECT_EQ(j["driver"]["nvml_child"]["status"], "stuck");
  EXPECT_EQ(j["driver"]["cuda_child"]["status"], "not run");
  EXPECT_EQ(j["compute"]["mode"], "quick");
  EXPECT_EQ(to_json(Snapshot{})["compute"]["mode"], "");
  Snapshot back = snapshot_from_json(j);
  EXPECT_EQ(back.driver.mode, DriverProbeOrigin::host);
  EXPECT_EQ(back.driver.nvml_child.status, ChildStatus::stuck);
  EXPECT_EQ(back.compute.mode, ProbeMode::quick);
  EXPECT_EQ(to_json(back), j);
}

TEST(EnumText, ASnapshotWithAnUnknownWordIsBadInputSayingWhich) {
  auto bad_status = snapshot_with({{"mode", "host"}, {"nvml_child", {{"status", "exploded"}}}});
  try {
    (void)snapshot_from_json(bad_status);
    FAIL() << "an unknown child status was read";
  } catch (const SnapshotError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown child status \"exploded\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(snapshot_from_json(snapshot_with({{"mode", "remote"}})), SnapshotError);
  EXPECT_THROW(snapshot_from_json(snapshot_with({{"mode", 1}})), SnapshotError);  // not the enum's number either
  EXPECT_NO_THROW(snapshot_from_json(snapshot_with({{"mode", "text"}})));         // the near word is read
  // The word in the message is quoted, escaped and cut: a snapshot is hostile input.
  auto long_word = snapshot_with({{"mode", std::string(5000, 'x') + "\n"}});
  try {
    (void)snapshot_from_json(long_word);
    FAIL();
  } catch (const SnapshotError& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

// dlopen's answer is no longer a fact whose "reason" says "loaded", but it keeps that JSON.
TEST(EnumText, LibraryLoadKeepsTheShapeItHadAsAFact) {
  CudaProbe c;
  EXPECT_EQ(to_json(c)["load_error"], (nlohmann::json{{"value", nullptr}, {"reason", "not collected"}}));
  c.load_error = LibraryLoad::success();
  EXPECT_EQ(to_json(c)["load_error"], (nlohmann::json{{"value", nullptr}, {"reason", "loaded"}}));
  EXPECT_EQ(cuda_probe_from_json(to_json(c)).load_error.state, LibraryLoad::State::loaded);
  c.load_error = LibraryLoad::failure("libcuda.so.1: cannot open shared object file: No such file or directory");
  EXPECT_EQ(to_json(c)["load_error"], "libcuda.so.1: cannot open shared object file: No such file or directory");
  auto back = cuda_probe_from_json(to_json(c));
  EXPECT_TRUE(back.load_error.failed());
  EXPECT_EQ(back.load_error.error, c.load_error.error);
  // A reason other than "loaded" (null, or the probe never got there) is not a load.
  EXPECT_EQ(cuda_probe_from_json(nlohmann::json{{"load_error", nullptr}}).load_error.state,
            LibraryLoad::State::not_reached);
  EXPECT_EQ(cuda_probe_from_json(nlohmann::json{{"load_error", {{"value", nullptr}, {"reason", "loaded later"}}}})
                .load_error.state,
            LibraryLoad::State::not_reached);
}

// A probe step's outcome, from the reasons the probe writes (compute_probe.cpp, library_steps.cpp).
TEST(EnumText, StepOutcomesFromTheReasonsTheProbeWrites) {
  EXPECT_EQ(step_outcome(Fact<std::string>("1048576 elements computed and checked on the host, all right")),
            StepOutcome::done);
  EXPECT_EQ(step_outcome(Fact<std::string>{}), StepOutcome::not_reached);
  EXPECT_EQ(step_outcome(Fact<std::uint64_t>::unknown("not in --quick")), StepOutcome::skipped);
  EXPECT_EQ(step_outcome(Fact<Measured>::unknown("bf16 needs compute capability 8.0 or newer")),
            StepOutcome::unsupported);
  EXPECT_EQ(step_outcome(Fact<std::string>::unknown(
                "cudnnConvolutionForward returned wrong results (relative error 0.31)")),
            StepOutcome::wrong);
  // Near texts: a library that did not load because of a wrong ELF class computed nothing wrong;
  // a reason that merely mentions --quick was not skipped by it.
  EXPECT_EQ(step_outcome(Fact<std::string>::unknown(
                "cudnn not loaded: libcudnn.so.9: wrong ELF class: ELFCLASS32")),
            StepOutcome::failed);
  EXPECT_EQ(step_outcome(Fact<std::uint64_t>::unknown("cuMemAlloc_v2 -> CUDA_ERROR_OUT_OF_MEMORY (quick check)")),
            StepOutcome::failed);
  EXPECT_EQ(step_outcome(Fact<std::string>::unknown("not collected yet")), StepOutcome::failed);
}

LibraryCopy copy_of(CopyStatus status, std::string detail = "", bool off_path = false) {
  LibraryCopy c;
  c.path = "/opt/venv/lib/python3.12/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12";
  c.resolved = c.path;
  c.found_via = off_path ? "not on the search path" : "RPATH of /opt/venv/lib/python3.12/site-packages/torch/lib/libtorch_cuda.so";
  c.status = status;
  c.detail = std::move(detail);
  c.off_path = off_path;
  return c;
}

// A snapshot holding one library whose other copies have these statuses, as JSON.
nlohmann::json snapshot_with_copies(const std::vector<nlohmann::json>& statuses) {
  nlohmann::json others = nlohmann::json::array();
  for (const auto& st : statuses) others.push_back({{"path", "/x/libcudart.so.12"}, {"status", st}});
  return nlohmann::json{{"kind", "gpudoctor-snapshot"},
                        {"schema", 1},
                        {"frameworks", {{{"framework", "torch"}, {"libraries", {{{"name", "libcudart.so.12"}, {"others", others}}}}}}}};
}

// A copy's status is a CopyStatus with its detail and place; the snapshot's "status" keeps the
// one text the collector has always written, and reads back into the same three fields.
TEST(EnumText, LibraryCopyStatusKeepsTheTextSnapshotsHaveAlwaysCarried) {
  const std::vector<std::pair<LibraryCopy, std::string>> cases = {
      {copy_of(CopyStatus::accepted), "accepted"},
      {copy_of(CopyStatus::wrong_machine, "x86-64"), "wrong machine: x86-64"},
      {copy_of(CopyStatus::wrong_class, "ELFCLASS32"), "wrong ELF class: ELFCLASS32"},
      {copy_of(CopyStatus::wrong_machine), "wrong machine"},  // a skipped file whose machine had no name
      {copy_of(CopyStatus::wrong_machine, "x86-64", true), "wrong machine: x86-64, not on the search path"},
      {copy_of(CopyStatus::wrong_class, "ELFCLASS64", true), "wrong ELF class: ELFCLASS64, not on the search path"},
      {copy_of(CopyStatus::same_name, "", true), "same name, in a folder the loader does not search"},
      {copy_of(CopyStatus::another_version, "", true), "another version"},
      {copy_of(CopyStatus::also_mapped), "also mapped: a second copy in the same process"},
  };
  Snapshot s;
  s.frameworks.emplace_back().libraries.emplace_back().name = "libcudart.so.12";
  for (const auto& [c, text] : cases) {
    EXPECT_EQ(copy_status_text(c), text);
    s.frameworks[0].libraries[0].others.push_back(c);
  }
  auto j = to_json(s);
  const auto& others = j["frameworks"][0]["libraries"][0]["others"];
  ASSERT_EQ(others.size(), cases.size());
  Snapshot back = snapshot_from_json(j);
  const auto& read = back.frameworks.at(0).libraries.at(0).others;
  ASSERT_EQ(read.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [c, text] = cases[i];
    EXPECT_EQ(others[i]["status"], text);
    EXPECT_EQ(others[i].size(), 7U) << others[i].dump();  // path, resolved, found_via, status, reached, version, origin
    EXPECT_EQ(read[i].status, c.status) << text;
    EXPECT_EQ(read[i].detail, c.detail) << text;
    EXPECT_EQ(read[i].off_path, c.off_path) << text;
  }
  EXPECT_EQ(to_json(back), j);
}

TEST(EnumText, ACopyStatusIsReadOnlyInTheFormsItIsWritten) {
  LibraryCopy c;
  ASSERT_TRUE(read_copy_status("wrong machine: x86-64, not on the search path", c));
  EXPECT_EQ(c.status, CopyStatus::wrong_machine);
  EXPECT_EQ(c.detail, "x86-64");
  EXPECT_TRUE(c.off_path);
  ASSERT_TRUE(read_copy_status("wrong machine, not on the search path", c));  // no detail, off the path
  EXPECT_EQ(c.detail, "");
  EXPECT_TRUE(c.off_path);
  // Near texts: each is refused and leaves the copy as it was.
  for (const char* text : {"exploded", "", "Accepted", "accepted ", "accepted: x86-64", "another version: 12",
                           "wrong machine:", "wrong machine: ", "wrong machine; x86-64", "wrong machinery",
                           "wrong ELF class:ELFCLASS32", "not on the search path", "same name"}) {
    LibraryCopy before = copy_of(CopyStatus::also_mapped);
    LibraryCopy after = before;
    EXPECT_FALSE(read_copy_status(text, after)) << text;
    EXPECT_EQ(after.status, before.status) << text;
    EXPECT_EQ(after.detail, before.detail) << text;
  }
}

TEST(EnumText, ASnapshotWithAnUnknownCopyStatusIsBadInput) {
  try {
    (void)snapshot_from_json(snapshot_with_copies({"accepted", "wrong machine; x86-64"}));
    FAIL() << "an unknown library copy status was read";
  } catch (const SnapshotError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown library copy status \"wrong machine; x86-64\""), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(snapshot_from_json(snapshot_with_copies({"reached"})), SnapshotError);
  EXPECT_THROW(snapshot_from_json(snapshot_with_copies({3})), SnapshotError);  // not a string
  // The near texts are read; a copy without a status is the default one.
  auto good = snapshot_from_json(snapshot_with_copies({"wrong machine: x86-64", "another version"}));
  EXPECT_EQ(good.frameworks[0].libraries[0].others[0].status, CopyStatus::wrong_machine);
  EXPECT_EQ(good.frameworks[0].libraries[0].others[1].status, CopyStatus::another_version);
  nlohmann::json no_status = snapshot_with_copies({"accepted"});
  no_status["frameworks"][0]["libraries"][0]["others"][0].erase("status");
  EXPECT_EQ(snapshot_from_json(no_status).frameworks[0].libraries[0].others[0].status, CopyStatus::accepted);
  // The word in the message is quoted, escaped and cut.
  try {
    (void)snapshot_from_json(snapshot_with_copies({"wrong machine\n" + std::string(5000, 'x')}));
    FAIL();
  } catch (const SnapshotError& e) {
    EXPECT_LT(std::string(e.what()).size(), 300U);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace gpudoctor
