#include "analytics/suppression.h"

#include <utility>

#include "common/status.h"
#include "common/strings.h"

namespace loopgate::analytics {
namespace {

constexpr int64_t kMaxTotal = int64_t{1} << 53;

// A table as entries (cells and margins alike) and lines: each line is a set of "parts" whose
// sum is its "margin". A 1-D table is one line. A 2-D table is extended to (R+1) × (C+1), the
// row totals in column C and the column totals in row R, the grand total at (R, C): then every
// row and every column of the extended grid is a line, the margin row and column included
// (Σ row totals = Σ column totals = grand total).
class Problem {
 public:
  Problem(std::vector<int64_t> values, const SuppressionOptions& options)
      : values_(std::move(values)),
        status_(values_.size(), Disclosure::kReleased),
        options_(options) {}

  void AddLine(std::vector<size_t> parts, size_t margin) {
    lines_.push_back({std::move(parts), margin});
  }

  // For 2-D: entry i joins vertices a and b of the graph of rows and columns.
  void SetEdges(std::vector<std::pair<size_t, size_t>> edges, size_t vertices) {
    edges_ = std::move(edges);
    vertices_ = vertices;
  }

  std::vector<Disclosure> Solve() {
    for (size_t i = 0; i < values_.size(); ++i) {
      if (IsPrimary(values_[i])) status_[i] = Disclosure::kPrimary;
    }
    while (true) {
      bool changed = false;
      for (const Line& line : lines_) changed |= FixLine(line);
      if (changed) continue;
      if (!edges_.empty() && FixBridge()) continue;
      break;
    }
    return status_;
  }

 private:
  struct Line {
    std::vector<size_t> parts;
    size_t margin;
  };

  bool IsPrimary(int64_t v) const {
    return (v > 0 && v < options_.k) || (v == 0 && options_.suppress_zero);
  }
  bool Suppressed(size_t i) const { return status_[i] != Disclosure::kReleased; }

  // Among `candidates`, the released one with the smallest positive value; failing that, the
  // first released zero. Ties go to the lower index, for a deterministic result.
  template <typename Range>
  std::optional<size_t> Smallest(const Range& candidates) const {
    std::optional<size_t> best, zero;
    for (size_t i : candidates) {
      if (Suppressed(i)) continue;
      if (values_[i] == 0) {
        if (!zero || i < *zero) zero = i;
      } else if (!best || values_[i] < values_[*best] ||
                 (values_[i] == values_[*best] && i < *best)) {
        best = i;
      }
    }
    return best ? best : zero;
  }

  // Enforces one line's two rules; true when it suppressed something.
  bool FixLine(const Line& line) {
    int suppressed = Suppressed(line.margin) ? 1 : 0;
    int64_t sum = 0;
    bool any_part = false;
    for (size_t p : line.parts) {
      if (!Suppressed(p)) continue;
      ++suppressed;
      sum += values_[p];
      any_part = true;
    }
    // A lone suppressed entry is the margin minus the released parts (or their sum). The sum of
    // the suppressed parts is public when the margin is, so it must pass the threshold too.
    const bool small_sum = !Suppressed(line.margin) && any_part &&
                           (sum > 0 ? sum < options_.k : options_.suppress_zero);
    if (suppressed != 1 && !small_sum) return false;
    std::optional<size_t> pick = Smallest(line.parts);
    if (pick && values_[*pick] == 0 && !Suppressed(line.margin)) pick = line.margin;
    if (!pick && !Suppressed(line.margin)) pick = line.margin;
    if (!pick) return false;  // Unreachable: a line with one suppressed entry has another.
    status_[*pick] = Disclosure::kComplementary;
    return true;
  }

  // A suppressed entry is determined by the 2-D system exactly when it is a bridge of the graph
  // whose vertices are the lines and whose edges are the suppressed entries (the null space of
  // the line equations is spanned by its cycles). Suppresses one more entry, closing a cycle
  // through the first bridge; true when it did.
  bool FixBridge() {
    std::vector<std::vector<std::pair<size_t, size_t>>> adj(vertices_);  // (vertex, entry)
    for (size_t e = 0; e < edges_.size(); ++e) {
      if (!Suppressed(e)) continue;
      adj[edges_[e].first].push_back({edges_[e].second, e});
      adj[edges_[e].second].push_back({edges_[e].first, e});
    }
    std::optional<size_t> bridge = FirstBridge(adj);
    if (!bridge) return false;
    // The two sides of the bridge; any released entry from one to the other closes a cycle.
    std::vector<int> side(vertices_, -1);
    auto flood = [&](size_t start, int label) {
      std::vector<size_t> stack{start};
      side[start] = label;
      while (!stack.empty()) {
        const size_t v = stack.back();
        stack.pop_back();
        for (auto [w, e] : adj[v]) {
          if (e == *bridge || side[w] != -1) continue;
          side[w] = label;
          stack.push_back(w);
        }
      }
    };
    flood(edges_[*bridge].first, 0);
    flood(edges_[*bridge].second, 1);
    std::vector<size_t> candidates;
    for (size_t e = 0; e < edges_.size(); ++e) {
      const int a = side[edges_[e].first], b = side[edges_[e].second];
      if (a != -1 && b != -1 && a != b) candidates.push_back(e);
    }
    std::optional<size_t> pick = Smallest(candidates);
    if (!pick) return false;  // Unreachable once every line has 0 or >= 2 suppressed entries.
    status_[*pick] = Disclosure::kComplementary;
    return true;
  }

  // Tarjan's bridge-finding: an edge (v, w) of the DFS tree is a bridge when nothing below w
  // reaches v or above. Iterative, so a table of many rows cannot overflow the stack. Returns
  // the bridge with the lowest entry index.
  std::optional<size_t> FirstBridge(
      const std::vector<std::vector<std::pair<size_t, size_t>>>& adj) const {
    std::vector<int64_t> order(vertices_, -1), low(vertices_, 0);
    std::optional<size_t> best;
    int64_t counter = 0;
    struct Frame {
      size_t vertex;
      size_t via;   // The entry we came in by (SIZE_MAX at a root).
      size_t next;  // The next adjacency to look at.
    };
    std::vector<Frame> stack;
    for (size_t root = 0; root < vertices_; ++root) {
      if (order[root] != -1) continue;
      order[root] = low[root] = counter++;
      stack.push_back({root, SIZE_MAX, 0});
      while (!stack.empty()) {
        Frame& f = stack.back();
        if (f.next < adj[f.vertex].size()) {
          const auto [w, e] = adj[f.vertex][f.next++];
          if (e == f.via) continue;
          if (order[w] == -1) {
            order[w] = low[w] = counter++;
            stack.push_back({w, e, 0});
          } else {
            low[f.vertex] = std::min(low[f.vertex], order[w]);
          }
          continue;
        }
        const Frame done = f;
        stack.pop_back();
        if (stack.empty()) break;
        const size_t parent = stack.back().vertex;
        low[parent] = std::min(low[parent], low[done.vertex]);
        if (low[done.vertex] > order[parent] && (!best || done.via < *best)) best = done.via;
      }
    }
    return best;
  }

  std::vector<int64_t> values_;
  std::vector<Disclosure> status_;
  SuppressionOptions options_;
  std::vector<Line> lines_;
  std::vector<std::pair<size_t, size_t>> edges_;
  size_t vertices_ = 0;
};

absl::Status CheckOptions(const SuppressionOptions& options) {
  if (options.k < 1) return absl::InvalidArgumentError("the suppression threshold k must be >= 1");
  return absl::OkStatus();
}

absl::Status CheckCount(int64_t v) {
  if (v < 0) return absl::InvalidArgumentError("a table count must not be negative");
  return absl::OkStatus();
}

absl::Status AddChecked(int64_t* total, int64_t v) {
  RETURN_IF_ERROR(CheckCount(v));
  *total += v;
  if (*total >= kMaxTotal) {
    return absl::InvalidArgumentError("a table total must be below 2^53");
  }
  return absl::OkStatus();
}

ReleasedCount Release(int64_t value, Disclosure d) {
  ReleasedCount c;
  c.disclosure = d;
  if (d == Disclosure::kReleased) c.value = value;
  return c;
}

ReleasedLiftRow ReleasedRow(const ReleasedCount& eu, const ReleasedCount& eo,
                            const ReleasedCount& hu, const ReleasedCount& ho,
                            const ArmCounts& exposed, const ArmCounts& holdout, Evidence design,
                            const LiftOptions& lift_options, absl::Status* status) {
  ReleasedLiftRow row;
  row.exposed_units = eu;
  row.exposed_outcomes = eo;
  row.holdout_units = hu;
  row.holdout_outcomes = ho;
  auto rate = [&](const ArmCounts& c) -> std::optional<RateEstimate> {
    auto r = WilsonRate(c, lift_options.confidence, lift_options.continuity_correction);
    if (!r.ok()) {
      *status = r.status();
      return std::nullopt;
    }
    return *r;
  };
  if (eu.released() && eo.released()) row.exposed_rate = rate(exposed);
  if (hu.released() && ho.released()) row.holdout_rate = rate(holdout);
  if (row.exposed_rate && row.holdout_rate) {
    auto lift = design == Evidence::kPrePost ? PrePostLift(exposed, holdout, lift_options)
                                             : CohortLift(exposed, holdout, lift_options);
    if (lift.ok()) {
      row.lift = *lift;
    } else {
      *status = lift.status();
    }
  }
  return row;
}

}  // namespace

std::string_view DisclosureName(Disclosure d) {
  switch (d) {
    case Disclosure::kReleased:
      return "released";
    case Disclosure::kPrimary:
      return "suppressed_primary";
    case Disclosure::kComplementary:
      return "suppressed_complementary";
  }
  return "unknown";
}

std::string FormatReleased(const ReleasedCount& count) {
  if (!count.released() || !count.value) return std::string(kSuppressedMarker);
  return common::StrCat(*count.value);
}

absl::StatusOr<ReleasedTable1D> SuppressTable1D(std::span<const int64_t> cells,
                                                const SuppressionOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  int64_t total = 0;
  for (int64_t v : cells) RETURN_IF_ERROR(AddChecked(&total, v));
  std::vector<int64_t> values(cells.begin(), cells.end());
  values.push_back(total);
  std::vector<size_t> parts(cells.size());
  for (size_t i = 0; i < parts.size(); ++i) parts[i] = i;
  Problem problem(values, options);
  problem.AddLine(std::move(parts), cells.size());
  const std::vector<Disclosure> status = problem.Solve();
  ReleasedTable1D out;
  for (size_t i = 0; i < cells.size(); ++i) out.cells.push_back(Release(values[i], status[i]));
  out.total = Release(total, status[cells.size()]);
  return out;
}

absl::StatusOr<ReleasedTable2D> SuppressTable2D(size_t rows, size_t cols,
                                                std::span<const int64_t> cells,
                                                const SuppressionOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  if (rows == 0 || cols == 0 || cells.size() / cols != rows || cells.size() % cols != 0) {
    return absl::InvalidArgumentError(common::StrCat("a 2-D table of ", rows, " x ", cols,
                                                     " needs that many cells, not ", cells.size()));
  }
  const size_t width = cols + 1;
  auto at = [width](size_t r, size_t c) { return r * width + c; };
  std::vector<int64_t> values((rows + 1) * width, 0);
  int64_t grand = 0;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      const int64_t v = cells[r * cols + c];
      RETURN_IF_ERROR(AddChecked(&grand, v));
      values[at(r, c)] = v;
      values[at(r, cols)] += v;
      values[at(rows, c)] += v;
    }
  }
  values[at(rows, cols)] = grand;

  Problem problem(values, options);
  std::vector<std::pair<size_t, size_t>> edges(values.size());
  for (size_t r = 0; r <= rows; ++r) {
    std::vector<size_t> parts;
    for (size_t c = 0; c < cols; ++c) parts.push_back(at(r, c));
    problem.AddLine(std::move(parts), at(r, cols));
  }
  for (size_t c = 0; c <= cols; ++c) {
    std::vector<size_t> parts;
    for (size_t r = 0; r < rows; ++r) parts.push_back(at(r, c));
    problem.AddLine(std::move(parts), at(rows, c));
  }
  // Vertices: rows 0..R, then columns 0..C.
  for (size_t r = 0; r <= rows; ++r) {
    for (size_t c = 0; c <= cols; ++c) edges[at(r, c)] = {r, rows + 1 + c};
  }
  problem.SetEdges(std::move(edges), rows + 1 + cols + 1);
  const std::vector<Disclosure> status = problem.Solve();

  ReleasedTable2D out;
  out.rows = rows;
  out.cols = cols;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c)
      out.cells.push_back(Release(values[at(r, c)], status[at(r, c)]));
    out.row_totals.push_back(Release(values[at(r, cols)], status[at(r, cols)]));
  }
  for (size_t c = 0; c < cols; ++c) {
    out.col_totals.push_back(Release(values[at(rows, c)], status[at(rows, c)]));
  }
  out.grand_total = Release(grand, status[at(rows, cols)]);
  return out;
}

absl::StatusOr<ReleasedLiftTable> ReleaseLiftTable(std::span<const LiftCell> cells, Evidence design,
                                                   const LiftOptions& lift_options,
                                                   const SuppressionOptions& options) {
  if (cells.empty()) return absl::InvalidArgumentError("a lift table needs at least one cell");
  ReleasedTable2D arm_tables[2];
  for (int arm = 0; arm < 2; ++arm) {
    std::vector<int64_t> counts;
    for (const LiftCell& cell : cells) {
      const ArmCounts& c = arm == 0 ? cell.exposed : cell.holdout;
      if (c.outcomes < 0 || c.outcomes > c.units) {
        return absl::InvalidArgumentError("a cell has more outcomes than units");
      }
      counts.push_back(c.outcomes);
      counts.push_back(c.units - c.outcomes);
    }
    ASSIGN_OR_RETURN(arm_tables[arm], SuppressTable2D(cells.size(), 2, counts, options));
  }
  const ReleasedTable2D& e = arm_tables[0];
  const ReleasedTable2D& h = arm_tables[1];
  ReleasedLiftTable out;
  out.evidence = design;
  absl::Status status;
  ArmCounts exposed_total, holdout_total;
  for (size_t i = 0; i < cells.size(); ++i) {
    out.rows.push_back(ReleasedRow(e.row_totals[i], e.cell(i, 0), h.row_totals[i], h.cell(i, 0),
                                   cells[i].exposed, cells[i].holdout, design, lift_options,
                                   &status));
    out.rows.back().dimension_values = cells[i].dimension_values;
    exposed_total.units += cells[i].exposed.units;
    exposed_total.outcomes += cells[i].exposed.outcomes;
    holdout_total.units += cells[i].holdout.units;
    holdout_total.outcomes += cells[i].holdout.outcomes;
  }
  out.total = ReleasedRow(e.grand_total, e.col_totals[0], h.grand_total, h.col_totals[0],
                          exposed_total, holdout_total, design, lift_options, &status);
  RETURN_IF_ERROR(status);
  return out;
}

std::optional<TimeToOutcome> ReleaseTimeToOutcome(const TimeToOutcome& summary,
                                                  const SuppressionOptions& options) {
  auto small = [&](int64_t n) {
    return (n > 0 && n < options.k) || (n == 0 && options.suppress_zero);
  };
  if (small(summary.units) || small(summary.events) || small(summary.units - summary.events)) {
    return std::nullopt;
  }
  return summary;
}

}  // namespace loopgate::analytics
