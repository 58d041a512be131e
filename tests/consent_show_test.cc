// loopgate consent show through the real binary. What it shows as a subject's current consent
// versions must be exactly what `loopgate run` decided with: for every decision of the reference
// run that reached the consent checks, the checks of routing.md 3.4, applied here to the
// versions `consent show` lists, give the ledger's decision, reason and citations.

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "common/time.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;

constexpr char kAsOf[] = "2026-06-30T00:00:00Z";

std::string Str(element e) {
  std::string_view s;
  return e.get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}
// A member that may be missing: empty then.
std::string Str(simdjson::simdjson_result<element> r) {
  element e;
  return r.get(e) == simdjson::SUCCESS ? Str(e) : std::string();
}

common::Instant T(const std::string& text) {
  auto t = common::ParseRfc3339(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(common::Instant{});
}

// The reference catalog's sinks, as the scenario's README lists them.
struct SinkSpec {
  std::string purpose;
  std::set<std::string> consent_for;  // Subject types.
  std::string channel;                // Empty: none.
  std::string jurisdiction_prefix;    // "US-" for the pattern "US-*"; empty: none.
};
const std::map<std::string, SinkSpec>& Sinks() {
  static const auto* sinks = new std::map<std::string, SinkSpec>{
      {"crm", {"hcp_commercial_engagement", {"hcp"}, "", ""}},
      {"marketing_automation", {"promotional_marketing", {"hcp", "patient"}, "email", "US-"}},
      {"support_cases", {"patient_support", {"patient"}, "", ""}},
      {"analytics_lake", {"aggregate_analytics", {"patient"}, "", "US-"}},
      {"research_warehouse", {"research", {"patient"}, "", ""}},
      {"safety_db", {"safety_monitoring", {}, "", ""}},
  };
  return *sinks;
}

// Subject type and field per event type (README "Event types").
const std::map<std::string, std::pair<std::string, std::string>> kSubjects = {
    {"account.education.completed", {"account", "account_id"}},
    {"hcp.content.engaged", {"hcp", "hcp_id"}},
    {"patient.support.milestone", {"patient", "patient_id"}},
    {"ehr.therapy.started", {"patient", "patient_mrn"}},
    {"safety.adverse_event.reported", {"patient", "patient_id"}},
};

// A consent version as `consent show --json` lists it.
struct Version {
  std::string id, recorded_at, status, effective_from, expires_at, channel, jurisdiction;
};

struct Outcome {
  Outcome(std::string d) : decision(std::move(d)) {}
  std::string decision;  // "allow" or the deny reason.
  std::vector<std::string> ids, versions;
};

// routing.md section 3.4, written out again from the spec: the decision for an event at
// `event_time` over the current versions `v`.
Outcome Evaluate(const std::vector<Version>& v, common::Instant event_time, common::Instant as_of,
                 const SinkSpec& sink) {
  if (v.empty()) return Outcome("no_consent");
  bool all_revoked = true;
  for (const auto& r : v) all_revoked &= r.status == "revoked";
  if (all_revoked) return Outcome("consent_revoked");
  std::vector<const Version*> g;
  for (const auto& r : v) {
    if (r.status == "granted" && T(r.effective_from) <= event_time) g.push_back(&r);
  }
  if (g.empty()) return Outcome("no_consent");
  std::erase_if(g, [&](const Version* r) {
    return !r->expires_at.empty() && !(T(r->expires_at) > event_time && T(r->expires_at) > as_of);
  });
  if (g.empty()) return Outcome("consent_expired");
  if (!sink.channel.empty()) {
    std::erase_if(
        g, [&](const Version* r) { return !r->channel.empty() && r->channel != sink.channel; });
    if (g.empty()) return Outcome("consent_channel");
  }
  if (!sink.jurisdiction_prefix.empty()) {
    std::erase_if(g, [&](const Version* r) {
      return r->jurisdiction.rfind(sink.jurisdiction_prefix, 0) != 0;
    });
    if (g.empty()) return Outcome("jurisdiction");
  }
  Outcome allowed("allow");
  for (const Version* r : g) {  // `consent show` lists them in consent_id order.
    allowed.ids.push_back(r->id);
    allowed.versions.push_back(r->recorded_at);
  }
  return allowed;
}

struct Shown {
  int exit_code = -1;
  std::string json;
  // Per purpose: the state and the current versions.
  std::map<std::string, std::pair<std::string, std::vector<Version>>> purposes;
};

Shown Show(const std::string& state, const std::string& type, const std::string& id,
           const std::string& as_of = kAsOf) {
  Result r =
      RunLoopgate({"consent", "show", "--state", state, "--as-of", as_of, "--json", type, id});
  Shown s;
  s.exit_code = r.exit_code;
  s.json = r.out;
  if (r.exit_code != 0) return s;
  simdjson::dom::parser parser;
  element doc;
  EXPECT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  for (element p : doc["purposes"].get_array()) {
    auto& [state_name, versions] = s.purposes[Str(p["purpose"])];
    state_name = Str(p["state"]);
    for (element c : p["current"].get_array()) {
      versions.push_back({Str(c["consent_id"]), Str(c["recorded_at"]), Str(c["status"]),
                          Str(c["effective_from"]), Str(c["expires_at"]), Str(c["channel"]),
                          Str(c["jurisdiction"])});
    }
  }
  return s;
}

// Checks every consent decision of the run in `state` (routed from the reference events)
// against `consent show`; returns how many were checked.
int CheckRunAgainstShow(const std::string& state) {
  // Each input line's type and subject id.
  std::map<int64_t, std::pair<std::string, std::string>> subjects;
  simdjson::dom::parser parser;
  int64_t n = 0;
  for (const auto& text : ReadLines(ReferenceDir() + "/events.ndjson")) {
    ++n;
    element e;
    if (parser.parse(text).get(e) != simdjson::SUCCESS) continue;
    std::string type = Str(e["event_type"]);
    if (type.empty()) type = Str(e["type"]);
    auto it = kSubjects.find(type);
    if (it == kSubjects.end()) continue;
    const std::string& field = it->second.second;
    std::string id = Str(e["payload"][field]);
    if (id.empty()) id = Str(e["data"][field]);
    if (id.empty()) id = Str(e[field]);
    subjects[n] = {type, id};
  }

  Result exported = RunLoopgate({"ledger", "export", "--state", state});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  const std::set<std::string> consent_reasons = {"no_consent", "consent_revoked", "consent_expired",
                                                 "consent_channel", "jurisdiction"};
  std::map<std::pair<std::string, std::string>, Shown> shown;
  int checked = 0;
  std::stringstream ss(exported.out);
  std::string text;
  while (std::getline(ss, text)) {
    element e = parser.parse(text);
    const std::string decision = Str(e["decision"]);
    if (decision == "quarantine") continue;
    const SinkSpec& sink = Sinks().at(Str(e["sink"]));
    const auto& [type, subject_id] = subjects.at(int64_t(e["line"]));
    const std::string subject_type = kSubjects.at(type).first;
    if (!sink.consent_for.count(subject_type)) continue;
    if (decision == "deny" && !consent_reasons.count(Str(e["reason"]))) continue;  // Earlier step.

    auto key = std::pair{subject_type, subject_id};
    if (!shown.count(key)) shown[key] = Show(state, subject_type, subject_id);
    const Shown& s = shown[key];
    std::vector<Version> current;
    if (s.exit_code == 0) {
      if (auto it = s.purposes.find(sink.purpose); it != s.purposes.end()) {
        current = it->second.second;
      }
    } else {
      EXPECT_EQ(s.exit_code, 1) << subject_type << " " << subject_id;  // No records at all.
    }
    const Outcome want = Evaluate(current, T(Str(e["time"])), T(kAsOf), sink);
    const std::string where =
        "line " + std::to_string(int64_t(e["line"])) + " sink " + Str(e["sink"]);
    if (decision == "allow") {
      EXPECT_EQ(want.decision, "allow") << where;
      std::vector<std::string> ids, versions;
      for (element i : e["consent_ids"].get_array()) ids.push_back(Str(i));
      for (element v : e["consent_versions"].get_array()) versions.push_back(Str(v));
      EXPECT_EQ(want.ids, ids) << where;
      EXPECT_EQ(want.versions, versions) << where;
    } else {
      EXPECT_EQ(want.decision, Str(e["reason"])) << where;
    }
    ++checked;
  }

  // And each purpose's state is what an event at as_of would meet at a sink without channel
  // or jurisdiction limits.
  for (const auto& [subject, s] : shown) {
    for (const auto& [purpose, state_and_versions] : s.purposes) {
      const auto& [state_name, versions] = state_and_versions;
      const Outcome at = Evaluate(versions, T(kAsOf), T(kAsOf), SinkSpec{});
      bool any_granted = false;
      for (const auto& v : versions) any_granted |= v.status == "granted";
      const std::string expected = at.decision == "allow"             ? "granted"
                                   : at.decision == "consent_revoked" ? "revoked"
                                   : at.decision == "consent_expired" ? "expired"
                                   : any_granted                      ? "not_yet_effective"
                                                                      : "none";
      EXPECT_EQ(state_name, expected) << subject.second << " " << purpose;
    }
  }
  return checked;
}

class ConsentShowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result r = RunLoopgate(ReferenceRunArgs(dir_ / "state", dir_ / "out"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string state() const { return dir_ / "state"; }
  TempDir dir_;
};

TEST_F(ConsentShowTest, WhatItShowsIsWhatTheRunDecidedWith) {
  EXPECT_GE(CheckRunAgainstShow(state()), 15);
}

TEST_F(ConsentShowTest, StatesOfTheReferenceSubjects) {
  EXPECT_EQ(Show(state(), "hcp", "hcp-002").purposes["hcp_commercial_engagement"].first, "revoked");
  EXPECT_EQ(Show(state(), "patient", "pt-004").purposes["aggregate_analytics"].first, "revoked");
  EXPECT_EQ(Show(state(), "patient", "pt-002").purposes["patient_support"].first, "expired");
  Shown pt1 = Show(state(), "patient", "pt-001");
  EXPECT_EQ(pt1.purposes["patient_support"].first, "granted");
  EXPECT_EQ(pt1.purposes["aggregate_analytics"].first, "granted");
  // c-p5a was recorded after as_of: listed, not yet known, and no current version.
  Shown pt5 = Show(state(), "patient", "pt-005");
  EXPECT_EQ(pt5.purposes["aggregate_analytics"].first, "none");
  EXPECT_TRUE(pt5.purposes["aggregate_analytics"].second.empty());
  simdjson::dom::parser parser;
  element v = parser.parse(pt5.json)["versions"].at(0);
  EXPECT_EQ(Str(v["consent_id"]), "c-p5a");
  EXPECT_FALSE(bool(v["known"]));
  EXPECT_FALSE(bool(v["current"]));
  EXPECT_EQ(Str(v["record"]["notice_version"]), "psp-notice-v3");  // The whole stored record.
}

TEST_F(ConsentShowTest, AsOfAnEarlierTime) {
  // Before the revocation of c-p4a was recorded, the grant is in force.
  Shown before = Show(state(), "patient", "pt-004", "2026-03-01T00:00:00Z");
  EXPECT_EQ(before.purposes["aggregate_analytics"].first, "granted");
  simdjson::dom::parser parser;
  element doc = parser.parse(before.json);
  EXPECT_TRUE(bool(doc["versions"].at(0)["current"]));
  EXPECT_FALSE(bool(doc["versions"].at(1)["known"]));
  // c-p3s is effective from 2026-05-01 but recorded on 2026-05-02: as of 2026-05-01T12:00 it
  // is not known yet, and once known, an event before 2026-05-01 would not meet it.
  EXPECT_EQ(
      Show(state(), "patient", "pt-003", "2026-05-01T12:00:00Z").purposes["patient_support"].first,
      "none");
  EXPECT_EQ(Show(state(), "patient", "pt-003").purposes["patient_support"].first, "granted");
}

TEST_F(ConsentShowTest, AVersionForAnotherPurposeOrSubjectEndsTheConsentForTheOldOne) {
  // c-p1a moves from aggregate_analytics to research; c-h1 moves from hcp-001 to hcp-009.
  TempDir moved;
  WriteFile(moved / "consents.ndjson",
            ReadFile(ReferenceDir() + "/consents.ndjson") +
                "{\"consent_id\": \"c-p1a\", \"subject_type\": \"patient\", \"subject_id\": "
                "\"pt-001\", \"purpose\": \"research\", \"status\": \"granted\", "
                "\"effective_from\": \"2026-01-01T00:00:00Z\", \"jurisdiction\": \"US-MA\", "
                "\"recorded_at\": \"2026-02-01T00:00:00Z\"}\n"
                "{\"consent_id\": \"c-h1\", \"subject_type\": \"hcp\", \"subject_id\": "
                "\"hcp-009\", \"purpose\": \"hcp_commercial_engagement\", \"status\": "
                "\"granted\", \"effective_from\": \"2026-01-01T00:00:00Z\", \"recorded_at\": "
                "\"2026-02-01T00:00:00Z\"}\n");
  auto args = ReferenceRunArgs(moved / "state", moved / "out");
  args[6] = moved / "consents.ndjson";
  Result r = RunLoopgate(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The run's decisions changed (evt-0007 to analytics_lake, evt-0002 to crm), and show agrees.
  EXPECT_GE(CheckRunAgainstShow(moved / "state"), 15);

  Shown pt1 = Show(moved / "state", "patient", "pt-001");
  EXPECT_EQ(pt1.purposes["aggregate_analytics"].first, "none");
  EXPECT_EQ(pt1.purposes["research"].first, "granted");
  Result text = RunLoopgate(
      {"consent", "show", "--state", moved / "state", "--as-of", kAsOf, "patient", "pt-001"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("aggregate_analytics  none     ended by a later version: c-p1a"),
            std::string::npos)
      << text.out;
  Result hcp = RunLoopgate(
      {"consent", "show", "--state", moved / "state", "--as-of", kAsOf, "hcp", "hcp-001"});
  EXPECT_NE(hcp.out.find("names hcp hcp-009"), std::string::npos) << hcp.out;
  EXPECT_EQ(Show(moved / "state", "hcp", "hcp-009").purposes["hcp_commercial_engagement"].first,
            "granted");
}

TEST_F(ConsentShowTest, ReadsWithoutChangingTheState) {
  auto snapshot = [&] {
    std::map<std::string, std::tuple<uintmax_t, int64_t>> files;
    for (const auto& e : fs::recursive_directory_iterator(state())) {
      if (!e.is_regular_file()) continue;
      struct stat st;
      ::stat(e.path().c_str(), &st);
      files[fs::relative(e.path(), state()).string()] = {
          e.file_size(), static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
    }
    return files;
  };
  const auto before = snapshot();
  const std::string db_before = ReadFile(state() + "/state.db");
  Result r = RunLoopgate({"consent", "show", "--state", state(), "patient", "pt-001"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(ReadFile(state() + "/state.db"), db_before);
}

TEST_F(ConsentShowTest, MissingStateOrSubjectIsAnErrorAndCreatesNothing) {
  Result missing = RunLoopgate({"consent", "show", "--state", dir_ / "nope", "patient", "pt-001"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no Loopgate state in " + dir_ / "nope"), std::string::npos)
      << missing.err;
  EXPECT_FALSE(fs::exists(dir_ / "nope"));
  fs::create_directories(dir_ / "empty");
  Result empty = RunLoopgate({"consent", "show", "--state", dir_ / "empty", "patient", "pt-001"});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_TRUE(fs::is_empty(dir_ / "empty"));

  Result nobody = RunLoopgate({"consent", "show", "--state", state(), "patient", "pt-999"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_NE(nobody.err.find("no consent records for patient pt-999"), std::string::npos)
      << nobody.err;
  Result bad_time =
      RunLoopgate({"consent", "show", "--state", state(), "--as-of", "soon", "patient", "pt-001"});
  EXPECT_EQ(bad_time.exit_code, 2);
}

}  // namespace
}  // namespace loopgate::testing
