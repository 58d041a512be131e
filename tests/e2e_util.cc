#include "tests/e2e_util.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace loopgate::testing {

std::string Binary() { return LOOPGATE_BINARY; }
std::string SharedDir() { return LOOPGATE_SHARED_DIR; }
std::string SourceDir() { return LOOPGATE_SOURCE_DIR; }
std::string ReferenceDir() { return SharedDir() + "/scenarios/reference"; }

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  path_ = ::testing::TempDir() + "loopgate-" + std::to_string(::getpid()) + "-" +
          (info ? std::string(info->name()) : "x") + "-" + std::to_string(counter++);
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

pid_t Spawn(const std::vector<std::string>& args, const std::string& stdin_path,
            const std::string& out_path, const std::string& err_path) {
  std::vector<char*> argv;
  std::string bin = Binary();
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

Result RunLoopgate(const std::vector<std::string>& args, const std::string& stdin_path) {
  TempDir io;
  const pid_t pid = Spawn(args, stdin_path, io / "out", io / "err");
  int status = 0;
  ::waitpid(pid, &status, 0);
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.out = ReadFile(io / "out");
  r.err = ReadFile(io / "err");
  return r;
}

Result RunPython(const std::string& script, const std::string& arg) {
  TempDir io;
  const std::string out = io / "out", err = io / "err";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::string py = "python3", s = script, a = arg;
    char* argv[] = {py.data(), s.data(), a.data(), nullptr};
    ::execvp(argv[0], argv);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

pid_t StartLoopgate(const std::vector<std::string>& args) {
  return Spawn(args, "", "/dev/null", "/dev/null");
}

std::vector<std::string> ReferenceRunArgs(const std::string& state, const std::string& out) {
  const std::string r = ReferenceDir();
  return {"run",
          "--config", SourceDir() + "/examples/reference/catalog.yaml",
          "--events", r + "/events.ndjson",
          "--consents", r + "/consents.ndjson",
          "--agreements", r + "/agreements.ndjson",
          "--keys", r + "/keys.json",
          "--state", state,
          "--out", out,
          "--as-of", "2026-06-30T00:00:00Z"};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace loopgate::testing
