#include "ledger/ledger.h"

#include <algorithm>
#include <charconv>

#include "common/strings.h"
#include "json/json.h"

namespace loopgate::ledger {
namespace {

void AppendNullable(std::string_view s, std::string* out) {
  if (s.empty()) {
    out->append("null");
  } else {
    json::AppendString(s, out);
  }
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kAllow: return "allow";
    case Outcome::kDeny: return "deny";
    case Outcome::kQuarantine: return "quarantine";
  }
  return "deny";
}

std::string GenesisHash() { return std::string(64, '0'); }

absl::StatusOr<std::unique_ptr<Writer>> Writer::Open(store::Database& db,
                                                     std::string policy_version) {
  std::unique_ptr<Writer> w(new Writer(db, std::move(policy_version)));
  auto q = db.Prepare("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1");
  if (!q.ok()) return q.status();
  auto row = q->Step();
  if (!row.ok()) return row.status();
  if (*row) {
    w->seq_ = q->Int(0);
    w->head_hex_ = q->Text(1);
  } else {
    w->head_hex_ = GenesisHash();
  }
  auto insert = db.Prepare("INSERT INTO ledger (seq, event_id, entry, hash) VALUES (?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  w->insert_ = std::move(*insert);
  return w;
}

absl::StatusOr<int64_t> Writer::Append(const EntryFacts& f) {
  const int64_t seq = seq_ + 1;
  std::string& e = entry_;
  e.clear();
  // Members in RFC 8785 order (sorted by key), so the text is canonical as written.
  e.append("{\"consent_ids\":[");
  if (f.consents != nullptr) {
    for (size_t i = 0; i < f.consents->size(); ++i) {
      if (i > 0) e.push_back(',');
      json::AppendString((*f.consents)[i]->consent_id, &e);
    }
  }
  e.append("],\"consent_scope\":");
  if (f.consent_scope == nullptr) {
    e.append("null");
  } else {
    e.push_back('[');
    for (size_t i = 0; i < f.consent_scope->size(); ++i) {
      if (i > 0) e.push_back(',');
      json::AppendString((*f.consent_scope)[i], &e);
    }
    e.push_back(']');
  }
  e.append(",\"consent_versions\":[");
  if (f.consents != nullptr) {
    for (size_t i = 0; i < f.consents->size(); ++i) {
      if (i > 0) e.push_back(',');
      json::AppendString((*f.consents)[i]->recorded_at_text, &e);
    }
  }
  common::StrAppend(&e, "],\"decision\":\"", OutcomeName(f.outcome), "\",\"delivered\":");
  AppendNullable(f.delivered, &e);
  e.append(",\"detail\":");
  AppendNullable(f.detail, &e);
  e.append(",\"event_id\":");
  AppendNullable(f.event_id, &e);
  common::StrAppend(&e, ",\"line\":", f.line, ",\"policy_version\":");
  json::AppendString(policy_version_, &e);
  common::StrAppend(&e, ",\"prev_hash\":\"", head_hex_, "\",\"reason\":");
  AppendNullable(f.reason, &e);
  common::StrAppend(&e, ",\"run\":", f.run, ",\"seq\":", seq, ",\"sink\":");
  AppendNullable(f.sink, &e);
  e.append(",\"source\":");
  AppendNullable(f.source, &e);
  e.append(",\"time\":");
  AppendNullable(f.time, &e);
  e.append(",\"transforms\":[");
  if (f.transforms != nullptr) {
    for (size_t i = 0; i < f.transforms->size(); ++i) {
      if (i > 0) e.push_back(',');
      json::AppendString((*f.transforms)[i], &e);
    }
  }
  e.append("],\"type\":");
  AppendNullable(f.type, &e);
  common::StrAppend(&e, ",\"v\":", kFormatVersion, "}");

  std::string hash = crypto::ToHex(crypto::Sha256(e));
  insert_.Bind(1, seq);
  if (f.event_id.empty()) {
    insert_.BindNull(2);
  } else {
    insert_.Bind(2, f.event_id);
  }
  insert_.Bind(3, e).Bind(4, hash);
  if (auto s = insert_.Run(); !s.ok()) return s;
  seq_ = seq;
  head_hex_ = std::move(hash);
  return seq;
}

absl::Status Writer::SaveHead() {
  auto s = db_.SetMeta("ledger_size", std::to_string(seq_));
  if (!s.ok()) return s;
  return db_.SetMeta("ledger_head", head_hex_);
}

namespace {
absl::StatusOr<VerifyReport> VerifySnapshot(store::Database& db);
}  // namespace

absl::StatusOr<VerifyReport> Verify(store::Database& db) {
  // One read transaction: entries and committed head from the same snapshot, so a run
  // committing meanwhile is never mistaken for tampering (WAL readers see a fixed snapshot).
  if (auto s = db.Exec("BEGIN"); !s.ok()) return s;
  auto report = VerifySnapshot(db);
  (void)db.Exec("COMMIT");
  return report;
}

namespace {
absl::StatusOr<VerifyReport> VerifySnapshot(store::Database& db) {
  VerifyReport report;
  auto q = db.Prepare("SELECT seq, event_id, entry, hash FROM ledger ORDER BY seq");
  if (!q.ok()) return q.status();
  json::StrictParser parser;
  std::string canonical;
  std::string prev = GenesisHash();
  int64_t expected = 1;
  auto fail = [&](int64_t seq, std::string problem) {
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const int64_t seq = q->Int(0);
    if (seq != expected) {
      return fail(expected, seq > expected
                                ? common::StrCat("entry ", expected, " is missing (deleted); the "
                                                                   "next stored entry is ", seq)
                                : common::StrCat("entry ", seq, " is stored out of order"));
    }
    const std::string_view entry = q->Text(2);
    const std::string_view stored_hash = q->Text(3);
    auto root = parser.ParseCopy(entry, &canonical);
    simdjson::dom::object o;
    if (!root.ok() || root->get_object().get(o) != simdjson::SUCCESS) {
      return fail(seq, common::StrCat("entry ", seq, " is not valid JSON"));
    }
    if (canonical != entry) {
      return fail(seq, common::StrCat("entry ", seq, " is not in canonical form (edited)"));
    }
    int64_t entry_seq = 0;
    std::string_view entry_prev, entry_event;
    if (o["seq"].get_int64().get(entry_seq) != simdjson::SUCCESS || entry_seq != seq) {
      return fail(seq, common::StrCat("entry ", seq, " claims sequence number ", entry_seq,
                                    " (entries were inserted, removed or reordered)"));
    }
    if (o["prev_hash"].get_string().get(entry_prev) != simdjson::SUCCESS || entry_prev != prev) {
      return fail(seq, common::StrCat("entry ", seq, " does not link to entry ", seq - 1,
                                    " (its prev_hash differs: an entry before it was changed, "
                                    "removed or inserted)"));
    }
    const std::string hash = crypto::ToHex(crypto::Sha256(entry));
    if (hash != stored_hash) {
      return fail(seq, common::StrCat("entry ", seq, " was modified (its hash does not match its "
                                    "content)"));
    }
    const bool has_event = o["event_id"].get_string().get(entry_event) == simdjson::SUCCESS;
    if ((has_event ? entry_event : std::string_view()) != q->Text(1) ||
        has_event == q->IsNull(1)) {
      return fail(seq, common::StrCat("entry ", seq, " is filed under another event id"));
    }
    prev = hash;
    ++expected;
    ++report.entries;
  }
  auto size = db.GetMeta("ledger_size");
  auto head = db.GetMeta("ledger_head");
  if (!size.ok()) return size.status();
  if (!head.ok()) return head.status();
  int64_t committed = 0;
  if (size->has_value()) {
    // Parsed without exceptions: a garbled value is a finding, not a crash.
    const std::string& text = **size;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), committed);
    if (ec != std::errc() || end != text.data() + text.size() || committed < 0) {
      return fail(std::max<int64_t>(report.entries, 1),
                  "the committed ledger size in the state is not a number (edited)");
    }
  }
  if (committed != report.entries) {
    return fail(std::min(committed, report.entries) + 1,
                common::StrCat("the ledger holds ", report.entries, " entries but ", committed,
                             " were committed (entries at the end were ",
                             committed > report.entries ? "deleted" : "appended outside Loopgate",
                             ")"));
  }
  if (committed > 0 && (!head->has_value() || **head != prev)) {
    return fail(committed, common::StrCat("the last entry's hash differs from the committed head"));
  }
  report.head_hash = prev;
  return report;
}

}  // namespace

absl::Status Export(store::Database& db, std::FILE* out) {
  auto q = db.Prepare("SELECT entry, hash FROM ledger ORDER BY seq");
  if (!q.ok()) return q.status();
  std::string line;
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const std::string_view entry = q->Text(0);
    line.assign(entry.substr(0, entry.size() - 1));
    common::StrAppend(&line, ",\"hash\":\"", q->Text(1), "\"}\n");
    if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) {
      return absl::InternalError("writing the export failed");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> EntriesForEvent(store::Database& db,
                                                         std::string_view event_id) {
  std::vector<int64_t> seqs;
  auto seen = db.Prepare("SELECT first_seq FROM seen WHERE id = ?");
  if (!seen.ok()) return seen.status();
  seen->Bind(1, event_id);
  auto row = seen->Step();
  if (!row.ok()) return row.status();
  const int64_t first = *row ? seen->Int(0) : 0;
  auto quarantined = db.Prepare("SELECT seq FROM quarantine_index WHERE event_id = ?");
  if (!quarantined.ok()) return quarantined.status();
  quarantined->Bind(1, event_id);
  while (true) {
    auto r = quarantined->Step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    seqs.push_back(quarantined->Int(0));
  }
  std::vector<std::pair<int64_t, std::string>> found;
  auto by_seq = db.Prepare("SELECT seq, event_id, entry FROM ledger WHERE seq >= ? ORDER BY seq");
  if (!by_seq.ok()) return by_seq.status();
  if (first > 0) {
    // An accepted event's decisions are consecutive entries from its first one.
    by_seq->Bind(1, first);
    while (true) {
      auto r = by_seq->Step();
      if (!r.ok()) return r.status();
      if (!*r || by_seq->Text(1) != event_id) break;
      found.emplace_back(by_seq->Int(0), std::string(by_seq->Text(2)));
    }
    by_seq->Reset();
  }
  for (int64_t seq : seqs) {
    by_seq->Bind(1, seq);
    auto r = by_seq->Step();
    if (!r.ok()) return r.status();
    if (*r) found.emplace_back(by_seq->Int(0), std::string(by_seq->Text(2)));
    by_seq->Reset();
  }
  std::sort(found.begin(), found.end());
  // A quarantine of the same id right after the acceptance is reached both ways: list it once.
  found.erase(std::unique(found.begin(), found.end(),
                          [](const auto& a, const auto& b) { return a.first == b.first; }),
              found.end());
  std::vector<std::string> out;
  for (auto& [seq, entry] : found) out.push_back(std::move(entry));
  return out;
}

}  // namespace loopgate::ledger
