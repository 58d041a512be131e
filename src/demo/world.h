#pragma once
// The demo world: a synthetic but realistic year of a pharma company's commercial, support,
// safety and hospital data over the reference catalog, generated deterministically from a seed,
// with exposure effects planted at known sizes so a measurement can be checked against the truth
// (docs/demo.md).
//
// GenerateWorld writes into one directory:
//   catalog.yaml       the reference catalog (embedded in the binary at build time)
//   keys.json          token keys derived from the seed: demo-only, never for real data
//   agreements.ndjson  the hospitals' data-sharing agreements
//   consents.ndjson    consent records: grants, channel scopes, expiries, revocations
//   events.ndjson      the year's events in time order, with a few percent of messy lines and
//                      duplicates
//   hcp_master.csv     reference data a study joins: hcp_id, npi, specialty, account,
//                      territory, campaign, arm, hospital
//   patient_links.csv  patient_token (analytics token domain), program_id, hcp_id
//   studies/*.yaml     one loopgate.study/v1 file per campaign (docs/study.md)
//   manifest.json      `loopgate.demo-manifest/v1`: seed, size, counts, population, campaigns
//                      with arms and planted effects, messy lines by quarantine reason, files
//                      with SHA-256
//
// The same (size, seed) always gives the same bytes. Memory is bounded by the population, not
// by the number of events: events are streamed to the file.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loopgate::demo {

enum class Size : uint8_t {
  kSmall,   // About 50,000 events, for tests.
  kMedium,  // About 1,000,000 events: the default.
  kLarge,   // About 10,000,000 events.
};
std::string_view SizeName(Size size);
std::optional<Size> ParseSize(std::string_view name);

// The simulated period is calendar year 2026; the world is routed as of its end.
inline constexpr std::string_view kPeriodFrom = "2026-01-01T00:00:00Z";
inline constexpr std::string_view kPeriodTo = "2027-01-01T00:00:00Z";
inline constexpr std::string_view kAsOf = "2027-01-01T00:00:00Z";

// The manifest's format name.
inline constexpr std::string_view kManifestFormat = "loopgate.demo-manifest/v1";

// File names inside the world directory.
inline constexpr std::string_view kCatalogFile = "catalog.yaml";
inline constexpr std::string_view kKeysFile = "keys.json";
inline constexpr std::string_view kAgreementsFile = "agreements.ndjson";
inline constexpr std::string_view kConsentsFile = "consents.ndjson";
inline constexpr std::string_view kEventsFile = "events.ndjson";
inline constexpr std::string_view kHcpMasterFile = "hcp_master.csv";
inline constexpr std::string_view kPatientLinksFile = "patient_links.csv";
inline constexpr std::string_view kManifestFile = "manifest.json";
// One study file per campaign (docs/study.md), for `loopgate measure`; not in manifest files[].
inline constexpr std::string_view kStudiesDir = "studies";

// The reference catalog (examples/reference/catalog.yaml) as it was at build time.
std::string_view ReferenceCatalogYaml();

struct WorldOptions {
  Size size = Size::kMedium;
  uint64_t seed = 1;
  std::string dir;  // Must exist; files in it with the names above are replaced.
  // Called now and then while events are generated, with the share of the year simulated
  // (0 to 1) and the lines written so far; the last call has 1.0.
  std::function<void(double, uint64_t)> progress;
};

struct WorldFile {
  std::string name;  // Inside the world directory.
  uint64_t bytes = 0;
  uint64_t lines = 0;  // For NDJSON and CSV files.
  std::string sha256;  // Lowercase hex.
};

// The headline figures; manifest.json has the whole record.
struct WorldSummary {
  uint64_t lines = 0;       // Lines of events.ndjson.
  uint64_t valid = 0;       // Lines that pass intake and are new.
  uint64_t duplicates = 0;  // Exact resends of a valid line (the router skips them).
  uint64_t messy = 0;       // Lines the router must quarantine.
  std::map<std::string, uint64_t> messy_by_reason;  // By quarantine reason (routing.md).
  uint64_t consent_records = 0;
  uint64_t agreement_records = 0;
  uint64_t accounts = 0, hcps = 0, patients = 0, ehr_patients = 0;
  int territories = 0, campaigns = 0, hospitals = 0;
  // Event ids worth `loopgate explain`: (what it shows, id).
  std::vector<std::pair<std::string, std::string>> examples;
  // Every file written, manifest.json last (the manifest's own list names the others).
  std::vector<WorldFile> files;
};

// Generates the world into options.dir. Errors: Internal for a file that cannot be written.
absl::StatusOr<WorldSummary> GenerateWorld(const WorldOptions& options);

}  // namespace loopgate::demo
