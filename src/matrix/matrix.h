#pragma once
// `loopgate matrix`: the data purpose matrix that legal review reads (docs/governance-tools.md).
// For every event type and field: its class, level and sources; for every sink: whether the field
// can reach it, in which form (kept, token, year, ZIP3, masked, dropped), and under which deny
// rules, agreement and consent conditions.
//
// Nothing here decides anything itself: the forms come from transform::PlanField and the
// conditions from policy::RequirementsFor, the functions whose logic the router runs, on the
// compiled catalog. The matrix therefore cannot drift from the catalog or from routing.
// Output is deterministic (no timestamps), so a matrix can be diffed in review.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "policy/policy.h"
#include "transform/transform.h"

namespace loopgate::matrix {

enum class Format : uint8_t {
  kMarkdown,  // GitHub-flavoured Markdown tables.
  kCsv,       // RFC 4180, one row per (event type, field, sink).
  kHtml,      // One self-contained page: inline style, no scripts, no external resources.
};
// "md", "csv", "html"; nullopt otherwise.
std::optional<Format> ParseFormat(std::string_view name);

// One event type and one sink.
struct Route {
  uint32_t sink = 0;       // Into Catalog::sinks.
  bool candidate = false;  // The sink's purpose is one the type lists (routing.md section 2).
  // With candidate: what the decision checks (rules, agreements, consent), from the catalog.
  policy::Requirements requirements;
  // With candidate: per field of the type (same index), what the sink receives.
  std::vector<transform::FieldPlan> fields;

  // A candidate that some event of the type can reach: no rule denies them all.
  bool Reachable() const { return candidate && requirements.denied_by_rule < 0; }
};

struct Matrix {
  const catalog::Catalog* catalog = nullptr;
  // routes[t][s]: event type t (catalog order) and sink s (catalog order).
  std::vector<std::vector<Route>> routes;
};

// Builds the matrix of a compiled catalog. `catalog` must outlive the result.
Matrix Build(const catalog::Catalog& catalog);

// What a cell says about field `field` of the route's type: "kept", "token", "year", "ZIP3",
// "masked", "dropped (action)", "dropped (level)", "dropped (not generalizable)", with
// " (by value)" where generalize depends on the value; "never (rule 'r')" when a rule denies
// every event; "-" when the sink is not a candidate.
std::string CellText(const Matrix& m, const Route& route, size_t field);

// The conditions of a candidate route, as sentences (empty pieces when none apply).
std::string RulesText(const Matrix& m, const Route& route);
std::string AgreementText(const Matrix& m, const Route& route);
std::string ConsentText(const Matrix& m, size_t type, const Route& route);

std::string Render(const Matrix& m, Format format);
std::string RenderMarkdown(const Matrix& m);
std::string RenderCsv(const Matrix& m);
std::string RenderHtml(const Matrix& m);

// Escapes for each format (exposed for tests).
std::string EscapeMarkdown(std::string_view s);  // Table-safe: | \ ` * [ ] < > & and newlines.
std::string CsvCell(std::string_view s);         // Quoted as needed; formula-looking cells get '.

}  // namespace loopgate::matrix
