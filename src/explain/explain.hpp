#pragma once
// gpudoctor explain: reads what users paste (logs, issue templates, nvidia-smi, pip list,
// collect_env, ...) in one streamed pass, annotates every significant line from the message
// catalogue (kb/data/messages.toml), turns the facts the text states into a partial Snapshot, and
// diagnoses both through the same rules as `check`.

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/finding.hpp"
#include "core/snapshot.hpp"
#include "explain/line_reader.hpp"

namespace re2 {
class RE2;
}

namespace gpudoctor::explain {

/// One message of the catalogue.
struct Message {
  std::string id;
  std::string framework;
  std::string pattern;
  std::string cause;  ///< a cause id, or "depends" (then cause_by decides)
  /// capture name -> (regex on the captured value, cause) tried in order.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> cause_by;
  /// The cause_by regexes compiled at load, in the same order (a pattern that does not compile, or
  /// a cause that is no id of causes.md, fails the load).
  std::vector<std::vector<std::shared_ptr<const re2::RE2>>> cause_by_compiled;
  Severity severity = Severity::warning;
  std::string meaning;
  std::string source;
  std::string fact;                   ///< for template fields and output parsers: the fact its first capture fills
  std::string example;                ///< a real line it matches (the catalogue's tests check it)
  std::vector<std::string> examples;  ///< more real lines (other releases, other prefixes)
  bool symptom = false;               ///< a consequence of an earlier failure: ranked below the line that caused it
  bool success = false;               ///< shows the GPU working ("Created device ... GPU:0"): `success = true`
  std::vector<std::string> explains;  ///< causes this line makes mere symptoms (the other process explains the exhaustion)
  std::string counter_example;        ///< a near text the pattern must not match (tested)
  bool heading = false;               ///< an issue-form heading ("### TensorFlow Version"): the value is the next non-empty line
};

/// The cause a matched message points to: its own, or for "depends" the first cause_by rule whose
/// regex matches the captured value ("other" when none does).
std::string decide_cause(const Message& m, const std::map<std::string, std::string>& values);

/// The compiled catalogue: every message and fact pattern in one RE2::Set.
class Catalogue {
 public:
  /// The compiled-in catalogue (kb/data/messages.toml) plus the built-in parsers of tool outputs.
  static const Catalogue& get();
  /// Builds one from TOML text (for tests). Throws std::runtime_error on malformed data or a
  /// pattern RE2 cannot compile.
  static std::unique_ptr<Catalogue> parse(std::string_view toml_text);
  ~Catalogue();

  [[nodiscard]] const std::vector<Message>& messages() const { return m_messages; }
  /// Indices of the messages whose pattern matches `line` (one pass of the set).
  void match(std::string_view line, std::vector<int>& hits) const;
  /// False only when no line of `lines` (several lines, breaks included) can match any pattern:
  /// the fast path over the lines of a big log that mean nothing.
  [[nodiscard]] bool may_match(std::string_view lines) const;
  /// The named captures of message `index` on `line`; nullopt when it does not match.
  [[nodiscard]] std::optional<std::map<std::string, std::string>> captures(int index, std::string_view line) const;

 private:
  Catalogue();
  void compile();
  std::vector<Message> m_messages;
  struct Compiled;  ///< the RE2 objects
  std::unique_ptr<Compiled> m_compiled;
};

struct AnnotatedLine {
  std::size_t line = 0;
  std::string text;
  std::string message;  ///< catalogue id
  std::string cause;
  Severity severity = Severity::info;
  std::string meaning;
  bool symptom = false;
  bool success = false;               ///< the line shows the GPU in use
  std::vector<std::string> explains;  ///< the message's `explains`
  char level = 0;                     ///< the log level of the line's prefix (I, W, E, F), 0 when it has none
  std::map<std::string, std::string> values;
};

struct TextReading {
  ReadStats stats;
  std::vector<AnnotatedLine> lines;          ///< the significant lines: the first max_kept_lines, then the first of each message and cause
  std::size_t significant = 0;               ///< all significant lines, kept or not
  std::map<std::string, std::string> facts;  ///< fact name -> value stated by the text (first wins)
  Snapshot snapshot;                         ///< the facts as a partial snapshot
  bool gpu_created = false;                  ///< a line shows a framework using the GPU
  bool blank = true;                         ///< no line holds anything but white space (nothing to explain)
};

/// Reads text line by line as it comes (explain's files, a running program's output).
class TextReader {
 public:
  explicit TextReader(const Catalogue& catalogue, std::size_t max_kept_lines = 400);
  ~TextReader();
  TextReader(const TextReader&) = delete;
  TextReader& operator=(const TextReader&) = delete;

  /// One raw line (not yet cleaned), numbered from 1.
  void line(std::size_t number, std::string_view raw);
  /// False when no line of `run` can matter (read_lines' prefilter).
  [[nodiscard]] bool may_match(std::string_view run) const;
  /// What was read so far (the annotated lines grow as lines arrive).
  [[nodiscard]] const TextReading& reading() const { return m_reading; }
  /// The whole reading, with the facts as a snapshot. Call once.
  TextReading finish(const ReadStats& stats);

 private:
  struct State;
  const Catalogue& m_catalogue;
  std::size_t m_max_kept;
  std::unique_ptr<State> m_state;
  TextReading m_reading;
};

/// Reads `in` to the end.
TextReading read_text(std::FILE* in, const Catalogue& catalogue, std::size_t max_kept_lines = 400);

/// The verdict: findings from the annotated lines together with the rules run over the text's
/// facts (and this host's errors, with --host), ranked by diagnose's `rank_findings` (in one layer,
/// the failure the text shows first leads). Healthy only when the text shows the GPU in use and
/// nothing blocks; harmless lines alone lead with their benign causes but are no verdict of health;
/// a text with neither is `other`, with what it held as evidence.
Diagnosis diagnose_text(const TextReading& text, const Snapshot* host);

}  // namespace gpudoctor::explain
