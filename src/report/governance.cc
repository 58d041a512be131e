#include "report/governance.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "common/status.h"
#include "common/strings.h"
#include "json/json.h"
#include "ledger/ledger.h"
#include "policy/policy.h"
#include "seen/seen.h"

namespace loopgate::report {
namespace {

constexpr size_t kNoFile = std::numeric_limits<size_t>::max();
constexpr size_t kSubjectDigestBytes = 16;  // seen.subject: the digest, then the bitmap.

// `dir` as an absolute, normalized path without a trailing separator (as runs record --out).
std::string AbsoluteDir(const std::string& dir) {
  std::string path = std::filesystem::absolute(dir).lexically_normal().string();
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool IsConsentReason(std::string_view reason) {
  using policy::DenyReason;
  for (DenyReason r : {DenyReason::kNoConsent, DenyReason::kConsentRevoked,
                       DenyReason::kConsentExpired, DenyReason::kConsentChannel,
                       DenyReason::kJurisdiction}) {
    if (reason == policy::DenyReasonName(r)) return true;
  }
  return false;
}

// One sink of one run: its purpose's coverage row and its file in the reconciler.
struct RunSink {
  PurposeCoverage* coverage = nullptr;  // Null when the purpose is not recorded.
  int purpose = -1;                     // Its index for the SubjectCounter.
  size_t file = kNoFile;                // kNoFile: unmapped.
};

// Reads small result sets (counts) of one statement.
absl::Status ForEachRow(store::Database& db, std::string_view sql,
                        const std::function<void(store::Statement&)>& fn) {
  ASSIGN_OR_RETURN(auto q, db.Prepare(sql));
  while (true) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return absl::OkStatus();
    fn(q);
  }
}

std::string Percent(int64_t n, int64_t of) {
  if (of == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100.0 * static_cast<double>(n) /
                                                static_cast<double>(of));
  return buf;
}

// A share for JSON: four decimals, 0 when there is no denominator.
std::string Ratio(int64_t n, int64_t of) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f",
                of == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(of));
  return buf;
}

// A plain-text table: columns padded to their widest cell; numbers right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render(std::string_view indent) const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()));
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line(indent);
      for (size_t c = 0; c < row.size(); ++c) {
        const bool numeric = !row[c].empty() && (std::isdigit(static_cast<unsigned char>(
                                                     row[c][0])) || row[c] == "-");
        const std::string pad(width[c] - row[c].size(), ' ');
        if (c > 0) line.append("  ");
        if (numeric && &row != &rows_.front()) {
          common::StrAppend(&line, pad, row[c]);
        } else {
          common::StrAppend(&line, row[c], c + 1 < row.size() ? pad : "");
        }
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      common::StrAppend(&out, line, "\n");
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string N(int64_t n) { return std::to_string(n); }

void AppendNullableInt(int64_t v, std::string* out) {
  if (v == 0) {
    out->append("null");
  } else {
    common::StrAppend(out, v);
  }
}

// Distinct (purpose, subject) pairs with the best state each reached (0 not checked, 1 checked
// without a valid consent, 2 valid), counted in a scratch database on disk so that memory does
// not grow with the population. Pairs already written are remembered in two bounded
// generations (as the router's consent cache), so a subject met again costs no write.
class SubjectCounter {
 public:
  absl::Status Add(int purpose, std::string_view subject, int state) {
    key_.assign(reinterpret_cast<const char*>(&purpose), sizeof(purpose));
    key_.append(subject);
    auto it = current_.find(key_);
    if (it == current_.end()) {
      int known = -1;
      if (auto old = retired_.find(key_); old != retired_.end()) {
        known = old->second;
        retired_.erase(old);
      }
      if (current_.size() >= kGeneration) {
        retired_ = std::move(current_);
        current_.clear();
      }
      it = current_.emplace(key_, known).first;
    }
    if (it->second >= state) return absl::OkStatus();
    it->second = state;
    if (!scratch_) {
      ASSIGN_OR_RETURN(scratch_, store::Database::OpenScratch());
      RETURN_IF_ERROR(scratch_->Exec(
          "CREATE TABLE subjects (purpose INTEGER, subject BLOB, state INTEGER, "
          "PRIMARY KEY (purpose, subject)) WITHOUT ROWID; BEGIN"));
      ASSIGN_OR_RETURN(upsert_, scratch_->Prepare(
                                    "INSERT INTO subjects VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                                    "SET state = excluded.state WHERE excluded.state > state"));
    }
    upsert_.Bind(1, int64_t{purpose}).BindBlob(2, subject.data(), subject.size())
        .Bind(3, int64_t{state});
    return upsert_.Run();
  }

  // Calls fn(purpose, subjects, with, without, not_checked) per purpose that has subjects.
  absl::Status Finish(const std::function<void(int, int64_t, int64_t, int64_t, int64_t)>& fn) {
    if (!scratch_) return absl::OkStatus();
    RETURN_IF_ERROR(scratch_->Exec("COMMIT"));
    // Grouped in primary-key order: no sort.
    return ForEachRow(*scratch_,
                      "SELECT purpose, count(*), sum(state = 2), sum(state = 1), sum(state = 0) "
                      "FROM subjects GROUP BY purpose",
                      [&](store::Statement& q) {
                        fn(static_cast<int>(q.Int(0)), q.Int(1), q.Int(2), q.Int(3), q.Int(4));
                      });
  }

 private:
  static constexpr size_t kGeneration = 1 << 16;
  std::unique_ptr<store::Database> scratch_;
  store::Statement upsert_;
  absl::flat_hash_map<std::string, int> current_, retired_;
  std::string key_;
};

}  // namespace

double PurposeCoverage::coverage() const {
  return subjects_seen == 0 ? 0.0
                            : static_cast<double>(subjects_with_consent) /
                                  static_cast<double>(subjects_seen);
}

absl::StatusOr<GovernanceReport> Governance(store::Database& db,
                                            const GovernanceOptions& options) {
  GovernanceReport r;
  r.state_dir = db.dir();
  ASSIGN_OR_RETURN(const ledger::VerifyReport verify, ledger::Verify(db));
  r.ledger_verifies = !verify.first_bad_seq.has_value();
  r.ledger_problem = verify.problem;

  RETURN_IF_ERROR(ForEachRow(db, "SELECT count(*), count(*) - count(finished_at) FROM runs",
                             [&](store::Statement& q) {
                               r.runs = q.Int(0);
                               r.runs_unfinished = q.Int(1);
                             }));

  // Where each run's sinks wrote, and for what purpose (state table run_sinks).
  std::map<std::string, int64_t> committed;
  RETURN_IF_ERROR(ForEachRow(db, "SELECT path, committed FROM outputs", [&](store::Statement& q) {
    committed[std::string(q.Text(0))] = q.Int(1);
  }));
  const std::string out_override = options.out_dir.empty() ? "" : AbsoluteDir(options.out_dir);
  auto resolve = [&](std::string_view recorded_out, std::string_view output) {
    const std::string prefix = common::StrCat(recorded_out, "/");
    if (!out_override.empty() && output.substr(0, prefix.size()) == prefix) {
      return common::StrCat(out_override, "/", output.substr(prefix.size()));
    }
    return std::string(output);
  };
  Reconciler reconciler(options.max_gaps);
  auto add_file = [&](const std::string& path, std::string_view sink) {
    auto c = committed.find(path);
    return reconciler.AddFile(path, sink,
                              c == committed.end() ? std::nullopt : std::optional(c->second));
  };
  std::map<std::string, PurposeCoverage, std::less<>> coverage;
  std::vector<PurposeCoverage*> purposes;  // By SubjectCounter index.
  std::map<int64_t, std::map<std::string, RunSink, std::less<>>> run_sinks;
  std::set<int64_t> recorded_runs;
  RETURN_IF_ERROR(ForEachRow(
      db, "SELECT run_id, sink, purpose, out_dir, output FROM run_sinks ORDER BY run_id, sink",
      [&](store::Statement& q) {
        const std::string purpose(q.Text(2));
        PurposeCoverage& c = coverage[purpose];
        if (c.purpose.empty()) {
          c.purpose = purpose;
          purposes.push_back(&c);
        }
        const int index = static_cast<int>(
            std::find(purposes.begin(), purposes.end(), &c) - purposes.begin());
        recorded_runs.insert(q.Int(0));
        run_sinks[q.Int(0)][std::string(q.Text(1))] =
            RunSink{&c, index, add_file(resolve(q.Text(3), q.Text(4)), q.Text(1))};
      }));
  // A run with no recorded sinks predates run_sinks: with --out, its files are the default
  // <out>/<sink>.ndjson; without, its allows cannot be reconciled.
  auto lookup = [&](int64_t run, std::string_view sink) -> const RunSink& {
    auto& sinks = run_sinks[run];
    auto it = sinks.find(sink);
    if (it != sinks.end()) return it->second;
    RunSink s;
    if (!out_override.empty() && recorded_runs.count(run) == 0) {
      s.file = add_file(common::StrCat(out_override, "/", sink, ".ndjson"), sink);
    }
    return sinks.emplace(std::string(sink), s).first->second;
  };

  // One pass over the ledger. Entries of one accepted event are consecutive and share its id,
  // run and line (docs/ledger-format.md section 2).
  struct Event {
    bool open = false;
    std::string id;
    int64_t first_seq = 0;  // Its first entry.
    int64_t run = 0;
    uint64_t line = 0;
    bool any_allow = false, any_revoked = false;
    // Per entry, in order: its sink's purpose and the consent state it shows if that sink
    // required consent (2 allowed, 1 denied for a consent reason, 0 denied before the check).
    std::vector<std::pair<int, int>> states;
  } ev;
  // The event's subject and which of its entries' sinks required consent (state.md section 7,
  // the subject column): written by the router, since the ledger holds no subject ids. The
  // seen records are in acceptance order, so they are read alongside the ledger: an accepted
  // event's record is the one whose first_seq is its first entry; records with first_seq 0
  // (no candidate sink, no entries) fall between them and are counted on the way.
  ASSIGN_OR_RETURN(auto seen_reader, seen::Reader::Open(db));
  auto records = seen_reader->Records();
  seen::Record record;
  bool have_record = false, records_done = false;
  // Advances to the record of the event whose first entry is `first_seq`; false if none.
  auto record_for = [&](int64_t first_seq) -> absl::StatusOr<bool> {
    while (true) {
      if (!have_record && !records_done) {
        ASSIGN_OR_RETURN(have_record, records->Next(&record));
        records_done = !have_record;
      }
      if (!have_record) return false;
      if (record.first_seq == 0) {
        ++r.blocked_no_candidate;
      } else if (record.first_seq >= first_seq) {
        return record.first_seq == first_seq;
      }
      have_record = false;
    }
  };
  SubjectCounter subjects;
  auto count_subject = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(bool found, record_for(ev.first_seq));
    if (std::none_of(ev.states.begin(), ev.states.end(),
                     [](const auto& p) { return p.first >= 0; })) {
      return absl::OkStatus();
    }
    const std::string_view subject = found ? std::string_view(record.subject) : std::string_view();
    absl::Status s = absl::OkStatus();
    if (subject.size() > kSubjectDigestBytes) {
      const std::string_view digest = subject.substr(0, kSubjectDigestBytes);
      const std::string_view bits = subject.substr(kSubjectDigestBytes);
      for (size_t i = 0; i < ev.states.size() && i / 8 < bits.size() && s.ok(); ++i) {
        const auto [purpose, state] = ev.states[i];
        if (purpose >= 0 && (static_cast<uint8_t>(bits[i / 8]) >> (i % 8) & 1)) {
          s = subjects.Add(purpose, digest, state);
        }
      }
    }
    return s;
  };
  auto close_event = [&]() -> absl::Status {
    if (!ev.open) return absl::OkStatus();
    ev.open = false;
    ++r.accepted;
    ++(ev.any_allow ? r.routed : r.blocked_denied);
    if (ev.any_revoked) {
      ++r.revocation_events;
      if (!ev.any_allow) ++r.revocation_blocked;
    }
    return count_subject();
  };
  const std::string_view revoked = policy::DenyReasonName(policy::DenyReason::kConsentRevoked);
  std::map<std::pair<std::string, std::string>, int64_t> denials;
  std::pair<std::string, std::string> key;
  std::map<std::string, StudyReleases, std::less<>> releases;
  RETURN_IF_ERROR(ledger::ForEachEntry(db, [&](const ledger::StoredEntry& e) -> absl::Status {
    const ledger::EntryFacts& f = e.facts;
    ++r.ledger_entries;
    if (f.outcome == ledger::Outcome::kRelease) {
      // A measurement's result, released to whoever ran it: no event, no sink file line.
      RETURN_IF_ERROR(close_event());
      const ledger::ReleaseFacts& rel = *f.release;
      auto it = releases.find(rel.study);
      if (it == releases.end()) {
        it = releases.emplace(std::string(rel.study), StudyReleases{}).first;
        it->second.study = it->first;
      }
      StudyReleases& sr = it->second;
      ++sr.releases;
      if (rel.mode == ledger::DisclosureMode::kDifferentialPrivacy) ++sr.dp_releases;
      sr.epsilon_nano += rel.epsilon_nano.value_or(0);
      sr.cells_released += rel.cells_released;
      sr.cells_suppressed += rel.cells_suppressed_primary + rel.cells_suppressed_complementary;
      return absl::OkStatus();
    }
    if (f.outcome == ledger::Outcome::kQuarantine) {
      RETURN_IF_ERROR(close_event());
      ++r.quarantined;
      key.first.assign(f.reason);
      ++r.quarantine_reasons[key.first];
      return absl::OkStatus();
    }
    if (!ev.open || f.event_id != ev.id || f.run != ev.run || f.line != ev.line) {
      RETURN_IF_ERROR(close_event());
      ev.open = true;
      ev.id.assign(f.event_id);
      ev.first_seq = e.seq;
      ev.run = f.run;
      ev.line = f.line;
      ev.any_allow = ev.any_revoked = false;
      ev.states.clear();
    }
    const RunSink& sink = lookup(f.run, f.sink);
    ev.states.emplace_back(sink.purpose, f.outcome == ledger::Outcome::kAllow ? 2
                                         : IsConsentReason(f.reason)        ? 1
                                                                            : 0);
    if (f.outcome == ledger::Outcome::kAllow) {
      ev.any_allow = true;
      if (sink.coverage != nullptr && !f.consent_ids.empty()) ++sink.coverage->allows_citing_consent;
      if (sink.file == kNoFile) {
        reconciler.OnUnmappedAllow(e.seq, f.sink);
        return absl::OkStatus();
      }
      return reconciler.OnAllow(sink.file, e.seq, f.sink, f.delivered);
    }
    key.first.assign(f.reason);
    key.second.assign(f.sink);
    ++denials[key];
    if (sink.coverage != nullptr && IsConsentReason(f.reason)) ++sink.coverage->consent_denials;
    if (f.reason == revoked) {
      ++r.revocation_denials;
      ev.any_revoked = true;
    }
    return absl::OkStatus();
  }, ledger::Read::kFacts));
  RETURN_IF_ERROR(close_event());

  // Accepted events with no candidate sink have no ledger entry; their seen records (first_seq
  // 0) mark them: count the ones after the last event's record.
  ASSIGN_OR_RETURN(bool past_end, record_for(std::numeric_limits<int64_t>::max()));
  (void)past_end;
  r.accepted += r.blocked_no_candidate;

  RETURN_IF_ERROR(subjects.Finish([&](int purpose, int64_t seen, int64_t with, int64_t without,
                                      int64_t unchecked) {
    PurposeCoverage& c = *purposes[static_cast<size_t>(purpose)];
    c.subjects_seen = seen;
    c.subjects_with_consent = with;
    c.subjects_without_consent = without;
    c.subjects_not_checked = unchecked;
  }));
  for (auto& [purpose, c] : coverage) {
    if (c.subjects_seen > 0 || c.allows_citing_consent > 0 || c.consent_denials > 0) {
      r.coverage.push_back(c);
    }
  }

  // Revocations: versions, and consents (the first revoked version of each id), with the
  // consents_by_id index rather than a DISTINCT held in memory.
  RETURN_IF_ERROR(ForEachRow(
      db,
      "SELECT count(*), coalesce(sum(NOT EXISTS (SELECT 1 FROM consents p WHERE "
      "p.consent_id = c.consent_id AND p.status = 'revoked' AND p.seq < c.seq)), 0) "
      "FROM consents c WHERE c.status = 'revoked'",
      [&](store::Statement& q) {
        r.revoked_versions = q.Int(0);
        r.revoked_consents = q.Int(1);
      }));

  for (auto& [k, n] : denials) r.denials.push_back(DenialCount{k.first, k.second, n});
  for (auto& [study, sr] : releases) r.releases.push_back(std::move(sr));

  RETURN_IF_ERROR(reconciler.Finish());
  r.files = reconciler.files();
  r.gaps = reconciler.gaps();
  r.total_gaps = reconciler.total_gaps();
  r.unmapped_allows = reconciler.unmapped_allows();
  return r;
}

std::string GovernanceReport::ToText() const {
  std::string o;
  common::StrAppend(&o, "governance report: ", state_dir, "\n");
  common::StrAppend(&o, "  runs ", runs);
  if (runs_unfinished > 0) common::StrAppend(&o, " (", runs_unfinished, " unfinished)");
  common::StrAppend(&o, "; ledger ", ledger_entries, " entries, ",
                    ledger_verifies ? "verifies"
                                    : common::StrCat("does NOT verify: ", ledger_problem),
                    "\n\n");

  o.append("events\n");
  Table events({"", "count", "share", "of"});
  events.Add({"accepted", N(accepted), "", ""});
  events.Add({"  routed", N(routed), Percent(routed, accepted), "accepted"});
  events.Add({"  blocked", N(blocked()), Percent(blocked(), accepted), "accepted"});
  events.Add({"    denied by every candidate sink", N(blocked_denied), "", ""});
  events.Add({"    no candidate sink", N(blocked_no_candidate), "", ""});
  events.Add({"quarantined", N(quarantined), Percent(quarantined, records()),
              "records (accepted + quarantined)"});
  for (const auto& [reason, n] : quarantine_reasons) {
    events.Add({common::StrCat("  ", reason), N(n), Percent(n, records()), "records"});
  }
  o.append(events.Render("  "));

  o.append("\nconsent coverage by purpose (subjects of events whose sinks of that purpose require "
           "consent)\n");
  if (coverage.empty()) {
    o.append("  no subject needed consent\n");
  } else {
    Table t({"purpose", "subjects", "with consent", "without", "not checked", "coverage",
             "allows citing", "consent denials"});
    for (const auto& c : coverage) {
      t.Add({c.purpose, N(c.subjects_seen), N(c.subjects_with_consent),
             N(c.subjects_without_consent), N(c.subjects_not_checked),
             Percent(c.subjects_with_consent, c.subjects_seen), N(c.allows_citing_consent),
             N(c.consent_denials)});
    }
    o.append(t.Render("  "));
  }

  int64_t total_denials = 0;
  for (const auto& d : denials) total_denials += d.count;
  common::StrAppend(&o, "\ndenials by reason and sink (", total_denials, " in all)\n");
  if (!denials.empty()) {
    Table t({"reason", "sink", "count"});
    for (const auto& d : denials) t.Add({d.reason, d.sink, N(d.count)});
    o.append(t.Render("  "));
  }

  o.append("\nrevocations\n");
  Table rev({"", "count"});
  rev.Add({"revoked consent versions recorded", N(revoked_versions)});
  rev.Add({"  consents they revoke", N(revoked_consents)});
  rev.Add({"denials for consent_revoked", N(revocation_denials)});
  rev.Add({"  events they stopped from a sink", N(revocation_events)});
  rev.Add({"  of which reached no sink at all", N(revocation_blocked)});
  o.append(rev.Render("  "));

  int64_t total_releases = 0;
  for (const auto& s : releases) total_releases += s.releases;
  common::StrAppend(&o, "\nmeasurement releases (", total_releases, " in all)\n");
  if (!releases.empty()) {
    Table t({"study", "releases", "with DP", "epsilon spent", "cells released",
             "cells suppressed"});
    for (const auto& s : releases) {
      t.Add({s.study, N(s.releases), N(s.dp_releases), ledger::FormatEpsilon(s.epsilon_nano),
             N(s.cells_released), N(s.cells_suppressed)});
    }
    o.append(t.Render("  "));
  }

  common::StrAppend(&o, "\naudit completeness: ",
                    audit_complete() ? "complete, every delivered line matches a ledger allow "
                                       "and every allow its line"
                                     : common::StrCat("INCOMPLETE, ", total_gaps, " gap",
                                                      total_gaps == 1 ? "" : "s"),
                    "\n");
  Table files_table({"sink", "file", "lines", "allows", "matched", "missing", "unrecorded",
                     "modified"});
  for (const auto& f : files) {
    files_table.Add({common::StrJoin(f.sinks, ","),
                     f.exists ? f.path : common::StrCat(f.path, " (absent)"), N(f.lines),
                     N(f.allows), N(f.matched), N(f.missing), N(f.unrecorded), N(f.modified)});
  }
  o.append(files_table.Render("  "));
  if (unmapped_allows > 0) {
    common::StrAppend(&o, "  ", unmapped_allows, " allows belong to runs that recorded no output "
                      "for their sink; give --out to reconcile them\n");
  }
  if (!gaps.empty()) {
    o.append("gaps\n");
    for (const auto& g : gaps) {
      auto range = [](std::string_view what, int64_t a, int64_t b) {
        return a == b ? common::StrCat(what, " ", a) : common::StrCat(what, "s ", a, "-", b);
      };
      std::string where = g.path.empty() ? std::string("(no recorded file)") : g.path;
      std::string what;
      switch (g.kind) {
        case GapKind::kMissingLine:
          what = common::StrCat(range("ledger seq", g.seq_first, g.seq_last),
                                ": delivered per the ledger, no such line in the file");
          break;
        case GapKind::kUnrecordedLine:
          what = common::StrCat(range("line", g.line_first, g.line_last),
                                ": no ledger allow records it");
          break;
        case GapKind::kUncommittedLine:
          what = common::StrCat(range("line", g.line_first, g.line_last),
                                ": no ledger allow records it; it lies beyond the file's "
                                "committed end (left by a run that stopped before committing, "
                                "or appended outside Loopgate)");
          break;
        case GapKind::kModifiedLine:
          what = common::StrCat(range("line", g.line_first, g.line_last),
                                ": differs from what ", range("ledger seq", g.seq_first, g.seq_last),
                                " recorded");
          break;
        case GapKind::kUnmappedAllow:
          what = common::StrCat(range("ledger seq", g.seq_first, g.seq_last),
                                ": its run recorded no output file for the sink");
          break;
      }
      common::StrAppend(&o, "  ", g.sink, "  ", where, "  ", what,
                        g.count > 1 ? common::StrCat(" (", g.count, ")") : "", "\n");
    }
    if (total_gaps > static_cast<int64_t>(gaps.size())) {
      common::StrAppend(&o, "  ... and ", total_gaps - static_cast<int64_t>(gaps.size()),
                        " more gap records not listed (--max-gaps)\n");
    }
  }
  return o;
}

std::string GovernanceReport::ToJson() const {
  std::string o = "{\"format\":";
  json::AppendString(kGovernanceFormat, &o);
  o.append(",\"state\":");
  json::AppendString(state_dir, &o);
  common::StrAppend(&o, ",\"runs\":", runs, ",\"runs_unfinished\":", runs_unfinished);
  common::StrAppend(&o, ",\"ledger\":{\"entries\":", ledger_entries, ",\"verifies\":",
                    ledger_verifies, ",\"problem\":");
  if (ledger_verifies) {
    o.append("null");
  } else {
    json::AppendString(ledger_problem, &o);
  }
  common::StrAppend(&o, "},\"events\":{\"accepted\":", accepted, ",\"routed\":", routed,
                    ",\"blocked\":{\"count\":", blocked(), ",\"of\":", accepted,
                    ",\"rate\":", Ratio(blocked(), accepted),
                    ",\"denied_by_every_candidate\":", blocked_denied,
                    ",\"no_candidate\":", blocked_no_candidate, "},\"quarantined\":{\"count\":",
                    quarantined, ",\"of\":", records(), ",\"rate\":", Ratio(quarantined, records()),
                    ",\"by_reason\":{");
  bool first = true;
  for (const auto& [reason, n] : quarantine_reasons) {
    if (!first) o.push_back(',');
    first = false;
    json::AppendString(reason, &o);
    common::StrAppend(&o, ":{\"count\":", n, ",\"rate\":", Ratio(n, records()), "}");
  }
  o.append("}}},\"consent_coverage\":[");
  for (size_t i = 0; i < coverage.size(); ++i) {
    const PurposeCoverage& c = coverage[i];
    if (i > 0) o.push_back(',');
    o.append("{\"purpose\":");
    json::AppendString(c.purpose, &o);
    common::StrAppend(&o, ",\"subjects_seen\":", c.subjects_seen,
                      ",\"with_consent\":", c.subjects_with_consent,
                      ",\"without_consent\":", c.subjects_without_consent,
                      ",\"not_checked\":", c.subjects_not_checked,
                      ",\"coverage\":", Ratio(c.subjects_with_consent, c.subjects_seen),
                      ",\"allows_citing_consent\":", c.allows_citing_consent,
                      ",\"consent_denials\":", c.consent_denials, "}");
  }
  o.append("],\"denials\":[");
  for (size_t i = 0; i < denials.size(); ++i) {
    if (i > 0) o.push_back(',');
    o.append("{\"reason\":");
    json::AppendString(denials[i].reason, &o);
    o.append(",\"sink\":");
    json::AppendString(denials[i].sink, &o);
    common::StrAppend(&o, ",\"count\":", denials[i].count, "}");
  }
  common::StrAppend(&o, "],\"revocations\":{\"versions_recorded\":", revoked_versions,
                    ",\"consents\":", revoked_consents, ",\"denials\":", revocation_denials,
                    ",\"events_stopped\":", revocation_events,
                    ",\"events_blocked\":", revocation_blocked, "}");
  o.append(",\"releases\":[");
  for (size_t i = 0; i < releases.size(); ++i) {
    const StudyReleases& s = releases[i];
    if (i > 0) o.push_back(',');
    o.append("{\"study\":");
    json::AppendString(s.study, &o);
    common::StrAppend(&o, ",\"releases\":", s.releases, ",\"dp_releases\":", s.dp_releases,
                      ",\"epsilon_nano\":", s.epsilon_nano,
                      ",\"cells_released\":", s.cells_released,
                      ",\"cells_suppressed\":", s.cells_suppressed, "}");
  }
  o.push_back(']');
  common::StrAppend(&o, ",\"audit\":{\"complete\":", audit_complete(), ",\"files\":[");
  for (size_t i = 0; i < files.size(); ++i) {
    const FileAudit& f = files[i];
    if (i > 0) o.push_back(',');
    o.append("{\"path\":");
    json::AppendString(f.path, &o);
    o.append(",\"sinks\":[");
    for (size_t s = 0; s < f.sinks.size(); ++s) {
      if (s > 0) o.push_back(',');
      json::AppendString(f.sinks[s], &o);
    }
    common::StrAppend(&o, "],\"exists\":", f.exists, ",\"bytes\":", f.bytes, ",\"committed\":");
    if (f.committed) {
      common::StrAppend(&o, *f.committed);
    } else {
      o.append("null");
    }
    common::StrAppend(&o, ",\"lines\":", f.lines, ",\"allows\":", f.allows,
                      ",\"matched\":", f.matched, ",\"missing\":", f.missing,
                      ",\"unrecorded\":", f.unrecorded, ",\"modified\":", f.modified, "}");
  }
  o.append("],\"gaps\":[");
  for (size_t i = 0; i < gaps.size(); ++i) {
    const Gap& g = gaps[i];
    if (i > 0) o.push_back(',');
    o.append("{\"kind\":");
    json::AppendString(GapKindName(g.kind), &o);
    o.append(",\"sink\":");
    json::AppendString(g.sink, &o);
    o.append(",\"path\":");
    if (g.path.empty()) {
      o.append("null");
    } else {
      json::AppendString(g.path, &o);
    }
    o.append(",\"line_first\":");
    AppendNullableInt(g.line_first, &o);
    o.append(",\"line_last\":");
    AppendNullableInt(g.line_last, &o);
    o.append(",\"seq_first\":");
    AppendNullableInt(g.seq_first, &o);
    o.append(",\"seq_last\":");
    AppendNullableInt(g.seq_last, &o);
    common::StrAppend(&o, ",\"count\":", g.count, "}");
  }
  common::StrAppend(&o, "],\"gaps_total\":", total_gaps, ",\"gaps_not_listed\":",
                    total_gaps - static_cast<int64_t>(gaps.size()),
                    ",\"unmapped_allows\":", unmapped_allows, "}}");
  return o;
}

}  // namespace loopgate::report
