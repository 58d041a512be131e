#pragma once
// Appending generated JSON and times to a reused buffer, without allocating per value. For
// synthetic data whose strings are known to need no escaping: every key and string value given
// here must be free of '"', '\\' and control characters (the generator's own tables are).

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace loopgate::demo {

// One JSON object in the producers' style, `{"key": value, "key": value}`, appended to `out`.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) { out_->push_back('{'); }

  JsonWriter& Str(std::string_view key, std::string_view value) {
    Key(key);
    out_->push_back('"');
    out_->append(value);
    out_->push_back('"');
    return *this;
  }
  JsonWriter& Int(std::string_view key, int64_t value) {
    Key(key);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), value);
    out_->append(buf, r.ptr);
    return *this;
  }
  JsonWriter& Bool(std::string_view key, bool value) { return Raw(key, value ? "true" : "false"); }
  JsonWriter& Null(std::string_view key) { return Raw(key, "null"); }
  // `raw` is appended as the value's JSON text.
  JsonWriter& Raw(std::string_view key, std::string_view raw) {
    Key(key);
    out_->append(raw);
    return *this;
  }
  // Starts a member and leaves the value to the caller.
  JsonWriter& Key(std::string_view key) {
    if (!first_) out_->append(", ");
    first_ = false;
    out_->push_back('"');
    out_->append(key);
    out_->append("\": ");
    return *this;
  }
  void Close() { out_->push_back('}'); }

 private:
  std::string* out_;
  bool first_ = true;
};

// Appends `YYYY-MM-DDTHH:MM:SS[.mmm]Z` for `ms` milliseconds since 1970 (UTC, years 1970-9999),
// with the fraction only when `with_millis`. `offset_minutes` != 0 writes the same instant in
// that UTC offset instead, as `...+HH:MM` / `...-HH:MM`.
void AppendTime(int64_t ms, bool with_millis, int offset_minutes, std::string* out);

// Appends `YYYY-MM-DD` for a day number (days since 1970-01-01).
void AppendDate(int64_t days, std::string* out);

// Appends `prefix` and `n` zero-padded to `width` digits.
void AppendId(std::string_view prefix, uint64_t n, int width, std::string* out);

}  // namespace loopgate::demo
