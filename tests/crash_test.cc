// Nothing lost, nothing doubled: a run killed with SIGKILL at random moments and started again
// on the same input must end with outputs identical to one uninterrupted run, and a ledger that
// verifies.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

// The reference events repeated `copies` times, each copy with its own ids (and, for the
// id-less flat events, its own content), so every copy routes like the original.
std::string ManyEvents(int copies) {
  const auto lines = ReadLines(ReferenceDir() + "/events.ndjson");
  std::string out;
  for (int k = 0; k < copies; ++k) {
    for (std::string line : lines) {
      const std::string tag = "-" + std::to_string(k) + "-";
      for (size_t p = 0; (p = line.find("\"evt-", p)) != std::string::npos; p += 5) {
        line.replace(p, 5, "\"evt" + tag);
      }
      for (size_t p = 0; (p = line.find("acct_7f3a9c", p)) != std::string::npos; p += 11) {
        line.insert(p + 11, tag);
      }
      out += line + "\n";
    }
  }
  return out;
}

std::vector<std::string> RunArgs(const TempDir& dir, const std::string& name,
                                 const std::string& events,
                                 const std::vector<std::string>& extra = {}) {
  auto args = ReferenceRunArgs(dir / (name + "-state"), dir / (name + "-out"));
  args[4] = events;  // --events
  args.push_back("--batch-events");
  args.push_back("16");
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

const char* kOutputs[] = {"crm", "marketing_automation", "support_cases", "analytics_lake",
                          "research_warehouse", "safety_db", "quarantine"};

void KillAndRestart(const std::vector<std::string>& extra) {
  TempDir dir;
  const std::string events = dir / "events.ndjson";
  WriteFile(events, ManyEvents(120));

  const auto started = std::chrono::steady_clock::now();
  Result clean = RunLoopgate(RunArgs(dir, "clean", events, extra));
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  const auto clean_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                            started).count();

  const char* seed_env = std::getenv("LOOPGATE_CRASH_SEED");
  const unsigned seed = seed_env ? static_cast<unsigned>(std::atoi(seed_env)) : 20261124u;
  std::mt19937 rng(seed);
  // Kill after a random delay of up to an eighth of a clean run, again and again, until a run
  // gets to finish on its own: the kill points spread over start-up, recovery, routing and
  // commits across the whole input.
  int killed_mid_run = 0;
  bool finished = false;
  std::uniform_int_distribution<long> delay(0, clean_us / 8);
  for (int attempt = 0; attempt < 300 && !finished; ++attempt) {
    const pid_t pid = StartLoopgate(RunArgs(dir, "crashy", events, extra));
    std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
      ++killed_mid_run;
    } else {
      ASSERT_EQ(WEXITSTATUS(status), 0) << "seed " << seed;
      finished = true;
    }
  }
  std::printf("%d runs killed mid-way before one finished (seed %u)\n", killed_mid_run, seed);
  EXPECT_GE(killed_mid_run, 10) << "too few kills landed during a run to test anything";
  Result last = RunLoopgate(RunArgs(dir, "crashy", events, extra));
  ASSERT_EQ(last.exit_code, 0) << last.err << " seed " << seed;

  for (const char* name : kOutputs) {
    const std::string file = std::string("/") + name + ".ndjson";
    const std::string expected = ReadFile(dir / "clean-out" + file);
    const std::string got = ReadFile(dir / "crashy-out" + file);
    EXPECT_FALSE(expected.empty()) << name;
    // Byte-identical: every line exactly once, in input order.
    if (got != expected) {
      size_t at = 0;
      while (at < got.size() && at < expected.size() && got[at] == expected[at]) ++at;
      const size_t from = expected.rfind('\n', at) == std::string::npos ? 0
                                                                          : expected.rfind('\n', at);
      ADD_FAILURE() << name << ": " << ReadLines(dir / "crashy-out" + file).size()
                    << " lines after crashes, " << ReadLines(dir / "clean-out" + file).size()
                    << " in a clean run (seed " << seed << "); first difference at byte " << at
                    << "\n clean: " << expected.substr(from, 160)
                    << "\n after: " << got.substr(from, 160);
    }
  }
  Result verify = RunLoopgate({"ledger", "verify", "--state", dir / "crashy-state"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  // The same decisions recorded: as many ledger entries as the clean run.
  Result a = RunLoopgate({"ledger", "export", "--state", dir / "clean-state"});
  Result b = RunLoopgate({"ledger", "export", "--state", dir / "crashy-state"});
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'),
            std::count(b.out.begin(), b.out.end(), '\n'));
  // Every accepted id recorded once: a further run on the same input finds each of them a
  // duplicate, as many as in the clean state, and routes nothing.
  std::vector<std::string> json = extra;
  json.push_back("--json");
  Result again = RunLoopgate(RunArgs(dir, "crashy", events, json));
  Result again_clean = RunLoopgate(RunArgs(dir, "clean", events, json));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  ASSERT_EQ(again_clean.exit_code, 0) << again_clean.err;
  auto field = [](const std::string& out, const std::string& name) {
    const size_t at = out.find("\"" + name + "\":");
    return at == std::string::npos ? -1 : std::atol(out.c_str() + at + name.size() + 3);
  };
  EXPECT_EQ(field(again.out, "routed"), 0) << again.out;
  EXPECT_EQ(field(again.out, "blocked"), 0) << again.out;
  EXPECT_GT(field(again.out, "duplicates"), 1000) << again.out;
  EXPECT_EQ(field(again.out, "duplicates"), field(again_clean.out, "duplicates"));
}

TEST(CrashRecovery, KilledAtRandomMomentsDeliversEachEventExactlyOnce) { KillAndRestart({}); }

// The same with a seen index of 40 records: index runs are written and merged every few
// batches, so kills land in run writes, merges and the deletion of replaced runs too.
TEST(CrashRecovery, KilledWhileSeenIndexRunsAreWrittenAndMerged) {
  KillAndRestart({"--seen-memtable", "40"});
}

}  // namespace
}  // namespace loopgate::testing
