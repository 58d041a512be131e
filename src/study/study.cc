// Loading study files (study.h, docs/study.md).

#include "study/study.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/strings.h"
#include "common/time.h"
#include "crypto/crypto.h"
#include "yaml-cpp/yaml.h"

namespace loopgate::study {

std::string_view DesignName(Design d) {
  return d == Design::kPrePost ? "pre_post" : "randomized_holdout";
}
std::string_view UnitName(Unit u) {
  switch (u) {
    case Unit::kHcp:
      return "hcp";
    case Unit::kAccount:
      return "account";
    case Unit::kPatientToken:
      return "patient_token";
    case Unit::kCohort:
      return "cohort";
  }
  return "hcp";
}
std::string_view CompareName(Compare c) {
  return c == Compare::kIntentionToTreat ? "intention_to_treat" : "exposed_vs_holdout";
}

namespace {

std::string FilterText(const std::vector<Filter>& where) {
  std::string out;
  for (const Filter& f : where) {
    out += out.empty() ? " with " : " and ";
    if (f.values.size() == 1) {
      out += common::StrCat(f.field, " ", f.values[0]);
    } else {
      out += common::StrCat(f.field, " in [", common::StrJoin(f.values, ", "), "]");
    }
  }
  return out;
}

class Loader {
 public:
  explicit Loader(std::string path) : path_(std::move(path)) {}

  std::vector<std::string> errors;

  void Error(const YAML::Node& node, std::string_view message) {
    YAML::Mark m = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
    if (m.is_null()) m = context_;
    if (m.is_null()) {
      errors.push_back(common::StrCat(path_, ":1:1: ", message));
    } else {
      errors.push_back(common::StrCat(path_, ":", m.line + 1, ":", m.column + 1, ": ", message));
    }
  }

  // Checks that `node` is a mapping with only `allowed` keys; sets the context for absent keys.
  bool Map(const YAML::Node& node, std::string_view what,
           std::initializer_list<std::string_view> allowed) {
    if (!node.IsDefined() || !node.IsMap()) {
      Error(node, common::StrCat(what, " must be a mapping"));
      return false;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        Error(it->first, common::StrCat("unknown key '", key, "' in ", what, " (allowed: ",
                                        common::StrJoin(allowed, ", "), ")"));
      } else if (!seen.insert(key).second) {
        Error(it->first, common::StrCat("duplicate key '", key, "' in ", what));
      }
    }
    context_ = node.Mark();
    return true;
  }

  bool Str(const YAML::Node& node, std::string_view what, std::string* out, bool required = true) {
    if (!node.IsDefined() || node.IsNull()) {
      if (required) Error(node, common::StrCat(what, " is required"));
      return false;
    }
    if (!node.IsScalar() || node.Scalar().empty()) {
      Error(node, common::StrCat(what, " must be a non-empty string"));
      return false;
    }
    *out = node.Scalar();
    return true;
  }

  bool Number(const YAML::Node& node, std::string_view what, double* out, double lo, double hi) {
    if (!node.IsDefined() || node.IsNull()) return false;
    double v = 0;
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, v) || !std::isfinite(v) ||
        v < lo || v > hi) {
      char range[64];
      std::snprintf(range, sizeof range, " must be a number from %.10g to %.10g", lo, hi);
      Error(node, common::StrCat(what, range));
      return false;
    }
    *out = v;
    return true;
  }

  bool Bool(const YAML::Node& node, std::string_view what, bool* out) {
    if (!node.IsDefined() || node.IsNull()) return false;
    bool v = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, v)) {
      Error(node, common::StrCat(what, " must be true or false"));
      return false;
    }
    *out = v;
    return true;
  }

  bool Time(const YAML::Node& node, std::string_view what, int64_t* out, std::string* text) {
    std::string s;
    if (!Str(node, what, &s)) return false;
    const auto t = common::ParseRfc3339(s);
    if (!t) {
      Error(node, common::StrCat(what, " must be an RFC 3339 date-time such as "
                                       "2026-02-02T00:00:00Z"));
      return false;
    }
    *out = t->seconds;
    if (text) *text = common::FormatRfc3339(*t);
    return true;
  }

  void Where(const YAML::Node& node, std::string_view what, std::vector<Filter>* out) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
      Error(node, common::StrCat(what, " must be a mapping of field: value or [values]"));
      return;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      Filter f;
      if (!it->first.IsScalar() || it->first.Scalar().empty()) {
        Error(it->first, common::StrCat("keys in ", what, " must be field names"));
        continue;
      }
      f.field = it->first.Scalar();
      if (!seen.insert(f.field).second) {
        Error(it->first, common::StrCat("duplicate key '", f.field, "' in ", what));
        continue;
      }
      if (it->second.IsScalar() && !it->second.Scalar().empty()) {
        f.values.push_back(it->second.Scalar());
      } else if (it->second.IsSequence() && it->second.size() > 0) {
        // A copy (a Node is a handle): `it->second` lives in a proxy that dies with the
        // expression, so a range-for over it would read a destroyed object.
        const YAML::Node values = it->second;
        for (const auto& v : values) {
          if (!v.IsScalar() || v.Scalar().empty()) {
            Error(v, common::StrCat(what, ".", f.field, ": values must be non-empty strings"));
            continue;
          }
          f.values.push_back(v.Scalar());
        }
      } else {
        Error(it->second, common::StrCat(what, ".", f.field,
                                         " must be a value or a non-empty list of values"));
        continue;
      }
      out->push_back(std::move(f));
    }
  }

  void LinkOf(const YAML::Node& node, std::string_view what, Link* out) {
    if (!Map(node, what, {"field", "to"})) return;
    Str(node["field"], common::StrCat(what, ".field"), &out->field);
    std::string to;
    if (!Str(node["to"], common::StrCat(what, ".to"), &to)) return;
    const size_t dot = to.find('.');
    out->table = to.substr(0, dot);
    out->column = dot == std::string::npos ? "" : to.substr(dot + 1);
    if (out->table.empty() || (dot != std::string::npos && out->column.empty())) {
      Error(node["to"], common::StrCat(what, ".to must be TABLE or TABLE.COLUMN"));
    }
    links_.push_back({out, node["to"]});
  }

  void Event(const YAML::Node& node, std::string_view what, EventSpec* out,
             std::initializer_list<std::string_view> extra_keys = {}) {
    std::vector<std::string_view> keys = {"event_type", "where", "link"};
    keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
    if (!node.IsDefined() || !node.IsMap()) {
      Error(node, common::StrCat(what, " must be a mapping"));
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        Error(it->first, common::StrCat("unknown key '", key, "' in ", what, " (allowed: ",
                                        common::StrJoin(keys, ", "), ")"));
      }
    }
    context_ = node.Mark();
    Str(node["event_type"], common::StrCat(what, ".event_type"), &out->event_type);
    Where(node["where"], common::StrCat(what, ".where"), &out->where);
    if (!node["link"].IsDefined()) {
      context_ = node.Mark();
      Error(node["link"], common::StrCat(what, ".link is required"));
    } else {
      LinkOf(node["link"], common::StrCat(what, ".link"), &out->link);
    }
  }

  // Resolves every link's table and default column once the references are known.
  void CheckLinks(const Study& s) {
    for (auto& [link, node] : links_) {
      const Reference* r = s.FindReference(link->table);
      if (r == nullptr) {
        Error(node, common::StrCat("no reference table named '", link->table, "'"));
        continue;
      }
      if (link->column.empty()) link->column = r->key;
    }
  }

  YAML::Mark context_ = YAML::Mark::null_mark();

 private:
  std::string path_;
  std::vector<std::pair<Link*, YAML::Node>> links_;
};

bool IsStudyId(std::string_view id) {
  if (id.empty() || id.size() > 100) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

const Reference* Study::FindReference(std::string_view name) const {
  for (const Reference& r : references) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string Study::ExposureText() const {
  return exposure.event_type + FilterText(exposure.where);
}

std::string Study::OutcomeText() const {
  std::string out = outcome.event_type + FilterText(outcome.where) + ", linked by " +
                    outcome.link.field;
  if (has_index) {
    out += common::StrCat(", after ", index.event_type, FilterText(index.where));
    if (outcome_within > 0) {
      char days[48];
      std::snprintf(days, sizeof days, " (within %g days)", static_cast<double>(outcome_within) / 86400.0);
      out += days;
    }
  }
  return out;
}

absl::StatusOr<Study> ParseStudy(std::string_view yaml, const std::string& path) {
  Study s;
  s.path = path;
  s.file_sha256 = crypto::ToHex(crypto::Sha256(yaml));
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(
        common::StrCat(path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  Loader l(path);
  if (!l.Map(root, "the study",
             {"format", "id", "title", "question", "design", "unit", "sink", "window",
              "reference", "population", "exposure", "index", "outcome", "dimensions", "privacy",
              "attribution"})) {
    return absl::InvalidArgumentError(common::StrJoin(l.errors, "\n"));
  }
  const YAML::Mark root_mark = root.Mark();
  auto at_root = [&] { l.context_ = root_mark; };

  std::string format;
  if (l.Str(root["format"], "format", &format) && format != kStudyFormat) {
    l.Error(root["format"], common::StrCat("format must be ", kStudyFormat));
  }
  at_root();
  if (l.Str(root["id"], "id", &s.id) && !IsStudyId(s.id)) {
    l.Error(root["id"], "id must be 1 to 100 letters, digits, '_', '-' or '.'");
  }
  at_root();
  l.Str(root["title"], "title", &s.title);
  at_root();
  l.Str(root["question"], "question", &s.question);
  at_root();
  std::string design;
  if (l.Str(root["design"], "design", &design)) {
    if (design == "randomized_holdout") {
      s.design = Design::kRandomizedHoldout;
    } else if (design == "pre_post") {
      s.design = Design::kPrePost;
    } else {
      l.Error(root["design"], "design must be randomized_holdout or pre_post");
    }
  }
  at_root();
  const YAML::Node unit = root["unit"];
  std::string unit_name;
  if (unit.IsMap()) {
    if (l.Map(unit, "unit", {"type", "column"})) {
      l.Str(unit["type"], "unit.type", &unit_name);
      l.Str(unit["column"], "unit.column", &s.unit_column, false);
    }
  } else {
    l.Str(unit, "unit", &unit_name);
  }
  if (!unit_name.empty()) {
    if (unit_name == "hcp") {
      s.unit = Unit::kHcp;
    } else if (unit_name == "account") {
      s.unit = Unit::kAccount;
      if (s.unit_column.empty()) s.unit_column = "account";
    } else if (unit_name == "patient_token") {
      s.unit = Unit::kPatientToken;
    } else if (unit_name == "cohort") {
      s.unit = Unit::kCohort;
      if (s.unit_column.empty()) {
        l.Error(unit, "unit cohort needs a column: unit: {type: cohort, column: territory}");
      }
    } else {
      l.Error(unit.IsMap() ? unit["type"] : unit,
              "unit must be hcp, account, patient_token or cohort");
    }
  }
  at_root();
  if (root["sink"].IsDefined()) l.Str(root["sink"], "sink", &s.sink);

  // Window.
  at_root();
  const YAML::Node window = root["window"];
  if (l.Map(window, "window", {"from", "to", "pre_from", "pre_to"})) {
    l.Time(window["from"], "window.from", &s.window_from, &s.window_from_text);
    l.context_ = window.Mark();
    l.Time(window["to"], "window.to", &s.window_to, &s.window_to_text);
    if (s.window_to <= s.window_from && !s.window_to_text.empty() && !s.window_from_text.empty()) {
      l.Error(window["to"], "window.to must be after window.from");
    }
    if (window["pre_from"].IsDefined() || window["pre_to"].IsDefined()) {
      l.context_ = window.Mark();
      l.Time(window["pre_from"], "window.pre_from", &s.pre_from, nullptr);
      l.context_ = window.Mark();
      l.Time(window["pre_to"], "window.pre_to", &s.pre_to, nullptr);
      if (s.pre_to <= s.pre_from) l.Error(window["pre_to"], "window.pre_to must be after pre_from");
      if (s.pre_to > s.window_from) l.Error(window["pre_to"], "window.pre_to must not be after window.from");
      if (s.design != Design::kPrePost) {
        l.Error(window["pre_from"], "window.pre_from and pre_to are for design pre_post");
      }
    } else if (s.design == Design::kPrePost) {
      l.Error(window, "design pre_post needs window.pre_from and window.pre_to (the period before)");
    }
  }

  // References.
  at_root();
  const YAML::Node refs = root["reference"];
  if (!refs.IsDefined() || !refs.IsMap() || refs.size() == 0) {
    l.Error(refs, "reference must map table names to {file, key}");
  } else {
    const std::string dir = std::filesystem::path(path).parent_path().string();
    for (auto it = refs.begin(); it != refs.end(); ++it) {
      Reference r;
      if (!l.Str(it->first, "a reference table's name", &r.name)) continue;
      if (s.FindReference(r.name) != nullptr) {
        l.Error(it->first, common::StrCat("duplicate reference table '", r.name, "'"));
        continue;
      }
      const std::string what = common::StrCat("reference.", r.name);
      if (!l.Map(it->second, what, {"file", "key", "population_key"})) continue;
      std::string file;
      if (l.Str(it->second["file"], what + ".file", &file)) {
        r.file = std::filesystem::path(file).is_absolute() || dir.empty()
                     ? file
                     : (std::filesystem::path(dir) / file).string();
      }
      l.context_ = it->second.Mark();
      l.Str(it->second["key"], what + ".key", &r.key);
      l.Str(it->second["population_key"], what + ".population_key", &r.population_key, false);
      s.references.push_back(std::move(r));
    }
  }

  // Population.
  at_root();
  const YAML::Node pop = root["population"];
  if (l.Map(pop, "population", {"table", "where", "assignment", "compare"})) {
    const YAML::Mark pop_mark = pop.Mark();
    if (l.Str(pop["table"], "population.table", &s.population_table)) {
      const Reference* r = s.FindReference(s.population_table);
      if (r == nullptr) {
        l.Error(pop["table"], common::StrCat("no reference table named '", s.population_table, "'"));
      } else if (!r->population_key.empty()) {
        l.Error(pop["table"], "the population table cannot have a population_key");
      }
    }
    l.Where(pop["where"], "population.where", &s.population_where);
    l.context_ = pop_mark;
    const YAML::Node a = pop["assignment"];
    if (s.design == Design::kPrePost) {
      if (a.IsDefined()) l.Error(a, "design pre_post has no holdout assignment");
    } else if (l.Map(a, "population.assignment",
                     {"column", "exposed", "holdout", "hash_salt", "holdout_share"})) {
      if (a["column"].IsDefined()) {
        s.assignment.kind = Assignment::Kind::kColumn;
        l.Str(a["column"], "population.assignment.column", &s.assignment.column);
        l.context_ = a.Mark();
        l.Str(a["exposed"], "population.assignment.exposed", &s.assignment.exposed_value);
        l.context_ = a.Mark();
        l.Str(a["holdout"], "population.assignment.holdout", &s.assignment.holdout_value);
        if (a["hash_salt"].IsDefined() || a["holdout_share"].IsDefined()) {
          l.Error(a, "population.assignment is either a column or a hash split, not both");
        }
      } else if (a["hash_salt"].IsDefined()) {
        s.assignment.kind = Assignment::Kind::kHash;
        l.Str(a["hash_salt"], "population.assignment.hash_salt", &s.assignment.salt);
        l.context_ = a.Mark();
        if (!a["holdout_share"].IsDefined()) {
          l.Error(a["holdout_share"], "population.assignment.holdout_share is required");
        } else {
          l.Number(a["holdout_share"], "population.assignment.holdout_share",
                   &s.assignment.holdout_share, 0.001, 0.999);
        }
      } else {
        l.Error(a, "population.assignment needs a column (with exposed and holdout values) or "
                   "a hash_salt and holdout_share");
      }
    }
    l.context_ = pop_mark;
    std::string compare;
    if (l.Str(pop["compare"], "population.compare", &compare, false)) {
      if (compare == "exposed_vs_holdout") {
        s.compare = Compare::kExposedVsHoldout;
      } else if (compare == "intention_to_treat") {
        s.compare = Compare::kIntentionToTreat;
      } else {
        l.Error(pop["compare"], "population.compare must be exposed_vs_holdout or intention_to_treat");
      }
    }
  }

  at_root();
  l.Event(root["exposure"], "exposure", &s.exposure);
  at_root();
  if (root["index"].IsDefined()) {
    s.has_index = true;
    l.Event(root["index"], "index", &s.index);
    if (s.design == Design::kPrePost) {
      // Outcomes count from each unit's index event in the window: the same units have no
      // such time in the period before, so a "pre" rate would be 0 by construction and the
      // lift meaningless. Refused rather than computed (fail closed).
      l.Error(root["index"], "design pre_post cannot use an index event: outcomes count from "
                             "the index, which falls in the window, so the period before "
                             "would have none; compare units over the two periods without "
                             "an index (e.g. unit hcp), or use a holdout");
    }
  } else if (s.unit == Unit::kPatientToken) {
    l.Error(root["index"], "unit patient_token needs an index event (its first occurrence in "
                           "the window defines the population)");
  }
  at_root();
  const YAML::Node outcome = root["outcome"];
  l.Event(outcome, "outcome", &s.outcome, {"within_days"});
  if (outcome.IsMap() && outcome["within_days"].IsDefined()) {
    double days = 0;
    if (l.Number(outcome["within_days"], "outcome.within_days", &days, 0.001, 3660)) {
      s.outcome_within = static_cast<int64_t>(std::llround(days * 86400));
    }
    if (!s.has_index) {
      l.Error(outcome["within_days"], "outcome.within_days counts from the index event: add index");
    }
  }

  at_root();
  const YAML::Node dims = root["dimensions"];
  if (dims.IsDefined()) {
    if (!dims.IsSequence()) {
      l.Error(dims, "dimensions must be a list of population columns or month");
    } else {
      for (const auto& d : dims) {
        std::string name;
        if (!l.Str(d, "a dimension", &name)) continue;
        if (std::find(s.dimensions.begin(), s.dimensions.end(), name) != s.dimensions.end()) {
          l.Error(d, common::StrCat("dimension '", name, "' is listed twice"));
        } else if (name == "month" && !s.has_index) {
          l.Error(d, "dimension month is the month of the index event: add index");
        } else {
          s.dimensions.push_back(name);
        }
      }
      if (s.dimensions.size() > 4) l.Error(dims, "at most 4 dimensions");
    }
  }

  at_root();
  const YAML::Node priv = root["privacy"];
  if (priv.IsDefined() && l.Map(priv, "privacy", {"k", "suppress_zero", "differential_privacy"})) {
    double k = 11;
    if (l.Number(priv["k"], "privacy.k", &k, 1, 1e6)) {
      if (k != std::floor(k)) l.Error(priv["k"], "privacy.k must be a whole number");
      s.privacy.k = static_cast<int64_t>(k);
    }
    l.Bool(priv["suppress_zero"], "privacy.suppress_zero", &s.privacy.suppress_zero);
    const YAML::Node dp = priv["differential_privacy"];
    if (dp.IsDefined() && l.Map(dp, "privacy.differential_privacy", {"epsilon", "budget"})) {
      s.privacy.differential_privacy = true;
      if (!dp["epsilon"].IsDefined()) l.Error(dp["epsilon"], "privacy.differential_privacy.epsilon is required");
      l.Number(dp["epsilon"], "privacy.differential_privacy.epsilon", &s.privacy.epsilon, 1e-9, 1e6);
      l.context_ = dp.Mark();
      if (!dp["budget"].IsDefined()) l.Error(dp["budget"], "privacy.differential_privacy.budget is required");
      l.Number(dp["budget"], "privacy.differential_privacy.budget", &s.privacy.budget, 1e-9, 1e6);
      if (s.privacy.epsilon > s.privacy.budget && s.privacy.budget > 0) {
        l.Error(dp["epsilon"], "privacy.differential_privacy.epsilon exceeds its budget");
      }
    }
  }

  at_root();
  const YAML::Node attr = root["attribution"];
  if (attr.IsDefined() &&
      l.Map(attr, "attribution", {"touchpoint", "channel", "half_life_days", "max_markov_order"})) {
    s.attribution.enabled = true;
    const YAML::Mark attr_mark = attr.Mark();
    l.Event(attr["touchpoint"], "attribution.touchpoint", &s.attribution.touchpoint);
    l.context_ = attr_mark;
    l.Str(attr["channel"], "attribution.channel", &s.attribution.channel_field);
    l.Number(attr["half_life_days"], "attribution.half_life_days", &s.attribution.half_life_days,
             0.001, 3660);
    double order = 3;
    if (l.Number(attr["max_markov_order"], "attribution.max_markov_order", &order, 1, 3)) {
      s.attribution.max_markov_order = static_cast<int>(order);
    }
  }

  l.CheckLinks(s);
  if (l.errors.empty()) {
    // Links must end in the population table or in a link table.
    for (const Reference& r : s.references) {
      if (r.name != s.population_table && r.population_key.empty()) {
        l.context_ = refs[r.name].Mark();
        l.Error(refs[r.name], common::StrCat("reference.", r.name,
                                             " is not the population table: it needs a "
                                             "population_key column"));
      }
    }
    if (s.unit == Unit::kPatientToken) {
      const Reference* r = s.FindReference(s.index.link.table);
      if (r == nullptr || r->population_key.empty()) {
        l.Error(root["index"]["link"],
                "unit patient_token: the index event must link to a link table (e.g. "
                "patient_links) whose key is the token");
      }
      if (s.outcome.link.table != s.index.link.table) {
        l.Error(root["outcome"]["link"],
                "unit patient_token: the outcome must link to the same table as the index");
      }
    }
  }
  if (!l.errors.empty()) return absl::InvalidArgumentError(common::StrJoin(l.errors, "\n"));
  return s;
}

absl::StatusOr<Study> LoadStudyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(common::StrCat(path, ": cannot open the study file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseStudy(buffer.str(), path);
}

}  // namespace loopgate::study
