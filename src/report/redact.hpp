#pragma once
// Redaction: the one engine that takes secrets and identities out of what gpudoctor makes for
// sharing: the snapshot `gpudoctor snapshot` writes, every --markdown report, and the report
// files of `gpudoctor run`. --no-redact skips it (for one's own use). What it replaces:
// - secrets by their documented shapes (kb/data/redaction.toml [[secret]]: GitHub, Hugging Face,
//   OpenAI-style sk-, AWS, Slack, GitLab tokens, JWTs, long hex and base64 runs, user:password@ in
//   URLs, conda's /t/<token>/, --token VALUE and NAME_TOKEN=VALUE), as <redacted:KIND>;
// - user names: the folder below a home parent (/home/NAME, /Users/NAME, ...) and the invoking
//   user's login name, as <user> (<user2>, ... for others) wherever they stand as a path component
//   or a whole value; a few names are never users (linuxbrew, root, ...);
// - host names (this machine's, the inspected root's etc/hostname, a syslog line's) as <host>;
// - GPU and MIG UUIDs shortened to their first 8 hex digits (GPU-1234abcd…);
// - in a snapshot, user and group ids of people (1000 and up) renumbered from 1000.
// Replacements are consistent within one Redactor, so a redacted snapshot diagnoses the same.

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gpudoctor {

/// What the text alone does not show: who runs gpudoctor and on which machine.
struct RedactionContext {
  std::vector<std::string> user_names;  ///< the invoking user's login name(s)
  std::vector<std::string> host_names;  ///< this machine's host name, the inspected root's etc/hostname
  std::vector<std::string> keep_words;  ///< never replaced although equal to a host name (os-release ID, ...)
};

class Redactor {
 public:
  explicit Redactor(const RedactionContext& context);

  /// Learns the user names that home folders in `text` show. Every value should be learned
  /// before any is redacted, so that a name is replaced everywhere, also before its home is seen.
  void learn(std::string_view text);
  /// Learns from every string in `j`.
  void learn_json(const nlohmann::json& j);

  /// One value with secrets, user names, host names and GPU UUIDs replaced.
  [[nodiscard]] std::string text(std::string_view s) const;

  /// A snapshot's JSON: every string learned, then redacted; people's user and group ids
  /// renumbered; "redacted": true set at the top.
  void snapshot(nlohmann::json& j);
  /// Any other report's JSON: every string learned, then redacted.
  void json(nlohmann::json& j);
  void json(nlohmann::ordered_json& j);

  /// One line for the end of a report: what was replaced and how to keep it.
  [[nodiscard]] static std::string note();

 private:
  void add_user(const std::string& name);
  [[nodiscard]] std::string users_and_hosts(const std::string& s) const;

  std::map<std::string, std::string> m_users;  ///< name -> <user>, <user2>, ...
  std::vector<std::string> m_hosts;            ///< lower case
  std::vector<std::string> m_keep;             ///< lower case
};

}  // namespace gpudoctor
