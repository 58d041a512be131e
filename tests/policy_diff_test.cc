// loopgate policy diff through the real binary, on the reference scenario. Each proposed catalog
// is checked against what really happens: the reference events are routed by `loopgate run`
// under the current and under the proposed catalog, the two ledger exports are compared line by
// line and sink by sink, and the diff must report exactly those changes, with the same counts.

#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "json/json.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;

std::string CatalogPath() { return SourceDir() + "/examples/reference/catalog.yaml"; }

// Replaces `from` (which must occur exactly once) in `text`.
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "not in the catalog: " << from;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "more than once: " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string Str(element e) {
  std::string_view s;
  return e.get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}
// A member that may be missing: empty then.
std::string Str(simdjson::simdjson_result<element> r) {
  element e;
  return r.get(e) == simdjson::SUCCESS ? Str(e) : std::string();
}

std::string Joined(element list) {
  std::string out;
  for (element item : list.get_array()) {
    if (!out.empty()) out += ", ";
    out += Str(item);
  }
  return out;
}

// What one `loopgate run` did with each input line, from its ledger export.
struct Line {
  std::string type, id;
  std::string quarantine;  // The reason, or empty.
  // Per sink: "allow" or "deny:<reason>", and for allows the transform notes and digest.
  std::map<std::string, std::string> decisions;
  std::map<std::string, std::pair<std::string, std::string>> deliveries;
};

struct Routed {
  std::map<int64_t, Line> lines;  // Lines with ledger entries.
  std::set<std::string> sinks;    // The catalog's sinks.
};

// Routes the reference events under `catalog` into a fresh state and reads back its ledger.
Routed RouteReference(const std::string& catalog, const std::vector<std::string>& sinks) {
  TempDir dir;
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[2] = catalog;
  Result run = RunLoopgate(args);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  Result exported = RunLoopgate({"ledger", "export", "--state", dir / "state"});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  Routed routed;
  routed.sinks = {sinks.begin(), sinks.end()};
  simdjson::dom::parser parser;
  std::stringstream ss(exported.out);
  std::string text;
  while (std::getline(ss, text)) {
    element e = parser.parse(text);
    Line& line = routed.lines[int64_t(e["line"])];
    line.type = Str(e["type"]);
    line.id = Str(e["event_id"]);
    const std::string decision = Str(e["decision"]);
    if (decision == "quarantine") {
      line.quarantine = Str(e["reason"]);
      continue;
    }
    const std::string sink = Str(e["sink"]);
    if (decision == "allow") {
      line.decisions[sink] = "allow";
      line.deliveries[sink] = {Joined(e["transforms"]), Str(e["delivered"])};
    } else {
      line.decisions[sink] = "deny:" + Str(e["reason"]);
    }
  }
  return routed;
}

using Key = std::tuple<std::string, std::string, std::string, std::string>;  // type, sink, from, to

struct Expected {
  std::map<Key, std::set<std::string>> decisions, intake, deliveries;  // -> event ids
  std::map<Key, int64_t> decision_counts, intake_counts, delivery_counts;
  int64_t compared = 0;
};

// The id each input line carries (event_id / id, or the derived one), by line number.
std::map<int64_t, std::string> InputIds() {
  std::map<int64_t, std::string> ids;
  int64_t n = 0;
  for (const auto& text : ReadLines(ReferenceDir() + "/events.ndjson")) {
    ++n;
    json::StrictParser parser;
    std::string canonical;
    auto root = parser.ParseCopy(text, &canonical);
    if (!root.ok()) continue;
    std::string_view id;
    if ((*root)["event_id"].get_string().get(id) == simdjson::SUCCESS ||
        (*root)["id"].get_string().get(id) == simdjson::SUCCESS) {
      ids[n] = std::string(id);
    } else {
      ids[n] = "sha256:" + crypto::ToHex(crypto::Sha256(canonical));
    }
  }
  return ids;
}

// The changes between two runs' ledgers, in the diff's terms (docs/policy-diff.md).
Expected Compare(const Routed& old_run, const Routed& new_run) {
  Expected x;
  std::set<std::string> sinks = old_run.sinks;
  sinks.insert(new_run.sinks.begin(), new_run.sinks.end());
  const Line none;
  const auto ids = InputIds();
  std::set<std::string> seen_old, seen_new;  // Ids accepted so far on each side.
  for (const auto& [n, input_id] : ids) {
    const Line& a = old_run.lines.count(n) ? old_run.lines.at(n) : none;
    const Line& b = new_run.lines.count(n) ? new_run.lines.at(n) : none;
    // A line with no entries was a duplicate when its id was accepted before on that side, and
    // otherwise accepted with no candidate sink (blocked, no entries).
    auto intake = [&](const Line& l, std::set<std::string>& seen) -> std::string {
      if (!l.quarantine.empty()) return "quarantine:" + l.quarantine;
      if (l.decisions.empty() && seen.count(input_id)) return "duplicate";
      seen.insert(input_id);
      return "accepted";
    };
    const std::string from = intake(a, seen_old), to = intake(b, seen_new);
    const std::string type = a.type.empty() ? b.type : a.type;
    const std::string id = a.id.empty() ? b.id : a.id;
    if (from != to) {
      Key k{type, "", from, to};
      x.intake[k].insert(id.empty() ? input_id : id);
      ++x.intake_counts[k];
      continue;
    }
    if (from != "accepted") continue;
    for (const std::string& sink : sinks) {
      auto decided = [&](const Line& l, const Routed& r) -> std::string {
        if (auto it = l.decisions.find(sink); it != l.decisions.end()) return it->second;
        return r.sinks.count(sink) ? "not_candidate" : "no_sink";
      };
      if (!a.decisions.count(sink) && !b.decisions.count(sink)) continue;
      ++x.compared;
      const std::string old_decision = decided(a, old_run), new_decision = decided(b, new_run);
      if (old_decision != new_decision) {
        Key k{type, sink, old_decision, new_decision};
        x.decisions[k].insert(id);
        ++x.decision_counts[k];
      } else if (old_decision == "allow" && a.deliveries.at(sink) != b.deliveries.at(sink)) {
        Key k{type, sink, a.deliveries.at(sink).first, b.deliveries.at(sink).first};
        x.deliveries[k].insert(id);
        ++x.delivery_counts[k];
      }
    }
  }
  return x;
}

// Checks one group list of the diff's JSON against the expected counts and ids.
void ExpectGroups(element groups, bool with_sink, const std::map<Key, int64_t>& counts,
                  const std::map<Key, std::set<std::string>>& ids, size_t examples,
                  const std::string& what) {
  std::map<Key, int64_t> got;
  for (element g : groups.get_array()) {
    Key k{Str(g["type"]), with_sink ? Str(g["sink"]) : "", Str(g["from"]), Str(g["to"])};
    got[k] = int64_t(g["count"]);
    auto it = ids.find(k);
    if (it == ids.end()) continue;  // Reported below as a count mismatch.
    size_t n = 0;
    for (element e : g["examples"].get_array()) {
      ++n;
      EXPECT_TRUE(it->second.count(Str(e["id"])))
          << what << ": example " << Str(e["id"]) << " is not one of the changed events";
    }
    EXPECT_EQ(n, std::min<size_t>(examples, static_cast<size_t>(got[k]))) << what;
  }
  EXPECT_EQ(got, counts) << what;
}

class PolicyDiffTest : public ::testing::Test {
 protected:
  static std::vector<std::string> ReferenceSinks() {
    return {
        "crm",      "marketing_automation", "support_cases", "analytics_lake", "research_warehouse",
        "safety_db"};
  }

  std::vector<std::string> DiffArgs(const std::string& proposed) {
    const std::string r = ReferenceDir();
    return {"policy",       "diff",
            "--config",     CatalogPath(),
            "--against",    proposed,
            "--events",     r + "/events.ndjson",
            "--consents",   r + "/consents.ndjson",
            "--agreements", r + "/agreements.ndjson",
            "--keys",       r + "/keys.json",
            "--as-of",      "2026-06-30T00:00:00Z",
            "--json"};
  }

  // Writes `yaml` as the proposed catalog, runs the diff and both real runs, and checks that
  // the diff reports exactly what the ledgers show. Returns the diff's JSON text.
  std::string CheckAgainstRuns(const std::string& yaml, const std::vector<std::string>& new_sinks,
                               size_t examples = 3) {
    const std::string proposed = dir_ / "proposed.yaml";
    WriteFile(proposed, yaml);
    auto args = DiffArgs(proposed);
    args.push_back("--examples");
    args.push_back(std::to_string(examples));
    Result diff = RunLoopgate(args);
    EXPECT_EQ(diff.exit_code, 0) << diff.err;
    const Expected x = Compare(RouteReference(CatalogPath(), ReferenceSinks()),
                               RouteReference(proposed, new_sinks));
    simdjson::dom::parser parser;
    element doc;
    EXPECT_EQ(parser.parse(diff.out).get(doc), simdjson::SUCCESS) << diff.out;
    if (::testing::Test::HasFailure()) return diff.out;
    ExpectGroups(doc["decisions"]["groups"], true, x.decision_counts, x.decisions, examples,
                 "decisions");
    ExpectGroups(doc["intake"]["groups"], false, x.intake_counts, x.intake, examples, "intake");
    ExpectGroups(doc["deliveries"]["groups"], true, x.delivery_counts, x.deliveries, examples,
                 "deliveries");
    int64_t changed = 0;
    for (const auto& [k, n] : x.decision_counts) changed += n;
    EXPECT_EQ(int64_t(doc["decisions"]["changed"]), changed);
    EXPECT_EQ(int64_t(doc["decisions"]["compared"]), x.compared);
    EXPECT_EQ(bool(doc["changed"]),
              !x.decision_counts.empty() || !x.intake_counts.empty() || !x.delivery_counts.empty());
    return diff.out;
  }

  // The diff's count for one decision group (0 when absent).
  static int64_t Count(const std::string& json, const std::string& section, const Key& key) {
    simdjson::dom::parser parser;
    element doc = parser.parse(json);
    for (element g : doc[section]["groups"].get_array()) {
      Key k{Str(g["type"]), section == "intake" ? "" : Str(g["sink"]), Str(g["from"]),
            Str(g["to"])};
      if (k == key) return int64_t(g["count"]);
    }
    return 0;
  }

  TempDir dir_;
  std::string reference_ = ReadFile(CatalogPath());
};

TEST_F(PolicyDiffTest, TheReferenceCatalogAgainstItselfChangesNothing) {
  const std::string json = CheckAgainstRuns(reference_, ReferenceSinks());
  simdjson::dom::parser parser;
  element doc = parser.parse(json);
  EXPECT_FALSE(bool(doc["changed"]));
  EXPECT_EQ(int64_t(doc["events_read"]), 30);
  EXPECT_EQ(int64_t(doc["old"]["accepted"]), 18);  // 11 routed + 7 blocked, as run reports.
  EXPECT_EQ(int64_t(doc["old"]["quarantined"]), 10);
  EXPECT_EQ(int64_t(doc["old"]["duplicates"]), 2);
  EXPECT_EQ(int64_t(doc["decisions"]["compared"]), 41);  // 51 ledger entries - 10 quarantines.
  EXPECT_EQ(Str(doc["old"]["policy_version"]), Str(doc["new"]["policy_version"]));

  // Comments and formatting are not policy: a reformatted copy has the same version and diff.
  WriteFile(dir_ / "reformatted.yaml", "# reviewed\n" + reference_ + "\n# end\n");
  auto args = DiffArgs(dir_ / "reformatted.yaml");
  args.push_back("--fail-on-change");
  Result r = RunLoopgate(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(bool(parser.parse(r.out)["changed"]));
}

TEST_F(PolicyDiffTest, ARemovedSink) {
  std::string yaml = reference_;
  const size_t from = yaml.find("  marketing_automation:\n");
  const size_t to = yaml.find("  support_cases:\n");
  ASSERT_LT(from, to);
  yaml.erase(from, to - from);
  const std::string json = CheckAgainstRuns(
      yaml, {"crm", "support_cases", "analytics_lake", "research_warehouse", "safety_db"});
  simdjson::dom::parser parser;
  element doc = parser.parse(json);
  EXPECT_EQ(Str(doc["old"]["sinks_only_here"].at(0)), "marketing_automation");
  EXPECT_EQ(doc["new"]["sinks_only_here"].get_array().size(), 0u);
  // evt-0002 was delivered to marketing_automation; nothing else changes.
  EXPECT_EQ(
      Count(json, "decisions", {"hcp.content.engaged", "marketing_automation", "allow", "no_sink"}),
      1);
  EXPECT_EQ(int64_t(doc["decisions"]["changed"]), 6);  // One per hcp.content.engaged event.
}

TEST_F(PolicyDiffTest, AnAddedDenyRule) {
  const std::string yaml =
      reference_ +
      "\n  - id: no-hcp-analytics\n    event_types: [\"hcp.*\"]\n    sinks: [analytics_lake]\n";
  const std::string json = CheckAgainstRuns(yaml, ReferenceSinks(), 2);
  // Rules come first: what was allowed, and what the producer had excluded, now cite the rule.
  EXPECT_GT(Count(json, "decisions",
                  {"hcp.content.engaged", "analytics_lake", "allow", "deny:rule:no-hcp-analytics"}),
            0);
  EXPECT_EQ(Count(json, "decisions",
                  {"hcp.content.engaged", "analytics_lake", "deny:not_in_allowed_recipients",
                   "deny:rule:no-hcp-analytics"}),
            0);  // evt-0028 names analytics_lake in its allowedrecipients, so it was allowed.
}

TEST_F(PolicyDiffTest, APurposeRemovedFromAnEventType) {
  std::string yaml = Replace(reference_, "purposes: [patient_support, aggregate_analytics]",
                             "purposes: [patient_support]");
  // And the safety type loses its only purpose: its events have no candidate sink at all.
  yaml = Replace(yaml, "    purposes: [safety_monitoring]\n", "");
  const std::string json = CheckAgainstRuns(yaml, ReferenceSinks());
  EXPECT_GT(Count(json, "decisions",
                  {"patient.support.milestone", "analytics_lake", "allow", "not_candidate"}),
            0);
  EXPECT_EQ(Count(json, "decisions",
                  {"safety.adverse_event.reported", "safety_db", "allow", "not_candidate"}),
            1);  // evt-0017.
}

TEST_F(PolicyDiffTest, AConsentRequirementAdded) {
  const std::string yaml = Replace(reference_, "consent_required_for: [hcp]\n",
                                   "consent_required_for: [hcp, account]\n");
  const std::string json = CheckAgainstRuns(yaml, ReferenceSinks());
  // Line 1: an account event, allowed to crm without consent; no account has consented.
  EXPECT_EQ(
      Count(json, "decisions", {"account.education.completed", "crm", "allow", "deny:no_consent"}),
      1);
}

TEST_F(PolicyDiffTest, FieldsChangedMoveEventsInAndOutOfQuarantine) {
  std::string yaml =
      Replace(reference_, "      duration_s: {type: integer, class: operational}\n", "");
  yaml = Replace(yaml, "      therapy: {type: string, class: health_info}\n",
                 "      therapy: {type: string, class: health_info}\n"
                 "      diagnosis: {type: string, class: health_info}\n");
  const std::string json = CheckAgainstRuns(yaml, ReferenceSinks());
  EXPECT_GT(
      Count(json, "intake", {"hcp.content.engaged", "", "accepted", "quarantine:unknown_field"}),
      0);
  EXPECT_EQ(Count(json, "intake",
                  {"patient.support.milestone", "", "quarantine:unknown_field", "accepted"}),
            1);  // evt-0022 carries a diagnosis.
}

TEST_F(PolicyDiffTest, ChangedActionsAreDeliveryChanges) {
  const std::string yaml =
      Replace(reference_, "      patient_date: generalize\n", "      patient_date: drop\n");
  const std::string json = CheckAgainstRuns(yaml, ReferenceSinks());
  simdjson::dom::parser parser;
  element doc = parser.parse(json);
  EXPECT_EQ(int64_t(doc["decisions"]["changed"]), 0);
  EXPECT_GT(int64_t(doc["deliveries"]["changed"]), 0);
}

TEST_F(PolicyDiffTest, AStatesRegistriesGiveTheSameReportAndTheStateIsUntouched) {
  // A state the reference has been routed into: its registries, read only.
  TempDir run;
  Result routed = RunLoopgate(ReferenceRunArgs(run / "state", run / "out"));
  ASSERT_EQ(routed.exit_code, 0) << routed.err;
  auto snapshot = [&] {
    std::map<std::string, std::tuple<std::string, int64_t>> files;
    for (const auto& e : fs::recursive_directory_iterator(run.path())) {
      if (!e.is_regular_file()) continue;
      struct stat st;
      ::stat(e.path().c_str(), &st);
      files[e.path().string()] = {
          crypto::ToHex(crypto::Sha256(ReadFile(e.path()))),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
    }
    return files;
  };
  const auto before = snapshot();

  const std::string proposed = dir_ / "proposed.yaml";
  WriteFile(proposed, Replace(reference_, "consent_required_for: [hcp]\n",
                              "consent_required_for: [hcp, account]\n"));
  const std::string r = ReferenceDir();
  // Run from an empty working directory with an empty TMPDIR: neither may gain a file.
  TempDir cwd, tmp;
  const std::string command =
      "cd '" + cwd.path() + "' && TMPDIR='" + tmp.path() + "' exec '" + Binary() +
      "' policy diff --json --config '" + CatalogPath() + "' --against '" + proposed +
      "' --events '" + r + "/events.ndjson' --keys '" + r + "/keys.json' --state '" +
      (run / "state") + "' --as-of 2026-06-30T00:00:00Z > '" + (dir_ / "from-state.json") + "'";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  EXPECT_TRUE(fs::is_empty(cwd.path()));
  EXPECT_TRUE(fs::is_empty(tmp.path()));
  EXPECT_EQ(snapshot(), before) << "the state or the outputs changed";

  // The same report as with the registry files (the run imported exactly those).
  Result from_files = RunLoopgate(DiffArgs(proposed));
  ASSERT_EQ(from_files.exit_code, 0) << from_files.err;
  EXPECT_EQ(ReadFile(dir_ / "from-state.json"), from_files.out);
  // The state's seen ids are not used: its events are decided again, not skipped.
  simdjson::dom::parser parser;
  EXPECT_EQ(int64_t(parser.parse(from_files.out)["old"]["duplicates"]), 2);
}

TEST_F(PolicyDiffTest, FilesOverAStateAreImportedInMemoryOnly) {
  TempDir run;
  Result routed = RunLoopgate(ReferenceRunArgs(run / "state", run / "out"));
  ASSERT_EQ(routed.exit_code, 0) << routed.err;
  const std::string before = ReadFile(run / "state/state.db");
  // A revocation of hcp-001's engagement consent, given as a file on top of the state.
  WriteFile(dir_ / "revoke.ndjson",
            "{\"consent_id\": \"c-h1\", \"subject_type\": \"hcp\", \"subject_id\": \"hcp-001\", "
            "\"purpose\": \"hcp_commercial_engagement\", \"status\": \"revoked\", "
            "\"effective_from\": \"2026-02-01T00:00:00Z\", \"recorded_at\": "
            "\"2026-02-01T00:00:00Z\"}\n");
  const std::string r = ReferenceDir();
  Result diff = RunLoopgate({"policy", "diff", "--config", CatalogPath(), "--against",
                             CatalogPath(), "--events", r + "/events.ndjson", "--keys",
                             r + "/keys.json", "--state", run / "state", "--consents",
                             dir_ / "revoke.ndjson", "--as-of", "2026-06-30T00:00:00Z", "--json"});
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  EXPECT_EQ(ReadFile(run / "state/state.db"), before);
  // Both sides see the revocation: the same catalog still changes nothing.
  simdjson::dom::parser parser;
  EXPECT_FALSE(bool(parser.parse(diff.out)["changed"]));
  // And it was used: against a catalog where crm needs no consent, evt-0002's crm decision
  // changes from consent_revoked (not from allow, as with the state's registries alone).
  const std::string proposed = dir_ / "no-consent.yaml";
  WriteFile(proposed, Replace(reference_, "    consent_required_for: [hcp]\n", ""));
  Result changed = RunLoopgate({"policy", "diff", "--config", CatalogPath(), "--against", proposed,
                                "--events", r + "/events.ndjson", "--keys", r + "/keys.json",
                                "--state", run / "state", "--consents", dir_ / "revoke.ndjson",
                                "--as-of", "2026-06-30T00:00:00Z", "--json"});
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  EXPECT_GE(Count(changed.out, "decisions",
                  {"hcp.content.engaged", "crm", "deny:consent_revoked", "allow"}),
            1);
}

TEST_F(PolicyDiffTest, FailOnChangeExitsOneAndTextShowsBothVersions) {
  const std::string proposed = dir_ / "proposed.yaml";
  WriteFile(proposed, Replace(reference_, "consent_required_for: [hcp]\n",
                              "consent_required_for: [hcp, account]\n"));
  auto args = DiffArgs(proposed);
  args.pop_back();  // --json
  args.push_back("--fail-on-change");
  Result r = RunLoopgate(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // Both catalogs, each with its policy version, on its own line.
  for (const std::string& row : {"  old  " + CatalogPath(), "  new  " + proposed}) {
    const size_t at = r.out.find(row);
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find("  sha256:"), std::string::npos) << line;
  }
  EXPECT_NE(r.out.find("account.education.completed  crm"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("deny:no_consent"), std::string::npos) << r.out;
}

TEST_F(PolicyDiffTest, ConfigurationErrorsExitTwo) {
  WriteFile(dir_ / "bad.yaml", Replace(reference_, "max_level: non_phi", "max_levle: non_phi"));
  Result bad = RunLoopgate(DiffArgs(dir_ / "bad.yaml"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find(dir_ / "bad.yaml:"), std::string::npos) << bad.err;

  auto no_keys = DiffArgs(CatalogPath());
  no_keys.erase(no_keys.begin() + 12, no_keys.begin() + 14);  // --keys FILE
  Result keys = RunLoopgate(no_keys);
  EXPECT_EQ(keys.exit_code, 2);
  EXPECT_NE(keys.err.find("token domain"), std::string::npos) << keys.err;

  auto missing_state = DiffArgs(CatalogPath());
  missing_state.push_back("--state");
  missing_state.push_back(dir_ / "no-state");
  Result state = RunLoopgate(missing_state);
  EXPECT_EQ(state.exit_code, 1);
  EXPECT_NE(state.err.find("no Loopgate state in"), std::string::npos) << state.err;
  EXPECT_FALSE(fs::exists(dir_ / "no-state"));
}

}  // namespace
}  // namespace loopgate::testing
