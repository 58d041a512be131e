#include "ledger/ledger.h"
#include "seen/seen.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "json/json.h"
#include "ledger/entry_hash_testonly.h"
#include "merkle/compact_range.h"
#include "merkle/node_store.h"
#include "store/scratch_state.h"

namespace loopgate::ledger {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::string_view kPolicy = "sha256:policy-under-test";
constexpr std::string_view kPolicy2 = "sha256:second-policy";
constexpr size_t kHashBytes = 32;

// The members every entry holds (docs/ledger-format.md), and nothing else.
const std::set<std::string>& DocumentedMembers() {
  static const std::set<std::string> members = {
      "consent_ids", "consent_scope", "consent_versions", "decision", "delivered",
      "detail",      "event_id",      "line",             "policy_version", "prev_hash",
      "reason",      "run",           "seq",              "sink",     "source",
      "time",        "transforms",    "type",             "v"};
  return members;
}

// The exact problem texts Verify reports (ledger.h, docs/ledger-format.md section 6).
std::string Modified(int64_t n) {
  return "entry " + std::to_string(n) + " was modified, or does not link to entry " +
         std::to_string(n - 1) + " (its hash does not match its content and the hash before it)";
}
std::string Missing(int64_t n, int64_t next) {
  return "entry " + std::to_string(n) + " is missing (deleted); the next stored entry is " +
         std::to_string(next);
}
std::string Damaged(int64_t n) {
  return "entry " + std::to_string(n) + " is stored damaged (its row does not parse)";
}
std::string UnknownPolicy(int64_t n) {
  return "entry " + std::to_string(n) + " cites a policy the state does not hold (edited)";
}
std::string IndexDisagrees(int64_t n) {
  return "the row index disagrees with the rows at entry " + std::to_string(n) + " (edited)";
}
std::string OutOfOrder(int64_t n, int64_t row) {
  return "entry " + std::to_string(n) + " is stored out of order (a row starting at entry " +
         std::to_string(row) + " overlaps the entries before it)";
}
std::string SizeMismatch(int64_t holds, int64_t committed) {
  return "the ledger holds " + std::to_string(holds) + " entries but " +
         std::to_string(committed) + " were committed (entries at the end were " +
         (committed > holds ? "deleted" : "appended outside Loopgate") + ")";
}
constexpr std::string_view kHeadDiffers = "the last entry's hash differs from the committed head";
constexpr std::string_view kSizeNotANumber =
    "the committed ledger size in the state is not a number (edited)";

// The 32 raw bytes of an entry's hash, as the hashes file stores them, by the documented rule
// (section 5), computed independently of the ledger's code (entry_hash_testonly.h).
std::string LeafBytes(std::string_view entry) { return testonly::DocumentedEntryHash(entry); }
std::string LeafHex(std::string_view entry) { return testonly::DocumentedEntryHashHex(entry); }

// Lowercase hex of 32 raw hash bytes.
std::string HexOfHash(std::string_view bytes) {
  crypto::Digest d{};
  EXPECT_EQ(bytes.size(), d.size());
  std::memcpy(d.data(), bytes.data(), std::min(bytes.size(), d.size()));
  return crypto::ToHex(d);
}

// The RFC 8785 form of `text`, or "<invalid>".
std::string Canonical(std::string_view text) {
  json::StrictParser parser;
  std::string canonical;
  if (!parser.ParseCopy(text, &canonical).ok()) return "<invalid>";
  return canonical;
}

// One exported line, taken apart.
struct Exported {
  std::string line;
  std::string entry;  // The line without its "hash" member: the text that is hashed.
  std::string hash;
  std::set<std::string> keys;  // Members of the line, "hash" included.
  int64_t seq = 0;
  std::string prev_hash;
  std::string event_id;  // "" for null.
  std::string sink;      // "" for null.
  std::string reason;    // "" for null.
  std::string detail;    // "" for null.
  std::string type;      // "" for null.
  std::string policy_version;
  uint64_t line_no = 0;
};

// One stored ledger row: a line of rows.log taken apart, and its entries' hashes.
struct StoredRow {
  int64_t seq = 0;
  int64_t policy = 0;
  std::string body;    // The line without its leading seq and policy: "[event_id, ...]".
  std::string hashes;  // Raw bytes, 32 per entry.
};

// The number of entry tuples in a row body; 0 when it does not parse.
size_t TupleCount(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::array top, tuples;
  if (parser.parse(std::string(body)).get_array().get(top) != simdjson::SUCCESS ||
      top.size() != 8 || top.at(7).get_array().get(tuples) != simdjson::SUCCESS) {
    return 0;
  }
  return tuples.size();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void PutU64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// One event's entries, as AppendEvent takes them.
using Event = std::vector<EntryFacts>;

class LedgerTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(scratch_.Open("ledger"));
    root_ = scratch_.root;
    db_ = std::move(scratch_.db);
  }
  void TearDown() override {
    db_.reset();
    scratch_.Close();
  }

  static EntryFacts Deny(std::string_view event_id, std::string_view sink,
                         std::string_view reason = "no_consent", uint64_t line = 1) {
    EntryFacts f;
    f.event_id = event_id;
    f.sink = sink;
    f.outcome = Outcome::kDeny;
    f.reason = reason;
    f.type = "patient.support.milestone";
    f.source = "support_hub";
    f.time = "2026-04-01T00:00:00Z";
    f.line = line;
    f.run = 1;
    return f;
  }

  static EntryFacts Allow(std::string_view event_id, std::string_view sink,
                          std::string_view delivered, uint64_t line = 1) {
    EntryFacts f = Deny(event_id, sink, "", line);
    f.outcome = Outcome::kAllow;
    f.delivered = delivered;
    return f;
  }

  static EntryFacts Quarantine(std::string_view event_id, uint64_t line = 9) {
    EntryFacts f;
    f.event_id = event_id;
    f.outcome = Outcome::kQuarantine;
    f.reason = "id_conflict";
    f.detail = "this event id was already accepted with different content";
    f.line = line;
    f.run = 1;
    return f;
  }

  // Appends each event as one row, all in one committed transaction under `policy`, as the
  // router does; returns each row's first seq.
  std::vector<int64_t> AppendEvents(const std::vector<Event>& events,
                                    std::string_view policy = kPolicy) {
    std::vector<int64_t> firsts;
    auto w = Writer::Open(*db_, std::string(policy));
    EXPECT_TRUE(w.ok()) << w.status();
    if (!w.ok()) return firsts;
    EXPECT_TRUE(db_->Begin().ok());
    for (const Event& e : events) {
      auto first = e.size() == 1 ? (*w)->Append(e[0]) : (*w)->AppendEvent(e);
      EXPECT_TRUE(first.ok()) << first.status();
      if (first.ok()) firsts.push_back(*first);
    }
    EXPECT_TRUE((*w)->Flush().ok());
    EXPECT_TRUE((*w)->SaveHead().ok());
    EXPECT_TRUE(db_->Commit().ok());
    return firsts;
  }

  // The standard ledger: 9 entries in 5 rows.
  //   row 1: evt-1, one deny                                    entry 1
  //   row 2: evt-2, an allow citing consents and a deny         entries 2-3 (has a consent scope)
  //   row 4: evt-3, three denies with distinct reasons          entries 4-6
  //   row 7: a quarantine of evt-4                              entry 7
  //   row 8: evt-5, two allows with distinct delivered digests  entries 8-9
  void AppendStandard() {
    EntryFacts allow = Allow("evt-2", "crm", "sha256:abc", 2);
    allow.consent_ids = {"c-1", "c-2"};
    allow.consent_versions = {"2026-01-01T00:00:05Z", "2026-02-01T00:00:00Z"};
    allow.transforms = {"patient_id:tokenize", "zip:generalize"};
    allow.consent_scope = &scope_;
    EntryFacts deny = Deny("evt-2", "lake", "purpose_not_permitted", 2);
    deny.consent_scope = &scope_;
    const std::vector<int64_t> firsts = AppendEvents({
        {Deny("evt-1", "crm", "no_consent", 1)},
        {allow, deny},
        {Deny("evt-3", "crm", "no_consent", 3), Deny("evt-3", "lake", "no_agreement", 3),
         Deny("evt-3", "sms", "outside_window", 3)},
        {Quarantine("evt-4", 4)},
        {Allow("evt-5", "crm", "sha256:aa", 5), Allow("evt-5", "lake", "sha256:bb", 5)},
    });
    ASSERT_THAT(firsts, ElementsAre(1, 2, 4, 7, 8));
  }

  std::string LedgerFile(std::string_view name) {
    return db_->dir() + "/ledger/" + std::string(name);
  }

  // Every row in rows.log, in file order, with its hashes taken from the hashes file in order.
  std::vector<StoredRow> Rows() {
    std::vector<StoredRow> rows;
    const std::string text = ReadAll(LedgerFile("rows.log"));
    const std::string hashes = ReadAll(LedgerFile("hashes"));
    size_t start = 0, hash_at = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string line = text.substr(start, end - start);
      start = end + 1;
      StoredRow row;
      // "[seq,policy,rest": split off the two leading numbers.
      const size_t c1 = line.find(','), c2 = line.find(',', c1 + 1);
      EXPECT_TRUE(line.size() > 1 && line[0] == '[' && c1 != std::string::npos &&
                  c2 != std::string::npos)
          << line;
      if (c2 == std::string::npos) break;
      row.seq = std::stoll(line.substr(1, c1 - 1));
      row.policy = std::stoll(line.substr(c1 + 1, c2 - c1 - 1));
      row.body = "[" + line.substr(c2 + 1);
      const size_t n = TupleCount(row.body) * kHashBytes;
      row.hashes = hash_at < hashes.size() ? hashes.substr(hash_at, n) : "";
      hash_at += n;
      rows.push_back(std::move(row));
    }
    return rows;
  }

  // Rewrites the ledger's files as a careful forger would: rows sorted by seq, a matching row
  // index, the hashes in row order, and (unless `fix_lengths` is false) the committed row count
  // and length in the state to match. The committed entry count and head are left alone.
  void WriteRows(std::vector<StoredRow> rows, bool fix_lengths = true) {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const StoredRow& a, const StoredRow& b) { return a.seq < b.seq; });
    std::string text, index, hashes;
    for (const StoredRow& r : rows) {
      PutU64(static_cast<uint64_t>(r.seq), &index);
      PutU64(text.size(), &index);
      text += "[" + std::to_string(r.seq) + "," + std::to_string(r.policy) + "," +
              r.body.substr(1) + "\n";
      hashes += r.hashes;
    }
    WriteAll(LedgerFile("rows.log"), text);
    WriteAll(LedgerFile("rows.idx"), index);
    WriteAll(LedgerFile("hashes"), hashes);
    if (fix_lengths) {
      ASSERT_TRUE(db_->SetMeta("ledger_rows", std::to_string(rows.size())).ok());
      ASSERT_TRUE(db_->SetMeta("ledger_bytes", std::to_string(text.size())).ok());
    }
  }

  StoredRow RowAt(int64_t seq) {
    for (auto& r : Rows()) {
      if (r.seq == seq) return r;
    }
    ADD_FAILURE() << "no ledger row " << seq;
    return StoredRow{};
  }

  // Applies `edit` to the row starting at `seq` and writes the files back.
  template <typename Fn>
  void EditRow(int64_t seq, Fn edit) {
    std::vector<StoredRow> rows = Rows();
    bool found = false;
    for (StoredRow& r : rows) {
      if (r.seq == seq) {
        edit(r);
        found = true;
      }
    }
    ASSERT_TRUE(found) << "no ledger row " << seq;
    WriteRows(std::move(rows));
  }

  void DeleteRow(int64_t seq) {
    std::vector<StoredRow> rows = Rows();
    const size_t before = rows.size();
    std::erase_if(rows, [&](const StoredRow& r) { return r.seq == seq; });
    ASSERT_EQ(rows.size() + 1, before) << "no ledger row " << seq;
    WriteRows(std::move(rows));
  }

  // The stored hash (hex) of entry `seq`, wherever its row starts.
  std::string StoredHash(int64_t seq) {
    for (const StoredRow& r : Rows()) {
      const int64_t n = static_cast<int64_t>(r.hashes.size() / kHashBytes);
      if (seq >= r.seq && seq < r.seq + n) {
        return HexOfHash(std::string_view(r.hashes).substr(
            static_cast<size_t>(seq - r.seq) * kHashBytes, kHashBytes));
      }
    }
    ADD_FAILURE() << "no stored entry " << seq;
    return "";
  }

  int64_t PolicyId(std::string_view version) {
    auto q = db_->Prepare("SELECT id FROM policies WHERE version = ?");
    EXPECT_TRUE(q.ok());
    if (!q.ok()) return -1;
    q->Bind(1, version);
    auto r = q->Step();
    EXPECT_TRUE(r.ok() && *r) << "no policy " << version;
    return r.ok() && *r ? q->Int(0) : -1;
  }

  void Sql(std::string_view sql) {
    const absl::Status s = db_->Exec(sql);
    ASSERT_TRUE(s.ok()) << s << "\n" << sql;
  }

  void SetBody(int64_t seq, std::string_view body) {
    EditRow(seq, [&](StoredRow& r) { r.body = body; });
  }

  // Replaces the one occurrence of `from` in row `seq`'s body.
  void EditBody(int64_t seq, std::string_view from, std::string_view to) {
    std::string body = RowAt(seq).body;
    const size_t at = body.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in " << body;
    ASSERT_EQ(body.find(from, at + 1), std::string::npos) << from << " twice in " << body;
    body.replace(at, from.size(), to);
    SetBody(seq, body);
  }

  void SetHashes(int64_t seq, std::string_view bytes) {
    EditRow(seq, [&](StoredRow& r) { r.hashes = bytes; });
  }

  // Stores the leaf hash of `text_to_hash` as the hash of the `index`-th entry of row `row_seq`.
  void SetStoredHash(int64_t row_seq, size_t index, std::string_view text_to_hash) {
    std::string hashes = RowAt(row_seq).hashes;
    ASSERT_LE((index + 1) * kHashBytes, hashes.size());
    hashes.replace(index * kHashBytes, kHashBytes, LeafBytes(text_to_hash));
    SetHashes(row_seq, hashes);
  }

  void InsertRow(int64_t seq, int64_t policy, std::string_view body, std::string_view hashes,
                 bool fix_lengths = true) {
    std::vector<StoredRow> rows = Rows();
    rows.push_back(StoredRow{seq, policy, std::string(body), std::string(hashes)});
    WriteRows(std::move(rows), fix_lengths);
  }

  // Moves every row at or after `from` up by `by` seqs.
  void Renumber(int64_t from, int64_t by) {
    std::vector<StoredRow> rows = Rows();
    for (StoredRow& r : rows) {
      if (r.seq >= from) r.seq += by;
    }
    WriteRows(std::move(rows));
  }

  // A well-formed allow entry for `seq` linking to `prev`, written from the documentation as a
  // forger would (canonical: members sorted, no spaces).
  static std::string ForgeEntry(int64_t seq, std::string_view prev, std::string_view sink) {
    return "{\"consent_ids\":[],\"consent_scope\":null,\"consent_versions\":[],"
           "\"decision\":\"allow\",\"delivered\":null,\"detail\":null,"
           "\"event_id\":\"evt-forged\",\"line\":1,\"policy_version\":\"" +
           std::string(kPolicy) + "\",\"prev_hash\":\"" + std::string(prev) +
           "\",\"reason\":null,\"run\":1,\"seq\":" + std::to_string(seq) + ",\"sink\":\"" +
           std::string(sink) +
           "\",\"source\":null,\"time\":null,\"transforms\":[],\"type\":null,\"v\":3}";
  }
  // The row body storing the ForgeEntry entries for `sinks`.
  static std::string ForgeBody(const std::vector<std::string>& sinks) {
    std::string body = "[\"evt-forged\",null,null,null,1,1,null,[";
    for (size_t i = 0; i < sinks.size(); ++i) {
      if (i > 0) body += ",";
      body += "[\"" + sinks[i] + "\",\"allow\",null,null,[],[],[],null]";
    }
    return body + "]]";
  }

  absl::Status ExportTo(std::string* text) {
    const std::string path = root_ + "/export.ndjson";
    std::FILE* out = std::fopen(path.c_str(), "w");
    EXPECT_NE(out, nullptr);
    if (out == nullptr) return absl::InternalError("fopen");
    const absl::Status s = Export(*db_, out);
    std::fclose(out);
    std::ifstream in(path);
    text->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return s;
  }

  // Exports the ledger and takes every line apart.
  std::vector<Exported> ExportEntries() {
    std::vector<Exported> out;
    std::string text;
    const absl::Status s = ExportTo(&text);
    EXPECT_TRUE(s.ok()) << s;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      EXPECT_NE(end, std::string::npos) << "export does not end with a newline";
      if (end == std::string::npos) end = text.size();
      out.push_back(TakeApart(text.substr(start, end - start)));
      start = end + 1;
    }
    return out;
  }

  static Exported TakeApart(const std::string& line) {
    Exported e;
    e.line = line;
    // The line is the entry with ,"hash":"<64 hex>" inserted before the final '}'.
    const std::string marker = ",\"hash\":\"";
    const size_t suffix = marker.size() + 64 + 2;
    if (line.size() > suffix && line.compare(line.size() - suffix, marker.size(), marker) == 0 &&
        line.compare(line.size() - 2, 2, "\"}") == 0) {
      e.entry = line.substr(0, line.size() - suffix) + "}";
    } else {
      ADD_FAILURE() << "export line does not end with its hash: " << line;
    }
    json::StrictParser parser;
    std::string canonical;
    auto root = parser.ParseCopy(line, &canonical);
    simdjson::dom::object o;
    if (!root.ok() || root->get_object().get(o) != simdjson::SUCCESS) {
      ADD_FAILURE() << "export line is not a JSON object: " << line;
      return e;
    }
    for (auto field : o) e.keys.emplace(field.key);
    auto str = [&](const char* key, std::string* dst) {
      simdjson::dom::element v;
      if (o.at_key(key).get(v) != simdjson::SUCCESS || v.is_null()) return;
      std::string_view s;
      EXPECT_EQ(v.get_string().get(s), simdjson::SUCCESS) << key << " in " << line;
      *dst = s;
    };
    str("hash", &e.hash);
    str("prev_hash", &e.prev_hash);
    str("event_id", &e.event_id);
    str("sink", &e.sink);
    str("reason", &e.reason);
    str("detail", &e.detail);
    str("type", &e.type);
    str("policy_version", &e.policy_version);
    EXPECT_EQ(o["seq"].get_int64().get(e.seq), simdjson::SUCCESS) << line;
    EXPECT_EQ(o["line"].get_uint64().get(e.line_no), simdjson::SUCCESS) << line;
    // The canonical form of the line minus "hash", rebuilt member by member: it must be the
    // text the export holds before its "hash".
    std::string without = "{";
    bool first = true;
    for (auto field : o) {
      if (field.key == "hash") continue;
      if (!first) without.push_back(',');
      first = false;
      json::AppendString(field.key, &without);
      without.push_back(':');
      EXPECT_TRUE(json::AppendCanonical(field.value, &without).ok());
    }
    without.push_back('}');
    EXPECT_EQ(Canonical(without), e.entry) << "export line minus hash is not canonical: " << line;
    return e;
  }

  VerifyReport MustVerify() {
    auto r = Verify(*db_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : VerifyReport{};
  }

  // Verify fails first at `seq` with exactly `problem`.
  void ExpectBad(int64_t seq, std::string_view problem) {
    const VerifyReport r = MustVerify();
    ASSERT_TRUE(r.first_bad_seq.has_value()) << "verified: " << r.entries << " entries";
    EXPECT_EQ(*r.first_bad_seq, seq) << r.problem;
    EXPECT_EQ(r.problem, problem);
  }

  void ExpectVerifies(int64_t entries) {
    const VerifyReport r = MustVerify();
    EXPECT_FALSE(r.first_bad_seq.has_value()) << *r.first_bad_seq << ": " << r.problem;
    EXPECT_TRUE(r.problem.empty()) << r.problem;
    EXPECT_EQ(r.entries, entries);
  }

  store::test_support::ScratchState scratch_;
  std::string root_;
  std::unique_ptr<store::Database> db_;
  const std::vector<std::string_view> scope_ = {"hcp_commercial_engagement"};
};

// ---- Appending ----

TEST_F(LedgerTest, GenesisIsSixtyFourZeros) { EXPECT_EQ(GenesisHash(), std::string(64, '0')); }

TEST_F(LedgerTest, WriterNeedsAPolicyVersion) {
  auto w = Writer::Open(*db_, "");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LedgerTest, WriterStoresOneRowPerEventWithConsecutiveSeqs) {
  auto w = Writer::Open(*db_, std::string(kPolicy));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->size(), 0);
  EXPECT_EQ((*w)->head_hash(), GenesisHash());
  ASSERT_TRUE(db_->Begin().ok());
  auto a = (*w)->AppendEvent({Deny("A", "crm"), Deny("A", "lake"), Deny("A", "sms")});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, 1);
  EXPECT_EQ((*w)->size(), 3);
  auto q = (*w)->Append(Quarantine("B"));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*q, 4);
  EXPECT_EQ((*w)->size(), 4);
  auto c = (*w)->AppendEvent({Allow("C", "crm", "sha256:01"), Deny("C", "lake")});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, 5);
  EXPECT_EQ((*w)->size(), 6);
  auto d = (*w)->AppendEvent({Deny("D", "crm")});  // A one-entry event through AppendEvent.
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, 7);
  EXPECT_EQ((*w)->size(), 7);
  ASSERT_TRUE((*w)->Flush().ok());
  ASSERT_TRUE((*w)->SaveHead().ok());
  ASSERT_TRUE(db_->Commit().ok());

  const std::vector<StoredRow> rows = Rows();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].seq, 1);
  EXPECT_EQ(rows[1].seq, 4);
  EXPECT_EQ(rows[2].seq, 5);
  EXPECT_EQ(rows[3].seq, 7);
  EXPECT_EQ(rows[0].hashes.size(), 3 * kHashBytes);
  EXPECT_EQ(rows[1].hashes.size(), 1 * kHashBytes);
  EXPECT_EQ(rows[2].hashes.size(), 2 * kHashBytes);
  EXPECT_EQ(rows[3].hashes.size(), 1 * kHashBytes);
  const int64_t policy = PolicyId(kPolicy);
  for (const StoredRow& r : rows) EXPECT_EQ(r.policy, policy) << "row " << r.seq;

  // The writer's head is the stored hash of the last entry.
  EXPECT_EQ((*w)->head_hash(), StoredHash(7));
  EXPECT_EQ((*w)->head_hash(), HexOfHash(rows[3].hashes));
  ExpectVerifies(7);
}

TEST_F(LedgerTest, SaveHeadRecordsSizeAndHeadMeta) {
  auto w = Writer::Open(*db_, std::string(kPolicy));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(db_->Begin().ok());
  ASSERT_TRUE((*w)->AppendEvent({Deny("A", "crm"), Deny("A", "lake")}).ok());
  ASSERT_TRUE(db_->Commit().ok());
  // Appending does not record the head; SaveHead does.
  auto size = db_->GetMeta("ledger_size");
  ASSERT_TRUE(size.ok());
  EXPECT_FALSE(size->has_value());

  ASSERT_TRUE(db_->Begin().ok());
  ASSERT_TRUE((*w)->Append(Quarantine("B")).ok());
  ASSERT_TRUE((*w)->Flush().ok());
  ASSERT_TRUE((*w)->SaveHead().ok());
  ASSERT_TRUE(db_->Commit().ok());
  size = db_->GetMeta("ledger_size");
  auto head = db_->GetMeta("ledger_head");
  ASSERT_TRUE(size.ok() && size->has_value());
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(**size, "3");
  EXPECT_EQ(**head, StoredHash(3));
  EXPECT_EQ(**head, (*w)->head_hash());
}

TEST_F(LedgerTest, RowBodyIsTheDocumentedLayout) {
  AppendStandard();
  // [event_id, type, source, time, line, run, consent_scope,
  //  [[sink, decision, reason, detail, consent_ids, consent_versions, transforms, delivered], ...]]
  EXPECT_EQ(RowAt(2).body,
            "[\"evt-2\",\"patient.support.milestone\",\"support_hub\",\"2026-04-01T00:00:00Z\","
            "2,1,[\"hcp_commercial_engagement\"],["
            "[\"crm\",\"allow\",null,null,[\"c-1\",\"c-2\"],"
            "[\"2026-01-01T00:00:05Z\",\"2026-02-01T00:00:00Z\"],"
            "[\"patient_id:tokenize\",\"zip:generalize\"],\"sha256:abc\"],"
            "[\"lake\",\"deny\",\"purpose_not_permitted\",null,[],[],[],null]]]");
  EXPECT_EQ(RowAt(7).body,
            "[\"evt-4\",null,null,null,4,1,null,[[null,\"quarantine\",\"id_conflict\","
            "\"this event id was already accepted with different content\",[],[],[],null]]]");
}

TEST_F(LedgerTest, StoredHashesAreTheSha256OfEachEntryInOrder) {
  AppendStandard();
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 9u);
  for (const StoredRow& row : Rows()) {
    const size_t n = row.hashes.size() / kHashBytes;
    ASSERT_EQ(row.hashes.size(), n * kHashBytes);
    for (size_t i = 0; i < n; ++i) {
      const Exported& e = entries[static_cast<size_t>(row.seq - 1) + i];
      EXPECT_EQ(row.hashes.substr(i * kHashBytes, kHashBytes), LeafBytes(e.entry))
          << "entry " << e.seq;
    }
  }
}

TEST_F(LedgerTest, EntryHashOfAnExportedEntryIsItsStoredHash) {
  AppendStandard();
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 9u);
  for (const Exported& e : entries) {
    const absl::StatusOr<crypto::Digest> h = EntryHash(e.entry);
    ASSERT_TRUE(h.ok()) << h.status() << "\n" << e.entry;
    EXPECT_EQ(crypto::ToHex(*h), e.hash) << e.entry;
    EXPECT_THAT(e.entry, HasSubstr("\"v\":3}"));
  }
}

TEST_F(LedgerTest, EntryHashCoversEveryMemberOfAV3Entry) {
  AppendStandard();
  const std::string entry = ExportEntries()[1].entry;  // evt-2's allow: every list is filled.
  const std::string hash = crypto::ToHex(*EntryHash(entry));
  // Each replacement keeps the text canonical, so it is hashed, and hashes differently.
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"\"c-1\"", "\"c-0\""},                       // consent_ids
      {"\"hcp_commercial_engagement\"", "\"x\""},      // consent_scope
      {"\"2026-01-01T00:00:05Z\"", "\"2026-01-01T00:00:06Z\""},  // consent_versions
      {"\"allow\"", "\"deny\""},                      // decision
      {"\"sha256:abc\"", "\"sha256:abd\""},           // delivered
      {"\"detail\":null", "\"detail\":\"d\""},          // detail
      {"\"evt-2\"", "\"evt-9\""},                     // event_id
      {"\"line\":2", "\"line\":3"},                    // line
      {"\"sha256:policy-under-test\"", "\"sha256:other\""},  // policy_version
      {"\"prev_hash\":\"e", "\"prev_hash\":\"f"},        // prev_hash
      {"\"reason\":null", "\"reason\":\"r\""},          // reason
      {"\"run\":1", "\"run\":2"},                      // run
      {"\"seq\":2", "\"seq\":3"},                      // seq
      {"\"sink\":\"crm\"", "\"sink\":\"cro\""},          // sink
      {"\"support_hub\"", "\"support_huc\""},          // source
      {"\"2026-04-01T00:00:00Z\"", "\"2026-04-01T00:00:01Z\""},  // time
      {"\"zip:generalize\"", "\"zip:drop\""},          // transforms
      {"\"patient.support.milestone\"", "\"patient.other\""},  // type
  };
  for (const auto& [from, to] : edits) {
    std::string edited = entry;
    const size_t at = edited.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    edited.replace(at, from.size(), to);
    const absl::StatusOr<crypto::Digest> h = EntryHash(edited);
    ASSERT_TRUE(h.ok()) << h.status() << " after " << from << " -> " << to;
    EXPECT_NE(crypto::ToHex(*h), hash) << from << " -> " << to;
    EXPECT_EQ(crypto::ToHex(*h), testonly::DocumentedEntryHashHex(edited)) << from;
  }
}

TEST_F(LedgerTest, EntryHashRefusesTextsThatAreNotExactlyAnEntry) {
  AppendStandard();
  const std::string entry = ExportEntries()[1].entry;
  ASSERT_TRUE(EntryHash(entry).ok());
  auto refused = [](const std::string& text) {
    const absl::Status s = EntryHash(text).status();
    return s.code() == absl::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused("not json"));
  EXPECT_TRUE(refused("[1,2]"));
  EXPECT_TRUE(refused(std::string(entry).replace(entry.find("\"v\":3"), 5, "\"v\":4")));
  // A member added, a member removed, whitespace, a member of the wrong type.
  EXPECT_TRUE(refused(entry.substr(0, entry.size() - 1) + ",\"zzz\":1}"));
  EXPECT_TRUE(refused(std::string(entry).replace(entry.find("\"detail\":null,"), 14, "")));
  EXPECT_TRUE(refused(std::string(entry).replace(entry.find("\"run\":1"), 7, "\"run\": 1")));
  EXPECT_TRUE(refused(std::string(entry).replace(entry.find("\"run\":1"), 7, "\"run\":\"1\"")));
  EXPECT_TRUE(refused(std::string(entry).replace(entry.find("\"prev_hash\":\""), 13,
                                                 "\"prev_hash\":\"zz")));
  // An empty string where the writer writes null.
  EXPECT_TRUE(refused(std::string(entry).replace(entry.find("\"detail\":null"), 13,
                                                 "\"detail\":\"\"")));
}

TEST_F(LedgerTest, ALedgerBegunAsV2KeepsItsEntriesAndContinuesInV3) {
  // A ledger as a build before v3 left it: the standard entries, each labelled and hashed as
  // v2 (SHA-256 of 0x00 and the entry text), the tree and committed head over those hashes,
  // and no ledger_v3_from.
  AppendStandard();
  std::string prev(64, '0'), hashes;
  std::vector<std::string> v2_hashes;
  merkle::CompactRange range;
  std::filesystem::remove_all(LedgerFile("tree"));
  {
    auto nodes = merkle::FileNodeStore::Open(LedgerFile("tree"));
    ASSERT_TRUE(nodes.ok()) << nodes.status();
    for (const Exported& e : ExportEntries()) {
      std::string text = e.entry;
      text.replace(text.find("\"prev_hash\":\"") + 13, 64, prev);
      text.replace(text.size() - 2, 1, "2");
      ASSERT_EQ(text.substr(text.size() - 7), ",\"v\":2}");
      const crypto::Digest d = crypto::Sha256(std::string(1, '\0') + text);
      ASSERT_TRUE(merkle::AppendLeaf(range, **nodes, d).ok());
      hashes.append(reinterpret_cast<const char*>(d.data()), d.size());
      prev = crypto::ToHex(d);
      v2_hashes.push_back(prev);
    }
    ASSERT_TRUE((*nodes)->Sync().ok());
  }
  WriteAll(LedgerFile("hashes"), hashes);
  ASSERT_TRUE(db_->SetMeta("ledger_head", prev).ok());
  ASSERT_TRUE(db_->SetMeta("ledger_root", merkle::HashHex(range.Root())).ok());
  ASSERT_TRUE(db_->Exec("DELETE FROM meta WHERE key = 'ledger_v3_from'").ok());
  ExpectVerifies(9);
  for (const Exported& e : ExportEntries()) {
    EXPECT_THAT(e.entry, HasSubstr("\"v\":2}"));
    EXPECT_EQ(e.hash, v2_hashes[static_cast<size_t>(e.seq - 1)]);
  }

  // This build appends to it: its entries are v3, from the first one it writes.
  AppendEvents({{Deny("evt-6", "crm", "no_consent", 6), Deny("evt-6", "lake", "no_agreement", 6)},
                {Quarantine("evt-7", 7)}});
  auto from = db_->GetMeta("ledger_v3_from");
  ASSERT_TRUE(from.ok() && from->has_value());
  EXPECT_EQ(**from, "10");
  ExpectVerifies(12);
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 12u);
  for (const Exported& e : entries) {
    EXPECT_THAT(e.entry, HasSubstr(e.seq < 10 ? "\"v\":2}" : "\"v\":3}")) << e.seq;
    EXPECT_EQ(testonly::DocumentedEntryHashHex(e.entry), e.hash) << e.seq;
    EXPECT_EQ(crypto::ToHex(*EntryHash(e.entry)), e.hash) << e.seq;
  }
  EXPECT_EQ(entries[9].prev_hash, v2_hashes[8]);  // The chain runs on across the boundary.

  // The boundary is covered too: moved either way, the entries it moves fail.
  ASSERT_TRUE(db_->SetMeta("ledger_v3_from", "9").ok());
  ExpectBad(9, Modified(9));
  ASSERT_TRUE(db_->SetMeta("ledger_v3_from", "11").ok());
  ExpectBad(10, Modified(10));
  ASSERT_TRUE(db_->SetMeta("ledger_v3_from", "10").ok());
  ExpectVerifies(12);
}

TEST_F(LedgerTest, AppendEventTakesTheEventFactsFromTheFirstEntry) {
  EntryFacts first = Deny("evt-1", "crm", "no_consent", 7);
  first.consent_scope = &scope_;
  EntryFacts second = Deny("evt-other", "lake", "no_agreement", 99);
  second.type = "other.type";
  second.source = "other_source";
  second.time = "2030-01-01T00:00:00Z";
  second.run = 5;
  AppendEvents({{first, second}});
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].event_id, "evt-1");
  EXPECT_EQ(entries[1].type, "patient.support.milestone");
  EXPECT_EQ(entries[1].line_no, 7u);
  EXPECT_THAT(entries[1].entry, HasSubstr("\"source\":\"support_hub\""));
  EXPECT_THAT(entries[1].entry, HasSubstr("\"time\":\"2026-04-01T00:00:00Z\""));
  EXPECT_THAT(entries[1].entry, HasSubstr("\"run\":1,"));
  EXPECT_THAT(entries[1].entry, HasSubstr("\"consent_scope\":[\"hcp_commercial_engagement\"]"));
  // Its own facts are its own.
  EXPECT_EQ(entries[1].sink, "lake");
  EXPECT_EQ(entries[1].reason, "no_agreement");
  ExpectVerifies(2);
}

TEST_F(LedgerTest, AppendEventRefusesAnEmptyEvent) {
  auto w = Writer::Open(*db_, std::string(kPolicy));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(db_->Begin().ok());
  auto r = (*w)->AppendEvent({});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_EQ((*w)->size(), 0);
  EXPECT_EQ((*w)->head_hash(), GenesisHash());
  ASSERT_TRUE(db_->Commit().ok());
  EXPECT_TRUE(Rows().empty());
}

TEST_F(LedgerTest, WriterOpenContinuesAnExistingChain) {
  AppendEvents({{Deny("A", "crm")}, {Deny("B", "crm"), Deny("B", "lake")}});
  const std::string head = StoredHash(3);
  auto w = Writer::Open(*db_, std::string(kPolicy));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->size(), 3);
  EXPECT_EQ((*w)->head_hash(), head);
  w->reset();
  EXPECT_THAT(AppendEvents({{Deny("C", "crm"), Deny("C", "lake")}}), ElementsAre(4));
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[3].prev_hash, head);
  ExpectVerifies(5);
  EXPECT_EQ(MustVerify().head_hash, StoredHash(5));
}

TEST_F(LedgerTest, WriterOpenRefusesADamagedLastRow) {
  AppendEvents({{Deny("A", "crm")}, {Deny("B", "crm"), Deny("B", "lake")}});
  SetHashes(2, std::string(33, 'x'));
  auto w = Writer::Open(*db_, std::string(kPolicy));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kDataLoss) << w.status();
}

TEST_F(LedgerTest, EachPolicyVersionIsStoredOnceAndCitedByItsRows) {
  AppendEvents({{Deny("A", "crm")}, {Deny("B", "crm"), Deny("B", "lake")}}, kPolicy);
  AppendEvents({{Deny("C", "crm")}}, kPolicy);
  AppendEvents({{Deny("D", "crm"), Deny("D", "lake")}}, kPolicy2);
  auto q = db_->Prepare("SELECT count(*) FROM policies");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->Int(0), 2);
  const int64_t p1 = PolicyId(kPolicy), p2 = PolicyId(kPolicy2);
  EXPECT_NE(p1, p2);
  EXPECT_EQ(RowAt(1).policy, p1);
  EXPECT_EQ(RowAt(2).policy, p1);
  EXPECT_EQ(RowAt(4).policy, p1);
  EXPECT_EQ(RowAt(5).policy, p2);
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 6u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(entries[i].policy_version, kPolicy) << i;
  EXPECT_EQ(entries[4].policy_version, kPolicy2);
  EXPECT_EQ(entries[5].policy_version, kPolicy2);
  ExpectVerifies(6);
}

// ---- Entries, as rebuilt by Export ----

TEST_F(LedgerTest, EntriesAreCanonicalHashedAndChained) {
  AppendStandard();
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 9u);
  std::string prev = GenesisHash();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Exported& e = entries[i];
    EXPECT_EQ(e.seq, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(Canonical(e.entry), e.entry) << "entry " << e.seq << " is not RFC 8785 canonical";
    EXPECT_EQ(e.hash.size(), 64u);
    EXPECT_EQ(LeafHex(e.entry), e.hash) << "entry " << e.seq;
    EXPECT_EQ(e.hash, StoredHash(e.seq));
    EXPECT_EQ(e.prev_hash, prev) << "entry " << e.seq;
    prev = e.hash;
  }
  EXPECT_EQ(entries[0].prev_hash, std::string(64, '0'));
  auto head = db_->GetMeta("ledger_head");
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(**head, prev);
}

TEST_F(LedgerTest, EntriesHoldExactlyTheDocumentedMembers) {
  AppendStandard();
  std::set<std::string> with_hash = DocumentedMembers();
  with_hash.insert("hash");
  for (const Exported& e : ExportEntries()) {
    EXPECT_EQ(e.keys, with_hash) << e.line;
  }
}

TEST_F(LedgerTest, EntriesAreExactlyAsDocumented) {
  AppendStandard();
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 9u);
  // The allow of evt-2, byte for byte (members sorted as RFC 8785 requires).
  EXPECT_EQ(entries[1].entry,
            "{\"consent_ids\":[\"c-1\",\"c-2\"],\"consent_scope\":[\"hcp_commercial_engagement\"],"
            "\"consent_versions\":[\"2026-01-01T00:00:05Z\",\"2026-02-01T00:00:00Z\"],"
            "\"decision\":\"allow\",\"delivered\":\"sha256:abc\",\"detail\":null,"
            "\"event_id\":\"evt-2\",\"line\":2,\"policy_version\":\"sha256:policy-under-test\","
            "\"prev_hash\":\"" +
                entries[0].hash +
                "\",\"reason\":null,\"run\":1,\"seq\":2,"
                "\"sink\":\"crm\",\"source\":\"support_hub\","
                "\"time\":\"2026-04-01T00:00:00Z\","
                "\"transforms\":[\"patient_id:tokenize\",\"zip:generalize\"],"
                "\"type\":\"patient.support.milestone\",\"v\":3}");
  // The line is that entry with its hash inserted before the final '}'.
  EXPECT_EQ(entries[1].line, entries[1].entry.substr(0, entries[1].entry.size() - 1) +
                                 ",\"hash\":\"" + LeafHex(entries[1].entry) + "\"}");
  // The deny of the same event shares the event's facts and scope.
  EXPECT_EQ(entries[2].entry,
            "{\"consent_ids\":[],\"consent_scope\":[\"hcp_commercial_engagement\"],"
            "\"consent_versions\":[],\"decision\":\"deny\",\"delivered\":null,\"detail\":null,"
            "\"event_id\":\"evt-2\",\"line\":2,\"policy_version\":\"sha256:policy-under-test\","
            "\"prev_hash\":\"" +
                entries[1].hash +
                "\",\"reason\":\"purpose_not_permitted\",\"run\":1,\"seq\":3,"
                "\"sink\":\"lake\",\"source\":\"support_hub\",\"time\":\"2026-04-01T00:00:00Z\","
                "\"transforms\":[],\"type\":\"patient.support.milestone\",\"v\":3}");
  // A quarantine: empty facts are null, no consent scope is null.
  EXPECT_EQ(entries[6].entry,
            "{\"consent_ids\":[],\"consent_scope\":null,\"consent_versions\":[],"
            "\"decision\":\"quarantine\",\"delivered\":null,"
            "\"detail\":\"this event id was already accepted with different content\","
            "\"event_id\":\"evt-4\",\"line\":4,\"policy_version\":\"sha256:policy-under-test\","
            "\"prev_hash\":\"" +
                entries[5].hash +
                "\",\"reason\":\"id_conflict\",\"run\":1,\"seq\":7,\"sink\":null,"
                "\"source\":null,\"time\":null,\"transforms\":[],\"type\":null,\"v\":3}");
}

TEST_F(LedgerTest, QuarantineWithoutAnIdHasANullEventId) {
  AppendEvents({{Quarantine("")}});
  EXPECT_EQ(RowAt(1).body.rfind("[null,", 0), 0u) << RowAt(1).body;
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_THAT(entries[0].entry, HasSubstr("\"event_id\":null"));
  ExpectVerifies(1);
}

TEST_F(LedgerTest, AnEmptyConsentScopeIsAnEmptyListNotNull) {
  const std::vector<std::string_view> none;
  EntryFacts f = Deny("A", "crm");
  f.consent_scope = &none;
  AppendEvents({{f, Deny("A", "lake")}});
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 2u);
  for (const Exported& e : entries) EXPECT_THAT(e.entry, HasSubstr("\"consent_scope\":[],"));
  ExpectVerifies(2);
}

TEST_F(LedgerTest, TextNeedingEscapesRoundTripsThroughTheRow) {
  const std::string detail = "field \"x\\y\"\t\x01 bad \xC3\xA9\xE2\x82\xAC / done\n";
  EntryFacts q = Quarantine("evt-\"q\"");
  q.detail = detail;
  EntryFacts d = Deny("A", "crm");
  d.transforms = {"note=\"quoted\"", "tab\there"};
  AppendEvents({{q}, {d}});
  ExpectVerifies(2);
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].detail, detail);
  EXPECT_EQ(entries[0].event_id, "evt-\"q\"");
  EXPECT_THAT(entries[0].entry, HasSubstr("\\u0001"));
  EXPECT_THAT(entries[1].entry, HasSubstr("\"transforms\":[\"note=\\\"quoted\\\"\",\"tab\\there\"]"));
  for (const Exported& e : entries) EXPECT_EQ(LeafHex(e.entry), e.hash) << e.line;
}

// ---- Verify on intact ledgers ----

TEST_F(LedgerTest, VerifyPassesOnAnIntactLedger) {
  AppendStandard();
  const VerifyReport r = MustVerify();
  EXPECT_FALSE(r.first_bad_seq.has_value()) << r.problem;
  EXPECT_TRUE(r.problem.empty());
  EXPECT_EQ(r.entries, 9);
  EXPECT_EQ(r.head_hash, StoredHash(9));
}

TEST_F(LedgerTest, VerifyPassesOnAnEmptyLedger) {
  const VerifyReport r = MustVerify();
  EXPECT_FALSE(r.first_bad_seq.has_value()) << r.problem;
  EXPECT_EQ(r.entries, 0);
}

// ---- Tampering ----

TEST_F(LedgerTest, TamperEditedReasonIsCaughtAtThatEntry) {
  AppendStandard();
  // Entry 5 is the second of row 4.
  EditBody(4, "\"no_agreement\"", "\"consent_given\"");
  ExpectBad(5, Modified(5));
}

TEST_F(LedgerTest, TamperEditedEventFactIsCaughtAtTheRowsFirstEntry) {
  AppendStandard();
  // The event's id is stored once per row and is part of every entry of it.
  EditBody(4, "\"evt-3\"", "\"evt-99\"");
  ExpectBad(4, Modified(4));
}

TEST_F(LedgerTest, TamperEditedAndRehashedMidRowEntryIsCaughtAtTheNextEntry) {
  AppendStandard();
  EditBody(4, "\"no_agreement\"", "\"consent_given\"");
  // Recompute entry 5's stored hash from its edited content, as rebuilt by Export.
  const std::vector<Exported> edited = ExportEntries();
  ASSERT_EQ(edited.size(), 9u);
  ASSERT_THAT(edited[4].entry, HasSubstr("\"reason\":\"consent_given\""));
  SetStoredHash(4, 1, edited[4].entry);
  ASSERT_EQ(StoredHash(5), LeafHex(edited[4].entry));
  ExpectBad(6, Modified(6));
}

TEST_F(LedgerTest, TamperEditedAndRehashedLastEntryOfARowIsCaughtAtTheNextRow) {
  AppendStandard();
  EditBody(4, "\"outside_window\"", "\"consent_given\"");
  const std::vector<Exported> edited = ExportEntries();
  ASSERT_EQ(edited.size(), 9u);
  ASSERT_THAT(edited[5].entry, HasSubstr("\"reason\":\"consent_given\""));
  SetStoredHash(4, 2, edited[5].entry);
  ExpectBad(7, Modified(7));
}

TEST_F(LedgerTest, TamperEditedAndRehashedLastEntryIsCaughtByTheCommittedHead) {
  AppendStandard();
  EditBody(8, "\"sha256:bb\"", "\"sha256:cc\"");
  const std::vector<Exported> edited = ExportEntries();
  ASSERT_EQ(edited.size(), 9u);
  ASSERT_THAT(edited[8].entry, HasSubstr("\"delivered\":\"sha256:cc\""));
  SetStoredHash(8, 1, edited[8].entry);
  ExpectBad(9, kHeadDiffers);
}

TEST_F(LedgerTest, TamperDeletedMiddleRow) {
  AppendStandard();
  DeleteRow(4);
  ExpectBad(4, Missing(4, 7));
}

TEST_F(LedgerTest, TamperDeletedFirstRow) {
  AppendStandard();
  DeleteRow(1);
  ExpectBad(1, Missing(1, 2));
}

TEST_F(LedgerTest, TamperDeletedLastRowIsCaughtByTheCommittedSize) {
  AppendStandard();
  DeleteRow(8);
  ExpectBad(8, SizeMismatch(7, 9));
}

TEST_F(LedgerTest, TamperInsertedRowRenumberingTheRestIsCaughtAtTheDisplacedEntry) {
  AppendStandard();
  // Make room at seq 4 and slip in a well-formed row that links to entry 3 and carries a
  // correct hash of its own: the displaced entry (now 5) is the first that fails.
  Renumber(4, 1);
  const std::string forged = ForgeEntry(4, StoredHash(3), "crm");
  InsertRow(4, PolicyId(kPolicy), ForgeBody({"crm"}), LeafBytes(forged));
  ASSERT_EQ(Rows().size(), 6u);
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 10u);
  ASSERT_EQ(entries[3].entry, forged);  // The forged row rebuilds to the forged entry.
  ExpectBad(5, Modified(5));
}

TEST_F(LedgerTest, TamperInsertedCopyOfARow) {
  AppendStandard();
  Renumber(4, 2);
  const StoredRow two = RowAt(2);
  InsertRow(4, two.policy, two.body, two.hashes);
  ExpectBad(4, Modified(4));
}

TEST_F(LedgerTest, TamperRowOverlappingTheRowBeforeIsStoredOutOfOrder) {
  AppendStandard();
  // A copy of row 4 (entries 4-6) stored again at seq 5: rows 1-4 verify through entry 6, then
  // the next stored row claims to start at 5.
  const StoredRow four = RowAt(4);
  InsertRow(5, four.policy, four.body, four.hashes);
  ExpectBad(7, OutOfOrder(7, 5));
}

TEST_F(LedgerTest, TamperSwappedRows) {
  AppendStandard();
  // Rows 2 and 8 both hold two entries, so every seq still lines up.
  const StoredRow two = RowAt(2), eight = RowAt(8);
  std::vector<StoredRow> rows = Rows();
  for (StoredRow& r : rows) {
    if (r.seq == 2) {
      r.seq = 8;
    } else if (r.seq == 8) {
      r.seq = 2;
    }
  }
  WriteRows(rows);
  ASSERT_EQ(RowAt(2).body, eight.body);
  ASSERT_EQ(RowAt(8).body, two.body);
  ExpectBad(2, Modified(2));
}

TEST_F(LedgerTest, TamperSwappedEntriesWithinARow) {
  AppendStandard();
  // Entries 4 and 5: swap their tuples and their hashes.
  const StoredRow four = RowAt(4);
  std::string body = four.body;
  const std::string a = "[\"crm\",\"deny\",\"no_consent\",null,[],[],[],null]";
  const std::string b = "[\"lake\",\"deny\",\"no_agreement\",null,[],[],[],null]";
  const size_t at = body.find(a + "," + b);
  ASSERT_NE(at, std::string::npos) << body;
  body.replace(at, a.size() + 1 + b.size(), b + "," + a);
  SetBody(4, body);
  std::string hashes = four.hashes;
  hashes = hashes.substr(kHashBytes, kHashBytes) + hashes.substr(0, kHashBytes) +
           hashes.substr(2 * kHashBytes);
  SetHashes(4, hashes);
  ExpectBad(4, Modified(4));
}

TEST_F(LedgerTest, RowsAppendedPastTheCommittedEndAreNotPartOfTheLedger) {
  AppendStandard();
  // Two forged entries after entry 9, each correctly linked and hashed, appended to the files
  // without committing them: they are a tail, as a batch killed before its commit leaves.
  const std::string e10 = ForgeEntry(10, StoredHash(9), "crm");
  const std::string e11 = ForgeEntry(11, LeafHex(e10), "lake");
  InsertRow(10, PolicyId(kPolicy), ForgeBody({"crm", "lake"}), LeafBytes(e10) + LeafBytes(e11),
            /*fix_lengths=*/false);
  const VerifyReport r = MustVerify();
  EXPECT_FALSE(r.first_bad_seq.has_value()) << r.problem;
  EXPECT_EQ(r.entries, 9);
  EXPECT_GT(r.uncommitted_bytes, 0);
  EXPECT_EQ(ExportEntries().size(), 9u);
  // The next writer cuts the tail away and appends after entry 9.
  AppendEvents({{Deny("evt-6", "crm")}});
  EXPECT_EQ(MustVerify().uncommitted_bytes, 0);
  ExpectVerifies(10);
  EXPECT_EQ(ExportEntries().back().event_id, "evt-6");
}

TEST_F(LedgerTest, TamperAppendedForgedRowWithRaisedLengthsIsCaughtByTheHead) {
  AppendStandard();
  const std::string e10 = ForgeEntry(10, StoredHash(9), "crm");
  InsertRow(10, PolicyId(kPolicy), ForgeBody({"crm"}), LeafBytes(e10));
  ASSERT_TRUE(db_->SetMeta("ledger_size", "10").ok());
  ExpectBad(10, kHeadDiffers);
}

TEST_F(LedgerTest, TamperBodyThatIsNotJsonIsStoredDamaged) {
  AppendStandard();
  SetBody(4, "this is not json");
  ExpectBad(4, Damaged(4));
}

TEST_F(LedgerTest, TamperBodyWithAnUnknownDecisionIsStoredDamaged) {
  AppendStandard();
  EditBody(4, "\"lake\",\"deny\"", "\"lake\",\"approve\"");
  ExpectBad(4, Damaged(4));
}

TEST_F(LedgerTest, TamperHashesFileCutShortIsNamed) {
  AppendStandard();
  const std::string hashes = ReadAll(LedgerFile("hashes"));
  WriteAll(LedgerFile("hashes"), hashes.substr(0, 7 * kHashBytes));
  ExpectBad(8, "the stored hashes end before entry 8 (the hashes file was cut short)");
}

TEST_F(LedgerTest, TamperRowIndexPointingElsewhereIsNamed) {
  AppendStandard();
  // Point the index record of the third row (entry 4) at the second row's offset.
  std::string index = ReadAll(LedgerFile("rows.idx"));
  ASSERT_EQ(index.size(), 5u * 16);
  index.replace(2 * 16 + 8, 8, index.substr(1 * 16 + 8, 8));
  WriteAll(LedgerFile("rows.idx"), index);
  ExpectBad(4, IndexDisagrees(4));
}

TEST_F(LedgerTest, TamperCommittedLengthsEditedAreNamed) {
  AppendStandard();
  ASSERT_TRUE(db_->SetMeta("ledger_rows", "4").ok());
  ExpectBad(8, IndexDisagrees(8));
}

TEST_F(LedgerTest, TamperChangedPolicyVersionIsCaughtAtItsFirstEntry) {
  AppendEvents({{Deny("A", "crm")}, {Deny("B", "crm"), Deny("B", "lake")}}, kPolicy);
  AppendEvents({{Deny("C", "crm"), Deny("C", "lake")}, {Deny("D", "crm")}}, kPolicy2);
  ExpectVerifies(6);
  Sql("UPDATE policies SET version = 'sha256:forged' WHERE version = '" + std::string(kPolicy2) +
      "'");
  ExpectBad(4, Modified(4));
}

TEST_F(LedgerTest, TamperChangedFirstPolicyVersionIsCaughtAtEntryOne) {
  AppendEvents({{Deny("A", "crm")}, {Deny("B", "crm"), Deny("B", "lake")}}, kPolicy);
  AppendEvents({{Deny("C", "crm")}}, kPolicy2);
  Sql("UPDATE policies SET version = 'sha256:forged' WHERE version = '" + std::string(kPolicy) +
      "'");
  ExpectBad(1, Modified(1));
}

TEST_F(LedgerTest, TamperRowPointedAtAnotherPolicy) {
  AppendEvents({{Deny("A", "crm")}, {Deny("B", "crm"), Deny("B", "lake")}}, kPolicy);
  AppendEvents({{Deny("C", "crm")}}, kPolicy2);
  const int64_t other = PolicyId(kPolicy2);
  EditRow(2, [&](StoredRow& r) { r.policy = other; });
  ExpectBad(2, Modified(2));
}

TEST_F(LedgerTest, TamperRowPointedAtNoPolicyIsNamed) {
  AppendStandard();
  EditRow(2, [](StoredRow& r) { r.policy = 999; });
  ExpectBad(2, UnknownPolicy(2));
}

TEST_F(LedgerTest, TamperCommittedHeadEdited) {
  AppendStandard();
  ASSERT_TRUE(db_->SetMeta("ledger_head", std::string(64, 'f')).ok());
  ExpectBad(9, kHeadDiffers);
}

TEST_F(LedgerTest, TamperCommittedHeadDeletedIsReportedNotACrash) {
  AppendStandard();
  Sql("DELETE FROM meta WHERE key = 'ledger_head'");
  ExpectBad(9, kHeadDiffers);
}

TEST_F(LedgerTest, TamperCommittedSizeLowered) {
  AppendStandard();
  ASSERT_TRUE(db_->SetMeta("ledger_size", "8").ok());
  ExpectBad(9, SizeMismatch(9, 8));
}

TEST_F(LedgerTest, TamperCommittedSizeRaised) {
  AppendStandard();
  ASSERT_TRUE(db_->SetMeta("ledger_size", "12").ok());
  ExpectBad(10, SizeMismatch(9, 12));
}

TEST_F(LedgerTest, TamperCommittedSizeGarbledIsReportedNotAnException) {
  AppendStandard();
  ASSERT_TRUE(db_->SetMeta("ledger_size", "nine").ok());
  // The chain holds; what it was committed as cannot be read.
  ExpectBad(9, kSizeNotANumber);
}

TEST_F(LedgerTest, TamperCommittedSizeDeleted) {
  AppendStandard();
  Sql("DELETE FROM meta WHERE key = 'ledger_size'");
  ExpectBad(1, SizeMismatch(9, 0));
}

// ---- Export ----

TEST_F(LedgerTest, ExportWritesOneLinePerEntryOldestFirst) {
  AppendStandard();
  std::string text;
  ASSERT_TRUE(ExportTo(&text).ok());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 9u);
  std::string prev = GenesisHash();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Exported& e = entries[i];
    EXPECT_EQ(e.seq, static_cast<int64_t>(i) + 1);
    // Everything formats.md requires of an export line is there.
    for (const char* key : {"seq", "event_id", "sink", "decision", "reason", "consent_ids",
                            "transforms", "policy_version", "prev_hash", "hash"}) {
      EXPECT_TRUE(e.keys.count(key)) << key << " missing in " << e.line;
    }
    EXPECT_EQ(e.hash, StoredHash(e.seq));
    EXPECT_EQ(LeafHex(e.entry), e.hash);
    EXPECT_EQ(e.prev_hash, prev);
    prev = e.hash;
  }
  EXPECT_EQ(entries[0].event_id, "evt-1");
  EXPECT_EQ(entries[3].sink, "crm");
  EXPECT_EQ(entries[4].sink, "lake");
  EXPECT_EQ(entries[5].sink, "sms");
  EXPECT_EQ(entries[6].reason, "id_conflict");
}

TEST_F(LedgerTest, ExportOfAnEmptyLedgerWritesNothing) {
  std::string text = "sentinel";
  ASSERT_TRUE(ExportTo(&text).ok());
  EXPECT_EQ(text, "");
}

TEST_F(LedgerTest, ExportOfAnEditedRowKeepsTheStoredHashSoItFailsOutsideVerification) {
  AppendStandard();
  EditBody(4, "\"no_agreement\"", "\"consent_given\"");
  const std::vector<Exported> entries = ExportEntries();
  ASSERT_EQ(entries.size(), 9u);
  EXPECT_EQ(entries[4].reason, "consent_given");
  EXPECT_NE(LeafHex(entries[4].entry), entries[4].hash);
  EXPECT_EQ(entries[4].hash, StoredHash(5));
  EXPECT_EQ(entries[5].prev_hash, entries[4].hash);  // prev_hash is the stored hash.
}

TEST_F(LedgerTest, ExportOfADamagedRowFailsWithDataLoss) {
  AppendStandard();
  SetBody(4, "[\"evt-3\"");
  std::string text;
  const absl::Status s = ExportTo(&text);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(s.message(), HasSubstr("entry 4"));
}

TEST_F(LedgerTest, ExportOfARowWithBadHashesFailsWithDataLoss) {
  AppendStandard();
  SetHashes(8, RowAt(8).hashes.substr(0, kHashBytes));
  std::string text;
  const absl::Status s = ExportTo(&text);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(s.message(), HasSubstr("entry 8"));
}

// ---- ForEachEntry ----

TEST_F(LedgerTest, ForEachEntryHandsOverEveryEntryAsExportedOldestFirst) {
  AppendStandard();
  AppendEvents({{Allow("evt-6", "crm", "sha256:cc", 6)}}, kPolicy2);
  const std::vector<Exported> exported = ExportEntries();
  ASSERT_EQ(exported.size(), 10u);
  size_t i = 0;
  const absl::Status s = ForEachEntry(*db_, [&](const StoredEntry& e) {
    EXPECT_LT(i, exported.size());
    if (i >= exported.size()) return absl::OkStatus();
    const Exported& x = exported[i++];
    EXPECT_EQ(e.seq, x.seq);
    EXPECT_EQ(e.policy_version, x.policy_version);
    EXPECT_EQ(e.facts.event_id, x.event_id);
    EXPECT_EQ(e.facts.sink, x.sink);
    EXPECT_EQ(e.facts.reason, x.reason);
    EXPECT_EQ(e.facts.type, x.type);
    EXPECT_EQ(e.facts.line, x.line_no);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(i, exported.size());
}

TEST_F(LedgerTest, ForEachEntryGivesEveryEntryItsEventsFactsAndItsOwnDecision) {
  AppendStandard();
  std::vector<std::string> seen;
  ASSERT_TRUE(ForEachEntry(*db_, [&](const StoredEntry& e) {
                const EntryFacts& f = e.facts;
                std::string item = std::string(OutcomeName(f.outcome)) + " " +
                                   std::string(f.event_id) + " " + std::to_string(f.run) + " " +
                                   std::to_string(f.line) + " " + std::string(f.delivered) + " " +
                                   common::StrJoin(f.consent_ids, ",") + " " +
                                   std::to_string(f.consent_scope ? f.consent_scope->size() : 0);
                seen.push_back(item);
                return absl::OkStatus();
              }).ok());
  EXPECT_THAT(seen, ElementsAre("deny evt-1 1 1   0", "allow evt-2 1 2 sha256:abc c-1,c-2 1",
                                "deny evt-2 1 2   1", "deny evt-3 1 3   0", "deny evt-3 1 3   0",
                                "deny evt-3 1 3   0", "quarantine evt-4 1 4   0",
                                "allow evt-5 1 5 sha256:aa  0", "allow evt-5 1 5 sha256:bb  0"));
}

TEST_F(LedgerTest, ForEachEntryOfFactsOnlyHandsOverTheSameEntriesWithoutText) {
  AppendStandard();
  std::vector<std::string> full, facts;
  ASSERT_TRUE(ForEachEntry(*db_, [&](const StoredEntry& e) {
                full.push_back(std::to_string(e.seq) + " " + std::string(e.facts.event_id) + " " +
                               std::string(e.facts.sink) + " " + std::string(e.policy_version));
                EXPECT_FALSE(e.text.empty());
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(ForEachEntry(
                  *db_,
                  [&](const StoredEntry& e) {
                    facts.push_back(std::to_string(e.seq) + " " + std::string(e.facts.event_id) +
                                    " " + std::string(e.facts.sink) + " " +
                                    std::string(e.policy_version));
                    EXPECT_TRUE(e.text.empty());
                    EXPECT_TRUE(e.hash.empty());
                    return absl::OkStatus();
                  },
                  Read::kFacts)
                  .ok());
  EXPECT_EQ(full.size(), 9u);
  EXPECT_EQ(facts, full);
}

TEST_F(LedgerTest, ForEachEntryStopsAtTheCallersStatus) {
  AppendStandard();
  int calls = 0;
  const absl::Status s = ForEachEntry(*db_, [&](const StoredEntry& e) {
    ++calls;
    return e.seq == 3 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 3);
}

TEST_F(LedgerTest, ForEachEntryOfADamagedRowFailsWithDataLossAfterTheEntriesBeforeIt) {
  AppendStandard();
  SetBody(4, "[\"evt-3\"");
  int64_t last = 0;
  const absl::Status s = ForEachEntry(*db_, [&](const StoredEntry& e) {
    last = e.seq;
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(s.message(), HasSubstr("entry 4"));
  EXPECT_EQ(last, 3);
}

// ---- EntriesForEvent ----

// Records the router's bookkeeping for an accepted event (its seen record's first_seq, one
// committed batch each) or a quarantine.
class EntriesForEventTest : public LedgerTest {
 protected:
  void Seen(std::string_view id, int64_t first_seq) {
    if (seen_ == nullptr) {
      auto w = seen::Writer::Open(*db_);
      ASSERT_TRUE(w.ok()) << w.status();
      seen_ = std::move(*w);
    }
    crypto::Digest existing{};
    auto inserted = seen_->Insert(id, crypto::Digest{}, first_seq, "", &existing);
    ASSERT_TRUE(inserted.ok() && *inserted) << id;
    ASSERT_TRUE(db_->Begin().ok());
    ASSERT_TRUE(seen_->Flush().ok());
    ASSERT_TRUE(seen_->SaveHead().ok());
    ASSERT_TRUE(db_->Commit().ok());
  }
  std::unique_ptr<seen::Writer> seen_;
  void Quarantined(std::string_view id, int64_t seq) {
    auto q = db_->Prepare("INSERT INTO quarantine_index (event_id, seq) VALUES (?, ?)");
    ASSERT_TRUE(q.ok());
    q->Bind(1, id).Bind(2, seq);
    ASSERT_TRUE(q->Run().ok());
  }
  std::vector<int64_t> SeqsFor(std::string_view id) {
    auto entries = EntriesForEvent(*db_, id);
    EXPECT_TRUE(entries.ok()) << entries.status();
    std::vector<int64_t> seqs;
    if (!entries.ok()) return seqs;
    for (const auto& e : *entries) {
      json::StrictParser parser;
      std::string canonical;
      auto root = parser.ParseCopy(e, &canonical);
      int64_t seq = 0;
      EXPECT_TRUE(root.ok() && (*root)["seq"].get_int64().get(seq) == simdjson::SUCCESS) << e;
      seqs.push_back(seq);
    }
    return seqs;
  }
};

TEST_F(EntriesForEventTest, AcceptedRowPlusQuarantinesExactlyAsExported) {
  // 1: C quarantined; 2-3: A accepted (two sinks); 4-5: B accepted; 6: A quarantined as an id
  // conflict; 7: C's corrected resend accepted.
  AppendEvents({{Quarantine("C")},
                {Deny("A", "crm"), Deny("A", "lake")},
                {Deny("B", "crm"), Deny("B", "lake")},
                {Quarantine("A")},
                {Deny("C", "crm")}});
  Quarantined("C", 1);
  Seen("A", 2);
  Seen("B", 4);
  Quarantined("A", 6);
  Seen("C", 7);
  EXPECT_THAT(SeqsFor("A"), ElementsAre(2, 3, 6));
  EXPECT_THAT(SeqsFor("B"), ElementsAre(4, 5));
  EXPECT_THAT(SeqsFor("C"), ElementsAre(1, 7));
  EXPECT_TRUE(SeqsFor("unknown").empty());
  // Each entry is the exported entry, prev_hash included.
  const std::vector<Exported> exported = ExportEntries();
  ASSERT_EQ(exported.size(), 7u);
  auto a = EntriesForEvent(*db_, "A");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ((*a)[0], exported[1].entry);
  EXPECT_EQ((*a)[1], exported[2].entry);
  EXPECT_EQ((*a)[2], exported[5].entry);
  auto c = EntriesForEvent(*db_, "C");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0], exported[0].entry);
  EXPECT_EQ((*c)[1], exported[6].entry);
}

TEST_F(EntriesForEventTest, QuarantineRightAfterAcceptanceIsListedOnce) {
  // A conflicting resend of A on the very next line: its quarantine row directly follows A's
  // decisions and carries the same event id.
  AppendEvents({{Deny("A", "crm"), Deny("A", "lake")}, {Quarantine("A")}, {Deny("B", "crm")}});
  Seen("A", 1);
  Quarantined("A", 3);
  Seen("B", 4);
  EXPECT_THAT(SeqsFor("A"), ElementsAre(1, 2, 3));
  EXPECT_THAT(SeqsFor("B"), ElementsAre(4));
}

TEST_F(EntriesForEventTest, RowsNamedTwiceAreListedOnceInLedgerOrder) {
  AppendEvents({{Quarantine("Q")}, {Deny("A", "crm")}, {Quarantine("Q")}, {Quarantine("Q")}});
  // Indexed out of order, and one row named twice (also as the seen row).
  Quarantined("Q", 4);
  Quarantined("Q", 1);
  Quarantined("Q", 3);
  Quarantined("Q", 1);
  Seen("Q", 3);
  EXPECT_THAT(SeqsFor("Q"), ElementsAre(1, 3, 4));
}

TEST_F(EntriesForEventTest, OnlyQuarantines) {
  AppendEvents({{Quarantine("Q")}, {Deny("A", "crm")}, {Quarantine("Q")}});
  Quarantined("Q", 1);
  Seen("A", 2);
  Quarantined("Q", 3);
  EXPECT_THAT(SeqsFor("Q"), ElementsAre(1, 3));
  EXPECT_THAT(SeqsFor("A"), ElementsAre(2));
}

TEST_F(EntriesForEventTest, ADamagedRowIsDataLoss) {
  AppendEvents({{Deny("A", "crm"), Deny("A", "lake")}, {Deny("B", "crm")}});
  Seen("A", 1);
  Seen("B", 3);
  SetBody(1, "not json");
  auto a = EntriesForEvent(*db_, "A");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDataLoss) << a.status();
  EXPECT_THAT(SeqsFor("B"), ElementsAre(3));  // Other rows still read.
}

}  // namespace
}  // namespace loopgate::ledger
