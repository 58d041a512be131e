// `loopgate demo` through the real binary: the world, the run and the manifest agree, the ledger
// verifies, outcomes stay linkable after minimization, and the directory rules hold.

#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;

const char* const kSinks[] = {"crm", "marketing_automation", "support_cases", "analytics_lake",
                              "research_warehouse", "safety_db"};

// The summary JSON of the last run recorded in the state.
std::string LastRunSummary(const std::string& state_dir) {
  sqlite3* db = nullptr;
  std::string summary;
  if (sqlite3_open((state_dir + "/state.db").c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT summary FROM runs ORDER BY run_id DESC LIMIT 1", -1, &st,
                       nullptr);
    if (st != nullptr && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      summary = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return summary;
}

int64_t RunCount(const std::string& state_dir) {
  sqlite3* db = nullptr;
  int64_t n = -1;
  if (sqlite3_open((state_dir + "/state.db").c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM runs", -1, &st, nullptr);
    if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

uint64_t U(simdjson::dom::element e) { return e.get_uint64().value(); }
int64_t I(simdjson::dom::element e) { return e.get_int64().value(); }
simdjson::dom::object Obj(simdjson::dom::element e) { return e.get_object().value(); }
simdjson::dom::array Arr(simdjson::dom::element e) { return e.get_array().value(); }

std::vector<std::string> Cells(const std::string& row) {
  std::vector<std::string> cells;
  std::stringstream ss(row);
  for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
  return cells;
}

TEST(Demo, SmallWorldRoutesAndAgreesWithItsManifest) {
  TempDir tmp;
  const std::string dir = tmp / "demo";
  Result r = RunLoopgate({"demo", "--size", "small", "--seed", "3", "--dir", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;

  for (const char* f : {"catalog.yaml", "keys.json", "agreements.ndjson", "consents.ndjson",
                        "events.ndjson", "hcp_master.csv", "patient_links.csv", "manifest.json"}) {
    EXPECT_TRUE(fs::is_regular_file(dir + "/world/" + f)) << f;
  }
  EXPECT_TRUE(fs::is_regular_file(dir + "/state/state.db"));
  // The catalog the run used is the reference catalog, from the binary, not the source tree.
  EXPECT_EQ(ReadFile(dir + "/world/catalog.yaml"),
            ReadFile(SourceDir() + "/examples/reference/catalog.yaml"));

  Result verify = RunLoopgate({"ledger", "verify", "--state", dir + "/state"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err << verify.out;

  simdjson::dom::parser mp, sp;
  const std::string manifest_text = ReadFile(dir + "/world/manifest.json");
  simdjson::dom::element m = mp.parse(manifest_text).value();
  const std::string summary_text = LastRunSummary(dir + "/state");
  ASSERT_FALSE(summary_text.empty());
  simdjson::dom::element s = sp.parse(summary_text).value();

  // The run reports what the manifest says the files hold.
  EXPECT_EQ(U(s["events_read"]), U(m["counts"]["lines"]));
  EXPECT_EQ(U(s["routed"]) + U(s["blocked"]), U(m["counts"]["valid"]));
  EXPECT_EQ(U(s["quarantined"]), U(m["counts"]["messy"]));
  EXPECT_EQ(U(s["duplicates"]), U(m["counts"]["duplicates"]));
  std::map<std::string, uint64_t> run_reasons, manifest_reasons;
  for (auto [k, v] : Obj(s["quarantine_reasons"])) run_reasons[std::string(k)] = U(v);
  for (auto [k, v] : Obj(m["messy_by_reason"])) manifest_reasons[std::string(k)] = U(v);
  EXPECT_EQ(run_reasons, manifest_reasons);
  EXPECT_EQ(run_reasons.size(), 9u);  // Every quarantine reason of routing.md.
  EXPECT_EQ(std::string(s["as_of"].get_string().value()), "2027-01-01T00:00:00Z");

  // Every deny reason of routing.md's decision steps occurs too.
  std::set<std::string> denials;
  for (auto [k, v] : Obj(s["denials"])) denials.insert(std::string(k));
  for (const char* reason :
       {"rule:no-contact-accounts", "rule:pediatric-program-exclusion", "not_in_allowed_recipients",
        "no_agreement", "agreement_purpose", "agreement_aggregate_only", "no_consent",
        "consent_revoked", "consent_expired", "consent_channel", "jurisdiction"}) {
    EXPECT_EQ(denials.count(reason), 1u) << reason;
  }

  // Each sink's file holds what the summary says was delivered; the quarantine file one line
  // per quarantined line.
  std::map<std::string, int64_t> deliveries;
  for (auto [k, v] : Obj(s["deliveries"])) deliveries[std::string(k)] = I(v);
  for (const char* sink : kSinks) {
    EXPECT_EQ(static_cast<int64_t>(ReadLines(dir + "/out/" + sink + ".ndjson").size()),
              deliveries[sink])
        << sink;
    EXPECT_GT(deliveries[sink], 0) << sink;
  }
  EXPECT_EQ(ReadLines(dir + "/out/quarantine.ndjson").size(), U(s["quarantined"]));

  // `loopgate run` on the same world files gives the same outputs and the same ledger: the
  // demo routes exactly as run does.
  const std::string w = dir + "/world/";
  Result run = RunLoopgate({"run", "--config", w + "catalog.yaml", "--events", w + "events.ndjson",
                            "--consents", w + "consents.ndjson", "--agreements",
                            w + "agreements.ndjson", "--keys", w + "keys.json", "--state",
                            tmp / "run-state", "--out", tmp / "run-out", "--as-of",
                            "2027-01-01T00:00:00Z"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  simdjson::dom::parser rp;
  const std::string run_summary = LastRunSummary(tmp / "run-state");
  EXPECT_EQ(std::string(rp.parse(run_summary)["ledger_head"].get_string().value()),
            std::string(s["ledger_head"].get_string().value()));
  for (const char* sink : kSinks) {
    EXPECT_EQ(ReadFile(tmp / "run-out/" + sink + ".ndjson"),
              ReadFile(dir + "/out/" + sink + ".ndjson"))
        << sink;
  }
  EXPECT_EQ(ReadFile(tmp / "run-out/quarantine.ndjson"), ReadFile(dir + "/out/quarantine.ndjson"));

  // The output names every place and what to try next.
  for (const std::string& where :
       {dir + "/world/events.ndjson", dir + "/world/manifest.json", dir + "/state",
        dir + "/out/quarantine.ndjson", std::string("analytics_lake.ndjson"),
        std::string("explain --state ") + dir + "/state", std::string("ledger verify --state ")}) {
    EXPECT_NE(r.out.find(where), std::string::npos) << where << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("loopgate report governance"), std::string::npos);
  // The suggested examples are in the ledger.
  for (auto e : Arr(m["examples"])) {
    const std::string id(e["event_id"].get_string().value());
    Result x = RunLoopgate({"explain", "--state", dir + "/state", id});
    EXPECT_EQ(x.exit_code, 0) << id << x.err;
    EXPECT_NE(r.out.find(id), std::string::npos) << id;
  }
}

// What a study needs survives the analytics sink's minimization: therapy starts keep the
// prescriber's NPI (hcp_master.csv), and patient milestones carry the analytics token that
// patient_links.csv maps to the treating HCP.
TEST(Demo, OutcomesInTheAnalyticsLakeLinkToHcps) {
  TempDir tmp;
  const std::string dir = tmp / "demo";
  Result r = RunLoopgate({"demo", "--size", "small", "--dir", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> npis, hcp_ids, tokens;
  const auto hcps = ReadLines(dir + "/world/hcp_master.csv");
  for (size_t i = 1; i < hcps.size(); ++i) {
    const auto c = Cells(hcps[i]);
    hcp_ids.insert(c[0]);
    npis.insert(c[1]);
  }
  const auto links = ReadLines(dir + "/world/patient_links.csv");
  for (size_t i = 1; i < links.size(); ++i) {
    const auto c = Cells(links[i]);
    tokens.insert(c[0]);
    EXPECT_EQ(hcp_ids.count(c[2]), 1u) << links[i];
  }
  simdjson::dom::parser parser;
  uint64_t campaign_starts = 0, refills = 0, exposures = 0;
  for (const std::string& line : ReadLines(dir + "/out/analytics_lake.ndjson")) {
    simdjson::dom::element e = parser.parse(line).value();
    const std::string_view type = e["type"].get_string().value();
    simdjson::dom::element data = e["data"];
    if (type == "ehr.therapy.started") {
      std::string_view code = data["therapy_code"].get_string().value();
      if (code.find("rx-onc-") == 0 || code.find("rx-card-") == 0 || code.find("rx-neu-") == 0) {
        ++campaign_starts;
        EXPECT_EQ(npis.count(std::string(data["prescriber_npi"].get_string().value())), 1u)
            << line;
      }
      EXPECT_EQ(std::string(e["source"].get_string().value()), "ehr_st_lukes")
          << "only the individual-level agreement lets EHR records reach the lake";
    } else if (type == "patient.support.milestone") {
      const std::string token(data["patient_id"].get_string().value());
      EXPECT_EQ(token.rfind("tok_", 0), 0u) << line;
      EXPECT_EQ(tokens.count(token), 1u) << line;
      refills += data["milestone"].get_string().value() == "refill";
      EXPECT_TRUE(data["first_name"].error() == simdjson::NO_SUCH_FIELD) << line;
    } else if (type == "hcp.content.engaged") {
      exposures += data["asset_id"].get_string().value().find("asset-onc117-") == 0;
    }
  }
  EXPECT_GT(campaign_starts, 0u);
  EXPECT_GT(refills, 0u);
  EXPECT_GT(exposures, 0u);
}

TEST(Demo, RefusesANonEmptyDirectoryThatIsNotADemoUnlessForced) {
  TempDir tmp;
  const std::string dir = tmp / "mine";
  fs::create_directories(dir);
  WriteFile(dir + "/notes.txt", "keep me");
  Result r = RunLoopgate({"demo", "--size", "small", "--dir", dir});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not empty and is not a previous demo directory"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir)) entries.push_back(e.path().filename());
  EXPECT_EQ(entries, std::vector<std::string>{"notes.txt"}) << "nothing may be written";

  Result forced = RunLoopgate({"demo", "--size", "small", "--dir", dir, "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(ReadFile(dir + "/notes.txt"), "keep me");
  EXPECT_TRUE(fs::is_regular_file(dir + "/world/events.ndjson"));

  Result file_dir = RunLoopgate({"demo", "--size", "small", "--dir", dir + "/notes.txt"});
  EXPECT_EQ(file_dir.exit_code, 2);
  Result bad_size = RunLoopgate({"demo", "--size", "huge", "--dir", tmp / "other"});
  EXPECT_EQ(bad_size.exit_code, 2);
  EXPECT_FALSE(fs::exists(tmp / "other"));
}

// A previous demo directory is regenerated from scratch: the same seed gives the same world and
// a fresh state with one run, not a rerun full of duplicates.
TEST(Demo, RunsAgainInItsOwnDirectory) {
  TempDir tmp;
  const std::string dir = tmp / "demo";
  ASSERT_EQ(RunLoopgate({"demo", "--size", "small", "--dir", dir}).exit_code, 0);
  const std::string events = ReadFile(dir + "/world/events.ndjson");
  const std::string summary = LastRunSummary(dir + "/state");
  Result again = RunLoopgate({"demo", "--size", "small", "--dir", dir});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(ReadFile(dir + "/world/events.ndjson"), events);
  EXPECT_EQ(RunCount(dir + "/state"), 1);
  simdjson::dom::parser a, b;
  auto before = a.parse(summary).value();
  auto after = b.parse(LastRunSummary(dir + "/state")).value();
  EXPECT_EQ(U(after["duplicates"]), U(before["duplicates"]));
  EXPECT_EQ(U(after["routed"]), U(before["routed"]));
  EXPECT_EQ(std::string(after["ledger_head"].get_string().value()),
            std::string(before["ledger_head"].get_string().value()));
}

}  // namespace
}  // namespace loopgate::testing
