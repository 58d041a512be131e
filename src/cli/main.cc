// loopgate: the command-line entry point. Exit status: 0 success, 1 failure (I/O, state store,
// a ledger that does not verify, nothing found), 2 usage or configuration error (nothing is
// written then).

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "common/strings.h"
#include "catalog/catalog.h"
#include "common/time.h"
#include "consent/consent.h"
#include "ledger/ledger.h"
#include "router/router.h"
#include "sink/sink.h"
#include "store/store.h"
#include "transform/transform.h"

namespace loopgate::cli {
namespace {

constexpr int kOk = 0;
constexpr int kFailure = 1;
constexpr int kUsage = 2;

int Fail(const absl::Status& s, int code = kFailure) {
  std::fprintf(stderr, "loopgate: %s\n", std::string(s.message()).c_str());
  return code;
}

// Usage for InvalidArgument/FailedPrecondition from configuration, failure otherwise.
int FailConfig(const absl::Status& s) { return Fail(s, kUsage); }

void PrintImportReport(consent::RegistryKind kind, const std::string& path,
                       const consent::ImportReport& r) {
  std::fprintf(stderr, "%s registry: %lld records read from %s, %lld new, %lld already known, "
                       "%lld rejected\n",
               std::string(consent::RegistryName(kind)).c_str(),
               static_cast<long long>(r.records), path.c_str(), static_cast<long long>(r.added),
               static_cast<long long>(r.unchanged), static_cast<long long>(r.rejected));
  for (const auto& e : r.errors) {
    std::fprintf(stderr, "  %s:%s\n", path.c_str(), e.substr(5).c_str());
  }
}

struct RunArgs {
  std::string config;
  std::string events = "-";
  std::string consents;
  std::string agreements;
  std::string keys;
  std::string state;
  std::string out = "out";
  std::string as_of;
  bool json = false;
  bool strict_registries = false;
  size_t max_line_bytes = 1 << 20;
  size_t batch_events = 8192;
  int flush_ms = 1000;
};

int RunCommand(const RunArgs& a) {
  router::Options options;
  if (a.as_of.empty()) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    options.as_of = {std::chrono::duration_cast<std::chrono::seconds>(now).count(), 0};
    options.as_of_text = common::FormatRfc3339(options.as_of);
  } else {
    auto t = common::ParseRfc3339(a.as_of);
    if (!t) {
      return FailConfig(absl::InvalidArgumentError(common::StrCat(
          "--as-of '", a.as_of, "' is not an RFC 3339 date-time such as 2026-06-30T00:00:00Z")));
    }
    options.as_of = *t;
    options.as_of_text = a.as_of;
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
  if (auto t = transform::Transformer::Create(**catalog, keys); !t.ok()) {
    return FailConfig(t.status());
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
  int64_t rejected = 0;
  for (auto [kind, path] : {std::pair{consent::RegistryKind::kConsents, &a.consents},
                            std::pair{consent::RegistryKind::kAgreements, &a.agreements}}) {
    if (path->empty()) continue;
    auto report = consent::Import(**db, kind, *path);
    if (!report.ok()) return Fail(report.status());
    PrintImportReport(kind, *path, *report);
    rejected += report->rejected;
  }
  if (rejected > 0 && a.strict_registries) {
    std::fprintf(stderr, "loopgate: %lld registry records were rejected (listed above); routing "
                         "did not start (--strict-registries). The good records were imported.\n",
                 static_cast<long long>(rejected));
    return kFailure;
  }
  if (rejected > 0) {
    std::fprintf(stderr, "warning: %lld registry records were rejected (listed above) and are not "
                         "in force: a rejected revocation leaves the consent it revokes in force. "
                         "Use --strict-registries to stop instead.\n",
                 static_cast<long long>(rejected));
  }

  options.events_path = a.events;
  options.out_dir = a.out;
  options.max_line_bytes = a.max_line_bytes;
  options.batch_events = a.batch_events;
  options.flush_ms = a.flush_ms;
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
  if (a.json) {
    std::printf("%s\n", summary->ToJson().c_str());
  } else {
    std::printf("%s", summary->ToText().c_str());
    std::printf("outputs in %s (one <sink>.ndjson per sink, quarantine.ndjson)\n", a.out.c_str());
  }
  return kOk;
}

int ImportCommand(consent::RegistryKind kind, const std::string& state, const std::string& file) {
  std::error_code ec;
  std::filesystem::create_directories(state, ec);
  auto lock = store::DirLock::Acquire(state);
  if (!lock.ok()) return Fail(lock.status());
  auto db = store::Database::Open(state);
  if (!db.ok()) return Fail(db.status());
  auto report = consent::Import(**db, kind, file);
  if (!report.ok()) return Fail(report.status());
  PrintImportReport(kind, file, *report);
  return report->rejected > 0 ? kFailure : kOk;
}

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
  return kOk;
}

int ExportCommand(const std::string& state) {
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  if (auto s = ledger::Export(**db, stdout); !s.ok()) return Fail(s);
  return kOk;
}

int ExplainCommand(const std::string& state, const std::string& event_id, bool json) {
  auto db = store::Database::OpenExisting(state);
  if (!db.ok()) return Fail(db.status());
  auto entries = ledger::EntriesForEvent(**db, event_id);
  if (!entries.ok()) return Fail(entries.status());
  if (entries->empty()) {
    // Accepted but with no ledger entry: its type permits no purpose any sink serves, so no
    // sink was a candidate and nothing was decided (routing.md section 2).
    auto seen = (*db)->Prepare("SELECT 1 FROM seen WHERE id = ? AND first_seq = 0");
    if (!seen.ok()) return Fail(seen.status());
    seen->Bind(1, event_id);
    auto accepted = seen->Step();
    if (!accepted.ok()) return Fail(accepted.status());
    if (*accepted) {
      std::printf("event %s\n  accepted and blocked: no sink serves a purpose its event type "
                  "permits, so no sink was a candidate and nothing was delivered\n",
                  event_id.c_str());
      return kOk;
    }
    std::fprintf(stderr, "loopgate: no ledger entries for event id '%s' in %s\n",
                 event_id.c_str(), state.c_str());
    return kFailure;
  }
  if (json) {
    for (const auto& e : *entries) std::printf("%s\n", e.c_str());
    return kOk;
  }
  simdjson::dom::parser parser;
  bool header = false;
  for (const auto& text : *entries) {
    simdjson::dom::element e;
    if (parser.parse(text).get(e) != simdjson::SUCCESS) continue;
    auto str = [&](const char* key) -> std::string {
      std::string_view s;
      return e[key].get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string("-");
    };
    auto list = [&](const char* key) {
      std::string out;
      simdjson::dom::array arr;
      if (e[key].get_array().get(arr) != simdjson::SUCCESS) return out;
      for (auto item : arr) {
        std::string_view s;
        if (item.get_string().get(s) != simdjson::SUCCESS) continue;
        if (!out.empty()) out += ", ";
        out += s;
      }
      return out;
    };
    auto num = [&](const char* key) {
      int64_t v = 0;
      return e[key].get_int64().get(v) == simdjson::SUCCESS ? v : int64_t{0};
    };
    const int64_t line = num("line"), seq = num("seq"), run = num("run");
    if (!header || str("decision") == "quarantine") {
      std::printf("event %s\n  type %s, source %s, time %s\n  input line %lld of run %lld, "
                  "policy %s\n",
                  event_id.c_str(), str("type").c_str(), str("source").c_str(),
                  str("time").c_str(), static_cast<long long>(line), static_cast<long long>(run),
                  str("policy_version").c_str());
      header = true;
    }
    const std::string decision = str("decision");
    if (decision == "quarantine") {
      std::printf("  QUARANTINED (%s): %s  [ledger #%lld]\n", str("reason").c_str(),
                  str("detail").c_str(), static_cast<long long>(seq));
      continue;
    }
    std::printf("  %-22s %-5s", str("sink").c_str(), decision.c_str());
    if (decision == "deny") {
      std::printf(" reason %s", str("reason").c_str());
    } else {
      const std::string ids = list("consent_ids"), versions = list("consent_versions");
      std::printf(" consents [%s]", ids.empty() ? "none required" : ids.c_str());
      if (!versions.empty()) std::printf(" recorded [%s]", versions.c_str());
      const std::string transforms = list("transforms");
      std::printf(" transforms [%s] delivered %s", transforms.empty() ? "none" : transforms.c_str(),
                  str("delivered").c_str());
    }
    std::printf("  [ledger #%lld]\n", static_cast<long long>(seq));
  }
  return kOk;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"Loopgate: consent-aware routing of commercial and clinical events, with an "
               "audit ledger that shows why each record went where it went."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "loopgate 0.1.0");

  RunArgs run;
  auto* run_cmd = app.add_subcommand("run", "Route events through the catalog into sinks");
  run_cmd->add_option("--config", run.config, "Catalog YAML (docs/catalog.md)")->required();
  run_cmd->add_option("--events", run.events, "Events NDJSON file, or - for stdin")
      ->default_str("-");
  run_cmd->add_option("--consents", run.consents, "Consent records NDJSON to import first");
  run_cmd->add_option("--agreements", run.agreements, "Agreement records NDJSON to import first");
  run_cmd->add_option("--keys", run.keys, "Token keys JSON (domain -> key_id, secret_hex)");
  run_cmd->add_option("--state", run.state, "State directory (created if missing)")->required();
  run_cmd->add_option("--out", run.out, "Output directory for sink files and quarantine")
      ->default_str("out");
  run_cmd->add_option("--as-of", run.as_of, "Processing time, RFC 3339 (default: now)");
  run_cmd->add_flag("--json", run.json, "Print the run summary as JSON");
  run_cmd->add_flag("--strict-registries", run.strict_registries,
                    "Do not route when any consent or agreement record is rejected");
  run_cmd->add_option("--max-line-bytes", run.max_line_bytes,
                      "Longest input line accepted; longer ones are quarantined")
      ->default_str("1048576")
      ->check(CLI::Range(size_t{64}, size_t{1} << 30));
  run_cmd->add_option("--batch-events", run.batch_events,
                      "Events per committed batch (outputs, ledger and seen ids commit together)")
      ->default_str("8192")
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));

  run_cmd->add_option("--flush-ms", run.flush_ms,
                      "When input from a pipe pauses this long, commit and deliver what arrived")
      ->default_str("1000")
      ->check(CLI::Range(1, 3600000));

  std::string state, file, event_id;
  bool json = false;
  auto* ledger_cmd = app.add_subcommand("ledger", "Verify or export the audit ledger");
  ledger_cmd->require_subcommand(1);
  auto* verify = ledger_cmd->add_subcommand("verify", "Recompute the hash chain; exit 1 naming "
                                                      "the first bad entry if it does not hold");
  verify->add_option("--state", state, "State directory")->required();
  auto* export_cmd = ledger_cmd->add_subcommand("export", "Write every entry as NDJSON to stdout");
  export_cmd->add_option("--state", state, "State directory")->required();

  auto* explain = app.add_subcommand("explain", "Show an event's lineage: every decision, reason, "
                                                "consent cited, transform and policy version");
  explain->add_option("--state", state, "State directory")->required();
  explain->add_option("event_id", event_id, "The event's id")->required();
  explain->add_flag("--json", json, "Print the ledger entries as JSON lines");

  auto* consent_cmd = app.add_subcommand("consent", "Manage the consent registry");
  consent_cmd->require_subcommand(1);
  auto* consent_import = consent_cmd->add_subcommand("import", "Import consent records (NDJSON)");
  consent_import->add_option("--state", state, "State directory")->required();
  consent_import->add_option("file", file, "NDJSON file, or - for stdin")->required();
  auto* agreement_cmd = app.add_subcommand("agreement", "Manage the agreement registry");
  agreement_cmd->require_subcommand(1);
  auto* agreement_import =
      agreement_cmd->add_subcommand("import", "Import agreement records (NDJSON)");
  agreement_import->add_option("--state", state, "State directory")->required();
  agreement_import->add_option("file", file, "NDJSON file, or - for stdin")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  if (run_cmd->parsed()) return RunCommand(run);
  if (verify->parsed()) return VerifyCommand(state);
  if (export_cmd->parsed()) return ExportCommand(state);
  if (explain->parsed()) return ExplainCommand(state, event_id, json);
  if (consent_import->parsed()) return ImportCommand(consent::RegistryKind::kConsents, state, file);
  if (agreement_import->parsed()) {
    return ImportCommand(consent::RegistryKind::kAgreements, state, file);
  }
  return kUsage;
}

}  // namespace loopgate::cli

int main(int argc, char** argv) { return loopgate::cli::Main(argc, argv); }
