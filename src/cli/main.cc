// loopgate: the command-line entry point. The commands are listed once, below; each lives in its
// own file of this folder. Exit statuses are in command.h.

#include <malloc.h>

#include <cstdio>
#include <string>

#include "cli/command.h"
#include "common/strings.h"

namespace loopgate::cli {

int Fail(const absl::Status& s, int code) {
  std::fprintf(stderr, "loopgate: %s\n", std::string(s.message()).c_str());
  return code;
}

int FailConfig(const absl::Status& s) { return Fail(s, kUsage); }

absl::Status ResolveAsOf(const std::string& flag, common::Instant* as_of, std::string* as_of_text) {
  if (flag.empty()) {
    *as_of = common::Now();
    *as_of_text = common::FormatRfc3339(*as_of);
    return absl::OkStatus();
  }
  auto t = common::ParseRfc3339(flag);
  if (!t) {
    return absl::InvalidArgumentError(common::StrCat(
        "--as-of '", flag, "' is not an RFC 3339 date-time such as 2026-06-30T00:00:00Z"));
  }
  *as_of = *t;
  *as_of_text = flag;
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  CLI::App app{"Loopgate: consent-aware routing of commercial and clinical events, with an "
               "audit ledger that shows why each record went where it went."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "loopgate 0.1.0");

  Commands commands(app);
  // Every command, in the order --help lists them.
  AddRunCommand(commands);
  AddDemoCommand(commands);
  AddLedgerCommands(commands);
  AddExplainCommand(commands);
  AddRegistryCommands(commands);
  AddLintCommand(commands);
  AddMatrixCommand(commands);
  AddPolicyCommands(commands);
  AddKeysCommands(commands);
  AddReportCommands(commands);
  AddAttributionCommand(commands);
  AddMeasureCommand(commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  return commands.Dispatch();
}

}  // namespace loopgate::cli

int main(int argc, char** argv) {
#ifdef M_ARENA_MAX
  // One malloc arena for every thread. A run starts short-lived threads for each batch's
  // flushes (outputs, ledger files, seen store), and with an arena each, the memory they freed
  // stayed spread over up to 16 arenas, so peak RSS crept up with the input: +27 MiB at 10M
  // events (docs/performance.md section 19). Those threads mostly wait on syscalls, so sharing
  // one arena costs nothing measurable.
  mallopt(M_ARENA_MAX, 1);
#endif
  return loopgate::cli::Main(argc, argv);
}
