#include "matrix/matrix.h"

#include <cctype>

#include "common/strings.h"
#include "common/text.h"

namespace loopgate::matrix {

using catalog::Catalog;
using catalog::EventType;
using catalog::Sink;
using transform::DropCause;
using transform::FieldPlan;
using transform::Form;

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "md") return Format::kMarkdown;
  if (name == "csv") return Format::kCsv;
  if (name == "html") return Format::kHtml;
  return std::nullopt;
}

Matrix Build(const Catalog& catalog) {
  Matrix m;
  m.catalog = &catalog;
  for (const EventType& t : catalog.event_types) {
    std::vector<Route> row(catalog.sinks.size());
    for (uint32_t si = 0; si < catalog.sinks.size(); ++si) row[si].sink = si;
    for (size_t ci = 0; ci < t.candidate_sinks.size(); ++ci) {
      Route& r = row[t.candidate_sinks[ci]];
      r.candidate = true;
      r.requirements = policy::RequirementsFor(catalog, t, ci);
      for (const auto& f : t.fields) {
        r.fields.push_back(transform::PlanField(catalog, catalog.sinks[r.sink], f));
      }
    }
    m.routes.push_back(std::move(row));
  }
  return m;
}

namespace {

std::string Quoted(std::string_view s) { return common::StrCat("'", s, "'"); }

std::string_view FormLabel(Form form) {
  switch (form) {
    case Form::kKept: return "kept";
    case Form::kToken: return "token";
    case Form::kYear: return "year";
    case Form::kZip3: return "ZIP3";
    case Form::kMasked: return "masked";
    case Form::kDropped: return "dropped";
  }
  return "dropped";
}

std::string_view DropLabel(DropCause cause) {
  switch (cause) {
    case DropCause::kAction: return "action";
    case DropCause::kLevel: return "level";
    case DropCause::kNotGeneralizable: return "not generalizable";
    case DropCause::kNone: break;
  }
  return "";
}

std::string ListOrNone(const std::vector<std::string>& items) {
  return items.empty() ? std::string("-") : common::StrJoin(items, ", ");
}

}  // namespace

std::string CellText(const Matrix& m, const Route& route, size_t field) {
  if (!route.candidate) return "-";
  if (route.requirements.denied_by_rule >= 0) {
    return common::StrCat(
        "never (rule ",
        Quoted(m.catalog->rules[static_cast<size_t>(route.requirements.denied_by_rule)].id), ")");
  }
  const FieldPlan& plan = route.fields[field];
  std::string out(FormLabel(plan.form));
  if (plan.form == Form::kDropped) common::StrAppend(&out, " (", DropLabel(plan.drop), ")");
  if (plan.by_value) out += " (by value)";
  return out;
}

std::string RulesText(const Matrix& m, const Route& route) {
  if (!route.candidate) return "";
  const auto& req = route.requirements;
  if (req.denied_by_rule >= 0) {
    return common::StrCat("rule ",
                          Quoted(m.catalog->rules[static_cast<size_t>(req.denied_by_rule)].id),
                          " denies every event");
  }
  if (req.rules.empty()) return "none";
  std::vector<std::string> ids;
  for (uint32_t ri : req.rules) ids.push_back(Quoted(m.catalog->rules[ri].id));
  return common::StrCat("denied when ", common::StrJoin(ids, " or "), " matches");
}

std::string AgreementText(const Matrix& m, const Route& route) {
  if (!route.candidate) return "";
  const auto& req = route.requirements;
  const std::string purpose = Quoted(m.catalog->purposes[m.catalog->sinks[route.sink].purpose].id);
  const std::string level = req.individual ? " at individual level" : "";
  if (req.agreement_required) {
    return common::StrCat("required: an agreement in force for the source must allow ", purpose,
                          level);
  }
  return common::StrCat("if the source has agreements in force, one must allow ", purpose, level);
}

std::string ConsentText(const Matrix& m, size_t type, const Route& route) {
  if (!route.candidate) return "";
  if (!route.requirements.consent_required) return "not required";
  const Sink& s = m.catalog->sinks[route.sink];
  std::string out = common::StrCat("the ", m.catalog->event_types[type].subject_type,
                                   "'s consent to ", Quoted(m.catalog->purposes[s.purpose].id));
  if (s.channel) common::StrAppend(&out, ", channel ", Quoted(*s.channel));
  if (!s.jurisdictions.empty()) {
    common::StrAppend(&out, ", jurisdiction ", common::StrJoin(s.jurisdictions, " or "));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Escaping.


std::string EscapeMarkdown(std::string_view s) {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\n':
      case '\r': out.push_back(' '); break;
      case '|': case '\\': case '`': case '*': case '[': case ']': case '~': case '#':
        out.push_back('\\');
        out.push_back(c);
        break;
      case '_':
        // Inside a word (patient_id) an underscore is literal; at a word's edge it could open
        // emphasis.
        if (i == 0 || i + 1 == s.size() || !alnum(s[i - 1]) || !alnum(s[i + 1])) {
          out.push_back('\\');
        }
        out.push_back(c);
        break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string CsvCell(std::string_view s) {
  std::string text(s);
  // A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
  if (!text.empty() && std::string_view("=+-@\t\r").find(text[0]) != std::string_view::npos) {
    text.insert(text.begin(), '\'');
  }
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rendering. Each format takes the same rows, built once here.

namespace {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

std::string Title(const Catalog& c) {
  return c.name.empty() ? std::string("Data purpose matrix")
                        : common::StrCat("Data purpose matrix: ", c.name);
}

std::string Provenance(const Catalog& c) {
  return common::StrCat("Catalog ", c.path, ", policy version ", c.policy_version,
                        ". Generated by loopgate matrix from the compiled catalog with the "
                        "router's own transform and policy logic: regenerate it, do not edit it.");
}

constexpr std::string_view kFieldsNote =
    "Each sink column says in which form the field reaches that sink: kept, token (keyed HMAC "
    "under the sink's token domain), year, ZIP3, masked (all but the last four characters), or "
    "dropped, with why (the sink's action, the sink's level, or a value generalize cannot cut). "
    "\"by value\": a string generalized becomes its ZIP3 if it is a US ZIP, its year if it is a "
    "date, and is dropped otherwise. \"never\": a deny rule stops every event of the type for "
    "that sink. \"-\": the sink's purpose is not one the event type lists, so it never receives "
    "the type. A field reaches a sink only for events that pass the conditions below.";

constexpr std::string_view kConditionsNote =
    "For each event type and each sink its purposes reach, the checks of every event, in order: "
    "deny rules, the producer's allowed_recipients (which can only narrow), institution "
    "agreements, then consent. The first that fails denies the sink and is recorded in the "
    "ledger.";

Table PurposesTable(const Matrix& m) {
  const Catalog& c = *m.catalog;
  Table t{{"purpose", "promotional", "served by", "description"}, {}};
  for (uint32_t pi = 0; pi < c.purposes.size(); ++pi) {
    std::vector<std::string> sinks;
    for (const auto& s : c.sinks) {
      if (s.purpose == pi) sinks.push_back(s.id);
    }
    t.rows.push_back({c.purposes[pi].id, c.purposes[pi].promotional ? "yes" : "no",
                      ListOrNone(sinks), c.purposes[pi].description});
  }
  return t;
}

Table ClassesTable(const Matrix& m) {
  const Catalog& c = *m.catalog;
  Table t{{"class", "level", "description"}, {}};
  for (const auto& dc : c.classes) {
    t.rows.push_back({dc.id, std::string(catalog::LevelName(dc.level)), dc.description});
  }
  return t;
}

Table EventTypesTable(const Matrix& m) {
  const Catalog& c = *m.catalog;
  Table t{{"event type", "subject", "purposes", "sinks it can reach", "requires agreement",
           "sources", "retention days", "description"},
          {}};
  for (size_t ti = 0; ti < c.event_types.size(); ++ti) {
    const EventType& type = c.event_types[ti];
    std::vector<std::string> purposes, sinks;
    for (uint32_t p : type.purposes) purposes.push_back(c.purposes[p].id);
    for (const Route& r : m.routes[ti]) {
      if (r.Reachable()) sinks.push_back(c.sinks[r.sink].id);
    }
    t.rows.push_back({type.id,
                      common::StrCat(type.subject_type, " (",
                                     type.fields.empty() ? std::string()
                                                         : type.fields[type.subject_field].name,
                                     ")"),
                      ListOrNone(purposes), ListOrNone(sinks),
                      type.requires_agreement ? "yes" : "no", common::StrJoin(type.sources, ", "),
                      type.retention_days ? std::to_string(*type.retention_days) : "-",
                      type.description});
  }
  return t;
}

Table SinksTable(const Matrix& m) {
  const Catalog& c = *m.catalog;
  Table t{{"sink", "purpose", "promotional", "granularity", "max level", "consent required for",
           "channel", "jurisdictions", "token domain"},
          {}};
  for (const auto& s : c.sinks) {
    const auto& p = c.purposes[s.purpose];
    t.rows.push_back({s.id, p.id, p.promotional ? "yes" : "no",
                      s.granularity == catalog::Granularity::kIndividual ? "individual"
                                                                         : "aggregate",
                      std::string(catalog::LevelName(s.max_level)),
                      ListOrNone(s.consent_required_for), s.channel.value_or("-"),
                      ListOrNone(s.jurisdictions), s.token_domain.value_or("-")});
  }
  return t;
}

Table FieldsTable(const Matrix& m) {
  const Catalog& c = *m.catalog;
  Table t{{"event type", "field", "type", "class", "level", "required", "sources"}, {}};
  for (const auto& s : c.sinks) t.header.push_back(s.id);
  for (size_t ti = 0; ti < c.event_types.size(); ++ti) {
    const EventType& type = c.event_types[ti];
    for (size_t fi = 0; fi < type.fields.size(); ++fi) {
      const auto& f = type.fields[fi];
      const auto& dc = c.classes[f.class_index];
      std::vector<std::string> row = {type.id,
                                      f.name,
                                      std::string(catalog::FieldTypeName(f.type)),
                                      dc.id,
                                      std::string(catalog::LevelName(dc.level)),
                                      f.required ? "yes" : "no",
                                      common::StrJoin(type.sources, ", ")};
      for (const Route& r : m.routes[ti]) row.push_back(CellText(m, r, fi));
      t.rows.push_back(std::move(row));
    }
  }
  return t;
}

Table ConditionsTable(const Matrix& m) {
  const Catalog& c = *m.catalog;
  Table t{{"event type", "sink", "purpose", "deny rules", "agreement", "consent"}, {}};
  for (size_t ti = 0; ti < c.event_types.size(); ++ti) {
    for (const Route& r : m.routes[ti]) {
      if (!r.candidate) continue;
      const Sink& s = c.sinks[r.sink];
      t.rows.push_back({c.event_types[ti].id, s.id, c.purposes[s.purpose].id, RulesText(m, r),
                        AgreementText(m, r), ConsentText(m, ti, r)});
    }
  }
  return t;
}

void MarkdownTable(const Table& t, std::string* out) {
  auto row = [&](const std::vector<std::string>& cells) {
    *out += "|";
    for (const auto& cell : cells) common::StrAppend(out, " ", EscapeMarkdown(cell), " |");
    *out += "\n";
  };
  row(t.header);
  *out += "|";
  for (size_t i = 0; i < t.header.size(); ++i) *out += "---|";
  *out += "\n";
  for (const auto& r : t.rows) row(r);
}

void HtmlTable(const Table& t, std::string* out) {
  *out += "<table>\n<thead><tr>";
  for (const auto& h : t.header) common::StrAppend(out, "<th>", common::EscapeHtml(h), "</th>");
  *out += "</tr></thead>\n<tbody>\n";
  for (const auto& r : t.rows) {
    *out += "<tr>";
    for (const auto& cell : r) {
      // A class per form lets the page colour cells without any script.
      std::string_view cls;
      if (cell.rfind("dropped", 0) == 0 || cell.rfind("never", 0) == 0) {
        cls = " class=\"dropped\"";
      } else if (cell == "-") {
        cls = " class=\"none\"";
      }
      common::StrAppend(out, "<td", cls, ">", common::EscapeHtml(cell), "</td>");
    }
    *out += "</tr>\n";
  }
  *out += "</tbody>\n</table>\n";
}

}  // namespace

std::string RenderMarkdown(const Matrix& m) {
  const Catalog& c = *m.catalog;
  std::string out = common::StrCat("# ", EscapeMarkdown(Title(c)), "\n\n",
                                   EscapeMarkdown(Provenance(c)), "\n\n## Fields and sinks\n\n",
                                   EscapeMarkdown(kFieldsNote), "\n\n");
  MarkdownTable(FieldsTable(m), &out);
  common::StrAppend(&out, "\n## Conditions\n\n", EscapeMarkdown(kConditionsNote), "\n\n");
  MarkdownTable(ConditionsTable(m), &out);
  out += "\n## Event types\n\n";
  MarkdownTable(EventTypesTable(m), &out);
  out += "\n## Sinks\n\n";
  MarkdownTable(SinksTable(m), &out);
  out += "\n## Purposes\n\n";
  MarkdownTable(PurposesTable(m), &out);
  out += "\n## Data classes\n\n";
  MarkdownTable(ClassesTable(m), &out);
  return out;
}

std::string RenderHtml(const Matrix& m) {
  const Catalog& c = *m.catalog;
  std::string out = common::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
      common::EscapeHtml(Title(c)),
      "</title>\n<style>\n"
      "body{font-family:sans-serif;margin:2em;color:#222}\n"
      "table{border-collapse:collapse;margin-bottom:2em;font-size:0.9em}\n"
      "th,td{border:1px solid #bbb;padding:0.3em 0.5em;text-align:left;vertical-align:top}\n"
      "th{background:#eee}\n"
      "td.dropped{color:#777}\n"
      "td.none{color:#aaa;text-align:center}\n"
      "</style>\n</head>\n<body>\n<h1>",
      common::EscapeHtml(Title(c)), "</h1>\n<p>", common::EscapeHtml(Provenance(c)),
      "</p>\n<h2>Fields and sinks</h2>\n<p>", common::EscapeHtml(kFieldsNote), "</p>\n");
  HtmlTable(FieldsTable(m), &out);
  common::StrAppend(&out, "<h2>Conditions</h2>\n<p>", common::EscapeHtml(kConditionsNote), "</p>\n");
  HtmlTable(ConditionsTable(m), &out);
  out += "<h2>Event types</h2>\n";
  HtmlTable(EventTypesTable(m), &out);
  out += "<h2>Sinks</h2>\n";
  HtmlTable(SinksTable(m), &out);
  out += "<h2>Purposes</h2>\n";
  HtmlTable(PurposesTable(m), &out);
  out += "<h2>Data classes</h2>\n";
  HtmlTable(ClassesTable(m), &out);
  out += "</body>\n</html>\n";
  return out;
}

std::string RenderCsv(const Matrix& m) {
  const Catalog& c = *m.catalog;
  std::string out =
      "event_type,field,type,class,level,required,sources,sink,purpose,candidate,"
      "denied_by_rule,form,by_value,drop,delivered_level,deny_rules,agreement,consent\r\n";
  for (size_t ti = 0; ti < c.event_types.size(); ++ti) {
    const EventType& type = c.event_types[ti];
    for (size_t fi = 0; fi < type.fields.size(); ++fi) {
      const auto& f = type.fields[fi];
      const auto& dc = c.classes[f.class_index];
      for (const Route& r : m.routes[ti]) {
        const Sink& s = c.sinks[r.sink];
        std::vector<std::string> cells = {type.id,
                                          f.name,
                                          std::string(catalog::FieldTypeName(f.type)),
                                          dc.id,
                                          std::string(catalog::LevelName(dc.level)),
                                          f.required ? "true" : "false",
                                          common::StrJoin(type.sources, " "),
                                          s.id,
                                          c.purposes[s.purpose].id,
                                          r.candidate ? "true" : "false"};
        const int denied = r.candidate ? r.requirements.denied_by_rule : -1;
        cells.push_back(denied >= 0 ? c.rules[static_cast<size_t>(denied)].id : "");
        if (r.Reachable()) {
          const FieldPlan& p = r.fields[fi];
          cells.push_back(std::string(transform::FormName(p.form)));
          cells.push_back(p.by_value ? "true" : "false");
          cells.push_back(std::string(transform::DropCauseName(p.drop)));
          cells.push_back(p.form == Form::kDropped ? "" : std::string(catalog::LevelName(p.level)));
        } else {
          cells.insert(cells.end(), {"", "", "", ""});
        }
        std::vector<std::string> rule_ids;
        if (r.candidate) {
          for (uint32_t ri : r.requirements.rules) rule_ids.push_back(c.rules[ri].id);
        }
        cells.push_back(common::StrJoin(rule_ids, " "));
        cells.push_back(AgreementText(m, r));
        cells.push_back(ConsentText(m, ti, r));
        for (size_t i = 0; i < cells.size(); ++i) {
          if (i > 0) out += ',';
          out += CsvCell(cells[i]);
        }
        out += "\r\n";
      }
    }
  }
  return out;
}

std::string Render(const Matrix& m, Format format) {
  switch (format) {
    case Format::kMarkdown: return RenderMarkdown(m);
    case Format::kCsv: return RenderCsv(m);
    case Format::kHtml: return RenderHtml(m);
  }
  return RenderMarkdown(m);
}

}  // namespace loopgate::matrix
