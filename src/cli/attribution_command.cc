// loopgate attribution: multi-touch attribution over a paths file (docs/attribution.md).

#include <cstdio>
#include <string>
#include <string_view>

#include "attribution/paths.h"
#include "attribution/report.h"
#include "cli/command.h"
#include "common/strings.h"

namespace loopgate::cli {
namespace {

struct AttributionArgs {
  std::string paths;
  int order = 1;
  double half_life = 1;
  std::string models;
  bool json = false;
};

int AttributionCommand(const AttributionArgs& a) {
  attribution::ReportOptions options;
  options.order = a.order;
  options.half_life = a.half_life;
  std::string_view list = a.models;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    const auto model = attribution::ParseModel(name);
    if (!model) {
      return FailConfig(absl::InvalidArgumentError(
          common::StrCat("--models: '", name,
                         "' is not one of first_touch, last_touch, linear, "
                         "position_based, time_decay, markov, shapley")));
    }
    options.models.push_back(*model);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }

  auto paths = attribution::ReadPathsFile(a.paths);
  if (!paths.ok()) {
    // A missing or malformed file is a usage error (as for run --events); a read error is a
    // failure.
    const auto code = paths.status().code();
    return code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound
               ? FailConfig(paths.status())
               : Fail(paths.status());
  }
  auto report = attribution::RunReport(*paths, options);
  if (!report.ok()) {
    return report.status().code() == absl::StatusCode::kInvalidArgument
               ? FailConfig(report.status())
               : Fail(report.status());
  }
  for (const auto& [model, why] : report->skipped) {
    std::fprintf(stderr, "loopgate: note: %s skipped: %s\n",
                 std::string(attribution::ModelName(model)).c_str(), why.c_str());
  }
  const std::string text = a.json ? report->ToJson() : report->ToText();
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    return Fail(absl::UnavailableError("cannot write to standard output"));
  }
  return kOk;
}

}  // namespace

void AddAttributionCommand(Commands& commands) {
  auto a = std::make_shared<AttributionArgs>();
  auto* cmd = commands.app().add_subcommand(
      "attribution",
      "Multi-touch attribution of conversions to channels over customer journeys: first and last "
      "touch, linear, position-based, time decay, Markov removal effects, Shapley values");
  cmd->add_option("--paths", a->paths,
                  "Paths file: 'a > b > c;conversions;value;nulls' per line, optional header "
                  "(ChannelAttribution's path;total_conversions;total_conversion_value;total_null)")
      ->required();
  cmd->add_option("--order", a->order, "Markov chain order, 1 to 3")
      ->default_str("1")
      ->check(CLI::Range(1, 3));
  cmd->add_option("--half-life", a->half_life,
                  "Time decay half-life, in touchpoints before the end of the path")
      ->default_str("1")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--models", a->models,
                  "Comma-separated subset of first_touch,last_touch,linear,position_based,"
                  "time_decay,markov,shapley (default: all; Shapley is then skipped above 20 "
                  "channels)");
  cmd->add_flag("--json", a->json,
                "Print one JSON object: per model, each channel's attributed conversions and "
                "value; for Markov also the base conversion probability and removal effects");
  commands.On(cmd, [a] { return AttributionCommand(*a); });
}

}  // namespace loopgate::cli
