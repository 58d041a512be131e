// loopgate measure (measure.h, docs/study.md).

#include "study/measure.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "analytics/accumulator.h"
#include "analytics/lift.h"
#include "analytics/privacy_budget.h"
#include "analytics/suppression.h"
#include "analytics/survival.h"
#include "attribution/markov.h"
#include "attribution/models.h"
#include "attribution/paths.h"
#include "common/line_reader.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/time.h"
#include "consent/consent.h"
#include "crypto/crypto.h"
#include "json/json.h"
#include "policy/policy.h"
#include "simdjson.h"
#include "store/store.h"

namespace loopgate::study {

bool IsAnalyticsPurpose(std::string_view purpose) {
  return purpose == "aggregate_analytics" ||
         (purpose.size() > 10 && purpose.substr(purpose.size() - 10) == "_analytics");
}

namespace {

constexpr int64_t kNoTime = INT64_MAX;
constexpr double kDay = 86400.0;

// ---------------------------------------------------------------------------------------------
// Reference tables.

struct Table {
  std::string name, file;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int Column(std::string_view c) const {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == c) return static_cast<int>(i);
    }
    return -1;
  }
};

std::vector<std::string> SplitCsv(std::string_view line) {
  // Plain CSV: fields without quotes or commas (what the reference files hold); quoted fields
  // are unquoted with "" as an escaped quote.
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(std::move(cur));
  return out;
}

absl::StatusOr<Table> ReadTable(const Reference& ref) {
  std::ifstream in(ref.file, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        common::StrCat(ref.file, ": cannot open reference table '", ref.name, "'"));
  }
  Table t;
  t.name = ref.name;
  t.file = ref.file;
  std::string line;
  uint64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields = SplitCsv(line);
    if (t.header.empty()) {
      t.header = std::move(fields);
      continue;
    }
    if (fields.size() != t.header.size()) {
      return absl::InvalidArgumentError(common::StrCat(ref.file, ":", n, ": ", fields.size(),
                                                       " fields where the header has ",
                                                       t.header.size()));
    }
    t.rows.push_back(std::move(fields));
  }
  if (t.header.empty()) {
    return absl::InvalidArgumentError(common::StrCat(ref.file, ":1: no header line"));
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// JSON output.

class Json {
 public:
  std::string out;
  Json& Raw(std::string_view s) {
    Value();
    out.append(s);
    return *this;
  }
  Json& Key(std::string_view k) {
    Comma();
    json::AppendString(k, &out);
    out.push_back(':');
    first_ = true;  // The value follows without a comma.
    pending_value_ = true;
    return *this;
  }
  Json& Str(std::string_view v) {
    Value();
    json::AppendString(v, &out);
    return *this;
  }
  Json& Num(double v) {
    Value();
    if (!std::isfinite(v)) {
      out.append("null");
    } else {
      json::AppendNumber(v, &out);
    }
    return *this;
  }
  Json& Int(int64_t v) {
    Value();
    out.append(std::to_string(v));
    return *this;
  }
  Json& Null() {
    Value();
    out.append("null");
    return *this;
  }
  Json& Bool(bool b) {
    Value();
    out.append(b ? "true" : "false");
    return *this;
  }
  Json& Open(char c) {
    Value();
    out.push_back(c);
    first_ = true;
    return *this;
  }
  Json& Close(char c) {
    out.push_back(c);
    first_ = false;
    return *this;
  }
  // Optional values.
  Json& OptInt(const std::optional<int64_t>& v) { return v ? Int(*v) : Null(); }

 private:
  void Comma() {
    if (!first_) out.push_back(',');
    first_ = false;
  }
  void Value() {
    if (pending_value_) {
      pending_value_ = false;
      first_ = false;
      return;
    }
    Comma();
  }
  bool first_ = true;
  bool pending_value_ = false;
};

// ---------------------------------------------------------------------------------------------
// The measurement.

// A study's event spec, compiled: which fields to read and how to link.
struct Spec {
  const EventSpec* spec = nullptr;
  enum Role : uint8_t { kExposure, kIndex, kOutcome, kTouchpoint } role;
  // Links: value -> population row (or -1), and for link tables the population row via the key.
  const absl::flat_hash_map<std::string, int32_t>* lookup = nullptr;
  bool via_link_table = false;
};

struct UnitState {
  int32_t row = -1;  // Population row (for account/cohort: the first).
  int64_t index = kNoTime;
  std::vector<int64_t> outcomes;
  bool mixed = false;  // Account/cohort with rows of both arms, or patients under two HCPs.
};

struct RowState {
  int64_t first_exposure = kNoTime;
  std::vector<std::pair<int64_t, uint32_t>> touchpoints;  // (time, channel)
};

// Released ratio (governance).
void WriteRatio(Json& j, int64_t num, int64_t den, const analytics::SuppressionOptions& so,
                std::string_view note) {
  j.Open('{');
  const int64_t cells[2] = {num, den - num};
  auto released = analytics::SuppressTable1D(cells, so);
  const bool ok = released.ok() && released->cells[0].released() && released->total.released();
  if (ok) {
    j.Key("numerator").Int(num).Key("denominator").Int(den);
    if (den > 0) {
      j.Key("rate").Num(static_cast<double>(num) / static_cast<double>(den));
    } else {
      j.Key("rate").Null();
    }
    j.Key("suppressed").Null();
  } else {
    const bool primary = num > 0 && num < so.k;
    j.Key("numerator").Null().Key("denominator").Null().Key("rate").Null();
    j.Key("suppressed").Str(primary || (den > 0 && den < so.k) ? "primary" : "complementary");
  }
  j.Key("note").Str(note);
  j.Close('}');
}

void WriteInterval(Json& j, const analytics::Interval& ci) {
  j.Open('[').Num(ci.lower).Num(ci.upper).Close(']');
}

std::string_view SuppressedWord(const analytics::ReleasedCount& c) {
  return c.disclosure == analytics::Disclosure::kPrimary ? "primary" : "complementary";
}

void WriteArm(Json& j, const analytics::ReleasedCount& units,
              const analytics::ReleasedCount& outcomes,
              const std::optional<analytics::RateEstimate>& rate) {
  j.Open('{');
  if (rate && units.released() && outcomes.released()) {
    j.Key("units").Int(*units.value).Key("outcomes").Int(*outcomes.value);
    if (rate->status == analytics::Estimability::kEstimable) {
      j.Key("rate").Num(rate->rate).Key("ci");
      WriteInterval(j, rate->ci);
    } else {
      j.Key("rate").Null().Key("ci").Null();
    }
    j.Key("suppressed").Null();
  } else {
    j.Key("units").Null().Key("outcomes").Null().Key("rate").Null().Key("ci").Null();
    const analytics::ReleasedCount& why = !units.released() ? units : outcomes;
    j.Key("suppressed").Str(why.released() ? "complementary" : SuppressedWord(why));
  }
  j.Close('}');
}

std::string_view CellStatus(const analytics::ReleasedLiftRow& row) {
  if (!row.lift) {
    const bool any_suppressed = !row.exposed_units.released() || !row.exposed_outcomes.released() ||
                                !row.holdout_units.released() || !row.holdout_outcomes.released();
    if (any_suppressed) return "suppressed";
    return "no_units";
  }
  const analytics::LiftResult& l = *row.lift;
  if (l.absolute_lift.status == analytics::Estimability::kNoUnits) return "no_units";
  if (l.test.status == analytics::Estimability::kNoVariance) return "no_variance";
  if (l.relative_lift.status == analytics::Estimability::kZeroBaseline) return "zero_baseline";
  return "estimable";
}

void WriteCell(Json& j, const std::vector<std::string>& dims, const analytics::ReleasedLiftRow& row) {
  j.Open('{').Key("key").Open('{');
  for (size_t i = 0; i < dims.size() && i < row.dimension_values.size(); ++i) {
    j.Key(dims[i]).Str(row.dimension_values[i]);
  }
  j.Close('}');
  j.Key("exposed");
  WriteArm(j, row.exposed_units, row.exposed_outcomes, row.exposed_rate);
  j.Key("comparison");
  WriteArm(j, row.holdout_units, row.holdout_outcomes, row.holdout_rate);
  const std::string_view status = CellStatus(row);
  if (row.lift && row.lift->absolute_lift.status == analytics::Estimability::kEstimable) {
    j.Key("absolute_lift").Open('{').Key("estimate").Num(row.lift->absolute_lift.difference);
    j.Key("ci");
    WriteInterval(j, row.lift->absolute_lift.ci);
    j.Close('}');
  } else {
    j.Key("absolute_lift").Null();
  }
  if (row.lift && row.lift->relative_lift.status == analytics::Estimability::kEstimable) {
    j.Key("relative_lift").Open('{').Key("estimate").Num(row.lift->relative_lift.relative_lift);
    j.Key("ci");
    WriteInterval(j, row.lift->relative_lift.ci);
    j.Close('}');
  } else {
    j.Key("relative_lift").Null();
  }
  if (row.lift && row.lift->test.status == analytics::Estimability::kEstimable) {
    j.Key("p_value").Num(row.lift->test.p_value);
  } else {
    j.Key("p_value").Null();
  }
  j.Key("status").Str(status);
  j.Close('}');
}

std::string Percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * x);
  return buf;
}
std::string Points(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f", 100 * x);
  return buf;
}
std::string PValue(double p) {
  if (p < 0.001) return "p < 0.001";
  char buf[32];
  std::snprintf(buf, sizeof buf, "p = %.3f", p);
  return buf;
}

std::string MonthOf(int64_t seconds) {
  const std::string t = common::FormatRfc3339(common::Instant{seconds, 0});
  return t.substr(0, 7);
}

// Counts released per arm for the DP mode: cells × {outcome, none}, noised.
struct NoisyArms {
  std::vector<analytics::LiftCell> cells;
};

}  // namespace

absl::StatusOr<Measurement> Measure(const Study& study, const MeasureOptions& options) {
  // ---- The state: the sink's file(s) and purpose. Fail closed.
  std::unique_ptr<store::Database> opened;
  if (options.db == nullptr) {
    auto db_or = study.privacy.differential_privacy
                     ? store::Database::OpenExisting(options.state_dir)
                     : store::Database::OpenReadOnly(options.state_dir);
    if (!db_or.ok()) return db_or.status();
    opened = std::move(*db_or);
  }
  store::Database& db = options.db != nullptr ? *options.db : *opened;
  std::vector<std::string> files;
  std::string purpose;
  {
    ASSIGN_OR_RETURN(store::Statement q,
                     db.Prepare("SELECT purpose, output FROM run_sinks WHERE sink = ? ORDER BY run_id"));
    q.Bind(1, study.sink);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      const std::string p(q.Text(0));
      if (!IsAnalyticsPurpose(p)) {
        return absl::FailedPreconditionError(common::StrCat(
            "sink '", study.sink, "' has purpose ", p,
            ", not an analytics purpose: a study may only read what an analytics sink received"));
      }
      purpose = p;
      const std::string out(q.Text(1));
      if (std::find(files.begin(), files.end(), out) == files.end()) files.push_back(out);
    }
  }
  if (files.empty()) {
    return absl::NotFoundError(common::StrCat("the state in ", options.state_dir,
                                              " records no output of sink '", study.sink, "'"));
  }

  // ---- Reference tables.
  std::map<std::string, Table> tables;
  for (const Reference& r : study.references) {
    ASSIGN_OR_RETURN(Table t, ReadTable(r));
    auto need = [&](const std::string& c) -> absl::Status {
      if (t.Column(c) < 0) {
        return absl::InvalidArgumentError(
            common::StrCat(r.file, ":1: reference table '", r.name, "' has no column '", c, "'"));
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(need(r.key));
    if (!r.population_key.empty()) RETURN_IF_ERROR(need(r.population_key));
    tables.emplace(r.name, std::move(t));
  }
  const Table& pop = tables.at(study.population_table);
  const int pop_key_col = pop.Column(study.FindReference(study.population_table)->key);
  auto pop_col = [&](const std::string& c) -> absl::StatusOr<int> {
    const int i = pop.Column(c);
    if (i < 0) {
      return absl::InvalidArgumentError(common::StrCat(pop.file, ":1: population table '",
                                                       pop.name, "' has no column '", c, "'"));
    }
    return i;
  };
  absl::flat_hash_map<std::string, int32_t> pop_by_key;
  for (size_t i = 0; i < pop.rows.size(); ++i) {
    if (!pop_by_key.emplace(pop.rows[i][pop_key_col], static_cast<int32_t>(i)).second) {
      return absl::InvalidArgumentError(common::StrCat(pop.file, ": key '", pop.header[pop_key_col],
                                                       "' is not unique (row ", i + 2, ")"));
    }
  }
  // Population membership.
  std::vector<bool> in_pop(pop.rows.size(), true);
  for (const Filter& f : study.population_where) {
    ASSIGN_OR_RETURN(int c, pop_col(f.field));
    for (size_t i = 0; i < pop.rows.size(); ++i) {
      if (std::find(f.values.begin(), f.values.end(), pop.rows[i][c]) == f.values.end()) {
        in_pop[i] = false;
      }
    }
  }
  // Lookups per (table, column).
  std::map<std::pair<std::string, std::string>, absl::flat_hash_map<std::string, int32_t>> lookups;
  auto build_lookup = [&](const Link& link) -> absl::Status {
    auto key = std::make_pair(link.table, link.column);
    if (lookups.count(key)) return absl::OkStatus();
    const Table& t = tables.at(link.table);
    const Reference* ref = study.FindReference(link.table);
    const int c = t.Column(link.column);
    if (c < 0) {
      return absl::InvalidArgumentError(common::StrCat(t.file, ":1: reference table '", t.name,
                                                       "' has no column '", link.column, "'"));
    }
    auto& m = lookups[key];
    const int via = ref->population_key.empty() ? -1 : t.Column(ref->population_key);
    for (const auto& row : t.rows) {
      int32_t target;
      if (via < 0) {
        target = pop_by_key.at(row[pop_key_col]);
      } else {
        auto it = pop_by_key.find(row[via]);
        target = it == pop_by_key.end() ? -1 : it->second;
      }
      m.emplace(row[c], target);
    }
    return absl::OkStatus();
  };

  std::vector<Spec> specs;
  auto add_spec = [&](const EventSpec& e, Spec::Role role) -> absl::Status {
    RETURN_IF_ERROR(build_lookup(e.link));
    Spec s;
    s.spec = &e;
    s.role = role;
    s.lookup = &lookups.at({e.link.table, e.link.column});
    s.via_link_table = !study.FindReference(e.link.table)->population_key.empty();
    specs.push_back(s);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(add_spec(study.exposure, Spec::kExposure));
  if (study.has_index) RETURN_IF_ERROR(add_spec(study.index, Spec::kIndex));
  RETURN_IF_ERROR(add_spec(study.outcome, Spec::kOutcome));
  if (study.attribution.enabled) RETURN_IF_ERROR(add_spec(study.attribution.touchpoint, Spec::kTouchpoint));

  // Assignment and units.
  int arm_col = -1;
  if (study.design == Design::kRandomizedHoldout &&
      study.assignment.kind == Assignment::Kind::kColumn) {
    ASSIGN_OR_RETURN(arm_col, pop_col(study.assignment.column));
  }
  std::vector<int> dim_cols;
  for (const std::string& d : study.dimensions) {
    if (d == "month") {
      dim_cols.push_back(-1);
    } else {
      ASSIGN_OR_RETURN(int c, pop_col(d));
      dim_cols.push_back(c);
    }
  }
  int unit_col = pop_key_col;
  if (study.unit == Unit::kAccount || study.unit == Unit::kCohort) {
    ASSIGN_OR_RETURN(unit_col, pop_col(study.unit_column));
  }
  std::vector<UnitState> units;
  absl::flat_hash_map<std::string, uint32_t> unit_by_key;
  std::vector<std::string> unit_keys;
  std::vector<int32_t> unit_of_row(pop.rows.size(), -1);
  std::vector<std::vector<int32_t>> rows_of_unit;
  if (study.unit != Unit::kPatientToken) {
    for (size_t i = 0; i < pop.rows.size(); ++i) {
      if (!in_pop[i]) continue;
      const std::string& k = pop.rows[i][unit_col];
      auto [it, inserted] = unit_by_key.emplace(k, static_cast<uint32_t>(units.size()));
      if (inserted) {
        units.push_back({});
        units.back().row = static_cast<int32_t>(i);
        unit_keys.push_back(k);
        rows_of_unit.emplace_back();
      }
      unit_of_row[i] = static_cast<int32_t>(it->second);
      rows_of_unit[it->second].push_back(static_cast<int32_t>(i));
    }
  }
  std::vector<RowState> row_state(pop.rows.size());
  attribution::ChannelTable channel_names;
  absl::flat_hash_map<std::string, uint32_t> channel_ids;

  // ---- Stream the sink file(s).
  std::set<std::string> types;
  for (const Spec& s : specs) types.insert(s.spec->event_type);
  int64_t study_rows = 0, unmatched_rows = 0;
  uint64_t rows_read = 0;
  simdjson::ondemand::parser parser;
  std::vector<std::pair<std::string, std::string>> fields;  // (name, value) wanted per row
  for (const std::string& file : files) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // A run that delivered nothing to this sink.
      return absl::UnavailableError(common::StrCat("cannot open ", file, ": ", std::strerror(errno)));
    }
    common::LineReader reader(fd, size_t{1} << 24);
    common::Line line;
    absl::Status failure;
    while (true) {
      auto more = reader.Next(&line);
      if (!more.ok()) {
        failure = more.status();
        break;
      }
      if (!*more) break;
      if (line.text.empty() || line.oversized) continue;
      ++rows_read;
      // Cheap pre-filter on the type before parsing.
      const size_t tp = line.text.find("\"type\":\"");
      if (tp == std::string_view::npos) continue;
      const size_t ts = tp + 8;
      const size_t te = line.text.find('"', ts);
      if (te == std::string_view::npos) continue;
      const std::string_view type = line.text.substr(ts, te - ts);
      bool wanted = false;
      for (const Spec& s : specs) wanted |= s.spec->event_type == type;
      if (!wanted) continue;

      auto bad = [&](std::string_view what) {
        return absl::InvalidArgumentError(
            common::StrCat(file, ":", line.number, ": sink row ", what));
      };
      simdjson::ondemand::document doc;
      if (parser.iterate(line.text.data(), line.text.size(), line.text.size() + common::kLinePadding)
              .get(doc)) {
        return bad("is not JSON");
      }
      std::string_view time_text;
      int64_t t = 0;
      fields.clear();
      simdjson::ondemand::object obj;
      if (doc.get_object().get(obj)) return bad("is not an object");
      bool have_time = false, have_data = false;
      for (auto field : obj) {
        std::string_view key;
        if (field.unescaped_key().get(key)) return bad("has a bad key");
        if (key == "time") {
          if (field.value().get_string().get(time_text)) return bad("has a bad time");
          const auto instant = common::ParseRfc3339(time_text);
          if (!instant) return bad("has a bad time");
          t = instant->seconds;
          have_time = true;
        } else if (key == "data") {
          simdjson::ondemand::object data;
          if (field.value().get_object().get(data)) return bad("has no data object");
          for (auto df : data) {
            std::string_view dk;
            if (df.unescaped_key().get(dk)) return bad("has a bad key");
            bool need = false;
            for (const Spec& s : specs) {
              if (s.spec->event_type != type) continue;
              if (s.spec->link.field == dk) need = true;
              for (const Filter& f : s.spec->where) need |= f.field == dk;
              if (s.role == Spec::kTouchpoint && study.attribution.channel_field == dk) need = true;
            }
            if (!need) continue;
            simdjson::ondemand::value v;
            if (df.value().get(v)) return bad("has a bad value");
            std::string_view sv;
            simdjson::ondemand::json_type jt;
            if (v.type().get(jt)) return bad("has a bad value");
            if (jt == simdjson::ondemand::json_type::string) {
              if (v.get_string().get(sv)) return bad("has a bad string");
              fields.emplace_back(std::string(dk), std::string(sv));
            } else {
              std::string_view raw = v.raw_json_token();
              while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n')) raw.remove_suffix(1);
              fields.emplace_back(std::string(dk), std::string(raw));
            }
          }
          have_data = true;
        }
      }
      if (!have_time || !have_data) return bad("lacks time or data");
      auto value_of = [&](const std::string& f) -> const std::string* {
        for (const auto& [k, v] : fields) {
          if (k == f) return &v;
        }
        return nullptr;
      };
      bool counted = false, matched_any = false;
      for (const Spec& s : specs) {
        if (s.spec->event_type != type) continue;
        bool pass = true;
        for (const Filter& f : s.spec->where) {
          const std::string* v = value_of(f.field);
          if (v == nullptr || std::find(f.values.begin(), f.values.end(), *v) == f.values.end()) {
            pass = false;
            break;
          }
        }
        if (!pass) continue;
        if (!counted) {
          counted = true;
          ++study_rows;
        }
        const std::string* lv = value_of(s.spec->link.field);
        if (lv == nullptr) continue;
        auto it = s.lookup->find(*lv);
        if (it == s.lookup->end() || it->second < 0) continue;
        matched_any = true;
        const int32_t row = it->second;
        switch (s.role) {
          case Spec::kExposure:
            if (t < study.window_to) {
              row_state[row].first_exposure = std::min(row_state[row].first_exposure, t);
            }
            break;
          case Spec::kTouchpoint: {
            if (!in_pop[row] || t < study.window_from || t >= study.window_to) break;
            const std::string* ch = value_of(study.attribution.channel_field);
            if (ch == nullptr) break;
            auto [cit, added] = channel_ids.emplace(*ch, static_cast<uint32_t>(channel_ids.size()));
            row_state[row].touchpoints.emplace_back(t, cit->second);
            break;
          }
          case Spec::kIndex:
          case Spec::kOutcome: {
            if (!in_pop[row]) break;
            int32_t u = -1;
            if (study.unit == Unit::kPatientToken) {
              auto [uit, inserted] = unit_by_key.emplace(*lv, static_cast<uint32_t>(units.size()));
              if (inserted) {
                units.push_back({});
                units.back().row = row;
                unit_keys.push_back(*lv);
                rows_of_unit.push_back({row});
              } else if (units[uit->second].row != row) {
                units[uit->second].mixed = true;
              }
              u = static_cast<int32_t>(uit->second);
            } else {
              u = unit_of_row[row];
            }
            if (u < 0) break;
            UnitState& us = units[u];
            if (s.role == Spec::kIndex) {
              if (t >= study.window_from && t < study.window_to) us.index = std::min(us.index, t);
            } else {
              us.outcomes.push_back(t);
            }
            break;
          }
        }
      }
      if (counted && !matched_any) ++unmatched_rows;
    }
    ::close(fd);
    if (!failure.ok()) return failure;
  }

  // ---- Per unit: arm, exposure, outcome, time.
  analytics::AccumulatorOptions acc_options;
  acc_options.design = study.design == Design::kPrePost ? analytics::Evidence::kPrePost
                                                        : analytics::Evidence::kRandomizedHoldout;
  acc_options.dedup = analytics::UnitDedup::kOneRowPerUnit;
  acc_options.dimensions = study.dimensions;
  ASSIGN_OR_RETURN(analytics::LiftAccumulator acc, analytics::LiftAccumulator::Create(acc_options));
  std::vector<analytics::LiftAccumulator> by_dim;
  for (const std::string& d : study.dimensions) {
    analytics::AccumulatorOptions o = acc_options;
    o.dimensions = {d};
    ASSIGN_OR_RETURN(analytics::LiftAccumulator a, analytics::LiftAccumulator::Create(o));
    by_dim.push_back(std::move(a));
  }
  analytics::SurvivalAccumulator survival[2];
  std::vector<attribution::Journey> journeys;
  // Channel names in id order.
  std::vector<std::string> channel_by_id(channel_ids.size());
  for (const auto& [name, id] : channel_ids) channel_by_id[id] = name;
  std::vector<int64_t> channel_units(channel_ids.size(), 0);

  for (size_t u = 0; u < units.size(); ++u) {
    UnitState& us = units[u];
    if (us.mixed) continue;
    if (study.has_index && us.index == kNoTime) continue;
    const std::vector<int32_t>& rows = rows_of_unit[u];
    // Arm.
    analytics::Arm arm = analytics::Arm::kExposed;
    bool treatment = true;
    if (study.design == Design::kRandomizedHoldout) {
      if (study.assignment.kind == Assignment::Kind::kColumn) {
        int seen = 0;  // bit 0 treatment, bit 1 holdout, bit 2 neither
        for (int32_t r : rows) {
          const std::string& v = pop.rows[r][arm_col];
          seen |= v == study.assignment.exposed_value   ? 1
                  : v == study.assignment.holdout_value ? 2
                                                        : 4;
        }
        if (seen != 1 && seen != 2) continue;
        treatment = seen == 1;
      } else {
        const crypto::Digest d = crypto::Sha256(study.assignment.salt + ":" + unit_keys[u]);
        uint64_t x = 0;
        for (int i = 0; i < 8; ++i) x = (x << 8) | d[i];
        treatment = static_cast<double>(x) / 18446744073709551616.0 >= study.assignment.holdout_share;
      }
    }
    int64_t first_exposure = kNoTime;
    for (int32_t r : rows) first_exposure = std::min(first_exposure, row_state[r].first_exposure);
    const bool exposed = first_exposure != kNoTime && (!study.has_index || first_exposure <= us.index);
    if (study.design == Design::kRandomizedHoldout) {
      if (treatment && !exposed && study.compare == Compare::kExposedVsHoldout) continue;
      arm = treatment ? analytics::Arm::kExposed : analytics::Arm::kHoldout;
    } else if (!exposed) {
      continue;  // Pre/post: the exposed units, before and after.
    }
    const int64_t origin = study.has_index ? us.index : study.window_from;
    int64_t end = study.window_to;
    if (study.has_index && study.outcome_within > 0) end = origin + study.outcome_within;
    int64_t first_outcome = kNoTime;
    bool pre_outcome = false;
    for (int64_t t : us.outcomes) {
      if (t >= origin && t < end) first_outcome = std::min(first_outcome, t);
      if (study.design == Design::kPrePost && t >= study.pre_from && t < study.pre_to) pre_outcome = true;
    }
    const bool outcome = first_outcome != kNoTime;
    std::array<std::string_view, analytics::kMaxDimensions> dims{};
    std::string month = study.has_index ? MonthOf(us.index) : "";
    for (size_t d = 0; d < dim_cols.size(); ++d) {
      dims[d] = dim_cols[d] < 0 ? std::string_view(month)
                                : std::string_view(pop.rows[us.row][dim_cols[d]]);
    }
    const std::span<const std::string_view> dim_span(dims.data(), dim_cols.size());
    RETURN_IF_ERROR(acc.Add(u, arm, outcome, dim_span));
    for (size_t d = 0; d < by_dim.size(); ++d) {
      RETURN_IF_ERROR(by_dim[d].Add(u, arm, outcome, std::span<const std::string_view>(&dims[d], 1)));
    }
    if (study.design == Design::kPrePost) {
      RETURN_IF_ERROR(acc.Add(u, analytics::Arm::kHoldout, pre_outcome, dim_span));
      for (size_t d = 0; d < by_dim.size(); ++d) {
        RETURN_IF_ERROR(by_dim[d].Add(u, analytics::Arm::kHoldout, pre_outcome,
                                      std::span<const std::string_view>(&dims[d], 1)));
      }
    }
    // Time to outcome, in hours expressed as days.
    const int64_t stop = outcome ? first_outcome : end;
    const double days = std::ceil(static_cast<double>(stop - origin) / 3600.0) / 24.0;
    RETURN_IF_ERROR(survival[static_cast<int>(arm)].Add(std::max(0.0, days), outcome));
    // Journey.
    if (study.attribution.enabled) {
      const int64_t cutoff = outcome ? first_outcome : end;
      attribution::Journey j;
      std::vector<std::pair<int64_t, uint32_t>> tps;
      for (int32_t r : rows) {
        for (const auto& tp : row_state[r].touchpoints) {
          if (tp.first < cutoff) tps.push_back(tp);
        }
      }
      std::sort(tps.begin(), tps.end());
      std::vector<bool> seen(channel_ids.size(), false);
      for (const auto& [t, ch] : tps) {
        j.touchpoints.push_back(ch);
        j.times.push_back(absl::FromUnixSeconds(t));
        if (!seen[ch]) {
          seen[ch] = true;
          ++channel_units[ch];
        }
      }
      if (!j.touchpoints.empty()) {
        j.conversions = outcome ? 1 : 0;
        j.value = outcome ? 1 : 0;
        j.nulls = outcome ? 0 : 1;
        journeys.push_back(std::move(j));
      }
    }
  }

  // ---- Release.
  analytics::SuppressionOptions so;
  so.k = study.privacy.k;
  so.suppress_zero = study.privacy.suppress_zero;
  const analytics::Evidence evidence = acc_options.design;
  std::string epsilon_spent_json = "null", epsilon_remaining_json = "null";
  int64_t cells_released = 0, primary = 0, complementary = 0;
  auto tally = [&](const analytics::ReleasedCount& c) {
    if (c.released()) {
      ++cells_released;
    } else if (c.disclosure == analytics::Disclosure::kPrimary) {
      ++primary;
    } else {
      ++complementary;
    }
  };
  auto tally_row = [&](const analytics::ReleasedLiftRow& r) {
    tally(r.exposed_units);
    tally(r.exposed_outcomes);
    tally(r.holdout_units);
    tally(r.holdout_outcomes);
  };

  std::vector<analytics::LiftCell> overall_cells = {acc.Total()};
  std::vector<std::vector<analytics::LiftCell>> dim_cells;
  for (auto& a : by_dim) dim_cells.push_back(a.Cells());
  const bool dp = study.privacy.differential_privacy;
  std::unique_ptr<analytics::RandomSource> rng;
  if (dp) {
    if (options.dp_seed != 0) {
      rng = std::make_unique<analytics::SeededRandom>(options.dp_seed);
    } else {
      rng = std::make_unique<analytics::SystemRandom>();
    }
    analytics::PrivacyBudget budget(db);
    RETURN_IF_ERROR(budget.Open(study.id, study.privacy.budget));
    // One histogram per released table (overall, then each dimension): cells × arms ×
    // {outcome, none}. Each unit is in one count of it, so its sensitivity is 1 and one charge
    // covers it (parallel composition); the tables compose sequentially. In pre/post a unit is
    // in both periods: each period is its own histogram and charge.
    const bool pre_post = study.design == Design::kPrePost;
    const size_t releases = (1 + dim_cells.size()) * (pre_post ? 2 : 1);
    {
      ASSIGN_OR_RETURN(analytics::BudgetStatus bs, budget.Balance(study.id));
      if (bs.remaining + 1e-12 < study.privacy.epsilon) {
        return absl::FailedPreconditionError(common::StrCat(
            "the privacy budget of study ", study.id, " is spent: ", bs.spent, " of ", bs.total,
            " used, this run needs ", study.privacy.epsilon, "; nothing was released"));
      }
    }
    // Shares in whole nano-epsilon, the last taking the remainder, so that a run spends exactly
    // the study's epsilon.
    const double total_nano = std::round(study.privacy.epsilon / analytics::kEpsilonUnit);
    const double share_nano = std::floor(total_nano / static_cast<double>(releases));
    size_t done = 0;
    auto charge = [&]() {
      ++done;
      return (done == releases ? total_nano - share_nano * static_cast<double>(releases - 1)
                               : share_nano) *
             analytics::kEpsilonUnit;
    };
    auto noise = [&](std::vector<analytics::LiftCell>& cells, std::string_view label) -> absl::Status {
      for (int arm = 0; arm < (pre_post ? 2 : 1); ++arm) {
        std::vector<int64_t> counts;
        for (const auto& c : cells) {
          if (!pre_post || arm == 0) {
            counts.push_back(c.exposed.outcomes);
            counts.push_back(c.exposed.units - c.exposed.outcomes);
          }
          if (!pre_post || arm == 1) {
            counts.push_back(c.holdout.outcomes);
            counts.push_back(c.holdout.units - c.holdout.outcomes);
          }
        }
        ASSIGN_OR_RETURN(std::vector<int64_t> noisy,
                         analytics::NoisyCounts(budget, study.id, counts, charge(),
                                                pre_post ? common::StrCat(label, arm == 0 ? ", post" : ", pre")
                                                         : std::string(label),
                                                options.at, *rng));
        const size_t per = pre_post ? 2 : 4;
        for (size_t i = 0; i < cells.size(); ++i) {
          const int64_t* n = noisy.data() + per * i;
          auto pair = [](int64_t with, int64_t without) {
            with = std::max<int64_t>(0, with);
            without = std::max<int64_t>(0, without);
            return analytics::ArmCounts{with + without, with};
          };
          if (!pre_post) {
            cells[i].exposed = pair(n[0], n[1]);
            cells[i].holdout = pair(n[2], n[3]);
          } else if (arm == 0) {
            cells[i].exposed = pair(n[0], n[1]);
          } else {
            cells[i].holdout = pair(n[0], n[1]);
          }
        }
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(noise(overall_cells, "overall"));
    for (size_t d = 0; d < dim_cells.size(); ++d) {
      RETURN_IF_ERROR(noise(dim_cells[d], common::StrCat("by ", study.dimensions[d])));
    }
    ASSIGN_OR_RETURN(analytics::BudgetStatus bs, budget.Balance(study.id));
    epsilon_spent_json.clear();
    json::AppendNumber(bs.spent, &epsilon_spent_json);
    epsilon_remaining_json.clear();
    json::AppendNumber(bs.remaining, &epsilon_remaining_json);
  }
  analytics::SuppressionOptions release_so = so;
  if (dp) release_so.k = 1;  // The noise protects the counts; no suppression on top.
  ASSIGN_OR_RETURN(analytics::ReleasedLiftTable overall,
                   analytics::ReleaseLiftTable(overall_cells, evidence, {}, release_so));
  std::vector<analytics::ReleasedLiftTable> dim_tables;
  for (auto& cells : dim_cells) {
    if (cells.empty()) continue;
    ASSIGN_OR_RETURN(analytics::ReleasedLiftTable t,
                     analytics::ReleaseLiftTable(cells, evidence, {}, release_so));
    dim_tables.push_back(std::move(t));
  }
  tally_row(overall.total);
  for (const auto& t : dim_tables) {
    for (const auto& r : t.rows) tally_row(r);
  }

  // ---- JSON.
  Json j;
  j.Open('{');
  j.Key("format").Str(kResultFormat);
  j.Key("study").Open('{');
  j.Key("id").Str(study.id).Key("title").Str(study.title).Key("question").Str(study.question);
  j.Key("file_sha256").Str(study.file_sha256);
  j.Key("design").Str(DesignName(study.design)).Key("unit").Str(UnitName(study.unit));
  j.Key("window").Open('{').Key("from").Str(study.window_from_text).Key("to").Str(study.window_to_text).Close('}');
  j.Key("exposure").Str(study.ExposureText()).Key("outcome").Str(study.OutcomeText());
  j.Key("dimensions").Open('[');
  for (const auto& d : study.dimensions) j.Str(d);
  j.Close(']').Close('}');
  j.Key("run").Open('{').Key("at").Str(options.at).Key("by").Str(options.actor);
  j.Key("analytics_rows_read").Int(static_cast<int64_t>(rows_read)).Key("sink").Str(study.sink);
  // LEDGER: the ledger entry recording this release goes here once the ledger API exists.
  if (options.ledger_seq) {
    j.Key("ledger_seq").Int(*options.ledger_seq).Close('}');
  } else {
    j.Key("ledger_seq").Null().Close('}');
  }

  // Answer.
  std::string answer;
  {
    const analytics::ReleasedLiftRow& r = overall.total;
    const std::string who = study.design == Design::kPrePost ? "After exposure" : "Exposed units";
    if (!r.lift || r.lift->absolute_lift.status != analytics::Estimability::kEstimable) {
      answer = "No answer can be released: the overall counts are too small or suppressed.";
    } else {
      const analytics::LiftResult& l = *r.lift;
      const bool sig = l.test.status == analytics::Estimability::kEstimable && l.test.p_value < 0.05;
      const double d = l.absolute_lift.difference;
      const std::string rates = common::StrCat(Percent(l.exposed.rate), " vs ", Percent(l.comparison.rate),
                                               ", ", Points(d), " points (95% CI ",
                                               Points(l.absolute_lift.ci.lower), " to ",
                                               Points(l.absolute_lift.ci.upper), "), ",
                                               l.test.status == analytics::Estimability::kEstimable
                                                   ? PValue(l.test.p_value)
                                                   : std::string("no test"));
      const std::string against = study.design == Design::kPrePost ? "before" : "the holdout";
      if (!sig) {
        answer = common::StrCat("No significant difference: ", who, " had the outcome at ", rates,
                                " against ", against, ".");
      } else {
        answer = common::StrCat(who, " had the outcome ", d > 0 ? "more" : "less", " often than ",
                                against, ": ", rates, ".");
      }
      if (study.design == Design::kPrePost) answer += " Pre/post: weaker evidence.";
    }
  }
  j.Key("answer").Str(answer);

  j.Key("privacy").Open('{').Key("k").Int(study.privacy.k).Key("suppress_zero").Bool(study.privacy.suppress_zero);
  j.Key("mode").Str(dp ? "differential_privacy" : "suppression");
  j.Key("epsilon_spent").Raw(epsilon_spent_json);
  j.Key("epsilon_remaining").Raw(epsilon_remaining_json);
  j.Key("cells_released").Int(cells_released).Key("suppressed_primary").Int(primary);
  j.Key("suppressed_complementary").Int(complementary).Close('}');

  j.Key("lift").Open('{').Key("evidence").Str(analytics::EvidenceName(evidence));
  j.Key("caveat").Str(analytics::EvidenceCaveat(evidence)).Key("confidence").Num(0.95);
  j.Key("overall");
  WriteCell(j, {}, overall.total);
  j.Key("by").Open('[');
  for (size_t d = 0; d < dim_tables.size(); ++d) {
    j.Open('{').Key("dimension").Str(study.dimensions[d]).Key("cells").Open('[');
    for (const auto& r : dim_tables[d].rows) WriteCell(j, {study.dimensions[d]}, r);
    j.Close(']').Close('}');
  }
  j.Close(']').Close('}');

  // Time to outcome. An arm's units and outcomes are the same counts as its row in the overall
  // lift table, so they are released only where that table released them: otherwise they
  // would undo its (complementary) suppression.
  const analytics::ReleasedLiftRow& total_row = overall.total;
  const bool arm_released[2] = {
      total_row.exposed_units.released() && total_row.exposed_outcomes.released(),
      total_row.holdout_units.released() && total_row.holdout_outcomes.released()};
  j.Key("time_to_outcome").Open('{').Key("time_unit").Str("days").Key("groups").Open('[');
  for (int a = 0; a < 2; ++a) {
    const analytics::KaplanMeierCurve curve = survival[a].Curve();
    j.Open('{').Key("arm").Str(a == 0 ? "exposed" : "comparison");
    std::optional<analytics::TimeToOutcome> released;
    if (!dp && arm_released[a]) {
      auto summary = analytics::SummarizeTimeToOutcome(curve);
      if (summary.ok()) released = analytics::ReleaseTimeToOutcome(*summary, so);
    }
    if (!released) {
      j.Key("units").Null().Key("outcomes").Null();
      j.Key("suppressed").Str(dp                ? "primary"
                              : !arm_released[a] ? "complementary"
                                                 : "small_group");
      j.Key("median").Null().Key("quantiles").Open('[').Close(']').Key("curve").Open('[').Close(']');
    } else {
      j.Key("units").Int(released->units).Key("outcomes").Int(released->events).Key("suppressed").Null();
      const analytics::QuantileEstimate& m = released->median;
      if (m.status == analytics::Estimability::kEstimable) {
        j.Key("median").Open('{').Key("estimate").Num(m.time).Key("ci").Open('[');
        if (m.ci_status == analytics::Estimability::kEstimable) {
          j.Num(m.ci.lower);
          if (m.upper_bounded) {
            j.Num(m.ci.upper);
          } else {
            j.Null();
          }
        } else {
          j.Null().Null();
        }
        j.Close(']').Key("reached").Bool(true).Close('}');
      } else {
        j.Key("median").Open('{').Key("estimate").Null().Key("ci").Open('[').Null().Null().Close(']');
        j.Key("reached").Bool(false).Close('}');
      }
      j.Key("quantiles").Open('[');
      for (const auto& q : released->quantiles) {
        j.Open('{').Key("p").Num(q.p).Key("estimate");
        if (q.status == analytics::Estimability::kEstimable) {
          j.Num(q.time);
        } else {
          j.Null();
        }
        j.Close('}');
      }
      j.Close(']');
      // The curve at whole days, only while at least k units are at risk, and a point only
      // once at least k outcomes have happened since the previous one: a step of one day holds
      // the outcomes of that day, and fewer than k of them would be a small cell.
      j.Key("curve").Open('[');
      j.Open('{').Key("t").Int(0).Key("survival").Num(1.0).Key("at_risk").Int(curve.units).Close('}');
      double last_day = 0;
      int64_t outcomes_since_point = 0;
      for (size_t i = 0; i < curve.steps.size(); ++i) {
        const auto& s = curve.steps[i];
        if (s.at_risk < so.k) break;
        outcomes_since_point += s.events;
        const double day = std::ceil(s.time);
        const bool last_of_day = i + 1 == curve.steps.size() || std::ceil(curve.steps[i + 1].time) != day ||
                                 curve.steps[i + 1].at_risk < so.k;
        if (!last_of_day || day == last_day || outcomes_since_point < so.k) continue;
        last_day = day;
        outcomes_since_point = 0;
        j.Open('{').Key("t").Num(day).Key("survival").Num(s.survival).Key("at_risk").Int(s.at_risk).Close('}');
      }
      j.Close(']');
    }
    j.Close('}');
  }
  j.Close(']').Close('}');

  // Attribution.
  j.Key("attribution").Open('{');
  {
    int64_t conversions = 0;
    for (const auto& jr : journeys) conversions += static_cast<int64_t>(jr.conversions);
    const int64_t n = static_cast<int64_t>(journeys.size());
    // Journeys and conversions are counts of the study's units: released only when the
    // overall lift table released both arms, so they cannot be combined with it to derive a
    // count it withheld.
    const bool release = study.attribution.enabled && !dp && arm_released[0] && arm_released[1] &&
                         n >= so.k &&
                         (conversions == 0 || conversions >= so.k) &&
                         (n - conversions == 0 || n - conversions >= so.k);
    j.Key("journeys").Int(release ? n : 0).Key("conversions").Int(release ? conversions : 0);
    // Channels touched by fewer than k units are merged into "(other)".
    std::vector<std::string> names(channel_by_id.size());
    std::vector<std::string> suppressed_channels;
    for (size_t c = 0; c < channel_by_id.size(); ++c) {
      if (channel_units[c] < so.k) {
        names[c] = "(other)";
        suppressed_channels.push_back(channel_by_id[c]);
      } else {
        names[c] = channel_by_id[c];
      }
    }
    std::sort(suppressed_channels.begin(), suppressed_channels.end());
    attribution::PathAggregator agg;
    std::vector<attribution::Journey> mapped;
    if (release) {
      std::vector<attribution::ChannelId> map(names.size());
      for (size_t c = 0; c < names.size(); ++c) map[c] = agg.channels().Intern(names[c]);
      for (const auto& jr : journeys) {
        attribution::Journey m = jr;
        for (auto& ch : m.touchpoints) ch = map[ch];
        RETURN_IF_ERROR(agg.Add(m));
        mapped.push_back(std::move(m));
      }
    }
    attribution::PathSet set = agg.Finish();
    const std::vector<attribution::ChannelId> order = set.channels().ByName();
    j.Key("channels").Open('[');
    for (auto id : order) j.Str(set.channels().name(id));
    j.Close(']');
    j.Key("suppressed_channels").Open('[');
    for (const auto& c : suppressed_channels) j.Str(c);
    j.Close(']');
    j.Key("models").Open('[');
    if (release && set.size() > 0) {
      auto write_model = [&](std::string_view name, const attribution::Attribution& a,
                             const attribution::MarkovResult* mk) {
        j.Open('{').Key("model").Str(name).Key("base_conversion_probability");
        if (mk) {
          j.Num(mk->conversion_probability);
        } else {
          j.Null();
        }
        j.Key("channels").Open('[');
        for (auto id : order) {
          j.Open('{').Key("channel").Str(set.channels().name(id));
          j.Key("conversions").Num(a[id].conversions).Key("value").Num(a[id].value);
          j.Key("removal_effect");
          if (mk) {
            j.Num(mk->removal_effect[id]);
          } else {
            j.Null();
          }
          j.Close('}');
        }
        j.Close(']').Close('}');
      };
      write_model("first_touch", attribution::FirstTouch(set), nullptr);
      write_model("last_touch", attribution::LastTouch(set), nullptr);
      write_model("linear", attribution::Linear(set), nullptr);
      ASSIGN_OR_RETURN(attribution::Attribution td,
                       attribution::TimeDecayByTime(mapped,
                                                    absl::Seconds(study.attribution.half_life_days * kDay),
                                                    set.channels().size()));
      write_model("time_decay", td, nullptr);
      write_model("position_based", attribution::PositionBased(set), nullptr);
      for (int order_n = 1; order_n <= study.attribution.max_markov_order; ++order_n) {
        ASSIGN_OR_RETURN(attribution::MarkovResult mk, attribution::Markov(set, order_n));
        write_model(common::StrCat("markov_", order_n), mk.attribution, &mk);
      }
      if (set.channels().size() <= attribution::kMaxShapleyChannels) {
        ASSIGN_OR_RETURN(attribution::Attribution sh, attribution::Shapley(set));
        write_model("shapley", sh, nullptr);
      }
    }
    j.Close(']');
  }
  j.Close('}');

  // Governance.
  j.Key("governance").Open('{');
  {
    // From the consent registry, decided by the engine's own consent code (as `consent show`
    // and the router decide): each patient subject (the sink's consent-required type) the
    // registry knows by the window's end, for the sink's purpose, as of the window's start and
    // as of its end.
    int64_t subjects = 0, covered = 0, with_consent = 0, revoked = 0;
    const common::Instant from{study.window_from, 0}, to{study.window_to, 0};
    consent::ConsentView at_start(db, from), at_end(db, to);
    ASSIGN_OR_RETURN(store::Statement q,
                     db.Prepare("SELECT DISTINCT subject_id FROM consents WHERE subject_type = "
                                "'patient' AND recorded_s <= ? ORDER BY subject_id"));
    q.Bind(1, study.window_to);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      const std::string_view subject = q.Text(0);
      ++subjects;
      ASSIGN_OR_RETURN(const std::vector<consent::ConsentRecord>* start,
                       at_start.Current("patient", subject, purpose));
      ASSIGN_OR_RETURN(const std::vector<consent::ConsentRecord>* end,
                       at_end.Current("patient", subject, purpose));
      const policy::ConsentState before = policy::ConsentStateAt(*start, from).state;
      const policy::ConsentState after = policy::ConsentStateAt(*end, to).state;
      if (after == policy::ConsentState::kGranted) ++covered;
      if (before == policy::ConsentState::kGranted) {
        ++with_consent;
        if (after == policy::ConsentState::kRevoked) ++revoked;
      }
      at_start.Trim();
      at_end.Trim();
    }
    j.Key("consent_coverage");
    WriteRatio(j, covered, subjects, so,
               common::StrCat("Patients in the consent registry with a ", purpose,
                              " consent in force at the window's end, of all patients the "
                              "registry knows then. The study's units are pseudonymous in the "
                              "sink, so the registry's patients stand for them."));
    j.Key("revocation_rate");
    WriteRatio(j, revoked, with_consent, so,
               common::StrCat("Patients whose ", purpose,
                              " consent was in force at the window's start and revoked at its "
                              "end, of those whose consent was in force at its start."));
    j.Key("failed_match_rate");
    WriteRatio(j, unmatched_rows, study_rows, so,
               "Sink rows of the study's events (after their filters) whose link field matched "
               "no row of the reference data.");
    j.Key("minimized_share");
    WriteRatio(j, static_cast<int64_t>(rows_read), static_cast<int64_t>(rows_read), so,
               common::StrCat("Rows read from the ", study.sink,
                              " sink file, of all rows read: measure opens no other event "
                              "source, and the router writes that file only after minimizing "
                              "for the sink's purpose (", purpose, "), so 1.0 by construction."));
  }
  j.Close('}');
  j.Close('}');

  Measurement m;
  m.json = std::move(j.out);
  m.answer = answer;
  m.rows_read = rows_read;
  m.cells_released = cells_released;
  m.cells_suppressed_primary = primary;
  m.cells_suppressed_complementary = complementary;
  if (dp) m.epsilon_nano = std::llround(study.privacy.epsilon / analytics::kEpsilonUnit);
  m.summary = common::StrCat(
      study.title, " (", study.id, ")\n", answer, "\n", analytics::EvidenceCaveat(evidence), "\n",
      rows_read, " rows read from ", study.sink,
      "; privacy: ", dp ? "differential privacy" : common::StrCat("suppression, k = ", study.privacy.k),
      " (", primary, " primary and ", complementary, " complementary cells withheld).\n");
  return m;
}

}  // namespace loopgate::study
