// The ledger's Merkle tree end to end, through the binary (docs/ledger-format.md section 9): a
// run signs a checkpoint with the operator's key; `ledger prove` writes proofs that
// `ledger check-proof` accepts with the public key alone; `ledger verify` checks every
// checkpoint's root and signature and names a forged or stale one.

#include <sqlite3.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result keys = RunLoopgate({"keys", "init", "--dir", dir_ / "keys"});
    ASSERT_EQ(keys.exit_code, 0) << keys.err;
    key_ = dir_ / "keys/ledger-signing.key";
    pub_ = dir_ / "keys/ledger-signing.pub";
  }

  // Runs the reference scenario on `events` into the test's state, signing a checkpoint.
  void Run(const std::string& events) {
    std::vector<std::string> args = ReferenceRunArgs(dir_ / "state", dir_ / "out");
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--events") args[i + 1] = events;
    }
    args.push_back("--signing-key");
    args.push_back(key_);
    Result r = RunLoopgate(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_NE(r.err.find("checkpoint signed:"), std::string::npos) << r.err;
    // The private key never appears in any output.
    const std::string secret = ReadFile(key_);
    ASSERT_FALSE(secret.empty());
    EXPECT_EQ(r.out.find("PRIVATE KEY"), std::string::npos);
    EXPECT_EQ(r.err.find("PRIVATE KEY"), std::string::npos);
  }

  Result Verify(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"ledger", "verify", "--state", dir_ / "state"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunLoopgate(args);
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "state/state.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  TempDir dir_;
  std::string key_, pub_;
};

TEST_F(CheckpointTest, RunSignsACheckpointThatVerifyChecks) {
  Run(ReferenceDir() + "/events.ndjson");
  Result cp = RunLoopgate({"ledger", "checkpoint", "--state", dir_ / "state"});
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  EXPECT_EQ(cp.out.rfind("loopgate.checkpoint/v1\ntree_size 51\n", 0), 0u) << cp.out;
  Result v = Verify({"--public-key", pub_});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("1 signed checkpoints checked"), std::string::npos) << v.out;
}

TEST_F(CheckpointTest, ProofOfAnEventVerifiesWithThePublicKeyAlone) {
  Run(ReferenceDir() + "/events.ndjson");
  Result p = RunLoopgate({"ledger", "prove", "--state", dir_ / "state", "evt-0007", "--out",
                          dir_ / "proof.json"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  Result c = RunLoopgate({"ledger", "check-proof", dir_ / "proof.json", "--public-key", pub_});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("event evt-0007"), std::string::npos) << c.out;

  // Another operator's key does not accept it.
  ASSERT_EQ(RunLoopgate({"keys", "init", "--dir", dir_ / "other"}).exit_code, 0);
  Result wrong = RunLoopgate(
      {"ledger", "check-proof", dir_ / "proof.json", "--public-key", dir_ / "other/ledger-signing.pub"});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;

  // An id with no entries is not proven.
  Result none = RunLoopgate({"ledger", "prove", "--state", dir_ / "state", "evt-nope"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no ledger entries"), std::string::npos) << none.err;
}

TEST_F(CheckpointTest, ConsistencyProofBetweenTwoRuns) {
  // The first half of the scenario, then the whole of it: the second run appends.
  const std::vector<std::string> lines = ReadLines(ReferenceDir() + "/events.ndjson");
  std::string half;
  for (size_t i = 0; i < lines.size() / 2; ++i) half += lines[i] + "\n";
  WriteFile(dir_ / "half.ndjson", half);
  Run(dir_ / "half.ndjson");
  const std::string first = RunLoopgate({"ledger", "checkpoint", "--state", dir_ / "state"}).out;
  Run(ReferenceDir() + "/events.ndjson");
  const std::string second = RunLoopgate({"ledger", "checkpoint", "--state", dir_ / "state"}).out;
  auto size_of = [](const std::string& text) {
    const size_t at = text.find("tree_size ") + 10;
    return text.substr(at, text.find('\n', at) - at);
  };
  const std::string old_size = size_of(first), new_size = size_of(second);
  ASSERT_NE(old_size, new_size);
  Result p = RunLoopgate({"ledger", "prove", "--state", dir_ / "state", "--consistency", old_size,
                          new_size, "--out", dir_ / "consistency.json"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  Result c =
      RunLoopgate({"ledger", "check-proof", dir_ / "consistency.json", "--public-key", pub_});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("is a prefix of the signed tree"), std::string::npos) << c.out;
  Result v = Verify();
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("2 signed checkpoints checked"), std::string::npos) << v.out;
}

TEST_F(CheckpointTest, ForgedCheckpointIsNamed) {
  Run(ReferenceDir() + "/events.ndjson");
  // A checkpoint whose text claims another root: the signature no longer matches.
  Sql("UPDATE checkpoints SET text = replace(text, 'root_hash ', 'root_hash 0') ");
  Result v = Verify({"--public-key", pub_});
  EXPECT_EQ(v.exit_code, 1) << v.out;
  EXPECT_NE(v.err.find("checkpoint 1 (51 entries)"), std::string::npos) << v.err;
}

TEST_F(CheckpointTest, CheckpointSignedByAnotherKeyIsNamedWhenTheKeyIsPinned) {
  Run(ReferenceDir() + "/events.ndjson");
  ASSERT_EQ(RunLoopgate({"keys", "init", "--dir", dir_ / "other"}).exit_code, 0);
  Result v = Verify({"--public-key", dir_ / "other/ledger-signing.pub"});
  EXPECT_EQ(v.exit_code, 1) << v.out;
  EXPECT_NE(v.err.find("checkpoint 1"), std::string::npos) << v.err;
}

TEST_F(CheckpointTest, DeletedEntriesBelowACheckpointAreNamed) {
  Run(ReferenceDir() + "/events.ndjson");
  // Empty the ledger's commit record, as an attacker discarding history would: the signed
  // checkpoint of 51 entries still names what is gone.
  Result before = Verify();
  ASSERT_EQ(before.exit_code, 0) << before.err;
  Sql("UPDATE meta SET value = '0' WHERE key IN ('ledger_size', 'ledger_rows', 'ledger_bytes');"
      "DELETE FROM meta WHERE key IN ('ledger_head', 'ledger_root')");
  Result v = Verify();
  EXPECT_EQ(v.exit_code, 1) << v.out;
  EXPECT_NE(v.err.find("checkpoint 1 signs 51 entries but the ledger holds 0"), std::string::npos)
      << v.err;
}

TEST_F(CheckpointTest, RunWithoutAKeySaysNoCheckpointWasSigned) {
  Result r = RunLoopgate(ReferenceRunArgs(dir_ / "state", dir_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no checkpoint signed"), std::string::npos) << r.err;
  Result cp = RunLoopgate({"ledger", "checkpoint", "--state", dir_ / "state"});
  EXPECT_EQ(cp.exit_code, 1);
  // On demand, with the key.
  Result signed_now = RunLoopgate(
      {"ledger", "checkpoint", "--state", dir_ / "state", "--signing-key", key_});
  EXPECT_EQ(signed_now.exit_code, 0) << signed_now.err;
  EXPECT_NE(signed_now.out.find("tree_size 51"), std::string::npos) << signed_now.out;
}

}  // namespace
}  // namespace loopgate::testing
