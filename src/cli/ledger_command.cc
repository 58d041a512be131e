// loopgate ledger verify|export: check and read the audit ledger (docs/ledger-format.md).

#include <cstdio>
#include <string>

#include "cli/command.h"
#include "ledger/ledger.h"
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

}  // namespace

void AddLedgerCommands(Commands& commands) {
  auto state = std::make_shared<std::string>();
  auto* ledger_cmd = commands.app().add_subcommand("ledger", "Verify or export the audit ledger");
  ledger_cmd->require_subcommand(1);
  auto* verify = ledger_cmd->add_subcommand("verify", "Recompute the hash chain; exit 1 naming "
                                                      "the first bad entry if it does not hold");
  verify->add_option("--state", *state, "State directory")->required();
  commands.On(verify, [state] { return VerifyCommand(*state); });
  auto* export_cmd = ledger_cmd->add_subcommand("export", "Write every entry as NDJSON to stdout");
  export_cmd->add_option("--state", *state, "State directory")->required();
  commands.On(export_cmd, [state] { return ExportCommand(*state); });
}

}  // namespace loopgate::cli
