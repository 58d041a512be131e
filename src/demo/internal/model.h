#pragma once
// The demo world's model: its fixed tables (territories, specialties, hospitals, programmes,
// campaigns), the population built from a seed, and the event simulation over it. Internal to
// src/demo: world.h is the interface. docs/demo.md describes the model in prose.
//
// Times are integer milliseconds since 1970 (UTC), so every figure the manifest states can be
// recomputed exactly from the generated lines.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "crypto/crypto.h"
#include "demo/world.h"

namespace loopgate::demo::internal {

inline constexpr int64_t kSecond = 1000;
inline constexpr int64_t kMinute = 60 * kSecond;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;
inline constexpr int kDays = 365;  // 2026 is not a leap year.
inline constexpr int64_t kEpochDay2026 = 20454;  // 2026-01-01 as days since 1970-01-01.

// ---------------------------------------------------------------------------------------------
// Fixed tables.

enum Specialty : uint8_t { kOncology, kCardiology, kNeurology, kRheumatology, kPrimaryCare };
inline constexpr int kSpecialtyCount = 5;
struct SpecialtyInfo {
  std::string_view name;          // hcp_master.csv
  std::string_view service_line;  // ehr.therapy.started service_line
  double share;                   // Of HCPs.
};
extern const SpecialtyInfo kSpecialties[kSpecialtyCount];

struct Territory {
  std::string_view id;
  std::string_view jurisdiction;  // Of its HCPs' and patients' consents.
  std::string_view zip3[3];       // ZIP prefixes of its patients; none outside the US.
  int zip3_count;
  double weight;
};
inline constexpr int kTerritoryCount = 13;
extern const Territory kTerritories[kTerritoryCount];

struct Hospital {
  std::string_view institution;
  std::string_view source;       // The EHR feed's source_system.
  std::string_view id_prefix;    // Of its event ids.
  std::string_view mrn_prefix;   // Of its record numbers.
  std::string_view facilities[3];
  bool cloudevents;              // Its integration engine sends CloudEvents 1.0.
  std::string_view agreement;    // "individual", "aggregate_only" or "none".
  double share;                  // Of accounts affiliated with it.
};
inline constexpr int kHospitalCount = 3;
extern const Hospital kHospitals[kHospitalCount];

enum Program : uint8_t { kPspMain, kPspOnc, kPspPeds };
inline constexpr int kProgramCount = 3;
struct ProgramInfo {
  std::string_view id;
  std::string_view therapy;
  Specialty specialty;  // Of the patients' treating HCPs.
  double share;
};
extern const ProgramInfo kPrograms[kProgramCount];

enum class OutcomeKind : uint8_t {
  kTherapyStart,  // ehr.therapy.started of the campaign's therapy, prescriber_npi = the HCP.
  kRefill,        // patient.support.milestone refill of patients the HCP treats.
};
enum class Arm : uint8_t { kNone, kTreatment, kHoldout };

struct CampaignDef {
  std::string_view id;
  std::string_view name;
  Specialty specialty;  // Every HCP of it is randomized into an arm.
  int start_day, end_day;  // Day of 2026 (0 = Jan 1), end inclusive.
  OutcomeKind outcome;
  std::string_view therapy_code;  // kTherapyStart: the outcome's therapy_code.
  int eligible_per_hcp;           // kTherapyStart: patients each HCP decides on.
  double baseline;  // P(outcome) per opportunity without exposure.
  double lift;      // Absolute lift of that probability once the HCP is exposed.
  std::string_view assets[3];
  int asset_count;
  int email_pct, web_pct;  // Of touches; the rest are rep visits (web_portal, channel rep).
  double touches_mean;     // Per exposed HCP.
  std::string_view account_module;  // Optional: a learning module the HCP's account completes.
};
inline constexpr int kCampaignCount = 4;
extern const CampaignDef kCampaigns[kCampaignCount];
inline constexpr double kTreatmentShare = 0.8;  // The rest of a campaign's HCPs: holdout.
inline constexpr double kExposureRate = 0.85;   // Of treatment-arm HCPs that ever engage.
// Therapy-start decisions fall in [start + this, end + kDecisionTail]; every first exposure
// falls in [start, start + this), so every decision of an exposed HCP follows the exposure.
inline constexpr int kFirstExposureDays = 21;
inline constexpr int kDecisionTailDays = 60;

// Refills: opportunity k of a patient falls at first_fill + k * 30 days, while it is before
// the period's end minus kRefillSlack and the patient has not discontinued; a refill happens
// within [t_k, t_k + 3 days).
inline constexpr int64_t kRefillEvery = 30 * kDay;
inline constexpr int64_t kRefillSlack = 4 * kDay;
inline constexpr double kRefillBaseline = 0.70;
inline constexpr double kDiscontinueAfterMiss = 0.35;

// Size-dependent counts.
struct Scale {
  uint32_t accounts, hcps, patients;
  uint32_t mrns[kHospitalCount];
  // Expected events per year of the background streams.
  double organic, education, ehr, safety;
};
Scale ScaleFor(Size size);
inline constexpr double kMessyPerValid = 0.03;
inline constexpr double kDuplicatePerValid = 0.01;

// ---------------------------------------------------------------------------------------------
// Population.

struct Account {
  uint16_t territory;
  uint8_t hospital;
};

struct Hcp {
  uint32_t account;
  uint8_t specialty;
  int8_t campaign = -1;  // Index into kCampaigns, or -1.
  Arm arm = Arm::kNone;
  bool exposed = false;  // Treatment arm and engages with the campaign's content.
  int64_t first_exposure = INT64_MAX;  // Time of the first campaign touch.
  uint64_t npi;
};

struct Patient {
  uint32_t hcp;  // Treating HCP.
  uint8_t program;
  uint8_t territory;
  int64_t enrolled;
  // Journey state (the simulation's).
  uint8_t stage = 0;
  uint8_t counted = 0;  // Bits: which refill truth groups already count this patient.
  uint16_t next_k = 0;
  int64_t first_fill = 0;
};

// Outcome counts realized in the generated events, per group of a campaign.
struct Realized {
  uint64_t units = 0;          // HCPs (therapy starts) or patients (refills) in the group.
  uint64_t opportunities = 0;  // Eligible patients, or refill opportunities.
  uint64_t events = 0;         // Outcome events generated.
};

struct CampaignTruth {
  uint64_t hcps[3] = {};  // By Arm.
  uint64_t exposed = 0;
  uint64_t touches = 0;
  uint64_t account_modules = 0;
  // Therapy starts: by holdout / treatment exposed / treatment not exposed.
  // Refills: holdout / treatment (every opportunity) / opportunities at or after the HCP's first
  // exposure / the campaign's other opportunities.
  Realized groups[4];
};

// One campaign touch, a campaign outcome start, or an account module: precomputed, time-sorted.
struct Scheduled {
  enum Kind : uint8_t { kTouch, kStart, kModule };
  int64_t time;
  Kind kind;
  uint32_t index;  // HCP (touch, start) or account (module).
  bool operator<(const Scheduled& o) const {
    if (time != o.time) return time < o.time;
    if (kind != o.kind) return kind < o.kind;
    return index < o.index;
  }
};

struct Population {
  uint64_t seed = 0;
  Scale scale{};
  std::vector<Account> accounts;
  std::vector<Hcp> hcps;
  std::vector<Patient> patients;
  std::vector<uint32_t> hcps_by_hospital[kHospitalCount];
  std::vector<uint32_t> hcps_by_specialty[kSpecialtyCount];
  std::vector<double> hcp_activity_cdf;     // For picking an HCP for organic engagement.
  std::vector<double> account_activity_cdf;  // For picking an account for education.
  std::vector<Scheduled> scheduled;
  CampaignTruth campaigns[kCampaignCount];
  uint64_t consent_records = 0;
  // Patients whose support and analytics consents are granted, unrevoked and unexpired: the
  // demo's suggested `explain` example is one of their events.
  std::vector<bool> fully_consented;
  // Per hospital: record numbers whose aggregate_analytics consent is clean all year (granted
  // before 2026, recorded, never revoked, not expiring before the run's as-of time, with a US
  // jurisdiction). Campaign therapy starts at St Luke's are drawn from them, so every one reaches
  // analytics_lake and the measured-scale truth of docs/demo.md section 4 holds.
  std::vector<uint32_t> clean_mrns[kHospitalCount];
};

// Ids as they appear in events and registries.
void AppendHcpId(uint32_t hcp, std::string* out);
void AppendPatientId(uint32_t patient, std::string* out);
void AppendAccountId(uint32_t account, std::string* out);
void AppendMrn(int hospital, uint32_t index, std::string* out);

// Start of day `day` of 2026 in ms since 1970.
inline int64_t DayStart(int day) { return (kEpochDay2026 + day) * kDay; }
int64_t PeriodStart();
int64_t PeriodEnd();

// A buffered file that keeps its SHA-256 and byte and line counts as it is written.
class OutputFile {
 public:
  OutputFile() = default;
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  absl::Status Open(const std::string& path);
  // Appends `text`; write errors surface at Close().
  void Write(std::string_view text);
  absl::Status Close();

  uint64_t bytes() const { return bytes_; }
  uint64_t lines() const { return lines_; }
  std::string sha256_hex() const { return sha256_hex_; }

 private:
  void Drain();
  int fd_ = -1;
  std::string path_;
  std::string buffer_;
  crypto::Sha256Hasher hasher_;
  uint64_t bytes_ = 0, lines_ = 0;
  bool failed_ = false;
  std::string sha256_hex_;
};

// Builds the population and writes its consent records to `consents`.
absl::Status BuildPopulation(Size size, uint64_t seed, OutputFile& consents, Population* pop);

// What the simulation counted.
struct StreamStats {
  uint64_t lines = 0, valid = 0, duplicates = 0;
  uint64_t messy[9] = {};  // By event::QuarantineReason.
  std::map<std::string, uint64_t> by_type;  // Valid lines by event type.
  uint64_t flat_with_id = 0, flat_derived_id = 0, cloudevents = 0;  // Valid lines by envelope.
  std::vector<std::pair<std::string, std::string>> examples;  // (what it shows, event id)
};

// Simulates the year and writes every event line to `events`, in time order (duplicates and
// messy lines close to the events they follow). Updates the campaigns' realized refill counts.
StreamStats Simulate(Population& pop, OutputFile& events,
                     const std::function<void(double, uint64_t)>& progress);

}  // namespace loopgate::demo::internal
