// No input line can crash or stall a run: each hostile line gets its quarantine record and the
// run goes on to route the valid events around it.

#include <map>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

std::string Valid(const std::string& id) {
  return "{\"event_id\": \"" + id + "\", \"event_type\": \"hcp.content.engaged\", "
         "\"source_system\": \"web_portal\", \"timestamp\": \"2026-04-01T10:15:00Z\", "
         "\"payload\": {\"hcp_id\": \"hcp-001\", \"asset_id\": \"a-1\", \"channel\": \"web\"}}";
}

std::string WithDuration(const std::string& id, const std::string& number) {
  return "{\"event_id\": \"" + id + "\", \"event_type\": \"hcp.content.engaged\", "
         "\"source_system\": \"web_portal\", \"timestamp\": \"2026-04-01T10:15:00Z\", "
         "\"payload\": {\"hcp_id\": \"hcp-001\", \"asset_id\": \"a-1\", \"channel\": \"web\", "
         "\"duration_s\": " + number + "}}";
}

std::vector<std::string> Args(const TempDir& dir, const std::string& events) {
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[4] = events;
  args.push_back("--json");
  return args;
}

TEST(HostileInput, EachHostileLineIsQuarantinedAndTheRunGoesOn) {
  TempDir dir;
  // Line number -> expected quarantine reason; other lines are valid.
  std::vector<std::pair<std::string, std::string>> lines = {
      {Valid("evt-h1"), ""},
      {"{\"event_id\": \"evt-big\", \"pad\": \"" + std::string(2 << 20, 'x') + "\"}",
       "malformed_json"},
      {std::string(100000, '['), "malformed_json"},
      {std::string(100000, '{'), "malformed_json"},
      {"{\"event_id\": \"evt-utf\", \"x\": \"\xff\xfe\xc3\"}", "malformed_json"},
      {"{\"event_id\": \"evt-nan\", \"x\": NaN}", "malformed_json"},
      {"{\"event_id\": \"evt-inf\", \"x\": -Infinity}", "malformed_json"},
      {WithDuration("evt-e999", "1e999"), "malformed_json"},
      {WithDuration("evt-hugeint", "123456789012345678901234567890"), "invalid_field"},
      {WithDuration("evt-u64", "18446744073709551615"), "invalid_field"},
      {WithDuration("evt-frac", "95.5"), "invalid_field"},
      {"{\"event_id\": \"evt-dup\", \"event_id\": \"evt-dup2\"}", "malformed_json"},
      {std::string("\x00\x01\x02junk\x7f\x80\x00", 10), "malformed_json"},
      {"{\"event_id\": \"evt-sur\", \"x\": \"\\ud800\"}", "malformed_json"},
      {"{\"event_id\": \"evt-ctl\", \"x\": \"a\tb\"}", "malformed_json"},
      {"[1, 2, 3]", "malformed_json"},
      {"\"just a string\"", "malformed_json"},
      {"{} {}", "malformed_json"},
      {"{\"a\": 1,}", "malformed_json"},
      {"{}", "invalid_envelope"},
      {"{\"event_id\": 42, \"event_type\": \"x\"}", "invalid_envelope"},
      {"{\"specversion\": \"0.3\", \"id\": \"ce-1\"}", "invalid_envelope"},
      {Valid("evt-h2"), ""},
  };
  std::string content;
  for (const auto& [line, reason] : lines) content += line + "\n";
  content += "\n   \n";  // Blank lines are skipped, not quarantined.
  WriteFile(dir / "events.ndjson", content);

  Result r = RunLoopgate(Args(dir, dir / "events.ndjson"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<uint64_t, std::string> got;
  simdjson::dom::parser parser;
  for (const auto& l : ReadLines(dir / "out/quarantine.ndjson")) {
    simdjson::dom::element e = parser.parse(l);
    const auto line = static_cast<uint64_t>(int64_t(e["line"]));
    EXPECT_EQ(got.count(line), 0u) << "two records for line " << line;
    got[line] = std::string(std::string_view(e["reason"]));
    EXPECT_FALSE(std::string_view(e["detail"]).empty());
  }
  size_t bad = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].second.empty()) {
      EXPECT_EQ(got.count(i + 1), 0u) << "valid line " << i + 1 << " was quarantined";
    } else {
      ++bad;
      EXPECT_EQ(got[i + 1], lines[i].second) << "line " << i + 1;
    }
  }
  EXPECT_EQ(got.size(), bad);
  const std::string crm = ReadFile(dir / "out/crm.ndjson");
  EXPECT_NE(crm.find("\"evt-h1\""), std::string::npos);
  EXPECT_NE(crm.find("\"evt-h2\""), std::string::npos);
  simdjson::dom::element summary = parser.parse(r.out);
  EXPECT_EQ(int64_t(summary["events_read"]), static_cast<int64_t>(lines.size()));
  EXPECT_EQ(RunLoopgate({"ledger", "verify", "--state", dir / "state"}).exit_code, 0);
}

TEST(HostileInput, RandomBinaryLinesAreAllQuarantined) {
  TempDir dir;
  std::mt19937 rng(7);
  std::string content;
  int nonblank = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string line(1 + rng() % 300, '\0');
    for (auto& c : line) {
      c = static_cast<char>(rng() % 256);
      if (c == '\n') c = '{';
    }
    if (line.find_first_not_of(" \t\r") != std::string::npos) ++nonblank;
    content += line + "\n";
  }
  WriteFile(dir / "events.ndjson", content);
  Result r = RunLoopgate(Args(dir, dir / "events.ndjson"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element summary = parser.parse(r.out);
  EXPECT_EQ(int64_t(summary["events_read"]), nonblank);
  EXPECT_EQ(int64_t(summary["quarantined"]), nonblank);
  EXPECT_EQ(ReadLines(dir / "out/quarantine.ndjson").size(), static_cast<size_t>(nonblank));
}

TEST(HostileInput, LineCapIsConfigurable) {
  TempDir dir;
  WriteFile(dir / "events.ndjson", Valid("evt-long") + "\n");
  auto args = Args(dir, dir / "events.ndjson");
  args.push_back("--max-line-bytes");
  args.push_back("100");
  Result r = RunLoopgate(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string q = ReadFile(dir / "out/quarantine.ndjson");
  EXPECT_NE(q.find("\"reason\":\"malformed_json\""), std::string::npos) << q;
  EXPECT_NE(q.find("100-byte limit"), std::string::npos) << q;
}

}  // namespace
}  // namespace loopgate::testing
