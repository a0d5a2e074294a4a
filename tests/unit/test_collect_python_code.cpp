// The program-code scanner: Python's lexical syntax, imports and aliases, the facts that pin a
// program to the CPU with file:line, the command lines that name a script, and hostile input.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "collect/python_code.hpp"
#include "kb/knowledge_base.hpp"
#include "sys/root_fs.hpp"

namespace gpudoctor::python {
namespace {

namespace fs = std::filesystem;

const kb::PythonCodeNames& names() { return kb::KnowledgeBase::get().python_code(); }

std::vector<CodeFact> scan(std::string_view text, const std::string& file = "train.py") {
  TorchSignals torch;
  auto s = scan_source(text, file, names(), torch);
  auto t = torch_facts(torch);
  s.facts.insert(s.facts.end(), t.begin(), t.end());
  return s.facts;
}

std::string kinds(const std::vector<CodeFact>& facts) {
  std::string out;
  for (const auto& f : facts) out += (out.empty() ? "" : " ") + f.kind + "@" + std::to_string(f.line) + "=" + f.value;
  return out;
}

std::string data(const std::string& rel) { return std::string(GPUDOCTOR_TEST_DATA) + "/python_code/" + rel; }

ProgramCode program(const std::vector<std::string>& argv, const std::string& cwd) {
  RootFs root("/");
  return scan_program_code(argv, cwd, root, names(), "");
}

// ---- lexical syntax ----

TEST(PythonLexer, CommentsStringsAndJoinedLines) {
  auto lx = lex(
      "x = 1  # a comment with 'quote\n"
      "s = r'a\\'b' + b\"c\" + Rb'd' + u'e'\n"
      "t = '''one\n"
      "two''' ; u = 2\n"
      "v = (1,\n"
      "     2)\n"
      "w = 1 + \\\n"
      "    2\n");
  ASSERT_EQ(lx.statements.size(), 6u);
  EXPECT_EQ(lx.statements[1].tokens[2].text, "a\\'b");  // raw: the backslash stays, the quote does not end it
  EXPECT_TRUE(lx.statements[1].tokens[2].constant);
  EXPECT_EQ(lx.statements[2].tokens[2].text, "one\ntwo");
  EXPECT_EQ(lx.statements[3].line, 4);  // after the ';'
  EXPECT_EQ(lx.statements[4].line, 5);
  EXPECT_EQ(lx.statements[4].tokens.size(), 7u);  // v = ( 1 , 2 )
  EXPECT_EQ(lx.statements[5].tokens.size(), 5u);  // w = 1 + 2
  EXPECT_TRUE(lx.problems.empty());
}

TEST(PythonLexer, FStringsNestLikePython312) {
  // Same quotes inside a replacement field (3.12), format specs with nested fields, a '}' quote fill.
  auto lx = lex(
      "a = f\"{x[\"k\"]:>{width}} {y!r} {{literal}}\"\n"
      "b = f'{\"\\n\".join(z)}' + F'''{w:\n}'''\n"
      "c = 3\n");
  ASSERT_EQ(lx.statements.size(), 3u);
  EXPECT_FALSE(lx.statements[0].tokens[2].constant);
  EXPECT_EQ(lx.statements[2].tokens[0].text, "c");
  EXPECT_EQ(lx.statements[2].line, 4);
  EXPECT_TRUE(lx.problems.empty()) << lx.problems.front();
}

TEST(PythonLexer, CompoundStatementsAndScopes) {
  auto lx = lex(
      "def main():\n"
      "    if x: y = 1\n"
      "    with a:\n"
      "\tz = 2\n"
      "class C: pass\n"
      "w = 3\n");
  const auto& st = lx.statements;
  ASSERT_EQ(st.size(), 8u);
  EXPECT_TRUE(st[0].header);
  EXPECT_TRUE(st[1].header);   // if x:
  EXPECT_EQ(st[2].parent, 1);  // y = 1 belongs to the if
  EXPECT_EQ(st[2].scope, 0);   // inside main
  EXPECT_EQ(st[4].parent, 3);  // z = 2 (a tab is 8 columns) inside the with
  EXPECT_EQ(st[6].scope, 5);   // pass inside class C
  EXPECT_EQ(st[7].scope, -1);  // w = 3 at module level
}

TEST(PythonLexer, UnterminatedAndStrayInputEndsCleanly) {
  auto lx = lex("s = 'no end\nx = 1\nt = \"\"\"never closed\ny = 2\n");
  ASSERT_GE(lx.statements.size(), 2u);
  EXPECT_EQ(lx.statements[1].tokens[0].text, "x");
  EXPECT_FALSE(lx.problems.empty());
  // Stray bytes, NULs, invalid UTF-8, unbalanced brackets.
  std::string junk = "\xff\xfe$?`\x01\x00)))]]]}}}((( \xc3( f'{' \\";
  junk.push_back('\0');
  auto lx2 = lex(junk);
  (void)lx2;
}

TEST(PythonLexer, DisplayLineIsValidUtf8AndCut) {
  EXPECT_EQ(display_line("   x = 'caf\xc3\xa9'  # \x01\r\n"), "x = 'caf\xc3\xa9'  #");
  EXPECT_EQ(display_line("a\xff"
                         "b\xed\xa0\x80"),
            "a\xef\xbf\xbd"
            "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(display_line(std::string(500, 'x')).size(), 200u);
}

// ---- facts on one text ----

TEST(PythonCode, CudaVisibleDevicesSetInCode) {
  auto f = scan(
      "import os\n"
      "os.environ[\"CUDA_VISIBLE_DEVICES\"] = \"-1\"\n"
      "import tensorflow as tf\n");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].kind, "sets_cuda_visible_devices");
  EXPECT_EQ(f[0].line, 2);
  EXPECT_EQ(f[0].value, "-1");
  EXPECT_EQ(f[0].file, "train.py");
  EXPECT_EQ(f[0].code, "os.environ[\"CUDA_VISIBLE_DEVICES\"] = \"-1\"");

  EXPECT_EQ(kinds(scan("from os import environ as env, putenv\n"
                       "env['CUDA_VISIBLE_DEVICES'] = ''\n"
                       "putenv('CUDA_VISIBLE_DEVICES', '0')\n"
                       "import os as o\n"
                       "o.environ.setdefault('CUDA_VISIBLE_DEVICES', '-1')\n"
                       "o.environ.update({'JAX_PLATFORMS': 'cpu', 'OTHER': '1'})\n"
                       "o.environ.update(JAX_PLATFORM_NAME='cpu')\n")),
            "sets_cuda_visible_devices@2= sets_cuda_visible_devices@3=0 defaults_cuda_visible_devices@5=-1 "
            "sets_jax_platforms@6=cpu sets_jax_platforms@7=cpu");
}

TEST(PythonCode, ReadsAndMentionsAreNotFindings) {
  EXPECT_EQ(kinds(scan("\"\"\"Docstring: os.environ['CUDA_VISIBLE_DEVICES'] = '-1' hides the GPU.\n"
                       "tf.config.set_visible_devices([], 'GPU')\n"
                       "\"\"\"\n"
                       "import os\n"
                       "import tensorflow as tf\n"
                       "# os.environ['CUDA_VISIBLE_DEVICES'] = '-1'\n"
                       "# tf.config.set_visible_devices([], 'GPU')\n"
                       "print(f\"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}\")\n"
                       "cvd = os.environ.get('CUDA_VISIBLE_DEVICES', '')\n"
                       "if os.environ['CUDA_VISIBLE_DEVICES'] == '-1': print('hidden')\n"
                       "msg = \"os.environ['CUDA_VISIBLE_DEVICES'] = ''\"\n"
                       "os.environ['CUDA_VISIBLE_DEVICES'] = args.gpus\n"  // not a literal
                       "environ = {}\n"
                       "environ['CUDA_VISIBLE_DEVICES'] = '-1'\n"  // not os.environ
                       "with tf.device('/GPU:0'):\n"
                       "    model.fit(x, y)\n")),
            "");
}

TEST(PythonCode, TensorFlowHidesGpusThroughAliases) {
  EXPECT_EQ(kinds(scan("import tensorflow as tf2\n"
                       "tf2.config.set_visible_devices([], 'GPU')\n")),
            "tf_hides_gpus@2=GPU");
  EXPECT_EQ(kinds(scan("from tensorflow import config\n"
                       "config.experimental.set_visible_devices(devices=[], device_type='GPU')\n")),
            "tf_hides_gpus@2=GPU");
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "tf.config.set_visible_devices(tf.config.list_physical_devices('CPU'))\n")),
            "tf_hides_gpus@2=GPU");
  EXPECT_EQ(kinds(scan("import tensorflow.compat.v1 as tf\n"
                       "config = tf.ConfigProto(device_count={'GPU': 0})\n"
                       "sess = tf.Session(config=config)\n")),
            "tf_hides_gpus@2=GPU");
  // Near misses: the GPUs kept, a CPU list not made visible, another module's function.
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "gpus = tf.config.list_physical_devices('GPU')\n"
                       "tf.config.set_visible_devices(gpus[0], 'GPU')\n"
                       "tf.config.set_visible_devices([], 'CPU')\n"
                       "config = tf.compat.v1.ConfigProto(device_count={'GPU': 1})\n"
                       "import mylib\n"
                       "mylib.config.set_visible_devices([], 'GPU')\n"
                       "set_visible_devices([], 'GPU')\n")),
            "");
}

TEST(PythonCode, CpuDeviceScopeAroundTraining) {
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "model = build()\n"
                       "with tf.device('/CPU:0'):\n"
                       "    history = model.fit(ds, epochs=3)\n")),
            "tf_cpu_device_scope@3=/CPU:0");
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "with tf.device(\"/job:localhost/replica:0/task:0/device:CPU:0\"): train_model(ds)\n")),
            "tf_cpu_device_scope@2=/job:localhost/replica:0/task:0/device:CPU:0");
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "with tf.device('cpu'):\n"
                       "    with tf.GradientTape() as tape:\n"
                       "        loss = compute(x)\n")),
            "tf_cpu_device_scope@2=cpu");
  // Only the input pipeline on the CPU (a recommended pattern), or the training after the scope.
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "with tf.device('/CPU:0'):\n"
                       "    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)\n"
                       "model.fit(ds)\n")),
            "");
}

TEST(PythonCode, JaxPlatforms) {
  EXPECT_EQ(kinds(scan("import jax\njax.config.update('jax_platforms', 'cpu')\n")), "sets_jax_platforms@2=cpu");
  EXPECT_EQ(kinds(scan("from jax import config as jc\njc.update(\"jax_platform_name\", \"cpu\")\n")),
            "sets_jax_platforms@2=cpu");
  EXPECT_EQ(kinds(scan("from jax.config import config\nconfig.update('jax_platforms', 'cuda,cpu')\n")),
            "sets_jax_platforms@2=cuda,cpu");
  EXPECT_EQ(kinds(scan("import jax\njax.config.update('jax_enable_x64', True)\n"
                       "import config\nconfig.update('jax_platforms', 'cpu')\n")),
            "");
}

TEST(PythonCode, MemoryGrowthAfterTheGpusInitialized) {
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "print(tf.config.list_logical_devices('GPU'))\n"
                       "for gpu in tf.config.list_physical_devices('GPU'):\n"
                       "    tf.config.experimental.set_memory_growth(gpu, True)\n")),
            "tf_memory_growth_late@4=after tensorflow.config.list_logical_devices() (line 2)");
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "def main():\n"
                       "    model = tf.keras.Sequential([tf.keras.layers.Dense(1)])\n"
                       "    gpus = tf.config.list_physical_devices('GPU')\n"
                       "    tf.config.set_logical_device_configuration(gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=1024)])\n")),
            "tf_memory_growth_late@5=after keras.Sequential() (line 3)");
  // Before any use: fine. Initialized in another function: not this one's order.
  EXPECT_EQ(kinds(scan("import tensorflow as tf\n"
                       "def warm():\n"
                       "    return tf.constant(1.0)\n"
                       "gpus = tf.config.list_physical_devices('GPU')\n"
                       "tf.config.experimental.set_memory_growth(gpus[0], True)\n"
                       "x = tf.constant([1.0])\n")),
            "");
}

TEST(PythonCode, TorchDeviceHardCodedToCpu) {
  EXPECT_EQ(kinds(scan("import torch\n"
                       "device = torch.device('cpu')\n"
                       "model = torch.nn.Linear(4, 2).to(device)\n")),
            "torch_device_cpu@2=cpu");
  EXPECT_EQ(kinds(scan("import torch\nDEVICE = 'cpu'\nx = torch.zeros(3, device=DEVICE)\n")), "torch_device_cpu@2=cpu");
  // The usual choice, a later switch, or CUDA named anywhere: no finding.
  EXPECT_EQ(kinds(scan("import torch\ndevice = 'cuda' if torch.cuda.is_available() else 'cpu'\nm = M().to(device)\n")), "");
  EXPECT_EQ(kinds(scan("import torch\ndevice = 'cpu'\nif torch.cuda.is_available():\n    device = 'cuda'\n")), "");
  EXPECT_EQ(kinds(scan("import torch\ndevice = 'cpu'\nmodel = Net().cuda()\n")), "");
  EXPECT_EQ(kinds(scan("import torch\ndevice = torch.device(args.device)\n")), "");
  EXPECT_EQ(kinds(scan("device = 'cpu'\n")), "");  // no torch
}

TEST(PythonCode, TorchModelNeverMovedToCuda) {
  std::ifstream in(data("torch/left_on_cpu.py"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto f = scan(text, "left_on_cpu.py");
  ASSERT_EQ(f.size(), 1u) << kinds(f);
  EXPECT_EQ(f[0].kind, "torch_never_on_cuda");
  EXPECT_EQ(f[0].line, 23);
  EXPECT_EQ(f[0].code, "model = Net()");
  EXPECT_EQ(f[0].value, "Net()");
  // The same loop with the model moved, or handed to Accelerate, or never trained: no finding.
  std::string moved = text;
  moved.replace(moved.find("model = Net()"), 13, "model = Net().to(torch.device(\"cuda:0\"))");
  EXPECT_EQ(kinds(scan(moved)), "");
  EXPECT_EQ(kinds(scan("from accelerate import Accelerator\n" + text)), "");
  std::string inference = text;
  inference.replace(inference.find("loss.backward()"), 15, "pass");
  EXPECT_EQ(kinds(scan(inference)), "");
}

TEST(PythonCode, RealScriptsWithoutTheLineHaveNoFindings) {
  for (const char* f : {"keras/mnist_convnet.py", "keras/mnist_tf.py", "torch/quickstart.py", "jax/mlp.py"}) {
    auto pc = program({"python3", data(f)}, "/");
    EXPECT_EQ(kinds(pc.facts), "") << f;
    EXPECT_EQ(pc.files.size(), 1u) << f;
  }
}

TEST(PythonCode, RealScriptsWithTheLine) {
  auto with_line = [](const char* rel, const std::string& after, const std::string& line) {
    std::ifstream in(data(rel));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto at = text.find(after);
    EXPECT_NE(at, std::string::npos) << after;
    text.insert(text.find('\n', at) + 1, line + "\n");
    return text;
  };
  EXPECT_EQ(kinds(scan(with_line("keras/mnist_tf.py", "import tensorflow as tf2", "tf2.config.set_visible_devices([], 'GPU')"))),
            "tf_hides_gpus@5=GPU");
  EXPECT_EQ(kinds(scan(with_line("keras/mnist_convnet.py", "import keras", "import os; os.environ['CUDA_VISIBLE_DEVICES'] = '-1'"))),
            "sets_cuda_visible_devices@8=-1");
  EXPECT_EQ(kinds(scan(with_line("jax/mlp.py", "from jax import config as jc", "jc.update('jax_platforms', 'cpu')"))),
            "sets_jax_platforms@8=cpu");
  EXPECT_EQ(kinds(scan(with_line("torch/quickstart.py", "print(f\"Using {device} device\")", "device = 'cpu'"))), "");
}

// ---- the program named by a command line ----

TEST(PythonProgram, LocalModulesImportCyclesAndBaseClassesInOtherFiles) {
  auto pc = program({"/usr/bin/python3.11", "-u", "train.py", "--epochs", "2"}, data("torch_pkg"));
  EXPECT_EQ(pc.entry.kind, ProgramEntry::script);
  EXPECT_EQ(pc.entry.launcher, "python3.11");
  std::string files;
  for (const auto& f : pc.files) files += f + " ";
  EXPECT_EQ(files, "train.py models/__init__.py models/net.py utils.py models/base.py helpers.py ");
  ASSERT_EQ(pc.facts.size(), 1u) << kinds(pc.facts);
  EXPECT_EQ(pc.facts[0].kind, "torch_never_on_cuda");
  EXPECT_EQ(pc.facts[0].file, "train.py");
  EXPECT_EQ(pc.facts[0].line, 14);
  EXPECT_EQ(pc.facts[0].value, "ConvNet()");
}

TEST(PythonProgram, Launchers) {
  const std::string dir = data("torch_pkg");
  auto entry = [&](const std::vector<std::string>& argv) {
    RootFs root("/");
    auto e = find_program(argv, dir, names(), root, "");
    return e.kind == ProgramEntry::none ? "none: " + e.why_not : e.launcher + " " + fs::path(e.path).filename().string();
  };
  EXPECT_EQ(entry({"torchrun", "--nproc_per_node", "2", "--standalone", "train.py", "--lr", "0.1"}), "torchrun train.py");
  EXPECT_EQ(entry({"torchrun", "--nnodes=1", "--rdzv-endpoint", "localhost:29500", "train.py"}), "torchrun train.py");
  EXPECT_EQ(entry({"python", "-m", "torch.distributed.run", "--nproc-per-node", "8", "train.py"}), "torchrun train.py");
  EXPECT_EQ(entry({"accelerate", "launch", "--multi_gpu", "--mixed_precision", "bf16", "train.py"}), "accelerate launch train.py");
  EXPECT_EQ(entry({"env", "CUDA_VISIBLE_DEVICES=0", "python3", "-X", "dev", "-W", "ignore", "train.py"}), "python3 train.py");
  EXPECT_EQ(entry({"python", "-m", "models.net"}), "python net.py");
  EXPECT_EQ(entry({"python", "-um", "utils"}), "python utils.py");
  EXPECT_EQ(entry({"python", "-m", "pytest"}),
            "none: module pytest is not a file under the working folder (installed modules are not read)");
  EXPECT_EQ(entry({"python3"}), "none: an interactive interpreter: no program file");
  EXPECT_EQ(entry({"python3", "-"}), "none: the program is read from standard input");
  EXPECT_EQ(entry({"python3", "missing.py"}), "none: missing.py is not a readable file");
  EXPECT_EQ(entry({"./a.out"}), "none: ");
  EXPECT_EQ(entry({"jupyter", "nbconvert", "--to", "notebook", "train.ipynb"}), "none: jupyter nbconvert without --execute runs no code");
}

TEST(PythonProgram, PythonDashC) {
  auto pc = program({"python3", "-c", "import os; os.environ['CUDA_VISIBLE_DEVICES'] = '-1'; import torch"}, "/");
  EXPECT_EQ(pc.entry.kind, ProgramEntry::inline_code);
  EXPECT_EQ(kinds(pc.facts), "sets_cuda_visible_devices@1=-1");
  EXPECT_EQ(pc.facts[0].file, "-c");
}

TEST(PythonProgram, ShebangScriptOnPath) {
  RootFs root("/");
  auto e = find_program({"mnist_tf.py"}, "/", names(), root, "/nonexistent:" + data("keras"));
  EXPECT_EQ(e.kind, ProgramEntry::script);
  EXPECT_EQ(e.launcher, "shebang");
  auto no = find_program({"mnist_convnet.py"}, "/", names(), root, data("keras"));  // no #! line
  EXPECT_EQ(no.kind, ProgramEntry::none);
}

// The Python a command runs, as `run` and `inspect` judge its environment: a venv laid out as
// `python3.11 -m venv` and pip lay it out (bin/python3.11 a link to the base interpreter; console
// scripts with pip's #! line, and distlib's /bin/sh form when the path is over 127 bytes).
TEST(PythonProgram, TheInterpreterTheCommandRuns) {
  fs::path dir = fs::temp_directory_path() / ("gpudoctor-interp-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "usr/bin");
  fs::path venv = dir / "venv";
  fs::create_directories(venv / "bin");
  auto put = [](const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
    fs::permissions(p, fs::perms::owner_all);
  };
  put(dir / "usr/bin/python3.11",
      "\x7f"
      "ELF\x02\x01\x01");
  fs::create_symlink(dir / "usr/bin/python3.11", venv / "bin/python3.11");
  fs::create_symlink("python3.11", venv / "bin/python3");
  fs::create_symlink("python3.11", venv / "bin/python");
  const std::string py = (venv / "bin/python3.11").string();
  const std::string console =
      "# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom torch.distributed.run import main\n"
      "if __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
      "    sys.exit(main())\n";
  put(venv / "bin/torchrun", "#!" + py + "\n" + console);
  put(venv / "bin/accelerate", "#!/bin/sh\n'''exec' \"" + py + "\" \"$0\" \"$@\"\n' '''\n" + console);
  put(venv / "bin/jupyter", "#!/bin/sh\nexec python3 \"$@\"\n");  // a wrapper that names no Python
  put(dir / "train.py", "#!/usr/bin/env -S python3 -u\nimport torch\n");
  put(dir / "tool.py", "#!/usr/bin/env bash\necho\n");
  const std::string path_env = (venv / "bin").string() + ":/nonexistent";
  RootFs root("/");
  auto interp = [&](const std::vector<std::string>& argv, const std::string& path = "") {
    return find_program(argv, dir.string(), names(), root, path.empty() ? path_env : path).interpreter;
  };
  // The command word, found on PATH as the shell finds it; its links are kept (they name the venv).
  EXPECT_EQ(interp({"python3", "train.py"}), (venv / "bin/python3").string());
  EXPECT_EQ(interp({"env", "CUDA_VISIBLE_DEVICES=0", "python", "-m", "torch.distributed.run", "train.py"}),
            (venv / "bin/python").string());
  EXPECT_EQ(interp({(venv / "bin/python3").string()}), (venv / "bin/python3").string());  // interactive
  EXPECT_EQ(interp({"../venv/bin/python3", "-c", "pass"}), "");                           // no such file there
  EXPECT_EQ(interp({"./venv/bin/python3", "-c", "pass"}), (venv / "bin/python3").string());
  // Launchers: their #! line, pip's plain form and distlib's form for paths over 127 bytes.
  EXPECT_EQ(interp({"torchrun", "--nproc_per_node", "2", "train.py"}), py);
  EXPECT_EQ(interp({"accelerate", "launch", "train.py"}), py);
  // A script with `#!/usr/bin/env -S python3 -u`, run by name: env finds python3 on PATH.
  EXPECT_EQ(interp({"./train.py"}), (venv / "bin/python3").string());
  // Near misses: a wrapper that names no interpreter, a bash script, a python not on PATH (its
  // script is still read), a shell running Python.
  EXPECT_EQ(interp({"jupyter", "nbconvert", "--execute", "x.ipynb"}), "");
  EXPECT_EQ(interp({"./tool.py"}), "");
  EXPECT_EQ(interp({"python3", "train.py"}, "/nonexistent"), "");
  EXPECT_EQ(find_program({"python3", "train.py"}, dir.string(), names(), root, "/nonexistent").kind, ProgramEntry::script);
  EXPECT_EQ(interp({"sh", "-c", "python3 train.py"}), "");
  fs::remove_all(dir);
}

TEST(PythonProgram, NotebookCells) {
  auto pc = program({"jupyter", "nbconvert", "--to", "notebook", "--execute", "train.ipynb"}, data("notebook"));
  ASSERT_EQ(pc.entry.kind, ProgramEntry::notebook);
  ASSERT_EQ(pc.facts.size(), 2u) << kinds(pc.facts);
  EXPECT_EQ(pc.facts[0].kind, "sets_cuda_visible_devices");
  EXPECT_EQ(pc.facts[0].file, "train.ipynb (cell 2)");
  EXPECT_EQ(pc.facts[0].line, 1);
  EXPECT_EQ(pc.facts[0].value, "-1");
  EXPECT_EQ(pc.facts[0].code, "%env CUDA_VISIBLE_DEVICES=-1");
  // The %%bash cell is not Python; the %%time cell is.
  EXPECT_EQ(pc.facts[1].kind, "tf_memory_growth_late");
  EXPECT_EQ(pc.facts[1].file, "train.ipynb (cell 4)");
  EXPECT_EQ(pc.facts[1].line, 5);
}

// ---- hostile input ----

class PythonHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("gpudoctor-pycode-" + std::to_string(::getpid()));
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  void write(const std::string& name, const std::string& text) {
    fs::create_directories((m_dir / name).parent_path());
    std::ofstream(m_dir / name, std::ios::binary) << text;
  }
  fs::path m_dir;
};

TEST_F(PythonHostile, HugeFileIsReadUpToItsLimit) {
  std::string big = "import os\n";
  while (big.size() < (std::size_t{3} << 20)) big += "x = '" + std::string(100, 'a') + "'  # filler\n";
  big += "os.environ['CUDA_VISIBLE_DEVICES'] = '-1'\n";  // past the first MiB: not read
  write("big.py", big);
  auto pc = program({"python", "big.py"}, m_dir.string());
  EXPECT_EQ(kinds(pc.facts), "");
  ASSERT_FALSE(pc.notes.empty());
  EXPECT_EQ(pc.notes.front(), "big.py: only its first 1024 KiB read");
}

TEST_F(PythonHostile, DeepNestingUnterminatedStringsAndInvalidUtf8) {
  std::string deep = "import os\n";
  for (int i = 0; i < 20000; ++i) deep += std::string(static_cast<std::size_t>(i % 200), ' ') + "if x:\n";
  deep += std::string(200000, '(') + "\n";
  deep += "f'" + std::string(5000, '{') + "\n";
  deep += "s = \"\xff\xfe\x80 unterminated\n";
  deep += "os.environ['CUDA_VISIBLE_DEVICES'] = '\xff'\n";  // still read after all that (brackets stay open...)
  write("deep.py", deep);
  auto pc = program({"python", "deep.py"}, m_dir.string());
  for (const auto& f : pc.facts) EXPECT_EQ(display_line(f.code), f.code);
  EXPECT_FALSE(pc.notes.empty());
}

TEST_F(PythonHostile, ImportCyclesAndFanOutAreBounded) {
  write("main.py", "import a\nimport os\n");
  write("a.py", "import b\n");
  write("b.py", "import a\nimport main\nfrom . import c\n");
  std::string many;
  for (int i = 0; i < 200; ++i) {
    many += "import m" + std::to_string(i) + "\n";
    write("m" + std::to_string(i) + ".py", "import m" + std::to_string((i + 1) % 200) + "\n");
  }
  write("c.py", many);
  auto pc = program({"python", "main.py"}, m_dir.string());
  EXPECT_EQ(pc.files.size(), 64u);
  EXPECT_EQ(pc.notes.back(), "more than 64 local modules: the rest is not read");
}

TEST_F(PythonHostile, NotebooksThatAreNotNotebooks) {
  write("deep.ipynb", std::string(100000, '[') + std::string(100000, ']'));
  write("bad.ipynb", "{\"cells\": [{\"cell_type\": \"code\", \"source\": 42}, 7, {\"cell_type\": \"code\", \"source\": [1, \"x = 1\"]}]}");
  write("text.ipynb", "not json\xff");
  for (const char* nb : {"deep.ipynb", "bad.ipynb", "text.ipynb"}) {
    auto pc = program({"jupyter", "execute", nb}, m_dir.string());
    EXPECT_EQ(kinds(pc.facts), "") << nb;
  }
  EXPECT_FALSE(program({"jupyter", "execute", "deep.ipynb"}, m_dir.string()).notes.empty());
}

TEST_F(PythonHostile, FifoIsNeverOpened) {
  ASSERT_EQ(::mkfifo((m_dir / "fifo.py").c_str(), 0600), 0);
  auto pc = program({"python", "fifo.py"}, m_dir.string());  // would block if opened
  EXPECT_EQ(pc.entry.kind, ProgramEntry::none);
}

}  // namespace
}  // namespace gpudoctor::python
