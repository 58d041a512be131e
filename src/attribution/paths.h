#pragma once
// Customer journeys and aggregated paths: the input of every attribution model
// (docs/attribution.md).
//
// A journey is one unit's touchpoints in time order (a channel or an asset each) and how it
// ended: in conversions, with their value, or without one (a "null"). The models read journeys
// through a PathSet, in which identical touchpoint sequences are merged and their outcomes
// summed. PathAggregator builds a PathSet in one streaming pass whose memory grows with the
// number of distinct paths, not with the number of journeys, so a million unit journeys over a
// dozen channels cost a few tens of megabytes.
//
// The paths file, `a > b > c;conversions;value;nulls` per line (ChannelAttribution's export
// form, also its `channelattribution_Data.csv`), is read by ReadPathsFile.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attribution/internal/compensated_sum.h"

namespace loopgate::attribution {

// Dense channel ids: 0, 1, ... in the order the channels were first interned.
using ChannelId = uint32_t;

// Channel names and their ids. Not thread-safe.
class ChannelTable {
 public:
  // The id of `name`, added if new. Precondition: `name` is not empty.
  ChannelId Intern(std::string_view name);
  // The id of `name`, or nullopt when it was never interned.
  std::optional<ChannelId> Find(std::string_view name) const;
  // Precondition: id < size().
  const std::string& name(ChannelId id) const { return names_[id]; }
  size_t size() const { return names_.size(); }
  // Every id, ordered by name (bytewise): the order all reports use, so that output does not
  // depend on the order of the input.
  std::vector<ChannelId> ByName() const;

 private:
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, ChannelId> ids_;
};

// One unit's journey.
struct Journey {
  // Channel ids in time order, from the ChannelTable of the PathAggregator (or of the call) that
  // receives the journey. Never empty: a conversion with no touchpoint has nothing to credit.
  std::vector<ChannelId> touchpoints;
  // Empty, or one time per touchpoint, non-decreasing. Only TimeDecayByTime (models.h) reads
  // them; aggregation drops them.
  std::vector<absl::Time> times;
  uint64_t conversions = 0;  // Conversions at the end of the journey (usually 0 or 1).
  double value = 0;          // Their total value: finite, >= 0, and 0 when conversions is 0.
  uint64_t nulls = 0;        // Journeys that ended without converting (1 for a unit journey).
};

// Distinct touchpoint sequences, each with the summed outcomes of the journeys that followed it.
// Built by PathAggregator (or ReadPathsFile); immutable afterwards. Paths are in order of first
// appearance. Movable; spans returned by path() stay valid while the set lives.
class PathSet {
 public:
  struct Path {
    std::span<const ChannelId> channels;  // Never empty.
    uint64_t conversions = 0;
    double value = 0;
    uint64_t nulls = 0;
  };

  PathSet() = default;

  size_t size() const { return conversions_.size(); }
  Path path(size_t i) const { return Path{channels_of(i), conversions_[i], values_[i], nulls_[i]}; }
  // The channels of path i (the same span as path(i).channels).
  std::span<const ChannelId> channels_of(size_t i) const {
    return std::span<const ChannelId>(arena_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  const ChannelTable& channels() const { return channels_; }

  // Sums over all paths. total_value is summed with compensation (Neumaier), so it is the
  // correctly rounded sum for all practical inputs.
  uint64_t total_conversions() const { return total_conversions_; }
  uint64_t total_nulls() const { return total_nulls_; }
  double total_value() const { return total_value_; }
  // Journeys represented: total_conversions() + total_nulls() (a journey with several
  // conversions counts once per conversion, as in the paths file).
  uint64_t total_journeys() const { return total_conversions_ + total_nulls_; }
  // Rows (Add calls) merged into the set.
  uint64_t rows() const { return rows_; }
  // Total touchpoints over the distinct paths.
  size_t touchpoints() const { return arena_.size(); }
  // The longest path.
  size_t max_length() const { return max_length_; }

 private:
  friend class PathAggregator;

  ChannelTable channels_;
  std::vector<ChannelId> arena_;    // All paths' channels, back to back.
  std::vector<size_t> offsets_{0};  // Path i is arena_[offsets_[i], offsets_[i + 1]).
  std::vector<uint64_t> conversions_;
  std::vector<double> values_;
  std::vector<uint64_t> nulls_;
  uint64_t total_conversions_ = 0;
  uint64_t total_nulls_ = 0;
  double total_value_ = 0;
  uint64_t rows_ = 0;
  size_t max_length_ = 0;
};

// Merges journeys (or already aggregated rows) into a PathSet, one at a time. Not thread-safe.
// Memory: the distinct paths, a hash index over them, nothing per journey.
class PathAggregator {
 public:
  PathAggregator();
  // Starts from an existing table (ids in later journeys refer to it).
  explicit PathAggregator(ChannelTable channels);
  PathAggregator(const PathAggregator&) = delete;
  PathAggregator& operator=(const PathAggregator&) = delete;
  ~PathAggregator();

  // The table journeys' ids refer to; intern new channels here before adding journeys that use
  // them.
  ChannelTable& channels() { return set_.channels_; }

  // Adds `conversions` conversions worth `value` and `nulls` nulls to the path `touchpoints`.
  // Errors (InvalidArgument, nothing added): empty touchpoints, an id not in channels(), a value
  // that is not finite or is negative, a value with no conversions, or a count that overflows.
  absl::Status Add(std::span<const ChannelId> touchpoints, uint64_t conversions, double value,
                   uint64_t nulls);
  // The same for a journey (its times are not kept).
  absl::Status Add(const Journey& journey) {
    return Add(journey.touchpoints, journey.conversions, journey.value, journey.nulls);
  }

  size_t distinct_paths() const { return set_.size(); }

  // Moves the aggregate out; the aggregator is then empty, with an empty channel table.
  PathSet Finish();

 private:
  struct Index;  // The hash index from a path's channels to its position (paths.cc).

  PathSet set_;  // values_ and total_value_ are filled in by Finish() from the sums below.
  std::vector<internal::CompensatedSum> values_;
  internal::CompensatedSum total_value_;
  std::unique_ptr<Index> index_;
};

// Paths-file limits.
struct ReadOptions {
  size_t max_line_bytes = size_t{1} << 20;  // A longer line is an error.
};

// Reads a paths file: one path per line,
//
//   a > b > c;conversions;value;nulls
//
// Channels are separated by '>' and trimmed of spaces and tabs; conversions and nulls are
// non-negative integers, value a finite non-negative decimal (0 when conversions is 0). Value
// and nulls may be left out (path;conversions or path;conversions;value). An optional header
// line names the columns; it is recognized when its second field is not a number, and then the
// columns may come in any order under these names (case-insensitive): path; conversions or
// total_conversions; value, conversion_value or total_conversion_value; nulls, null or
// total_null. So `channelattribution_Data.csv` (path;total_conversions;total_conversion_value;
// total_null) reads as is. Blank lines are skipped; CRLF line ends and a UTF-8 byte order mark
// are accepted.
//
// Errors: InvalidArgument "FILE:LINE: what is wrong" for the first malformed line (the message
// never repeats a channel name or a number from the file); NotFound when the file does not
// exist; Unavailable for other I/O errors.
absl::StatusOr<PathSet> ReadPathsFile(const std::string& path, const ReadOptions& options = {});

// The same for text in memory; `name` stands for the file name in messages.
absl::StatusOr<PathSet> ParsePaths(std::string_view text, std::string_view name,
                                   const ReadOptions& options = {});

}  // namespace loopgate::attribution
