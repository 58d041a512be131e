#pragma once
// Helpers for tests that run the real loopgate binary.

#include <sys/types.h>

#include <string>
#include <vector>

namespace loopgate::testing {

// The built binary and the shared reference scenario.
std::string Binary();
std::string SharedDir();
std::string SourceDir();
std::string ReferenceDir();  // SharedDir() + "/scenarios/reference"

// A fresh directory under the test temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct Result {
  int exit_code = -1;  // -signal when killed.
  std::string out;
  std::string err;
};

// Runs Binary() with `args`, stdin from `stdin_path` (or /dev/null), and waits.
Result RunLoopgate(const std::vector<std::string>& args, const std::string& stdin_path = "");
// Runs `python3 script arg`, capturing its output and exit status.
Result RunPython(const std::string& script, const std::string& arg);

// Starts Binary() with `args` without waiting; stdout/stderr go to /dev/null.
pid_t StartLoopgate(const std::vector<std::string>& args);

// The reference scenario's `run` arguments with the given state and out dirs.
std::vector<std::string> ReferenceRunArgs(const std::string& state, const std::string& out);

std::string ReadFile(const std::string& path);
std::vector<std::string> ReadLines(const std::string& path);  // Empty if missing.
void WriteFile(const std::string& path, const std::string& content);

}  // namespace loopgate::testing
