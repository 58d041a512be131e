// keys init and ledger check-proof through the real binary, on proofs of the reference run's
// real ledger entries (built with the merkle library until `ledger prove` exists), and the
// documented Python recipe (docs/ledger-format.md section 9.9) on the same files: v3 entries,
// and v2 ones as a ledger begun by an earlier build holds them.

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/strings.h"
#include "common/text.h"
#include "crypto/crypto.h"
#include "crypto/ed25519.h"
#include "gtest/gtest.h"
#include "ledger/entry_hash_testonly.h"
#include "merkle/checkpoint.h"
#include "merkle/node_store.h"
#include "merkle/proof_file.h"
#include "merkle/prover.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;
using common::StrCat;

// The entry text of an export line: the line without its `,"hash":"..."` (ledger-format.md
// section 5, "Export format").
std::string EntryText(const std::string& line, std::string* hash) {
  const size_t at = line.rfind(",\"hash\":\"");
  *hash = line.substr(at + 9, 64);
  return line.substr(0, at) + "}";
}

// An entry's leaf hash, computed from its text by the rule docs/ledger-format.md section 5 states
// for its "v" (entry_hash_testonly, written apart from the ledger code).
merkle::Hash DocumentedLeaf(const std::string& text) {
  merkle::Hash leaf{};
  const std::string raw = ledger::testonly::DocumentedEntryHash(text);
  EXPECT_EQ(raw.size(), leaf.size()) << text;
  if (raw.size() == leaf.size()) std::memcpy(leaf.data(), raw.data(), leaf.size());
  return leaf;
}

// The reference run, its ledger entries, their tree (on disk) and a key made by `keys init`.
struct Fixture {
  TempDir dir;
  std::vector<std::string> entries;
  std::unique_ptr<merkle::FileNodeStore> store;
  std::unique_ptr<crypto::Ed25519PrivateKey> key;
  std::string pub;

  Fixture() {
    Result run = RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out"));
    EXPECT_EQ(run.exit_code, 0) << run.err;
    Result exported = RunLoopgate({"ledger", "export", "--state", dir / "state"});
    EXPECT_EQ(exported.exit_code, 0) << exported.err;
    store = std::move(*merkle::FileNodeStore::Open(dir / "nodes"));
    merkle::CompactRange range;
    size_t start = 0;
    for (size_t nl; (nl = exported.out.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string hash;
      entries.push_back(EntryText(exported.out.substr(start, nl - start), &hash));
      // The chain's hash of an entry is its leaf hash: for these v3 entries, the RFC 6962 leaf
      // hash of the event's digest, the hash before, seq and the decision (ledger-format.md 5).
      const merkle::Hash leaf = DocumentedLeaf(entries.back());
      EXPECT_EQ(merkle::HashHex(leaf), hash);
      EXPECT_NE(merkle::HashHex(merkle::LeafHash(entries.back())), hash);  // Not the v2 rule.
      EXPECT_TRUE(merkle::AppendLeaf(range, *store, leaf).ok());
    }
    EXPECT_EQ(entries.size(), 51u);
    Result init = RunLoopgate({"keys", "init", "--dir", dir / "keys"});
    EXPECT_EQ(init.exit_code, 0) << init.err;
    key = std::move(*crypto::Ed25519PrivateKey::LoadPemFile(dir / "keys/ledger-signing.key"));
    pub = dir / "keys/ledger-signing.pub";
  }

  std::string Checkpoint(uint64_t size) { return Checkpoint(*store, size); }
  std::string Checkpoint(const merkle::NodeSource& nodes, uint64_t size) {
    merkle::Checkpoint c;
    c.tree_size = size;
    c.root = *merkle::RootAt(nodes, size);
    c.time = *common::ParseRfc3339("2026-06-30T00:05:00Z");
    c.policy_version = "sha256:dfc2a7fa515c92f532171f920a53cdbfb3f471802f9144f69eede6e56f965715";
    return merkle::SignCheckpoint(c, *key)->Text();
  }

  // Leaf indexes of the entries whose event_id is `id`.
  std::vector<merkle::ProvenEntry> EntriesOf(std::string_view id) {
    std::vector<merkle::ProvenEntry> out;
    const std::string needle = StrCat("\"event_id\":\"", id, "\"");
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].find(needle) == std::string::npos) continue;
      merkle::Hash leaf{};
      const std::string raw = ledger::testonly::DocumentedEntryHash(entries[i]);
      if (raw.size() == leaf.size()) std::memcpy(leaf.data(), raw.data(), leaf.size());
      out.push_back({i, entries[i], leaf});
    }
    return out;
  }

  std::string Write(const std::string& name, const std::string& content) {
    WriteFile(dir / name, content);
    return dir / name;
  }
};

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// Runs the Python recipe extracted from the docs on a proof file.
Result RunRecipe(const std::string& script, const std::string& proof, const std::string& pub) {
  TempDir io;
  const std::string cmd = StrCat("python3 '", script, "' '", proof, "' '", pub, "' >'", io / "out",
                                 "' 2>'", io / "err", "'");
  const int status = std::system(cmd.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(io / "out");
  r.err = ReadFile(io / "err");
  return r;
}

// The recipe, as docs/ledger-format.md shows it: the ```python block that follows the line
// "<!-- recipe: verify_proof.py -->".
std::string ExtractRecipe(const std::string& to) {
  const std::string doc = ReadFile(SourceDir() + "/docs/ledger-format.md");
  const size_t marker = doc.find("<!-- recipe: verify_proof.py -->");
  EXPECT_NE(marker, std::string::npos);
  const size_t begin = doc.find("```python\n", marker) + 10;
  const size_t end = doc.find("\n```\n", begin);
  WriteFile(to, doc.substr(begin, end - begin + 1));
  return to;
}

TEST(KeysInit, WritesAPrivateKeyFileAndAPublicOneAndNeverPrintsTheSecret) {
  TempDir dir;
  Result r = RunLoopgate({"keys", "init", "--dir", dir / "k"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(::stat((dir / "k/ledger-signing.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir / "k").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const std::string private_pem = ReadFile(dir / "k/ledger-signing.key");
  EXPECT_EQ(private_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  auto pub = crypto::Ed25519PublicKey::LoadPemFile(dir / "k/ledger-signing.pub");
  ASSERT_TRUE(pub.ok()) << pub.status();
  // The output names the key id and the files, and holds no line of the private key's PEM.
  EXPECT_NE(r.out.find("key id " + pub->KeyId()), std::string::npos) << r.out;
  const std::string secret = private_pem.substr(28, private_pem.find("\n-----END") - 28);
  ASSERT_GT(secret.size(), 40u);
  EXPECT_EQ(r.out.find(secret.substr(0, 24)), std::string::npos);
  EXPECT_EQ(r.err.find(secret.substr(0, 24)), std::string::npos);
  // The key pair matches: what the private key signs, the public key verifies.
  auto key = crypto::Ed25519PrivateKey::LoadPemFile(dir / "k/ledger-signing.key");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->public_key().raw(), pub->raw());

  // A second init refuses and changes nothing.
  Result again = RunLoopgate({"keys", "init", "--dir", dir / "k"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already exists; a signing key is never overwritten"), std::string::npos)
      << again.err;
  EXPECT_EQ(ReadFile(dir / "k/ledger-signing.key"), private_pem);
  // Also when only the public half is left.
  fs::remove(dir / "k/ledger-signing.key");
  EXPECT_EQ(RunLoopgate({"keys", "init", "--dir", dir / "k"}).exit_code, 1);
  EXPECT_FALSE(fs::exists(dir / "k/ledger-signing.key"));
}

TEST(CheckProof, ProofOfARealEventVerifiesAndEveryTamperingIsNamed) {
  Fixture f;
  const std::string cp = f.Checkpoint(51);
  auto entries = f.EntriesOf("evt-0007");
  // Its two decisions and the id_conflict quarantine of line 19, which reused its id.
  ASSERT_EQ(entries.size(), 3u);
  const std::string proof =
      f.Write("p.json", *merkle::BuildInclusionProofFile(*f.store, "evt-0007", entries, cp));

  Result ok = RunLoopgate({"ledger", "check-proof", proof, "--public-key", f.pub});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find(StrCat("proof verifies: event evt-0007 has 3 ledger entries (leaf indexes ",
                               entries[0].index, ", ", entries[1].index, ", ", entries[2].index,
                               ") in the signed tree")),
            std::string::npos)
      << ok.out;
  EXPECT_NE(ok.out.find(StrCat("checkpoint: 51 entries, root ",
                               merkle::HashHex(*merkle::RootAt(*f.store, 51)),
                               ", signed 2026-06-30T00:05:00Z by ", f.key->public_key().KeyId())),
            std::string::npos)
      << ok.out;

  struct Case {
    std::string name, file, message;
  };
  const std::string text = ReadFile(proof);
  auto other = *crypto::Ed25519PrivateKey::Generate();
  const std::vector<Case> cases = {
      {"modified entry",
       Replace(text, R"(\"transforms\":[\"birth_date=generalize\")",
               R"(\"transforms\":[\"birth_date=keep\")"),
       "is not proven to be in the tree the checkpoint signs (the entry or its proof was "
       "altered)"},
      {"relabelled event",
       Replace(text, "\"event_id\":\"evt-0007\",", "\"event_id\":\"evt-0008\","),
       "the entry belongs to event 'evt-0007', not to event 'evt-0008' (a proof for a different "
       "event)"},
      {"forged checkpoint", Replace(text, "tree_size 51", "tree_size 50"),
       "the checkpoint's signature does not verify with the public key given"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = f.Write("t.json", c.file);
    Result r = RunLoopgate({"ledger", "check-proof", path, "--public-key", f.pub});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("proof does NOT verify: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }

  // Checked with another operator's key.
  f.Write("other.pub", other->public_key().ToPem());
  Result wrong_key =
      RunLoopgate({"ledger", "check-proof", proof, "--public-key", f.dir / "other.pub"});
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_NE(wrong_key.err.find("not the public key given"), std::string::npos) << wrong_key.err;
  // A key file that is not a public key is a usage error.
  Result bad_key = RunLoopgate({"ledger", "check-proof", proof, "--public-key", proof});
  EXPECT_EQ(bad_key.exit_code, 2);
  EXPECT_NE(bad_key.err.find("not a PEM public key"), std::string::npos) << bad_key.err;
  Result missing =
      RunLoopgate({"ledger", "check-proof", f.dir / "nope.json", "--public-key", f.pub});
  EXPECT_EQ(missing.exit_code, 1);
}

TEST(CheckProof, ConsistencyProofBetweenTwoCheckpoints) {
  Fixture f;
  const std::string old_cp = f.Checkpoint(20);
  const std::string cp = f.Checkpoint(51);
  const std::string proof =
      f.Write("c.json", *merkle::BuildConsistencyProofFile(*f.store, 20, cp, old_cp));
  Result ok = RunLoopgate({"ledger", "check-proof", proof, "--public-key", f.pub});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find(StrCat("proof verifies: the ledger of 20 entries with root ",
                               merkle::HashHex(*merkle::RootAt(*f.store, 20)),
                               " (signed by the same key) is a prefix of the signed tree")),
            std::string::npos)
      << ok.out;
  // Without the old checkpoint, a partner compares old_root with the root they hold; another
  // tree's root there does not pass.
  const std::string bare =
      ReadFile(f.Write("bare.json", *merkle::BuildConsistencyProofFile(*f.store, 20, cp)));
  const std::string other_root = Replace(bare, merkle::HashHex(*merkle::RootAt(*f.store, 20)),
                                         merkle::HashHex(*merkle::RootAt(*f.store, 21)));
  Result r =
      RunLoopgate({"ledger", "check-proof", f.Write("t.json", other_root), "--public-key", f.pub});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("proof does NOT verify: the consistency proof from 20 to 51 leaves leads "
                       "to old root"),
            std::string::npos)
      << r.err;
}

// The recipe of docs/ledger-format.md section 9.9, run on the same files as check-proof: it
// accepts what check-proof accepts and rejects each tampered file.
TEST(ProofRecipe, DocumentedPythonRecipeAgreesWithCheckProof) {
  Fixture f;
  const std::string script = ExtractRecipe(f.dir / "verify_proof.py");
  const std::string cp = f.Checkpoint(51);
  const std::string inclusion =
      f.Write("p.json",
              *merkle::BuildInclusionProofFile(*f.store, "evt-0007", f.EntriesOf("evt-0007"), cp));
  const std::string consistency =
      f.Write("c.json", *merkle::BuildConsistencyProofFile(*f.store, 20, cp, f.Checkpoint(20)));
  const std::string bare = f.Write("b.json", *merkle::BuildConsistencyProofFile(*f.store, 37, cp));

  for (const std::string& path : {inclusion, consistency, bare}) {
    SCOPED_TRACE(path);
    Result r = RunRecipe(script, path, f.pub);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out.rfind("ok: ", 0), 0u) << r.out << r.err;
  }
  EXPECT_NE(RunRecipe(script, inclusion, f.pub).out.find("ok: event evt-0007: 3 entries"),
            std::string::npos);

  auto other = *crypto::Ed25519PrivateKey::Generate();
  f.Write("other.pub", other->public_key().ToPem());
  const std::string text = ReadFile(inclusion);
  const std::string cons = ReadFile(consistency);
  struct Case {
    std::string name, file, pub, message;
  };
  const std::string first_proof_hash = text.substr(text.find("\"proof\":[\"") + 10, 64);
  std::string flipped = first_proof_hash;
  flipped[0] = flipped[0] == '0' ? '1' : '0';
  const std::vector<Case> cases = {
      {"modified entry",
       Replace(text, R"(\"transforms\":[\"birth_date=generalize\")",
               R"(\"transforms\":[\"birth_date=keep\")"),
       f.pub, "is not in the signed tree"},
      {"altered proof hash", Replace(text, first_proof_hash, flipped), f.pub,
       "is not in the signed tree"},
      {"relabelled event",
       Replace(text, "\"event_id\":\"evt-0007\",", "\"event_id\":\"evt-0008\","), f.pub,
       "belongs to event 'evt-0007', not 'evt-0008'"},
      {"forged checkpoint", Replace(text, "tree_size 51", "tree_size 50"), f.pub,
       "signature does not verify"},
      {"another operator's key", text, f.dir / "other.pub", "names signing key"},
      {"altered old root", Replace(cons, "\"old_root\":\"", "\"old_root\":\"0"), f.pub,
       "old_root is not 64 lowercase hex digits"},
      {"consistency to another tree", Replace(cons, "tree_size 51", "tree_size 52"), f.pub,
       "signature does not verify"},
      // A v3 entry is proven only as the canonical entry its members make, and only v2 and v3
      // entries are proven at all.
      {"entry not in canonical form", Replace(text, R"({\"consent_ids\":)", R"({\"consent_ids\": )"),
       f.pub, "is not a loopgate.ledger/v2 or v3 entry in canonical form"},
      {"entry with a member more", Replace(text, R"(,\"v\":3})", R"(,\"v\":3,\"x\":1})"), f.pub,
       "is not a loopgate.ledger/v2 or v3 entry in canonical form"},
      {"entry of another version", Replace(text, R"(,\"v\":3})", R"(,\"v\":4})"), f.pub,
       "is not a loopgate.ledger/v2 or v3 entry in canonical form"},
      {"v3 entry relabelled as v2", Replace(text, R"(,\"v\":3})", R"(,\"v\":2})"), f.pub,
       "is not in the signed tree"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = f.Write("t.json", c.file);
    Result r = RunRecipe(script, path, c.pub);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.out.rfind("FAILED: ", 0), 0u) << r.out << r.err;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << r.out << r.err;
    // check-proof rejects the same file.
    EXPECT_EQ(RunLoopgate({"ledger", "check-proof", path, "--public-key", c.pub}).exit_code, 1);
  }
}

// A ledger begun by an earlier build: the reference run's first 20 entries as
// loopgate.ledger/v2 entries (hashed as SHA-256(0x00 || text)), the rest v3 entries chained onto
// them. Proofs of its v2 entries, and of an event with entries of both versions, verify with
// check-proof and with the recipe, which compute each leaf by the entry's "v".
TEST(ProofRecipe, ProofsOfV2EntriesAndOfEventsSpanningBothVersionsVerify) {
  Fixture f;
  const std::string script = ExtractRecipe(f.dir / "verify_proof.py");
  auto opened = merkle::FileNodeStore::Open(f.dir / "mixed-nodes");
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<merkle::FileNodeStore> store = std::move(*opened);
  merkle::CompactRange range;
  std::vector<std::string> texts;
  std::vector<merkle::Hash> leaves;
  std::string prev(64, '0');
  for (size_t i = 0; i < f.entries.size(); ++i) {
    std::string text = f.entries[i];
    const size_t link = text.find("\"prev_hash\":\"");
    ASSERT_NE(link, std::string::npos);
    text.replace(link + 13, 64, prev);
    ASSERT_EQ(text.substr(text.size() - 7), ",\"v\":3}");
    if (i < 20) text.replace(text.size() - 2, 1, "2");
    const merkle::Hash leaf = i < 20 ? merkle::LeafHash(text) : DocumentedLeaf(text);
    ASSERT_TRUE(merkle::AppendLeaf(range, *store, leaf).ok());
    prev = merkle::HashHex(leaf);
    texts.push_back(text);
    leaves.push_back(leaf);
  }
  const std::string cp = f.Checkpoint(*store, 51);
  auto entries_of = [&](std::string_view id) {
    std::vector<merkle::ProvenEntry> out;
    for (size_t i = 0; i < texts.size(); ++i) {
      if (texts[i].find(StrCat("\"event_id\":\"", id, "\"")) != std::string::npos) {
        out.push_back({i, texts[i], leaves[i]});
      }
    }
    return out;
  };
  // evt-0003: entries 6 to 8, all v2. evt-0007: entries 18 and 19 (v2) and 39 (v3).
  for (const auto& [id, count] : {std::pair<std::string, size_t>{"evt-0003", 3},
                                  std::pair<std::string, size_t>{"evt-0007", 3}}) {
    SCOPED_TRACE(id);
    const std::vector<merkle::ProvenEntry> proven = entries_of(id);
    ASSERT_EQ(proven.size(), count);
    auto built = merkle::BuildInclusionProofFile(*store, id, proven, cp);
    ASSERT_TRUE(built.ok()) << built.status();
    const std::string path = f.Write(id + ".json", *built);
    Result cli = RunLoopgate({"ledger", "check-proof", path, "--public-key", f.pub});
    EXPECT_EQ(cli.exit_code, 0) << cli.err;
    Result r = RunRecipe(script, path, f.pub);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out.rfind(StrCat("ok: event ", id, ": 3 entries in the checkpoint of 51 entries"), 0),
              0u)
        << r.out << r.err;

    // A v2 entry edited, or relabelled as v3, is not in the tree for either.
    for (const std::string& changed :
         {Replace(*built, R"(\"run\":1,)", R"(\"run\":2,)"),
          Replace(*built, R"(,\"v\":2})", R"(,\"v\":3})")}) {
      const std::string t = f.Write("t.json", changed);
      EXPECT_EQ(RunLoopgate({"ledger", "check-proof", t, "--public-key", f.pub}).exit_code, 1);
      Result bad = RunRecipe(script, t, f.pub);
      EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
      EXPECT_NE(bad.out.find("is not in the signed tree"), std::string::npos) << bad.out;
    }
  }
}

}  // namespace
}  // namespace loopgate::testing
