// loopgate ledger verify|export|check-proof: check and read the audit ledger, and check a proof
// file without any state (docs/ledger-format.md).

#include <cstdio>
#include <fstream>
#include <string>

#include "cli/command.h"
#include "common/strings.h"
#include "common/time.h"
#include "crypto/ed25519.h"
#include "ledger/ledger.h"
#include "merkle/check_proof.h"
#include "store/store.h"

namespace loopgate::cli {
namespace {

int VerifyCommand(const std::string& state) {
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  auto report = ledger::Verify(**db);
  if (!report.ok()) return Fail(report.status());
  if (report->first_bad_seq) {
    std::fprintf(stderr, "ledger does NOT verify: first bad entry is %lld: %s\n",
                 static_cast<long long>(*report->first_bad_seq), report->problem.c_str());
    return kFailure;
  }
  std::printf("ledger verifies: %lld entries, head %s\n",
              static_cast<long long>(report->entries), report->head_hash.c_str());
  if (report->uncommitted_bytes > 0) {
    std::printf("note: %lld bytes past the committed end of the ledger are not part of it (an "
                "interrupted batch, which the next run discards, or rows added outside "
                "Loopgate)\n",
                static_cast<long long>(report->uncommitted_bytes));
  }
  return kOk;
}

int ExportCommand(const std::string& state) {
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  if (auto s = ledger::Export(**db, stdout); !s.ok()) return Fail(s);
  return kOk;
}

// Larger than any proof of one event's entries; the cap keeps a wrong path from being slurped.
constexpr size_t kMaxProofBytes = 64 << 20;

std::string Describe(const merkle::Checkpoint& c) {
  return common::StrCat("checkpoint: ", c.tree_size, " entries, root ", merkle::HashHex(c.root),
                        ", signed ", common::FormatRfc3339(c.time), " by ", c.key_id,
                        ", policy ", c.policy_version);
}

int CheckProofCommand(const std::string& file, const std::string& key_path) {
  auto key = crypto::Ed25519PublicKey::LoadPemFile(key_path);
  if (!key.ok()) return FailConfig(key.status());
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Fail(absl::NotFoundError(common::StrCat("cannot read proof file ", file)));
  }
  std::string text;
  char buf[1 << 16];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxProofBytes) {
      return Fail(absl::InvalidArgumentError(
          common::StrCat("proof file ", file, " is larger than 64 MiB; it is not a proof")));
    }
  }
  auto report = merkle::CheckProof(text, *key);
  if (!report.ok()) {
    std::fprintf(stderr, "proof does NOT verify: %s\n",
                 std::string(report.status().message()).c_str());
    return kFailure;
  }
  if (report->kind == merkle::ProofKind::kInclusion) {
    std::string indexes;
    for (uint64_t i : report->indexes) {
      common::StrAppend(&indexes, indexes.empty() ? "" : ", ", i);
    }
    std::printf("proof verifies: event %s has %zu ledger %s (leaf %s %s) in the signed tree\n",
                report->event_id.c_str(), report->indexes.size(),
                report->indexes.size() == 1 ? "entry" : "entries",
                report->indexes.size() == 1 ? "index" : "indexes", indexes.c_str());
  } else {
    std::printf("proof verifies: the ledger of %llu entries with root %s%s is a prefix of the "
                "signed tree\n",
                static_cast<unsigned long long>(report->old_size),
                merkle::HashHex(report->old_root).c_str(),
                report->has_old_checkpoint ? " (signed by the same key)" : "");
  }
  std::printf("%s\n", Describe(report->checkpoint).c_str());
  return kOk;
}

}  // namespace

void AddLedgerCommands(Commands& commands) {
  auto state = std::make_shared<std::string>();
  auto* ledger_cmd = commands.app().add_subcommand(
      "ledger", "Verify or export the audit ledger, or check a proof");
  ledger_cmd->require_subcommand(1);
  auto* verify = ledger_cmd->add_subcommand("verify", "Recompute the hash chain; exit 1 naming "
                                                      "the first bad entry if it does not hold");
  verify->add_option("--state", *state, "State directory")->required();
  commands.On(verify, [state] { return VerifyCommand(*state); });
  auto* export_cmd = ledger_cmd->add_subcommand("export", "Write every entry as NDJSON to stdout");
  export_cmd->add_option("--state", *state, "State directory")->required();
  commands.On(export_cmd, [state] { return ExportCommand(*state); });

  struct CheckArgs {
    std::string file, key;
  };
  auto check = std::make_shared<CheckArgs>();
  auto* check_cmd = ledger_cmd->add_subcommand(
      "check-proof", "Verify a proof file (loopgate.proof/v1) with the operator's public key "
                     "alone, no state needed; exit 1 naming the first problem if it does not "
                     "verify");
  check_cmd->add_option("file", check->file, "Proof file (JSON)")->required();
  check_cmd->add_option("--public-key", check->key, "The operator's Ed25519 public key (PEM, "
                                                    "ledger-signing.pub)")
      ->required();
  commands.On(check_cmd, [check] { return CheckProofCommand(check->file, check->key); });
}

}  // namespace loopgate::cli
