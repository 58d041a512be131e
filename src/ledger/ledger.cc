#include "ledger/ledger.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "common/strings.h"
#include "common/text.h"
#include "json/json.h"

namespace loopgate::ledger {
namespace {

constexpr size_t kHashBytes = 32;

void AppendNullable(std::string_view s, std::string* out) {
  if (s.empty()) {
    out->append("null");
  } else {
    json::AppendString(s, out);
  }
}

void AppendList(const std::vector<std::string_view>& items, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out->push_back(',');
    json::AppendString(items[i], out);
  }
  out->push_back(']');
}

// The entry exactly as it is hashed and exported: canonical JSON (RFC 8785), members sorted,
// written in that order so no sort is needed (docs/ledger-format.md). The event's facts (id,
// type, source, time, line, run, consent scope) come from `ev`, the decision's from `f`.
void BuildEntry(const EntryFacts& ev, const EntryFacts& f, int64_t seq, std::string_view prev_hex,
                std::string_view policy_version, std::string* e) {
  e->clear();
  e->append("{\"consent_ids\":");
  AppendList(f.consent_ids, e);
  e->append(",\"consent_scope\":");
  if (ev.consent_scope == nullptr) {
    e->append("null");
  } else {
    AppendList(*ev.consent_scope, e);
  }
  e->append(",\"consent_versions\":");
  AppendList(f.consent_versions, e);
  common::StrAppend(e, ",\"decision\":\"", OutcomeName(f.outcome), "\",\"delivered\":");
  AppendNullable(f.delivered, e);
  e->append(",\"detail\":");
  AppendNullable(f.detail, e);
  e->append(",\"event_id\":");
  AppendNullable(ev.event_id, e);
  common::StrAppend(e, ",\"line\":", ev.line, ",\"policy_version\":");
  json::AppendString(policy_version, e);
  common::StrAppend(e, ",\"prev_hash\":\"", prev_hex, "\",\"reason\":");
  AppendNullable(f.reason, e);
  common::StrAppend(e, ",\"run\":", ev.run, ",\"seq\":", seq, ",\"sink\":");
  AppendNullable(f.sink, e);
  e->append(",\"source\":");
  AppendNullable(ev.source, e);
  e->append(",\"time\":");
  AppendNullable(ev.time, e);
  e->append(",\"transforms\":");
  AppendList(f.transforms, e);
  e->append(",\"type\":");
  AppendNullable(ev.type, e);
  common::StrAppend(e, ",\"v\":", kFormatVersion, "}");
}

// A row's body, "loopgate.ledger-row/v1" (docs/state.md): the event's facts once, then one
// positional tuple per entry.
//   [event_id, type, source, time, line, run, consent_scope,
//    [[sink, decision, reason, detail, consent_ids, consent_versions, transforms, delivered], ...]]
void BuildRowBody(const std::vector<EntryFacts>& entries, std::string* b) {
  const EntryFacts& first = entries.front();
  b->assign("[");
  AppendNullable(first.event_id, b);
  b->push_back(',');
  AppendNullable(first.type, b);
  b->push_back(',');
  AppendNullable(first.source, b);
  b->push_back(',');
  AppendNullable(first.time, b);
  common::StrAppend(b, ",", first.line, ",", first.run, ",");
  if (first.consent_scope == nullptr) {
    b->append("null");
  } else {
    AppendList(*first.consent_scope, b);
  }
  b->append(",[");
  for (size_t i = 0; i < entries.size(); ++i) {
    const EntryFacts& f = entries[i];
    if (i > 0) b->push_back(',');
    b->push_back('[');
    AppendNullable(f.sink, b);
    common::StrAppend(b, ",\"", OutcomeName(f.outcome), "\",");
    AppendNullable(f.reason, b);
    b->push_back(',');
    AppendNullable(f.detail, b);
    b->push_back(',');
    AppendList(f.consent_ids, b);
    b->push_back(',');
    AppendList(f.consent_versions, b);
    b->push_back(',');
    AppendList(f.transforms, b);
    b->push_back(',');
    AppendNullable(f.delivered, b);
    b->push_back(']');
  }
  b->append("]]");
}

std::string HexOf(std::string_view bytes) { return common::HexEncode(bytes); }

// One stored row read back: its entries' facts (views into the parser's DOM) and stored hashes.
struct Row {
  int64_t seq = 0;
  std::string policy_version;
  std::string hashes;
  std::vector<EntryFacts> entries;
  std::vector<std::vector<std::string_view>> lists;  // Backing for the list views.
  std::vector<std::string_view> scope;
  bool has_scope = false;
};

bool StringOrNull(simdjson::dom::element e, std::string_view* out) {
  if (e.is_null()) {
    *out = std::string_view();
    return true;
  }
  return e.get_string().get(*out) == simdjson::SUCCESS;
}

bool StringList(simdjson::dom::element e, std::vector<std::string_view>* out) {
  simdjson::dom::array arr;
  if (e.get_array().get(arr) != simdjson::SUCCESS) return false;
  out->clear();
  for (auto item : arr) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS) return false;
    out->push_back(s);
  }
  return true;
}

// Parses a row body. False when it is not a well-formed row of `count` entries.
bool ParseRow(simdjson::dom::parser& parser, std::string_view body, size_t count, Row* row) {
  simdjson::dom::array top;
  if (parser.parse(body.data(), body.size()).get_array().get(top) != simdjson::SUCCESS ||
      top.size() != 8) {
    return false;
  }
  EntryFacts shared;
  uint64_t line = 0;
  int64_t run = 0;
  simdjson::dom::array tuples;
  if (!StringOrNull(top.at(0).value_unsafe(), &shared.event_id) ||
      !StringOrNull(top.at(1).value_unsafe(), &shared.type) ||
      !StringOrNull(top.at(2).value_unsafe(), &shared.source) ||
      !StringOrNull(top.at(3).value_unsafe(), &shared.time) ||
      top.at(4).get_uint64().get(line) != simdjson::SUCCESS ||
      top.at(5).get_int64().get(run) != simdjson::SUCCESS ||
      top.at(7).get_array().get(tuples) != simdjson::SUCCESS || tuples.size() != count) {
    return false;
  }
  shared.line = line;
  shared.run = run;
  row->has_scope = !top.at(6).value_unsafe().is_null();
  if (row->has_scope && !StringList(top.at(6).value_unsafe(), &row->scope)) return false;
  row->entries.assign(count, shared);
  row->lists.assign(count * 3, {});
  size_t i = 0;
  for (auto tuple : tuples) {
    simdjson::dom::array t;
    if (tuple.get_array().get(t) != simdjson::SUCCESS || t.size() != 8) return false;
    EntryFacts& f = row->entries[i];
    f.consent_scope = row->has_scope ? &row->scope : nullptr;
    std::string_view decision;
    if (!StringOrNull(t.at(0).value_unsafe(), &f.sink) ||
        t.at(1).get_string().get(decision) != simdjson::SUCCESS ||
        !StringOrNull(t.at(2).value_unsafe(), &f.reason) ||
        !StringOrNull(t.at(3).value_unsafe(), &f.detail) ||
        !StringList(t.at(4).value_unsafe(), &row->lists[3 * i]) ||
        !StringList(t.at(5).value_unsafe(), &row->lists[3 * i + 1]) ||
        !StringList(t.at(6).value_unsafe(), &row->lists[3 * i + 2]) ||
        !StringOrNull(t.at(7).value_unsafe(), &f.delivered)) {
      return false;
    }
    if (decision == "allow") {
      f.outcome = Outcome::kAllow;
    } else if (decision == "deny") {
      f.outcome = Outcome::kDeny;
    } else if (decision == "quarantine") {
      f.outcome = Outcome::kQuarantine;
    } else {
      return false;
    }
    f.consent_ids = row->lists[3 * i];
    f.consent_versions = row->lists[3 * i + 1];
    f.transforms = row->lists[3 * i + 2];
    ++i;
  }
  return true;
}

// Walks the stored rows in seq order from `from_seq`, handing each to `fn(row, ok)`; `ok` is
// false for a row whose body or hashes are damaged. Stops when `fn` returns false.
template <typename Fn>
absl::Status ForEachRow(store::Database& db, int64_t from_seq, Fn fn) {
  auto q = db.Prepare(
      "SELECT l.seq, p.version, l.body, l.hashes FROM ledger l "
      "LEFT JOIN policies p ON p.id = l.policy WHERE l.seq >= ? ORDER BY l.seq");
  if (!q.ok()) return q.status();
  q->Bind(1, from_seq);
  simdjson::dom::parser parser;
  Row row;
  while (true) {
    auto more = q->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    row.seq = q->Int(0);
    row.policy_version = q->Text(1);
    row.hashes = q->Blob(3);
    const bool ok = !row.hashes.empty() && row.hashes.size() % kHashBytes == 0 &&
                    !row.policy_version.empty() &&
                    ParseRow(parser, q->Text(2), row.hashes.size() / kHashBytes, &row);
    if (!fn(row, ok)) break;
  }
  return absl::OkStatus();
}

// The stored hash (hex) of the entry just before `seq`, or the genesis hash.
absl::StatusOr<std::string> HashBefore(store::Database& db, int64_t seq) {
  auto q = db.Prepare("SELECT hashes FROM ledger WHERE seq < ? ORDER BY seq DESC LIMIT 1");
  if (!q.ok()) return q.status();
  q->Bind(1, seq);
  auto row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return GenesisHash();
  const std::string_view hashes = q->Blob(0);
  if (hashes.size() < kHashBytes) return GenesisHash();
  return HexOf(hashes.substr(hashes.size() - kHashBytes));
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
  if (policy_version.empty()) {
    return absl::InvalidArgumentError("a ledger writer needs the catalog's policy version");
  }
  std::unique_ptr<Writer> w(new Writer(db, std::move(policy_version)));
  auto q = db.Prepare("SELECT seq, hashes FROM ledger ORDER BY seq DESC LIMIT 1");
  if (!q.ok()) return q.status();
  auto row = q->Step();
  if (!row.ok()) return row.status();
  w->head_hex_ = GenesisHash();
  if (*row) {
    const std::string_view hashes = q->Blob(1);
    if (hashes.size() < kHashBytes || hashes.size() % kHashBytes != 0) {
      return absl::DataLossError("the last ledger row is damaged; run `loopgate ledger verify`");
    }
    w->seq_ = q->Int(0) + static_cast<int64_t>(hashes.size() / kHashBytes) - 1;
    w->head_hex_ = HexOf(hashes.substr(hashes.size() - kHashBytes));
  }
  auto add = db.Prepare("INSERT INTO policies (version) VALUES (?) ON CONFLICT DO NOTHING");
  if (!add.ok()) return add.status();
  add->Bind(1, w->policy_version_);
  if (auto s = add->Run(); !s.ok()) return s;
  auto id = db.Prepare("SELECT id FROM policies WHERE version = ?");
  if (!id.ok()) return id.status();
  id->Bind(1, w->policy_version_);
  auto found = id->Step();
  if (!found.ok()) return found.status();
  w->policy_id_ = id->Int(0);
  auto insert = db.Prepare("INSERT INTO ledger (seq, policy, body, hashes) VALUES (?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  w->insert_ = std::move(*insert);
  return w;
}

absl::StatusOr<int64_t> Writer::AppendEvent(const std::vector<EntryFacts>& entries) {
  if (entries.empty()) return absl::InvalidArgumentError("a ledger row needs an entry");
  const int64_t first = seq_ + 1;
  hashes_.clear();
  std::string prev = head_hex_;
  for (size_t i = 0; i < entries.size(); ++i) {
    // Every entry of the row carries the event's facts, as the row stores them once.
    BuildEntry(entries[0], entries[i], first + static_cast<int64_t>(i), prev, policy_version_,
               &entry_);
    const crypto::Digest d = crypto::Sha256(entry_);
    hashes_.append(reinterpret_cast<const char*>(d.data()), d.size());
    prev = crypto::ToHex(d);
  }
  BuildRowBody(entries, &body_);
  insert_.Bind(1, first).Bind(2, policy_id_).Bind(3, body_).BindBlob(4, hashes_.data(),
                                                                     hashes_.size());
  if (auto s = insert_.Run(); !s.ok()) return s;
  seq_ = first + static_cast<int64_t>(entries.size()) - 1;
  head_hex_ = std::move(prev);
  return first;
}

absl::StatusOr<int64_t> Writer::Append(const EntryFacts& facts) {
  single_.assign(1, facts);
  return AppendEvent(single_);
}

absl::Status Writer::SaveHead() {
  auto s = db_.SetMeta("ledger_size", std::to_string(seq_));
  if (!s.ok()) return s;
  return db_.SetMeta("ledger_head", head_hex_);
}

namespace {

absl::StatusOr<VerifyReport> VerifySnapshot(store::Database& db) {
  VerifyReport report;
  std::string prev = GenesisHash();  // The stored hash of the entry before the current one.
  int64_t expected = 1;
  std::string entry;
  std::optional<std::pair<int64_t, std::string>> bad;
  auto s = ForEachRow(db, 1, [&](const Row& row, bool ok) {
    if (row.seq != expected) {
      bad.emplace(expected, row.seq > expected
                                ? common::StrCat("entry ", expected, " is missing (deleted); "
                                                 "the next stored entry is ", row.seq)
                                : common::StrCat("entry ", expected, " is stored out of order "
                                                 "(a row starting at entry ", row.seq,
                                                 " overlaps the entries before it)"));
      return false;
    }
    if (!ok) {
      bad.emplace(row.seq, common::StrCat("entry ", row.seq, " is stored damaged (its row does "
                                          "not parse, or its hashes do not fit its entries)"));
      return false;
    }
    for (size_t i = 0; i < row.entries.size(); ++i) {
      const int64_t seq = row.seq + static_cast<int64_t>(i);
      BuildEntry(row.entries[i], row.entries[i], seq, prev, row.policy_version, &entry);
      const std::string stored = HexOf(std::string_view(row.hashes).substr(i * kHashBytes,
                                                                           kHashBytes));
      if (crypto::ToHex(crypto::Sha256(entry)) != stored) {
        bad.emplace(seq, common::StrCat(
                             "entry ", seq, " was modified, or does not link to entry ", seq - 1,
                             " (its hash does not match its content and the hash before it)"));
        return false;
      }
      prev = stored;
      ++report.entries;
    }
    expected = row.seq + static_cast<int64_t>(row.entries.size());
    return true;
  });
  if (!s.ok()) return s;
  if (bad) {
    report.first_bad_seq = bad->first;
    report.problem = std::move(bad->second);
    return report;
  }
  auto fail = [&](int64_t seq, std::string problem) {
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };
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
    return fail(committed, "the last entry's hash differs from the committed head");
  }
  report.head_hash = prev;
  return report;
}

}  // namespace

absl::StatusOr<VerifyReport> Verify(store::Database& db) {
  // One read transaction: entries and committed head from the same snapshot, so a run
  // committing meanwhile is never mistaken for tampering (WAL readers see a fixed snapshot).
  if (auto s = db.Exec("BEGIN"); !s.ok()) return s;
  auto report = VerifySnapshot(db);
  (void)db.Exec("COMMIT");
  return report;
}

absl::Status Export(store::Database& db, std::FILE* out) {
  // Each entry as stored: prev_hash is the stored hash of the entry before it and "hash" its
  // own stored hash, so an export of a damaged ledger fails an outside verification too.
  std::string prev = GenesisHash();
  std::string entry, line;
  absl::Status write_error = absl::OkStatus();
  auto s = ForEachRow(db, 1, [&](const Row& row, bool ok) {
    if (!ok) {
      write_error = absl::DataLossError(common::StrCat(
          "the ledger row at entry ", row.seq, " is damaged; run `loopgate ledger verify`"));
      return false;
    }
    for (size_t i = 0; i < row.entries.size(); ++i) {
      BuildEntry(row.entries[i], row.entries[i], row.seq + static_cast<int64_t>(i), prev,
                 row.policy_version, &entry);
      const std::string stored =
          HexOf(std::string_view(row.hashes).substr(i * kHashBytes, kHashBytes));
      line.assign(entry, 0, entry.size() - 1);
      common::StrAppend(&line, ",\"hash\":\"", stored, "\"}\n");
      if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) {
        write_error = absl::InternalError("writing the export failed");
        return false;
      }
      prev = stored;
    }
    return true;
  });
  if (!s.ok()) return s;
  return write_error;
}

absl::Status ForEachEntry(store::Database& db,
                          const std::function<absl::Status(const StoredEntry&)>& fn) {
  absl::Status result = absl::OkStatus();
  auto s = ForEachRow(db, 1, [&](const Row& row, bool ok) {
    if (!ok) {
      result = absl::DataLossError(common::StrCat(
          "the ledger row at entry ", row.seq, " is damaged; run `loopgate ledger verify`"));
      return false;
    }
    for (size_t i = 0; i < row.entries.size(); ++i) {
      result = fn(StoredEntry{row.seq + static_cast<int64_t>(i), row.policy_version,
                              row.entries[i]});
      if (!result.ok()) return false;
    }
    return true;
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<std::vector<std::string>> EntriesForEvent(store::Database& db,
                                                         std::string_view event_id) {
  std::vector<int64_t> rows;
  auto seen = db.Prepare("SELECT first_seq FROM seen WHERE id = ?");
  if (!seen.ok()) return seen.status();
  seen->Bind(1, event_id);
  auto found = seen->Step();
  if (!found.ok()) return found.status();
  if (*found && seen->Int(0) > 0) rows.push_back(seen->Int(0));
  auto quarantined = db.Prepare("SELECT seq FROM quarantine_index WHERE event_id = ?");
  if (!quarantined.ok()) return quarantined.status();
  quarantined->Bind(1, event_id);
  while (true) {
    auto r = quarantined->Step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    rows.push_back(quarantined->Int(0));
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  std::vector<std::string> out;
  std::string entry;
  for (int64_t first : rows) {
    auto prev = HashBefore(db, first);
    if (!prev.ok()) return prev.status();
    absl::Status damaged = absl::OkStatus();
    auto s = ForEachRow(db, first, [&](const Row& row, bool ok) {
      if (row.seq != first) return false;  // The row starting at `first` is gone.
      if (!ok || row.entries.front().event_id != event_id) {
        // The indexes (seen, quarantine_index) are not hash-chained: never show another
        // event's entries under this id.
        damaged = absl::DataLossError(common::StrCat(
            "the ledger row at entry ", first, ok ? " belongs to another event" : " is damaged",
            "; the state was edited: run `loopgate ledger verify`"));
        return false;
      }
      for (size_t i = 0; i < row.entries.size(); ++i) {
        BuildEntry(row.entries[i], row.entries[i], row.seq + static_cast<int64_t>(i), *prev,
                   row.policy_version, &entry);
        out.push_back(entry);
        *prev = HexOf(std::string_view(row.hashes).substr(i * kHashBytes, kHashBytes));
      }
      return false;  // One row per event.
    });
    if (!s.ok()) return s;
    if (!damaged.ok()) return damaged;
  }
  return out;
}

}  // namespace loopgate::ledger
