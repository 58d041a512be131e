// Runs ../shared/scenarios/reference through the real binary and compares, line by line, what
// the outputs and the ledger say happened with expected.ndjson (canonical JSON, exactly).

#include <map>
#include <set>
#include <string>

#include "common/strings.h"
#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "json/json.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

using simdjson::dom::element;

std::string Canonical(const std::string& text) {
  json::StrictParser parser;
  std::string canonical;
  auto root = parser.ParseCopy(text, &canonical);
  EXPECT_TRUE(root.ok()) << text;
  return canonical;
}

// Everything one run left behind, indexed for per-line reconstruction.
struct RunView {
  std::map<uint64_t, std::string> quarantine_by_line;             // line -> record text
  std::map<uint64_t, std::vector<std::string>> entries_by_line;   // line -> ledger entries
  std::map<std::string, std::map<std::string, std::string>> data;  // sink -> id -> data text
  std::set<std::string> accepted_ids;

  RunView(const std::string& state, const std::string& out, const std::vector<std::string>& sinks) {
    simdjson::dom::parser parser;
    for (const auto& line : ReadLines(out + "/quarantine.ndjson")) {
      element e = parser.parse(line);
      quarantine_by_line[static_cast<uint64_t>(int64_t(e["line"]))] = line;
    }
    Result exported = RunLoopgate({"ledger", "export", "--state", state});
    EXPECT_EQ(exported.exit_code, 0) << exported.err;
    std::stringstream ss(exported.out);
    std::string line;
    while (std::getline(ss, line)) {
      element e = parser.parse(line);
      if (std::string_view(e["decision"]) == "quarantine") continue;
      entries_by_line[static_cast<uint64_t>(int64_t(e["line"]))].push_back(line);
      accepted_ids.insert(std::string(std::string_view(e["event_id"])));
    }
    for (const auto& sink : sinks) {
      for (const auto& l : ReadLines(out + "/" + sink + ".ndjson")) {
        element e = parser.parse(l);
        std::string data;
        EXPECT_TRUE(json::AppendCanonical(e["data"], &data).ok());
        const std::string id{std::string_view(e["id"])};
        EXPECT_TRUE(this->data[sink].emplace(id, data).second) << "delivered twice: " << id;
      }
    }
  }
};

// The id an input line carries: event_id / id, or the derived one.
std::string IdOfInputLine(const std::string& line) {
  json::StrictParser parser;
  std::string canonical;
  auto root = parser.ParseCopy(line, &canonical);
  std::string_view id;
  if ((*root)["event_id"].get_string().get(id) == simdjson::SUCCESS) return std::string(id);
  if ((*root)["id"].get_string().get(id) == simdjson::SUCCESS) return std::string(id);
  return "sha256:" + crypto::ToHex(crypto::Sha256(canonical));
}

const std::vector<std::string> kSinks = {"crm", "marketing_automation", "support_cases",
                                         "analytics_lake", "research_warehouse", "safety_db"};

std::string Reconstruct(const RunView& v, uint64_t n, const std::string& input_line) {
  simdjson::dom::parser parser;
  if (auto it = v.quarantine_by_line.find(n); it != v.quarantine_by_line.end()) {
    element q = parser.parse(it->second);
    std::string out = "{";
    std::string_view id;
    if (q["id"].get_string().get(id) == simdjson::SUCCESS) {
      out += "\"id\":";
      json::AppendString(id, &out);
      out += ",";
    }
    common::StrAppend(&out, "\"line\":", n, ",\"quarantine\":");
    json::AppendString(std::string_view(q["reason"]), &out);
    return out + "}";
  }
  auto it = v.entries_by_line.find(n);
  if (it == v.entries_by_line.end()) {
    // No decision and no quarantine: the line was a duplicate of an accepted event.
    const std::string id = IdOfInputLine(input_line);
    EXPECT_TRUE(v.accepted_ids.count(id)) << "line " << n << " is neither routed nor a duplicate";
    std::string out = "{\"duplicate\":true,\"id\":";
    json::AppendString(id, &out);
    common::StrAppend(&out, ",\"line\":", n, "}");
    return out;
  }
  std::string decisions, id, type;
  for (const auto& text : it->second) {
    element e = parser.parse(text);
    id = std::string_view(e["event_id"]);
    type = std::string_view(e["type"]);
    const std::string sink{std::string_view(e["sink"])};
    if (!decisions.empty()) decisions += ",";
    json::AppendString(sink, &decisions);
    if (std::string_view(e["decision"]) == "allow") {
      std::string ids;
      EXPECT_TRUE(json::AppendCanonical(e["consent_ids"], &ids).ok());
      const auto& delivered = v.data.at(sink);
      auto d = delivered.find(id);
      EXPECT_NE(d, delivered.end()) << "ledger allow without a delivered line: " << id;
      decisions += ":{\"consent_ids\":" + ids +
                   ",\"data\":" + (d == delivered.end() ? "null" : d->second) +
                   ",\"decision\":\"allow\",\"reason\":null}";
    } else {
      decisions += ":{\"decision\":\"deny\",\"reason\":";
      json::AppendString(std::string_view(e["reason"]), &decisions);
      decisions += "}";
    }
  }
  std::string out = "{\"decisions\":{" + decisions + "},\"id\":";
  json::AppendString(id, &out);
  common::StrAppend(&out, ",\"line\":", n, ",\"type\":");
  json::AppendString(type, &out);
  return Canonical(out + "}");
}

TEST(ReferenceScenario, EveryLineMatchesExpected) {
  TempDir dir;
  Result r = RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunView view(dir / "state", dir / "out", kSinks);
  const auto inputs = ReadLines(ReferenceDir() + "/events.ndjson");
  const auto expected = ReadLines(ReferenceDir() + "/expected.ndjson");
  ASSERT_EQ(expected.size(), 30u);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(Reconstruct(view, i + 1, inputs[i]), Canonical(expected[i])) << "line " << i + 1;
  }
  // Every delivered line is accounted for by a ledger allow (none delivered behind its back).
  size_t delivered = 0, allows = 0;
  for (const auto& [sink, by_id] : view.data) delivered += by_id.size();
  for (const auto& [line, entries] : view.entries_by_line) {
    for (const auto& e : entries) allows += e.find("\"decision\":\"allow\"") != std::string::npos;
  }
  EXPECT_EQ(delivered, allows);
}

TEST(ReferenceScenario, SummaryCountsFollowTheSpec) {
  TempDir dir;
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args.push_back("--json");
  Result r = RunLoopgate(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser parser;
  element s = parser.parse(r.out);
  EXPECT_EQ(int64_t(s["events_read"]), 30);
  EXPECT_EQ(int64_t(s["routed"]), 11);
  EXPECT_EQ(int64_t(s["blocked"]), 7);
  EXPECT_EQ(int64_t(s["quarantined"]), 10);
  EXPECT_EQ(int64_t(s["duplicates"]), 2);
  EXPECT_EQ(int64_t(s["deliveries"]["analytics_lake"]), 9);
  EXPECT_EQ(int64_t(s["deliveries"]["crm"]), 3);
  EXPECT_EQ(int64_t(s["denials"]["no_consent"]), 11);
  EXPECT_EQ(int64_t(s["denials"]["rule:no-contact-accounts"]), 1);
}

TEST(ReferenceScenario, SecondRunOnSameStateDeliversNothingNew) {
  TempDir dir;
  ASSERT_EQ(RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out")).exit_code, 0);
  std::map<std::string, std::string> before;
  for (const auto& s : kSinks) before[s] = ReadFile(dir / "out/" + s + ".ndjson");
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args.push_back("--json");
  Result again = RunLoopgate(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  for (const auto& s : kSinks) EXPECT_EQ(ReadFile(dir / "out/" + s + ".ndjson"), before[s]) << s;
  simdjson::dom::parser parser;
  element summary = parser.parse(again.out);
  EXPECT_EQ(int64_t(summary["routed"]), 0);
  EXPECT_EQ(int64_t(summary["blocked"]), 0);
  EXPECT_EQ(int64_t(summary["duplicates"]), 20);    // Every accepted event, plus lines 18, 29.
  EXPECT_EQ(int64_t(summary["quarantined"]), 10);   // Quarantine marks nothing as seen.
  // Re-importing the same registries changed nothing.
  EXPECT_NE(again.err.find("19 records read"), std::string::npos);
  EXPECT_NE(again.err.find("0 new, 19 already known"), std::string::npos);
  EXPECT_EQ(RunLoopgate({"ledger", "verify", "--state", dir / "state"}).exit_code, 0);
}

TEST(ReferenceScenario, LedgerHoldsNoPayloadValuesOrKeys) {
  TempDir dir;
  ASSERT_EQ(RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out")).exit_code, 0);
  Result exported = RunLoopgate({"ledger", "export", "--state", dir / "state"});
  ASSERT_EQ(exported.exit_code, 0);
  // Values from the reference payloads and the key file must never reach the ledger.
  for (const char* value : {"Maria", "Lopez", "1984-07-12", "02139", "pt-001", "mrn-1001",
                            "dizziness", "hcp-001", "6a1f0c3e9b7d4a2f", "0f1e2d3c4b5a6978"}) {
    EXPECT_EQ(exported.out.find(value), std::string::npos) << value;
  }
}

}  // namespace
}  // namespace loopgate::testing
