#include "ledger/ledger.h"

#include <stdio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace loopgate::ledger {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::string_view kPolicy = "sha256:policy-under-test";

// One stored ledger row.
struct Row {
  int64_t seq = 0;
  std::optional<std::string> event_id;
  std::string entry;
  std::string hash;
};

// The members of an entry, as parsed.
struct Parsed {
  std::string canonical;
  std::set<std::string> keys;
  int64_t seq = 0;
  std::string prev_hash;
  bool ok = false;
};

Parsed Parse(std::string_view text) {
  Parsed p;
  json::StrictParser parser;
  auto root = parser.ParseCopy(text, &p.canonical);
  simdjson::dom::object o;
  if (!root.ok() || root->get_object().get(o) != simdjson::SUCCESS) return p;
  for (auto field : o) p.keys.emplace(field.key);
  std::string_view prev;
  if (o["seq"].get_int64().get(p.seq) != simdjson::SUCCESS) return p;
  if (o["prev_hash"].get_string().get(prev) != simdjson::SUCCESS) return p;
  p.prev_hash = prev;
  p.ok = true;
  return p;
}

std::string Sha256Hex(std::string_view text) { return crypto::ToHex(crypto::Sha256(text)); }

class LedgerTest : public testing::Test {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    root_ = testing::TempDir() + "/loopgate_ledger_" + info->test_suite_name() + "_" +
            info->name() + "_" + std::to_string(::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    auto db = store::Database::Open(root_ + "/state");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(root_);
  }

  // Appends `facts` in one committed transaction, as the router does; returns the seqs.
  std::vector<int64_t> AppendCommitted(const std::vector<EntryFacts>& facts) {
    std::vector<int64_t> seqs;
    auto w = Writer::Open(*db_, std::string(kPolicy));
    EXPECT_TRUE(w.ok()) << w.status();
    if (!w.ok()) return seqs;
    EXPECT_TRUE(db_->Begin().ok());
    for (const auto& f : facts) {
      auto seq = (*w)->Append(f);
      EXPECT_TRUE(seq.ok()) << seq.status();
      if (seq.ok()) seqs.push_back(*seq);
    }
    EXPECT_TRUE((*w)->SaveHead().ok());
    EXPECT_TRUE(db_->Commit().ok());
    return seqs;
  }

  // A ledger of `n` deny entries for events evt-1..evt-n.
  void AppendDenies(int n) {
    ids_.clear();
    for (int i = 1; i <= n; ++i) ids_.push_back("evt-" + std::to_string(i));
    std::vector<EntryFacts> facts;
    for (int i = 0; i < n; ++i) facts.push_back(Deny(ids_[static_cast<size_t>(i)], "crm"));
    AppendCommitted(facts);
  }

  static EntryFacts Deny(std::string_view event_id, std::string_view sink) {
    EntryFacts f;
    f.event_id = event_id;
    f.sink = sink;
    f.outcome = Outcome::kDeny;
    f.reason = "no_consent";
    f.type = "patient.support.milestone";
    f.source = "support_hub";
    f.time = "2026-04-01T00:00:00Z";
    f.line = 1;
    f.run = 1;
    return f;
  }

  static EntryFacts Quarantine(std::string_view event_id) {
    EntryFacts f;
    f.event_id = event_id;
    f.outcome = Outcome::kQuarantine;
    f.reason = "id_conflict";
    f.detail = "this event id was already accepted with different content";
    f.line = 9;
    f.run = 1;
    return f;
  }

  std::vector<Row> Rows() {
    std::vector<Row> rows;
    auto q = db_->Prepare("SELECT seq, event_id, entry, hash FROM ledger ORDER BY seq");
    EXPECT_TRUE(q.ok());
    if (!q.ok()) return rows;
    while (true) {
      auto r = q->Step();
      EXPECT_TRUE(r.ok());
      if (!r.ok() || !*r) break;
      Row row;
      row.seq = q->Int(0);
      if (!q->IsNull(1)) row.event_id = std::string(q->Text(1));
      row.entry = q->Text(2);
      row.hash = q->Text(3);
      rows.push_back(std::move(row));
    }
    return rows;
  }

  Row RowAt(int64_t seq) {
    for (auto& r : Rows()) {
      if (r.seq == seq) return r;
    }
    ADD_FAILURE() << "no ledger row " << seq;
    return Row{};
  }

  void SetRow(int64_t seq, std::string_view entry, std::string_view hash) {
    auto q = db_->Prepare("UPDATE ledger SET entry = ?, hash = ? WHERE seq = ?");
    ASSERT_TRUE(q.ok());
    q->Bind(1, entry).Bind(2, hash).Bind(3, seq);
    ASSERT_TRUE(q->Run().ok());
    ASSERT_EQ(sqlite3_changes(db_->raw()), 1);
  }

  void InsertRow(int64_t seq, std::string_view event_id, std::string_view entry,
                 std::string_view hash) {
    auto q = db_->Prepare("INSERT INTO ledger (seq, event_id, entry, hash) VALUES (?, ?, ?, ?)");
    ASSERT_TRUE(q.ok());
    q->Bind(1, seq).Bind(2, event_id).Bind(3, entry).Bind(4, hash);
    ASSERT_TRUE(q->Run().ok());
  }

  // A well-formed entry text for `seq` linking to `prev`, as a forger would write it.
  static std::string Forge(int64_t seq, std::string_view prev, std::string_view event_id) {
    return "{\"consent_ids\":[],\"consent_scope\":null,\"consent_versions\":[],\"decision\":\"allow\",\"delivered\":null,"
           "\"detail\":null,\"event_id\":\"" +
           std::string(event_id) + "\",\"line\":1,\"policy_version\":\"" + std::string(kPolicy) +
           "\",\"prev_hash\":\"" + std::string(prev) +
           "\",\"reason\":null,\"run\":1,\"seq\":" + std::to_string(seq) +
           ",\"sink\":\"crm\",\"source\":null,\"time\":null,\"transforms\":[],\"type\":null,"
           "\"v\":1}";
  }

  VerifyReport MustVerify() {
    auto r = Verify(*db_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : VerifyReport{};
  }

  std::string root_;
  std::vector<std::string> ids_;
  std::unique_ptr<store::Database> db_;
};

TEST_F(LedgerTest, GenesisIsSixtyFourZeros) { EXPECT_EQ(GenesisHash(), std::string(64, '0')); }

TEST_F(LedgerTest, WriterAppendsCanonicalHashChainedEntries) {
  consent::ConsentRecord c1, c2;
  c1.consent_id = "c-1";
  c1.recorded_at_text = "2026-01-01T00:00:05Z";
  c2.consent_id = "c-2";
  c2.recorded_at_text = "2026-02-01T00:00:00Z";
  const std::vector<const consent::ConsentRecord*> cited = {&c1, &c2};
  const std::vector<std::string> transforms = {"patient_id:tokenize", "zip:generalize"};
  EntryFacts allow = Deny("evt-1", "analytics_lake");
  allow.outcome = Outcome::kAllow;
  allow.reason = "";
  allow.consents = &cited;
  allow.transforms = &transforms;
  allow.delivered = "sha256:abc";
  EntryFacts deny = Deny("evt-1", "crm");
  EntryFacts quarantine = Quarantine("");  // No id could be read.

  auto w = Writer::Open(*db_, std::string(kPolicy));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->size(), 0);
  EXPECT_EQ((*w)->head_hash(), GenesisHash());
  ASSERT_TRUE(db_->Begin().ok());
  std::vector<int64_t> seqs;
  for (const EntryFacts* f : {&allow, &deny, &quarantine}) {
    auto seq = (*w)->Append(*f);
    ASSERT_TRUE(seq.ok()) << seq.status();
    seqs.push_back(*seq);
  }
  ASSERT_TRUE((*w)->SaveHead().ok());
  ASSERT_TRUE(db_->Commit().ok());
  EXPECT_THAT(seqs, ElementsAre(1, 2, 3));
  EXPECT_EQ((*w)->size(), 3);

  const std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 3u);
  std::string prev = GenesisHash();
  for (const Row& row : rows) {
    const Parsed p = Parse(row.entry);
    ASSERT_TRUE(p.ok) << row.entry;
    EXPECT_EQ(p.canonical, row.entry) << "entry " << row.seq << " is not RFC 8785 canonical";
    EXPECT_EQ(p.seq, row.seq);
    EXPECT_EQ(p.prev_hash, prev);
    EXPECT_EQ(row.hash, Sha256Hex(row.entry));
    EXPECT_EQ(row.hash.size(), 64u);
    prev = row.hash;
  }
  EXPECT_EQ((*w)->head_hash(), prev);
  auto size = db_->GetMeta("ledger_size");
  auto head = db_->GetMeta("ledger_head");
  ASSERT_TRUE(size.ok() && size->has_value());
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(**size, "3");
  EXPECT_EQ(**head, prev);

  EXPECT_EQ(rows[0].event_id, "evt-1");
  EXPECT_EQ(rows[1].event_id, "evt-1");
  EXPECT_FALSE(rows[2].event_id.has_value());  // Column is NULL without an id.

  // The whole first entry, byte for byte (members sorted as RFC 8785 requires).
  EXPECT_EQ(rows[0].entry,
            "{\"consent_ids\":[\"c-1\",\"c-2\"],\"consent_scope\":null,"
            "\"consent_versions\":[\"2026-01-01T00:00:05Z\",\"2026-02-01T00:00:00Z\"],"
            "\"decision\":\"allow\",\"delivered\":\"sha256:abc\",\"detail\":null,"
            "\"event_id\":\"evt-1\",\"line\":1,\"policy_version\":\"sha256:policy-under-test\","
            "\"prev_hash\":\"" +
                GenesisHash() +
                "\",\"reason\":null,\"run\":1,\"seq\":1,"
                "\"sink\":\"analytics_lake\",\"source\":\"support_hub\","
                "\"time\":\"2026-04-01T00:00:00Z\","
                "\"transforms\":[\"patient_id:tokenize\",\"zip:generalize\"],"
                "\"type\":\"patient.support.milestone\",\"v\":1}");
  EXPECT_THAT(rows[1].entry, HasSubstr("\"decision\":\"deny\""));
  EXPECT_THAT(rows[1].entry, HasSubstr("\"reason\":\"no_consent\""));
  EXPECT_THAT(rows[2].entry, HasSubstr("\"decision\":\"quarantine\""));
  EXPECT_THAT(rows[2].entry, HasSubstr("\"sink\":null"));
  EXPECT_THAT(rows[2].entry, HasSubstr("\"event_id\":null"));
  EXPECT_THAT(rows[2].entry, HasSubstr("\"reason\":\"id_conflict\""));
}

TEST_F(LedgerTest, EntriesHoldExactlyTheDocumentedFields) {
  // formats.md "Ledger export" requires these (plus "hash", added on export); ledger.h lists
  // the rest. Nothing else may appear: in particular no payload member.
  const std::set<std::string> documented = {
      "consent_ids", "consent_scope", "consent_versions", "decision", "delivered", "detail",
      "event_id",
      "line",        "policy_version",   "prev_hash", "reason",     "run",    "seq",
      "sink",        "source",           "time",      "transforms", "type",   "v"};
  const std::vector<std::string> required = {"seq",        "event_id",       "sink",
                                             "decision",   "reason",         "consent_ids",
                                             "transforms", "policy_version", "prev_hash"};
  EntryFacts allow = Deny("evt-1", "crm");
  allow.outcome = Outcome::kAllow;
  allow.reason = "";
  AppendCommitted({allow, Deny("evt-2", "crm"), Quarantine("evt-3")});
  for (const Row& row : Rows()) {
    const Parsed p = Parse(row.entry);
    ASSERT_TRUE(p.ok);
    EXPECT_EQ(p.keys, documented) << row.entry;
    for (const auto& k : required) EXPECT_TRUE(p.keys.count(k)) << k;
  }
}

TEST_F(LedgerTest, WriterOpenContinuesAnExistingChain) {
  AppendDenies(2);
  const std::string head = RowAt(2).hash;
  auto seqs = AppendCommitted({Deny("evt-3", "crm")});
  EXPECT_THAT(seqs, ElementsAre(3));
  const Row third = RowAt(3);
  EXPECT_EQ(Parse(third.entry).prev_hash, head);
  const VerifyReport r = MustVerify();
  EXPECT_FALSE(r.first_bad_seq.has_value()) << r.problem;
  EXPECT_EQ(r.entries, 3);
}

TEST_F(LedgerTest, VerifyPassesOnAnIntactLedger) {
  AppendDenies(5);
  const VerifyReport r = MustVerify();
  EXPECT_FALSE(r.first_bad_seq.has_value()) << r.problem;
  EXPECT_TRUE(r.problem.empty());
  EXPECT_EQ(r.entries, 5);
  EXPECT_EQ(r.head_hash, RowAt(5).hash);
}

TEST_F(LedgerTest, VerifyPassesOnAnEmptyLedger) {
  const VerifyReport r = MustVerify();
  EXPECT_FALSE(r.first_bad_seq.has_value()) << r.problem;
  EXPECT_EQ(r.entries, 0);
}

TEST_F(LedgerTest, TamperChangedTextIsCaughtAtThatEntry) {
  AppendDenies(5);
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET entry = replace(entry, '\"reason\":\"no_consent\"', "
                        "'\"reason\":\"consent_given\"') WHERE seq = 3")
                  .ok());
  ASSERT_THAT(RowAt(3).entry, HasSubstr("consent_given"));
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("entry 3"));
  EXPECT_THAT(r.problem, HasSubstr("modified"));
}

TEST_F(LedgerTest, TamperNonCanonicalEditIsCaughtAtThatEntry) {
  AppendDenies(3);
  Row row = RowAt(2);
  const std::string spaced = "{ " + row.entry.substr(1);
  SetRow(2, spaced, Sha256Hex(spaced));
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 2);
  EXPECT_THAT(r.problem, HasSubstr("canonical"));
}

TEST_F(LedgerTest, TamperChangedAndRehashedMiddleEntryIsCaughtByTheNextLink) {
  AppendDenies(5);
  Row row = RowAt(3);
  std::string edited = row.entry;
  const std::string from = "\"reason\":\"no_consent\"";
  ASSERT_NE(edited.find(from), std::string::npos);
  edited.replace(edited.find(from), from.size(), "\"reason\":\"consent_given\"");
  SetRow(3, edited, Sha256Hex(edited));
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 4);
  EXPECT_THAT(r.problem, HasSubstr("entry 4"));
  EXPECT_THAT(r.problem, HasSubstr("prev_hash"));
}

TEST_F(LedgerTest, TamperChangedAndRehashedLastEntryIsCaughtByTheCommittedHead) {
  AppendDenies(5);
  Row row = RowAt(5);
  std::string edited = row.entry;
  const std::string from = "\"reason\":\"no_consent\"";
  edited.replace(edited.find(from), from.size(), "\"reason\":\"consent_given\"");
  SetRow(5, edited, Sha256Hex(edited));
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 5);
  EXPECT_THAT(r.problem, HasSubstr("committed head"));
}

TEST_F(LedgerTest, TamperDeletedMiddleEntry) {
  AppendDenies(5);
  ASSERT_TRUE(db_->Exec("DELETE FROM ledger WHERE seq = 3").ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("entry 3 is missing"));
}

TEST_F(LedgerTest, TamperDeletedFirstEntry) {
  AppendDenies(3);
  ASSERT_TRUE(db_->Exec("DELETE FROM ledger WHERE seq = 1").ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 1);
  EXPECT_THAT(r.problem, HasSubstr("entry 1 is missing"));
}

TEST_F(LedgerTest, TamperDeletedLastEntryIsCaughtByTheCommittedSize) {
  AppendDenies(5);
  ASSERT_TRUE(db_->Exec("DELETE FROM ledger WHERE seq = 5").ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 5);
  EXPECT_THAT(r.problem, HasSubstr("4 entries but 5 were committed"));
  EXPECT_THAT(r.problem, HasSubstr("deleted"));
}

TEST_F(LedgerTest, TamperInsertedEntryByRenumbering) {
  AppendDenies(5);
  // Make room at seq 3 and slip in a well-formed entry that links to entry 2 and carries a
  // correct hash of its own: the displaced entry (now 4) is the first that fails.
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET seq = seq + 100 WHERE seq >= 3").ok());
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET seq = seq - 99 WHERE seq >= 100").ok());
  const std::string forged = Forge(3, RowAt(2).hash, "evt-forged");
  InsertRow(3, "evt-forged", forged, Sha256Hex(forged));
  ASSERT_EQ(Rows().size(), 6u);
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 4);
  EXPECT_THAT(r.problem, HasSubstr("claims sequence number 3"));
}

TEST_F(LedgerTest, TamperInsertedCopyOfAnEntry) {
  AppendDenies(4);
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET seq = seq + 100 WHERE seq >= 3").ok());
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET seq = seq - 99 WHERE seq >= 100").ok());
  const Row two = RowAt(2);
  InsertRow(3, *two.event_id, two.entry, two.hash);
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("claims sequence number 2"));
}

TEST_F(LedgerTest, TamperAppendedForgedEntryIsCaughtByTheCommittedSize) {
  AppendDenies(3);
  const std::string forged = Forge(4, RowAt(3).hash, "evt-forged");
  InsertRow(4, "evt-forged", forged, Sha256Hex(forged));
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 4);
  EXPECT_THAT(r.problem, HasSubstr("appended outside Loopgate"));
}

TEST_F(LedgerTest, TamperSwappedEntries) {
  AppendDenies(5);
  const Row two = RowAt(2), four = RowAt(4);
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET seq = 1000 WHERE seq = 2").ok());
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET seq = 2 WHERE seq = 4").ok());
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET seq = 4 WHERE seq = 1000").ok());
  ASSERT_EQ(RowAt(2).entry, four.entry);
  ASSERT_EQ(RowAt(4).entry, two.entry);
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 2);
  EXPECT_THAT(r.problem, HasSubstr("claims sequence number 4"));
}

TEST_F(LedgerTest, TamperEventIdColumnOnly) {
  AppendDenies(5);
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET event_id = 'evt-99' WHERE seq = 2").ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 2);
  EXPECT_THAT(r.problem, HasSubstr("another event id"));
}

TEST_F(LedgerTest, TamperEventIdColumnNulled) {
  AppendDenies(3);
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET event_id = NULL WHERE seq = 3").ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("another event id"));
}

TEST_F(LedgerTest, TamperEventIdColumnSetWhereTheEntryHasNone) {
  AppendCommitted({Deny("evt-1", "crm"), Quarantine("")});
  ASSERT_TRUE(db_->Exec("UPDATE ledger SET event_id = '' WHERE seq = 2").ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 2);
  EXPECT_THAT(r.problem, HasSubstr("another event id"));
}

TEST_F(LedgerTest, TamperCommittedHead) {
  AppendDenies(3);
  ASSERT_TRUE(db_->SetMeta("ledger_head", std::string(64, 'f')).ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("committed head"));
}

TEST_F(LedgerTest, TamperRemovedCommittedHeadIsReportedNotACrash) {
  AppendDenies(3);
  ASSERT_TRUE(db_->Exec("DELETE FROM meta WHERE key = 'ledger_head'").ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("committed head"));
}

TEST_F(LedgerTest, TamperGarbledCommittedSizeIsReportedNotAnException) {
  AppendDenies(3);
  ASSERT_TRUE(db_->SetMeta("ledger_size", "three").ok());
  const VerifyReport r = MustVerify();
  ASSERT_TRUE(r.first_bad_seq.has_value());
  EXPECT_EQ(*r.first_bad_seq, 3);  // The chain holds; what it was committed as cannot be read.
  EXPECT_THAT(r.problem, HasSubstr("committed ledger size"));
}

TEST_F(LedgerTest, ExportWritesOneLinePerEntryWithItsHash) {
  consent::ConsentRecord c1;
  c1.consent_id = "c-1";
  c1.recorded_at_text = "2026-01-01T00:00:05Z";
  const std::vector<const consent::ConsentRecord*> cited = {&c1};
  const std::vector<std::string> transforms = {"hcp_id:tokenize"};
  EntryFacts allow = Deny("evt-1", "marketing");
  allow.outcome = Outcome::kAllow;
  allow.reason = "";
  allow.consents = &cited;
  allow.transforms = &transforms;
  allow.delivered = "sha256:00ff";
  AppendCommitted({allow, Deny("evt-1", "crm"), Quarantine("evt-2"), Quarantine("")});
  const std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 4u);

  const std::string path = root_ + "/export.ndjson";
  std::FILE* out = std::fopen(path.c_str(), "w");
  ASSERT_NE(out, nullptr);
  const absl::Status s = Export(*db_, out);
  std::fclose(out);
  ASSERT_TRUE(s.ok()) << s;

  std::ifstream in(path);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), rows.size());

  json::StrictParser parser;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string canonical;
    auto root = parser.ParseCopy(lines[i], &canonical);
    ASSERT_TRUE(root.ok()) << lines[i];
    simdjson::dom::object o;
    ASSERT_EQ(root->get_object().get(o), simdjson::SUCCESS);
    std::string_view hash;
    ASSERT_EQ(o["hash"].get_string().get(hash), simdjson::SUCCESS) << lines[i];
    EXPECT_EQ(hash, rows[i].hash);
    // Everything formats.md requires of an export line is there.
    for (const char* key : {"seq", "event_id", "sink", "decision", "reason", "consent_ids",
                            "transforms", "policy_version", "prev_hash", "hash"}) {
      simdjson::dom::element e;
      EXPECT_EQ(o.at_key(key).get(e), simdjson::SUCCESS) << key << " missing in " << lines[i];
    }
    // Without "hash", the canonical form is the stored entry and hashes to "hash".
    std::string without = "{";
    bool first = true;
    for (auto field : o) {
      if (field.key == "hash") continue;
      if (!first) without.push_back(',');
      first = false;
      json::AppendString(field.key, &without);
      without.push_back(':');
      ASSERT_TRUE(json::AppendCanonical(field.value, &without).ok());
    }
    without.push_back('}');
    json::StrictParser again;
    std::string entry;
    ASSERT_TRUE(again.ParseCopy(without, &entry).ok());
    EXPECT_EQ(entry, rows[i].entry);
    EXPECT_EQ(Sha256Hex(entry), std::string(hash));
  }
}

TEST_F(LedgerTest, ExportOfAnEmptyLedgerWritesNothing) {
  const std::string path = root_ + "/export.ndjson";
  std::FILE* out = std::fopen(path.c_str(), "w");
  ASSERT_NE(out, nullptr);
  const absl::Status s = Export(*db_, out);
  std::fclose(out);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(fs::file_size(path), 0u);
}

// Records the router's bookkeeping for an accepted event (seen.first_seq) or a quarantine.
class EntriesForEventTest : public LedgerTest {
 protected:
  void Seen(std::string_view id, int64_t first_seq) {
    auto q = db_->Prepare("INSERT INTO seen (id, digest, first_seq) VALUES (?, x'00', ?)");
    ASSERT_TRUE(q.ok());
    q->Bind(1, id).Bind(2, first_seq);
    ASSERT_TRUE(q->Run().ok());
  }
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
      const Parsed p = Parse(e);
      EXPECT_TRUE(p.ok) << e;
      seqs.push_back(p.seq);
    }
    return seqs;
  }
};

TEST_F(EntriesForEventTest, AcceptedEntriesPlusQuarantines) {
  // 1: C quarantined; 2-3: A accepted (two sinks); 4-5: B accepted; 6: A quarantined as an id
  // conflict; 7: C's corrected resend accepted.
  AppendCommitted({Quarantine("C"), Deny("A", "crm"), Deny("A", "lake"), Deny("B", "crm"),
                   Deny("B", "lake"), Quarantine("A"), Deny("C", "crm")});
  Quarantined("C", 1);
  Seen("A", 2);
  Seen("B", 4);
  Quarantined("A", 6);
  Seen("C", 7);
  EXPECT_THAT(SeqsFor("A"), ElementsAre(2, 3, 6));
  EXPECT_THAT(SeqsFor("B"), ElementsAre(4, 5));
  EXPECT_THAT(SeqsFor("C"), ElementsAre(1, 7));
  EXPECT_TRUE(SeqsFor("unknown").empty());
  auto a = EntriesForEvent(*db_, "A");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ((*a)[0], RowAt(2).entry);
  EXPECT_EQ((*a)[2], RowAt(6).entry);
}

TEST_F(EntriesForEventTest, QuarantineRightAfterAcceptanceIsListedOnce) {
  // A conflicting resend of A on the very next line: its quarantine entry directly follows A's
  // decisions and carries the same event id.
  AppendCommitted({Deny("A", "crm"), Deny("A", "lake"), Quarantine("A"), Deny("B", "crm")});
  Seen("A", 1);
  Quarantined("A", 3);
  Seen("B", 4);
  EXPECT_THAT(SeqsFor("A"), ElementsAre(1, 2, 3));
  EXPECT_THAT(SeqsFor("B"), ElementsAre(4));
}

TEST_F(EntriesForEventTest, OnlyQuarantines) {
  AppendCommitted({Quarantine("Q"), Deny("A", "crm"), Quarantine("Q")});
  Quarantined("Q", 1);
  Seen("A", 2);
  Quarantined("Q", 3);
  EXPECT_THAT(SeqsFor("Q"), ElementsAre(1, 3));
}

}  // namespace
}  // namespace loopgate::ledger
