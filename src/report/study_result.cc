#include "report/study_result.h"

#include <cmath>
#include <string>

#include "common/status.h"
#include "common/strings.h"
#include "json/json.h"
#include "simdjson.h"

namespace loopgate::report {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;
using namespace study;

// Paths name members of the contract only (fixed names and array indices), never a value read
// from the file, so errors cannot carry data.
std::string Sub(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : common::StrCat(path, ".", key);
}
std::string At(std::string_view path, size_t i) { return common::StrCat(path, "[", i, "]"); }

absl::Status Bad(std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(common::StrCat("study result: ", path, ": ", what));
}

std::string_view TypeName(const element& e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: return "an array";
    case simdjson::dom::element_type::OBJECT: return "an object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: return "a number";
    case simdjson::dom::element_type::STRING: return "a string";
    case simdjson::dom::element_type::BOOL: return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE: return "null";
  }
  return "a value";
}

absl::Status WrongType(std::string_view path, std::string_view want, const element& e) {
  return Bad(path, common::StrCat("expected ", want, ", got ", TypeName(e)));
}

absl::StatusOr<element> Member(const object& o, std::string_view path, std::string_view key) {
  element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS) return Bad(Sub(path, key), "missing");
  return e;
}

absl::StatusOr<object> AsObject(const element& e, std::string_view path) {
  object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return WrongType(path, "an object", e);
  return o;
}

absl::StatusOr<object> ObjectMember(const object& o, std::string_view path, std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  return AsObject(e, Sub(path, key));
}

absl::StatusOr<array> ArrayMember(const object& o, std::string_view path, std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return WrongType(Sub(path, key), "an array", e);
  return a;
}

absl::StatusOr<std::string> AsString(const element& e, std::string_view path) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return WrongType(path, "a string", e);
  return std::string(s);
}

absl::StatusOr<std::string> String(const object& o, std::string_view path, std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  return AsString(e, Sub(path, key));
}

absl::StatusOr<std::optional<std::string>> NullableString(const object& o, std::string_view path,
                                                          std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  if (e.is_null()) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::string s, AsString(e, Sub(path, key)));
  return std::optional<std::string>(std::move(s));
}

absl::StatusOr<double> AsNumber(const element& e, std::string_view path) {
  double d = 0;
  if (!e.is_number() || e.get_double().get(d) != simdjson::SUCCESS) {
    return WrongType(path, "a number", e);
  }
  return d;
}

absl::StatusOr<std::optional<double>> NullableNumber(const object& o, std::string_view path,
                                                     std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  if (e.is_null()) return std::optional<double>();
  ASSIGN_OR_RETURN(double d, AsNumber(e, Sub(path, key)));
  return std::optional<double>(d);
}

absl::StatusOr<double> Number(const object& o, std::string_view path, std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  return AsNumber(e, Sub(path, key));
}

// Counts: non-negative integers below 2^53, written as 12 or (tolerated) 12.0.
absl::StatusOr<int64_t> AsCount(const element& e, std::string_view path) {
  int64_t i = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) {
    if (i < 0) return Bad(path, "expected a count (a non-negative integer), got a negative number");
    return i;
  }
  double d = 0;
  if (e.is_double() && e.get_double().get(d) == simdjson::SUCCESS && d >= 0 && d < 9007199254740992.0 &&
      std::floor(d) == d) {
    return static_cast<int64_t>(d);
  }
  if (e.is_number()) return Bad(path, "expected a count (a non-negative integer)");
  return WrongType(path, "a count (a non-negative integer)", e);
}

absl::StatusOr<std::optional<int64_t>> NullableCount(const object& o, std::string_view path,
                                                     std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  if (e.is_null()) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(int64_t i, AsCount(e, Sub(path, key)));
  return std::optional<int64_t>(i);
}

absl::StatusOr<int64_t> Count(const object& o, std::string_view path, std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  return AsCount(e, Sub(path, key));
}

absl::StatusOr<bool> Bool(const object& o, std::string_view path, std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  bool b = false;
  if (e.get_bool().get(b) != simdjson::SUCCESS) return WrongType(Sub(path, key), "a boolean", e);
  return b;
}

absl::StatusOr<std::vector<std::string>> StringList(const object& o, std::string_view path,
                                                    std::string_view key) {
  ASSIGN_OR_RETURN(array a, ArrayMember(o, path, key));
  std::vector<std::string> out;
  size_t i = 0;
  for (element e : a) {
    ASSIGN_OR_RETURN(std::string s, AsString(e, At(Sub(path, key), i++)));
    out.push_back(std::move(s));
  }
  return out;
}

// An enumerated string: its index in `names`.
absl::StatusOr<size_t> Enum(const object& o, std::string_view path, std::string_view key,
                            const std::vector<std::string_view>& names) {
  ASSIGN_OR_RETURN(std::string s, String(o, path, key));
  size_t i = 0;
  for (std::string_view n : names) {
    if (s == n) return i;
    ++i;
  }
  std::vector<std::string> quoted;
  for (std::string_view n : names) quoted.push_back(common::StrCat("\"", n, "\""));
  return Bad(Sub(path, key), common::StrCat("expected one of ", common::StrJoin(quoted, ", ")));
}

// `suppressed`: null or one of the allowed names.
absl::StatusOr<Suppression> SuppressionMember(const object& o, std::string_view path,
                                              bool allow_small_group) {
  ASSIGN_OR_RETURN(std::optional<std::string> s, NullableString(o, path, "suppressed"));
  if (!s) return Suppression::kNone;
  if (*s == "primary") return Suppression::kPrimary;
  if (*s == "complementary") return Suppression::kComplementary;
  if (allow_small_group && *s == "small_group") return Suppression::kSmallGroup;
  return Bad(Sub(path, "suppressed"),
             allow_small_group
                 ? "expected null, \"primary\", \"complementary\" or \"small_group\""
                 : "expected null, \"primary\" or \"complementary\"");
}

absl::Status CheckFraction(double d, std::string_view path) {
  if (d < 0 || d > 1) return Bad(path, "expected a fraction between 0 and 1");
  return absl::OkStatus();
}

// [lower, upper] or null.
absl::StatusOr<std::optional<Interval>> IntervalMember(const object& o, std::string_view path,
                                                       std::string_view key, bool fraction) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  const std::string p = Sub(path, key);
  if (e.is_null()) return std::optional<Interval>();
  array a;
  if (e.get_array().get(a) != simdjson::SUCCESS || a.size() != 2) {
    return Bad(p, "expected [lower, upper] or null");
  }
  ASSIGN_OR_RETURN(double lo, AsNumber(a.at(0).value_unsafe(), At(p, 0)));
  ASSIGN_OR_RETURN(double hi, AsNumber(a.at(1).value_unsafe(), At(p, 1)));
  if (lo > hi) return Bad(p, "the lower bound is above the upper bound");
  if (fraction) {
    RETURN_IF_ERROR(CheckFraction(lo, At(p, 0)));
    RETURN_IF_ERROR(CheckFraction(hi, At(p, 1)));
  }
  return std::optional<Interval>(Interval{lo, hi});
}

// {"estimate": x, "ci": [lo, hi]} or null.
absl::StatusOr<std::optional<Estimate>> EstimateMember(const object& o, std::string_view path,
                                                       std::string_view key) {
  ASSIGN_OR_RETURN(element e, Member(o, path, key));
  if (e.is_null()) return std::optional<Estimate>();
  const std::string p = Sub(path, key);
  ASSIGN_OR_RETURN(object eo, AsObject(e, p));
  Estimate est;
  ASSIGN_OR_RETURN(est.estimate, Number(eo, p, "estimate"));
  ASSIGN_OR_RETURN(est.ci, IntervalMember(eo, p, "ci", false));
  return std::optional<Estimate>(est);
}

// Units and outcomes (or numerator and denominator) with the shared null rule: all null exactly
// when suppressed, so that a withheld figure cannot reach a page by mistake.
absl::Status CheckCounts(std::string_view path, Suppression s, std::string_view n_name,
                         const std::optional<int64_t>& n, std::string_view k_name,
                         const std::optional<int64_t>& k, const std::optional<double>& rate) {
  if (s != Suppression::kNone) {
    if (n) return Bad(Sub(path, n_name), "must be null when the figure is suppressed");
    if (k) return Bad(Sub(path, k_name), "must be null when the figure is suppressed");
    if (rate) return Bad(Sub(path, "rate"), "must be null when the figure is suppressed");
    return absl::OkStatus();
  }
  if (!n) return Bad(Sub(path, n_name), "is null but the figure is not suppressed");
  if (!k) return Bad(Sub(path, k_name), "is null but the figure is not suppressed");
  if (*k > *n) return Bad(Sub(path, k_name), common::StrCat("exceeds ", n_name));
  if (rate) RETURN_IF_ERROR(CheckFraction(*rate, Sub(path, "rate")));
  return absl::OkStatus();
}

absl::StatusOr<Arm> ParseArm(const object& cell, std::string_view path, std::string_view key) {
  const std::string p = Sub(path, key);
  ASSIGN_OR_RETURN(object o, ObjectMember(cell, path, key));
  Arm a;
  ASSIGN_OR_RETURN(a.units, NullableCount(o, p, "units"));
  ASSIGN_OR_RETURN(a.outcomes, NullableCount(o, p, "outcomes"));
  ASSIGN_OR_RETURN(a.rate, NullableNumber(o, p, "rate"));
  ASSIGN_OR_RETURN(a.ci, IntervalMember(o, p, "ci", true));
  ASSIGN_OR_RETURN(a.suppressed, SuppressionMember(o, p, false));
  RETURN_IF_ERROR(CheckCounts(p, a.suppressed, "units", a.units, "outcomes", a.outcomes, a.rate));
  if (a.suppressed != Suppression::kNone && a.ci) {
    return Bad(Sub(p, "ci"), "must be null when the figure is suppressed");
  }
  return a;
}

absl::StatusOr<Cell> ParseCell(const element& e, std::string_view p) {
  ASSIGN_OR_RETURN(object o, AsObject(e, p));
  Cell c;
  ASSIGN_OR_RETURN(object key, ObjectMember(o, p, "key"));
  for (auto field : key) {
    ASSIGN_OR_RETURN(std::string v, AsString(field.value, Sub(p, "key")));
    c.key.emplace_back(std::string(field.key), std::move(v));
  }
  ASSIGN_OR_RETURN(c.exposed, ParseArm(o, p, "exposed"));
  ASSIGN_OR_RETURN(c.comparison, ParseArm(o, p, "comparison"));
  ASSIGN_OR_RETURN(c.absolute_lift, EstimateMember(o, p, "absolute_lift"));
  ASSIGN_OR_RETURN(c.relative_lift, EstimateMember(o, p, "relative_lift"));
  ASSIGN_OR_RETURN(c.p_value, NullableNumber(o, p, "p_value"));
  if (c.p_value) RETURN_IF_ERROR(CheckFraction(*c.p_value, Sub(p, "p_value")));
  ASSIGN_OR_RETURN(size_t status, Enum(o, p, "status",
                                       {"estimable", "suppressed", "no_units", "zero_baseline",
                                        "no_variance"}));
  c.status = static_cast<CellStatus>(status);
  if (c.status == CellStatus::kSuppressed) {
    if (c.absolute_lift) return Bad(Sub(p, "absolute_lift"), "must be null in a suppressed cell");
    if (c.relative_lift) return Bad(Sub(p, "relative_lift"), "must be null in a suppressed cell");
    if (c.p_value) return Bad(Sub(p, "p_value"), "must be null in a suppressed cell");
  }
  return c;
}

absl::StatusOr<Ratio> ParseRatio(const object& gov, std::string_view path, std::string_view key) {
  const std::string p = Sub(path, key);
  ASSIGN_OR_RETURN(object o, ObjectMember(gov, path, key));
  Ratio r;
  ASSIGN_OR_RETURN(r.numerator, NullableCount(o, p, "numerator"));
  ASSIGN_OR_RETURN(r.denominator, NullableCount(o, p, "denominator"));
  ASSIGN_OR_RETURN(r.rate, NullableNumber(o, p, "rate"));
  ASSIGN_OR_RETURN(r.suppressed, SuppressionMember(o, p, false));
  ASSIGN_OR_RETURN(r.note, String(o, p, "note"));
  RETURN_IF_ERROR(
      CheckCounts(p, r.suppressed, "denominator", r.denominator, "numerator", r.numerator, r.rate));
  return r;
}

absl::StatusOr<TimeGroup> ParseTimeGroup(const element& e, std::string_view p) {
  ASSIGN_OR_RETURN(object o, AsObject(e, p));
  TimeGroup g;
  ASSIGN_OR_RETURN(size_t arm, Enum(o, p, "arm", {"exposed", "comparison"}));
  g.arm = arm == 0 ? "exposed" : "comparison";
  ASSIGN_OR_RETURN(g.units, NullableCount(o, p, "units"));
  ASSIGN_OR_RETURN(g.outcomes, NullableCount(o, p, "outcomes"));
  ASSIGN_OR_RETURN(g.suppressed, SuppressionMember(o, p, true));
  RETURN_IF_ERROR(CheckCounts(p, g.suppressed, "units", g.units, "outcomes", g.outcomes, {}));
  ASSIGN_OR_RETURN(element me, Member(o, p, "median"));
  if (!me.is_null()) {
    const std::string mp = Sub(p, "median");
    ASSIGN_OR_RETURN(object mo, AsObject(me, mp));
    Median m;
    ASSIGN_OR_RETURN(m.estimate, NullableNumber(mo, mp, "estimate"));
    ASSIGN_OR_RETURN(m.ci, IntervalMember(mo, mp, "ci", false));
    ASSIGN_OR_RETURN(m.reached, Bool(mo, mp, "reached"));
    if (m.reached && !m.estimate) return Bad(Sub(mp, "estimate"), "is null but reached is true");
    g.median = m;
  }
  ASSIGN_OR_RETURN(array qs, ArrayMember(o, p, "quantiles"));
  size_t i = 0;
  for (element qe : qs) {
    const std::string qp = At(Sub(p, "quantiles"), i++);
    ASSIGN_OR_RETURN(object qo, AsObject(qe, qp));
    Quantile q;
    ASSIGN_OR_RETURN(q.p, Number(qo, qp, "p"));
    RETURN_IF_ERROR(CheckFraction(q.p, Sub(qp, "p")));
    ASSIGN_OR_RETURN(q.estimate, NullableNumber(qo, qp, "estimate"));
    g.quantiles.push_back(q);
  }
  ASSIGN_OR_RETURN(array curve, ArrayMember(o, p, "curve"));
  i = 0;
  for (element ce : curve) {
    const std::string cp = At(Sub(p, "curve"), i++);
    ASSIGN_OR_RETURN(object co, AsObject(ce, cp));
    CurvePoint pt;
    ASSIGN_OR_RETURN(pt.t, Number(co, cp, "t"));
    ASSIGN_OR_RETURN(pt.survival, Number(co, cp, "survival"));
    RETURN_IF_ERROR(CheckFraction(pt.survival, Sub(cp, "survival")));
    ASSIGN_OR_RETURN(pt.at_risk, NullableCount(co, cp, "at_risk"));
    if (!g.curve.empty() && pt.t < g.curve.back().t) {
      return Bad(Sub(cp, "t"), "the curve's times must not decrease");
    }
    g.curve.push_back(pt);
  }
  if (g.suppressed != Suppression::kNone) {
    if (g.median) return Bad(Sub(p, "median"), "must be null when the group is suppressed");
    if (!g.curve.empty()) return Bad(Sub(p, "curve"), "must be empty when the group is suppressed");
    for (size_t j = 0; j < g.quantiles.size(); ++j) {
      if (g.quantiles[j].estimate) {
        return Bad(Sub(At(Sub(p, "quantiles"), j), "estimate"),
                   "must be null when the group is suppressed");
      }
    }
  }
  return g;
}

const std::vector<std::string_view> kModelNames = {
    "first_touch", "last_touch", "linear",   "time_decay", "position_based",
    "markov_1",    "markov_2",   "markov_3", "shapley"};

absl::StatusOr<AttributionModel> ParseModel(const element& e, std::string_view p) {
  ASSIGN_OR_RETURN(object o, AsObject(e, p));
  AttributionModel m;
  ASSIGN_OR_RETURN(size_t name, Enum(o, p, "model", kModelNames));
  m.model = std::string(kModelNames[name]);
  const bool markov = m.model.starts_with("markov_");
  ASSIGN_OR_RETURN(m.base_conversion_probability,
                   NullableNumber(o, p, "base_conversion_probability"));
  if (m.base_conversion_probability) {
    RETURN_IF_ERROR(
        CheckFraction(*m.base_conversion_probability, Sub(p, "base_conversion_probability")));
  }
  ASSIGN_OR_RETURN(array channels, ArrayMember(o, p, "channels"));
  size_t i = 0;
  for (element ce : channels) {
    const std::string cp = At(Sub(p, "channels"), i++);
    ASSIGN_OR_RETURN(object co, AsObject(ce, cp));
    ChannelCredit c;
    ASSIGN_OR_RETURN(c.channel, String(co, cp, "channel"));
    ASSIGN_OR_RETURN(c.conversions, NullableNumber(co, cp, "conversions"));
    ASSIGN_OR_RETURN(c.value, NullableNumber(co, cp, "value"));
    ASSIGN_OR_RETURN(c.removal_effect, NullableNumber(co, cp, "removal_effect"));
    if (c.removal_effect && !markov) {
      return Bad(Sub(cp, "removal_effect"), "must be null for a model other than markov_N");
    }
    m.channels.push_back(std::move(c));
  }
  return m;
}

absl::Status ParseStudy(const object& root, StudyResult& r) {
  const std::string p = "study";
  ASSIGN_OR_RETURN(object o, ObjectMember(root, "", "study"));
  ASSIGN_OR_RETURN(r.id, String(o, p, "id"));
  ASSIGN_OR_RETURN(r.title, String(o, p, "title"));
  ASSIGN_OR_RETURN(r.question, String(o, p, "question"));
  ASSIGN_OR_RETURN(r.file_sha256, String(o, p, "file_sha256"));
  ASSIGN_OR_RETURN(size_t design, Enum(o, p, "design", {"randomized_holdout", "pre_post"}));
  r.design = static_cast<Design>(design);
  ASSIGN_OR_RETURN(size_t unit, Enum(o, p, "unit", {"hcp", "account", "patient_token", "cohort"}));
  static constexpr std::string_view kUnits[] = {"hcp", "account", "patient_token", "cohort"};
  r.unit = std::string(kUnits[unit]);
  ASSIGN_OR_RETURN(object w, ObjectMember(o, p, "window"));
  ASSIGN_OR_RETURN(r.window_from, String(w, "study.window", "from"));
  ASSIGN_OR_RETURN(r.window_to, String(w, "study.window", "to"));
  ASSIGN_OR_RETURN(r.exposure, String(o, p, "exposure"));
  ASSIGN_OR_RETURN(r.outcome, String(o, p, "outcome"));
  ASSIGN_OR_RETURN(r.dimensions, StringList(o, p, "dimensions"));
  return absl::OkStatus();
}

absl::Status ParseRun(const object& root, StudyResult& r) {
  const std::string p = "run";
  ASSIGN_OR_RETURN(object o, ObjectMember(root, "", "run"));
  ASSIGN_OR_RETURN(r.run_at, String(o, p, "at"));
  ASSIGN_OR_RETURN(r.run_by, String(o, p, "by"));
  ASSIGN_OR_RETURN(r.analytics_rows_read, Count(o, p, "analytics_rows_read"));
  ASSIGN_OR_RETURN(r.sink, String(o, p, "sink"));
  ASSIGN_OR_RETURN(r.ledger_seq, NullableCount(o, p, "ledger_seq"));
  return absl::OkStatus();
}

absl::Status ParsePrivacy(const object& root, StudyResult& r) {
  const std::string p = "privacy";
  ASSIGN_OR_RETURN(object o, ObjectMember(root, "", "privacy"));
  ASSIGN_OR_RETURN(r.k, Count(o, p, "k"));
  if (r.k < 1) return Bad("privacy.k", "must be at least 1");
  ASSIGN_OR_RETURN(r.suppress_zero, Bool(o, p, "suppress_zero"));
  ASSIGN_OR_RETURN(size_t mode, Enum(o, p, "mode", {"suppression", "differential_privacy"}));
  r.mode = static_cast<PrivacyMode>(mode);
  ASSIGN_OR_RETURN(r.epsilon_spent, NullableNumber(o, p, "epsilon_spent"));
  ASSIGN_OR_RETURN(r.epsilon_remaining, NullableNumber(o, p, "epsilon_remaining"));
  if (r.mode == PrivacyMode::kDifferentialPrivacy) {
    if (!r.epsilon_spent) return Bad("privacy.epsilon_spent", "must be a number in differential_privacy mode");
    if (!r.epsilon_remaining) {
      return Bad("privacy.epsilon_remaining", "must be a number in differential_privacy mode");
    }
  }
  if (r.epsilon_spent && *r.epsilon_spent < 0) return Bad("privacy.epsilon_spent", "is negative");
  if (r.epsilon_remaining && *r.epsilon_remaining < 0) {
    return Bad("privacy.epsilon_remaining", "is negative");
  }
  ASSIGN_OR_RETURN(r.cells_released, Count(o, p, "cells_released"));
  ASSIGN_OR_RETURN(r.suppressed_primary, Count(o, p, "suppressed_primary"));
  ASSIGN_OR_RETURN(r.suppressed_complementary, Count(o, p, "suppressed_complementary"));
  return absl::OkStatus();
}

absl::Status ParseLift(const object& root, StudyResult& r) {
  const std::string p = "lift";
  ASSIGN_OR_RETURN(object o, ObjectMember(root, "", "lift"));
  ASSIGN_OR_RETURN(size_t ev, Enum(o, p, "evidence", {"randomized_holdout", "pre_post"}));
  r.evidence = static_cast<Design>(ev);
  ASSIGN_OR_RETURN(r.caveat, String(o, p, "caveat"));
  ASSIGN_OR_RETURN(r.confidence, Number(o, p, "confidence"));
  if (!(r.confidence > 0 && r.confidence < 1)) {
    return Bad("lift.confidence", "expected a fraction between 0 and 1");
  }
  ASSIGN_OR_RETURN(element overall, Member(o, p, "overall"));
  ASSIGN_OR_RETURN(r.overall, ParseCell(overall, "lift.overall"));
  ASSIGN_OR_RETURN(array by, ArrayMember(o, p, "by"));
  size_t i = 0;
  for (element be : by) {
    const std::string bp = At("lift.by", i++);
    ASSIGN_OR_RETURN(object bo, AsObject(be, bp));
    Breakdown b;
    ASSIGN_OR_RETURN(b.dimension, String(bo, bp, "dimension"));
    ASSIGN_OR_RETURN(array cells, ArrayMember(bo, bp, "cells"));
    size_t j = 0;
    for (element ce : cells) {
      ASSIGN_OR_RETURN(Cell c, ParseCell(ce, At(Sub(bp, "cells"), j++)));
      b.cells.push_back(std::move(c));
    }
    r.by.push_back(std::move(b));
  }
  return absl::OkStatus();
}

absl::Status ParseTime(const object& root, StudyResult& r) {
  const std::string p = "time_to_outcome";
  ASSIGN_OR_RETURN(object o, ObjectMember(root, "", "time_to_outcome"));
  ASSIGN_OR_RETURN(r.time_unit, String(o, p, "time_unit"));
  ASSIGN_OR_RETURN(array groups, ArrayMember(o, p, "groups"));
  size_t i = 0;
  for (element ge : groups) {
    ASSIGN_OR_RETURN(TimeGroup g, ParseTimeGroup(ge, At(Sub(p, "groups"), i++)));
    r.time_groups.push_back(std::move(g));
  }
  return absl::OkStatus();
}

absl::Status ParseAttribution(const object& root, StudyResult& r) {
  const std::string p = "attribution";
  ASSIGN_OR_RETURN(object o, ObjectMember(root, "", "attribution"));
  ASSIGN_OR_RETURN(r.journeys, NullableCount(o, p, "journeys"));
  ASSIGN_OR_RETURN(r.conversions, NullableCount(o, p, "conversions"));
  ASSIGN_OR_RETURN(r.channels, StringList(o, p, "channels"));
  ASSIGN_OR_RETURN(r.suppressed_channels, StringList(o, p, "suppressed_channels"));
  ASSIGN_OR_RETURN(array models, ArrayMember(o, p, "models"));
  size_t i = 0;
  for (element me : models) {
    ASSIGN_OR_RETURN(AttributionModel m, ParseModel(me, At(Sub(p, "models"), i++)));
    r.models.push_back(std::move(m));
  }
  return absl::OkStatus();
}

absl::Status ParseGovernance(const object& root, StudyResult& r) {
  const std::string p = "governance";
  ASSIGN_OR_RETURN(object o, ObjectMember(root, "", "governance"));
  ASSIGN_OR_RETURN(r.consent_coverage, ParseRatio(o, p, "consent_coverage"));
  ASSIGN_OR_RETURN(r.revocation_rate, ParseRatio(o, p, "revocation_rate"));
  ASSIGN_OR_RETURN(r.failed_match_rate, ParseRatio(o, p, "failed_match_rate"));
  ASSIGN_OR_RETURN(r.minimized_share, ParseRatio(o, p, "minimized_share"));
  return absl::OkStatus();
}

}  // namespace

std::string_view DesignName(Design d) {
  return d == Design::kPrePost ? "pre_post" : "randomized_holdout";
}

std::string_view SuppressionName(Suppression s) {
  switch (s) {
    case Suppression::kNone: return "";
    case Suppression::kPrimary: return "primary";
    case Suppression::kComplementary: return "complementary";
    case Suppression::kSmallGroup: return "small_group";
  }
  return "";
}

absl::StatusOr<StudyResult> ParseStudyResult(std::string_view text) {
  json::StrictParser parser;
  std::string canonical;
  auto root = parser.ParseCopy(text, &canonical);
  if (!root.ok()) {
    return absl::InvalidArgumentError(
        common::StrCat("study result: not valid JSON: ", std::string(root.status().message())));
  }
  object o;
  if (root->get_object().get(o) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("study result: expected one JSON object");
  }
  ASSIGN_OR_RETURN(std::string format, String(o, "", "format"));
  if (format != kStudyResultFormat) {
    return Bad("format", common::StrCat("expected \"", kStudyResultFormat, "\""));
  }
  StudyResult r;
  RETURN_IF_ERROR(ParseStudy(o, r));
  RETURN_IF_ERROR(ParseRun(o, r));
  ASSIGN_OR_RETURN(r.answer, String(o, "", "answer"));
  RETURN_IF_ERROR(ParsePrivacy(o, r));
  RETURN_IF_ERROR(ParseLift(o, r));
  RETURN_IF_ERROR(ParseTime(o, r));
  RETURN_IF_ERROR(ParseAttribution(o, r));
  RETURN_IF_ERROR(ParseGovernance(o, r));
  return r;
}

}  // namespace loopgate::report
