#pragma once
// Test support for registry records. Header-only; only test targets include it.

#include <string>
#include <string_view>

#include "common/time.h"
#include "gtest/gtest.h"

namespace loopgate::consent::test_support {

// Parses an RFC 3339 time, failing the current test when it does not parse.
inline common::Instant T(std::string_view rfc3339) {
  auto t = common::ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(common::Instant{});
}

// One consent record as NDJSON text. `extra` is appended inside the object (",\"k\":v...").
struct ConsentLine {
  std::string id = "c-1";
  std::string subject_type = "patient";
  std::string subject_id = "pt-1";
  std::string purpose = "patient_support";
  std::string status = "granted";
  std::string effective_from = "2026-01-01T00:00:00Z";
  std::string recorded_at = "2026-01-01T00:00:05Z";
  std::string extra;

  std::string Json() const {
    return "{\"consent_id\":\"" + id + "\",\"subject_type\":\"" + subject_type +
           "\",\"subject_id\":\"" + subject_id + "\",\"purpose\":\"" + purpose +
           "\",\"status\":\"" + status + "\",\"effective_from\":\"" + effective_from +
           "\",\"recorded_at\":\"" + recorded_at + "\"" + extra + "}";
  }
};

}  // namespace loopgate::consent::test_support
