// loopgate explain: an event's lineage from the ledger, or what a measurement release recorded.

#include <cstdio>
#include <string>

#include "cli/command.h"
#include "common/strings.h"
#include "ledger/ledger.h"
#include "seen/seen.h"
#include "simdjson.h"
#include "store/store.h"

namespace loopgate::cli {
namespace {

int ExplainCommand(const std::string& state, const std::string& event_id, bool json) {
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  auto entries = ledger::EntriesForEvent(**db, event_id);
  if (!entries.ok()) return Fail(entries.status());
  if (entries->empty()) {
    // Accepted but with no ledger entry: its type permits no purpose any sink serves, so no
    // sink was a candidate and nothing was decided (routing.md section 2).
    auto seen = seen::Reader::Open(**db);
    // A run may have replaced an index run since the seen keys were read: read them again.
    for (int attempt = 0; absl::IsUnavailable(seen.status()) && attempt < 9; ++attempt) {
      seen = seen::Reader::Open(**db);
    }
    if (!seen.ok()) return Fail(seen.status());
    seen::Record record;
    auto accepted = (*seen)->Find(event_id, &record);
    if (!accepted.ok()) return Fail(accepted.status());
    if (*accepted && record.first_seq == 0) {
      std::printf("event %s\n  accepted and blocked: no sink serves a purpose its event type "
                  "permits, so no sink was a candidate and nothing was delivered\n",
                  event_id.c_str());
      return kOk;
    }
    std::fprintf(stderr, "loopgate: no ledger entries for event id '%s' in %s\n",
                 event_id.c_str(), state.c_str());
    return kFailure;
  }
  if (json) {
    for (const auto& e : *entries) std::printf("%s\n", e.c_str());
    return kOk;
  }
  simdjson::dom::parser parser;
  bool header = false;
  for (const auto& text : *entries) {
    simdjson::dom::element e;
    if (parser.parse(text).get(e) != simdjson::SUCCESS) continue;
    auto str = [&](const char* key) -> std::string {
      std::string_view s;
      return e[key].get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string("-");
    };
    auto list = [&](const char* key) {
      std::string out;
      simdjson::dom::array arr;
      if (e[key].get_array().get(arr) != simdjson::SUCCESS) return out;
      for (auto item : arr) {
        std::string_view s;
        if (item.get_string().get(s) != simdjson::SUCCESS) continue;
        if (!out.empty()) out += ", ";
        out += s;
      }
      return out;
    };
    auto num = [&](const char* key) {
      int64_t v = 0;
      return e[key].get_int64().get(v) == simdjson::SUCCESS ? v : int64_t{0};
    };
    const int64_t line = num("line"), seq = num("seq"), run = num("run");
    if (str("decision") == "release") {
      // A measurement release (docs/ledger-format.md section 10): counts and digests only.
      simdjson::dom::element r;
      if (e["release"].get(r) != simdjson::SUCCESS) continue;
      auto rstr = [&](const char* key) -> std::string {
        std::string_view s;
        return r[key].get_string().get(s) == simdjson::SUCCESS ? std::string(s)
                                                                 : std::string("-");
      };
      auto rnum = [&](const char* key) -> std::string {
        int64_t v = 0;
        return r[key].get_int64().get(v) == simdjson::SUCCESS ? std::to_string(v)
                                                                : std::string("-");
      };
      std::string versions;
      simdjson::dom::array arr;
      if (r["policy_versions"].get_array().get(arr) == simdjson::SUCCESS) {
        for (auto item : arr) {
          std::string_view s;
          if (item.get_string().get(s) != simdjson::SUCCESS) continue;
          if (!versions.empty()) versions += ", ";
          versions += s;
        }
      }
      const std::string k = rnum("k") == "-" ? std::string("no minimum cell size")
                                             : common::StrCat("k ", rnum("k"));
      int64_t nano = 0;
      const bool dp = r["epsilon_nano"].get_int64().get(nano) == simdjson::SUCCESS;
      std::printf("release %s of study %s\n  released %s by %s, %s%s%s\n  study file %s\n  "
                  "result %s\n  cells released %s, suppressed %s primary + %s complementary "
                  "(%s)\n  read %s rows of sink %s, routed under policy [%s]  [ledger "
                  "#%lld]\n",
                  event_id.c_str(), rstr("study").c_str(), str("time").c_str(),
                  rstr("actor").c_str(), rstr("mode").c_str(), dp ? ", epsilon " : "",
                  dp ? ledger::FormatEpsilon(nano).c_str() : "", rstr("study_sha256").c_str(),
                  str("delivered").c_str(), rnum("cells_released").c_str(),
                  rnum("cells_suppressed_primary").c_str(),
                  rnum("cells_suppressed_complementary").c_str(),
                  k.c_str(),
                  rnum("rows_read").c_str(), str("sink").c_str(), versions.c_str(),
                  static_cast<long long>(seq));
      continue;
    }
    if (!header || str("decision") == "quarantine") {
      std::printf("event %s\n  type %s, source %s, time %s\n  input line %lld of run %lld, "
                  "policy %s\n",
                  event_id.c_str(), str("type").c_str(), str("source").c_str(),
                  str("time").c_str(), static_cast<long long>(line), static_cast<long long>(run),
                  str("policy_version").c_str());
      header = true;
    }
    const std::string decision = str("decision");
    if (decision == "quarantine") {
      std::printf("  QUARANTINED (%s): %s  [ledger #%lld]\n", str("reason").c_str(),
                  str("detail").c_str(), static_cast<long long>(seq));
      continue;
    }
    std::printf("  %-22s %-5s", str("sink").c_str(), decision.c_str());
    if (decision == "deny") {
      std::printf(" reason %s", str("reason").c_str());
    } else {
      const std::string ids = list("consent_ids"), versions = list("consent_versions");
      std::printf(" consents [%s]", ids.empty() ? "none required" : ids.c_str());
      if (!versions.empty()) std::printf(" recorded [%s]", versions.c_str());
      const std::string transforms = list("transforms");
      std::printf(" transforms [%s] delivered %s", transforms.empty() ? "none" : transforms.c_str(),
                  str("delivered").c_str());
    }
    std::printf("  [ledger #%lld]\n", static_cast<long long>(seq));
  }
  return kOk;
}

}  // namespace

void AddExplainCommand(Commands& commands) {
  struct Args {
    std::string state, event_id;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* explain = commands.app().add_subcommand(
      "explain", "Show an event's lineage: every decision, reason, consent cited, transform and "
                 "policy version; or, for a release id, what the measurement release recorded");
  explain->add_option("--state", a->state, "State directory")->required();
  explain->add_option("event_id", a->event_id, "The event's id, or a release id")->required();
  explain->add_flag("--json", a->json, "Print the ledger entries as JSON lines");
  commands.On(explain, [a] { return ExplainCommand(a->state, a->event_id, a->json); });
}

}  // namespace loopgate::cli
