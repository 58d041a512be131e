// loopgate consent|agreement import: load registry records (NDJSON) into the state.
// loopgate consent show: a subject's consent history and its state per purpose as of a time.

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/command.h"
#include "common/strings.h"
#include "common/text.h"
#include "consent/consent.h"
#include "json/json.h"
#include "policy/policy.h"
#include "store/store.h"

namespace loopgate::cli {

void PrintImportReport(consent::RegistryKind kind, const std::string& path,
                       const consent::ImportReport& r) {
  std::fprintf(stderr,
               "%s registry: %lld records read from %s, %lld new, %lld already known, "
               "%lld rejected\n",
               std::string(consent::RegistryName(kind)).c_str(), static_cast<long long>(r.records),
               path.c_str(), static_cast<long long>(r.added), static_cast<long long>(r.unchanged),
               static_cast<long long>(r.rejected));
  for (const auto& e : r.errors) {
    std::fprintf(stderr, "  %s:%s\n", path.c_str(), e.substr(5).c_str());
  }
}

int ImportRegistries(store::Database& db, const std::string& consents,
                     const std::string& agreements, bool strict, const char* what,
                     bool persistent) {
  int64_t rejected = 0;
  for (auto [kind, path] : {std::pair{consent::RegistryKind::kConsents, &consents},
                            std::pair{consent::RegistryKind::kAgreements, &agreements}}) {
    if (path->empty()) continue;
    auto report = consent::Import(db, kind, *path);
    if (!report.ok()) return Fail(report.status());
    PrintImportReport(kind, *path, *report);
    rejected += report->rejected;
  }
  if (rejected > 0 && strict) {
    std::fprintf(stderr,
                 "loopgate: %lld registry records were rejected (listed above); %s "
                 "did not start (--strict-registries).%s\n",
                 static_cast<long long>(rejected), what,
                 persistent ? " The good records were imported." : "");
    return kFailure;
  }
  if (rejected > 0) {
    std::fprintf(stderr,
                 "warning: %lld registry records were rejected (listed above) and are not "
                 "in force: a rejected revocation leaves the consent it revokes in force. "
                 "Use --strict-registries to stop instead.\n",
                 static_cast<long long>(rejected));
  }
  return kOk;
}

namespace {

int ImportCommand(consent::RegistryKind kind, const std::string& state, const std::string& file) {
  std::error_code ec;
  std::filesystem::create_directories(state, ec);
  auto lock = store::DirLock::Acquire(state);
  if (!lock.ok()) return Fail(lock.status());
  auto db = store::Database::Open(state);
  if (!db.ok()) return Fail(db.status());
  auto report = consent::Import(**db, kind, file);
  if (!report.ok()) return Fail(report.status());
  PrintImportReport(kind, file, *report);
  return report->rejected > 0 ? kFailure : kOk;
}

struct ShowArgs {
  std::string state, subject_type, subject_id, as_of;
  bool json = false;
};

// One purpose's state, with the versions it rests on.
struct PurposeView {
  std::string purpose;
  policy::PurposeConsent consent;
  std::vector<const consent::ConsentVersion*> current;  // ConsentView's records, as stored.
  std::vector<std::string> ended;    // Consents whose current version names something else.
  std::vector<std::string> pending;  // Consents with no version known as of as_of.
};

void AppendNullable(const std::optional<std::string>& s, std::string* out) {
  if (s) {
    json::AppendString(*s, out);
  } else {
    out->append("null");
  }
}

// A version's members as JSON (without the braces).
void AppendVersionMembers(const consent::ConsentVersion& v, std::string* o) {
  const consent::ConsentRecord& r = v.record;
  o->append("\"consent_id\":");
  json::AppendString(r.consent_id, o);
  o->append(",\"recorded_at\":");
  json::AppendString(r.recorded_at_text, o);
  o->append(",\"subject_type\":");
  json::AppendString(v.subject_type, o);
  o->append(",\"subject_id\":");
  json::AppendString(v.subject_id, o);
  o->append(",\"purpose\":");
  json::AppendString(v.purpose, o);
  o->append(r.status == consent::ConsentStatus::kGranted ? ",\"status\":\"granted\""
                                                         : ",\"status\":\"revoked\"");
  o->append(",\"effective_from\":");
  json::AppendString(v.effective_from_text, o);
  o->append(",\"expires_at\":");
  AppendNullable(v.expires_at_text, o);
  o->append(",\"channel\":");
  AppendNullable(r.channel, o);
  o->append(",\"jurisdiction\":");
  AppendNullable(r.jurisdiction, o);
}

// "c-1 (email, US-MA)": a consent id with the limits a sink may check.
std::string Described(const consent::ConsentRecord& r) {
  std::vector<std::string> limits;
  if (r.channel) limits.push_back("channel " + *r.channel);
  if (r.jurisdiction) limits.push_back(*r.jurisdiction);
  if (limits.empty()) return r.consent_id;
  return common::StrCat(r.consent_id, " (", common::StrJoin(limits, ", "), ")");
}

// Why a purpose is in its state, for the text table.
std::string Detail(const PurposeView& p) {
  std::vector<std::string> parts;
  switch (p.consent.state) {
    case policy::ConsentState::kGranted:
      for (const auto* r : p.consent.in_force) parts.push_back(Described(*r));
      return "in force: " + common::StrJoin(parts, ", ");
    case policy::ConsentState::kRevoked:
      for (const auto* v : p.current) {
        parts.push_back(common::StrCat(v->record.consent_id, " revoked (recorded ",
                                       v->record.recorded_at_text, ")"));
      }
      return common::StrJoin(parts, ", ");
    case policy::ConsentState::kExpired:
      for (const auto* v : p.current) {
        if (v->expires_at_text) {
          parts.push_back(common::StrCat(v->record.consent_id, " expired ", *v->expires_at_text));
        }
      }
      return common::StrJoin(parts, ", ");
    case policy::ConsentState::kNotYetEffective:
      for (const auto* v : p.current) {
        if (v->record.status == consent::ConsentStatus::kGranted) {
          parts.push_back(
              common::StrCat(v->record.consent_id, " effective from ", v->effective_from_text));
        }
      }
      return common::StrJoin(parts, ", ");
    case policy::ConsentState::kNone:
      if (!p.ended.empty()) {
        parts.push_back("ended by a later version: " + common::StrJoin(p.ended, ", "));
      }
      if (!p.pending.empty()) {
        parts.push_back("recorded after as-of: " + common::StrJoin(p.pending, ", "));
      }
      return common::StrJoin(parts, "; ");
  }
  return "";
}

int ShowCommand(const ShowArgs& a) {
  common::Instant as_of;
  std::string as_of_text;
  if (auto s = ResolveAsOf(a.as_of, &as_of, &as_of_text); !s.ok()) return FailConfig(s);
  auto db = store::Database::OpenReadOnly(a.state);
  if (!db.ok()) return Fail(db.status());
  // One read transaction: the history and the current versions come from the same snapshot,
  // even while a run imports records.
  if (auto s = (*db)->Exec("BEGIN"); !s.ok()) return Fail(s);
  auto versions = consent::VersionsForSubject(**db, a.subject_type, a.subject_id);
  if (!versions.ok()) return Fail(versions.status());
  if (versions->empty()) {
    std::fprintf(stderr, "loopgate: no consent records for %s %s in %s\n", a.subject_type.c_str(),
                 a.subject_id.c_str(), a.state.c_str());
    return kFailure;
  }

  // Per consent id: its current version as of as_of, the last known one in the history's order.
  std::map<std::string, const consent::ConsentVersion*> current_of;
  std::map<std::pair<std::string, int64_t>, const consent::ConsentVersion*> by_seq;
  std::set<std::string> purposes;
  for (const auto& v : *versions) {
    by_seq[{v.record.consent_id, v.record.seq}] = &v;
    if (v.subject_type == a.subject_type && v.subject_id == a.subject_id)
      purposes.insert(v.purpose);
    if (v.record.recorded_at <= as_of) current_of[v.record.consent_id] = &v;
  }

  // The states come from the engine's own code: ConsentView's current versions, judged by
  // policy::ConsentStateAt, as an event at as_of would meet them.
  consent::ConsentView view(**db, as_of);
  std::vector<PurposeView> states;
  for (const std::string& purpose : purposes) {
    auto current = view.Current(a.subject_type, a.subject_id, purpose);
    if (!current.ok()) return Fail(current.status());
    PurposeView p;
    p.purpose = purpose;
    p.consent = policy::ConsentStateAt(**current, as_of);
    for (const auto& r : **current) p.current.push_back(by_seq.at({r.consent_id, r.seq}));
    std::set<std::string> ids;
    for (const auto& v : *versions) {
      if (v.subject_type == a.subject_type && v.subject_id == a.subject_id &&
          v.purpose == purpose) {
        ids.insert(v.record.consent_id);
      }
    }
    for (const std::string& id : ids) {
      auto it = current_of.find(id);
      if (it == current_of.end()) {
        p.pending.push_back(id);
      } else if (it->second->subject_type != a.subject_type ||
                 it->second->subject_id != a.subject_id || it->second->purpose != purpose) {
        p.ended.push_back(id);
      }
    }
    states.push_back(std::move(p));
  }
  (void)(*db)->Exec("COMMIT");

  if (a.json) {
    std::string o = "{\"format\":\"loopgate.consent-show/v1\",\"subject_type\":";
    json::AppendString(a.subject_type, &o);
    o.append(",\"subject_id\":");
    json::AppendString(a.subject_id, &o);
    o.append(",\"as_of\":");
    json::AppendString(as_of_text, &o);
    o.append(",\"purposes\":[");
    for (size_t i = 0; i < states.size(); ++i) {
      const PurposeView& p = states[i];
      if (i > 0) o.push_back(',');
      o.append("{\"purpose\":");
      json::AppendString(p.purpose, &o);
      o.append(",\"state\":");
      json::AppendString(policy::ConsentStateName(p.consent.state), &o);
      o.append(",\"in_force\":[");
      for (size_t k = 0; k < p.consent.in_force.size(); ++k) {
        if (k > 0) o.push_back(',');
        json::AppendString(p.consent.in_force[k]->consent_id, &o);
      }
      o.append("],\"current\":[");
      for (size_t k = 0; k < p.current.size(); ++k) {
        if (k > 0) o.push_back(',');
        o.push_back('{');
        AppendVersionMembers(*p.current[k], &o);
        o.push_back('}');
      }
      o.append("]}");
    }
    o.append("],\"versions\":[");
    for (size_t i = 0; i < versions->size(); ++i) {
      const consent::ConsentVersion& v = (*versions)[i];
      if (i > 0) o.push_back(',');
      o.push_back('{');
      AppendVersionMembers(v, &o);
      const auto it = current_of.find(v.record.consent_id);
      common::StrAppend(&o, ",\"known\":", v.record.recorded_at <= as_of,
                        ",\"current\":", it != current_of.end() && it->second == &v,
                        ",\"record\":", v.canonical, "}");
    }
    o.append("]}\n");
    std::fputs(o.c_str(), stdout);
    return kOk;
  }

  std::string o = common::StrCat("consent of ", a.subject_type, " ", a.subject_id, " as of ",
                                 as_of_text, "\n\n");
  std::vector<std::vector<std::string>> rows = {{"purpose", "state", "detail"}};
  for (const PurposeView& p : states) {
    rows.push_back({p.purpose, std::string(policy::ConsentStateName(p.consent.state)), Detail(p)});
  }
  o.append(common::FormatTable(rows));
  common::StrAppend(&o, "\nversions, oldest first (* current as of ", as_of_text,
                    "; later versions are not yet known then)\n");
  rows = {{"", "consent", "recorded_at", "status", "purpose", "effective_from", "expires_at",
           "channel", "jurisdiction", "note"}};
  for (const auto& v : *versions) {
    const consent::ConsentRecord& r = v.record;
    const auto it = current_of.find(r.consent_id);
    std::vector<std::string> notes;
    if (r.recorded_at > as_of) notes.push_back("not yet known");
    if (v.subject_type != a.subject_type || v.subject_id != a.subject_id) {
      notes.push_back(common::StrCat("names ", v.subject_type, " ", v.subject_id));
    }
    rows.push_back({it != current_of.end() && it->second == &v ? "*" : "", r.consent_id,
                    r.recorded_at_text,
                    r.status == consent::ConsentStatus::kGranted ? "granted" : "revoked", v.purpose,
                    v.effective_from_text, v.expires_at_text.value_or("-"), r.channel.value_or("-"),
                    r.jurisdiction.value_or("-"), common::StrJoin(notes, "; ")});
  }
  o.append(common::FormatTable(rows));
  std::fputs(o.c_str(), stdout);
  return kOk;
}

}  // namespace

void AddRegistryCommands(Commands& commands) {
  struct Args {
    std::string state, file;
  };
  auto a = std::make_shared<Args>();
  CLI::App& app = commands.app();
  auto* consent_cmd = app.add_subcommand("consent", "Manage and inspect the consent registry");
  consent_cmd->require_subcommand(1);
  auto* consent_import = consent_cmd->add_subcommand("import", "Import consent records (NDJSON)");
  consent_import->add_option("--state", a->state, "State directory")->required();
  consent_import->add_option("file", a->file, "NDJSON file, or - for stdin")->required();
  commands.On(consent_import,
              [a] { return ImportCommand(consent::RegistryKind::kConsents, a->state, a->file); });

  auto show = std::make_shared<ShowArgs>();
  auto* consent_show = consent_cmd->add_subcommand(
      "show",
      "Show every version of every consent for a subject, and its state per purpose as "
      "of a time (read-only; docs/consent-show.md)");
  consent_show->add_option("--state", show->state, "State directory (must exist)")->required();
  consent_show->add_option("--as-of", show->as_of, "RFC 3339 time to view it as of (default: now)");
  consent_show->add_flag("--json", show->json, "Print one JSON object");
  consent_show->add_option("subject_type", show->subject_type, "Subject type, e.g. patient")
      ->required();
  consent_show->add_option("subject_id", show->subject_id, "Subject id")->required();
  commands.On(consent_show, [show] { return ShowCommand(*show); });

  auto* agreement_cmd = app.add_subcommand("agreement", "Manage the agreement registry");
  agreement_cmd->require_subcommand(1);
  auto* agreement_import =
      agreement_cmd->add_subcommand("import", "Import agreement records (NDJSON)");
  agreement_import->add_option("--state", a->state, "State directory")->required();
  agreement_import->add_option("file", a->file, "NDJSON file, or - for stdin")->required();
  commands.On(agreement_import,
              [a] { return ImportCommand(consent::RegistryKind::kAgreements, a->state, a->file); });
}

}  // namespace loopgate::cli
