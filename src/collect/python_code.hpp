#pragma once
// What a Python program's own source says about where its work runs, read (never run) for
// `gpudoctor run` and `gpudoctor inspect`: the script named by the command line (python,
// python -m, a script with a Python shebang, torchrun, accelerate launch, jupyter nbconvert
// --execute, python -c) and the local modules it imports, bounded in depth, count and size.
//
// The reading follows Python's lexical syntax (docs.python.org/3/reference/lexical_analysis.html):
// comments, every string form (prefixes r/b/u/f/t in any case and combination, triple quotes,
// f-string replacement fields nested as in Python 3.12), backslash continuations and lines
// joined inside brackets. A mention of an API in a comment, a docstring or a string is never a
// fact. Names are matched after the program's imports and aliases are applied (`import
// tensorflow as tf2`, `from jax import config as jc`), against kb/data/python_code.toml.
//
// Kinds of CodeFact produced (value in brackets):
//  - sets_cuda_visible_devices [the literal]: os.environ["CUDA_VISIBLE_DEVICES"] = V,
//    os.environ.update(...), os.putenv(...), %env in a notebook;
//  - defaults_cuda_visible_devices [the literal]: os.environ.setdefault("CUDA_VISIBLE_DEVICES", V)
//    (takes effect only where the variable is unset);
//  - sets_jax_platforms [the literal]: JAX_PLATFORMS / JAX_PLATFORM_NAME set the same ways, or
//    jax.config.update("jax_platforms" | "jax_platform_name", V);
//  - tf_hides_gpus ["GPU"]: tf.config.set_visible_devices([], "GPU") (or only the CPUs), or a TF1
//    ConfigProto(device_count={"GPU": 0});
//  - tf_cpu_device_scope [the device]: `with tf.device("/CPU:0"):` whose body trains (model.fit,
//    GradientTape, apply_gradients, a train...() call);
//  - tf_memory_growth_late [what initialized the GPUs first, with its line]: set_memory_growth,
//    set_logical_device_configuration or set_virtual_device_configuration after a call that
//    initializes TensorFlow's GPUs, earlier in the same function (or module level);
//  - torch_device_cpu ["cpu"]: device = "cpu" / torch.device("cpu") hard-coded, never assigned
//    anything else, in a program that never names CUDA;
//  - torch_never_on_cuda [the model expression]: a PyTorch model built and trained (backward())
//    while nothing in the program places anything on CUDA (.cuda(), .to(X) other than "cpu",
//    device=X, a "cuda" string) and no library that places the model itself is imported.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/code_fact.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {
class RootFs;
}

namespace gpudoctor::python {

// ---- The lexical layer ----------------------------------------------------------------------

struct Token {
  enum Kind : unsigned char { name,
                              number,
                              string,
                              op };
  Kind kind = op;
  int line = 0;      ///< 1-based physical line where the token starts
  std::string text;  ///< name, number or operator; for a string its value (see below)
  /// A string's value is a constant: not an f- or t-string, not unterminated, not cut (values are
  /// kept up to 256 bytes). Escapes of non-raw strings are decoded for the common forms.
  bool constant = false;
};

/// One logical statement: a simple statement, or a compound statement's header up to its colon
/// (a body on the same line, `if x: y = 1`, is a statement of its own, one column deeper).
struct Statement {
  int line = 0;    ///< line of its first token
  int indent = 0;  ///< columns (a tab to the next multiple of 8)
  std::vector<Token> tokens;
  int parent = -1;        ///< index of the enclosing compound header, -1 at module level
  int scope = -1;         ///< index of the enclosing def/class header, -1 at module level
  bool in_class = false;  ///< inside a class body (at any depth)
  bool header = false;    ///< a compound statement's header (ends with ':')
};

struct Lexed {
  std::vector<Statement> statements;
  std::vector<std::string> problems;  ///< unterminated strings, limits reached ("line 12: ...")
};

struct LexLimits {
  std::size_t max_tokens = std::size_t{1} << 20;  ///< then the rest of the text is not read
  int max_fstring_nesting = 16;                   ///< deeper replacement fields are read as text
};

/// Splits Python source into statements of tokens; comments dropped, continuation lines joined.
/// Never fails: bad input (unterminated strings, stray bytes, invalid UTF-8) ends a token where
/// Python would report the error and reading goes on; problems are listed.
Lexed lex(std::string_view source, const LexLimits& limits = {});

// ---- One source text ------------------------------------------------------------------------

/// A module imported by the program: `import a.b`, `from a.b import c` (names "a.b" and
/// "a.b.c" as candidates), relative imports with their dots.
struct ImportRequest {
  int level = 0;                        ///< leading dots of a relative import
  std::vector<std::string> candidates;  ///< dotted module paths, the first the most likely
  int line = 0;
};

/// Program-wide PyTorch signals, gathered over every file read: whether the program places
/// anything on CUDA can only be decided once all of it has been read.
struct TorchSignals {
  struct Site {
    std::string file;
    int line = 0;
    std::string code;
    std::string value;
  };
  bool imports_torch = false;
  bool places_on_cuda = false;                ///< .cuda(), .to("cuda"), device=<not cpu>, a "cuda..." string, set_device
  bool placing_library = false;               ///< accelerate, lightning, ... imported
  bool trains = false;                        ///< a .backward() call
  std::string placement_evidence;             ///< the first placement seen ("train.py:12 .cuda()")
  std::vector<Site> device_args;              ///< .to(NAME) / device=NAME: value is NAME
  std::vector<std::string> cpu_device_names;  ///< device names only ever set to "cpu"
  std::vector<Site> cpu_devices;              ///< where those were set
  std::vector<Site> models;                   ///< calls of torchvision.models.*, nn.Sequential, ...
  std::vector<Site> candidates;               ///< Name(...) calls, models if Name is a local nn.Module subclass
  /// The program's classes and their bases (last names; "torch.nn.Module" for that base), so
  /// subclasses of subclasses in other files are known once every file is read.
  std::vector<std::pair<std::string, std::vector<std::string>>> classes;
};

struct SourceScan {
  std::vector<CodeFact> facts;         ///< what this text says, in line order (torch facts excepted)
  std::vector<ImportRequest> imports;  ///< modules it imports (for finding the local ones)
  std::vector<std::string> problems;
};

/// A line of source as a report shows it: one line, trimmed, control bytes and invalid UTF-8
/// replaced, cut at 200 bytes.
std::string display_line(std::string_view source_line);

/// Reads one source text. `file` is how the facts name it; `torch` gathers the program-wide
/// PyTorch signals (the same object for every file of one program).
SourceScan scan_source(std::string_view text, const std::string& file, const kb::PythonCodeNames& names,
                       TorchSignals& torch, const LexLimits& limits = {});

/// The PyTorch facts of the whole program, once every file has been read.
std::vector<CodeFact> torch_facts(const TorchSignals& torch);

/// The code cells of a Jupyter notebook (nbformat 4 JSON) as one Python text (cells in order,
/// IPython magics and shell lines blanked), with `%env NAME=VALUE` lines as facts. Each line's
/// origin is kept: `line_origin[i]` is "cell N, line M" of line i+1. Empty text when the JSON
/// cannot be read (a problem says why).
struct NotebookCode {
  std::string text;
  std::vector<std::pair<int, int>> origin;  ///< per line: (cell number from 1, line in the cell from 1)
  std::vector<CodeFact> env_facts;
  std::vector<std::string> problems;
};
NotebookCode notebook_code(std::string_view json_text, const std::string& file, const kb::PythonCodeNames& names);

// ---- The program named by a command line --------------------------------------------------

struct ProgramEntry {
  enum Kind { none,
              script,
              module,
              inline_code,
              notebook };
  Kind kind = none;
  std::string path;      ///< script/notebook: the file (absolute); module: its module name
  std::string code;      ///< python -c CODE
  std::string base_dir;  ///< sys.path[0]: the script's folder, or the working folder
  std::string launcher;  ///< "python", "torchrun", "accelerate launch", "jupyter nbconvert", "shebang"
  std::string why_not;   ///< kind none: why no source is read
  /// The Python interpreter the command runs, as a path (symbolic links kept: a venv's bin/python
  /// names the venv): the command word itself (found on PATH), or the #! line of the script or
  /// launcher (torchrun, accelerate, jupyter); empty when the command runs none that can be named.
  /// Known also when no source is read (an interactive interpreter, an installed module).
  std::string interpreter;
};

/// Which Python source a command runs. `read_head(path)` returns the first bytes of a file (for a
/// shebang), empty when it cannot; `path_env` is PATH, for a bare program name.
ProgramEntry find_program(const std::vector<std::string>& argv, const std::string& cwd, const kb::PythonCodeNames& names,
                          const RootFs& fs, const std::string& path_env);

struct ScanLimits {
  int max_files = 64;                                 ///< the script and local modules read
  int max_depth = 6;                                  ///< imports followed from the script
  std::size_t max_file_bytes = std::size_t{1} << 20;  ///< a bigger file is read up to here
  std::size_t max_notebook_bytes = std::size_t{16} << 20;
  std::size_t max_total_bytes = std::size_t{8} << 20;  ///< about 0.3 s per MiB of the worst text
};

struct ProgramCode {
  ProgramEntry entry;
  std::vector<std::string> files;  ///< the files read, as the facts name them
  std::vector<CodeFact> facts;
  std::vector<std::string> notes;  ///< what could not be read, and why (for Program::notes)
};

/// The entry point for `run` and `inspect`: finds the program's source from its command line and
/// working folder, reads it and its local imports through `fs` (RootFs of "/": regular files
/// only, sizes bounded), and returns the facts, file:line each.
ProgramCode scan_program_code(const std::vector<std::string>& argv, const std::string& cwd, const RootFs& fs,
                              const kb::PythonCodeNames& names, const std::string& path_env = {},
                              const ScanLimits& limits = {});

}  // namespace gpudoctor::python
