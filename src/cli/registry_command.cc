// loopgate consent|agreement import: load registry records (NDJSON) into the state.

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/command.h"
#include "consent/consent.h"
#include "store/store.h"

namespace loopgate::cli {

void PrintImportReport(consent::RegistryKind kind, const std::string& path,
                       const consent::ImportReport& r) {
  std::fprintf(stderr, "%s registry: %lld records read from %s, %lld new, %lld already known, "
                       "%lld rejected\n",
               std::string(consent::RegistryName(kind)).c_str(),
               static_cast<long long>(r.records), path.c_str(), static_cast<long long>(r.added),
               static_cast<long long>(r.unchanged), static_cast<long long>(r.rejected));
  for (const auto& e : r.errors) {
    std::fprintf(stderr, "  %s:%s\n", path.c_str(), e.substr(5).c_str());
  }
}

namespace {

int ImportCommand(consent::RegistryKind kind, const std::string& state, const std::string& file) {
  std::error_code ec;
  std::filesystem::create_directories(state, ec);
  auto lock = store::DirLock::Acquire(state);
  if (!lock.ok()) return Fail(lock.status());
  auto db = store::Database::Open(state);
  if (!db.ok()) return Fail(db.status());
  auto report = consent::Import(**db, kind, file);
  if (!report.ok()) return Fail(report.status());
  PrintImportReport(kind, file, *report);
  return report->rejected > 0 ? kFailure : kOk;
}

}  // namespace

void AddRegistryCommands(Commands& commands) {
  struct Args {
    std::string state, file;
  };
  auto a = std::make_shared<Args>();
  CLI::App& app = commands.app();
  auto* consent_cmd = app.add_subcommand("consent", "Manage the consent registry");
  consent_cmd->require_subcommand(1);
  auto* consent_import = consent_cmd->add_subcommand("import", "Import consent records (NDJSON)");
  consent_import->add_option("--state", a->state, "State directory")->required();
  consent_import->add_option("file", a->file, "NDJSON file, or - for stdin")->required();
  commands.On(consent_import, [a] {
    return ImportCommand(consent::RegistryKind::kConsents, a->state, a->file);
  });
  auto* agreement_cmd = app.add_subcommand("agreement", "Manage the agreement registry");
  agreement_cmd->require_subcommand(1);
  auto* agreement_import =
      agreement_cmd->add_subcommand("import", "Import agreement records (NDJSON)");
  agreement_import->add_option("--state", a->state, "State directory")->required();
  agreement_import->add_option("file", a->file, "NDJSON file, or - for stdin")->required();
  commands.On(agreement_import, [a] {
    return ImportCommand(consent::RegistryKind::kAgreements, a->state, a->file);
  });
}

}  // namespace loopgate::cli
