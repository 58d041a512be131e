#pragma once
// String building that accepts std::string_view. Debian's abseil is built with its own
// absl::string_view type, so common::StrCat rejects std::string_view arguments.

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

namespace loopgate::common {
namespace internal {

inline void AppendPiece(std::string* out, std::string_view s) { out->append(s); }
inline void AppendPiece(std::string* out, char c) { out->push_back(c); }
template <typename T>
  requires std::same_as<T, bool>
void AppendPiece(std::string* out, T b) {
  out->append(b ? "true" : "false");
}
template <std::integral T>
  requires(!std::same_as<T, char> && !std::same_as<T, bool>)
void AppendPiece(std::string* out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

}  // namespace internal

// Appends each argument's text: strings and views as is, integers in decimal.
template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (internal::AppendPiece(out, args), ...);
}

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  StrAppend(&out, args...);
  return out;
}

// Joins the items of a range of strings with `sep`.
template <typename Range>
std::string StrJoin(const Range& items, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out.append(sep);
    first = false;
    out.append(std::string_view(item));
  }
  return out;
}

}  // namespace loopgate::common
