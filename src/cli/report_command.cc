// loopgate report governance: what the state says about consent coverage, blocked and
// quarantined events, denials, revocations and audit completeness (docs/governance-report.md).
// The `report` group is meant to take further reports as subcommands.

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/command.h"
#include "report/governance.h"
#include "store/store.h"

namespace loopgate::cli {
namespace {

struct GovernanceArgs {
  std::string state;
  std::string out;
  size_t max_gaps = 1000;
  bool json = false;
};

int GovernanceCommand(const GovernanceArgs& a) {
  // Sink files and ledger are compared at rest: no run may append to either meanwhile. The lock
  // is taken before the store is opened (as run does), but only in a directory holding a state.
  if (!std::filesystem::exists(a.state + "/state.db")) {
    return Fail(store::Database::OpenExisting(a.state).status());  // "no Loopgate state in ..."
  }
  auto lock = store::DirLock::Acquire(a.state);
  if (!lock.ok()) return Fail(lock.status());
  auto db = store::Database::OpenExisting(a.state);
  if (!db.ok()) return Fail(db.status());
  report::GovernanceOptions options;
  options.out_dir = a.out;
  options.max_gaps = a.max_gaps;
  auto r = report::Governance(**db, options);
  if (!r.ok()) return Fail(r.status());
  const std::string text = a.json ? r->ToJson() + "\n" : r->ToText();
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (!r->ledger_verifies) {
    std::fprintf(stderr, "loopgate: the ledger does not verify: %s\n", r->ledger_problem.c_str());
  }
  if (!r->audit_complete()) {
    std::fprintf(stderr, "loopgate: the audit is incomplete: %lld gap%s between the sink files "
                         "and the ledger (listed in the report)\n",
                 static_cast<long long>(r->total_gaps), r->total_gaps == 1 ? "" : "s");
  }
  return r->ok() ? kOk : kFailure;
}

}  // namespace

void AddReportCommands(Commands& commands) {
  auto* report_cmd =
      commands.app().add_subcommand("report", "Reports computed from a state directory");
  report_cmd->require_subcommand(1);

  auto g = std::make_shared<GovernanceArgs>();
  auto* governance = report_cmd->add_subcommand(
      "governance",
      "Consent coverage per purpose, blocked and quarantine rates, denials by reason and sink, "
      "revocations, and audit completeness (every delivered line against the ledger); exit 1 "
      "when the ledger does not verify or a line or allow is unaccounted for");
  governance->add_option("--state", g->state, "State directory")->required();
  governance->add_option("--out", g->out,
                         "Where the sink files are now, if not where the runs wrote them "
                         "(default: each run's recorded --out)");
  governance->add_option("--max-gaps", g->max_gaps, "Gap records to list at most (0: none); the "
                                                    "counts always cover every gap")
      ->default_str("1000");
  governance->add_flag("--json", g->json, "Print the report as one JSON object");
  commands.On(governance, [g] { return GovernanceCommand(*g); });
}

}  // namespace loopgate::cli
