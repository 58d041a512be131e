// loopgate report governance: what the state says about consent coverage, blocked and
// quarantined events, denials, revocations and audit completeness (docs/governance-report.md).
// loopgate report study: the study report page from a loopgate.study-result/v1 result
// (docs/study-report.md).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <system_error>

#include "cli/command.h"
#include "common/strings.h"
#include "report/governance.h"
#include "report/study_html.h"
#include "report/study_result.h"
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

struct StudyArgs {
  std::string result;  // A saved result (--result), or:
  std::string study;   // a study file to measure now (--study), over
  std::string state;   // this state (--state), as
  std::string actor;   // this actor (--actor; default the OS user).
  std::string html;    // Where the page goes; "-" for stdout.
  bool json = false;   // Print the validated result JSON to stdout.
};

// A result is a few hundred kilobytes; the cap keeps a wrong path from being slurped.
constexpr uintmax_t kMaxResultBytes = 64 << 20;

// Writes `text` to `path` through a temporary file and a rename, so that a reader never sees a
// half-written page and a failed run leaves any earlier page in place.
absl::Status WriteWhole(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!f.flush()) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      return absl::InternalError(common::StrCat("cannot write ", path));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return absl::InternalError(common::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

// Renders and writes one study result, given as the text of a loopgate.study-result/v1 object
// (from --result, or from a measurement run by `--study F --state DIR`). `source` names
// the result in errors. An invalid result is a usage error (exit 2) and nothing is written.
int StudyReport(const std::string& result_json, const std::string& source, const StudyArgs& a) {
  auto result = report::ParseStudyResult(result_json);
  if (!result.ok()) {
    return FailConfig(absl::InvalidArgumentError(
        common::StrCat(source, ": ", std::string(result.status().message()))));
  }
  if (!a.html.empty()) {
    const std::string page = report::RenderStudyHtml(*result);
    if (a.html == "-") {
      std::fwrite(page.data(), 1, page.size(), stdout);
    } else {
      if (auto s = WriteWhole(a.html, page); !s.ok()) return Fail(s);
      std::fprintf(stderr, "study report written to %s\n", a.html.c_str());
    }
  }
  if (a.json) {
    std::fwrite(result_json.data(), 1, result_json.size(), stdout);
    if (!result_json.ends_with("\n")) std::fputc('\n', stdout);
  }
  return std::fflush(stdout) == 0 ? kOk : kFailure;
}

int StudyCommand(const StudyArgs& a) {
  if (a.html.empty() && !a.json) {
    return FailConfig(absl::InvalidArgumentError("give --html OUT, --json, or both"));
  }
  if (a.html == "-" && a.json) {
    return FailConfig(absl::InvalidArgumentError(
        "--html - and --json both write to stdout: give --html a file"));
  }
  if (a.result.empty() == a.study.empty()) {
    return FailConfig(absl::InvalidArgumentError(
        "give either --result F (a saved result) or --study F --state DIR (measure now)"));
  }
  if (!a.study.empty()) {
    if (a.state.empty()) {
      return FailConfig(absl::InvalidArgumentError("--study needs --state DIR"));
    }
    // A new measurement: a release recorded in the ledger like `loopgate measure`'s (and in DP
    // mode one more spend of the study's budget; render a saved result with --result instead).
    int exit_code = kOk;
    std::optional<study::Release> released = MeasureStudy(a.study, a.state, a.actor, &exit_code);
    if (!released) return exit_code;
    std::fprintf(stderr, "measured %s: release %s, ledger entry %lld\n", a.study.c_str(),
                 released->release_id.c_str(), static_cast<long long>(released->seq));
    return StudyReport(released->measurement.json, a.study, a);
  }
  if (!a.state.empty() || !a.actor.empty()) {
    return FailConfig(absl::InvalidArgumentError("--state and --actor go with --study"));
  }
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(a.result, ec);
  if (ec) {
    return FailConfig(absl::NotFoundError(common::StrCat("cannot read ", a.result)));
  }
  if (size > kMaxResultBytes) {
    return FailConfig(absl::InvalidArgumentError(
        common::StrCat(a.result, ": larger than a study result can be (64 MiB)")));
  }
  std::ifstream in(a.result, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Fail(absl::InternalError(common::StrCat("cannot read ", a.result)));
  return StudyReport(text, a.result, a);
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

  auto st = std::make_shared<StudyArgs>();
  auto* study = report_cmd->add_subcommand(
      "study",
      "The study report: one self-contained HTML page (no network) with the question, the "
      "answer, lift with its interval, time to outcome, attribution per model, the disclosure "
      "control applied and the governance figures, from a loopgate.study-result/v1 result; exit "
      "2 when the result does not follow the format (the error names the member). Either "
      "renders a saved result (--result) or measures the study now (--study F --state DIR, "
      "recorded in the ledger as `loopgate measure` does)");
  study->add_option("--result", st->result, "A saved result (loopgate.study-result/v1 JSON)");
  study->add_option("--study", st->study,
                    "Measure this study file (loopgate.study/v1) now and report the result");
  study->add_option("--state", st->state, "With --study: the state the study reads");
  study->add_option("--actor", st->actor, "With --study: who measures (default: the OS user)");
  study->add_option("--html", st->html, "Write the HTML page here (- for stdout)");
  study->add_flag("--json", st->json, "Print the validated result JSON to stdout");
  commands.On(study, [st] { return StudyCommand(*st); });
}

}  // namespace loopgate::cli
