#pragma once
// Test support for the analytics tests: an independent reference computation in Python
// (Debian's python3-statsmodels, scripts/deps.sh), and the ab-lift corpus. Header-only; only test
// targets include it.

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace loopgate::analytics::test_support {

// The first interpreter that can import statsmodels and scipy: Debian's /usr/bin/python3 first
// (where apt installs python3-statsmodels), then python3 on PATH. nullopt when there is none.
inline std::optional<std::string> StatsmodelsPython() {
  static const std::optional<std::string> found = []() -> std::optional<std::string> {
    for (const char* candidate : {"/usr/bin/python3", "python3"}) {
      const std::string cmd =
          std::string(candidate) + " -c 'import statsmodels.api, scipy.stats' >/dev/null 2>&1";
      if (std::system(cmd.c_str()) == 0) return std::string(candidate);
    }
    return std::nullopt;
  }();
  return found;
}

// Runs `script` with `python` and returns its standard output; fails the current test when the
// script exits non-zero.
inline std::string RunPython(const std::string& python, const std::string& script) {
  char path[] = "/tmp/loopgate_analytics_test_XXXXXX.py";
  const int fd = ::mkstemps(path, 3);
  EXPECT_GE(fd, 0);
  if (fd < 0) return "";
  {
    std::ofstream out(path);
    out << script;
  }
  ::close(fd);
  const std::string cmd = python + " " + path;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string output;
  if (pipe != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
    const int status = ::pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "python failed:\n" << script;
  }
  ::unlink(path);
  return output;
}

// Parses lines of whitespace-separated numbers.
inline std::vector<std::vector<double>> ParseRows(const std::string& text) {
  std::vector<std::vector<double>> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<double> row;
    std::string f;
    while (fields >> f) row.push_back(std::strtod(f.c_str(), nullptr));  // Handles inf.
    if (!row.empty()) rows.push_back(row);
  }
  return rows;
}

inline std::string CorpusPath(std::string_view file) {
  return std::string(LOOPGATE_SHARED_DIR "/corpora/ab-lift/") + std::string(file);
}

// Splits one CSV record (RFC 4180 quoting, no embedded newlines).
inline std::vector<std::string> SplitCsv(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back().push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back().push_back(c);
    }
  }
  return fields;
}

// hillstrom.csv as records of named fields.
inline std::vector<std::map<std::string, std::string>> ReadHillstrom() {
  std::ifstream in(CorpusPath("hillstrom.csv"));
  EXPECT_TRUE(in.good()) << "cannot read " << CorpusPath("hillstrom.csv");
  std::vector<std::map<std::string, std::string>> records;
  std::string line;
  if (!std::getline(in, line)) return records;
  const std::vector<std::string> header = SplitCsv(line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> fields = SplitCsv(line);
    EXPECT_EQ(fields.size(), header.size()) << line;
    std::map<std::string, std::string> record;
    for (size_t i = 0; i < header.size() && i < fields.size(); ++i) record[header[i]] = fields[i];
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace loopgate::analytics::test_support
