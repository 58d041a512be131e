#pragma once
// The catalog: purposes, data classes, event types, sinks and deny rules, as privacy engineers
// write them in YAML (docs/catalog.md). Load() validates everything it can before a single
// event flows; the resulting Catalog is immutable and safe to share between threads.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/time.h"

namespace loopgate::catalog {

// Sensitivity levels, ordered: a field may reach a sink only at or below the sink's level.
enum class Level : uint8_t {
  kNonPhi = 0,        // Not health information about a person.
  kPseudonymous = 1,  // About a person but not directly identifying (tokens, years, ZIP3).
  kPhi = 2,           // Protected health information.
};
std::string_view LevelName(Level level);
std::optional<Level> ParseLevel(std::string_view name);

// Declared value types of event fields (formats.md, "Field values").
enum class FieldType : uint8_t {
  kString,    // Any JSON string.
  kInteger,   // A JSON number without fraction or exponent that fits in int64.
  kNumber,    // Any JSON number.
  kBoolean,   // true or false.
  kDate,      // "YYYY-MM-DD" naming a real calendar date.
  kDatetime,  // RFC 3339.
  kEnum,      // One of the listed strings.
};
std::string_view FieldTypeName(FieldType type);

// What a sink does with a field of a class (routing.md section 4).
enum class Action : uint8_t {
  kKeep,        // The value as is.
  kDrop,        // Removed.
  kTokenize,    // tok_ + 32 hex of HMAC-SHA256 under the sink's token domain; now pseudonymous.
  kGeneralize,  // Date/date-time to year, US ZIP to ZIP3 (Safe Harbor); now pseudonymous.
  kMask,        // All but the last four characters replaced by '*'; level unchanged.
};
std::string_view ActionName(Action action);

enum class Granularity : uint8_t {
  kIndividual,  // Receives person- or account-level records.
  kAggregate,   // Feeds aggregates only; may receive data under aggregate-only agreements.
};

// Where something is written in the catalog file, 1-based; 0 when unknown (a catalog built in
// code). For reports such as `loopgate lint`; routing never looks at it, nor does the policy
// version.
struct SourcePos {
  uint32_t line = 0;
  uint32_t column = 0;
};

struct Purpose {
  std::string id;
  SourcePos pos;  // Its key under purposes.
  bool promotional = false;
  std::string description;
};

struct DataClass {
  std::string id;
  SourcePos pos;  // Its key under classes.
  Level level = Level::kPhi;
  std::string description;
};

struct Field {
  std::string name;
  SourcePos pos;  // Its key under the event type's fields.
  FieldType type = FieldType::kString;
  std::vector<std::string> enum_values;  // Only for kEnum.
  uint32_t class_index = 0;              // Into Catalog::classes.
  bool required = false;
};

// A typed value a rule compares a field with, converted by the field's declared type.
struct RuleValue {
  std::string text;        // For string, enum and date fields.
  double number = 0;       // For kInteger and kNumber.
  bool boolean = false;    // For kBoolean.
  common::Instant instant; // For kDatetime: compared as an instant.
};

// A deny rule specialised to one (event type, sink) pair: the conditions on event type, sink
// and subject type were settled when the catalog was compiled.
struct CompiledRule {
  uint32_t rule_index = 0;                  // Into Catalog::rules.
  std::vector<std::string> sources;         // Empty: any source.
  struct FieldCondition {
    uint32_t field_index = 0;               // Into EventType::fields.
    std::vector<RuleValue> values;          // Holds when the field equals any of these.
  };
  std::vector<FieldCondition> fields;
};

struct EventType {
  std::string id;
  SourcePos pos;  // Its key under event_types.
  std::vector<std::string> sources;
  std::string subject_type;
  uint32_t subject_field = 0;               // Into fields.
  std::vector<uint32_t> purposes;           // Into Catalog::purposes.
  bool requires_agreement = false;
  std::optional<int64_t> retention_days;
  std::vector<Field> fields;
  std::string description;

  // Derived when compiled: the candidate sinks in catalog order, and for each the deny rules
  // that may apply to it (same index).
  std::vector<uint32_t> candidate_sinks;
  std::vector<std::vector<CompiledRule>> candidate_rules;

  // Index of the field called `name`, or -1.
  int FindField(std::string_view name) const;
};

// A sink's output plugin and its options, validated against the plugin's option table.
struct SinkOutput {
  std::string type = "file";
  std::vector<std::pair<std::string, std::string>> options;
};

struct Sink {
  std::string id;
  SourcePos pos;               // Its key under sinks.
  SourcePos token_domain_pos;  // The token_domain value, if any.
  uint32_t purpose = 0;  // Into Catalog::purposes.
  Granularity granularity = Granularity::kIndividual;
  Level max_level = Level::kNonPhi;
  std::vector<std::string> consent_required_for;  // Subject types.
  std::optional<std::string> channel;
  std::vector<std::string> jurisdictions;         // Glob patterns such as "US-*".
  std::optional<std::string> token_domain;
  std::vector<std::optional<Action>> actions;     // Indexed by class; nullopt: by level.
  SinkOutput output;
  std::string description;

  bool RequiresConsentFor(std::string_view subject_type) const;
};

struct Rule {
  std::string id;
  SourcePos pos;  // The rule's mapping in the rules list.
  std::vector<std::string> event_types;    // Globs; empty: any.
  std::vector<std::string> sinks;          // Empty: any.
  std::vector<std::string> sources;        // Empty: any.
  std::vector<std::string> subject_types;  // Empty: any.
  // Field conditions as written (field name, values as scalars).
  std::vector<std::pair<std::string, std::vector<std::string>>> fields;
  std::string description;
};

struct Catalog {
  std::string path;
  std::string name;
  std::vector<Purpose> purposes;
  std::vector<DataClass> classes;
  std::vector<EventType> event_types;
  std::vector<Sink> sinks;
  std::vector<Rule> rules;
  // "sha256:" + hex SHA-256 of the catalog's normalized JSON (docs/catalog.md): comments and
  // formatting do not change it, any change of meaning does.
  std::string policy_version;
  // Findings that do not stop the load, as `file:line:column: message`: references no event
  // type has (a sink's consent_required_for, a rule's sources, subject types, type patterns or
  // fields). `loopgate run` prints them; `lint` treats them as errors.
  std::vector<std::string> warnings;

  const EventType* FindEventType(std::string_view id) const;
  int FindSink(std::string_view id) const;
  int FindClass(std::string_view id) const;
  int FindPurpose(std::string_view id) const;

  // The catalog as normalized JSON (the input to policy_version).
  std::string ToJson() const;
};

// Validates the options of a sink output plugin; supplied by the sink registry so that the
// catalog does not depend on plugins. Returns an error message, or empty when valid.
using OutputValidator = std::string (*)(const SinkOutput& output);

// Loads and compiles a catalog. Errors: InvalidArgument whose message lists every problem
// found as `file:line:column: message`, one per line.
absl::StatusOr<std::unique_ptr<Catalog>> LoadFile(const std::string& path,
                                                  OutputValidator validate_output = nullptr);
absl::StatusOr<std::unique_ptr<Catalog>> LoadString(std::string_view yaml, const std::string& path,
                                                    OutputValidator validate_output = nullptr);

}  // namespace loopgate::catalog
