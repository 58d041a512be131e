// loopgate run: route events through the catalog into sinks (routing.md, formats.md).

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "catalog/catalog.h"
#include "cli/command.h"
#include "common/strings.h"
#include "common/time.h"
#include "consent/consent.h"
#include "crypto/ed25519.h"
#include "ledger/ledger.h"
#include "router/router.h"
#include "sink/sink.h"
#include "store/store.h"
#include "transform/transform.h"

namespace loopgate::cli {
namespace {

struct RunArgs {
  std::string config;
  std::string events = "-";
  std::string consents;
  std::string agreements;
  std::string keys;
  std::string state;
  std::string out = "out";
  std::string as_of;
  std::string signing_key;
  bool json = false;
  bool strict_registries = false;
  size_t max_line_bytes = 1 << 20;
  size_t batch_events = 8192;
  int flush_ms = 1000;
  size_t seen_memtable = 0;  // 0: the seen store's default.
};

int RunCommand(const RunArgs& a) {
  router::Options options;
  if (auto s = ResolveAsOf(a.as_of, &options.as_of, &options.as_of_text); !s.ok()) {
    return FailConfig(s);
  }
  // Everything that can be checked without the state is checked before the state is touched.
  auto catalog = catalog::LoadFile(a.config, &sink::ValidateOutput);
  if (!catalog.ok()) return FailConfig(catalog.status());
  for (const auto& w : (*catalog)->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  transform::KeyStore keys;
  if (!a.keys.empty()) {
    auto loaded = transform::KeyStore::LoadFile(a.keys);
    if (!loaded.ok()) return FailConfig(loaded.status());
    keys = std::move(*loaded);
  }
  for (const auto& [a_domain, b_domain] : transform::JoinableTokenDomains(**catalog, keys)) {
    std::fprintf(stderr,
                 "warning: token domains '%s' and '%s' in %s have the same secret, so the tokens "
                 "of sinks in them can be joined; give each domain its own key\n",
                 a_domain.c_str(), b_domain.c_str(), a.keys.c_str());
  }
  if (auto t = transform::Transformer::Create(**catalog, keys); !t.ok()) {
    return FailConfig(t.status());
  }
  std::unique_ptr<crypto::Ed25519PrivateKey> signing_key;
  if (!a.signing_key.empty()) {
    auto key = crypto::Ed25519PrivateKey::LoadPemFile(a.signing_key);
    if (!key.ok()) return FailConfig(key.status());
    signing_key = std::move(*key);
  }
  if (auto s = router::CheckOutputs(**catalog, a.out); !s.ok()) return FailConfig(s);
  if (a.events != "-" && ::access(a.events.c_str(), R_OK) != 0) {
    return FailConfig(absl::NotFoundError(common::StrCat(a.events, ": cannot read the events file")));
  }
  for (const std::string* f : {&a.consents, &a.agreements}) {
    if (!f->empty() && ::access(f->c_str(), R_OK) != 0) {
      return FailConfig(absl::NotFoundError(common::StrCat(*f, ": cannot read this file")));
    }
  }

  // The lock first: not even the schema is touched while another run holds the state.
  std::error_code ec;
  std::filesystem::create_directories(a.state, ec);
  auto lock = store::DirLock::Acquire(a.state);
  if (!lock.ok()) return Fail(lock.status());
  auto db = store::Database::Open(a.state);
  if (!db.ok()) return Fail(db.status());
  if (int code = ImportRegistries(**db, a.consents, a.agreements, a.strict_registries, "routing",
                                  /*persistent=*/true);
      code != kOk) {
    return code;
  }

  options.events_path = a.events;
  options.out_dir = a.out;
  options.max_line_bytes = a.max_line_bytes;
  options.batch_events = a.batch_events;
  options.flush_ms = a.flush_ms;
  options.seen_memtable_limit = a.seen_memtable;
  const auto started = std::chrono::steady_clock::now();
  if (::isatty(STDERR_FILENO)) {
    struct stat st;
    const uint64_t total = a.events != "-" && ::stat(a.events.c_str(), &st) == 0 &&
                                   S_ISREG(st.st_mode)
                               ? static_cast<uint64_t>(st.st_size)
                               : 0;
    options.progress = [started, total, last = std::chrono::steady_clock::time_point()](
                           uint64_t lines, uint64_t bytes, bool done) mutable {
      const auto now = std::chrono::steady_clock::now();
      if (!done && now - last < std::chrono::milliseconds(250)) return;
      last = now;
      const double secs = std::chrono::duration<double>(now - started).count();
      std::fprintf(stderr, "\r  %llu lines, %.1f MiB", static_cast<unsigned long long>(lines),
                   static_cast<double>(bytes) / 1048576.0);
      if (total > 0) {
        std::fprintf(stderr, " (%.0f%%)", 100.0 * static_cast<double>(bytes) /
                                              static_cast<double>(total));
      }
      std::fprintf(stderr, ", %.0f lines/s   ",
                   secs > 0 ? static_cast<double>(lines) / secs : 0.0);
    };
  }
  auto summary = router::Run(**catalog, keys, **db, options);
  if (options.progress) std::fprintf(stderr, "\n");
  if (!summary.ok()) return Fail(summary.status());
  // The run's checkpoint: its size and root, signed, so partners can be given proofs.
  if (signing_key != nullptr) {
    auto checkpoint = ledger::SignCheckpoint(**db, *signing_key, common::Now(),
                                             (*catalog)->policy_version);
    if (!checkpoint.ok()) return Fail(checkpoint.status());
    std::fprintf(stderr, "checkpoint signed: %lld entries, root %s\n",
                 static_cast<long long>(summary->ledger_size), summary->ledger_root.c_str());
  } else {
    std::fprintf(stderr, "note: no checkpoint signed (give --signing-key KEY, from `loopgate keys "
                         "init`, to sign one at the end of every run)\n");
  }
  if (a.json) {
    std::printf("%s\n", summary->ToJson().c_str());
  } else {
    std::printf("%s", summary->ToText().c_str());
    std::printf("outputs in %s (one <sink>.ndjson per sink, quarantine.ndjson)\n", a.out.c_str());
  }
  return kOk;
}

}  // namespace

void AddRunCommand(Commands& commands) {
  auto a = std::make_shared<RunArgs>();
  auto* run_cmd =
      commands.app().add_subcommand("run", "Route events through the catalog into sinks");
  run_cmd->add_option("--config", a->config, "Catalog YAML (docs/catalog.md)")->required();
  run_cmd->add_option("--events", a->events, "Events NDJSON file, or - for stdin")
      ->default_str("-");
  run_cmd->add_option("--consents", a->consents, "Consent records NDJSON to import first");
  run_cmd->add_option("--agreements", a->agreements, "Agreement records NDJSON to import first");
  run_cmd->add_option("--keys", a->keys, "Token keys JSON (domain -> key_id, secret_hex)");
  run_cmd->add_option("--state", a->state, "State directory (created if missing)")->required();
  run_cmd->add_option("--out", a->out, "Output directory for sink files and quarantine")
      ->default_str("out");
  run_cmd->add_option("--as-of", a->as_of, "Processing time, RFC 3339 (default: now)");
  run_cmd->add_option("--signing-key", a->signing_key,
                      "Ed25519 private key (PEM, from `loopgate keys init`): sign a checkpoint of "
                      "the ledger at the end of the run");
  run_cmd->add_flag("--json", a->json, "Print the run summary as JSON");
  run_cmd->add_flag("--strict-registries", a->strict_registries,
                    "Do not route when any consent or agreement record is rejected");
  run_cmd->add_option("--max-line-bytes", a->max_line_bytes,
                      "Longest input line accepted; longer ones are quarantined")
      ->default_str("1048576")
      ->check(CLI::Range(size_t{64}, size_t{1} << 30));
  run_cmd->add_option("--batch-events", a->batch_events,
                      "Events per committed batch (outputs, ledger and seen ids commit together)")
      ->default_str("8192")
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  run_cmd->add_option("--flush-ms", a->flush_ms,
                      "When input from a pipe pauses this long, commit and deliver what arrived")
      ->default_str("1000")
      ->check(CLI::Range(1, 3600000));
  // Hidden, for tests: a small in-memory seen index makes index runs and merges happen on small
  // inputs (docs/state.md section 7).
  run_cmd->add_option("--seen-memtable", a->seen_memtable, "")
      ->check(CLI::Range(size_t{1}, size_t{1} << 26))
      ->group("");

  commands.On(run_cmd, [a] { return RunCommand(*a); });
}

}  // namespace loopgate::cli
