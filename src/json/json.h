#pragma once
// Strict JSON (RFC 8259 as formats.md narrows it) and RFC 8785 canonical serialization.
//
// One parse serves three needs: validation (valid UTF-8, no NaN, no trailing content, no
// duplicate keys), the canonical text that identifies an event's content, and the DOM the
// router reads fields from.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "simdjson.h"

namespace loopgate::json {

// Reusable parser. Not thread-safe; one per thread. The element returned by Parse() is valid
// until the next call to Parse().
class StrictParser {
 public:
  explicit StrictParser(size_t max_depth = 128);

  // Parses `text`, which must be followed in memory by at least SIMDJSON_PADDING readable bytes
  // (common::LineReader guarantees this; use ParseCopy otherwise). On success `canonical`
  // holds the RFC 8785 form of the whole value. Errors: InvalidArgument with a message fit for a
  // quarantine detail.
  absl::StatusOr<simdjson::dom::element> Parse(std::string_view text, std::string* canonical);

  // As Parse, for text without padding guarantees (copies once).
  absl::StatusOr<simdjson::dom::element> ParseCopy(std::string_view text, std::string* canonical);

 private:
  simdjson::dom::parser parser_;
  size_t max_depth_;
};

// Appends the RFC 8785 form of `value` to `out`. Fails (InvalidArgument) on a duplicate key.
absl::Status AppendCanonical(simdjson::dom::element value, std::string* out);

// Appends `s` as a JSON string literal, escaped as RFC 8785 (ECMAScript JSON.stringify)
// requires: \b \t \n \f \r \" \\ and \u00xx for other control characters, nothing else.
void AppendString(std::string_view s, std::string* out);

namespace internal {
// Whether no byte of `s` needs escaping in a JSON string ('"', '\\', below 0x20), by the scan
// AppendString makes first: 16 bytes at a time with SSE2 when `wide` (and the build has it),
// otherwise 8 or 4 as a word. For tests, which check both ways against a byte loop.
bool AllPlain(std::string_view s, bool wide);
}  // namespace internal

// Appends a number as ECMAScript Number.prototype.toString formats it (RFC 8785 section 3.2.2.3).
// Precondition: `d` is finite.
void AppendNumber(double d, std::string* out);

// Orders object keys as RFC 8785 does: by their UTF-16 code units.
bool Utf16Less(std::string_view a, std::string_view b);

}  // namespace loopgate::json
