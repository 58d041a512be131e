// Measurement releases in the ledger (ledger.h AppendRelease, docs/ledger-format.md section 10).

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "analytics/privacy_budget.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "json/json.h"
#include "ledger/ledger.h"
#include "ledger/entry_hash_testonly.h"
#include "simdjson.h"
#include "store/scratch_state.h"

namespace loopgate::ledger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::string_view kPolicy1 = "sha256:policy-one";
constexpr std::string_view kPolicy2 = "sha256:policy-two";
const std::string kStudyDigest = "sha256:" + std::string(64, 'a');
const std::string kResultDigest = "sha256:" + std::string(64, 'b');

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The hash of an entry, hex, by the documented rule, computed independently of the ledger's code.
std::string LeafHex(std::string_view entry) { return testonly::DocumentedEntryHashHex(entry); }

class ReleaseTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(scratch_.Open("release"));
    db_ = std::move(scratch_.db);
  }
  void TearDown() override {
    db_.reset();
    scratch_.Close();
  }

  // What a run leaves: its runs and run_sinks rows, and one event with an allow to
  // analytics_lake and a deny to crm, committed.
  void Run(int64_t run, std::string_view policy, std::string_view event_id) {
    auto runs = db_->Prepare("INSERT INTO runs (run_id, started_at, as_of, policy_version) "
                             "VALUES (?, '2026-06-30T00:00:00Z', '2026-06-30T00:00:00Z', ?)");
    ASSERT_TRUE(runs.ok());
    runs->Bind(1, run).Bind(2, policy);
    ASSERT_TRUE(runs->Run().ok());
    for (std::string_view sink : {"analytics_lake", "crm"}) {
      auto s = db_->Prepare("INSERT INTO run_sinks VALUES (?, ?, 'analytics', '/out', ?)");
      ASSERT_TRUE(s.ok());
      s->Bind(1, run).Bind(2, sink).Bind(3, common::StrCat("/out/", sink, ".ndjson"));
      ASSERT_TRUE(s->Run().ok());
    }
    auto w = Writer::Open(*db_, std::string(policy));
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE(db_->Begin().ok());
    EntryFacts allow;
    allow.event_id = event_id;
    allow.sink = "analytics_lake";
    allow.outcome = Outcome::kAllow;
    allow.delivered = kResultDigest;  // Any digest.
    allow.type = "hcp.email.opened";
    allow.source = "marketing";
    allow.time = "2026-04-01T00:00:00Z";
    allow.line = 1;
    allow.run = run;
    EntryFacts deny = allow;
    deny.sink = "crm";
    deny.outcome = Outcome::kDeny;
    deny.delivered = {};
    deny.reason = "no_consent";
    ASSERT_TRUE((*w)->AppendEvent({allow, deny}).ok());
    ASSERT_TRUE((*w)->Flush().ok());
    ASSERT_TRUE((*w)->SaveHead().ok());
    ASSERT_TRUE(db_->Commit().ok());
  }

  static ReleaseFacts Facts() {
    ReleaseFacts f;
    f.release_id = "rel-email-lift-1";
    f.actor = "analyst@example.com";
    f.study = "email-lift";
    f.study_sha256 = kStudyDigest;
    f.result_sha256 = kResultDigest;
    f.mode = DisclosureMode::kSuppression;
    f.k = 11;
    f.cells_released = 14;
    f.cells_suppressed_primary = 2;
    f.cells_suppressed_complementary = 3;
    f.sink = "analytics_lake";
    f.rows_read = 1234;
    f.time = "2026-07-01T09:30:00Z";
    return f;
  }

  static ReleaseFacts DpFacts() {
    ReleaseFacts f = Facts();
    f.release_id = "rel-email-lift-dp";
    f.mode = DisclosureMode::kDifferentialPrivacy;
    f.epsilon_nano = 250000000;  // 0.25
    f.k.reset();
    f.cells_suppressed_primary = 0;
    f.cells_suppressed_complementary = 0;
    return f;
  }

  int64_t Committed() {
    auto v = db_->GetMeta("ledger_size");
    EXPECT_TRUE(v.ok());
    return v.ok() && *v ? std::stoll(**v) : 0;
  }

  std::string LedgerFile(std::string_view name) {
    return db_->dir() + "/ledger/" + std::string(name);
  }

  std::vector<std::string> ExportLines() {
    const std::string path = scratch_.root + "/export.ndjson";
    std::FILE* out = std::fopen(path.c_str(), "w");
    EXPECT_NE(out, nullptr);
    const absl::Status s = Export(*db_, out);
    std::fclose(out);
    EXPECT_TRUE(s.ok()) << s;
    std::vector<std::string> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  VerifyReport MustVerify() {
    auto r = Verify(*db_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : VerifyReport{};
  }

  // Replaces the one occurrence of `from` in rows.log (committed lengths fixed up as a careful
  // forger would).
  void EditRows(std::string_view from, std::string_view to) {
    std::string rows = ReadAll(LedgerFile("rows.log"));
    const size_t at = rows.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    ASSERT_EQ(rows.find(from, at + 1), std::string::npos) << from;
    ASSERT_EQ(from.size(), to.size()) << "keep offsets: same length";
    rows.replace(at, from.size(), to);
    WriteAll(LedgerFile("rows.log"), rows);
  }

  store::test_support::ScratchState scratch_;
  std::unique_ptr<store::Database> db_;
};

// ---- Appending and reading back ----

TEST_F(ReleaseTest, AppendsOneCommittedEntryAfterTheRunsEntries) {
  Run(1, kPolicy1, "evt-1");
  auto r = AppendRelease(*db_, Facts());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->seq, 3);
  EXPECT_EQ(r->release_id, "rel-email-lift-1");
  EXPECT_EQ(Committed(), 3);
  const VerifyReport v = MustVerify();
  EXPECT_FALSE(v.first_bad_seq.has_value()) << v.problem;
  EXPECT_EQ(v.entries, 3);
  EXPECT_EQ(v.head_hash, r->hash);
  EXPECT_EQ(v.uncommitted_bytes, 0);
}

TEST_F(ReleaseTest, TheEntryIsExactlyAsDocumentedAndHashedAsAnyEntry) {
  Run(1, kPolicy1, "evt-1");
  Run(2, kPolicy2, "evt-2");
  ASSERT_TRUE(AppendRelease(*db_, DpFacts()).ok());
  const std::vector<std::string> lines = ExportLines();
  ASSERT_EQ(lines.size(), 5u);
  const std::string& line = lines[4];
  const size_t hash_at = line.rfind(",\"hash\":\"");
  ASSERT_NE(hash_at, std::string::npos);
  const std::string entry = line.substr(0, hash_at) + "}";
  const std::string prev = lines[3].substr(lines[3].size() - 66, 64);
  // docs/ledger-format.md section 10.2, member for member.
  EXPECT_EQ(entry,
            "{\"consent_ids\":[],\"consent_scope\":null,\"consent_versions\":[],"
            "\"decision\":\"release\",\"delivered\":\"" + kResultDigest + "\",\"detail\":null,"
            "\"event_id\":\"rel-email-lift-dp\",\"line\":0,\"policy_version\":\"sha256:policy-two\","
            "\"prev_hash\":\"" + prev + "\",\"reason\":null,\"release\":{\"actor\":"
            "\"analyst@example.com\",\"cells_released\":14,\"cells_suppressed_complementary\":0,"
            "\"cells_suppressed_primary\":0,\"epsilon_nano\":250000000,\"k\":null,"
            "\"mode\":\"differential_privacy\",\"policy_versions\":[\"sha256:policy-one\","
            "\"sha256:policy-two\"],\"rows_read\":1234,\"study\":\"email-lift\","
            "\"study_sha256\":\"" + kStudyDigest + "\"},\"run\":0,\"seq\":5,"
            "\"sink\":\"analytics_lake\",\"source\":null,\"time\":\"2026-07-01T09:30:00Z\","
            "\"transforms\":[],\"type\":null,\"v\":3}");
  // Canonical (RFC 8785) as every entry, and its hash is the documented one, with the release
  // tuple in the hashed decision; check-proof's EntryHash computes the same.
  json::StrictParser parser;
  std::string canonical;
  ASSERT_TRUE(parser.ParseCopy(entry, &canonical).ok());
  EXPECT_EQ(canonical, entry);
  EXPECT_EQ(line.substr(hash_at + 9, 64), LeafHex(entry));
  const absl::StatusOr<crypto::Digest> hash = EntryHash(entry);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(crypto::ToHex(*hash), line.substr(hash_at + 9, 64));
  // A release member changed changes the hash.
  std::string edited = entry;
  edited.replace(edited.find("\"rows_read\":"), 12, "\"rows_read\":9");
  ASSERT_TRUE(EntryHash(edited).ok()) << edited;
  EXPECT_NE(crypto::ToHex(*EntryHash(edited)), line.substr(hash_at + 9, 64));
}

TEST_F(ReleaseTest, TheExportHoldsEveryMemberFormatsMdRequires) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, Facts()).ok());
  const std::vector<std::string> lines = ExportLines();
  ASSERT_EQ(lines.size(), 3u);
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  ASSERT_EQ(parser.parse(lines[2]).get_object().get(o), simdjson::SUCCESS);
  std::set<std::string> keys;
  for (auto field : o) keys.emplace(field.key);
  for (const char* required : {"seq", "event_id", "sink", "decision", "reason", "consent_ids",
                               "transforms", "policy_version", "prev_hash", "hash"}) {
    EXPECT_TRUE(keys.count(required)) << required;
  }
  std::string_view s;
  ASSERT_EQ(o["decision"].get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "release");
  ASSERT_EQ(o["event_id"].get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "rel-email-lift-1");
  ASSERT_EQ(o["sink"].get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "analytics_lake");
  EXPECT_TRUE(o["reason"].is_null());
  ASSERT_EQ(o["policy_version"].get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, kPolicy1);
}

TEST_F(ReleaseTest, TheRowIsTheDocumentedLayout) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, Facts()).ok());
  const std::string rows = ReadAll(LedgerFile("rows.log"));
  const size_t last = rows.rfind('\n', rows.size() - 2);
  EXPECT_EQ(rows.substr(last + 1),
            "[3,1,\"rel-email-lift-1\",null,null,\"2026-07-01T09:30:00Z\",0,0,null,"
            "[[\"analytics_lake\",\"release\",null,null,[],[],[],\"" + kResultDigest + "\","
            "[\"analyst@example.com\",\"email-lift\",\"" + kStudyDigest + "\",\"suppression\","
            "null,11,14,2,3,1234,[\"sha256:policy-one\"]]]]]\n");
}

TEST_F(ReleaseTest, ListReleasesReadsEveryFactBackAndFiltersByStudy) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, Facts()).ok());
  ReleaseFacts other = DpFacts();
  other.study = "refill-90d";
  ASSERT_TRUE(AppendRelease(*db_, other).ok());
  auto all = ListReleases(*db_);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  const ReleaseRecord& a = (*all)[0];
  EXPECT_EQ(a.seq, 3);
  EXPECT_EQ(a.release_id, "rel-email-lift-1");
  EXPECT_EQ(a.time, "2026-07-01T09:30:00Z");
  EXPECT_EQ(a.actor, "analyst@example.com");
  EXPECT_EQ(a.study, "email-lift");
  EXPECT_EQ(a.study_sha256, kStudyDigest);
  EXPECT_EQ(a.result_sha256, kResultDigest);
  EXPECT_EQ(a.mode, DisclosureMode::kSuppression);
  EXPECT_FALSE(a.epsilon_nano.has_value());
  EXPECT_EQ(a.k, 11);
  EXPECT_EQ(a.cells_released, 14);
  EXPECT_EQ(a.cells_suppressed_primary, 2);
  EXPECT_EQ(a.cells_suppressed_complementary, 3);
  EXPECT_EQ(a.sink, "analytics_lake");
  EXPECT_EQ(a.rows_read, 1234);
  EXPECT_THAT(a.policy_versions, ElementsAre(std::string(kPolicy1)));
  EXPECT_EQ(a.policy_version, kPolicy1);
  const ReleaseRecord& b = (*all)[1];
  EXPECT_EQ(b.seq, 4);
  EXPECT_EQ(b.mode, DisclosureMode::kDifferentialPrivacy);
  EXPECT_EQ(b.epsilon_nano, 250000000);
  EXPECT_FALSE(b.k.has_value());

  auto refill = ListReleases(*db_, "refill-90d");
  ASSERT_TRUE(refill.ok());
  ASSERT_EQ(refill->size(), 1u);
  EXPECT_EQ((*refill)[0].release_id, "rel-email-lift-dp");
  auto none = ListReleases(*db_, "no-such-study");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(ReleaseTest, ForEachEntryHandsOverTheReleaseFacts) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, DpFacts()).ok());
  for (Read read : {Read::kEntries, Read::kFacts}) {
    int releases = 0;
    ASSERT_TRUE(ForEachEntry(*db_, [&](const StoredEntry& e) -> absl::Status {
      if (e.facts.outcome != Outcome::kRelease) {
        EXPECT_EQ(e.facts.release, nullptr);
        return absl::OkStatus();
      }
      ++releases;
      EXPECT_EQ(e.seq, 3);
      EXPECT_EQ(e.facts.event_id, "rel-email-lift-dp");
      EXPECT_EQ(e.facts.delivered, kResultDigest);
      if (e.facts.release == nullptr) return absl::InternalError("no release facts");
      EXPECT_EQ(e.facts.release->study, "email-lift");
      EXPECT_EQ(e.facts.release->epsilon_nano, 250000000);
      EXPECT_EQ(e.facts.release->rows_read, 1234);
      return absl::OkStatus();
    }, read).ok());
    EXPECT_EQ(releases, 1);
  }
}

TEST_F(ReleaseTest, EntriesForTheReleaseIdAreItsEntryAsExported) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, Facts()).ok());
  auto entries = EntriesForEvent(*db_, "rel-email-lift-1");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  const std::string exported = ExportLines()[2];
  EXPECT_EQ((*entries)[0], exported.substr(0, exported.rfind(",\"hash\":\"")) + "}");
}

TEST_F(ReleaseTest, AnEmptyReleaseIdIsMadeFromTheSeq) {
  Run(1, kPolicy1, "evt-1");
  ReleaseFacts f = Facts();
  f.release_id = {};
  auto r = AppendRelease(*db_, f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->release_id, "release-3");
  auto entries = EntriesForEvent(*db_, "release-3");
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), 1u);
}

TEST_F(ReleaseTest, PolicyVersionsComeFromTheRunsThatDeliveredToTheSink) {
  Run(1, kPolicy1, "evt-1");
  Run(2, kPolicy2, "evt-2");
  Run(3, kPolicy1, "evt-3");
  auto versions = PolicyVersionsForSink(*db_, "analytics_lake");
  ASSERT_TRUE(versions.ok());
  EXPECT_THAT(*versions, ElementsAre(std::string(kPolicy1), std::string(kPolicy2)));
  auto none = PolicyVersionsForSink(*db_, "no_such_sink");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ReleaseFacts f = Facts();
  f.sink = "no_such_sink";
  auto refused = AppendRelease(*db_, f);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("no run has delivered to sink"));
  // Given explicitly, they are recorded as given; the last is the entry's policy_version.
  f.policy_versions = {kPolicy2, kPolicy1};
  ASSERT_TRUE(AppendRelease(*db_, f).ok());
  auto listed = ListReleases(*db_);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_THAT((*listed)[0].policy_versions,
              ElementsAre(std::string(kPolicy2), std::string(kPolicy1)));
  EXPECT_EQ((*listed)[0].policy_version, kPolicy1);
}

TEST_F(ReleaseTest, FormatEpsilonIsExact) {
  EXPECT_EQ(FormatEpsilon(500000000), "0.5");
  EXPECT_EQ(FormatEpsilon(1), "0.000000001");
  EXPECT_EQ(FormatEpsilon(2000000000), "2");
  EXPECT_EQ(FormatEpsilon(1250000000), "1.25");
  EXPECT_EQ(FormatEpsilon(0), "0");
}

// ---- Refusals: nothing is written ----

TEST_F(ReleaseTest, FactsThatBreakTheRulesAreRefusedAndNothingIsWritten) {
  Run(1, kPolicy1, "evt-1");
  const std::string rows_before = ReadAll(LedgerFile("rows.log"));
  std::vector<std::pair<std::string, ReleaseFacts>> cases;
  auto add = [&](std::string name, auto edit) {
    ReleaseFacts f = Facts();
    edit(f);
    cases.emplace_back(std::move(name), f);
  };
  add("dp without epsilon", [](ReleaseFacts& f) { f.mode = DisclosureMode::kDifferentialPrivacy; });
  add("suppression with epsilon", [](ReleaseFacts& f) { f.epsilon_nano = 5; });
  add("zero epsilon", [](ReleaseFacts& f) {
    f.mode = DisclosureMode::kDifferentialPrivacy;
    f.epsilon_nano = 0;
  });
  add("no actor", [](ReleaseFacts& f) { f.actor = {}; });
  add("actor with a newline", [](ReleaseFacts& f) { f.actor = "a\nb"; });
  add("study with a space", [](ReleaseFacts& f) { f.study = "email lift"; });
  add("study digest not sha256", [](ReleaseFacts& f) { f.study_sha256 = "sha256:abc"; });
  add("result digest uppercase", [](ReleaseFacts& f) {
    static const std::string upper = "sha256:" + std::string(64, 'B');
    f.result_sha256 = upper;
  });
  add("negative count", [](ReleaseFacts& f) { f.cells_released = -1; });
  add("count of 2^53", [](ReleaseFacts& f) { f.rows_read = int64_t{1} << 53; });
  add("k zero", [](ReleaseFacts& f) { f.k = 0; });
  add("time not RFC 3339", [](ReleaseFacts& f) { f.time = "yesterday"; });
  add("release id with a slash", [](ReleaseFacts& f) { f.release_id = "rel/1"; });
  for (const auto& [name, f] : cases) {
    auto r = AppendRelease(*db_, f);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(Committed(), 2);
  EXPECT_EQ(ReadAll(LedgerFile("rows.log")), rows_before);
}

TEST_F(ReleaseTest, AReleaseIdIsUsedOnce) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, Facts()).ok());
  auto again = AppendRelease(*db_, Facts());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("rel-email-lift-1"));
  EXPECT_EQ(Committed(), 3);
  EXPECT_FALSE(MustVerify().first_bad_seq.has_value());
}

TEST_F(ReleaseTest, ARunHoldingTheLockMakesItFailAtOnce) {
  Run(1, kPolicy1, "evt-1");
  auto held = store::DirLock::Acquire(db_->dir());  // As `loopgate run` holds it.
  ASSERT_TRUE(held.ok());
  auto r = AppendRelease(*db_, Facts());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("another loopgate process is using the state"));
  EXPECT_EQ(Committed(), 2);
  // The holder itself appends with lock_held.
  ReleaseOptions options;
  options.lock_held = true;
  ASSERT_TRUE(AppendRelease(*db_, Facts(), options).ok());
  EXPECT_EQ(Committed(), 3);
}

// ---- The epsilon spend in the same transaction ----

TEST_F(ReleaseTest, TheSpendInsideTheTransactionCommitsWithTheEntry) {
  Run(1, kPolicy1, "evt-1");
  analytics::PrivacyBudget budget(*db_);
  ASSERT_TRUE(budget.Open("email-lift", 1.0).ok());
  std::string digest;  // Outlives the call, as the views the callback sets must.
  int64_t promised_seq = 0;
  ReleaseOptions options;
  options.in_transaction = [&](ReleaseFacts& f, int64_t seq) -> absl::Status {
    promised_seq = seq;
    auto spend = budget.Spend(f.study, 0.25, "rel-email-lift-dp", f.time);
    if (!spend.ok()) return spend.status();
    // The result depends on the noise, so its digest is known only now.
    digest = "sha256:" + std::string(64, 'c');
    f.result_sha256 = digest;
    f.epsilon_nano = std::llround(spend->epsilon / analytics::kEpsilonUnit);
    return absl::OkStatus();
  };
  ReleaseFacts f = DpFacts();
  f.epsilon_nano.reset();
  f.result_sha256 = {};
  auto r = AppendRelease(*db_, f, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(promised_seq, r->seq);  // The callback was told the seq the entry got.
  auto balance = budget.Balance("email-lift");
  ASSERT_TRUE(balance.ok());
  EXPECT_DOUBLE_EQ(balance->spent, 0.25);
  auto listed = ListReleases(*db_);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].epsilon_nano, 250000000);
  EXPECT_EQ((*listed)[0].result_sha256, digest);
}

TEST_F(ReleaseTest, ARefusedSpendAppendsNothing) {
  Run(1, kPolicy1, "evt-1");
  analytics::PrivacyBudget budget(*db_);
  ASSERT_TRUE(budget.Open("email-lift", 0.1).ok());
  ReleaseOptions options;
  options.in_transaction = [&](ReleaseFacts& f, int64_t /*seq*/) -> absl::Status {
    return budget.Spend(f.study, 0.25, "too much", f.time).status();
  };
  auto r = AppendRelease(*db_, DpFacts(), options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("is spent"));
  EXPECT_EQ(Committed(), 2);
  auto spends = budget.Spends("email-lift");
  ASSERT_TRUE(spends.ok());
  EXPECT_TRUE(spends->empty());
}

// A failure after the entry was written and synced but before COMMIT, as a crash there: the
// spend is rolled back with it, the bytes on disk are an uncommitted tail, and the next
// release cuts them off.
TEST_F(ReleaseTest, AFailureBeforeCommitLeavesNeitherTheSpendNorTheEntry) {
  Run(1, kPolicy1, "evt-1");
  analytics::PrivacyBudget budget(*db_);
  ASSERT_TRUE(budget.Open("email-lift", 1.0).ok());
  ASSERT_TRUE(db_->Exec("CREATE TRIGGER fail_release BEFORE INSERT ON releases "
                        "BEGIN SELECT RAISE(ABORT, 'simulated crash'); END").ok());
  ReleaseOptions options;
  options.in_transaction = [&](ReleaseFacts& f, int64_t /*seq*/) -> absl::Status {
    return budget.Spend(f.study, 0.25, "rel", f.time).status();
  };
  auto failed = AppendRelease(*db_, DpFacts(), options);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("simulated crash"));
  EXPECT_EQ(Committed(), 2);
  auto balance = budget.Balance("email-lift");
  ASSERT_TRUE(balance.ok());
  EXPECT_DOUBLE_EQ(balance->spent, 0.0);
  const VerifyReport tail = MustVerify();
  EXPECT_FALSE(tail.first_bad_seq.has_value()) << tail.problem;
  EXPECT_EQ(tail.entries, 2);
  EXPECT_GT(tail.uncommitted_bytes, 0);  // Written and synced, never committed.
  auto listed = ListReleases(*db_);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());

  ASSERT_TRUE(db_->Exec("DROP TRIGGER fail_release").ok());
  auto r = AppendRelease(*db_, DpFacts(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->seq, 3);
  const VerifyReport v = MustVerify();
  EXPECT_FALSE(v.first_bad_seq.has_value()) << v.problem;
  EXPECT_EQ(v.entries, 3);
  EXPECT_EQ(v.uncommitted_bytes, 0);
  balance = budget.Balance("email-lift");
  ASSERT_TRUE(balance.ok());
  EXPECT_DOUBLE_EQ(balance->spent, 0.25);
}

// ---- Tampering ----

TEST_F(ReleaseTest, AnEditedReleaseIsNamedByVerify) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, Facts()).ok());
  Run(2, kPolicy1, "evt-2");  // Entries after it: the release is not the head.
  EditRows(",14,2,3,1234,", ",99,2,3,1234,");  // More cells claimed released.
  const VerifyReport v = MustVerify();
  ASSERT_TRUE(v.first_bad_seq.has_value());
  EXPECT_EQ(*v.first_bad_seq, 3);
  EXPECT_EQ(v.problem, "entry 3 was modified, or does not link to entry 2 (its hash does not "
                       "match its content and the hash before it)");
}

TEST_F(ReleaseTest, AnEditedEpsilonIsNamedByVerify) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, DpFacts()).ok());
  Run(2, kPolicy1, "evt-2");
  EditRows("250000000", "050000000");  // Not a JSON number any more: the row is damaged.
  VerifyReport v = MustVerify();
  ASSERT_TRUE(v.first_bad_seq.has_value());
  EXPECT_EQ(*v.first_bad_seq, 3);
  EXPECT_EQ(v.problem, "entry 3 is stored damaged (its row does not parse)");
  EditRows("050000000", "150000000");  // Less epsilon claimed spent.
  v = MustVerify();
  ASSERT_TRUE(v.first_bad_seq.has_value());
  EXPECT_EQ(*v.first_bad_seq, 3);
  EXPECT_THAT(v.problem, HasSubstr("entry 3 was modified"));
}

TEST_F(ReleaseTest, AReleaseRowWithoutItsReleaseTupleIsDamaged) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, Facts()).ok());
  // Turn the deny of entry 2 into a release with no release facts (same length).
  EditRows("\"crm\",\"deny\",\"no_consent\"", "\"crm\",\"release\",\"no_cons\"");
  const VerifyReport v = MustVerify();
  ASSERT_TRUE(v.first_bad_seq.has_value());
  EXPECT_EQ(*v.first_bad_seq, 1);  // The row starts at entry 1.
  EXPECT_EQ(v.problem, "entry 1 is stored damaged (its row does not parse)");
}

TEST_F(ReleaseTest, AnIndexPointingAnotherEntryIsDataLossNotAnotherRelease) {
  Run(1, kPolicy1, "evt-1");
  ASSERT_TRUE(AppendRelease(*db_, Facts()).ok());
  ASSERT_TRUE(db_->Exec("UPDATE releases SET seq = 1").ok());
  auto listed = ListReleases(*db_);
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(listed.status().message(), HasSubstr("ledger verify"));
}

}  // namespace
}  // namespace loopgate::ledger
