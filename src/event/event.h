#pragma once
// Intake: one input line becomes a validated Event or a quarantine reason (routing.md
// section 1, formats.md "Events"). The identity check (duplicates, id conflicts) needs the state
// store and is done by the router after Intake::Process succeeds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/time.h"
#include "crypto/crypto.h"
#include "json/json.h"
#include "simdjson.h"

namespace loopgate::event {

// Quarantine reasons, in the order intake checks them (routing.md section 1).
enum class QuarantineReason : uint8_t {
  kMalformedJson,        // Not exactly one strict JSON object (or over the size cap).
  kInvalidEnvelope,      // Neither envelope can be read from it.
  kUnknownEventType,     // The type is not in the catalog.
  kUnexpectedSource,     // The type does not accept this source.
  kMissingField,         // A required field is absent or null.
  kInvalidField,         // A present field has the wrong type or enum value.
  kUnknownField,         // A field the catalog does not declare (fail closed).
  kSensitivityMismatch,  // The producer declared a lower sensitivity than the fields carry.
  kIdConflict,           // The id was accepted before with other content.
};
std::string_view QuarantineReasonName(QuarantineReason reason);

enum class EnvelopeKind : uint8_t {
  kFlat,         // The producers' own shape: event_type, source_system, timestamp, payload.
  kCloudEvents,  // CloudEvents 1.0 structured JSON mode.
};

// A field of the event as the catalog sees it: payload members plus flat-envelope attributes,
// only those present with a non-null value.
struct FieldValue {
  std::string_view name;
  simdjson::dom::element value;
  uint32_t field_index = 0;  // Into EventType::fields.
};

// A validated event. Views point into the parser's DOM and stay valid until the next line.
struct Event {
  EnvelopeKind kind = EnvelopeKind::kFlat;
  std::string id;
  bool id_derived = false;  // No event_id: the id is "sha256:" + hex of the content digest.
  std::string_view type;
  std::string_view source;
  std::string_view time_text;
  common::Instant time;
  std::optional<catalog::Level> declared_sensitivity;
  bool has_allowed_recipients = false;
  std::vector<std::string_view> allowed_recipients;
  bool declared_consent_scope = false;  // Recorded in the ledger; grants nothing.
  std::vector<std::string_view> consent_scope;
  const catalog::EventType* type_def = nullptr;
  std::vector<FieldValue> fields;
  catalog::Level sensitivity = catalog::Level::kNonPhi;  // Highest level among present fields.
  std::string canonical;          // RFC 8785 form of the whole input object.
  crypto::Digest content_digest;  // SHA-256 of `canonical`.

  // The value of declared field `field_index`, or nullptr when absent or null.
  const simdjson::dom::element* Find(uint32_t field_index) const;
};

// Why a line was quarantined. `detail` is a sentence a person can act on; it never contains a
// payload value, only names from the catalog and names that pass common::IsPrintableName.
struct Rejection {
  QuarantineReason reason = QuarantineReason::kMalformedJson;
  std::string detail;
  std::string id;  // The event's id where one could be read (or derived), else empty.
};

// Runs the intake checks for one line at a time. Not thread-safe: one per thread.
class Intake {
 public:
  Intake(const catalog::Catalog& catalog, size_t max_depth = 128);

  // Validates `line` (which needs common::kLinePadding readable bytes after it). Returns true
  // and fills `event` when the line passes every intake check up to identity; otherwise fills
  // `rejection` and returns false.
  bool Process(std::string_view line, Event* event, Rejection* rejection);

 private:
  bool ReadFlat(simdjson::dom::object root, Event* ev, Rejection* r);
  bool ReadCloudEvents(simdjson::dom::object root, Event* ev, Rejection* r);
  bool CheckFields(Event* ev, Rejection* r);

  const catalog::Catalog& catalog_;
  json::StrictParser parser_;
  std::string rewritten_;  // Scratch for lines with integers beyond 64 bits.
  // Payload members of the current line, before classification.
  std::vector<std::pair<std::string_view, simdjson::dom::element>> raw_fields_;
  std::vector<uint8_t> present_;
};

// Checks a value against a declared field type; fills `why` on failure (no values quoted).
bool CheckFieldValue(const catalog::Field& field, simdjson::dom::element value, std::string* why);

}  // namespace loopgate::event
