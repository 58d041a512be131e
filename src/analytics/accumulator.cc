#include "analytics/accumulator.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/status.h"
#include "common/strings.h"

namespace loopgate::analytics {

// Open addressing with linear probing over two parallel arrays (keys, values): 12 bytes a slot
// instead of the 17 of absl::flat_hash_map<uint64_t, uint32_t>, which matters at 10M units. Key 0
// marks an empty slot, so the unit whose hash is 0 lives in a slot of its own.
class LiftAccumulator::UnitTable {
 public:
  // Starts small and doubles: with the rehash prefetched, growing costs less than a table sized
  // for every unit up front (docs/performance.md section 9).
  explicit UnitTable(uint64_t max_units) : max_units_(max_units) { Allocate(kInitialCapacity); }

  // Starts loading the cache line `key` will be looked up in.
  void Prefetch(uint64_t key) const {
    const uint64_t i = Mix(key) & mask_;
    __builtin_prefetch(&keys_[i]);
    __builtin_prefetch(&values_[i]);
  }

  // The value of `key`, or nullptr when absent.
  uint32_t* Find(uint64_t key) {
    if (key == 0) return has_zero_ ? &zero_value_ : nullptr;
    for (uint64_t i = Mix(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == 0) return nullptr;
    }
  }

  // Inserts `key` (precondition: absent) with `value`. False when the table holds max_units.
  bool Insert(uint64_t key, uint32_t value) {
    if (size_ >= max_units_) return false;
    ++size_;
    if (key == 0) {
      has_zero_ = true;
      zero_value_ = value;
      return true;
    }
    if (size_ > (mask_ + 1) / 4 * 3) Grow();
    Place(key, value);
    return true;
  }

  uint64_t size() const { return size_; }
  uint64_t memory_bytes() const { return (mask_ + 1) * (sizeof(uint64_t) + sizeof(uint32_t)); }

 private:
  static constexpr uint64_t kInitialCapacity = 1024;

  // The splitmix64 finalizer: callers' hashes may be anything (even sequential ids).
  static uint64_t Mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
  }

  void Allocate(uint64_t capacity) {
    keys_ = std::make_unique<uint64_t[]>(capacity);  // Zeroed: all empty.
    values_ = std::make_unique_for_overwrite<uint32_t[]>(capacity);
    mask_ = capacity - 1;
  }

  void Place(uint64_t key, uint32_t value) {
    uint64_t i = Mix(key) & mask_;
    while (keys_[i] != 0) i = (i + 1) & mask_;
    keys_[i] = key;
    values_[i] = value;
  }

  void Grow() {
    auto old_keys = std::move(keys_);
    auto old_values = std::move(values_);
    const uint64_t old_capacity = mask_ + 1;
    Allocate(old_capacity * 2);
    constexpr uint64_t kAhead = 16;  // As in AddRows: hide the random writes' latency.
    for (uint64_t i = 0; i < old_capacity; ++i) {
      if (i + kAhead < old_capacity && old_keys[i + kAhead] != 0) Prefetch(old_keys[i + kAhead]);
      if (old_keys[i] != 0) Place(old_keys[i], old_values[i]);
    }
  }

  uint64_t max_units_;
  uint64_t size_ = 0;
  uint64_t mask_ = 0;
  std::unique_ptr<uint64_t[]> keys_;
  std::unique_ptr<uint32_t[]> values_;
  bool has_zero_ = false;
  uint32_t zero_value_ = 0;
};

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

using CellKey = std::array<uint32_t, kMaxDimensions>;

// A unit's entry in the table: which arms it was seen in, in which it had the outcome, whether it
// is excluded, and its cell.
constexpr uint32_t kSeen[2] = {1u << 0, 1u << 1};
constexpr uint32_t kOutcome[2] = {1u << 2, 1u << 3};
constexpr uint32_t kExcluded = 1u << 4;
constexpr int kCellShift = 5;
constexpr uint32_t kMaxCellsLimit = 1u << (32 - kCellShift);

}  // namespace

// Dimension values are interned to codes, and a cell is found by its tuple of codes.
struct LiftAccumulator::Interned {
  std::vector<absl::flat_hash_map<std::string, uint32_t, StringHash, StringEq>> codes;
  std::vector<std::vector<std::string>> values;  // Per dimension, by code.
  absl::flat_hash_map<CellKey, uint32_t> cells;
  std::vector<CellKey> cell_keys;  // By cell index.
};

LiftAccumulator::LiftAccumulator(AccumulatorOptions options)
    : options_(std::move(options)), interned_(std::make_unique<Interned>()) {
  interned_->codes.resize(options_.dimensions.size());
  interned_->values.resize(options_.dimensions.size());
  if (options_.dedup == UnitDedup::kByUnitHash) {
    units_ = std::make_unique<UnitTable>(options_.max_units);
    stats_.memory_bytes = units_->memory_bytes();
  }
}

LiftAccumulator::LiftAccumulator(LiftAccumulator&&) noexcept = default;
LiftAccumulator& LiftAccumulator::operator=(LiftAccumulator&&) noexcept = default;
LiftAccumulator::~LiftAccumulator() = default;

absl::StatusOr<LiftAccumulator> LiftAccumulator::Create(AccumulatorOptions options) {
  if (options.dimensions.size() > kMaxDimensions) {
    return absl::InvalidArgumentError(common::StrCat("a lift study has at most ", kMaxDimensions,
                                                     " dimensions, not ",
                                                     options.dimensions.size()));
  }
  if (options.max_cells > kMaxCellsLimit) {
    return absl::InvalidArgumentError(common::StrCat("max_cells is at most ", kMaxCellsLimit));
  }
  if (options.max_units > (uint64_t{1} << 36)) {
    return absl::InvalidArgumentError("max_units is at most 2^36");
  }
  return LiftAccumulator(std::move(options));
}

absl::StatusOr<uint32_t> LiftAccumulator::CellOf(std::span<const std::string_view> values) {
  if (values.empty() && !counts_.empty()) return 0;  // No dimensions: the one cell.
  CellKey key{};
  for (size_t d = 0; d < values.size(); ++d) {
    auto& codes = interned_->codes[d];
    auto it = codes.find(values[d]);
    if (it == codes.end()) {
      // A new value only matters once it makes a new cell, checked below; the code itself costs
      // one string.
      const auto code = static_cast<uint32_t>(interned_->values[d].size());
      interned_->values[d].emplace_back(values[d]);
      it = codes.emplace(std::string(values[d]), code).first;
    }
    key[d] = it->second;
  }
  auto cell = interned_->cells.find(key);
  if (cell != interned_->cells.end()) return cell->second;
  if (counts_.size() >= options_.max_cells) {
    return absl::ResourceExhaustedError(
        common::StrCat("the study has more than ", options_.max_cells,
                       " cells (combinations of dimension values)"));
  }
  const auto index = static_cast<uint32_t>(counts_.size());
  interned_->cells.emplace(key, index);
  interned_->cell_keys.push_back(key);
  counts_.push_back({});
  return index;
}

absl::Status LiftAccumulator::Add(uint64_t unit_hash, Arm arm, bool outcome,
                                  std::span<const std::string_view> dimension_values) {
  if (dimension_values.size() != options_.dimensions.size()) {
    return absl::InvalidArgumentError(
        common::StrCat("a row of this study has ", options_.dimensions.size(),
                       " dimension values, not ", dimension_values.size()));
  }
  const int a = static_cast<int>(arm);
  if (units_ == nullptr) {  // kOneRowPerUnit
    ASSIGN_OR_RETURN(const uint32_t cell, CellOf(dimension_values));
    counts_[cell][a].units += 1;
    counts_[cell][a].outcomes += outcome ? 1 : 0;
    ++stats_.rows;
    ++stats_.units;
    return absl::OkStatus();
  }

  uint32_t* entry = units_->Find(unit_hash);
  if (entry == nullptr) {
    if (units_->size() >= options_.max_units) {
      return absl::ResourceExhaustedError(common::StrCat(
          "the study has more than ", options_.max_units,
          " distinct units; raise max_units (memory: about 16 to 32 bytes per unit)"));
    }
    ASSIGN_OR_RETURN(const uint32_t cell, CellOf(dimension_values));
    units_->Insert(unit_hash, (cell << kCellShift) | kSeen[a] | (outcome ? kOutcome[a] : 0));
    counts_[cell][a].units += 1;
    counts_[cell][a].outcomes += outcome ? 1 : 0;
    ++stats_.rows;
    ++stats_.units;
    stats_.memory_bytes = units_->memory_bytes();
    return absl::OkStatus();
  }

  ++stats_.rows;
  uint32_t v = *entry;
  if (v & kExcluded) return absl::OkStatus();
  const uint32_t cell = v >> kCellShift;
  const int other = 1 - a;
  if (options_.design == Evidence::kRandomizedHoldout && (v & kSeen[other])) {
    // Assignment is per unit; one in both arms is a contamination the study cannot attribute.
    counts_[cell][other].units -= 1;
    if (v & kOutcome[other]) counts_[cell][other].outcomes -= 1;
    *entry = (cell << kCellShift) | kExcluded;
    ++stats_.units_in_both_arms;
    return absl::OkStatus();
  }
  if (!(v & kSeen[a])) {
    v |= kSeen[a];
    counts_[cell][a].units += 1;
  }
  if (outcome && !(v & kOutcome[a])) {
    v |= kOutcome[a];
    counts_[cell][a].outcomes += 1;
  }
  *entry = v;
  return absl::OkStatus();
}

absl::Status LiftAccumulator::AddRows(std::span<const LiftRow> rows) {
  // Far enough ahead to cover a memory round trip at a few tens of nanoseconds per row.
  constexpr size_t kAhead = 16;
  const size_t dims = options_.dimensions.size();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (units_ != nullptr && i + kAhead < rows.size()) units_->Prefetch(rows[i + kAhead].unit_hash);
    const LiftRow& r = rows[i];
    RETURN_IF_ERROR(Add(r.unit_hash, r.arm, r.outcome,
                        std::span<const std::string_view>(r.dimension_values.data(), dims)));
  }
  return absl::OkStatus();
}

std::vector<LiftCell> LiftAccumulator::Cells() const {
  std::vector<LiftCell> cells;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i][0].units == 0 && counts_[i][1].units == 0) continue;
    LiftCell cell;
    for (size_t d = 0; d < options_.dimensions.size(); ++d) {
      cell.dimension_values.push_back(interned_->values[d][interned_->cell_keys[i][d]]);
    }
    cell.exposed = counts_[i][0];
    cell.holdout = counts_[i][1];
    cells.push_back(std::move(cell));
  }
  std::sort(cells.begin(), cells.end(), [](const LiftCell& x, const LiftCell& y) {
    return x.dimension_values < y.dimension_values;
  });
  return cells;
}

LiftCell LiftAccumulator::Total() const {
  LiftCell total;
  for (const auto& c : counts_) {
    total.exposed.units += c[0].units;
    total.exposed.outcomes += c[0].outcomes;
    total.holdout.units += c[1].units;
    total.holdout.outcomes += c[1].outcomes;
  }
  return total;
}

absl::StatusOr<LiftResult> CellLift(const LiftCell& cell, Evidence design,
                                    const LiftOptions& options) {
  return design == Evidence::kPrePost ? PrePostLift(cell.exposed, cell.holdout, options)
                                      : CohortLift(cell.exposed, cell.holdout, options);
}

}  // namespace loopgate::analytics
