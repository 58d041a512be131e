#include "catalog/catalog.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "common/strings.h"
#include "common/text.h"
#include "common/time.h"
#include "crypto/crypto.h"
#include "json/json.h"

namespace loopgate::catalog {

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kNonPhi: return "non_phi";
    case Level::kPseudonymous: return "pseudonymous";
    case Level::kPhi: return "phi";
  }
  return "phi";
}

std::optional<Level> ParseLevel(std::string_view name) {
  if (name == "non_phi") return Level::kNonPhi;
  if (name == "pseudonymous") return Level::kPseudonymous;
  if (name == "phi") return Level::kPhi;
  return std::nullopt;
}

std::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kString: return "string";
    case FieldType::kInteger: return "integer";
    case FieldType::kNumber: return "number";
    case FieldType::kBoolean: return "boolean";
    case FieldType::kDate: return "date";
    case FieldType::kDatetime: return "datetime";
    case FieldType::kEnum: return "enum";
  }
  return "string";
}

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kKeep: return "keep";
    case Action::kDrop: return "drop";
    case Action::kTokenize: return "tokenize";
    case Action::kGeneralize: return "generalize";
    case Action::kMask: return "mask";
  }
  return "drop";
}

int EventType::FindField(std::string_view name) const {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

bool Sink::RequiresConsentFor(std::string_view subject_type) const {
  return std::find(consent_required_for.begin(), consent_required_for.end(), subject_type) !=
         consent_required_for.end();
}

const EventType* Catalog::FindEventType(std::string_view id) const {
  for (const auto& t : event_types) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

namespace {
template <typename T>
int FindById(const std::vector<T>& items, std::string_view id) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].id == id) return static_cast<int>(i);
  }
  return -1;
}
}  // namespace

int Catalog::FindSink(std::string_view id) const { return FindById(sinks, id); }
int Catalog::FindClass(std::string_view id) const { return FindById(classes, id); }
int Catalog::FindPurpose(std::string_view id) const { return FindById(purposes, id); }

namespace {

std::optional<FieldType> ParseFieldType(std::string_view s) {
  for (auto t : {FieldType::kString, FieldType::kInteger, FieldType::kNumber, FieldType::kBoolean,
                 FieldType::kDate, FieldType::kDatetime, FieldType::kEnum}) {
    if (FieldTypeName(t) == s) return t;
  }
  return std::nullopt;
}

std::optional<Action> ParseAction(std::string_view s) {
  for (auto a : {Action::kKeep, Action::kDrop, Action::kTokenize, Action::kGeneralize,
                 Action::kMask}) {
    if (ActionName(a) == s) return a;
  }
  return std::nullopt;
}

// The JSON number grammar (RFC 8259 section 6).
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

bool IsSinkId(std::string_view id) {
  if (id.empty() || id.size() > 64 || id[0] == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

SourcePos PosOf(const YAML::Node& node) {
  if (!node.IsDefined() || node.Mark().is_null()) return {};
  const YAML::Mark m = node.Mark();
  return {static_cast<uint32_t>(m.line + 1), static_cast<uint32_t>(m.column + 1)};
}

// Walks the YAML tree, collecting every problem with its position.
class Loader {
 public:
  Loader(std::string path, OutputValidator validate_output)
      : path_(std::move(path)), validate_output_(validate_output) {}

  std::vector<std::string>& errors() { return errors_; }

  void Error(const YAML::Node& node, const std::string& message) {
    errors_.push_back(Located(node, message));
  }

  // A finding that does not stop the load: a reference no event type has. It makes a sink ask
  // for consent no event needs, or a rule that can never match (a misspelling there would fail
  // open, so every run prints it; `lint` treats it as an error).
  void Warn(const YAML::Node& node, const std::string& message) {
    warnings_.push_back(Located(node, message));
  }

  std::vector<std::string>& warnings() { return warnings_; }

  std::string Located(const YAML::Node& node, const std::string& message) {
    // An absent key yields an invalid node, whose Mark() throws: it has no position.
    YAML::Mark m = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
    if (m.is_null()) {
      m = context_;  // An absent key has no position: point at the mapping that lacks it.
    }
    if (m.is_null()) {
      return common::StrCat(path_, ":1:1: ", message);
    }
    return common::StrCat(path_, ":", m.line + 1, ":", m.column + 1, ": ", message);
  }

  // Calls `fn(key, key_node, value)` for each entry of a mapping, rejecting duplicate keys.
  template <typename Fn>
  void ForEachEntry(const YAML::Node& map, const std::string& what, Fn fn) {
    if (!map.IsMap()) {
      Error(map, common::StrCat(what, " must be a mapping"));
      return;
    }
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        Error(it->first, common::StrCat("keys in ", what, " must be plain strings"));
        continue;
      }
      const std::string key = it->first.Scalar();
      if (!seen.insert(key).second) {
        Error(it->first, common::StrCat("duplicate key '", key, "' in ", what));
        continue;
      }
      const YAML::Mark saved = context_;
      context_ = it->second.Mark().is_null() ? it->first.Mark() : it->second.Mark();
      fn(key, it->first, it->second);
      context_ = saved;
    }
  }

  // Rejects keys outside `allowed`: a misspelt option must never be silently ignored.
  // Also rejects a repeated key, which YAML forbids and yaml-cpp would resolve silently.
  void CheckKeys(const YAML::Node& map, const std::string& what,
                 std::initializer_list<std::string_view> allowed) {
    if (!map.IsMap()) return;
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        Error(it->first, common::StrCat("unknown key '", key, "' in ", what, " (allowed: ",
                                      common::StrJoin(allowed, ", "), ")"));
      } else if (!seen.insert(key).second) {
        Error(it->first, common::StrCat("duplicate key '", key, "' in ", what));
      }
    }
  }

  std::optional<std::string> Str(const YAML::Node& node, const std::string& what,
                                 bool required) {
    if (!node.IsDefined() || node.IsNull()) {
      if (required) Error(node, common::StrCat(what, " is required"));
      return std::nullopt;
    }
    if (!node.IsScalar() || node.Scalar().empty()) {
      Error(node, common::StrCat(what, " must be a non-empty string"));
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<bool> Bool(const YAML::Node& node, const std::string& what) {
    if (!node.IsDefined() || node.IsNull()) return std::nullopt;
    if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) {
      return node.Scalar() == "true";
    }
    Error(node, common::StrCat(what, " must be true or false"));
    return std::nullopt;
  }

  // A list of strings; a single scalar is read as a one-item list.
  std::vector<std::string> StrList(const YAML::Node& node, const std::string& what) {
    std::vector<std::string> out;
    if (!node.IsDefined() || node.IsNull()) return out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
      return out;
    }
    if (!node.IsSequence()) {
      Error(node, common::StrCat(what, " must be a list of strings"));
      return out;
    }
    std::set<std::string> seen;
    for (const auto& item : node) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        Error(item, common::StrCat(what, " must hold non-empty strings"));
        continue;
      }
      if (!seen.insert(item.Scalar()).second) {
        Error(item, common::StrCat("'", item.Scalar(), "' is listed twice in ", what));
        continue;
      }
      out.push_back(item.Scalar());
    }
    return out;
  }

  void Load(const YAML::Node& root, Catalog* c) {
    if (!root.IsMap()) {
      Error(root, "a catalog must be a YAML mapping with format, purposes, classes, event_types, "
                  "sinks and rules");
      return;
    }
    CheckKeys(root, "the catalog",
              {"format", "name", "purposes", "classes", "event_types", "sinks", "rules"});
    const auto format = Str(root["format"], "format", true);
    if (format && *format != "loopgate.catalog/v1") {
      Error(root["format"], common::StrCat("unsupported catalog format '", *format,
                                         "' (this build reads loopgate.catalog/v1)"));
    }
    c->name = Str(root["name"], "name", false).value_or("");
    for (const char* section : {"purposes", "classes", "event_types", "sinks"}) {
      if (!root[section].IsDefined()) Error(root, common::StrCat("section '", section, "' is missing"));
    }
    if (root["purposes"].IsDefined()) LoadPurposes(root["purposes"], c);
    if (root["classes"].IsDefined()) LoadClasses(root["classes"], c);
    if (root["sinks"].IsDefined()) LoadSinks(root["sinks"], c);
    if (root["event_types"].IsDefined()) LoadEventTypes(root["event_types"], c);
    if (root["rules"].IsDefined() && !root["rules"].IsNull()) LoadRules(root["rules"], c);
  }

 private:
  void LoadPurposes(const YAML::Node& node, Catalog* c) {
    ForEachEntry(node, "purposes", [&](const std::string& id, const YAML::Node& k,
                                       const YAML::Node& v) {
      Purpose p;
      p.id = id;
      p.pos = PosOf(k);
      if (!v.IsNull() && !v.IsMap()) {
        Error(v, common::StrCat("purpose '", id, "' takes a mapping such as {promotional: true}"));
      } else if (!v.IsNull()) {
        CheckKeys(v, common::StrCat("purpose '", id, "'"), {"promotional", "description"});
        p.promotional = Bool(v["promotional"], "promotional").value_or(false);
        p.description = Str(v["description"], "description", false).value_or("");
      }
      c->purposes.push_back(std::move(p));
    });
  }

  void LoadClasses(const YAML::Node& node, Catalog* c) {
    ForEachEntry(node, "classes", [&](const std::string& id, const YAML::Node& k,
                                      const YAML::Node& v) {
      DataClass dc;
      dc.id = id;
      dc.pos = PosOf(k);
      if (!v.IsMap()) {
        Error(k, common::StrCat("class '", id, "' needs a level (non_phi, pseudonymous or phi)"));
        return;
      }
      CheckKeys(v, common::StrCat("class '", id, "'"), {"level", "description"});
      if (auto level = Str(v["level"], common::StrCat("the level of class '", id, "'"), true)) {
        if (auto l = ParseLevel(*level)) {
          dc.level = *l;
        } else {
          Error(v["level"], common::StrCat("level '", *level,
                                         "' is not one of non_phi, pseudonymous, phi"));
        }
      }
      dc.description = Str(v["description"], "description", false).value_or("");
      c->classes.push_back(std::move(dc));
    });
  }

  void LoadSinks(const YAML::Node& node, Catalog* c) {
    ForEachEntry(node, "sinks", [&](const std::string& id, const YAML::Node& k,
                                    const YAML::Node& v) {
      const std::string what = common::StrCat("sink '", id, "'");
      if (!IsSinkId(id)) {
        Error(k, common::StrCat(what, ": a sink id must be 1-64 of [A-Za-z0-9_.-], not starting "
                                    "with '.' (it names the output file)"));
      }
      if (id == "quarantine") {
        Error(k, "the sink id 'quarantine' is reserved for the quarantine output");
      }
      if (!v.IsMap()) {
        Error(k, common::StrCat(what, " must be a mapping"));
        return;
      }
      CheckKeys(v, what,
                {"purpose", "granularity", "max_level", "consent_required_for", "channel",
                 "jurisdictions", "token_domain", "actions", "output", "description"});
      Sink s;
      s.id = id;
      s.pos = PosOf(k);
      if (auto p = Str(v["purpose"], what + ": purpose", true)) {
        const int idx = c->FindPurpose(*p);
        if (idx < 0) {
          Error(v["purpose"], common::StrCat(what, ": unknown purpose '", *p, "'"));
        } else {
          s.purpose = static_cast<uint32_t>(idx);
        }
      }
      if (auto g = Str(v["granularity"], what + ": granularity", false)) {
        if (*g == "individual") {
          s.granularity = Granularity::kIndividual;
        } else if (*g == "aggregate") {
          s.granularity = Granularity::kAggregate;
        } else {
          Error(v["granularity"], common::StrCat(what, ": granularity must be individual or "
                                                     "aggregate"));
        }
      }
      if (auto l = Str(v["max_level"], what + ": max_level", true)) {
        if (auto level = ParseLevel(*l)) {
          s.max_level = *level;
        } else {
          Error(v["max_level"], common::StrCat(what, ": max_level '", *l,
                                             "' is not one of non_phi, pseudonymous, phi"));
        }
      }
      s.consent_required_for = StrList(v["consent_required_for"], what + ": consent_required_for");
      s.channel = Str(v["channel"], what + ": channel", false);
      s.jurisdictions = StrList(v["jurisdictions"], what + ": jurisdictions");
      s.token_domain = Str(v["token_domain"], what + ": token_domain", false);
      if (s.token_domain) s.token_domain_pos = PosOf(v["token_domain"]);
      s.description = Str(v["description"], "description", false).value_or("");
      s.actions.assign(c->classes.size(), std::nullopt);
      if (v["actions"].IsDefined() && !v["actions"].IsNull()) {
        ForEachEntry(v["actions"], what + ": actions", [&](const std::string& cls,
                                                           const YAML::Node& ck,
                                                           const YAML::Node& cv) {
          const int ci = c->FindClass(cls);
          if (ci < 0) {
            Error(ck, common::StrCat(what, ": actions name unknown class '", cls, "'"));
            return;
          }
          auto a = Str(cv, common::StrCat(what, ": action for class '", cls, "'"), true);
          if (!a) return;
          auto action = ParseAction(*a);
          if (!action) {
            Error(cv, common::StrCat(what, ": action '", *a, "' for class '", cls,
                                   "' is not one of keep, drop, tokenize, generalize, mask"));
            return;
          }
          if (*action == Action::kTokenize && !s.token_domain) {
            Error(cv, common::StrCat(what, " tokenizes class '", cls,
                                   "' but names no token_domain to take the key from"));
          }
          s.actions[static_cast<size_t>(ci)] = *action;
        });
      }
      if (v["output"].IsDefined() && !v["output"].IsNull()) {
        const YAML::Node out = v["output"];
        ForEachEntry(out, what + ": output", [&](const std::string& key, const YAML::Node&,
                                                 const YAML::Node& ov) {
          if (key == "type") {
            s.output.type = Str(ov, what + ": output type", true).value_or("file");
          } else if (auto val = Str(ov, common::StrCat(what, ": output option '", key, "'"),
                                    true)) {
            s.output.options.emplace_back(key, *val);
          }
        });
        if (validate_output_ != nullptr) {
          if (std::string msg = validate_output_(s.output); !msg.empty()) {
            Error(out, common::StrCat(what, ": ", msg));
          }
        }
      } else if (validate_output_ != nullptr) {
        if (std::string msg = validate_output_(s.output); !msg.empty()) {
          Error(v, common::StrCat(what, ": ", msg));
        }
      }
      sink_nodes_.push_back(v);
      c->sinks.push_back(std::move(s));
    });
  }

  void LoadEventTypes(const YAML::Node& node, Catalog* c) {
    ForEachEntry(node, "event_types", [&](const std::string& id, const YAML::Node& k,
                                          const YAML::Node& v) {
      const std::string what = common::StrCat("event type '", id, "'");
      if (!v.IsMap()) {
        Error(k, common::StrCat(what, " must be a mapping"));
        return;
      }
      CheckKeys(v, what, {"sources", "subject", "purposes", "requires_agreement",
                          "retention_days", "fields", "description"});
      EventType t;
      t.id = id;
      t.pos = PosOf(k);
      t.sources = StrList(v["sources"], what + ": sources");
      if (t.sources.empty()) Error(k, common::StrCat(what, " needs at least one source"));
      for (const auto& p : StrList(v["purposes"], what + ": purposes")) {
        const int idx = c->FindPurpose(p);
        if (idx < 0) {
          Error(v["purposes"], common::StrCat(what, ": unknown purpose '", p, "'"));
        } else {
          t.purposes.push_back(static_cast<uint32_t>(idx));
        }
      }
      t.requires_agreement = Bool(v["requires_agreement"], "requires_agreement").value_or(false);
      if (v["retention_days"].IsDefined() && !v["retention_days"].IsNull()) {
        const std::string r = v["retention_days"].IsScalar() ? v["retention_days"].Scalar() : "";
        int64_t days = 0;
        auto [ptr, ec] = std::from_chars(r.data(), r.data() + r.size(), days);
        if (ec != std::errc() || ptr != r.data() + r.size() || days <= 0) {
          Error(v["retention_days"], common::StrCat(what, ": retention_days must be a positive "
                                                        "whole number"));
        } else {
          t.retention_days = days;
        }
      }
      t.description = Str(v["description"], "description", false).value_or("");
      if (!v["fields"].IsDefined()) {
        Error(k, common::StrCat(what, " declares no fields"));
      } else {
        ForEachEntry(v["fields"], what + ": fields", [&](const std::string& name,
                                                         const YAML::Node& fk,
                                                         const YAML::Node& fv) {
          LoadField(what, name, fk, fv, c, &t);
        });
      }
      const YAML::Node subject = v["subject"];
      if (!subject.IsDefined() || !subject.IsMap()) {
        Error(subject.IsDefined() ? subject : k,
              common::StrCat(what, " needs subject: {type: ..., field: ...} (the person or "
                                 "account the event is about)"));
      } else {
        const YAML::Mark saved = context_;
        context_ = subject.Mark();  // Absent type or field: point at the subject mapping.
        CheckKeys(subject, what + ": subject", {"type", "field"});
        t.subject_type = Str(subject["type"], what + ": subject type", true).value_or("");
        if (auto f = Str(subject["field"], what + ": subject field", true)) {
          const int fi = t.FindField(*f);
          if (fi < 0) {
            Error(subject["field"], common::StrCat(what, ": subject field '", *f,
                                                 "' is not one of its fields"));
          } else {
            t.subject_field = static_cast<uint32_t>(fi);
          }
        }
        context_ = saved;
      }
      c->event_types.push_back(std::move(t));
    });
  }

  void LoadField(const std::string& what, const std::string& name, const YAML::Node& k,
                 const YAML::Node& v, Catalog* c, EventType* t) {
    const std::string fwhat = common::StrCat(what, ": field '", name, "'");
    if (!v.IsMap()) {
      Error(k, common::StrCat(fwhat, " must be a mapping with type and class"));
      return;
    }
    CheckKeys(v, fwhat, {"type", "class", "required", "values", "description"});
    Field f;
    f.name = name;
    f.pos = PosOf(k);
    if (auto type = Str(v["type"], fwhat + ": type", true)) {
      if (auto ft = ParseFieldType(*type)) {
        f.type = *ft;
      } else {
        Error(v["type"], common::StrCat(fwhat, ": type '", *type,
                                      "' is not one of string, integer, number, boolean, date, "
                                      "datetime, enum"));
      }
    }
    if (auto cls = Str(v["class"], fwhat + ": class", true)) {
      const int ci = c->FindClass(*cls);
      if (ci < 0) {
        Error(v["class"], common::StrCat(fwhat, ": unknown class '", *cls, "'"));
      } else {
        f.class_index = static_cast<uint32_t>(ci);
      }
    }
    f.required = Bool(v["required"], fwhat + ": required").value_or(false);
    f.enum_values = StrList(v["values"], fwhat + ": values");
    if (f.type == FieldType::kEnum && f.enum_values.empty()) {
      Error(k, common::StrCat(fwhat, " is an enum and needs values: [...]"));
    }
    if (f.type != FieldType::kEnum && !f.enum_values.empty()) {
      Error(v["values"], common::StrCat(fwhat, ": values are only for enum fields"));
    }
    t->fields.push_back(std::move(f));
  }

  void LoadRules(const YAML::Node& node, Catalog* c) {
    if (!node.IsSequence()) {
      Error(node, "rules must be a list (their order is the order they are checked in)");
      return;
    }
    std::set<std::string> ids;
    for (const auto& v : node) {
      if (!v.IsMap()) {
        Error(v, "each rule must be a mapping with an id");
        continue;
      }
      context_ = v.Mark();
      CheckKeys(v, "a rule", {"id", "description", "event_types", "sinks", "sources",
                              "subject_types", "fields"});
      Rule r;
      r.pos = PosOf(v);
      r.id = Str(v["id"], "rule id", true).value_or("");
      if (!r.id.empty() && !ids.insert(r.id).second) {
        Error(v["id"], common::StrCat("rule id '", r.id, "' is used twice"));
      }
      const std::string what = common::StrCat("rule '", r.id, "'");
      r.description = Str(v["description"], "description", false).value_or("");
      r.event_types = StrList(v["event_types"], what + ": event_types");
      r.sinks = StrList(v["sinks"], what + ": sinks");
      for (const auto& s : r.sinks) {
        if (c->FindSink(s) < 0) Error(v["sinks"], common::StrCat(what, ": unknown sink '", s, "'"));
      }
      r.sources = StrList(v["sources"], what + ": sources");
      r.subject_types = StrList(v["subject_types"], what + ": subject_types");
      if (v["fields"].IsDefined() && !v["fields"].IsNull()) {
        ForEachEntry(v["fields"], what + ": fields", [&](const std::string& name,
                                                         const YAML::Node&,
                                                         const YAML::Node& fv) {
          std::vector<std::string> values;
          if (fv.IsMap()) {
            CheckKeys(fv, common::StrCat(what, ": field '", name, "'"), {"in"});
            values = StrList(fv["in"], common::StrCat(what, ": field '", name, "': in"));
            if (values.empty()) Error(fv, common::StrCat(what, ": 'in' needs at least one value"));
          } else if (fv.IsScalar()) {
            values.push_back(fv.Scalar());
          } else {
            Error(fv, common::StrCat(what, ": field '", name,
                                   "' takes a value or {in: [values]}"));
          }
          r.fields.emplace_back(name, std::move(values));
        });
      }
      rule_nodes_.push_back(v);
      c->rules.push_back(std::move(r));
    }
  }

 public:
  // Settles each rule against each (event type, sink) pair it can apply to.
  void Compile(Catalog* c) {
    for (auto& t : c->event_types) {
      for (uint32_t si = 0; si < c->sinks.size(); ++si) {
        const Sink& sink = c->sinks[si];
        if (std::find(t.purposes.begin(), t.purposes.end(), sink.purpose) == t.purposes.end()) {
          continue;
        }
        std::vector<CompiledRule> rules;
        for (uint32_t ri = 0; ri < c->rules.size(); ++ri) {
          if (auto cr = CompileRule(*c, ri, t, sink)) rules.push_back(std::move(*cr));
        }
        t.candidate_sinks.push_back(si);
        t.candidate_rules.push_back(std::move(rules));
      }
    }
    CheckReferencesToEventTypes(*c);
    // Fields named by rules must exist somewhere, or the rule is a typo.
    for (uint32_t ri = 0; ri < c->rules.size(); ++ri) {
      for (const auto& [name, values] : c->rules[ri].fields) {
        bool declared = std::any_of(c->event_types.begin(), c->event_types.end(),
                                    [&](const EventType& t) { return t.FindField(name) >= 0; });
        if (!declared) {
          Warn(rule_nodes_[ri]["fields"], common::StrCat("rule '", c->rules[ri].id,
                                                       "': no event type declares field '",
                                                       name, "'"));
        }
      }
    }
  }

 private:
  // Names that only make sense if some event type has them. A misspelling in any of these would
  // fail open (a sink that never asks for consent, a deny rule that never matches), so each is
  // reported; as a warning, since a catalog may well name what no event type uses yet.
  void CheckReferencesToEventTypes(const Catalog& c) {
    std::vector<std::string> subjects;
    for (const auto& t : c.event_types) subjects.push_back(t.subject_type);
    const std::string subject_list = common::StrJoin(subjects, ", ");
    auto has_subject = [&](const std::string& st) {
      return std::find(subjects.begin(), subjects.end(), st) != subjects.end();
    };
    for (size_t si = 0; si < c.sinks.size() && si < sink_nodes_.size(); ++si) {
      for (const auto& st : c.sinks[si].consent_required_for) {
        if (!has_subject(st)) {
          Warn(sink_nodes_[si]["consent_required_for"],
                common::StrCat("sink '", c.sinks[si].id, "': consent_required_for names subject "
                               "type '", st, "' that no event type has (subject types: ",
                               subject_list, ")"));
        }
      }
    }
    for (size_t ri = 0; ri < c.rules.size(); ++ri) {
      const Rule& r = c.rules[ri];
      const YAML::Node& node = rule_nodes_[ri];
      for (const auto& glob : r.event_types) {
        if (std::none_of(c.event_types.begin(), c.event_types.end(),
                         [&](const EventType& t) { return common::GlobMatch(glob, t.id); })) {
          Warn(node["event_types"], common::StrCat("rule '", r.id, "': event type pattern '",
                                                    glob, "' matches no event type"));
        }
      }
      for (const auto& source : r.sources) {
        if (std::none_of(c.event_types.begin(), c.event_types.end(), [&](const EventType& t) {
              return std::find(t.sources.begin(), t.sources.end(), source) != t.sources.end();
            })) {
          Warn(node["sources"], common::StrCat("rule '", r.id, "': no event type accepts "
                                                "source '", source, "'"));
        }
      }
      for (const auto& st : r.subject_types) {
        if (!has_subject(st)) {
          Warn(node["subject_types"], common::StrCat("rule '", r.id, "': no event type has "
                                                      "subject type '", st, "'"));
        }
      }
    }
  }

  std::optional<CompiledRule> CompileRule(const Catalog& c, uint32_t ri, const EventType& t,
                                          const Sink& sink) {
    const Rule& r = c.rules[ri];
    auto any_glob = [&](const std::vector<std::string>& globs) {
      return globs.empty() || std::any_of(globs.begin(), globs.end(), [&](const std::string& g) {
               return common::GlobMatch(g, t.id);
             });
    };
    auto contains = [](const std::vector<std::string>& v, const std::string& x) {
      return v.empty() || std::find(v.begin(), v.end(), x) != v.end();
    };
    if (!any_glob(r.event_types) || !contains(r.sinks, sink.id) ||
        !contains(r.subject_types, t.subject_type)) {
      return std::nullopt;
    }
    if (!r.sources.empty() &&
        std::none_of(r.sources.begin(), r.sources.end(), [&](const std::string& s) {
          return std::find(t.sources.begin(), t.sources.end(), s) != t.sources.end();
        })) {
      return std::nullopt;  // No source the type accepts can satisfy the rule.
    }
    CompiledRule cr;
    cr.rule_index = ri;
    cr.sources = r.sources;
    for (const auto& [name, values] : r.fields) {
      const int fi = t.FindField(name);
      if (fi < 0) {
        return std::nullopt;  // A condition on a field the type cannot carry never holds.
      }
      const Field& f = t.fields[static_cast<size_t>(fi)];
      CompiledRule::FieldCondition cond;
      cond.field_index = static_cast<uint32_t>(fi);
      for (const auto& text : values) {
        RuleValue rv;
        rv.text = text;
        bool ok = true;
        switch (f.type) {
          case FieldType::kInteger:
          case FieldType::kNumber:
            // Written as a JSON number would be (no hex, no "inf"), whole for integer fields.
            ok = IsJsonNumber(text) && (f.type == FieldType::kNumber ||
                                        text.find_first_of(".eE") == std::string::npos);
            rv.number = ok ? std::strtod(text.c_str(), nullptr) : 0;
            ok = ok && std::isfinite(rv.number);
            break;
          case FieldType::kDate:
            ok = common::IsCalendarDate(text);
            break;
          case FieldType::kDatetime: {
            const auto t = common::ParseRfc3339(text);
            ok = t.has_value();
            if (t) rv.instant = *t;
            break;
          }
          case FieldType::kBoolean:
            ok = text == "true" || text == "false";
            rv.boolean = text == "true";
            break;
          case FieldType::kEnum:
            ok = std::find(f.enum_values.begin(), f.enum_values.end(), text) !=
                 f.enum_values.end();
            break;
          default:
            break;
        }
        if (!ok) {
          Error(rule_nodes_[ri]["fields"],
                common::StrCat("rule '", r.id, "': value '", text, "' can never equal field '",
                             name, "' of event type '", t.id, "' (declared ",
                             FieldTypeName(f.type), ")"));
        }
        cond.values.push_back(std::move(rv));
      }
      cr.fields.push_back(std::move(cond));
    }
    return cr;
  }

  std::string path_;
  OutputValidator validate_output_;
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
  std::vector<YAML::Node> rule_nodes_;
  std::vector<YAML::Node> sink_nodes_;
  YAML::Mark context_ = YAML::Mark::null_mark();
};

// Every string list in a catalog is a set (sources, purposes, enum values, jurisdictions, rule
// conditions): sorted, so reordering one does not change the policy version.
void AppendStringList(std::vector<std::string> items, std::string* out) {
  std::sort(items.begin(), items.end(),
            [](const std::string& a, const std::string& b) { return json::Utf16Less(a, b); });
  out->push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out->push_back(',');
    json::AppendString(items[i], out);
  }
  out->push_back(']');
}

}  // namespace

std::string Catalog::ToJson() const {
  // A fixed layout (docs/catalog.md, "Policy version"): deterministic for a given meaning, so
  // its hash names the policy. It is not meant to be re-parsed.
  // Purposes, classes, event types and fields are sets: their order in the file means nothing,
  // so they are written sorted. Sinks and rules keep their order: it is the decision order.
  auto sorted = [](const auto& items, auto key) {
    std::vector<const std::decay_t<decltype(items[0])>*> out;
    for (const auto& item : items) out.push_back(&item);
    std::sort(out.begin(), out.end(),
              [&](const auto* a, const auto* b) { return json::Utf16Less(key(*a), key(*b)); });
    return out;
  };
  const auto by_id = [](const auto& x) -> const std::string& { return x.id; };
  std::string o = "{\"event_types\":[";
  const auto types = sorted(event_types, by_id);
  for (size_t i = 0; i < types.size(); ++i) {
    const EventType& t = *types[i];
    if (i > 0) o += ',';
    o += "{\"fields\":[";
    const auto fields = sorted(t.fields, [](const Field& f) -> const std::string& { return f.name; });
    for (size_t j = 0; j < fields.size(); ++j) {
      const Field& f = *fields[j];
      if (j > 0) o += ',';
      o += "{\"class\":";
      json::AppendString(classes[f.class_index].id, &o);
      o += ",\"name\":";
      json::AppendString(f.name, &o);
      o += common::StrCat(",\"required\":", f.required ? "true" : "false", ",\"type\":\"",
                        FieldTypeName(f.type), "\",\"values\":");
      AppendStringList(f.enum_values, &o);
      o += '}';
    }
    o += "],\"id\":";
    json::AppendString(t.id, &o);
    std::vector<std::string> purpose_ids;
    for (auto p : t.purposes) purpose_ids.push_back(purposes[p].id);
    o += ",\"purposes\":";
    AppendStringList(purpose_ids, &o);
    o += common::StrCat(",\"requires_agreement\":", t.requires_agreement ? "true" : "false",
                      ",\"retention_days\":",
                      t.retention_days ? std::to_string(*t.retention_days) : "null",
                      ",\"sources\":");
    AppendStringList(t.sources, &o);
    o += ",\"subject\":{\"field\":";
    json::AppendString(t.fields.empty() ? "" : t.fields[t.subject_field].name, &o);
    o += ",\"type\":";
    json::AppendString(t.subject_type, &o);
    o += "}}";
  }
  o += "],\"classes\":[";
  const auto class_list = sorted(classes, by_id);
  for (size_t i = 0; i < class_list.size(); ++i) {
    if (i > 0) o += ',';
    o += "{\"id\":";
    json::AppendString(class_list[i]->id, &o);
    o += common::StrCat(",\"level\":\"", LevelName(class_list[i]->level), "\"}");
  }
  o += "],\"format\":\"loopgate.catalog/v1\",\"purposes\":[";
  const auto purpose_list = sorted(purposes, by_id);
  for (size_t i = 0; i < purpose_list.size(); ++i) {
    if (i > 0) o += ',';
    o += "{\"id\":";
    json::AppendString(purpose_list[i]->id, &o);
    o += common::StrCat(",\"promotional\":", purpose_list[i]->promotional ? "true" : "false",
                        "}");
  }
  o += "],\"rules\":[";
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (i > 0) o += ',';
    o += "{\"event_types\":";
    AppendStringList(r.event_types, &o);
    o += ",\"fields\":[";
    for (size_t j = 0; j < r.fields.size(); ++j) {
      if (j > 0) o += ',';
      o += "{\"name\":";
      json::AppendString(r.fields[j].first, &o);
      o += ",\"values\":";
      AppendStringList(r.fields[j].second, &o);
      o += '}';
    }
    o += "],\"id\":";
    json::AppendString(r.id, &o);
    o += ",\"sinks\":";
    AppendStringList(r.sinks, &o);
    o += ",\"sources\":";
    AppendStringList(r.sources, &o);
    o += ",\"subject_types\":";
    AppendStringList(r.subject_types, &o);
    o += '}';
  }
  o += "],\"sinks\":[";
  for (size_t i = 0; i < sinks.size(); ++i) {
    const Sink& s = sinks[i];
    if (i > 0) o += ',';
    o += "{\"actions\":{";
    bool first = true;
    std::vector<std::pair<std::string, Action>> actions;
    for (size_t ci = 0; ci < s.actions.size(); ++ci) {
      if (s.actions[ci]) actions.emplace_back(classes[ci].id, *s.actions[ci]);
    }
    std::sort(actions.begin(), actions.end(),
              [](const auto& a, const auto& b) { return json::Utf16Less(a.first, b.first); });
    for (const auto& [cls, action] : actions) {
      if (!first) o += ',';
      first = false;
      json::AppendString(cls, &o);
      o += common::StrCat(":\"", ActionName(action), "\"");
    }
    o += "},\"channel\":";
    if (s.channel) {
      json::AppendString(*s.channel, &o);
    } else {
      o += "null";
    }
    o += ",\"consent_required_for\":";
    AppendStringList(s.consent_required_for, &o);
    o += common::StrCat(",\"granularity\":\"",
                      s.granularity == Granularity::kIndividual ? "individual" : "aggregate",
                      "\",\"id\":");
    json::AppendString(s.id, &o);
    o += ",\"jurisdictions\":";
    AppendStringList(s.jurisdictions, &o);
    o += common::StrCat(",\"max_level\":\"", LevelName(s.max_level), "\",\"output\":{");
    auto options = s.output.options;
    std::sort(options.begin(), options.end());
    for (const auto& [k, v] : options) {
      json::AppendString(k, &o);
      o += ':';
      json::AppendString(v, &o);
      o += ',';
    }
    o += "\"type\":";
    json::AppendString(s.output.type, &o);
    o += "},\"purpose\":";
    json::AppendString(purposes[s.purpose].id, &o);
    o += ",\"token_domain\":";
    if (s.token_domain) {
      json::AppendString(*s.token_domain, &o);
    } else {
      o += "null";
    }
    o += '}';
  }
  o += "]}";
  return o;
}

absl::StatusOr<std::unique_ptr<Catalog>> LoadString(std::string_view yaml, const std::string& path,
                                                    OutputValidator validate_output) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(common::StrCat(path, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": ", e.msg));
  }
  auto c = std::make_unique<Catalog>();
  c->path = path;
  Loader loader(path, validate_output);
  try {
    loader.Load(root, c.get());
    if (loader.errors().empty()) loader.Compile(c.get());
  } catch (const YAML::Exception& e) {
    loader.errors().push_back(common::StrCat(path, ":", e.mark.line + 1, ":", e.mark.column + 1,
                                           ": ", e.msg));
  }
  if (!loader.errors().empty()) {
    // One rule can fail the same way for several sinks: report each message once.
    std::vector<std::string> unique;
    for (auto& e : loader.errors()) {
      if (std::find(unique.begin(), unique.end(), e) == unique.end()) unique.push_back(e);
    }
    return absl::InvalidArgumentError(common::StrJoin(unique, "\n"));
  }
  for (auto& w : loader.warnings()) {
    if (std::find(c->warnings.begin(), c->warnings.end(), w) == c->warnings.end()) {
      c->warnings.push_back(std::move(w));
    }
  }
  c->policy_version = "sha256:" + crypto::ToHex(crypto::Sha256(c->ToJson()));
  return c;
}

absl::StatusOr<std::unique_ptr<Catalog>> LoadFile(const std::string& path,
                                                  OutputValidator validate_output) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(common::StrCat(path, ": cannot open the catalog file"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadString(ss.str(), path, validate_output);
}

}  // namespace loopgate::catalog
