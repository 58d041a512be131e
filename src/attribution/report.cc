#include "attribution/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/status.h"
#include "common/strings.h"
#include "json/json.h"

namespace loopgate::attribution {
namespace {

constexpr std::string_view kShapleyFunction =
    "v(S) = conversions (value) of the paths whose channels all lie in S";

std::string Fixed(double x, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, x);
  return buf;
}

std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// Columns: the first left-aligned, the others right-aligned, two spaces apart.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      const std::string pad(width[i] - row[i].size(), ' ');
      line += i == 0 ? row[i] + pad : pad + row[i];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

void AppendKey(std::string_view key, std::string* out) {
  json::AppendString(key, out);
  out->push_back(':');
}

void AppendNumberField(std::string_view key, double value, std::string* out) {
  AppendKey(key, out);
  json::AppendNumber(value, out);
}

}  // namespace

std::string_view ModelName(Model m) {
  switch (m) {
    case Model::kFirstTouch:
      return "first_touch";
    case Model::kLastTouch:
      return "last_touch";
    case Model::kLinear:
      return "linear";
    case Model::kPositionBased:
      return "position_based";
    case Model::kTimeDecay:
      return "time_decay";
    case Model::kMarkov:
      return "markov";
    case Model::kShapley:
      return "shapley";
  }
  return "?";
}

std::optional<Model> ParseModel(std::string_view name) {
  for (Model m : kAllModels) {
    if (ModelName(m) == name) return m;
  }
  return std::nullopt;
}

absl::StatusOr<Report> RunReport(const PathSet& paths, const ReportOptions& options) {
  if (options.order < 1 || options.order > kMaxMarkovOrder) {
    return absl::InvalidArgumentError(
        common::StrCat("the Markov order must be between 1 and ", kMaxMarkovOrder));
  }
  if (!std::isfinite(options.half_life) || options.half_life <= 0) {
    return absl::InvalidArgumentError("the half-life must be a number > 0");
  }
  const bool all = options.models.empty();
  Report report;
  report.paths = &paths;
  report.options = options;
  for (Model m : kAllModels) {
    if (!all &&
        std::find(options.models.begin(), options.models.end(), m) == options.models.end()) {
      continue;
    }
    switch (m) {
      case Model::kFirstTouch:
        report.results.emplace_back(m, FirstTouch(paths));
        break;
      case Model::kLastTouch:
        report.results.emplace_back(m, LastTouch(paths));
        break;
      case Model::kLinear:
        report.results.emplace_back(m, Linear(paths));
        break;
      case Model::kPositionBased:
        report.results.emplace_back(m, PositionBased(paths));
        break;
      case Model::kTimeDecay: {
        ASSIGN_OR_RETURN(Attribution a, TimeDecay(paths, options.half_life));
        report.results.emplace_back(m, std::move(a));
        break;
      }
      case Model::kMarkov: {
        ASSIGN_OR_RETURN(MarkovResult r, Markov(paths, options.order));
        report.results.emplace_back(m, r.attribution);
        report.markov = std::make_unique<MarkovResult>(std::move(r));
        break;
      }
      case Model::kShapley: {
        auto a = Shapley(paths);
        if (!a.ok() && all && a.status().code() == absl::StatusCode::kInvalidArgument) {
          report.skipped.emplace_back(m, std::string(a.status().message()));
          break;
        }
        if (!a.ok()) return a.status();
        report.results.emplace_back(m, std::move(*a));
        break;
      }
    }
  }
  return report;
}

std::string Report::ToJson() const {
  const ChannelTable& table = paths->channels();
  const std::vector<ChannelId> order = table.ByName();
  std::string out = "{";
  AppendNumberField("rows", static_cast<double>(paths->rows()), &out);
  out += ',';
  AppendNumberField("paths", static_cast<double>(paths->size()), &out);
  out += ',';
  AppendNumberField("journeys", static_cast<double>(paths->total_journeys()), &out);
  out += ',';
  AppendNumberField("conversions", static_cast<double>(paths->total_conversions()), &out);
  out += ',';
  AppendNumberField("value", paths->total_value(), &out);
  out += ',';
  AppendNumberField("nulls", static_cast<double>(paths->total_nulls()), &out);
  out += ',';
  AppendKey("channels", &out);
  out += '[';
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0) out += ',';
    json::AppendString(table.name(order[i]), &out);
  }
  out += "],";
  AppendKey("models", &out);
  out += '{';
  for (size_t r = 0; r < results.size(); ++r) {
    const auto& [model, attribution] = results[r];
    if (r > 0) out += ',';
    AppendKey(ModelName(model), &out);
    out += '{';
    switch (model) {
      case Model::kPositionBased:
        out += R"("weights":{"first":0.4,"middle":0.2,"last":0.4},)";
        break;
      case Model::kTimeDecay:
        AppendNumberField("half_life", options.half_life, &out);
        out += R"(,"unit":"touchpoints",)";
        break;
      case Model::kMarkov:
        AppendNumberField("order", markov->order, &out);
        out += ',';
        AppendNumberField("states", static_cast<double>(markov->states), &out);
        out += ',';
        AppendNumberField("transitions", static_cast<double>(markov->transitions), &out);
        out += ',';
        AppendNumberField("base_conversion_probability", markov->conversion_probability, &out);
        out += ',';
        AppendNumberField("value_per_journey", markov->value_per_journey, &out);
        out += ',';
        AppendNumberField("error_bound", markov->error_bound, &out);
        out += ',';
        break;
      case Model::kShapley:
        AppendKey("characteristic_function", &out);
        json::AppendString(kShapleyFunction, &out);
        out += ',';
        break;
      default:
        break;
    }
    AppendKey("channels", &out);
    out += '{';
    for (size_t i = 0; i < order.size(); ++i) {
      const ChannelId c = order[i];
      if (i > 0) out += ',';
      AppendKey(table.name(c), &out);
      out += '{';
      AppendNumberField("conversions", attribution[c].conversions, &out);
      out += ',';
      AppendNumberField("value", attribution[c].value, &out);
      if (model == Model::kMarkov) {
        out += ',';
        AppendNumberField("removal_effect", markov->removal_effect[c], &out);
        out += ',';
        AppendNumberField("value_removal_effect", markov->value_removal_effect[c], &out);
      }
      out += '}';
    }
    out += "}}";
  }
  out += '}';
  if (!skipped.empty()) {
    out += ',';
    AppendKey("skipped", &out);
    out += '{';
    for (size_t i = 0; i < skipped.size(); ++i) {
      if (i > 0) out += ',';
      AppendKey(ModelName(skipped[i].first), &out);
      json::AppendString(skipped[i].second, &out);
    }
    out += '}';
  }
  out += "}\n";
  return out;
}

std::string Report::ToText() const {
  const ChannelTable& table = paths->channels();
  const std::vector<ChannelId> order = table.ByName();
  std::string out = common::StrCat(
      "rows ", paths->rows(), ", distinct paths ", paths->size(), ", channels ", table.size(),
      "; journeys ", paths->total_journeys(), ": conversions ", paths->total_conversions(),
      " (value ", Fixed(paths->total_value(), 2), "), nulls ", paths->total_nulls(), "\n");

  auto measure = [&](std::string_view title, bool value) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> header{std::string(title)};
    for (const auto& [model, _] : results) header.emplace_back(ModelName(model));
    rows.push_back(header);
    std::vector<double> totals(results.size(), 0.0);
    for (ChannelId c : order) {
      std::vector<std::string> row{Printable(table.name(c))};
      for (size_t r = 0; r < results.size(); ++r) {
        const Credit& credit = results[r].second[c];
        const double x = value ? credit.value : credit.conversions;
        totals[r] += x;
        row.push_back(Fixed(x, 2));
      }
      rows.push_back(row);
    }
    std::vector<std::string> total{"total"};
    for (double t : totals) total.push_back(Fixed(t, 2));
    rows.push_back(total);
    return Table(rows);
  };
  if (!results.empty()) {
    out += "\n" + measure("conversions", false);
    if (paths->total_value() != 0) out += "\n" + measure("value", true);
  }

  if (markov) {
    out += common::StrCat("\nmarkov order ", markov->order, ": ", markov->states, " states, ",
                          markov->transitions, " transitions; base conversion probability ",
                          Fixed(markov->conversion_probability, 6), " (error bound ");
    char bound[32];
    std::snprintf(bound, sizeof(bound), "%.1e", markov->error_bound);
    out += common::StrCat(bound, ")\n");
    std::vector<std::vector<std::string>> rows{
        {"channel", "removal_effect", "value_removal_effect"}};
    for (ChannelId c : order) {
      rows.push_back({Printable(table.name(c)), Fixed(markov->removal_effect[c], 6),
                      Fixed(markov->value_removal_effect[c], 6)});
    }
    out += Table(rows);
  }

  std::string notes;
  for (const auto& [model, _] : results) {
    if (model == Model::kPositionBased)
      notes += "position_based: 40% first, 20% middle, 40% last\n";
    if (model == Model::kTimeDecay) {
      notes += common::StrCat("time_decay: half-life ", Fixed(options.half_life, 2),
                              " touchpoints before the end of the path\n");
    }
    if (model == Model::kShapley) notes += common::StrCat("shapley: ", kShapleyFunction, "\n");
  }
  for (const auto& [model, why] : skipped) {
    notes += common::StrCat(ModelName(model), " skipped: ", why, "\n");
  }
  if (!notes.empty()) out += "\n" + notes;
  return out;
}

}  // namespace loopgate::attribution
