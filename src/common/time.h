#pragma once
// Instants and the textual forms the spec accepts: RFC 3339 date-times (compared as instants)
// and calendar dates (YYYY-MM-DD).

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loopgate::common {

// A point in time: whole seconds since 1970-01-01T00:00:00Z plus nanoseconds [0, 1e9).
// Covers years 0000-9999, which int64 nanoseconds alone would not.
struct Instant {
  int64_t seconds = 0;
  int32_t nanos = 0;

  friend auto operator<=>(const Instant&, const Instant&) = default;
  friend bool operator==(const Instant&, const Instant&) = default;
};

// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)` (RFC 3339 section 5.6; 't' and 'z' are
// accepted too). Rejects impossible dates and times. Fractional digits past nanoseconds are
// truncated. A leap second (:60) is accepted and counted as the next second.
std::optional<Instant> ParseRfc3339(std::string_view text);

// True for `YYYY-MM-DD` naming a real calendar date (proleptic Gregorian).
bool IsCalendarDate(std::string_view text);

// The wall clock now, to the second. Only the command line reads it; library code takes time
// as an argument, so tests can fix it.
Instant Now();

// Formats as `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z` in UTC, fraction only when non-zero.
std::string FormatRfc3339(Instant t);

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

// True when `year` is a leap year.
bool IsLeapYear(int64_t year);

}  // namespace loopgate::common
