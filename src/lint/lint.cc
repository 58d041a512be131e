#include "lint/lint.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "common/strings.h"
#include "json/json.h"
#include "policy/policy.h"

namespace loopgate::lint {

using catalog::Action;
using catalog::Catalog;
using catalog::EventType;
using catalog::Level;
using catalog::Rule;
using catalog::Sink;
using catalog::SourcePos;

std::string_view SeverityName(Severity severity) {
  return severity == Severity::kError ? "error" : "warning";
}

std::string Finding::ToText() const {
  std::string out = file;
  if (line > 0) common::StrAppend(&out, ":", line, ":", column);
  common::StrAppend(&out, ": ", SeverityName(severity), ": ", message, " [", check, "]");
  return out;
}

int Report::errors() const {
  return static_cast<int>(std::count_if(findings.begin(), findings.end(), [](const Finding& f) {
    return f.severity == Severity::kError;
  }));
}

int Report::warnings() const { return static_cast<int>(findings.size()) - errors(); }

std::string Report::Summary() const {
  const int e = errors(), w = warnings();
  std::string out = common::StrCat(file, ": ", e, e == 1 ? " error, " : " errors, ", w,
                                   w == 1 ? " warning" : " warnings");
  if (loaded) {
    common::StrAppend(&out, " (policy version ", policy_version, ")");
  } else {
    out += "; the catalog does not load, so the checks that need it (reach, keys, rule overlap, "
           "promotional phi) did not run";
  }
  return out;
}

std::string Report::ToJson() const {
  std::string o = "{\"file\":";
  json::AppendString(file, &o);
  common::StrAppend(&o, ",\"loaded\":", loaded, ",\"policy_version\":");
  if (loaded) {
    json::AppendString(policy_version, &o);
  } else {
    o += "null";
  }
  common::StrAppend(&o, ",\"errors\":", errors(), ",\"warnings\":", warnings(), ",\"findings\":[");
  for (size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (i > 0) o += ',';
    o += "{\"file\":";
    json::AppendString(f.file, &o);
    common::StrAppend(&o, ",\"line\":", f.line, ",\"column\":", f.column, ",\"severity\":\"",
                      SeverityName(f.severity), "\",\"check\":");
    json::AppendString(f.check, &o);
    o += ",\"message\":";
    json::AppendString(f.message, &o);
    o += '}';
  }
  o += "]}";
  return o;
}

namespace {

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// The check a loader message belongs to. The loader's wording is its contract
// (docs/catalog.md section 11), so matching on it is safe; lint_test pins each case.
std::string_view ClassifyLoaderMessage(std::string_view m) {
  if (Contains(m, "but names no token_domain")) return kTokenizeWithoutTokenDomain;
  if (Contains(m, "consent_required_for names subject type")) return kConsentUnknownSubjectType;
  if (m.rfind("rule '", 0) == 0 &&
      (Contains(m, ": unknown sink '") || Contains(m, "can never equal field") ||
       Contains(m, "no event type declares field") || Contains(m, "matches no event type") ||
       Contains(m, "no event type accepts source") || Contains(m, "no event type has subject"))) {
    return kRuleNeverMatches;
  }
  if (Contains(m, ": unknown purpose '") || Contains(m, ": unknown class '") ||
      Contains(m, "actions name unknown class") || Contains(m, "' is not one of its fields")) {
    return kUnknownReference;
  }
  return kCatalog;
}

Finding At(const Catalog& c, const SourcePos& pos, Severity severity, std::string_view check,
           std::string message) {
  return Finding{c.path, pos.line, pos.column, severity, std::string(check), std::move(message)};
}

std::string Quoted(std::string_view s) { return common::StrCat("'", s, "'"); }

std::string LineOf(const SourcePos& pos) {
  return pos.line > 0 ? common::StrCat(" (line ", pos.line, ")") : std::string();
}

// Two rule values that every event value equal to one also equals: compared as policy's
// Equals compares an event value with a rule value.
bool SameValue(catalog::FieldType type, const catalog::RuleValue& a, const catalog::RuleValue& b) {
  switch (type) {
    case catalog::FieldType::kInteger:
    case catalog::FieldType::kNumber: return a.number == b.number;
    case catalog::FieldType::kBoolean: return a.boolean == b.boolean;
    case catalog::FieldType::kDatetime: return a.instant == b.instant;
    default: return a.text == b.text;
  }
}

// True when `a` matches every event of `type` that `b` matches.
bool Covers(const catalog::CompiledRule& a, const catalog::CompiledRule& b, const EventType& type) {
  if (!a.sources.empty()) {
    // The sources b can match: its own among the type's, or all of the type's.
    for (const auto& s : type.sources) {
      const bool b_takes = b.sources.empty() ||
                           std::find(b.sources.begin(), b.sources.end(), s) != b.sources.end();
      if (b_takes && std::find(a.sources.begin(), a.sources.end(), s) == a.sources.end()) {
        return false;
      }
    }
  }
  for (const auto& ac : a.fields) {
    auto bc = std::find_if(b.fields.begin(), b.fields.end(),
                           [&](const auto& c) { return c.field_index == ac.field_index; });
    if (bc == b.fields.end()) return false;  // b matches events a's condition leaves out.
    const auto field_type = type.fields[ac.field_index].type;
    for (const auto& bv : bc->values) {
      if (std::none_of(ac.values.begin(), ac.values.end(),
                       [&](const auto& av) { return SameValue(field_type, av, bv); })) {
        return false;
      }
    }
  }
  return true;
}

void CheckLoaderWarnings(const Catalog& c, std::vector<Finding>* out) {
  for (const auto& w : c.warnings) out->push_back(FromLoaderMessage(c.path, w));
}

// Event types whose purposes reach no sink, and purposes of a type that no sink serves.
void CheckTypes(const Catalog& c, std::vector<Finding>* out) {
  for (const EventType& t : c.event_types) {
    const std::string what = common::StrCat("event type ", Quoted(t.id));
    if (t.purposes.empty()) {
      out->push_back(At(c, t.pos, Severity::kError, kTypeReachesNoSink,
                        what + " lists no purposes, so no sink can receive its events (every "
                               "valid event of this type is counted as blocked)"));
      continue;
    }
    std::vector<std::string> unserved;
    for (uint32_t p : t.purposes) {
      if (std::none_of(c.sinks.begin(), c.sinks.end(),
                       [&](const Sink& s) { return s.purpose == p; })) {
        unserved.push_back(c.purposes[p].id);
      }
    }
    std::sort(unserved.begin(), unserved.end());
    if (t.candidate_sinks.empty()) {
      out->push_back(At(c, t.pos, Severity::kError, kTypeReachesNoSink,
                        common::StrCat(what, ": no sink serves its purposes (",
                                       common::StrJoin(unserved, ", "),
                                       "), so every valid event of this type is blocked")));
      continue;
    }
    std::vector<std::string> closed;
    for (size_t ci = 0; ci < t.candidate_sinks.size(); ++ci) {
      const auto req = policy::RequirementsFor(c, t, ci);
      if (req.denied_by_rule < 0) break;
      closed.push_back(common::StrCat(c.sinks[t.candidate_sinks[ci]].id, " by rule ",
                                      Quoted(c.rules[static_cast<size_t>(req.denied_by_rule)].id)));
    }
    if (closed.size() == t.candidate_sinks.size()) {
      out->push_back(At(c, t.pos, Severity::kError, kTypeReachesNoSink,
                        common::StrCat(what, ": every sink its purposes reach denies all its "
                                             "events (", common::StrJoin(closed, ", "), ")")));
      continue;
    }
    for (const auto& p : unserved) {
      out->push_back(At(c, t.pos, Severity::kWarning, kPurposeWithoutSink,
                        common::StrCat(what, " lists purpose ", Quoted(p),
                                       " but no sink serves it")));
    }
  }
}

// Sinks no event type can reach: none lists the sink's purpose, or a rule denies every one.
void CheckSinks(const Catalog& c, std::vector<Finding>* out) {
  for (uint32_t si = 0; si < c.sinks.size(); ++si) {
    const Sink& s = c.sinks[si];
    const std::string what = common::StrCat("sink ", Quoted(s.id));
    bool candidate = false, open = false;
    std::vector<std::string> closed;
    for (const EventType& t : c.event_types) {
      for (size_t ci = 0; ci < t.candidate_sinks.size(); ++ci) {
        if (t.candidate_sinks[ci] != si) continue;
        candidate = true;
        const auto req = policy::RequirementsFor(c, t, ci);
        if (req.denied_by_rule < 0) {
          open = true;
        } else {
          closed.push_back(common::StrCat(
              t.id, " by rule ", Quoted(c.rules[static_cast<size_t>(req.denied_by_rule)].id)));
        }
      }
    }
    if (!candidate) {
      out->push_back(At(c, s.pos, Severity::kError, kSinkUnreachable,
                        common::StrCat(what, " serves purpose ", Quoted(c.purposes[s.purpose].id),
                                       ", which no event type lists, so no event can reach it")));
    } else if (!open) {
      out->push_back(At(c, s.pos, Severity::kError, kSinkUnreachable,
                        common::StrCat(what, ": every event type that could reach it is denied "
                                             "by a rule (", common::StrJoin(closed, ", "), ")")));
    }
  }
}

// Tokenizing sinks need a key for their token domain, or `run` refuses to start. Actions whose
// result the level cap always removes mislead a reader of the catalog.
void CheckActions(const Catalog& c, const Options& options, std::vector<Finding>* out) {
  const std::vector<std::pair<std::string, std::string>> joinable =
      options.keys != nullptr ? transform::JoinableTokenDomains(c, *options.keys)
                              : std::vector<std::pair<std::string, std::string>>();
  for (const Sink& s : c.sinks) {
    const std::string what = common::StrCat("sink ", Quoted(s.id));
    const bool tokenizes = std::any_of(s.actions.begin(), s.actions.end(),
                                       [](const auto& a) { return a == Action::kTokenize; });
    if (tokenizes && s.token_domain) {
      const SourcePos pos = s.token_domain_pos.line > 0 ? s.token_domain_pos : s.pos;
      if (options.keys == nullptr) {
        out->push_back(At(c, pos, Severity::kWarning, kTokenizeWithoutKey,
                          common::StrCat(what, " tokenizes under token domain ",
                                         Quoted(*s.token_domain),
                                         "; keys were not given (--keys), so whether the keys "
                                         "file has a key for it was not checked")));
      } else if (options.keys->Find(*s.token_domain) == nullptr) {
        out->push_back(At(c, pos, Severity::kError, kTokenizeWithoutKey,
                          common::StrCat(what, " tokenizes under token domain ",
                                         Quoted(*s.token_domain), " but ", options.keys_path,
                                         " has no key for it (loopgate run would refuse to "
                                         "start)")));
      }
    }
    if (tokenizes && s.token_domain) {
      // Reported at each sink of the later-named domain of a pair: its tokens join the other's.
      for (const auto& [first, second] : joinable) {
        if (*s.token_domain != second) continue;
        const SourcePos pos = s.token_domain_pos.line > 0 ? s.token_domain_pos : s.pos;
        out->push_back(At(c, pos, Severity::kError, kTokenDomainsShareKey,
                          common::StrCat(what, " tokenizes under token domain ", Quoted(second),
                                         ", whose secret in ", options.keys_path,
                                         " is also the secret of token domain ", Quoted(first),
                                         ": their tokens can be joined; give each domain its "
                                         "own key")));
      }
    }
    for (uint32_t ci = 0; ci < s.actions.size(); ++ci) {
      const auto& a = s.actions[ci];
      if (!a || *a == Action::kDrop) continue;
      const Level after = transform::LevelAfter(*a, c.classes[ci].level);
      if (after > s.max_level) {
        out->push_back(At(c, s.pos, Severity::kWarning, kActionUndoneByLevel,
                          common::StrCat(what, ": action ", catalog::ActionName(*a),
                                         " for class ", Quoted(c.classes[ci].id),
                                         " never delivers anything: its result is ",
                                         catalog::LevelName(after), ", above the sink's max_level ",
                                         catalog::LevelName(s.max_level),
                                         ", so the field is dropped (drop:level)")));
      }
    }
  }
}

// Rules that apply to no (event type, sink) pair, and rules that an earlier rule shadows.
void CheckRules(const Catalog& c, std::vector<Finding>* out) {
  // Rules the loader already reported (a name no event type has): one finding is enough.
  std::set<size_t> reported;
  for (const auto& w : c.warnings) {
    for (size_t ri = 0; ri < c.rules.size(); ++ri) {
      if (Contains(w, common::StrCat(": rule ", Quoted(c.rules[ri].id), ": "))) reported.insert(ri);
    }
  }
  for (size_t ri = 0; ri < c.rules.size(); ++ri) {
    const Rule& r = c.rules[ri];
    bool applies = false, shadowed = true;
    std::set<uint32_t> by;
    for (const EventType& t : c.event_types) {
      for (const auto& list : t.candidate_rules) {
        auto self = std::find_if(list.begin(), list.end(),
                                 [&](const auto& cr) { return cr.rule_index == ri; });
        if (self == list.end()) continue;
        applies = true;
        auto earlier = std::find_if(list.begin(), self,
                                    [&](const auto& cr) { return Covers(cr, *self, t); });
        if (earlier == self) {
          shadowed = false;
        } else {
          by.insert(earlier->rule_index);
        }
      }
    }
    const std::string what = common::StrCat("rule ", Quoted(r.id));
    if (!applies) {
      if (reported.count(ri) == 0) {
        out->push_back(At(c, r.pos, Severity::kError, kRuleNeverMatches,
                          what + " can never match: no event type meets all its conditions for "
                                 "a sink it names (each condition matches something, but never "
                                 "together)"));
      }
      continue;
    }
    if (shadowed) {
      std::vector<std::string> names;
      for (uint32_t b : by) names.push_back(Quoted(c.rules[b].id) + LineOf(c.rules[b].pos));
      out->push_back(At(c, r.pos, Severity::kError, kRuleShadowed,
                        common::StrCat(what, " never decides anything: wherever it applies, an "
                                             "earlier rule matches every event it would match (",
                                       common::StrJoin(names, ", "), ")")));
    }
  }
}

// A promotional purpose should not see phi: list what such a sink can receive at that level.
void CheckPromotional(const Catalog& c, std::vector<Finding>* out) {
  constexpr size_t kListed = 5;
  for (uint32_t si = 0; si < c.sinks.size(); ++si) {
    const Sink& s = c.sinks[si];
    const catalog::Purpose& purpose = c.purposes[s.purpose];
    if (!purpose.promotional) continue;
    std::vector<std::string> phi;
    for (const EventType& t : c.event_types) {
      for (size_t ci = 0; ci < t.candidate_sinks.size(); ++ci) {
        if (t.candidate_sinks[ci] != si) continue;
        if (policy::RequirementsFor(c, t, ci).denied_by_rule >= 0) continue;
        for (const auto& f : t.fields) {
          const auto plan = transform::PlanField(c, s, f);
          if (plan.form != transform::Form::kDropped && plan.level == Level::kPhi) {
            phi.push_back(common::StrCat(t.id, ".", f.name, " (", transform::FormName(plan.form),
                                         ")"));
          }
        }
      }
    }
    const std::string what = common::StrCat("sink ", Quoted(s.id), " serves promotional purpose ",
                                            Quoted(purpose.id));
    if (!phi.empty()) {
      std::string list = common::StrJoin(
          std::vector<std::string>(phi.begin(), phi.begin() + std::min(phi.size(), kListed)), ", ");
      if (phi.size() > kListed) common::StrAppend(&list, " and ", phi.size() - kListed, " more");
      out->push_back(At(c, s.pos, Severity::kWarning, kPromotionalPhi,
                        common::StrCat(what, " and can receive phi: ", list)));
    } else if (s.max_level == Level::kPhi) {
      out->push_back(At(c, s.pos, Severity::kWarning, kPromotionalPhi,
                        what + " with max_level phi: a phi field added to any of its event "
                               "types would reach it"));
    }
  }
}

}  // namespace

Finding FromLoaderMessage(const std::string& path, std::string_view text) {
  Finding f;
  f.file = path;
  f.severity = Severity::kError;
  std::string_view rest = text;
  const std::string prefix = path + ":";
  if (rest.substr(0, prefix.size()) == prefix) {
    rest.remove_prefix(prefix.size());
    uint32_t line = 0, column = 0;
    const char* p = rest.data();
    const char* end = rest.data() + rest.size();
    auto [p1, e1] = std::from_chars(p, end, line);
    if (e1 == std::errc() && p1 < end && *p1 == ':') {
      auto [p2, e2] = std::from_chars(p1 + 1, end, column);
      if (e2 == std::errc() && end - p2 >= 2 && p2[0] == ':' && p2[1] == ' ') {
        f.line = line;
        f.column = column;
        rest = std::string_view(p2 + 2, static_cast<size_t>(end - p2 - 2));
      }
    }
    if (f.line == 0 && rest.substr(0, 1) == " ") rest.remove_prefix(1);
  }
  f.message = std::string(rest);
  f.check = std::string(ClassifyLoaderMessage(f.message));
  return f;
}

std::vector<Finding> CheckCatalog(const Catalog& catalog, const Options& options) {
  std::vector<Finding> out;
  CheckLoaderWarnings(catalog, &out);
  CheckTypes(catalog, &out);
  CheckSinks(catalog, &out);
  CheckActions(catalog, options, &out);
  CheckRules(catalog, &out);
  CheckPromotional(catalog, &out);
  return out;
}

namespace {

// The report for what the loader made of the file: its errors, or the checks on the catalog.
Report ReportFor(const std::string& path,
                 absl::StatusOr<std::unique_ptr<catalog::Catalog>> loaded,
                 const Options& options) {
  Report report;
  report.file = path;
  if (loaded.ok()) {
    report.loaded = true;
    report.policy_version = (*loaded)->policy_version;
    report.findings = CheckCatalog(**loaded, options);
  } else {
    const std::string message(loaded.status().message());
    std::string_view all = message;
    while (!all.empty()) {
      const size_t nl = all.find('\n');
      const std::string_view one = all.substr(0, nl);
      if (!one.empty()) report.findings.push_back(FromLoaderMessage(path, one));
      all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
    }
  }
  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [](const Finding& a, const Finding& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  return report;
}

}  // namespace

Report LintString(std::string_view yaml, const std::string& path, const Options& options) {
  return ReportFor(path, catalog::LoadString(yaml, path, options.validate_output), options);
}

absl::StatusOr<Report> LintFile(const std::string& path, const Options& options) {
  auto loaded = catalog::LoadFile(path, options.validate_output);
  if (absl::IsNotFound(loaded.status())) return loaded.status();  // The file cannot be read.
  return ReportFor(path, std::move(loaded), options);
}

}  // namespace loopgate::lint
