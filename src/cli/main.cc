// loopgate: the command-line entry point. The commands are listed once, below; each lives in its
// own file of this folder. Exit statuses are in command.h.

#include <cstdio>
#include <string>

#include "cli/command.h"

namespace loopgate::cli {

int Fail(const absl::Status& s, int code) {
  std::fprintf(stderr, "loopgate: %s\n", std::string(s.message()).c_str());
  return code;
}

int FailConfig(const absl::Status& s) { return Fail(s, kUsage); }

int Main(int argc, char** argv) {
  CLI::App app{"Loopgate: consent-aware routing of commercial and clinical events, with an "
               "audit ledger that shows why each record went where it went."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "loopgate 0.1.0");

  Commands commands(app);
  // Every command, in the order --help lists them.
  AddRunCommand(commands);
  AddLedgerCommands(commands);
  AddExplainCommand(commands);
  AddRegistryCommands(commands);
  AddLintCommand(commands);
  AddMatrixCommand(commands);
  AddAttributionCommand(commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  return commands.Dispatch();
}

}  // namespace loopgate::cli

int main(int argc, char** argv) { return loopgate::cli::Main(argc, argv); }
