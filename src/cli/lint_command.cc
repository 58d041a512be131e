// loopgate lint: review a catalog before it goes live (docs/governance-tools.md).

#include <cstdio>
#include <string>

#include "catalog/catalog.h"
#include "cli/command.h"
#include "lint/lint.h"
#include "sink/sink.h"
#include "transform/transform.h"

namespace loopgate::cli {
namespace {

struct LintArgs {
  std::string config;
  std::string keys;
  bool json = false;
  bool warnings_as_errors = false;
};

int LintCommand(const LintArgs& a) {
  lint::Options options;
  options.validate_output = &sink::ValidateOutput;
  transform::KeyStore keys;
  if (!a.keys.empty()) {
    auto loaded = transform::KeyStore::LoadFile(a.keys);
    if (!loaded.ok()) return FailConfig(loaded.status());
    keys = std::move(*loaded);
    options.keys = &keys;
    options.keys_path = a.keys;
  }
  auto report = lint::LintFile(a.config, options);
  if (!report.ok()) return FailConfig(report.status());
  if (a.json) {
    std::printf("%s\n", report->ToJson().c_str());
  } else {
    for (const auto& f : report->findings) std::printf("%s\n", f.ToText().c_str());
    std::printf("%s\n", report->Summary().c_str());
  }
  const bool failed = report->errors() > 0 || (a.warnings_as_errors && report->warnings() > 0);
  return failed ? kFailure : kOk;
}

}  // namespace

void AddLintCommand(Commands& commands) {
  auto a = std::make_shared<LintArgs>();
  auto* cmd = commands.app().add_subcommand(
      "lint", "Check a catalog for mistakes a privacy review should catch (exit 1 on errors)");
  cmd->add_option("--config", a->config, "Catalog YAML (docs/catalog.md)")->required();
  cmd->add_option("--keys", a->keys,
                  "Token keys JSON, as run takes it: checks that each tokenizing sink has a "
                  "key, and that no two of its token domains share a secret");
  cmd->add_flag("--json", a->json, "Print the findings and counts as one JSON object");
  cmd->add_flag("--warnings-as-errors", a->warnings_as_errors, "Exit 1 on warnings too");
  commands.On(cmd, [a] { return LintCommand(*a); });
}

}  // namespace loopgate::cli
