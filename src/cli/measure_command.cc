// loopgate measure: runs a study over what the analytics sink received (docs/study.md).

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "cli/command.h"
#include "common/strings.h"
#include "common/time.h"
#include "study/measure.h"
#include "study/study.h"

namespace loopgate::cli {
namespace {

struct MeasureArgs {
  std::string study;
  std::string state;
  bool json = false;
  std::string out;
  std::string actor;
};

std::string OsUser() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  return "unknown";
}

}  // namespace

std::optional<study::Release> MeasureStudy(const std::string& study_path,
                                           const std::string& state, const std::string& actor,
                                           int* exit_code) {
  auto study = study::LoadStudyFile(study_path);
  if (!study.ok()) {
    *exit_code = FailConfig(study.status());
    return std::nullopt;
  }
  study::MeasureOptions options;
  options.state_dir = state;
  options.actor = actor.empty() ? OsUser() : actor;
  options.at = common::FormatRfc3339(common::Instant{common::Now().seconds, 0});
  // Tests only: a seeded noise generator (anyone who knows the seed can remove the noise).
  if (const char* seed = std::getenv("LOOPGATE_TEST_DP_SEED"); seed != nullptr) {
    options.dp_seed = std::strtoull(seed, nullptr, 10);
  }
  // A measurement is a release: recorded in the ledger with its DP spend (docs/study.md).
  auto released = study::MeasureAndRecord(*study, options);
  if (!released.ok()) {
    *exit_code = released.status().code() == absl::StatusCode::kInvalidArgument
                     ? FailConfig(released.status())
                     : Fail(released.status());
    return std::nullopt;
  }
  *exit_code = kOk;
  return std::move(*released);
}

namespace {

int MeasureCommand(const MeasureArgs& a) {
  int exit_code = kOk;
  std::optional<study::Release> released = MeasureStudy(a.study, a.state, a.actor, &exit_code);
  if (!released) return exit_code;
  const study::Measurement* m = &released->measurement;
  const std::string json = m->json + "\n";
  if (!a.out.empty()) {
    std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
    out << json;
    out.close();
    if (!out) return Fail(absl::UnavailableError(common::StrCat("cannot write ", a.out)));
  }
  const std::string text =
      a.json ? json
             : common::StrCat(m->summary, "Recorded in the ledger as entry ", released->seq, " (",
                              released->release_id, "; loopgate explain --state ", a.state, " ",
                              released->release_id, ").\n");
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    return Fail(absl::UnavailableError("cannot write to standard output"));
  }
  return kOk;
}

}  // namespace

void AddMeasureCommand(Commands& commands) {
  auto a = std::make_shared<MeasureArgs>();
  auto* cmd = commands.app().add_subcommand(
      "measure",
      "Run a study (loopgate.study/v1) over what the analytics sink received: lift with "
      "confidence intervals, time to outcome, attribution and governance figures, released only "
      "as suppressed (k) or differentially private aggregates. Each measurement is recorded in "
      "the ledger as a release (who, which study, what was released, epsilon spent) before its "
      "result is printed; a run in progress on the state makes it fail (exit 1)");
  cmd->add_option("--study", a->study, "Study file (YAML, loopgate.study/v1; docs/study.md)")
      ->required();
  cmd->add_option("--state", a->state, "State directory of the runs that fed the sink")->required();
  cmd->add_flag("--json", a->json, "Print the loopgate.study-result/v1 JSON instead of a summary");
  cmd->add_option("--out", a->out, "Also write the JSON result to this file");
  cmd->add_option("--actor", a->actor, "Who runs the measurement (default: the OS user)");
  commands.On(cmd, [a] { return MeasureCommand(*a); });
}

}  // namespace loopgate::cli
