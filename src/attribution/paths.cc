#include "attribution/paths.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/line_reader.h"
#include "common/strings.h"

namespace loopgate::attribution {

// ---- ChannelTable ----

namespace {
// Debian's abseil has its own string_view type; the map's transparent lookup takes that.
absl::string_view Key(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

ChannelId ChannelTable::Intern(std::string_view name) {
  auto it = ids_.find(Key(name));
  if (it != ids_.end()) return it->second;
  const auto id = static_cast<ChannelId>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(names_.back(), id);
  return id;
}

std::optional<ChannelId> ChannelTable::Find(std::string_view name) const {
  auto it = ids_.find(Key(name));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::vector<ChannelId> ChannelTable::ByName() const {
  std::vector<ChannelId> ids(names_.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<ChannelId>(i);
  std::sort(ids.begin(), ids.end(),
            [this](ChannelId a, ChannelId b) { return names_[a] < names_[b]; });
  return ids;
}

// ---- PathAggregator ----

// The index holds path positions; hashing and comparing read the channels from the set's arena,
// so a path's channels are stored once. Lookups by span are heterogeneous (no copy). Only
// channels_of() may be called here: the set's values are filled in by Finish().
struct PathAggregator::Index {
  using Span = std::span<const ChannelId>;
  static size_t HashOf(Span s) {
    return absl::Hash<absl::Span<const ChannelId>>{}(absl::MakeConstSpan(s.data(), s.size()));
  }
  struct Hash {
    using is_transparent = void;
    const PathSet* set;
    size_t operator()(size_t i) const { return HashOf(set->channels_of(i)); }
    size_t operator()(Span s) const { return HashOf(s); }
  };
  struct Eq {
    using is_transparent = void;
    const PathSet* set;
    static bool Same(Span a, Span b) {
      return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
    }
    bool operator()(size_t a, size_t b) const { return a == b; }
    bool operator()(size_t a, Span b) const { return Same(set->channels_of(a), b); }
    bool operator()(Span a, size_t b) const { return Same(a, set->channels_of(b)); }
  };

  explicit Index(const PathSet* set) : map(0, Hash{set}, Eq{set}) {}
  absl::flat_hash_set<size_t, Hash, Eq> map;
};

PathAggregator::PathAggregator() : index_(std::make_unique<Index>(&set_)) {}

PathAggregator::PathAggregator(ChannelTable channels) : PathAggregator() {
  set_.channels_ = std::move(channels);
}

PathAggregator::~PathAggregator() = default;

absl::Status PathAggregator::Add(std::span<const ChannelId> touchpoints, uint64_t conversions,
                                 double value, uint64_t nulls) {
  if (touchpoints.empty()) {
    return absl::InvalidArgumentError("a journey has no touchpoints");
  }
  const size_t num_channels = set_.channels_.size();
  for (ChannelId id : touchpoints) {
    if (id >= num_channels) {
      return absl::InvalidArgumentError(
          common::StrCat("channel id ", id, " is not in the channel table"));
    }
  }
  if (!std::isfinite(value) || value < 0) {
    return absl::InvalidArgumentError("the value is not a finite non-negative number");
  }
  if (conversions == 0 && value != 0) {
    return absl::InvalidArgumentError("a value is given without conversions");
  }
  uint64_t total_conversions, total_nulls, total_journeys;
  if (__builtin_add_overflow(set_.total_conversions_, conversions, &total_conversions) ||
      __builtin_add_overflow(set_.total_nulls_, nulls, &total_nulls) ||
      __builtin_add_overflow(total_conversions, total_nulls, &total_journeys)) {
    return absl::InvalidArgumentError("the counts of conversions and nulls overflow 64 bits");
  }

  size_t i;
  auto it = index_->map.find(touchpoints);
  if (it != index_->map.end()) {
    i = *it;
    set_.conversions_[i] += conversions;  // Cannot overflow: bounded by the totals above.
    set_.nulls_[i] += nulls;
  } else {
    i = set_.size();
    set_.arena_.insert(set_.arena_.end(), touchpoints.begin(), touchpoints.end());
    set_.offsets_.push_back(set_.arena_.size());
    set_.conversions_.push_back(conversions);
    set_.nulls_.push_back(nulls);
    values_.emplace_back();
    set_.max_length_ = std::max(set_.max_length_, touchpoints.size());
    index_->map.insert(i);
  }
  values_[i].Add(value);
  total_value_.Add(value);
  set_.total_conversions_ = total_conversions;
  set_.total_nulls_ = total_nulls;
  ++set_.rows_;
  return absl::OkStatus();
}

PathSet PathAggregator::Finish() {
  set_.values_.resize(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) set_.values_[i] = values_[i].Value();
  set_.total_value_ = total_value_.Value();
  PathSet out = std::move(set_);
  set_ = PathSet();
  values_.clear();
  total_value_ = internal::CompensatedSum();
  index_ = std::make_unique<Index>(&set_);
  return out;
}

// ---- Paths file ----

namespace {

enum class Column { kPath, kConversions, kValue, kNulls };

constexpr std::string_view kBom = "\xEF\xBB\xBF";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::optional<Column> ColumnNamed(std::string_view header_field) {
  const std::string name = Lower(Trim(header_field));
  if (name == "path") return Column::kPath;
  if (name == "conversions" || name == "total_conversions") return Column::kConversions;
  if (name == "value" || name == "conversion_value" || name == "total_conversion_value") {
    return Column::kValue;
  }
  if (name == "nulls" || name == "null" || name == "total_null") return Column::kNulls;
  return std::nullopt;
}

std::string_view ColumnName(Column c) {
  switch (c) {
    case Column::kPath:
      return "path";
    case Column::kConversions:
      return "conversions";
    case Column::kValue:
      return "value";
    case Column::kNulls:
      return "nulls";
  }
  return "?";
}

// A count: a non-negative integer, also written as an integral decimal ("2.0", as pandas
// exports integer columns that once held a missing value).
std::optional<uint64_t> ParseCount(std::string_view s) {
  s = Trim(s);
  if (s.empty()) return std::nullopt;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec == std::errc() && p == s.data() + s.size()) return n;
  double d = 0;
  auto [q, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec2 != std::errc() || q != s.data() + s.size()) return std::nullopt;
  if (!std::isfinite(d) || d < 0 || d != std::floor(d) || d > 9007199254740992.0) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(d);
}

std::optional<double> ParseValue(std::string_view s) {
  s = Trim(s);
  if (s.empty()) return std::nullopt;
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(d) || d < 0) {
    return std::nullopt;
  }
  return d;
}

// One line at a time: header detection, field checks, channels into the aggregator.
class Parser {
 public:
  Parser(std::string_view name, const ReadOptions& options) : name_(name), options_(options) {}

  absl::Status Line(std::string_view text, uint64_t number, bool oversized) {
    if (oversized || text.size() > options_.max_line_bytes) {
      return Error(number,
                   common::StrCat("the line is longer than ", options_.max_line_bytes, " bytes"));
    }
    if (number == 1 && text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (Trim(text).empty()) return absl::OkStatus();

    fields_.clear();
    size_t start = 0;
    while (true) {
      const size_t semi = text.find(';', start);
      fields_.push_back(text.substr(start, semi == std::string_view::npos ? semi : semi - start));
      if (semi == std::string_view::npos) break;
      start = semi + 1;
    }

    if (!decided_) {
      decided_ = true;
      if (fields_.size() >= 2 && !ParseCount(fields_[1]).has_value() &&
          !ParseValue(fields_[1]).has_value()) {
        return Header(number);
      }
    }
    return Data(number);
  }

  absl::StatusOr<PathSet> Finish() {
    if (aggregator_.distinct_paths() == 0) {
      return absl::InvalidArgumentError(
          common::StrCat(name_, ": no paths (the file is empty or holds only a header)"));
    }
    return aggregator_.Finish();
  }

 private:
  absl::Status Error(uint64_t number, std::string_view what) const {
    return absl::InvalidArgumentError(common::StrCat(name_, ":", number, ": ", what));
  }

  absl::Status Header(uint64_t number) {
    columns_.clear();
    for (size_t i = 0; i < fields_.size(); ++i) {
      const auto column = ColumnNamed(fields_[i]);
      if (!column) {
        return Error(number,
                     common::StrCat("header column ", i + 1,
                                    " is not one of path, conversions (total_conversions), value "
                                    "(total_conversion_value), nulls (total_null)"));
      }
      if (std::find(columns_.begin(), columns_.end(), *column) != columns_.end()) {
        return Error(number,
                     common::StrCat("the header names the ", ColumnName(*column), " column twice"));
      }
      columns_.push_back(*column);
    }
    for (Column needed : {Column::kPath, Column::kConversions}) {
      if (std::find(columns_.begin(), columns_.end(), needed) == columns_.end()) {
        return Error(number, common::StrCat("the header has no ", ColumnName(needed), " column"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Data(uint64_t number) {
    if (columns_.empty()) {
      // No header: path;conversions[;value[;nulls]].
      if (fields_.size() < 2 || fields_.size() > 4) {
        return Error(number,
                     common::StrCat("expected path;conversions;value;nulls, found ", fields_.size(),
                                    " field", fields_.size() == 1 ? "" : "s"));
      }
    } else if (fields_.size() != columns_.size()) {
      return Error(number, common::StrCat("expected ", columns_.size(),
                                          " fields as the header says, found ", fields_.size()));
    }
    std::string_view path;
    uint64_t conversions = 0, nulls = 0;
    double value = 0;
    for (size_t i = 0; i < fields_.size(); ++i) {
      const Column column = columns_.empty() ? static_cast<Column>(i) : columns_[i];
      switch (column) {
        case Column::kPath:
          path = fields_[i];
          break;
        case Column::kConversions:
        case Column::kNulls: {
          const auto n = ParseCount(fields_[i]);
          if (!n) {
            return Error(number, common::StrCat("field ", i + 1, " (", ColumnName(column),
                                                ") is not a non-negative integer"));
          }
          (column == Column::kConversions ? conversions : nulls) = *n;
          break;
        }
        case Column::kValue: {
          const auto v = ParseValue(fields_[i]);
          if (!v) {
            return Error(number, common::StrCat("field ", i + 1,
                                                " (value) is not a finite non-negative number"));
          }
          value = *v;
          break;
        }
      }
    }

    touchpoints_.clear();
    size_t start = 0, position = 1;
    while (true) {
      const size_t gt = path.find('>', start);
      const std::string_view channel =
          Trim(path.substr(start, gt == std::string_view::npos ? gt : gt - start));
      if (channel.empty()) {
        return Error(number, common::StrCat("touchpoint ", position,
                                            " of the path is empty (expected a > b > c)"));
      }
      touchpoints_.push_back(aggregator_.channels().Intern(channel));
      if (gt == std::string_view::npos) break;
      start = gt + 1;
      ++position;
    }
    if (absl::Status s = aggregator_.Add(touchpoints_, conversions, value, nulls); !s.ok()) {
      return Error(number, std::string(s.message()));
    }
    return absl::OkStatus();
  }

  std::string name_;
  ReadOptions options_;
  bool decided_ = false;
  std::vector<Column> columns_;  // From the header; empty without one.
  std::vector<std::string_view> fields_;
  std::vector<ChannelId> touchpoints_;
  PathAggregator aggregator_;
};

}  // namespace

absl::StatusOr<PathSet> ParsePaths(std::string_view text, std::string_view name,
                                   const ReadOptions& options) {
  Parser parser(name, options);
  uint64_t number = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    if (absl::Status s = parser.Line(line, ++number, false); !s.ok()) return s;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return parser.Finish();
}

absl::StatusOr<PathSet> ReadPathsFile(const std::string& path, const ReadOptions& options) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string what = common::StrCat(path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(what) : absl::UnavailableError(what);
  }
  Parser parser(path, options);
  common::LineReader reader(fd, options.max_line_bytes);
  common::Line line;
  absl::Status status;
  while (status.ok()) {
    auto more = reader.Next(&line);
    if (!more.ok()) {
      status =
          absl::UnavailableError(common::StrCat(path, ": ", std::string(more.status().message())));
      break;
    }
    if (!*more) break;
    status = parser.Line(line.text, line.number, line.oversized);
  }
  ::close(fd);
  if (!status.ok()) return status;
  return parser.Finish();
}

}  // namespace loopgate::attribution
