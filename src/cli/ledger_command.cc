// loopgate ledger verify|export|checkpoint|prove|releases|check-proof: check and read the audit
// ledger, and check a proof file without any state (docs/ledger-format.md).

#include <cstdio>
#include <fstream>
#include <optional>
#include <vector>
#include <string>

#include "cli/command.h"
#include "common/strings.h"
#include "common/time.h"
#include "crypto/ed25519.h"
#include "json/json.h"
#include "ledger/ledger.h"
#include "merkle/check_proof.h"
#include "store/store.h"

namespace loopgate::cli {
namespace {

int VerifyCommand(const std::string& state, const std::string& key_path) {
  std::optional<crypto::Ed25519PublicKey> pinned;
  if (!key_path.empty()) {
    auto key = crypto::Ed25519PublicKey::LoadPemFile(key_path);
    if (!key.ok()) return FailConfig(key.status());
    pinned = *key;
  }
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  auto report = ledger::Verify(**db, pinned ? &*pinned : nullptr);
  if (!report.ok()) return Fail(report.status());
  if (report->first_bad_seq) {
    std::fprintf(stderr, "ledger does NOT verify: first bad entry is %lld: %s\n",
                 static_cast<long long>(*report->first_bad_seq), report->problem.c_str());
    return kFailure;
  }
  std::printf("ledger verifies: %lld entries, head %s\n",
              static_cast<long long>(report->entries), report->head_hash.c_str());
  std::printf("merkle root %s; %lld signed checkpoints checked (%s)\n",
              report->root_hash.empty() ? "(empty tree)" : report->root_hash.c_str(),
              static_cast<long long>(report->checkpoints),
              pinned ? "signatures checked with --public-key"
                     : "signatures checked with the public keys the state recorded; pin the "
                       "operator's key with --public-key");
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

int CheckpointCommand(const std::string& state, const std::string& key_path) {
  if (key_path.empty()) {
    auto db = store::Database::OpenExisting(state);
    if (!db.ok()) return Fail(db.status());
    auto latest = ledger::LatestCheckpoint(**db);
    if (!latest.ok()) return Fail(latest.status());
    if (latest->empty()) {
      std::fprintf(stderr, "loopgate: no checkpoint has been signed in %s; sign one with "
                           "--signing-key KEY\n", state.c_str());
      return kFailure;
    }
    std::printf("%s", latest->c_str());
    return kOk;
  }
  auto key = crypto::Ed25519PrivateKey::LoadPemFile(key_path);
  if (!key.ok()) return FailConfig(key.status());
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  auto lock = store::DirLock::Acquire(state);
  if (!lock.ok()) return Fail(lock.status());
  // The policy version of the latest run: the one its entries were decided under.
  std::string policy;
  {
    auto q = (*db)->Prepare("SELECT policy_version FROM runs ORDER BY run_id DESC LIMIT 1");
    if (!q.ok()) return Fail(q.status());
    auto found = q->Step();
    if (!found.ok()) return Fail(found.status());
    if (*found) policy = std::string(q->Text(0));
  }
  if (policy.empty()) {
    return Fail(absl::FailedPreconditionError(
        common::StrCat("no run has written to the ledger in ", state, "; nothing to sign")));
  }
  auto text = ledger::SignCheckpoint(**db, **key, common::Now(), policy);
  if (!text.ok()) return Fail(text.status());
  std::printf("%s", text->c_str());
  return kOk;
}

int ProveCommand(const std::string& state, const std::string& event_id,
                 const std::vector<uint64_t>& consistency, const std::string& out) {
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  absl::StatusOr<std::string> proof;
  if (!consistency.empty()) {
    if (consistency.size() != 2 || !event_id.empty()) {
      return FailConfig(absl::InvalidArgumentError(
          "give either EVENT_ID or --consistency OLD_SIZE NEW_SIZE"));
    }
    proof = ledger::ProveConsistency(**db, consistency[0], consistency[1]);
  } else {
    if (event_id.empty()) {
      return FailConfig(absl::InvalidArgumentError(
          "give either EVENT_ID or --consistency OLD_SIZE NEW_SIZE"));
    }
    proof = ledger::ProveEvent(**db, event_id);
  }
  if (!proof.ok()) return Fail(proof.status());
  if (out.empty() || out == "-") {
    std::fwrite(proof->data(), 1, proof->size(), stdout);
    return kOk;
  }
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  f.write(proof->data(), static_cast<std::streamsize>(proof->size()));
  if (!f.flush()) return Fail(absl::InternalError(common::StrCat("cannot write ", out)));
  std::fprintf(stderr, "proof written to %s\n", out.c_str());
  return kOk;
}

int ReleasesCommand(const std::string& state, const std::string& study, bool json) {
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  auto releases = ledger::ListReleases(**db, study);
  if (!releases.ok()) return Fail(releases.status());
  std::string out;
  if (json) {
    // One object per line, oldest first: loopgate.releases/v1 (docs/ledger-format.md 10.4).
    for (const ledger::ReleaseRecord& r : *releases) {
      common::StrAppend(&out, "{\"seq\":", r.seq, ",\"release_id\":");
      json::AppendString(r.release_id, &out);
      out.append(",\"time\":");
      json::AppendString(r.time, &out);
      out.append(",\"actor\":");
      json::AppendString(r.actor, &out);
      out.append(",\"study\":");
      json::AppendString(r.study, &out);
      out.append(",\"study_sha256\":");
      json::AppendString(r.study_sha256, &out);
      out.append(",\"result_sha256\":");
      json::AppendString(r.result_sha256, &out);
      common::StrAppend(&out, ",\"mode\":\"", ledger::DisclosureModeName(r.mode),
                        "\",\"epsilon_nano\":");
      if (r.epsilon_nano) {
        common::StrAppend(&out, *r.epsilon_nano, ",\"epsilon\":\"",
                          ledger::FormatEpsilon(*r.epsilon_nano), "\"");
      } else {
        out.append("null,\"epsilon\":null");
      }
      out.append(",\"k\":");
      if (r.k) {
        common::StrAppend(&out, *r.k);
      } else {
        out.append("null");
      }
      common::StrAppend(&out, ",\"cells_released\":", r.cells_released,
                        ",\"cells_suppressed_primary\":", r.cells_suppressed_primary,
                        ",\"cells_suppressed_complementary\":",
                        r.cells_suppressed_complementary, ",\"sink\":");
      if (r.sink.empty()) {
        out.append("null");
      } else {
        json::AppendString(r.sink, &out);
      }
      common::StrAppend(&out, ",\"rows_read\":", r.rows_read, ",\"policy_versions\":[");
      for (size_t i = 0; i < r.policy_versions.size(); ++i) {
        if (i > 0) out.push_back(',');
        json::AppendString(r.policy_versions[i], &out);
      }
      out.append("]}\n");
    }
  } else if (releases->empty()) {
    common::StrAppend(&out, "no measurement releases in the ledger",
                      study.empty() ? std::string() : common::StrCat(" for study ", study), "\n");
  } else {
    for (const ledger::ReleaseRecord& r : *releases) {
      common::StrAppend(&out, "#", r.seq, "  ", r.time, "  ", r.release_id, "  study ", r.study,
                        "  by ", r.actor, "\n    ", ledger::DisclosureModeName(r.mode));
      if (r.epsilon_nano) {
        common::StrAppend(&out, ", epsilon ", ledger::FormatEpsilon(*r.epsilon_nano));
      }
      if (r.k) common::StrAppend(&out, ", k ", *r.k);
      common::StrAppend(&out, "; cells released ", r.cells_released, ", suppressed ",
                        r.cells_suppressed_primary, " primary + ",
                        r.cells_suppressed_complementary, " complementary; read ", r.rows_read,
                        " rows of ", r.sink.empty() ? std::string("(no sink)") : r.sink,
                        "\n    result ", r.result_sha256, "\n    study file ", r.study_sha256,
                        "\n");
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
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
  auto report = merkle::CheckProof(text, *key, ledger::EntryHash);
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
      "ledger", "Verify, export, checkpoint and prove the audit ledger, list its measurement "
                "releases, or check a proof");
  ledger_cmd->require_subcommand(1);
  auto public_key = std::make_shared<std::string>();
  auto* verify = ledger_cmd->add_subcommand(
      "verify", "Recompute the hash chain, the Merkle tree and every signed checkpoint; exit 1 "
                "naming the first problem if they do not hold");
  verify->add_option("--state", *state, "State directory")->required();
  verify->add_option("--public-key", *public_key,
                     "Check checkpoint signatures with this Ed25519 public key (PEM) instead of "
                     "the keys the state recorded");
  commands.On(verify, [state, public_key] { return VerifyCommand(*state, *public_key); });
  auto signing_key = std::make_shared<std::string>();
  auto* checkpoint = ledger_cmd->add_subcommand(
      "checkpoint", "Print the latest signed checkpoint, or with --signing-key sign and store a "
                    "new one of the committed ledger");
  checkpoint->add_option("--state", *state, "State directory")->required();
  checkpoint->add_option("--signing-key", *signing_key,
                         "The operator's Ed25519 private key (PEM, from `loopgate keys init`)");
  commands.On(checkpoint,
              [state, signing_key] { return CheckpointCommand(*state, *signing_key); });
  struct ProveArgs {
    std::string event_id, out;
    std::vector<uint64_t> consistency;
  };
  auto prove_args = std::make_shared<ProveArgs>();
  auto* prove = ledger_cmd->add_subcommand(
      "prove", "Write a self-contained proof (loopgate.proof/v1): that an event's (or a "
               "release's) entries are in the latest signed checkpoint, or with --consistency that an older ledger is a "
               "prefix of a signed one");
  prove->add_option("--state", *state, "State directory")->required();
  prove->add_option("event_id", prove_args->event_id, "The event's id, or a release id");
  prove->add_option("--consistency", prove_args->consistency,
                    "OLD_SIZE NEW_SIZE: NEW_SIZE must be a signed checkpoint's size")
      ->expected(2);
  prove->add_option("--out", prove_args->out, "Write the proof here (default: stdout)");
  commands.On(prove, [state, prove_args] {
    return ProveCommand(*state, prove_args->event_id, prove_args->consistency, prove_args->out);
  });
  auto* export_cmd = ledger_cmd->add_subcommand("export", "Write every entry as NDJSON to stdout");
  export_cmd->add_option("--state", *state, "State directory")->required();
  commands.On(export_cmd, [state] { return ExportCommand(*state); });

  struct ReleasesArgs {
    std::string study;
    bool json = false;
  };
  auto releases_args = std::make_shared<ReleasesArgs>();
  auto* releases = ledger_cmd->add_subcommand(
      "releases", "List the measurement releases in the ledger, oldest first: seq, time, who, "
                  "study, result digest, disclosure mode, epsilon");
  releases->add_option("--state", *state, "State directory")->required();
  releases->add_option("--study", releases_args->study, "Only this study's releases");
  releases->add_flag("--json", releases_args->json, "One JSON object per release and line");
  commands.On(releases, [state, releases_args] {
    return ReleasesCommand(*state, releases_args->study, releases_args->json);
  });

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
