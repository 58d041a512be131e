#include "ledger/ledger.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "common/line_reader.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"
#include "json/json.h"
#include "merkle/checkpoint.h"
#include "merkle/proof_file.h"
#include "merkle/prover.h"
#include "seen/seen.h"

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

// A consent scope: its list, or null when the event declared none.
void AppendScope(const std::vector<std::string_view>* scope, std::string* out) {
  if (scope == nullptr) {
    out->append("null");
  } else {
    AppendList(*scope, out);
  }
}

void AppendOptionalInt(const std::optional<int64_t>& v, std::string* out) {
  if (v) {
    common::StrAppend(out, *v);
  } else {
    out->append("null");
  }
}

// A release's facts as the entry's "release" object, members in sorted order (section 10).
void AppendReleaseObject(const ReleaseFacts& r, std::string* e) {
  e->append("{\"actor\":");
  json::AppendString(r.actor, e);
  common::StrAppend(e, ",\"cells_released\":", r.cells_released,
                    ",\"cells_suppressed_complementary\":", r.cells_suppressed_complementary,
                    ",\"cells_suppressed_primary\":", r.cells_suppressed_primary,
                    ",\"epsilon_nano\":");
  AppendOptionalInt(r.epsilon_nano, e);
  e->append(",\"k\":");
  AppendOptionalInt(r.k, e);
  common::StrAppend(e, ",\"mode\":\"", DisclosureModeName(r.mode), "\",\"policy_versions\":");
  AppendList(r.policy_versions, e);
  common::StrAppend(e, ",\"rows_read\":", r.rows_read, ",\"study\":");
  json::AppendString(r.study, e);
  e->append(",\"study_sha256\":");
  json::AppendString(r.study_sha256, e);
  e->push_back('}');
}

// The same facts in a row's release tuple: [actor, study, study_sha256, mode, epsilon_nano, k,
// cells_released, cells_suppressed_primary, cells_suppressed_complementary, rows_read,
// policy_versions].
void AppendReleaseTuple(const ReleaseFacts& r, std::string* b) {
  b->push_back('[');
  json::AppendString(r.actor, b);
  b->push_back(',');
  json::AppendString(r.study, b);
  b->push_back(',');
  json::AppendString(r.study_sha256, b);
  common::StrAppend(b, ",\"", DisclosureModeName(r.mode), "\",");
  AppendOptionalInt(r.epsilon_nano, b);
  b->push_back(',');
  AppendOptionalInt(r.k, b);
  common::StrAppend(b, ",", r.cells_released, ",", r.cells_suppressed_primary, ",",
                    r.cells_suppressed_complementary, ",", r.rows_read, ",");
  AppendList(r.policy_versions, b);
  b->push_back(']');
}

// The entry exactly as it is hashed and exported: canonical JSON (RFC 8785), members sorted,
// written in that order so no sort is needed (docs/ledger-format.md). The event's facts (id,
// type, source, time, line, run, consent scope) come from `ev`, the decision's from `f`.
void BuildEntry(const EntryFacts& ev, const EntryFacts& f, int64_t seq, std::string_view prev_hex,
                std::string_view policy_version, int version, std::string* e) {
  e->clear();
  e->append("{\"consent_ids\":");
  AppendList(f.consent_ids, e);
  e->append(",\"consent_scope\":");
  AppendScope(ev.consent_scope, e);
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
  if (f.release != nullptr) {  // Only release entries have this member (section 10).
    e->append(",\"release\":");
    AppendReleaseObject(*f.release, e);
  }
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
  common::StrAppend(e, ",\"v\":", version, "}");
}

// An event's facts as the JSON array's members, without its brackets:
//   event_id, type, source, time, line, run, consent_scope
void AppendFacts(const EntryFacts& ev, std::string* b) {
  AppendNullable(ev.event_id, b);
  b->push_back(',');
  AppendNullable(ev.type, b);
  b->push_back(',');
  AppendNullable(ev.source, b);
  b->push_back(',');
  AppendNullable(ev.time, b);
  common::StrAppend(b, ",", ev.line, ",", ev.run, ",");
  AppendScope(ev.consent_scope, b);
}

// One entry's decision as a JSON array:
//   [sink, decision, reason, detail, consent_ids, consent_versions, transforms, delivered]
// with a release's tuple as a ninth member for a release entry (section 10).
void AppendTuple(const EntryFacts& f, std::string* b) {
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
  if (f.release != nullptr) {
    b->push_back(',');
    AppendReleaseTuple(*f.release, b);
  }
  b->push_back(']');
}

// A stored row, "loopgate.ledger-row/v2" (docs/state.md): one line of rows.log per event, the
// event's facts once, then one positional tuple per entry.
//   [seq, policy, event_id, type, source, time, line, run, consent_scope,
//    [[sink, decision, reason, detail, consent_ids, consent_versions, transforms, delivered], ...]]
// A release row has one tuple, with its release tuple as a ninth member (section 10).
void BuildRowBody(int64_t seq, int64_t policy, const std::vector<EntryFacts>& entries,
                  std::string* b, RowSpans* spans) {
  b->clear();
  common::StrAppend(b, "[", seq, ",", policy, ",");
  spans->facts_begin = b->size();
  AppendFacts(entries.front(), b);
  spans->facts_end = b->size();
  b->append(",[");
  spans->tuples.clear();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) b->push_back(',');
    const size_t begin = b->size();
    AppendTuple(entries[i], b);
    spans->tuples.emplace_back(begin, b->size());
  }
  b->append("]]\n");
}

// ---- Entry hashes (docs/ledger-format.md section 5) ----

// v3: an entry's hash is SHA-256(0x00 || E || P || be64(seq) || T), the RFC 6962 leaf hash of
// that byte string, where
//   E = SHA-256("loopgate.ledger-event/v3" 0x00 policy_version 0x00 F), F the canonical JSON
//       array of the event's facts (AppendFacts), the same for every entry of the event;
//   P = the raw hash of the entry before (32 zero bytes before entry 1);
//   T = the canonical JSON array of the entry's decision (AppendTuple).
// So an event's facts are hashed once for all its entries, and each entry hashes only its own
// decision; every member of the v2 entry is still covered.
constexpr std::string_view kEventDomain("loopgate.ledger-event/v3\0", 25);

// Absorbs the prefix of every event digest under `policy_version`.
void StartEventDigest(std::string_view policy_version, crypto::Sha256Hasher* prefix) {
  prefix->Update(kEventDomain);
  prefix->Update(policy_version);
  prefix->Update(std::string_view("\0", 1));
}

crypto::Digest EventDigest(const crypto::Sha256Hasher& prefix, std::string_view facts,
                           crypto::Sha256Hasher& hasher) {
  hasher.Resume(prefix);
  hasher.Update("[");
  hasher.Update(facts);
  hasher.Update("]");
  return hasher.Finish();
}

// The same, for a reader that meets rows of many policy versions.
crypto::Digest EventDigest(std::string_view policy_version, std::string_view facts,
                           crypto::Sha256Hasher& hasher) {
  StartEventDigest(policy_version, &hasher);
  hasher.Update("[");
  hasher.Update(facts);
  hasher.Update("]");
  return hasher.Finish();
}

crypto::Digest LeafHashV3(crypto::Sha256Hasher& hasher, const crypto::Digest& event,
                          const crypto::Digest& prev, int64_t seq, std::string_view tuple) {
  char head[1 + 32 + 32 + 8];
  head[0] = '\0';
  std::memcpy(head + 1, event.data(), 32);
  std::memcpy(head + 33, prev.data(), 32);
  for (int i = 0; i < 8; ++i) {
    head[65 + i] = static_cast<char>((static_cast<uint64_t>(seq) >> (56 - 8 * i)) & 0xFF);
  }
  hasher.Update(std::string_view(head, sizeof(head)));
  hasher.Update(tuple);
  return hasher.Finish();
}

std::string HexOf(std::string_view bytes) { return common::HexEncode(bytes); }

// RFC 6962 leaf hash: SHA-256(0x00 || entry). It is also the entry's link in the chain.
crypto::Digest LeafHash(crypto::Sha256Hasher& hasher, std::string_view entry) {
  hasher.Update(std::string_view("\0", 1));
  hasher.Update(entry);
  return hasher.Finish();
}

// The ledger's files and their committed lengths.
struct Paths {
  std::string dir, rows, index, hashes, tree;
};

Paths PathsFor(const store::Database& db) {
  Paths p;
  p.dir = db.dir() + "/ledger";
  p.rows = p.dir + "/rows.log";
  p.index = p.dir + "/rows.idx";
  p.hashes = p.dir + "/hashes";
  p.tree = p.dir + "/tree";
  return p;
}

constexpr size_t kIndexRecord = 16;  // first seq, byte offset: two little-endian uint64.

void PutU64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

struct Committed {
  int64_t entries = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  std::string head;  // Hex; empty when nothing is committed.
  std::string root;  // The Merkle root, hex; empty when nothing is committed.
  std::string problem;  // A garbled meta value: a finding for verify.
  // The seq of the first entry hashed as v3 (section 5); 0 when no writer of v3 entries has
  // opened the ledger, so every entry is v2.
  int64_t v3_from = 0;

  int Version(int64_t seq) const { return v3_from > 0 && seq >= v3_from ? 3 : 2; }
};

absl::StatusOr<Committed> ReadCommitted(store::Database& db) {
  Committed c;
  auto number = [&](std::string_view key, std::string_view what, int64_t* out) -> absl::Status {
    ASSIGN_OR_RETURN(auto v, db.GetMeta(key));
    if (!v) return absl::OkStatus();
    const std::string& text = *v;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    if (ec != std::errc() || end != text.data() + text.size() || *out < 0) {
      if (c.problem.empty()) {
        c.problem = common::StrCat("the committed ledger ", what, " in the state is not a "
                                   "number (edited)");
      }
      *out = 0;
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(number("ledger_size", "size", &c.entries));
  RETURN_IF_ERROR(number("ledger_rows", "row count", &c.rows));
  RETURN_IF_ERROR(number("ledger_bytes", "length", &c.bytes));
  RETURN_IF_ERROR(number("ledger_v3_from", "v3 boundary (ledger_v3_from)", &c.v3_from));
  ASSIGN_OR_RETURN(auto head, db.GetMeta("ledger_head"));
  if (head) c.head = *head;
  ASSIGN_OR_RETURN(auto root, db.GetMeta("ledger_root"));
  if (root) c.root = *root;
  return c;
}

// A read-only view of the committed ledger. Open it inside a read transaction, so the lengths
// and the policies it reads belong to one snapshot; the files only ever grow past them (a
// writer cuts back only what was never committed).
class Reader {
 public:
  static absl::StatusOr<std::unique_ptr<Reader>> Open(store::Database& db) {
    std::unique_ptr<Reader> r(new Reader);
    r->paths_ = PathsFor(db);
    ASSIGN_OR_RETURN(r->committed_, ReadCommitted(db));
    ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT id, version FROM policies"));
    while (true) {
      ASSIGN_OR_RETURN(bool more, q.Step());
      if (!more) break;
      r->policies_[q.Int(0)] = std::string(q.Text(1));
    }
    for (auto [path, fd] : {std::pair{&r->paths_.rows, &r->rows_fd_},
                            std::pair{&r->paths_.index, &r->index_fd_},
                            std::pair{&r->paths_.hashes, &r->hashes_fd_}}) {
      *fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
      if (*fd < 0 && errno != ENOENT) {
        return absl::InternalError(common::StrCat("cannot open ", *path, ": ",
                                                  std::strerror(errno)));
      }
    }
    return r;
  }
  ~Reader() {
    for (int fd : {rows_fd_, index_fd_, hashes_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  const Committed& committed() const { return committed_; }
  const Paths& paths() const { return paths_; }
  int rows_fd() const { return rows_fd_; }

  // The policy version a row cites; empty when unknown.
  std::string_view Policy(int64_t id) const {
    auto it = policies_.find(id);
    return it == policies_.end() ? std::string_view() : std::string_view(it->second);
  }

  // The stored hashes of entries [first, first + count), raw, appended to `out`.
  absl::Status Hashes(int64_t first, size_t count, std::string* out) const {
    if (hashes_fd_ < 0) return absl::DataLossError(common::StrCat(paths_.hashes, " is missing"));
    std::string buf;
    RETURN_IF_ERROR(common::ReadAt(hashes_fd_, (first - 1) * static_cast<int64_t>(kHashBytes),
                                   count * kHashBytes, paths_.hashes, &buf));
    out->append(buf);
    return absl::OkStatus();
  }

  // Index record `row` (0-based): the row's first seq and byte offset.
  absl::Status IndexRecord(int64_t row, uint64_t* seq, uint64_t* offset) const {
    if (index_fd_ < 0) return absl::DataLossError(common::StrCat(paths_.index, " is missing"));
    std::string buf;
    RETURN_IF_ERROR(common::ReadAt(index_fd_, row * static_cast<int64_t>(kIndexRecord),
                                   kIndexRecord, paths_.index, &buf));
    *seq = GetU64(buf.data());
    *offset = GetU64(buf.data() + 8);
    return absl::OkStatus();
  }

  // The byte offset of the committed row whose first entry is `seq`; nullopt when no row
  // starts there.
  absl::StatusOr<std::optional<uint64_t>> FindRow(int64_t seq) const {
    int64_t lo = 0, hi = committed_.rows;  // Binary search over the sorted index.
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      uint64_t first = 0, offset = 0;
      RETURN_IF_ERROR(IndexRecord(mid, &first, &offset));
      if (static_cast<int64_t>(first) == seq) return std::optional<uint64_t>(offset);
      if (static_cast<int64_t>(first) < seq) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return std::optional<uint64_t>();
  }

  // The committed row line at `offset`, without its newline.
  absl::StatusOr<std::string> RowAt(uint64_t offset) const {
    if (rows_fd_ < 0) return absl::DataLossError(common::StrCat(paths_.rows, " is missing"));
    std::string line, chunk;
    int64_t at = static_cast<int64_t>(offset);
    while (at < committed_.bytes) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(4096, committed_.bytes - at));
      RETURN_IF_ERROR(common::ReadAt(rows_fd_, at, want, paths_.rows, &chunk));
      const size_t nl = chunk.find('\n');
      if (nl != std::string::npos) {
        line.append(chunk, 0, nl);
        return line;
      }
      line.append(chunk);
      at += static_cast<int64_t>(want);
    }
    return absl::DataLossError(common::StrCat("the ledger row at byte ", offset, " of ",
                                              paths_.rows, " is cut short"));
  }

 private:
  Reader() = default;
  Paths paths_;
  Committed committed_;
  std::map<int64_t, std::string> policies_;
  int rows_fd_ = -1, index_fd_ = -1, hashes_fd_ = -1;
};

// One stored row read back: its entries' facts (views into the parser's DOM).
struct Row {
  int64_t seq = 0;
  int64_t policy = 0;
  std::vector<EntryFacts> entries;
  ReleaseFacts release;  // A release row's (its one entry points here).
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

bool NonNegative(simdjson::dom::element e, int64_t* out) {
  return e.get_int64().get(*out) == simdjson::SUCCESS && *out >= 0;
}

bool OptionalNonNegative(simdjson::dom::element e, std::optional<int64_t>* out) {
  if (e.is_null()) {
    out->reset();
    return true;
  }
  int64_t v = 0;
  if (!NonNegative(e, &v)) return false;
  *out = v;
  return true;
}

// The outcome OutcomeName names; false for any other text.
bool ParseOutcome(std::string_view name, Outcome* out) {
  for (Outcome o : {Outcome::kAllow, Outcome::kDeny, Outcome::kQuarantine, Outcome::kRelease}) {
    if (name == OutcomeName(o)) {
      *out = o;
      return true;
    }
  }
  return false;
}

// The mode DisclosureModeName names; false for any other text.
bool ParseDisclosureMode(std::string_view name, DisclosureMode* out) {
  for (DisclosureMode m : {DisclosureMode::kSuppression, DisclosureMode::kDifferentialPrivacy}) {
    if (name == DisclosureModeName(m)) {
      *out = m;
      return true;
    }
  }
  return false;
}

// Parses a release tuple (BuildRowBody) into `r`. False when it is not one.
bool ParseReleaseTuple(simdjson::dom::element e, ReleaseFacts* r) {
  simdjson::dom::array t;
  if (e.get_array().get(t) != simdjson::SUCCESS || t.size() != 11) return false;
  std::string_view mode;
  if (t.at(0).get_string().get(r->actor) != simdjson::SUCCESS ||
      t.at(1).get_string().get(r->study) != simdjson::SUCCESS ||
      t.at(2).get_string().get(r->study_sha256) != simdjson::SUCCESS ||
      t.at(3).get_string().get(mode) != simdjson::SUCCESS ||
      !OptionalNonNegative(t.at(4).value_unsafe(), &r->epsilon_nano) ||
      !OptionalNonNegative(t.at(5).value_unsafe(), &r->k) ||
      !NonNegative(t.at(6).value_unsafe(), &r->cells_released) ||
      !NonNegative(t.at(7).value_unsafe(), &r->cells_suppressed_primary) ||
      !NonNegative(t.at(8).value_unsafe(), &r->cells_suppressed_complementary) ||
      !NonNegative(t.at(9).value_unsafe(), &r->rows_read) ||
      !StringList(t.at(10).value_unsafe(), &r->policy_versions)) {
    return false;
  }
  return ParseDisclosureMode(mode, &r->mode);
}

// Parses a row line. False when it is not a well-formed row.
bool ParseRow(simdjson::dom::parser& parser, std::string_view body, Row* row) {
  simdjson::dom::array top;
  if (parser.parse(body.data(), body.size()).get_array().get(top) != simdjson::SUCCESS ||
      top.size() != 10) {
    return false;
  }
  EntryFacts shared;
  uint64_t line = 0;
  int64_t run = 0;
  simdjson::dom::array tuples;
  if (top.at(0).get_int64().get(row->seq) != simdjson::SUCCESS || row->seq < 1 ||
      top.at(1).get_int64().get(row->policy) != simdjson::SUCCESS ||
      !StringOrNull(top.at(2).value_unsafe(), &shared.event_id) ||
      !StringOrNull(top.at(3).value_unsafe(), &shared.type) ||
      !StringOrNull(top.at(4).value_unsafe(), &shared.source) ||
      !StringOrNull(top.at(5).value_unsafe(), &shared.time) ||
      top.at(6).get_uint64().get(line) != simdjson::SUCCESS ||
      top.at(7).get_int64().get(run) != simdjson::SUCCESS ||
      top.at(9).get_array().get(tuples) != simdjson::SUCCESS || tuples.size() == 0) {
    return false;
  }
  shared.line = line;
  shared.run = run;
  row->has_scope = !top.at(8).value_unsafe().is_null();
  if (row->has_scope && !StringList(top.at(8).value_unsafe(), &row->scope)) return false;
  const size_t count = tuples.size();
  row->entries.assign(count, shared);
  row->lists.assign(count * 3, {});
  size_t i = 0;
  for (auto tuple : tuples) {
    simdjson::dom::array t;
    if (tuple.get_array().get(t) != simdjson::SUCCESS || (t.size() != 8 && t.size() != 9)) {
      return false;
    }
    EntryFacts& f = row->entries[i];
    f.consent_scope = row->has_scope ? &row->scope : nullptr;
    f.release = nullptr;
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
    if (!ParseOutcome(decision, &f.outcome)) return false;
    // A release is a row of one tuple, the only kind with a ninth member: its release tuple.
    if ((f.outcome == Outcome::kRelease) != (t.size() == 9)) return false;
    if (t.size() == 9) {
      if (count != 1 || !ParseReleaseTuple(t.at(8).value_unsafe(), &row->release)) return false;
      f.release = &row->release;
    }
    f.consent_ids = row->lists[3 * i];
    f.consent_versions = row->lists[3 * i + 1];
    f.transforms = row->lists[3 * i + 2];
    ++i;
  }
  return true;
}

// How a row read sequentially relates to what the ledger should hold there.
enum class RowState : uint8_t {
  kOk,
  kDamaged,  // Does not parse.
};

// Walks the committed rows in file order, handing each to `fn(row, state, offset)`. Stops when
// `fn` returns false, at the committed length, or where the file ends or a row crosses the
// committed length (then *consumed < committed). The row's views are valid during the call only.
template <typename Fn>
absl::Status ForEachRow(const Reader& reader, int64_t* consumed, Fn fn) {
  const int64_t limit = reader.committed().bytes;
  *consumed = 0;
  if (limit == 0 || reader.rows_fd() < 0) return absl::OkStatus();
  if (::lseek(reader.rows_fd(), 0, SEEK_SET) < 0) {
    return absl::InternalError(common::StrCat("cannot seek in ", reader.paths().rows));
  }
  struct stat st;
  if (::fstat(reader.rows_fd(), &st) != 0) {
    return absl::InternalError(common::StrCat("cannot stat ", reader.paths().rows));
  }
  common::LineReader lines(reader.rows_fd(), size_t{1} << 26);
  common::Line line;
  simdjson::dom::parser parser;
  Row row;
  while (*consumed < limit) {
    ASSIGN_OR_RETURN(bool more, lines.Next(&line));
    if (!more) break;
    const int64_t next = *consumed + static_cast<int64_t>(line.length) + 1;
    // Past the committed length, or a last line without its newline: the file was cut there.
    if (next > limit || next > st.st_size) break;
    const RowState state = !line.oversized && ParseRow(parser, line.text, &row)
                               ? RowState::kOk
                               : RowState::kDamaged;
    if (!fn(row, state, *consumed)) return absl::OkStatus();
    *consumed = next;
  }
  return absl::OkStatus();
}

// Rebuilds the entries of `row` with the stored hashes `hashes` (raw, one per entry) and
// `prev` (hex: the stored hash of the entry before the row), handing each to `fn`.
template <typename Fn>
void ForEachRowEntry(const Reader& reader, const Row& row, std::string_view hashes,
                     std::string* prev, std::string* entry, Fn fn) {
  const std::string_view policy = reader.Policy(row.policy);
  for (size_t i = 0; i < row.entries.size(); ++i) {
    const int64_t seq = row.seq + static_cast<int64_t>(i);
    BuildEntry(row.entries[i], row.entries[i], seq, *prev, policy,
               reader.committed().Version(seq), entry);
    const std::string stored = HexOf(hashes.substr(i * kHashBytes, kHashBytes));
    fn(row.seq + static_cast<int64_t>(i), row.entries[i], policy, stored);
    *prev = stored;
  }
}

// Runs `fn` inside one read transaction, so every read sees one snapshot.
template <typename Fn>
auto InSnapshot(store::Database& db, Fn fn) -> decltype(fn()) {
  if (auto s = db.Exec("BEGIN"); !s.ok()) return s;
  auto result = fn();
  (void)db.Exec("COMMIT");
  return result;
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kAllow: return "allow";
    case Outcome::kDeny: return "deny";
    case Outcome::kQuarantine: return "quarantine";
    case Outcome::kRelease: return "release";
  }
  return "deny";
}

std::string_view DisclosureModeName(DisclosureMode mode) {
  switch (mode) {
    case DisclosureMode::kSuppression: return "suppression";
    case DisclosureMode::kDifferentialPrivacy: return "differential_privacy";
  }
  return "suppression";
}

std::string GenesisHash() { return std::string(64, '0'); }

absl::StatusOr<std::unique_ptr<Writer>> Writer::Open(store::Database& db,
                                                     std::string policy_version) {
  if (policy_version.empty()) {
    return absl::InvalidArgumentError("a ledger writer needs the catalog's policy version");
  }
  std::unique_ptr<Writer> w(new Writer(db, std::move(policy_version)));
  ASSIGN_OR_RETURN(Committed c, ReadCommitted(db));
  if (!c.problem.empty()) {
    return absl::DataLossError(common::StrCat(c.problem, "; run `loopgate ledger verify`"));
  }
  const Paths paths = PathsFor(db);
  std::error_code ec;
  std::filesystem::create_directories(paths.dir, ec);
  auto open = [](const std::string& path, int64_t committed,
                 std::unique_ptr<common::AppendFile>* out) -> absl::Status {
    auto f = common::AppendFile::Open(path, committed);
    if (!f.ok()) {
      return absl::Status(f.status().code(), common::StrCat(std::string(f.status().message()),
                                                            "; run `loopgate ledger verify`"));
    }
    *out = std::move(*f);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(open(paths.rows, c.bytes, &w->rows_));
  RETURN_IF_ERROR(open(paths.index, c.rows * static_cast<int64_t>(kIndexRecord), &w->index_));
  RETURN_IF_ERROR(open(paths.hashes, c.entries * static_cast<int64_t>(kHashBytes), &w->hashes_));
  ASSIGN_OR_RETURN(w->nodes_, merkle::FileNodeStore::Open(paths.tree));
  if (auto st = w->nodes_->Truncate(static_cast<uint64_t>(c.entries)); !st.ok()) {
    return absl::Status(st.code(), common::StrCat(std::string(st.message()),
                                                  "; run `loopgate ledger verify`"));
  }
  ASSIGN_OR_RETURN(w->range_, merkle::RangeFromNodes(*w->nodes_, static_cast<uint64_t>(c.entries)));
  if (c.entries > 0 && merkle::HashHex(w->range_.Root()) != c.root) {
    return absl::DataLossError("the ledger's Merkle tree (ledger/tree) does not have the "
                               "committed root; run `loopgate ledger verify`");
  }
  w->seq_ = c.entries;
  w->row_count_ = c.rows;
  if (c.entries > 0) {
    const int fd = ::open(paths.hashes.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::InternalError(common::StrCat("cannot open ", paths.hashes));
    std::string last;
    const absl::Status read =
        common::ReadAt(fd, (c.entries - 1) * static_cast<int64_t>(kHashBytes), kHashBytes,
                       paths.hashes, &last);
    ::close(fd);
    RETURN_IF_ERROR(read);
    std::memcpy(w->head_.data(), last.data(), kHashBytes);
    if (HexOf(last) != c.head) {
      return absl::DataLossError("the ledger's last hash differs from the committed head; run "
                                 "`loopgate ledger verify`");
    }
  }
  ASSIGN_OR_RETURN(auto add,
                   db.Prepare("INSERT INTO policies (version) VALUES (?) ON CONFLICT DO NOTHING"));
  add.Bind(1, w->policy_version_);
  RETURN_IF_ERROR(add.Run());
  ASSIGN_OR_RETURN(auto id, db.Prepare("SELECT id FROM policies WHERE version = ?"));
  id.Bind(1, w->policy_version_);
  ASSIGN_OR_RETURN(bool found, id.Step());
  if (!found) return absl::InternalError("the policy version was not registered");
  w->policy_id_ = id.Int(0);
  StartEventDigest(w->policy_version_, &w->event_prefix_);
  // Entries from here on are hashed as v3. A ledger begun by an earlier Loopgate keeps its v2
  // entries (section 5): the boundary is recorded before any v3 entry can commit.
  if (c.v3_from == 0) RETURN_IF_ERROR(db.SetMeta("ledger_v3_from", std::to_string(c.entries + 1)));
  return w;
}

absl::StatusOr<int64_t> Writer::AppendEvent(const std::vector<EntryFacts>& entries) {
  if (entries.empty()) return absl::InvalidArgumentError("a ledger row needs an entry");
  for (const EntryFacts& f : entries) {
    if ((f.outcome == Outcome::kRelease) != (f.release != nullptr) ||
        (f.release != nullptr && entries.size() != 1)) {
      return absl::InvalidArgumentError(
          "a release entry carries its ReleaseFacts and is a ledger row of its own");
    }
  }
  const int64_t first = seq_ + 1;
  hash_bytes_.clear();
  BuildRowBody(first, policy_id_, entries, &body_, &spans_);
  const std::string_view row(body_);
  // v3 (section 5): the event's facts are hashed once, each entry's decision once.
  const crypto::Digest event = EventDigest(
      event_prefix_, row.substr(spans_.facts_begin, spans_.facts_end - spans_.facts_begin),
      hasher_);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto [begin, end] = spans_.tuples[i];
    const crypto::Digest d = LeafHashV3(hasher_, event, head_, first + static_cast<int64_t>(i),
                                        row.substr(begin, end - begin));
    RETURN_IF_ERROR(merkle::AppendLeaf(range_, *nodes_, d));
    hash_bytes_.append(reinterpret_cast<const char*>(d.data()), d.size());
    head_ = d;
  }
  index_record_.clear();
  PutU64(static_cast<uint64_t>(first), &index_record_);
  PutU64(static_cast<uint64_t>(rows_->end()), &index_record_);
  index_->Append(index_record_);
  rows_->Append(body_);
  hashes_->Append(hash_bytes_);
  ++row_count_;
  seq_ = first + static_cast<int64_t>(entries.size()) - 1;
  return first;
}

absl::StatusOr<int64_t> Writer::Append(const EntryFacts& facts) {
  single_.assign(1, facts);
  return AppendEvent(single_);
}

absl::Status Writer::Flush() {
  absl::Status index_status, hashes_status, nodes_status;
  std::thread index([&] { index_status = index_->Flush(); });
  std::thread hashes([&] { hashes_status = hashes_->Flush(); });
  std::thread nodes([&] { nodes_status = nodes_->Sync(); });
  absl::Status rows_status = rows_->Flush();
  index.join();
  hashes.join();
  nodes.join();
  RETURN_IF_ERROR(rows_status);
  RETURN_IF_ERROR(index_status);
  RETURN_IF_ERROR(nodes_status);
  return hashes_status;
}

std::string Writer::root_hash() const { return merkle::HashHex(range_.Root()); }

std::string Writer::head_hash() const { return seq_ == 0 ? GenesisHash() : crypto::ToHex(head_); }

absl::Status Writer::SaveHead() {
  if (rows_->end() != rows_->position() || hashes_->end() != hashes_->position()) {
    return absl::FailedPreconditionError("ledger entries were not flushed before SaveHead");
  }
  RETURN_IF_ERROR(db_.SetMeta("ledger_size", std::to_string(seq_)));
  RETURN_IF_ERROR(db_.SetMeta("ledger_rows", std::to_string(row_count_)));
  RETURN_IF_ERROR(db_.SetMeta("ledger_bytes", std::to_string(rows_->position())));
  RETURN_IF_ERROR(db_.SetMeta("ledger_root", root_hash()));
  return db_.SetMeta("ledger_head", head_hash());
}

namespace {

// A stored checkpoint, as verify checks it.
struct StoredCheckpoint {
  int64_t id = 0;
  int64_t tree_size = 0;  // As the table says; the text must agree.
  std::string text;
};

absl::StatusOr<std::vector<StoredCheckpoint>> ReadCheckpoints(store::Database& db) {
  std::vector<StoredCheckpoint> out;
  ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT id, tree_size, text FROM checkpoints "
                                      "ORDER BY tree_size, id"));
  while (true) {
    ASSIGN_OR_RETURN(bool more, q.Step());
    if (!more) break;
    out.push_back({q.Int(0), q.Int(1), std::string(q.Text(2))});
  }
  return out;
}

// Checks one checkpoint's signature and root against `root` (the tree at its size). Empty when
// it holds, otherwise the problem.
std::string CheckCheckpoint(store::Database& db, const StoredCheckpoint& cp,
                            const merkle::Hash& root, const crypto::Ed25519PublicKey* pinned) {
  const std::string name = common::StrCat("checkpoint ", cp.id, " (", cp.tree_size, " entries)");
  auto parsed = merkle::ParseSignedCheckpoint(cp.text);
  if (!parsed.ok()) {
    return common::StrCat(name, " does not parse: ", std::string(parsed.status().message()));
  }
  if (static_cast<int64_t>(parsed->checkpoint.tree_size) != cp.tree_size) {
    return common::StrCat(name, " signs another tree size (edited)");
  }
  std::optional<crypto::Ed25519PublicKey> key;
  if (pinned != nullptr) {
    key = *pinned;
  } else {
    auto q = db.Prepare("SELECT public_pem FROM signing_keys WHERE key_id = ?");
    if (q.ok()) {
      q->Bind(1, parsed->checkpoint.key_id);
      auto found = q->Step();
      if (found.ok() && *found) {
        auto k = crypto::Ed25519PublicKey::FromPem(q->Text(0));
        if (k.ok()) key = *k;
      }
    }
    if (!key) {
      return common::StrCat(name, " is signed by key ", parsed->checkpoint.key_id,
                            ", which the state does not hold; check it with --public-key");
    }
  }
  if (auto v = merkle::VerifySignedCheckpoint(cp.text, *key); !v.ok()) {
    return common::StrCat(name, ": ", std::string(v.status().message()));
  }
  if (parsed->checkpoint.root != root) {
    return common::StrCat(name, " signs root ", merkle::HashHex(parsed->checkpoint.root),
                          " but the ledger's first ", cp.tree_size, " entries have root ",
                          merkle::HashHex(root), " (entries rewritten after it was signed)");
  }
  return "";
}

absl::StatusOr<VerifyReport> VerifySnapshot(store::Database& db,
                                            const crypto::Ed25519PublicKey* pinned) {
  VerifyReport report;
  ASSIGN_OR_RETURN(auto reader, Reader::Open(db));
  const Committed& c = reader->committed();
  auto fail = [&](int64_t seq, std::string problem) {
    report.first_bad_seq = std::max<int64_t>(seq, 1);
    report.problem = std::move(problem);
    return report;
  };
  ASSIGN_OR_RETURN(std::vector<StoredCheckpoint> checkpoints, ReadCheckpoints(db));
  size_t next_checkpoint = 0;
  merkle::CompactRange range;
  // Checks the checkpoints of the tree's current size; false on the first that fails.
  std::optional<std::pair<int64_t, std::string>> bad;
  auto check_checkpoints = [&]() {
    while (next_checkpoint < checkpoints.size() &&
           checkpoints[next_checkpoint].tree_size <= static_cast<int64_t>(range.size())) {
      const StoredCheckpoint& cp = checkpoints[next_checkpoint++];
      const std::string problem = CheckCheckpoint(db, cp, range.Root(), pinned);
      if (!problem.empty()) {
        bad.emplace(cp.tree_size, problem);
        return false;
      }
      ++report.checkpoints;
    }
    return true;
  };
  check_checkpoints();  // Checkpoints of the empty tree.
  std::string prev = GenesisHash();  // The stored hash of the entry before the current one.
  int64_t expected = 1, rows = 0, consumed = 0;
  std::string entry, hashes, facts, tuple;
  crypto::Digest prev_raw{}, event{};
  crypto::Sha256Hasher hasher;
  // Entry i of `row` rebuilt and hashed by its format's rule (section 5); `prev` and
  // `prev_raw` hold the stored hash before it.
  auto hash_entry = [&](const Row& row, size_t i, int64_t seq, std::string_view policy) {
    if (c.Version(seq) == 2) {
      BuildEntry(row.entries[i], row.entries[i], seq, prev, policy, 2, &entry);
      return LeafHash(hasher, entry);
    }
    if (i == 0) {  // A row is all of one format: v3 begins where a writer opened the ledger.
      facts.clear();
      AppendFacts(row.entries[0], &facts);
      event = EventDigest(policy, facts, hasher);
    }
    tuple.clear();
    AppendTuple(row.entries[i], &tuple);
    return LeafHashV3(hasher, event, prev_raw, seq, tuple);
  };
  auto s = ForEachRow(*reader, &consumed, [&](const Row& row, RowState state, int64_t offset) {
    if (bad) return false;
    if (state == RowState::kDamaged) {
      bad.emplace(expected, common::StrCat("entry ", expected, " is stored damaged (its row "
                                           "does not parse)"));
      return false;
    }
    if (row.seq != expected) {
      bad.emplace(expected, row.seq > expected
                                ? common::StrCat("entry ", expected, " is missing (deleted); "
                                                 "the next stored entry is ", row.seq)
                                : common::StrCat("entry ", expected, " is stored out of order "
                                                 "(a row starting at entry ", row.seq,
                                                 " overlaps the entries before it)"));
      return false;
    }
    uint64_t indexed_seq = 0, indexed_offset = 0;
    if (rows >= c.rows || !reader->IndexRecord(rows, &indexed_seq, &indexed_offset).ok() ||
        static_cast<int64_t>(indexed_seq) != row.seq ||
        static_cast<int64_t>(indexed_offset) != offset) {
      bad.emplace(row.seq, common::StrCat("the row index disagrees with the rows at entry ",
                                          row.seq, " (edited)"));
      return false;
    }
    const std::string_view policy = reader->Policy(row.policy);
    if (policy.empty()) {
      bad.emplace(row.seq, common::StrCat("entry ", row.seq, " cites a policy the state does "
                                          "not hold (edited)"));
      return false;
    }
    const int64_t n = static_cast<int64_t>(row.entries.size());
    hashes.clear();
    if (!reader->Hashes(row.seq, row.entries.size(), &hashes).ok()) {
      bad.emplace(row.seq, common::StrCat("the stored hashes end before entry ", row.seq,
                                          " (the hashes file was cut short)"));
      return false;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t seq = row.seq + i;
      const std::string_view stored(hashes.data() + i * kHashBytes, kHashBytes);
      const crypto::Digest d = hash_entry(row, static_cast<size_t>(i), seq, policy);
      if (std::string_view(reinterpret_cast<const char*>(d.data()), d.size()) != stored) {
        bad.emplace(seq, common::StrCat(
                             "entry ", seq, " was modified, or does not link to entry ", seq - 1,
                             " (its hash does not match its content and the hash before it)"));
        return false;
      }
      prev = HexOf(stored);
      std::memcpy(prev_raw.data(), stored.data(), kHashBytes);
      ++report.entries;
      range.Append(d);
      if (!check_checkpoints()) return false;
    }
    ++rows;
    expected = row.seq + n;
    return true;
  });
  RETURN_IF_ERROR(s);
  if (bad) return fail(bad->first, std::move(bad->second));
  if (!c.problem.empty()) return fail(report.entries, c.problem);
  if (report.entries != c.entries) {
    return fail(std::min(c.entries, report.entries) + 1,
                common::StrCat("the ledger holds ", report.entries, " entries but ", c.entries,
                               " were committed (entries at the end were ",
                               c.entries > report.entries ? "deleted" : "appended outside Loopgate",
                               ")"));
  }
  if (rows != c.rows || consumed != c.bytes) {
    return fail(report.entries, common::StrCat("the ledger's rows end at byte ", consumed,
                                               " of rows.log, row ", rows, ", but byte ", c.bytes,
                                               ", row ", c.rows, " was committed (edited)"));
  }
  if (c.entries > 0 && c.head != prev) {
    return fail(c.entries, "the last entry's hash differs from the committed head");
  }
  const std::string root = merkle::HashHex(range.Root());
  if (c.entries > 0 && c.root != root) {
    return fail(c.entries, "the Merkle root of the entries differs from the committed root");
  }
  if (next_checkpoint < checkpoints.size()) {
    const StoredCheckpoint& cp = checkpoints[next_checkpoint];
    return fail(c.entries + 1, common::StrCat("checkpoint ", cp.id, " signs ", cp.tree_size,
                                              " entries but the ledger holds ", c.entries,
                                              " (entries at the end were deleted)"));
  }
  // The stored perfect subtrees that proofs are built from must give the same root.
  if (c.entries > 0) {
    auto nodes = merkle::FileNodeStore::Open(reader->paths().tree);
    absl::StatusOr<merkle::Hash> stored_root =
        nodes.ok() ? merkle::RootAt(**nodes, static_cast<uint64_t>(c.entries))
                   : absl::StatusOr<merkle::Hash>(nodes.status());
    if (!stored_root.ok() || merkle::HashHex(*stored_root) != root) {
      return fail(c.entries, "the stored Merkle tree (ledger/tree) does not match the entries "
                             "(edited or cut short): proofs built from it would not verify");
    }
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(reader->paths().rows, ec);
  if (!ec && static_cast<int64_t>(size) > c.bytes) {
    report.uncommitted_bytes = static_cast<int64_t>(size) - c.bytes;
  }
  report.head_hash = prev;
  report.root_hash = root;
  return report;
}

}  // namespace

absl::StatusOr<VerifyReport> Verify(store::Database& db, const crypto::Ed25519PublicKey* pinned) {
  // One read transaction: committed lengths and policies from one snapshot, so a run
  // committing meanwhile is never mistaken for tampering.
  return InSnapshot(db, [&] { return VerifySnapshot(db, pinned); });
}

absl::Status ForEachEntry(store::Database& db,
                          const std::function<absl::Status(const StoredEntry&)>& fn, Read read) {
  return InSnapshot(db, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto reader, Reader::Open(db));
    if (!reader->committed().problem.empty()) {
      return absl::DataLossError(common::StrCat(reader->committed().problem,
                                                "; run `loopgate ledger verify`"));
    }
    std::string prev = GenesisHash(), entry, hashes;
    absl::Status result = absl::OkStatus();
    int64_t expected = 1, consumed = 0;
    RETURN_IF_ERROR(ForEachRow(*reader, &consumed, [&](const Row& row, RowState state, int64_t) {
      if (state != RowState::kOk || row.seq != expected) {
        result = absl::DataLossError(common::StrCat(
            "the ledger row at entry ", expected, " is damaged; run `loopgate ledger verify`"));
        return false;
      }
      if (read == Read::kFacts) {
        const std::string_view policy = reader->Policy(row.policy);
        for (size_t i = 0; i < row.entries.size() && result.ok(); ++i) {
          result = fn(StoredEntry{row.seq + static_cast<int64_t>(i), policy, row.entries[i], {},
                                  {}});
        }
        expected = row.seq + static_cast<int64_t>(row.entries.size());
        return result.ok();
      }
      hashes.clear();
      if (!reader->Hashes(row.seq, row.entries.size(), &hashes).ok()) {
        result = absl::DataLossError(common::StrCat("the stored hashes end before entry ",
                                                    row.seq, "; run `loopgate ledger verify`"));
        return false;
      }
      ForEachRowEntry(*reader, row, hashes, &prev, &entry,
                      [&](int64_t seq, const EntryFacts& facts, std::string_view policy,
                          const std::string& hash) {
                        if (!result.ok()) return;
                        result = fn(StoredEntry{seq, policy, facts, entry, hash});
                      });
      expected = row.seq + static_cast<int64_t>(row.entries.size());
      return result.ok();
    }));
    return result;
  });
}

absl::Status Export(store::Database& db, std::FILE* out) {
  // Each entry as stored: prev_hash is the stored hash of the entry before it and "hash" its
  // own stored hash, so an export of a damaged ledger fails an outside verification too.
  std::string line;
  return ForEachEntry(db, [&](const StoredEntry& e) -> absl::Status {
    line.assign(e.text, 0, e.text.size() - 1);
    common::StrAppend(&line, ",\"hash\":\"", e.hash, "\"}\n");
    if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) {
      return absl::InternalError("writing the export failed");
    }
    return absl::OkStatus();
  });
}

namespace {

// A release entry's "release" object (AppendReleaseObject) into `r`. False when it is not one.
bool ParseReleaseObject(simdjson::dom::element e, ReleaseFacts* r) {
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return false;
  std::string_view mode;
  if (o["actor"].get_string().get(r->actor) != simdjson::SUCCESS ||
      o["study"].get_string().get(r->study) != simdjson::SUCCESS ||
      o["study_sha256"].get_string().get(r->study_sha256) != simdjson::SUCCESS ||
      o["mode"].get_string().get(mode) != simdjson::SUCCESS ||
      o["epsilon_nano"].error() || o["k"].error() || o["policy_versions"].error() ||
      !OptionalNonNegative(o["epsilon_nano"].value_unsafe(), &r->epsilon_nano) ||
      !OptionalNonNegative(o["k"].value_unsafe(), &r->k) ||
      o["cells_released"].get_int64().get(r->cells_released) != simdjson::SUCCESS ||
      o["cells_suppressed_primary"].get_int64().get(r->cells_suppressed_primary) !=
          simdjson::SUCCESS ||
      o["cells_suppressed_complementary"].get_int64().get(r->cells_suppressed_complementary) !=
          simdjson::SUCCESS ||
      o["rows_read"].get_int64().get(r->rows_read) != simdjson::SUCCESS ||
      !StringList(o["policy_versions"].value_unsafe(), &r->policy_versions)) {
    return false;
  }
  return ParseDisclosureMode(mode, &r->mode);
}

}  // namespace

absl::StatusOr<crypto::Digest> EntryHash(std::string_view text) {
  auto not_entry = [](std::string_view why) {
    return absl::InvalidArgumentError(common::StrCat("the entry is not a ", why));
  };
  json::StrictParser parser;
  std::string canonical;
  auto parsed = parser.ParseCopy(text, &canonical);
  simdjson::dom::object o;
  if (!parsed.ok() || parsed->get_object().get(o) != simdjson::SUCCESS) {
    return not_entry("JSON object");
  }
  int64_t v = 0;
  if (o["v"].get_int64().get(v) != simdjson::SUCCESS || (v != 2 && v != 3)) {
    return not_entry("loopgate.ledger/v2 or v3 entry (its \"v\" is not 2 or 3)");
  }
  crypto::Sha256Hasher hasher;
  if (v == 2) return LeafHash(hasher, text);  // v2 hashes the text itself.
  // v3 hashes the entry's members (section 5): read them, and accept the text only when it is
  // exactly the entry they make, so no other text can claim the same hash.
  EntryFacts f;
  ReleaseFacts release;
  std::vector<std::string_view> ids, versions, transforms, scope;
  std::string_view decision, policy, prev_hex;
  int64_t seq = 0;
  bool has_scope = false;
  auto member = [&](std::string_view name) {
    simdjson::dom::element e;
    return o[name].get(e) == simdjson::SUCCESS ? std::optional(e) : std::nullopt;
  };
  auto string_or_null = [&](std::string_view name, std::string_view* out) {
    auto e = member(name);
    return e && StringOrNull(*e, out);
  };
  auto list = [&](std::string_view name, std::vector<std::string_view>* out) {
    auto e = member(name);
    return e && StringList(*e, out);
  };
  auto scope_member = member("consent_scope");
  bool ok = scope_member.has_value() && string_or_null("event_id", &f.event_id) &&
            string_or_null("type", &f.type) && string_or_null("source", &f.source) &&
            string_or_null("time", &f.time) && string_or_null("sink", &f.sink) &&
            string_or_null("reason", &f.reason) && string_or_null("detail", &f.detail) &&
            string_or_null("delivered", &f.delivered) && list("consent_ids", &ids) &&
            list("consent_versions", &versions) && list("transforms", &transforms) &&
            o["decision"].get_string().get(decision) == simdjson::SUCCESS &&
            o["policy_version"].get_string().get(policy) == simdjson::SUCCESS &&
            o["prev_hash"].get_string().get(prev_hex) == simdjson::SUCCESS &&
            o["seq"].get_int64().get(seq) == simdjson::SUCCESS && seq >= 1 &&
            o["line"].get_uint64().get(f.line) == simdjson::SUCCESS &&
            o["run"].get_int64().get(f.run) == simdjson::SUCCESS;
  if (ok && !scope_member->is_null()) {
    has_scope = true;
    ok = StringList(*scope_member, &scope);
  }
  if (ok) ok = ParseOutcome(decision, &f.outcome);
  if (ok && f.outcome == Outcome::kRelease) {
    auto r = member("release");
    ok = r && ParseReleaseObject(*r, &release);
    f.release = &release;
  }
  const std::optional<crypto::Digest> prev = ok ? merkle::HashFromHex(prev_hex) : std::nullopt;
  if (!prev) {
    return not_entry("loopgate.ledger/v3 entry (a member is missing or of the wrong type)");
  }
  f.consent_ids = ids;
  f.consent_versions = versions;
  f.transforms = transforms;
  f.consent_scope = has_scope ? &scope : nullptr;
  std::string rebuilt;
  BuildEntry(f, f, seq, prev_hex, policy, 3, &rebuilt);
  if (rebuilt != text) {
    return not_entry("loopgate.ledger/v3 entry in canonical form (its members are not exactly "
                     "an entry's, or are not written as the ledger writes them)");
  }
  std::string facts, tuple;
  AppendFacts(f, &facts);
  AppendTuple(f, &tuple);
  const crypto::Digest event = EventDigest(policy, facts, hasher);
  return LeafHashV3(hasher, event, *prev, seq, tuple);
}

namespace {

// The committed entries of one event, (seq, text), in ledger order. Call inside a snapshot.
absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> EventEntries(
    store::Database& db, std::string_view event_id) {
  std::vector<int64_t> firsts;
  ASSIGN_OR_RETURN(auto seen, seen::Reader::Open(db));
  seen::Record record;
  ASSIGN_OR_RETURN(bool found, seen->Find(event_id, &record));
  if (found && record.first_seq > 0) firsts.push_back(record.first_seq);
  ASSIGN_OR_RETURN(auto quarantined,
                   db.Prepare("SELECT seq FROM quarantine_index WHERE event_id = ?"));
  quarantined.Bind(1, event_id);
  while (true) {
    ASSIGN_OR_RETURN(bool more, quarantined.Step());
    if (!more) break;
    firsts.push_back(quarantined.Int(0));
  }
  ASSIGN_OR_RETURN(auto released, db.Prepare("SELECT seq FROM releases WHERE release_id = ?"));
  released.Bind(1, event_id);
  ASSIGN_OR_RETURN(bool is_release, released.Step());
  if (is_release) firsts.push_back(released.Int(0));
  std::sort(firsts.begin(), firsts.end());
  firsts.erase(std::unique(firsts.begin(), firsts.end()), firsts.end());
  ASSIGN_OR_RETURN(auto reader, Reader::Open(db));
  std::vector<std::pair<int64_t, std::string>> out;
  simdjson::dom::parser parser;
  Row row;
  std::string entry, hashes, prev;
  for (int64_t first : firsts) {
    if (first > reader->committed().entries) continue;  // Not committed yet.
    auto edited = [&](std::string_view what) {
      // The indexes (seen, quarantine_index, rows.idx) are not hash-chained: never show
      // another event's entries under this id.
      return absl::DataLossError(common::StrCat("the ledger row at entry ", first, " ", what,
                                                "; the state was edited: run `loopgate ledger "
                                                "verify`"));
    };
    ASSIGN_OR_RETURN(auto offset, reader->FindRow(first));
    if (!offset) return edited("is not in the row index");
    ASSIGN_OR_RETURN(std::string line, reader->RowAt(*offset));
    line.reserve(line.size() + simdjson::SIMDJSON_PADDING);
    if (!ParseRow(parser, line, &row) || row.seq != first) return edited("is damaged");
    if (row.entries.front().event_id != event_id) return edited("belongs to another event");
    prev.clear();
    if (first == 1) {
      prev = GenesisHash();
    } else {
      RETURN_IF_ERROR(reader->Hashes(first - 1, 1, &prev));
      prev = HexOf(prev);
    }
    hashes.clear();
    RETURN_IF_ERROR(reader->Hashes(first, row.entries.size(), &hashes));
    ForEachRowEntry(*reader, row, hashes, &prev, &entry,
                    [&](int64_t seq, const EntryFacts&, std::string_view, const std::string&) {
                      out.emplace_back(seq, entry);
                    });
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> EntriesForEvent(store::Database& db,
                                                         std::string_view event_id) {
  // A run may replace the seen store's index runs while we read (Unavailable): read again
  // from a newer snapshot.
  for (int attempt = 0;; ++attempt) {
    auto result = InSnapshot(db, [&]() -> absl::StatusOr<std::vector<std::string>> {
      ASSIGN_OR_RETURN(auto entries, EventEntries(db, event_id));
      std::vector<std::string> out;
      for (auto& [seq, text] : entries) out.push_back(std::move(text));
      return out;
    });
    if (!absl::IsUnavailable(result.status()) || attempt == 9) return result;
  }
}

absl::StatusOr<std::string> SignCheckpoint(store::Database& db,
                                           const crypto::Ed25519PrivateKey& key,
                                           common::Instant now, std::string_view policy_version) {
  auto signed_text = InSnapshot(db, [&]() -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(Committed c, ReadCommitted(db));
    ASSIGN_OR_RETURN(auto nodes, merkle::FileNodeStore::Open(PathsFor(db).tree));
    ASSIGN_OR_RETURN(merkle::Hash root, merkle::RootAt(*nodes, static_cast<uint64_t>(c.entries)));
    if (c.entries > 0 && merkle::HashHex(root) != c.root) {
      return absl::DataLossError("the stored Merkle tree does not have the committed root; run "
                                 "`loopgate ledger verify`");
    }
    merkle::Checkpoint cp;
    cp.tree_size = static_cast<uint64_t>(c.entries);
    cp.root = root;
    cp.time = now;
    cp.policy_version = std::string(policy_version);
    ASSIGN_OR_RETURN(merkle::SignedCheckpoint signed_cp, merkle::SignCheckpoint(cp, key));
    return signed_cp.Text();
  });
  if (!signed_text.ok()) return signed_text.status();
  ASSIGN_OR_RETURN(merkle::SignedCheckpoint parsed, merkle::ParseSignedCheckpoint(*signed_text));
  RETURN_IF_ERROR(db.Begin());
  auto insert = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto k, db.Prepare("INSERT INTO signing_keys (key_id, public_pem) VALUES "
                                        "(?, ?) ON CONFLICT DO NOTHING"));
    k.Bind(1, parsed.checkpoint.key_id).Bind(2, key.public_key().ToPem());
    RETURN_IF_ERROR(k.Run());
    ASSIGN_OR_RETURN(auto q, db.Prepare("INSERT INTO checkpoints (tree_size, text) VALUES (?, ?)"));
    q.Bind(1, static_cast<int64_t>(parsed.checkpoint.tree_size)).Bind(2, *signed_text);
    return q.Run();
  };
  if (auto st = insert(); !st.ok()) {
    (void)db.Rollback();
    return st;
  }
  RETURN_IF_ERROR(db.Commit());
  return signed_text;
}

absl::StatusOr<std::string> LatestCheckpoint(store::Database& db) {
  ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT text FROM checkpoints ORDER BY id DESC LIMIT 1"));
  ASSIGN_OR_RETURN(bool found, q.Step());
  return found ? std::string(q.Text(0)) : std::string();
}

namespace {
absl::StatusOr<std::string> ProveEventOnce(store::Database& db, std::string_view event_id);
}  // namespace

absl::StatusOr<std::string> ProveEvent(store::Database& db, std::string_view event_id) {
  for (int attempt = 0;; ++attempt) {  // As EntriesForEvent: again if the seen store changed.
    auto proof = ProveEventOnce(db, event_id);
    if (!absl::IsUnavailable(proof.status()) || attempt == 9) return proof;
  }
}

namespace {

absl::StatusOr<std::string> ProveEventOnce(store::Database& db, std::string_view event_id) {
  return InSnapshot(db, [&]() -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(std::string checkpoint, LatestCheckpoint(db));
    if (checkpoint.empty()) {
      return absl::NotFoundError("no checkpoint has been signed; sign one with `loopgate ledger "
                                 "checkpoint --signing-key KEY`");
    }
    ASSIGN_OR_RETURN(merkle::SignedCheckpoint cp, merkle::ParseSignedCheckpoint(checkpoint));
    ASSIGN_OR_RETURN(auto entries, EventEntries(db, event_id));
    std::vector<merkle::ProvenEntry> proven;
    for (auto& [seq, text] : entries) {
      if (static_cast<uint64_t>(seq) > cp.checkpoint.tree_size) continue;
      ASSIGN_OR_RETURN(const crypto::Digest leaf, EntryHash(text));
      proven.push_back({static_cast<uint64_t>(seq - 1), std::move(text), leaf});
    }
    if (proven.empty()) {
      return absl::NotFoundError(common::StrCat(
          "no ledger entries for event id '", event_id, "' among the ",
          cp.checkpoint.tree_size, " entries of the latest checkpoint",
          entries.empty() ? "" : "; sign a newer one with `loopgate ledger checkpoint`"));
    }
    ASSIGN_OR_RETURN(auto nodes, merkle::FileNodeStore::Open(PathsFor(db).tree));
    return merkle::BuildInclusionProofFile(*nodes, event_id, proven, checkpoint);
  });
}

}  // namespace

absl::StatusOr<std::string> ProveConsistency(store::Database& db, uint64_t old_size,
                                             uint64_t new_size) {
  return InSnapshot(db, [&]() -> absl::StatusOr<std::string> {
    auto find = [&](uint64_t size) -> absl::StatusOr<std::string> {
      ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT text FROM checkpoints WHERE tree_size = ? "
                                          "ORDER BY id DESC LIMIT 1"));
      q.Bind(1, static_cast<int64_t>(size));
      ASSIGN_OR_RETURN(bool found, q.Step());
      return found ? std::string(q.Text(0)) : std::string();
    };
    ASSIGN_OR_RETURN(std::string new_cp, find(new_size));
    if (new_cp.empty()) {
      return absl::NotFoundError(common::StrCat("no checkpoint of ", new_size, " entries is "
                                                "stored; `loopgate ledger checkpoint` lists them"));
    }
    ASSIGN_OR_RETURN(std::string old_cp, find(old_size));
    ASSIGN_OR_RETURN(auto nodes, merkle::FileNodeStore::Open(PathsFor(db).tree));
    return merkle::BuildConsistencyProofFile(*nodes, old_size, new_cp, old_cp);
  });
}



}  // namespace loopgate::ledger
