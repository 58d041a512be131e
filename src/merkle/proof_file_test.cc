// Proof files end to end in the library: built from a node store, checked with the public key
// alone, and every kind of tampering caught with a message that says what.

#include "merkle/proof_file.h"

#include <string>
#include <vector>

#include "common/strings.h"
#include "gtest/gtest.h"
#include "json/json.h"
#include "merkle/check_proof.h"
#include "merkle/checkpoint.h"
#include "merkle/prover.h"

namespace loopgate::merkle {
namespace {

using common::StrCat;

// A ledger entry in the canonical form (members sorted, no whitespace); only the members the
// checks read matter here.
std::string Entry(uint64_t seq, std::string_view event_id, std::string_view sink) {
  return StrCat(R"({"decision":"allow","event_id":")", event_id, R"(","seq":)", seq, R"(,"sink":")",
                sink, R"(","v":2})");
}

// A ledger of 20 events with 1-3 entries each, its tree, and checkpoints signed with one key.
struct Ledger {
  std::vector<std::string> entries;                  // entries[i] has seq i + 1.
  std::vector<std::vector<uint64_t>> event_indexes;  // Leaf indexes of evt-<k>, k from 1.
  MemoryNodeStore store;
  CompactRange range;

  explicit Ledger(const std::vector<std::string>& texts) {
    for (const std::string& t : texts) Add(t);
  }
  Ledger() {
    static const char* kSinks[] = {"crm", "analytics_lake", "support_cases"};
    for (int k = 1; k <= 20; ++k) {
      event_indexes.emplace_back();
      for (int s = 0; s <= k % 3; ++s) {
        event_indexes.back().push_back(entries.size());
        Add(Entry(entries.size() + 1, StrCat("evt-", k), kSinks[s]));
      }
    }
  }
  void Add(std::string text) {
    EXPECT_TRUE(AppendLeaf(range, store, LeafHash(text)).ok());
    entries.push_back(std::move(text));
  }
  std::vector<ProvenEntry> Proven(int event) const {
    std::vector<ProvenEntry> out;
    for (uint64_t i : event_indexes[event - 1]) {
      out.push_back({i, entries[i], LeafHash(entries[i])});
    }
    return out;
  }
};

const crypto::Ed25519PrivateKey& Key() {
  static auto* key = crypto::Ed25519PrivateKey::Generate()->release();
  return *key;
}

std::string SignedAt(const NodeSource& store, uint64_t size,
                     const crypto::Ed25519PrivateKey& key = Key()) {
  Checkpoint c;
  c.tree_size = size;
  c.root = *RootAt(store, size);
  c.time = *common::ParseRfc3339("2026-06-30T00:00:00Z");
  c.policy_version = "sha256:0123";
  return SignCheckpoint(c, key)->Text();
}

// Replaces the first `from` in `text` (the JSON form of a string, as it appears in the file).
std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string Json(std::string_view s) {
  std::string out;
  json::AppendString(s, &out);
  return out;
}

// The entries here are hashed whole, as loopgate.ledger/v2 entries are (ledger::EntryHash).
absl::StatusOr<Hash> WholeTextLeaf(std::string_view entry) { return LeafHash(entry); }

absl::Status Check(const std::string& file, const crypto::Ed25519PrivateKey& key = Key()) {
  return CheckProof(file, key.public_key(), WholeTextLeaf).status();
}

#define EXPECT_FAILS_WITH(status, code_, text)                                \
  do {                                                                        \
    const absl::Status s_ = (status);                                         \
    EXPECT_EQ(s_.code(), absl::StatusCode::code_) << s_;                      \
    EXPECT_NE(std::string(s_.message()).find(text), std::string::npos) << s_; \
  } while (false)

TEST(ProofFileTest, InclusionProofOfAnEventVerifies) {
  Ledger ledger;
  const uint64_t size = ledger.entries.size();
  const std::string cp = SignedAt(ledger.store, size);
  auto file = BuildInclusionProofFile(ledger.store, "evt-8", ledger.Proven(8), cp);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->back(), '\n');
  EXPECT_EQ(std::count(file->begin(), file->end(), '\n'), 1);
  // The file is canonical JSON: parsing and re-serializing gives the same text.
  json::StrictParser parser;
  std::string canonical;
  ASSERT_TRUE(parser.ParseCopy(*file, &canonical).ok());
  EXPECT_EQ(canonical + "\n", *file);

  auto report = CheckProof(*file, Key().public_key(), WholeTextLeaf);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->kind, ProofKind::kInclusion);
  EXPECT_EQ(report->event_id, "evt-8");
  EXPECT_EQ(report->indexes, ledger.event_indexes[7]);
  EXPECT_EQ(report->indexes.size(), 3u);
  EXPECT_EQ(report->checkpoint.tree_size, size);
  EXPECT_EQ(report->checkpoint.root, ledger.range.Root());

  // Against an earlier checkpoint that already held the event, too.
  const std::string earlier = SignedAt(ledger.store, ledger.event_indexes[8][0]);
  auto old_file = BuildInclusionProofFile(ledger.store, "evt-8", ledger.Proven(8), earlier);
  ASSERT_TRUE(old_file.ok()) << old_file.status();
  EXPECT_TRUE(Check(*old_file).ok()) << Check(*old_file);
}

TEST(ProofFileTest, AlteredEntryOrProofIsCaught) {
  Ledger ledger;
  const std::string cp = SignedAt(ledger.store, ledger.entries.size());
  const std::string file = *BuildInclusionProofFile(ledger.store, "evt-8", ledger.Proven(8), cp);
  const uint64_t second = ledger.event_indexes[7][1];

  // An entry's text altered (a sink changed) inside the file.
  EXPECT_FAILS_WITH(
      Check(Replace(file, R"(\"sink\":\"analytics_lake\")", R"(\"sink\":\"crm_export\")")),
      kDataLoss,
      StrCat("entry 2 of 3 (leaf index ", second,
             ") is not proven to be in the tree the checkpoint signs (the entry or "
             "its proof was altered): the inclusion proof for leaf ",
             second));
  // A proof hash altered.
  const size_t at = file.find("\"proof\":[\"") + 10;
  std::string bad = file;
  bad[at] = bad[at] == '0' ? '1' : '0';
  EXPECT_FAILS_WITH(Check(bad), kDataLoss, "is not proven to be in the tree");
  // An entry claimed at another index: its seq no longer matches.
  EXPECT_FAILS_WITH(
      Check(Replace(file, StrCat("\"index\":", second), StrCat("\"index\":", second + 1))),
      kDataLoss, StrCat("the entry's seq is not ", second + 2));
}

TEST(ProofFileTest, ProofForADifferentEventIsCaught) {
  Ledger ledger;
  const std::string cp = SignedAt(ledger.store, ledger.entries.size());
  const std::string file = *BuildInclusionProofFile(ledger.store, "evt-8", ledger.Proven(8), cp);
  // The file relabelled as another event's proof.
  EXPECT_FAILS_WITH(Check(Replace(file, "\"event_id\":\"evt-8\",", "\"event_id\":\"evt-9\",")),
                    kDataLoss,
                    "the entry belongs to event 'evt-8', not to event 'evt-9' (a proof for a "
                    "different event)");
  // Another event's valid proof presented for this event (the builder does not stop it; the
  // check does).
  const std::string other = *BuildInclusionProofFile(ledger.store, "evt-8", ledger.Proven(9), cp);
  EXPECT_FAILS_WITH(Check(other), kDataLoss, "belongs to event 'evt-9', not to event 'evt-8'");
}

TEST(ProofFileTest, ForgedCheckpointIsCaught) {
  Ledger ledger;
  const uint64_t size = ledger.entries.size();
  const std::string cp = SignedAt(ledger.store, size);
  const std::string file = *BuildInclusionProofFile(ledger.store, "evt-8", ledger.Proven(8), cp);
  auto other = *crypto::Ed25519PrivateKey::Generate();

  // The checkpoint's body edited (a smaller tree claimed), its signature kept.
  EXPECT_FAILS_WITH(
      Check(Replace(file, StrCat("tree_size ", size), StrCat("tree_size ", size - 1))), kDataLoss,
      "the checkpoint's signature does not verify with the public key");
  // The whole file built by someone else, with a checkpoint signed by their key.
  const std::string theirs = *BuildInclusionProofFile(ledger.store, "evt-8", ledger.Proven(8),
                                                      SignedAt(ledger.store, size, *other));
  EXPECT_FAILS_WITH(Check(theirs), kDataLoss,
                    "the checkpoint names signing key " + other->public_key().KeyId());
  // Their signature under our key id.
  SignedCheckpoint forged = *ParseSignedCheckpoint(cp);
  forged.signature = *other->Sign(forged.body);
  EXPECT_FAILS_WITH(Check(Replace(file, Json(cp), Json(forged.Text()))), kDataLoss,
                    "signature does not verify");
  // Checked with the wrong public key.
  EXPECT_FAILS_WITH(Check(file, *other), kDataLoss, "not the public key given");
}

// The ledger after each kind of tampering, as the leaves of a new tree.
std::vector<std::string> Tampered(const std::vector<std::string>& e, std::string_view kind) {
  std::vector<std::string> t = e;
  if (kind == "modified") {
    t[5] = Replace(t[5], "\"allow\"", "\"deny\"");
  } else if (kind == "dropped") {
    t.erase(t.begin() + 5);
  } else if (kind == "inserted") {
    t.insert(t.begin() + 5, Entry(6, "evt-forged", "crm"));
  } else if (kind == "reordered") {
    std::swap(t[5], t[6]);
  }
  return t;
}

// A ledger modified, dropped, inserted or reordered after a checkpoint was signed: the operator
// can no longer produce proofs for that checkpoint, a hand-made proof against it fails, and a
// consistency proof from it to any checkpoint of the rewritten ledger fails.
TEST(ProofFileTest, ALedgerRewrittenAfterItsCheckpointIsCaught) {
  Ledger original;
  const uint64_t size = original.entries.size();
  const std::string old_cp = SignedAt(original.store, size);
  for (std::string_view kind : {"modified", "dropped", "inserted", "reordered"}) {
    SCOPED_TRACE(kind);
    // Rewritten, then grown on: five more entries.
    Ledger rewritten(Tampered(original.entries, kind));
    for (int i = 0; i < 5; ++i) {
      rewritten.Add(Entry(rewritten.entries.size() + 1, "evt-21", "crm"));
    }
    ASSERT_NE(*RootAt(rewritten.store, size), original.range.Root());
    const uint64_t new_size = rewritten.entries.size();
    // Entry 10 (after the tampering) and the event it belongs to.
    std::string event_id;
    for (size_t k = 0; k < original.event_indexes.size(); ++k) {
      for (uint64_t i : original.event_indexes[k]) {
        if (i == 10) event_id = StrCat("evt-", k + 1);
      }
    }

    // The builder refuses to prove against the checkpoint the ledger no longer matches.
    const ProvenEntry tenth{10, rewritten.entries[10], LeafHash(rewritten.entries[10])};
    EXPECT_FAILS_WITH(BuildInclusionProofFile(rewritten.store, event_id, {tenth}, old_cp).status(),
                      kDataLoss, "the ledger changed after the checkpoint was signed");

    // A proof made from the rewritten tree and paired with the old checkpoint by hand.
    const std::string fresh_cp = SignedAt(rewritten.store, size);
    const std::string made =
        *BuildInclusionProofFile(rewritten.store, event_id, {tenth}, fresh_cp);
    std::string hand = Replace(made, Json(fresh_cp), Json(old_cp));
    if (kind == "dropped" || kind == "inserted") {
      // Entry 10 moved: present it under its original position and seq.
      hand = Replace(Replace(made, Json(fresh_cp), Json(old_cp)), Json(rewritten.entries[10]),
                     Json(original.entries[10]));
    }
    EXPECT_FAILS_WITH(Check(hand), kDataLoss, "is not proven to be in the tree");

    // The operator signs a new checkpoint over the rewritten ledger; it is not consistent with
    // the old one.
    const std::string new_cp = SignedAt(rewritten.store, new_size);
    EXPECT_FAILS_WITH(BuildConsistencyProofFile(rewritten.store, size, new_cp, old_cp).status(),
                      kDataLoss, "the ledger changed after the checkpoint was signed");
    const std::string cons = *BuildConsistencyProofFile(rewritten.store, size, new_cp);
    EXPECT_TRUE(Check(cons).ok());  // Consistent with the rewritten past, by itself...
    // ... but not with the old checkpoint the partner holds.
    EXPECT_FAILS_WITH(
        Check(Replace(cons, "\"old_checkpoint\":null", "\"old_checkpoint\":" + Json(old_cp))),
        kDataLoss, "the old checkpoint signs a tree of");
    // And with the old root put in, the proof itself fails.
    const std::string old_root = HashHex(original.range.Root());
    auto rooted = Replace(cons, "\"old_root\":\"" + HashHex(*RootAt(rewritten.store, size)),
                          "\"old_root\":\"" + old_root);
    EXPECT_FAILS_WITH(Check(rooted), kDataLoss, "consistency proof from");
  }
}

TEST(ProofFileTest, ConsistencyProofBetweenCheckpointsVerifies) {
  Ledger ledger;
  const uint64_t size = ledger.entries.size();
  for (uint64_t old_size : {uint64_t{1}, uint64_t{7}, uint64_t{16}, size - 1, size}) {
    const std::string old_cp = SignedAt(ledger.store, old_size);
    const std::string new_cp = SignedAt(ledger.store, size);
    auto file = BuildConsistencyProofFile(ledger.store, old_size, new_cp, old_cp);
    ASSERT_TRUE(file.ok()) << file.status();
    auto report = CheckProof(*file, Key().public_key(), WholeTextLeaf);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->kind, ProofKind::kConsistency);
    EXPECT_EQ(report->old_size, old_size);
    EXPECT_EQ(report->old_root, *RootAt(ledger.store, old_size));
    EXPECT_TRUE(report->has_old_checkpoint);
    EXPECT_EQ(report->checkpoint.tree_size, size);

    auto bare = BuildConsistencyProofFile(ledger.store, old_size, new_cp);
    ASSERT_TRUE(bare.ok());
    auto bare_report = CheckProof(*bare, Key().public_key(), WholeTextLeaf);
    ASSERT_TRUE(bare_report.ok()) << bare_report.status();
    EXPECT_FALSE(bare_report->has_old_checkpoint);
  }
  const std::string cp = SignedAt(ledger.store, size);
  EXPECT_EQ(BuildConsistencyProofFile(ledger.store, 0, cp).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildConsistencyProofFile(ledger.store, size + 1, cp).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FAILS_WITH(
      BuildConsistencyProofFile(ledger.store, 5, cp, SignedAt(ledger.store, 6)).status(),
      kInvalidArgument, "the old checkpoint is for 6 entries, not 5");
  // The new size or root of the file not the checkpoint's.
  const std::string file = *BuildConsistencyProofFile(ledger.store, 7, cp);
  EXPECT_FAILS_WITH(
      Check(Replace(file, StrCat("\"new_size\":", size), StrCat("\"new_size\":", size + 1))),
      kDataLoss, "not the new tree of the proof");
}

TEST(ProofFileTest, BuilderRefusesEntriesItCannotProve) {
  Ledger ledger;
  const uint64_t size = ledger.entries.size();
  const std::string cp = SignedAt(ledger.store, 20);
  EXPECT_EQ(BuildInclusionProofFile(ledger.store, "evt-1", {}, cp).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto at = [&](uint64_t index, uint64_t text) {  // Leaf `index`, given entry `text`'s text.
    return ProvenEntry{index, ledger.entries[text], LeafHash(ledger.entries[text])};
  };
  EXPECT_FAILS_WITH(BuildInclusionProofFile(ledger.store, "evt-1", {at(3, 3), at(2, 2)}, cp)
                        .status(),
                    kInvalidArgument, "in ledger order");
  EXPECT_FAILS_WITH(
      BuildInclusionProofFile(ledger.store, "evt-1", {at(25, 25)}, cp).status(), kInvalidArgument,
      "leaf index 25 is not in the checkpoint's tree of 20 entries");
  EXPECT_FAILS_WITH(BuildInclusionProofFile(ledger.store, "evt-1", {at(3, 4)}, cp).status(),
                    kDataLoss, "the entry given for leaf index 3 is not the one in the tree");
  EXPECT_EQ(BuildInclusionProofFile(ledger.store, "evt-1", {at(3, 3)}, "junk").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Entry 25 is provable against a checkpoint whose tree holds it.
  EXPECT_TRUE(
      BuildInclusionProofFile(ledger.store, "evt-1", {at(25, 25)}, SignedAt(ledger.store, size))
          .ok());
}

TEST(ProofFileTest, AnEntryItsFormatCannotHashIsNotProven) {
  Ledger ledger;
  const std::string cp = SignedAt(ledger.store, ledger.entries.size());
  const std::string file = *BuildInclusionProofFile(ledger.store, "evt-8", ledger.Proven(8), cp);
  auto refuse = [](std::string_view) -> absl::StatusOr<Hash> {
    return absl::InvalidArgumentError("the entry is not a loopgate.ledger/v2 or v3 entry");
  };
  EXPECT_FAILS_WITH(CheckProof(file, Key().public_key(), refuse).status(), kDataLoss,
                    "entry 1 of 3 (leaf index " + std::to_string(ledger.event_indexes[7][0]) +
                        "): the entry is not a loopgate.ledger/v2 or v3 entry");
  // A leaf hash other than the tree's is not proven either.
  auto other = [](std::string_view text) -> absl::StatusOr<Hash> {
    return LeafHash(std::string(text) + " ");
  };
  EXPECT_FAILS_WITH(CheckProof(file, Key().public_key(), other).status(), kDataLoss,
                    "is not proven to be in the tree");
}

TEST(ProofFileTest, MalformedFilesAreRejectedAsSuch) {
  Ledger ledger;
  const std::string cp = SignedAt(ledger.store, ledger.entries.size());
  const std::string file = *BuildInclusionProofFile(ledger.store, "evt-2", ledger.Proven(2), cp);
  ASSERT_TRUE(Check(file).ok());
  EXPECT_FAILS_WITH(Check("not json"), kInvalidArgument, "the file is not valid JSON");
  EXPECT_FAILS_WITH(Check("[]"), kInvalidArgument, "not a JSON object");
  EXPECT_FAILS_WITH(Check(Replace(file, "loopgate.proof/v1", "loopgate.proof/v2")),
                    kInvalidArgument, "\"format\" must be \"loopgate.proof/v1\"");
  EXPECT_FAILS_WITH(Check(Replace(file, "\"kind\":\"inclusion\"", "\"kind\":\"x\"")),
                    kInvalidArgument, "\"kind\" must be");
  EXPECT_FAILS_WITH(Check(Replace(file, "{\"checkpoint\"", "{\"extra\":1,\"checkpoint\"")),
                    kInvalidArgument, "unknown member \"extra\"");
  EXPECT_FAILS_WITH(Check(Replace(file, "\"event_id\":\"evt-2\",", "")), kInvalidArgument,
                    "has no member \"event_id\"");
  EXPECT_FAILS_WITH(Check(Replace(file, "\"index\":", "\"index\":-")), kInvalidArgument,
                    "must be a non-negative integer");
  const size_t at = file.find("\"proof\":[\"") + 10;
  std::string upper = file;
  upper[at] = 'A';
  EXPECT_FAILS_WITH(Check(upper), kInvalidArgument, "is not 64 lowercase hex digits");
  EXPECT_FAILS_WITH(Check(Replace(file, "\"entries\":[{", "\"entries\":[{\"entries\":[],")),
                    kInvalidArgument, "unknown member");
  EXPECT_FAILS_WITH(Check(Replace(file, "\"checkpoint\":\"", "\"checkpoint\":\"x")),
                    kInvalidArgument, "not a loopgate.checkpoint/v1 checkpoint");
  // Duplicate members are not JSON this reader accepts (RFC 8785 has no form for them).
  EXPECT_FAILS_WITH(Check(Replace(file, "{\"checkpoint\"", "{\"kind\":\"x\",\"checkpoint\"")),
                    kInvalidArgument, "not valid JSON");
}

}  // namespace
}  // namespace loopgate::merkle
