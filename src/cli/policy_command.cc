// loopgate policy diff: the dry run before a policy change. Decides the same events under two
// catalogs, delivers nothing, writes nothing, and reports the decisions that change
// (docs/policy-diff.md).

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "cli/command.h"
#include "common/strings.h"
#include "consent/consent.h"
#include "dryrun/dryrun.h"
#include "sink/sink.h"
#include "store/store.h"
#include "transform/transform.h"

namespace loopgate::cli {
namespace {

struct DiffArgs {
  std::string config, against;
  std::string events = "-";
  std::string consents, agreements, keys, state, as_of;
  size_t examples = 3;
  size_t max_line_bytes = 1 << 20;
  bool json = false;
  bool fail_on_change = false;
  bool strict_registries = false;
};

int DiffCommand(const DiffArgs& a) {
  dryrun::Options options;
  if (auto s = ResolveAsOf(a.as_of, &options.as_of, &options.as_of_text); !s.ok()) {
    return FailConfig(s);
  }
  // Everything that can be checked without the registries is checked first, as `run` does.
  auto old_catalog = catalog::LoadFile(a.config, &sink::ValidateOutput);
  if (!old_catalog.ok()) return FailConfig(old_catalog.status());
  auto new_catalog = catalog::LoadFile(a.against, &sink::ValidateOutput);
  if (!new_catalog.ok()) return FailConfig(new_catalog.status());
  for (const auto* c : {&*old_catalog, &*new_catalog}) {
    for (const auto& w : (*c)->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  }
  transform::KeyStore keys;
  if (!a.keys.empty()) {
    auto loaded = transform::KeyStore::LoadFile(a.keys);
    if (!loaded.ok()) return FailConfig(loaded.status());
    keys = std::move(*loaded);
  }
  for (const auto* c : {&*old_catalog, &*new_catalog}) {
    if (auto t = transform::Transformer::Create(**c, keys); !t.ok()) {
      return FailConfig(t.status());
    }
  }
  if (a.events != "-" && ::access(a.events.c_str(), R_OK) != 0) {
    return FailConfig(
        absl::NotFoundError(common::StrCat(a.events, ": cannot read the events file")));
  }
  for (const std::string* f : {&a.consents, &a.agreements}) {
    if (!f->empty() && ::access(f->c_str(), R_OK) != 0) {
      return FailConfig(absl::NotFoundError(common::StrCat(*f, ": cannot read this file")));
    }
  }

  // The registries. A given state is only read; registry files go into a private in-memory
  // store (on top of a copy of the state's registries when both are given), so nothing on disk
  // changes.
  std::unique_ptr<store::Database> state, scratch;
  if (!a.state.empty()) {
    auto opened = store::Database::OpenReadOnly(a.state);
    if (!opened.ok()) return Fail(opened.status());
    state = std::move(*opened);
  }
  store::Database* registries = state.get();
  if (state == nullptr || !a.consents.empty() || !a.agreements.empty()) {
    auto opened = store::Database::OpenInMemory();
    if (!opened.ok()) return Fail(opened.status());
    scratch = std::move(*opened);
    if (state != nullptr) {
      if (auto s = consent::CopyRegistries(*state, *scratch); !s.ok()) return Fail(s);
    }
    if (int code = ImportRegistries(*scratch, a.consents, a.agreements, a.strict_registries,
                                    "the dry run", /*persistent=*/false);
        code != kOk) {
      return code;
    }
    registries = scratch.get();
  }

  options.events_path = a.events;
  options.examples = a.examples;
  options.max_line_bytes = a.max_line_bytes;
  auto report = dryrun::Diff(**old_catalog, **new_catalog, keys, *registries, options);
  if (!report.ok()) return Fail(report.status());
  if (a.json) {
    std::printf("%s\n", report->ToJson().c_str());
  } else {
    std::printf("%s", report->ToText().c_str());
  }
  return a.fail_on_change && report->changed() ? kFailure : kOk;
}

}  // namespace

void AddPolicyCommands(Commands& commands) {
  auto a = std::make_shared<DiffArgs>();
  auto* policy = commands.app().add_subcommand("policy", "Work with catalogs (routing policies)");
  policy->require_subcommand(1);
  auto* diff = policy->add_subcommand(
      "diff",
      "Dry run before a policy change: decide the events under both catalogs, deliver "
      "nothing, write nothing, and report the decisions that change "
      "(docs/policy-diff.md)");
  diff->add_option("--config", a->config, "The current catalog YAML")->required();
  diff->add_option("--against", a->against, "The proposed catalog YAML")->required();
  diff->add_option("--events", a->events, "Events NDJSON file, or - for stdin")->default_str("-");
  diff->add_option("--consents", a->consents,
                   "Consent records NDJSON (imported in memory only, over --state's if given)");
  diff->add_option("--agreements", a->agreements,
                   "Agreement records NDJSON (imported in memory only, over --state's if given)");
  diff->add_option("--keys", a->keys, "Token keys JSON (domain -> key_id, secret_hex)");
  diff->add_option("--state", a->state,
                   "An existing state whose registries to use (read only; its seen ids are not "
                   "used)");
  diff->add_option("--as-of", a->as_of, "Processing time, RFC 3339 (default: now)");
  diff->add_option("--examples", a->examples, "Example event ids per group")
      ->default_str("3")
      ->check(CLI::Range(size_t{0}, size_t{1000}));
  diff->add_option("--max-line-bytes", a->max_line_bytes,
                   "Longest input line accepted; longer ones are quarantined")
      ->default_str("1048576")
      ->check(CLI::Range(size_t{64}, size_t{1} << 30));
  diff->add_flag("--json", a->json, "Print the report as one JSON object");
  diff->add_flag("--fail-on-change", a->fail_on_change,
                 "Exit 1 when any decision, intake outcome or delivery changes (for CI)");
  diff->add_flag("--strict-registries", a->strict_registries,
                 "Do not run when any consent or agreement record is rejected");
  commands.On(diff, [a] { return DiffCommand(*a); });
}

}  // namespace loopgate::cli
