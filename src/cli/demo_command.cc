// loopgate demo: generate a synthetic year over the reference catalog, route it as `loopgate run`
// does, and show what came out and where (docs/demo.md).

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "catalog/catalog.h"
#include "cli/command.h"
#include "crypto/ed25519.h"
#include "ledger/ledger.h"
#include "report/governance.h"
#include "common/strings.h"
#include "common/time.h"
#include "consent/consent.h"
#include "demo/world.h"
#include "router/router.h"
#include "sink/sink.h"
#include "store/store.h"
#include "transform/transform.h"

namespace loopgate::cli {
namespace {

namespace fs = std::filesystem;

// The file that marks a directory as the demo's own: a directory holding it may be regenerated.
constexpr std::string_view kMarker = ".loopgate-demo";

struct DemoArgs {
  std::string size = "medium";
  uint64_t seed = 1;
  std::string dir = "./loopgate-demo";
  bool force = false;
};

std::string Thousands(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / 1048576.0);
  return buf;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// CPU time of the whole process (all threads) so far.
double CpuSeconds() {
  struct timespec ts;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A one-line progress bar on stderr, drawn only when stderr is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), on_(::isatty(STDERR_FILENO)) {}

  void Update(double fraction, const std::string& detail, bool final = false) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    if (fraction < 0) fraction = 0;
    if (fraction > 1) fraction = 1;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '-');
    std::fprintf(stderr, "\r  %-9s [%s] %3.0f%%  %s   ", label_.c_str(), bar.c_str(),
                 100.0 * fraction, detail.c_str());
    if (final) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  std::string label_;
  bool on_;
  std::chrono::steady_clock::time_point last_;
};

// How to run this binary again, for the hints: relative to the working directory when it is
// below it, else absolute.
std::string SelfCommand() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "loopgate";
  const fs::path rel = exe.lexically_relative(fs::current_path(ec));
  if (!ec && !rel.empty() && *rel.begin() != "..") return rel.string();
  return exe.string();
}

// Refuses a --dir that is not a directory, or is non-empty and not a previous demo (unless
// --force). Touches nothing.
int CheckDir(const DemoArgs& a) {
  std::error_code ec;
  const fs::path dir(a.dir);
  if (!fs::exists(dir, ec)) return kOk;
  if (!fs::is_directory(dir, ec)) {
    return FailConfig(absl::InvalidArgumentError(
        common::StrCat("--dir ", a.dir, " exists and is not a directory")));
  }
  const bool empty = fs::directory_iterator(dir, ec) == fs::directory_iterator();
  if (!empty && !fs::exists(dir / kMarker, ec) && !a.force) {
    return FailConfig(absl::FailedPreconditionError(common::StrCat(
        a.dir, " is not empty and is not a previous demo directory (it has no ", kMarker,
        "); choose another --dir, or pass --force to write world/, state/ and out/ into it, "
        "replacing any directories of those names")));
  }
  return kOk;
}

// Clears what a previous demo left (world/, state/, out/) and marks DIR as the demo's. The
// caller holds DIR's lock.
int ClearDir(const DemoArgs& a) {
  std::error_code ec;
  const fs::path dir(a.dir);
  for (const char* sub : {"world", "state", "out"}) {
    fs::remove_all(dir / sub, ec);
    if (ec) {
      return Fail(absl::InternalError(
          common::StrCat("cannot clear ", (dir / sub).string(), ": ", ec.message())));
    }
  }
  std::ofstream marker(dir / kMarker);
  marker << "Written by `loopgate demo`. Running it again with this --dir replaces world/, state/ "
            "and out/.\n";
  fs::create_directories(dir / "world", ec);
  if (!marker || ec) {
    return Fail(absl::InternalError(common::StrCat("cannot write into ", a.dir)));
  }
  return kOk;
}

// The governance figures of the routed world: the same report `loopgate report governance`
// prints, including the audit completeness check of every delivered line against the ledger.
int PrintGovernance(store::Database& db) {
  const auto started = std::chrono::steady_clock::now();
  auto report = report::Governance(db, report::GovernanceOptions{});
  if (!report.ok()) return Fail(report.status());
  std::printf("\nGovernance (loopgate report governance --state DIR/state)\n%s",
              report->ToText().c_str());
  std::printf("report in %.1f s\n", Seconds(started));
  return report->ok() ? kOk : kFailure;
}

// Signs a checkpoint of the demo's ledger with a demo-only key in DIR/keys (made on first use),
// so `loopgate ledger prove` works on the demo too.
int SignDemoCheckpoint(store::Database& db, const std::string& keys_dir,
                       const std::string& policy_version) {
  const std::string key_path = keys_dir + "/ledger-signing.key";
  std::unique_ptr<crypto::Ed25519PrivateKey> key;
  std::error_code ec;
  if (fs::exists(key_path, ec)) {
    auto loaded = crypto::Ed25519PrivateKey::LoadPemFile(key_path);
    if (!loaded.ok()) return Fail(loaded.status());
    key = std::move(*loaded);
  } else {
    fs::create_directories(keys_dir, ec);
    auto made = crypto::Ed25519PrivateKey::Generate();
    if (!made.ok()) return Fail(made.status());
    key = std::move(*made);
    if (auto st = key->WriteNewPemFile(key_path); !st.ok()) return Fail(st);
    std::ofstream(keys_dir + "/ledger-signing.pub") << key->public_key().ToPem();
  }
  auto cp = ledger::SignCheckpoint(db, *key, common::Now(), policy_version);
  if (!cp.ok()) return Fail(cp.status());
  return kOk;
}

int DemoCommand(const DemoArgs& a) {
  const auto size = demo::ParseSize(a.size);
  if (!size) {
    return FailConfig(absl::InvalidArgumentError("--size must be small, medium or large"));
  }
  if (int rc = CheckDir(a); rc != kOk) return rc;
  std::error_code ec;
  fs::create_directories(a.dir, ec);
  if (ec) {
    return Fail(absl::InternalError(common::StrCat("cannot create ", a.dir, ": ", ec.message())));
  }
  // Held for the whole demo, so two demos never write (or clear) the same directory.
  auto dir_lock = store::DirLock::Acquire(a.dir);
  if (!dir_lock.ok()) return Fail(dir_lock.status());
  if (int rc = ClearDir(a); rc != kOk) return rc;

  const std::string world_dir = (fs::path(a.dir) / "world").string();
  const std::string state_dir = (fs::path(a.dir) / "state").string();
  const std::string out_dir = (fs::path(a.dir) / "out").string();
  auto world_file = [&](std::string_view name) { return common::StrCat(world_dir, "/", name); };

  std::printf("Loopgate demo: seed %llu, size %s. Synthetic data; the token keys are demo-only.\n",
              static_cast<unsigned long long>(a.seed), a.size.c_str());
  std::fflush(stdout);

  // 1. The world.
  demo::WorldOptions options;
  options.size = *size;
  options.seed = a.seed;
  options.dir = world_dir;
  ProgressBar gen_bar("generate");
  options.progress = [&gen_bar](double fraction, uint64_t lines) {
    gen_bar.Update(fraction, Thousands(lines) + " lines", fraction >= 1.0);
  };
  const auto gen_started = std::chrono::steady_clock::now();
  const double gen_cpu_started = CpuSeconds();
  auto world = demo::GenerateWorld(options);
  if (!world.ok()) return Fail(world.status());
  const double gen_seconds = Seconds(gen_started);
  const double gen_cpu = CpuSeconds() - gen_cpu_started;

  std::printf("\nWorld: %s HCPs at %s accounts in %d territories; %s patients in support "
              "programmes;\n       %s hospital patients at %d hospitals; %d campaigns with "
              "holdout arms\n",
              Thousands(world->hcps).c_str(), Thousands(world->accounts).c_str(),
              world->territories, Thousands(world->patients).c_str(),
              Thousands(world->ehr_patients).c_str(), world->hospitals, world->campaigns);
  std::printf("       %s event lines over %s..%s (%s messy, %s duplicates), %s consent records\n",
              Thousands(world->lines).c_str(), std::string(demo::kPeriodFrom.substr(0, 10)).c_str(),
              "2026-12-31", Thousands(world->messy).c_str(), Thousands(world->duplicates).c_str(),
              Thousands(world->consent_records).c_str());
  std::printf("       generated in %.1f s (%.1f s CPU)\n\n", gen_seconds, gen_cpu);
  std::fflush(stdout);

  // 2. The run: what `loopgate run` does with these files, as of the end of the year.
  const auto route_started = std::chrono::steady_clock::now();
  const double route_cpu_started = CpuSeconds();
  auto catalog = catalog::LoadFile(world_file(demo::kCatalogFile), &sink::ValidateOutput);
  if (!catalog.ok()) return Fail(catalog.status());
  for (const auto& w : (*catalog)->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  auto keys = transform::KeyStore::LoadFile(world_file(demo::kKeysFile));
  if (!keys.ok()) return Fail(keys.status());
  fs::create_directories(state_dir, ec);
  auto lock = store::DirLock::Acquire(state_dir);
  if (!lock.ok()) return Fail(lock.status());
  auto db = store::Database::Open(state_dir);
  if (!db.ok()) return Fail(db.status());
  for (auto [kind, name] : {std::pair{consent::RegistryKind::kConsents, demo::kConsentsFile},
                            std::pair{consent::RegistryKind::kAgreements, demo::kAgreementsFile}}) {
    const std::string path = world_file(name);
    auto report = consent::Import(**db, kind, path);
    if (!report.ok()) return Fail(report.status());
    if (report->rejected > 0) {
      // The generator's own records must all load: a rejection is a bug, so stop.
      PrintImportReport(kind, path, *report);
      return Fail(absl::InternalError(common::StrCat(path, ": the demo's registry records were "
                                                           "rejected; please report this")));
    }
  }
  router::Options run;
  run.events_path = world_file(demo::kEventsFile);
  run.out_dir = out_dir;
  run.as_of_text = std::string(demo::kAsOf);
  run.as_of = *common::ParseRfc3339(run.as_of_text);
  ProgressBar route_bar("route");
  uint64_t total_bytes = 0;
  for (const auto& f : world->files) {
    if (f.name == demo::kEventsFile) total_bytes = f.bytes;
  }
  run.progress = [&route_bar, total_bytes](uint64_t lines, uint64_t bytes, bool done) {
    route_bar.Update(total_bytes > 0 ? static_cast<double>(bytes) / static_cast<double>(total_bytes)
                                     : 0.0,
                     Thousands(lines) + " lines", done);
  };
  auto summary = router::Run(**catalog, *keys, **db, run);
  if (!summary.ok()) return Fail(summary.status());
  const double route_seconds = Seconds(route_started);
  const double route_cpu = CpuSeconds() - route_cpu_started;

  std::printf("%s", summary->ToText().c_str());
  std::printf("routed in %.1f s, %.1f s CPU (%s events/s; the registries' import included)\n",
              route_seconds, route_cpu,
              Thousands(static_cast<uint64_t>(static_cast<double>(summary->events_read) /
                                              (route_seconds > 0 ? route_seconds : 1)))
                  .c_str());

  const std::string keys_dir = (fs::path(a.dir) / "keys").string();
  if (int rc = SignDemoCheckpoint(**db, keys_dir, (*catalog)->policy_version); rc != kOk) {
    return rc;
  }
  std::printf("checkpoint signed with the demo-only key in %s/ (public key: "
              "ledger-signing.pub)\n", keys_dir.c_str());
  if (int rc = PrintGovernance(**db); rc != kOk) return rc;

  // 3. Where everything is.
  std::printf("\nWhere everything is:\n");
  for (const auto& f : world->files) {
    std::string what;
    if (f.name == demo::kEventsFile) {
      what = common::StrCat(Thousands(f.lines), " event lines");
    } else if (f.name == demo::kConsentsFile) {
      what = common::StrCat(Thousands(f.lines), " consent records");
    } else if (f.name == demo::kAgreementsFile) {
      what = "the hospitals' data-sharing agreements";
    } else if (f.name == demo::kKeysFile) {
      what = "token keys derived from the seed (demo only)";
    } else if (f.name == demo::kCatalogFile) {
      what = "the reference catalog the run used";
    } else if (f.name == demo::kHcpMasterFile) {
      what = "HCP reference data: npi, specialty, account, territory, campaign, arm";
    } else if (f.name == demo::kPatientLinksFile) {
      what = "patient tokens (analytics domain) to treating HCP";
    } else if (f.name == demo::kManifestFile) {
      what = "seed, counts, campaigns with planted effects, file hashes";
    }
    std::printf("  %-46s %s (%s)\n", world_file(f.name).c_str(), what.c_str(),
                Mib(f.bytes).c_str());
  }
  std::printf("  %-46s ledger and seen ids (files), registries (SQLite)\n",
              (state_dir + "/").c_str());
  for (size_t i = 0; i < (*catalog)->sinks.size(); ++i) {
    const auto& sink = (*catalog)->sinks[i];
    auto out = sink::CreateOutput(sink.output, {out_dir, sink.id});
    if (!out.ok()) continue;
    const int64_t delivered = i < summary->deliveries.size() ? summary->deliveries[i].second : 0;
    // Shown under --dir as given when the sink writes there (the reference catalog's sinks
    // do), else as the absolute path the sink's `path` option names.
    const fs::path key((*out)->key());
    const std::string shown =
        key.parent_path() == fs::absolute(out_dir).lexically_normal()
            ? common::StrCat(out_dir, "/", key.filename().string())
            : key.string();
    std::printf("  %-46s %s records for sink %s\n", shown.c_str(),
                Thousands(static_cast<uint64_t>(delivered)).c_str(), sink.id.c_str());
  }
  std::printf("  %-46s %s refused lines, each with its reason\n",
              (out_dir + "/quarantine.ndjson").c_str(),
              Thousands(static_cast<uint64_t>(summary->quarantined)).c_str());

  const std::string self = SelfCommand();
  std::printf("\nExplore:\n");
  for (const auto& [what, id] : world->examples) {
    std::printf("  %s explain --state %s %s\n      # %s\n", self.c_str(), state_dir.c_str(),
                id.c_str(), what.c_str());
  }
  std::printf("  %s ledger verify --state %s --public-key %s/ledger-signing.pub\n", self.c_str(),
              state_dir.c_str(), keys_dir.c_str());
  std::printf("  %s ledger export --state %s | head -3\n", self.c_str(), state_dir.c_str());
  std::printf("  %s measure --study %s/studies/cmp-onc-launch.yaml --state %s\n"
              "      # did the launch raise starts? lift from analytics_lake alone (docs/study.md)\n",
              self.c_str(), world_dir.c_str(), state_dir.c_str());
  if (!world->examples.empty()) {
    const std::string& id = world->examples.front().second;
    std::printf("  %s ledger prove --state %s %s --out %s/proof.json\n", self.c_str(),
                state_dir.c_str(), id.c_str(), a.dir.c_str());
    std::printf("  %s ledger check-proof %s/proof.json --public-key %s/ledger-signing.pub\n"
                "      # what a hospital partner runs, with the public key alone\n",
                self.c_str(), a.dir.c_str(), keys_dir.c_str());
  }
  std::printf("  head -3 %s/analytics_lake.ndjson\n", out_dir.c_str());
  std::printf("  less %s   # the planted effects a measurement should recover\n",
              world_file(demo::kManifestFile).c_str());
  return kOk;
}

}  // namespace

void AddDemoCommand(Commands& commands) {
  auto a = std::make_shared<DemoArgs>();
  auto* cmd = commands.app().add_subcommand(
      "demo",
      "Generate a synthetic year over the reference catalog, route it, show what went where");
  cmd->add_option("--size", a->size,
                  "small (about 50k events), medium (about 1M) or large (about 10M)")
      ->check(CLI::IsMember({"small", "medium", "large"}))
      ->default_str("medium");
  cmd->add_option("--seed", a->seed, "Seed: the same seed and size give the same bytes")
      ->default_str("1");
  cmd->add_option("--dir", a->dir,
                  "Directory for world/, state/ and out/; refused when it is non-empty and not a "
                  "previous demo, unless --force")
      ->default_str("./loopgate-demo");
  cmd->add_flag("--force", a->force,
                "Write into a non-empty directory that is not a previous demo (replaces its "
                "world/, state/ and out/)");
  commands.On(cmd, [a] { return DemoCommand(*a); });
}

}  // namespace loopgate::cli
