#pragma once
// Studies as code: a study file (`loopgate.study/v1`, YAML) declares one approved measurement
// question: the population and its holdout, the exposure, the outcome, the window, the unit,
// the dimensions, the privacy rules and the attribution. docs/study.md describes every key with
// a full example; `loopgate measure` (measure.h) runs a study over an analytics sink's output.
//
// Loading is strict: an unknown key, a missing one, a wrong type or an impossible combination is
// an error `FILE:LINE:COL: message` (InvalidArgument), and nothing is measured.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace loopgate::study {

inline constexpr std::string_view kStudyFormat = "loopgate.study/v1";

enum class Design : uint8_t { kRandomizedHoldout, kPrePost };
enum class Unit : uint8_t { kHcp, kAccount, kPatientToken, kCohort };
// How the exposed arm of a randomized design is formed.
enum class Compare : uint8_t {
  // Units of the treatment arm that were exposed (an exposure event arrived) against the whole
  // holdout. Assignment is random, so in the absence of self-selection into exposure this
  // estimates the effect of exposure; treatment units never exposed are left out.
  kExposedVsHoldout,
  // Every unit assigned to treatment against the holdout, exposed or not (intention to treat).
  kIntentionToTreat,
};

std::string_view DesignName(Design d);    // "randomized_holdout", "pre_post"
std::string_view UnitName(Unit u);        // "hcp", "account", "patient_token", "cohort"
std::string_view CompareName(Compare c);  // "exposed_vs_holdout", "intention_to_treat"

// `field in [values]` on an event's payload field (string values; numbers and booleans compare
// by their JSON text).
struct Filter {
  std::string field;
  std::vector<std::string> values;
};

// A reference file (CSV with a header line). The population table holds one row per population
// member (e.g. an HCP); a link table maps another key (e.g. a patient token) to the population
// table's key through its `population_key` column.
struct Reference {
  std::string name;            // As named in the study.
  std::string file;            // Resolved against the study file's directory.
  std::string key;             // The column that identifies a row (unique).
  std::string population_key;  // Link tables only: the column holding the population key.
};

// How an event reaches a reference row: its payload `field`, looked up in `table`'s `column`.
struct Link {
  std::string field;
  std::string table;
  std::string column;
};

struct EventSpec {
  std::string event_type;
  std::vector<Filter> where;
  Link link;
};

struct Assignment {
  enum class Kind : uint8_t { kColumn, kHash } kind = Kind::kColumn;
  // kColumn: the population table's column and the values naming each arm.
  std::string column;
  std::string exposed_value;
  std::string holdout_value;
  // kHash: holdout when SHA-256(salt ":" unit key)'s first 8 bytes, as a big-endian integer over
  // 2^64, fall below `holdout_share`.
  std::string salt;
  double holdout_share = 0;
};

struct Privacy {
  int64_t k = 11;
  bool suppress_zero = false;
  bool differential_privacy = false;
  double epsilon = 0;  // Spent per measurement run.
  double budget = 0;   // The study's total.
};

struct AttributionSpec {
  bool enabled = false;
  EventSpec touchpoint;       // Linked to the population table, as the exposure.
  std::string channel_field;  // Payload field naming the channel (e.g. channel, asset_id).
  double half_life_days = 7;
  int max_markov_order = 3;
};

struct Study {
  std::string path;         // As given.
  std::string file_sha256;  // Of the file's bytes, lowercase hex.
  std::string id, title, question;
  Design design = Design::kRandomizedHoldout;
  Unit unit = Unit::kHcp;
  std::string unit_column;  // kAccount (default "account") and kCohort: population column.
  std::string sink = "analytics_lake";

  // [from, to): the study window. Times are seconds since 1970.
  int64_t window_from = 0, window_to = 0;
  std::string window_from_text, window_to_text;
  // Pre/post only: the comparison period [pre_from, pre_to).
  int64_t pre_from = 0, pre_to = 0;

  std::vector<Reference> references;
  std::string population_table;
  std::vector<Filter> population_where;  // On population columns.
  Assignment assignment;                 // Randomized designs.
  Compare compare = Compare::kExposedVsHoldout;

  EventSpec exposure;  // Linked to the population table (directly or through a link table).
  bool has_index = false;
  EventSpec index;  // The unit's entry event (its first in the window), e.g. a first fill.
  EventSpec outcome;
  // With an index event: the outcome counts within this many seconds after it (0: until the
  // window's end).
  int64_t outcome_within = 0;

  std::vector<std::string> dimensions;  // Population columns, or "month" (of the index event).
  Privacy privacy;
  AttributionSpec attribution;

  // Sentences for people: "hcp.content.engaged with asset_id in [a, b]".
  std::string ExposureText() const;
  std::string OutcomeText() const;
  const Reference* FindReference(std::string_view name) const;
};

// Loads and checks a study file. Errors: InvalidArgument "FILE:LINE:COL: message" (every
// problem found, one per line); NotFound when the file does not exist.
absl::StatusOr<Study> LoadStudyFile(const std::string& path);
// The same for text in memory; `path` names it in messages and resolves reference files.
absl::StatusOr<Study> ParseStudy(std::string_view yaml, const std::string& path);

}  // namespace loopgate::study
