#include "seen/seen.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "store/scratch_state.h"

namespace loopgate::seen {
namespace {

namespace fs = std::filesystem;

crypto::Digest DigestOf(std::string_view content) { return crypto::Sha256(content); }

// One committed batch, as the router commits it.
void Commit(store::Database& db, Writer& w) {
  ASSERT_TRUE(db.Begin().ok());
  ASSERT_TRUE(w.Flush().ok());
  ASSERT_TRUE(w.SaveHead().ok());
  ASSERT_TRUE(db.Commit().ok());
  w.AfterCommit();
}

class SeenTest : public testing::Test {
 public:
  void SetUp() override { state_.Open("seen"); }
  void TearDown() override { state_.Close(); }
  store::Database& db() { return *state_.db; }
  std::string dir() { return state_.root + "/state/seen"; }

  std::unique_ptr<Writer> MustOpen(Options o = {}) {
    auto w = Writer::Open(db(), o);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? std::move(*w) : nullptr;
  }
  std::unique_ptr<Reader> MustRead(Options o = {}) {
    auto r = Reader::Open(db(), o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }
  std::vector<std::string> RunFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir())) {
      if (e.path().filename().string().rfind("run-", 0) == 0) out.push_back(e.path().string());
    }
    return out;
  }

  store::test_support::ScratchState state_;
};

// SipHash-2-4 reference vectors (the paper's appendix and the reference implementation's
// vectors.h): key 00 01 .. 0f, message 00 01 .. (n-1).
TEST(SipHashTest, MatchesTheReferenceVectors) {
  const uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
  std::string msg;
  for (int i = 0; i < 15; ++i) msg.push_back(static_cast<char>(i));
  EXPECT_EQ(SipHash24(k0, k1, ""), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 1)), 0x74f839c593dc67fdull);
  EXPECT_EQ(SipHash24(k0, k1, msg), 0xa129ca6149be45e5ull);  // The paper's example.
}

TEST_F(SeenTest, AnIdIsNewOnceThenADuplicateWithItsDigest) {
  auto w = MustOpen();
  crypto::Digest existing{};
  auto first = w->Insert("e-1", DigestOf("a"), 1, "", &existing);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  // Staged, not yet flushed: still found.
  auto again = w->Insert("e-1", DigestOf("b"), 5, "", &existing);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(existing, DigestOf("a"));  // The first content, for duplicate vs id_conflict.
  Commit(db(), *w);
  w.reset();
  w = MustOpen();
  again = w->Insert("e-1", DigestOf("c"), 9, "", &existing);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(existing, DigestOf("a"));
  EXPECT_EQ(w->records(), 1);
}

// The model check: random ids, re-sent ones among them, against a std::map, across many
// batches, memtable flushes, merges and reopens. With hash_bits 6 every id collides with many
// others, so only the record comparison tells them apart.
void ModelCheck(SeenTest& t, store::Database& db, Options o, int batches, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::string, std::pair<crypto::Digest, int64_t>> model;
  std::vector<std::string> order, known;
  auto w = t.MustOpen(o);
  ASSERT_NE(w, nullptr);
  size_t max_runs = 0;
  for (int b = 0; b < batches; ++b) {
    const int n = 1 + static_cast<int>(rng() % 120);
    for (int i = 0; i < n; ++i) {
      std::string id;
      if (!known.empty() && rng() % 4 == 0) {
        id = known[rng() % known.size()];  // A re-send.
      } else {
        id = "id-" + std::to_string(rng());
      }
      const crypto::Digest d = DigestOf(id + (rng() % 2 ? "" : "x"));
      const int64_t seq = static_cast<int64_t>(order.size()) + 1;
      crypto::Digest existing{};
      w->Prefetch(id);  // A hint only: the answers must not change.
      auto inserted =
          w->Insert(id, d, seq, std::string(17, static_cast<char>(seq & 0x7F)), &existing);
      ASSERT_TRUE(inserted.ok()) << inserted.status();
      auto it = model.find(id);
      if (it == model.end()) {
        ASSERT_TRUE(*inserted) << id;
        model[id] = {d, seq};
        order.push_back(id);
        known.push_back(id);
      } else {
        ASSERT_FALSE(*inserted) << id;
        ASSERT_EQ(existing, it->second.first) << id;
      }
    }
    Commit(db, *w);
    max_runs = std::max(max_runs, w->runs());
    if (rng() % 5 == 0) {  // Reopen: runs from disk, the memtable rebuilt from the log.
      w.reset();
      w = t.MustOpen(o);
      ASSERT_NE(w, nullptr);
    }
  }
  EXPECT_EQ(w->records(), static_cast<int64_t>(order.size()));
  EXPECT_GE(max_runs, 1u);
  // Merged: about log2(records / limit) runs, never one per flush.
  size_t bound = 2;
  for (size_t n = o.memtable_limit; n < order.size(); n *= 2) ++bound;
  EXPECT_LE(w->runs(), bound);
  // Readers see the same set, and the records in acceptance order.
  auto r = t.MustRead(o);
  ASSERT_NE(r, nullptr);
  for (const auto& [id, v] : model) {
    Record rec;
    auto found = r->Find(id, &rec);
    ASSERT_TRUE(found.ok()) << found.status();
    ASSERT_TRUE(*found) << id;
    EXPECT_EQ(rec.digest, v.first);
    EXPECT_EQ(rec.first_seq, v.second);
    EXPECT_EQ(rec.subject, std::string(17, static_cast<char>(v.second & 0x7F)));
  }
  for (int i = 0; i < 200; ++i) {
    Record rec;
    auto found = r->Find("never-" + std::to_string(rng()), &rec);
    ASSERT_TRUE(found.ok());
    EXPECT_FALSE(*found);
  }
  size_t i = 0;
  ASSERT_TRUE(r->ForEach([&](const Record& rec) -> absl::Status {
                 EXPECT_EQ(rec.id, order[i]);
                 EXPECT_EQ(rec.first_seq, static_cast<int64_t>(i) + 1);
                 ++i;
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(i, order.size());
}

TEST_F(SeenTest, RandomIdsMatchAReferenceModelOverFlushesMergesAndReopens) {
  Options o;
  o.memtable_limit = 64;
  ModelCheck(*this, db(), o, 150, 7);
  // Merged-away runs are removed once their replacement is committed.
  auto w = MustOpen(o);
  EXPECT_EQ(RunFiles().size(), w->runs());
}

TEST_F(SeenTest, ForcedHashCollisionsNeverMakeANewIdADuplicate) {
  Options o;
  o.memtable_limit = 50;
  o.hash_bits = 6;  // 64 distinct hashes for thousands of ids.
  ModelCheck(*this, db(), o, 60, 11);
}

TEST_F(SeenTest, ABatchThatNeverCommittedIsCutAwayOnOpen) {
  auto w = MustOpen();
  crypto::Digest existing{};
  ASSERT_TRUE(w->Insert("kept", DigestOf("k"), 1, "", &existing).ok());
  Commit(db(), *w);
  const auto committed = fs::file_size(dir() + "/records.log");
  ASSERT_TRUE(*w->Insert("lost", DigestOf("l"), 2, "", &existing));
  ASSERT_TRUE(w->Flush().ok());  // Written and synced, but the process dies before COMMIT.
  w.reset();
  {  // And a torn write after it.
    std::ofstream f(dir() + "/records.log", std::ios::app | std::ios::binary);
    f << "\xA5\x10garbage";
  }
  EXPECT_GT(fs::file_size(dir() + "/records.log"), committed);
  w = MustOpen();
  EXPECT_EQ(fs::file_size(dir() + "/records.log"), committed);
  EXPECT_EQ(w->records(), 1);
  auto lost = w->Insert("lost", DigestOf("l"), 2, "", &existing);
  ASSERT_TRUE(lost.ok());
  EXPECT_TRUE(*lost);  // New again: it is redone.
  auto kept = w->Insert("kept", DigestOf("k"), 3, "", &existing);
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(*kept);
}

TEST_F(SeenTest, ReadersSeeOnlyTheCommittedPart) {
  auto w = MustOpen();
  crypto::Digest existing{};
  ASSERT_TRUE(*w->Insert("a", DigestOf("a"), 1, "", &existing));
  Commit(db(), *w);
  ASSERT_TRUE(*w->Insert("b", DigestOf("b"), 2, "", &existing));
  ASSERT_TRUE(w->Flush().ok());  // Flushed, not committed.
  auto r = MustRead();
  Record rec;
  EXPECT_TRUE(*r->Find("a", &rec));
  EXPECT_EQ(rec.first_seq, 1);
  EXPECT_FALSE(*r->Find("b", &rec));
  int n = 0;
  ASSERT_TRUE(r->ForEach([&](const Record&) {
                 ++n;
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(n, 1);
}

TEST_F(SeenTest, UncommittedRunFilesAreRemovedOnOpen) {
  Options o;
  o.memtable_limit = 4;
  auto w = MustOpen(o);
  crypto::Digest existing{};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(*w->Insert("c" + std::to_string(i), DigestOf("c"), i + 1, "", &existing));
  }
  Commit(db(), *w);
  ASSERT_EQ(w->runs(), 1u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(*w->Insert("u" + std::to_string(i), DigestOf("u"), i + 5, "", &existing));
  }
  ASSERT_TRUE(w->Flush().ok());  // Writes (and merges) runs; the commit never comes.
  EXPECT_GT(RunFiles().size(), 1u);
  w.reset();
  w = MustOpen(o);
  EXPECT_EQ(RunFiles().size(), 1u);
  EXPECT_EQ(w->runs(), 1u);
  EXPECT_TRUE(*w->Insert("u0", DigestOf("u"), 5, "", &existing));
  EXPECT_FALSE(*w->Insert("c3", DigestOf("c"), 6, "", &existing));
}

TEST_F(SeenTest, ADamagedRunFileIsDataLoss) {
  Options o;
  o.memtable_limit = 8;
  auto w = MustOpen(o);
  crypto::Digest existing{};
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(*w->Insert("d" + std::to_string(i), DigestOf("d"), i + 1, "", &existing));
  }
  Commit(db(), *w);
  w.reset();
  const auto runs = RunFiles();
  ASSERT_EQ(runs.size(), 1u);
  {  // One bit of one entry flipped.
    std::fstream f(runs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(40);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 1);
    f.seekp(40);
    f.write(&c, 1);
  }
  auto opened = Writer::Open(db(), o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("damaged"), std::string_view::npos) << opened.status();
  EXPECT_NE(opened.status().message().find(runs[0]), std::string_view::npos);
  auto read = Reader::Open(db(), o);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  // Cut short: also DataLoss.
  fs::resize_file(runs[0], fs::file_size(runs[0]) - 1);
  opened = Writer::Open(db(), o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SeenTest, AV3StateIsMigratedOnFirstOpenByAWriter) {
  // A v3 state as the old schema made it: the `seen` table, ids in id order.
  ASSERT_TRUE(db().SetMeta("schema", "loopgate.state/v3").ok());
  ASSERT_TRUE(db().Exec("CREATE TABLE seen (id TEXT PRIMARY KEY, digest BLOB NOT NULL, "
                        "first_seq INTEGER NOT NULL, subject BLOB) WITHOUT ROWID")
                  .ok());
  auto ins = db().Prepare("INSERT INTO seen VALUES (?, ?, ?, ?)");
  ASSERT_TRUE(ins.ok());
  const std::vector<std::pair<std::string, int64_t>> rows = {
      {"a", 7}, {"b", 0}, {"c", 2}, {"d", 0}, {"e", 5}};
  for (const auto& [id, seq] : rows) {
    const crypto::Digest d = DigestOf(id);
    ins->Bind(1, id).BindBlob(2, d.data(), d.size()).Bind(3, seq);
    if (id == "c") ins->BindBlob(4, "subj", 4);
    ASSERT_TRUE(ins->Run().ok());
  }
  // Readers refuse it with a clear message until a run migrates it.
  auto early = Reader::Open(db());
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.status().message().find("migrates it"), std::string_view::npos);

  auto w = MustOpen();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->records(), 5);
  auto schema = db().GetMeta("schema");
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ(**schema, store::kSchemaName);
  auto table = db().Prepare("SELECT 1 FROM sqlite_master WHERE name = 'seen'");
  EXPECT_FALSE(*table->Step());
  crypto::Digest existing{};
  auto dup = w->Insert("e", DigestOf("changed"), 99, "", &existing);
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(*dup);
  EXPECT_EQ(existing, DigestOf("e"));
  auto r = MustRead();
  Record rec;
  ASSERT_TRUE(*r->Find("c", &rec));
  EXPECT_EQ(rec.first_seq, 2);
  EXPECT_EQ(rec.subject, "subj");
  ASSERT_TRUE(*r->Find("b", &rec));
  EXPECT_EQ(rec.subject, "");
  // Acceptance order: by first_seq (0 first), as the governance report streams it.
  std::vector<int64_t> seqs;
  ASSERT_TRUE(r->ForEach([&](const Record& x) {
                 seqs.push_back(x.first_seq);
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(seqs, (std::vector<int64_t>{0, 0, 2, 5, 7}));
}

}  // namespace
}  // namespace loopgate::seen
