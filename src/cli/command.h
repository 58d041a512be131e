#pragma once
// The command-line interface: each command (or group of subcommands) lives in its own file and
// registers itself through an Add*Command function listed once in main.cc.
//
// Exit status, for every command: 0 success, 1 failure (I/O, state store, a ledger that does not
// verify, nothing found), 2 usage or configuration error (nothing is written then).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "common/time.h"
#include "consent/consent.h"
#include "store/store.h"
#include "study/measure.h"

namespace loopgate::cli {

inline constexpr int kOk = 0;
inline constexpr int kFailure = 1;
inline constexpr int kUsage = 2;

// Prints "loopgate: <message>" to stderr and returns `code`.
int Fail(const absl::Status& s, int code = kFailure);
// Fail with kUsage: for configuration and usage errors.
int FailConfig(const absl::Status& s);

// Resolves an --as-of value: RFC 3339 text as given, or, when empty, now in whole seconds (UTC).
// Errors: InvalidArgument naming the flag, for FailConfig.
absl::Status ResolveAsOf(const std::string& flag, common::Instant* as_of, std::string* as_of_text);

// Runs the study file over the state and records the release in the ledger
// (study::MeasureAndRecord), as the actor given or else the OS user: `measure` and
// `report study --study`. On failure prints the error and returns nothing, with the exit status
// in *exit_code (2 for a study or reference-data error, 1 otherwise).
std::optional<study::Release> MeasureStudy(const std::string& study_path,
                                           const std::string& state, const std::string& actor,
                                           int* exit_code);

// Prints an import's counts and its rejected records (file:line: reason) to stderr.
void PrintImportReport(consent::RegistryKind kind, const std::string& path,
                       const consent::ImportReport& r);

// Imports the --consents and --agreements files of `run` or `policy diff` (an empty path is
// skipped) into `db`, printing each import's report. Returns kOk to go on, or the exit status to
// stop with: kFailure on an I/O or store error, or when records were rejected and `strict` is
// set ("<what> did not start"). Without `strict`, rejected records are a warning. `persistent`:
// `db` is a state directory's store (the good records stay imported), not a scratch one.
int ImportRegistries(store::Database& db, const std::string& consents,
                     const std::string& agreements, bool strict, const char* what, bool persistent);

// What a command does once its options are parsed; returns the exit status.
using Action = std::function<int()>;

// Registration: each Add*Command adds its subcommands to `app` and binds their options to state
// it owns (kept alive by the actions it registers through `on`). After parsing, main runs the
// action of the one subcommand that was given.
class Commands {
 public:
  explicit Commands(CLI::App& app) : app_(app) {}
  CLI::App& app() { return app_; }
  // Runs `action` when `sub` was parsed.
  void On(CLI::App* sub, Action action) { actions_.push_back({sub, std::move(action)}); }
  // The action of the parsed subcommand; kUsage if none was.
  int Dispatch() const {
    for (const auto& [sub, action] : actions_) {
      if (sub->parsed()) return action();
    }
    return kUsage;
  }

 private:
  CLI::App& app_;
  std::vector<std::pair<CLI::App*, Action>> actions_;
};

// The commands, one per file of this folder.
void AddRunCommand(Commands& commands);       // run_command.cc
void AddDemoCommand(Commands& commands);      // demo_command.cc
void AddLedgerCommands(Commands& commands);   // ledger_command.cc: verify|export|checkpoint|
                                              // prove|releases|check-proof
void AddExplainCommand(Commands& commands);   // explain_command.cc
void AddLintCommand(Commands& commands);      // lint_command.cc
void AddMatrixCommand(Commands& commands);    // matrix_command.cc
void AddRegistryCommands(Commands& commands);  // registry_command.cc: consent import|show,
                                               // agreement import
void AddPolicyCommands(Commands& commands);    // policy_command.cc: policy diff
void AddKeysCommands(Commands& commands);      // keys_command.cc: keys init
void AddReportCommands(Commands& commands);    // report_command.cc: report governance|study
void AddAttributionCommand(Commands& commands);  // attribution_command.cc
void AddMeasureCommand(Commands& commands);      // measure_command.cc

}  // namespace loopgate::cli
