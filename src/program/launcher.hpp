#pragma once
// Starts the user's program for `gpudoctor run` and passes everything through: its stdout and
// stderr byte for byte (a pseudo-terminal for a stream whose destination is a terminal, so
// colours and line buffering stay as they were), its exit status (a signal death as 128+N), and
// the signals SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGWINCH.
//
// Signals: a signal the terminal generated (Ctrl-C, a resize) reaches the program's process group
// as the terminal would have sent it; a signal sent to gpudoctor by a process (kill, timeout,
// a batch scheduler) is sent on to the program's main process. When the program shares
// gpudoctor's process group (its stdin is the terminal gpudoctor runs in the foreground of, and
// no pseudo-terminal was needed), the terminal already delivered its own signals and they are not
// sent twice.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gpudoctor::program {

struct LaunchOptions {
  std::vector<std::string> argv;  ///< the program and its arguments; argv[0] is searched on PATH
  int out_fd = 1;                 ///< where its stdout goes
  int err_fd = 2;                 ///< where its stderr goes
  bool pty_out = false;           ///< give it a pseudo-terminal for stdout (out_fd is a terminal)
  bool pty_err = false;           ///< and for stderr
  bool subreaper = true;          ///< adopt orphaned descendants, so they stay in the watched tree
};

enum class Stream { out,
                    err };

/// What the loop asks of its owner, all optional.
struct LoopHooks {
  /// Bytes the program wrote, after they were passed on.
  std::function<void(Stream, std::string_view)> on_output;
  /// Called before bytes of the program are written to `fd` (to take a status line away).
  std::function<void(int fd)> before_write;
  /// Called every `tick` while the program runs.
  std::function<void()> on_tick;
  std::chrono::milliseconds tick{100};
  /// More descriptors to watch (an NVML sampler's pipe): fd -> called when readable or closed.
  std::map<int, std::function<void(int fd)>> extra;
};

/// The program's end.
struct ExitStatus {
  int code = 0;    ///< what gpudoctor returns: the exit code, or 128+N after signal N
  int signal = 0;  ///< N when a signal ended it
  bool core_dumped = false;
  std::string text;  ///< "exited with 0", "killed by SIGSEGV (signal 11), core dumped"
};

class Launcher {
 public:
  /// Starts the program. Throws LaunchError when it cannot be started (not found: code 127,
  /// not executable: 126, as a shell says).
  explicit Launcher(const LaunchOptions& options);
  ~Launcher();
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  [[nodiscard]] pid_t pid() const { return m_pid; }
  [[nodiscard]] std::chrono::steady_clock::time_point started() const { return m_started; }

  /// Passes output and signals through until the main process has ended and its output is
  /// drained (descendants that keep the output open are waited for at most `drain` after it).
  ExitStatus run(LoopHooks& hooks, std::chrono::milliseconds drain = std::chrono::milliseconds(300));

  /// Statuses of other children reaped meanwhile (adopted orphans, helpers the owner started).
  [[nodiscard]] const std::map<pid_t, int>& reaped() const { return m_reaped; }

 private:
  struct Channel {
    Stream stream;
    int read_fd = -1;   ///< pty master or pipe read end
    int write_fd = -1;  ///< our destination
    bool open = false;
  };
  void relay(Channel& c, LoopHooks& hooks);
  void forward(int sig, int code);
  void reap();

  LaunchOptions m_options;
  pid_t m_pid = -1;
  bool m_own_group = true;  ///< the program leads its own process group (or session)
  int m_signal_pipe[2] = {-1, -1};
  std::vector<Channel> m_channels;
  std::vector<int> m_pty_masters;
  std::chrono::steady_clock::time_point m_started;
  std::map<pid_t, int> m_reaped;
  bool m_main_done = false;
  int m_main_status = 0;
};

struct LaunchError : std::runtime_error {
  LaunchError(const std::string& what, int code) : std::runtime_error(what), exit_code(code) {}
  int exit_code;
};

/// "exited with 3", "killed by SIGTERM (signal 15)", from a waitpid status.
ExitStatus exit_status(int wait_status);

/// The argv[0] a shell would run: as given when it holds a '/', else the first executable file of
/// that name in `path` (PATH's folders). Empty when none.
std::string find_on_path(const std::string& name, const std::string& path);

}  // namespace gpudoctor::program
