#pragma once
// Small text helpers with no better home: hex, base64, globs, the check that decides whether an
// input-controlled name may be echoed in an error message, and aligned tables.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loopgate::common {

// Lowercase hex of `bytes`.
std::string HexEncode(std::string_view bytes);

// `s` with & < > " ' as HTML entities: safe in text and in quoted attribute values.
std::string EscapeHtml(std::string_view s);

// Decodes hex (either case); nullopt on odd length or a non-hex digit.
std::optional<std::string> HexDecode(std::string_view hex);

// Standard base64 (RFC 4648 section 4: `+` and `/`, `=` padding to a multiple of 4).
std::string Base64Encode(std::string_view bytes);

// Decodes standard base64 strictly: only the canonical encoding is accepted (length a multiple
// of 4, padding only at the end, unused trailing bits zero, no whitespace or line breaks), so
// each byte string has exactly one accepted text. nullopt otherwise.
std::optional<std::string> Base64Decode(std::string_view text);

// Shell-style glob: `*` matches any run of characters, `?` any one byte; everything else
// matches itself. Case-sensitive.
bool GlobMatch(std::string_view pattern, std::string_view text);

// True when `name` is safe to repeat in a message: 1-64 bytes of [A-Za-z0-9_.:-]. Names that
// come from input (field names, event types, sources) are echoed only when this holds, so a
// producer that puts data into a key cannot leak it into logs.
bool IsPrintableName(std::string_view name);

// `'name'` when IsPrintableName(name), otherwise a neutral placeholder.
std::string QuoteName(std::string_view name);

// Number of Unicode code points in valid UTF-8 `s` (continuation bytes are not counted).
size_t CodePointCount(std::string_view s);

// Rows as text columns for a terminal: each cell padded to its column's widest cell (counted in
// code points), two spaces between columns, `indent` before each row, no trailing spaces, one
// row per line. Rows may have fewer cells than others.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        std::string_view indent = "");

}  // namespace loopgate::common
