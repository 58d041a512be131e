#include "json/json.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "common/strings.h"

namespace loopgate::json {
namespace {

// Decodes one UTF-8 code point at s[i] (input is already validated) and returns it as the
// sort key RFC 8785 needs: UTF-16 code units compare like code points, except that surrogate
// pairs (supplementary planes) sort before U+E000..U+FFFF.
uint32_t Utf16SortKey(std::string_view s, size_t* i) {
  const auto b0 = static_cast<unsigned char>(s[*i]);
  uint32_t cp;
  size_t len;
  if (b0 < 0x80) {
    cp = b0;
    len = 1;
  } else if (b0 < 0xE0) {
    cp = b0 & 0x1F;
    len = 2;
  } else if (b0 < 0xF0) {
    cp = b0 & 0x0F;
    len = 3;
  } else {
    cp = b0 & 0x07;
    len = 4;
  }
  for (size_t k = 1; k < len && *i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  }
  *i += len;
  // UTF-16 order: BMP below the surrogates, then supplementary planes (as surrogate pairs, in
  // code point order), then U+E000..U+FFFF.
  if (cp >= 0x10000) {
    return 0xD800 + (cp - 0x10000);
  }
  if (cp >= 0xE000) {
    return cp + 0x100000;
  }
  return cp;
}

absl::Status AppendValue(simdjson::dom::element value, std::string* out);

absl::Status AppendObject(simdjson::dom::object object, std::string* out) {
  struct Member {
    std::string_view key;
    simdjson::dom::element value;
  };
  // Events are small objects: an inline buffer keeps the hot path free of allocation.
  absl::InlinedVector<Member, 16> members;
  for (auto field : object) {
    members.push_back({field.key, field.value});
  }
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return Utf16Less(a.key, b.key); });
  out->push_back('{');
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) {
      if (members[i].key == members[i - 1].key) {
        return absl::InvalidArgumentError("an object has the same key twice");
      }
      out->push_back(',');
    }
    AppendString(members[i].key, out);
    out->push_back(':');
    if (auto s = AppendValue(members[i].value, out); !s.ok()) {
      return s;
    }
  }
  out->push_back('}');
  return absl::OkStatus();
}

absl::Status AppendValue(simdjson::dom::element value, std::string* out) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT:
      return AppendObject(value.get_object().value_unsafe(), out);
    case element_type::ARRAY: {
      out->push_back('[');
      bool first = true;
      const simdjson::dom::array array = value.get_array().value_unsafe();
      for (auto item : array) {
        if (!first) {
          out->push_back(',');
        }
        first = false;
        if (auto s = AppendValue(item, out); !s.ok()) {
          return s;
        }
      }
      out->push_back(']');
      return absl::OkStatus();
    }
    case element_type::STRING:
      AppendString(value.get_string().value_unsafe(), out);
      return absl::OkStatus();
    case element_type::INT64:
      AppendNumber(static_cast<double>(value.get_int64().value_unsafe()), out);
      return absl::OkStatus();
    case element_type::UINT64:
      AppendNumber(static_cast<double>(value.get_uint64().value_unsafe()), out);
      return absl::OkStatus();
    case element_type::DOUBLE:
      AppendNumber(value.get_double().value_unsafe(), out);
      return absl::OkStatus();
    case element_type::BOOL:
      out->append(value.get_bool().value_unsafe() ? "true" : "false");
      return absl::OkStatus();
    case element_type::NULL_VALUE:
      out->append("null");
      return absl::OkStatus();
  }
  return absl::InternalError("unknown JSON element type");
}

std::string DescribeError(simdjson::error_code code, size_t max_depth) {
  switch (code) {
    case simdjson::UTF8_ERROR:
      return "the line is not valid UTF-8";
    case simdjson::DEPTH_ERROR:
      return common::StrCat("the line nests arrays or objects deeper than ", max_depth, " levels");
    case simdjson::NUMBER_ERROR:
      return "the line has a number that is not a finite IEEE 754 double (too large, or malformed)";
    case simdjson::STRING_ERROR:
    case simdjson::UNESCAPED_CHARS:
      return "the line has a malformed string (bad escape, lone surrogate or raw control character)";
    case simdjson::UNCLOSED_STRING:
      return "the line has a string that is never closed";
    case simdjson::CAPACITY:
      return "the line is too large to parse";
    case simdjson::EMPTY:
      return "the line holds no JSON value";
    default:
      return "the line is not valid JSON (check brackets, commas, quotes and trailing content)";
  }
}

}  // namespace

bool Utf16Less(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const auto ca = static_cast<unsigned char>(a[i]);
    const auto cb = static_cast<unsigned char>(b[j]);
    if (ca < 0x80 && cb < 0x80) {
      if (ca != cb) {
        return ca < cb;
      }
      ++i;
      ++j;
      continue;
    }
    const uint32_t ka = Utf16SortKey(a, &i);
    const uint32_t kb = Utf16SortKey(b, &j);
    if (ka != kb) {
      return ka < kb;
    }
  }
  return i == a.size() && j < b.size();
}

namespace {

// Whether some byte of `v` (a word's bytes, in either order) needs escaping in a JSON string:
// '"', '\\' or below 0x20. The tests of Hacker's Delight 6-1 ("has a zero byte", "has a byte
// below n"): a borrow may also mark a neighbour of the byte they find, so they do not say which
// byte it is, but the answer for the whole word is exact either way.
template <typename Word>
inline bool AnySpecialWord(Word v) {
  constexpr Word kOnes = static_cast<Word>(~Word{0}) / 0xFF;  // 0x0101...
  constexpr Word kHigh = kOnes * 0x80;
  auto has_zero = [&](Word x) { return (x - kOnes) & ~x & kHigh; };
  const Word below_space = (v - kOnes * 0x20) & ~v & kHigh;
  return (has_zero(v ^ (kOnes * '"')) | has_zero(v ^ (kOnes * '\\')) | below_space) != 0;
}

template <typename Word>
inline bool AnySpecialAt(const unsigned char* p) {
  Word w;
  std::memcpy(&w, p, sizeof(w));
  return AnySpecialWord(w);
}

// Bytes that need escaping: control characters, '"' and '\\'. Everything else, including all
// UTF-8 beyond ASCII, is copied as is (RFC 8785 section 3.2.2.2).
constexpr auto kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 256; ++c) t[static_cast<size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

#if defined(__SSE2__)
// A bit for each of the 16 bytes at `p` that needs escaping: '"', '\\' or at most 0x1F
// (unsigned: min(b, 0x1F) == b).
inline unsigned SpecialMask16(const unsigned char* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i special = _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')), _mm_cmpeq_epi8(b, _mm_set1_epi8('\\'))),
      _mm_cmpeq_epi8(_mm_min_epu8(b, _mm_set1_epi8(0x1F)), b));
  return static_cast<unsigned>(_mm_movemask_epi8(special));
}
#endif

// Whether none of the `n` bytes at `p` needs escaping. Windows of 16 bytes (SSE2, when `wide`
// and the build has it), else 8, else 4, one after another; the last window ends at the end of
// the string, overlapping the one before it, so nothing past `p + n` is read.
inline bool AllPlain(const unsigned char* p, size_t n, bool wide) {
#if defined(__SSE2__)
  if (wide && n >= 16) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      if (SpecialMask16(p + i) != 0) return false;
    }
    return i == n || SpecialMask16(p + n - 16) == 0;
  }
#else
  (void)wide;
#endif
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      if (AnySpecialAt<uint64_t>(p + i)) return false;
    }
    return i == n || !AnySpecialAt<uint64_t>(p + n - 8);
  }
  if (n >= 4) return !AnySpecialAt<uint32_t>(p) && !AnySpecialAt<uint32_t>(p + n - 4);
  return std::all_of(p, p + n, [](unsigned char c) { return kPlain[c]; });
}

}  // namespace

namespace internal {
bool AllPlain(std::string_view s, bool wide) {
  return json::AllPlain(reinterpret_cast<const unsigned char*>(s.data()), s.size(), wide);
}
}  // namespace internal

void AppendString(std::string_view s, std::string* out) {
  // Most strings (keys, ids, codes, times) need no escaping: checked a word at a time, then
  // copied whole.
  if (AllPlain(reinterpret_cast<const unsigned char*>(s.data()), s.size(), /*wide=*/true)) {
    out->reserve(out->size() + s.size() + 2);
    out->push_back('"');
    out->append(s);
    out->push_back('"');
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out->reserve(out->size() + s.size() + 2);
  out->push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    size_t run = i;
#if defined(__SSE2__)
    // Sixteen bytes at a time while none needs escaping.
    while (run + 16 <= n) {
      const unsigned mask = SpecialMask16(p + run);
      if (mask != 0) {
        run += static_cast<size_t>(__builtin_ctz(mask));
        break;
      }
      run += 16;
    }
#endif
    while (run < n && kPlain[p[run]]) ++run;
    out->append(s.data() + i, run - i);
    if (run == n) break;
    const unsigned char c = p[run];
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(esc, sizeof(esc));
      }
    }
    i = run + 1;
  }
  out->push_back('"');
}

void AppendNumber(double d, std::string* out) {
  if (d == 0) {
    out->push_back('0');  // Also for -0, as ECMAScript prints it.
    return;
  }
  // Shortest round-trip digits, then laid out by ECMAScript's Number::toString rules.
  char sci[64];
  auto res = std::to_chars(sci, sci + sizeof(sci), d, std::chars_format::scientific);
  std::string_view text(sci, static_cast<size_t>(res.ptr - sci));
  bool negative = false;
  if (text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const size_t epos = text.find('e');
  std::string digits;
  for (char c : text.substr(0, epos)) {
    if (c != '.') {
      digits.push_back(c);
    }
  }
  int exp10 = 0;
  std::from_chars(text.data() + epos + 1 + (text[epos + 1] == '+'), text.data() + text.size(),
                  exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // Value = 0.digits * 10^n.
  if (negative) {
    out->push_back('-');
  }
  if (k <= n && n <= 21) {
    out->append(digits);
    out->append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out->append(digits, 0, static_cast<size_t>(n));
    out->push_back('.');
    out->append(digits, static_cast<size_t>(n), std::string::npos);
  } else if (-6 < n && n <= 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-n), '0');
    out->append(digits);
  } else {
    out->push_back(digits[0]);
    if (k > 1) {
      out->push_back('.');
      out->append(digits, 1, std::string::npos);
    }
    out->push_back('e');
    out->push_back(n - 1 >= 0 ? '+' : '-');
    out->append(std::to_string(std::abs(n - 1)));
  }
}

absl::Status AppendCanonical(simdjson::dom::element value, std::string* out) {
  return AppendValue(value, out);
}

StrictParser::StrictParser(size_t max_depth) : max_depth_(max_depth) {
  // Capacity grows on demand; the depth bound is what keeps hostile nesting cheap.
  if (parser_.allocate(1 << 16, max_depth) != simdjson::SUCCESS) {
    parser_ = simdjson::dom::parser();  // Allocation is retried on first use.
  }
}

absl::StatusOr<simdjson::dom::element> StrictParser::Parse(std::string_view text,
                                                           std::string* canonical) {
  simdjson::dom::element root;
  if (text.size() > parser_.capacity()) {
    if (parser_.allocate(text.size(), max_depth_) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError("the line is too large to parse");
    }
  }
  const auto err = parser_.parse(text.data(), text.size(), false).get(root);
  if (err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(DescribeError(err, max_depth_));
  }
  canonical->clear();
  if (auto s = AppendValue(root, canonical); !s.ok()) {
    return s;
  }
  return root;
}

absl::StatusOr<simdjson::dom::element> StrictParser::ParseCopy(std::string_view text,
                                                               std::string* canonical) {
  simdjson::padded_string padded(text);
  // The DOM keeps pointers into the parser's own string buffer, not into `padded`.
  return Parse(std::string_view(padded.data(), padded.size()), canonical);
}

}  // namespace loopgate::json
