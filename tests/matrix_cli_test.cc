// loopgate matrix through the real binary. The matrix must say what `loopgate run` does: for every
// decision the reference scenario records, the matrix's form, rules, agreement and consent
// columns agree with the ledger and with what the sink files hold.

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Catalog() { return SourceDir() + "/examples/reference/catalog.yaml"; }

// RFC 4180 rows (quoted cells, doubled quotes, CRLF or LF line ends).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(cell);
      cell.clear();
    } else if (c == '\r') {
      continue;
    } else if (c == '\n') {
      row.push_back(cell);
      cell.clear();
      rows.push_back(row);
      row.clear();
    } else {
      cell.push_back(c);
    }
  }
  return rows;
}

// The matrix as CSV, keyed by (event type, field, sink), each row a map of column to value.
using Row = std::map<std::string, std::string>;
std::map<std::tuple<std::string, std::string, std::string>, Row> CsvMatrix(const std::string& csv) {
  const auto rows = ParseCsv(csv);
  EXPECT_FALSE(rows.empty());
  std::map<std::tuple<std::string, std::string, std::string>, Row> out;
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].size(), rows[0].size()) << "row " << i;
    Row r;
    for (size_t j = 0; j < rows[0].size() && j < rows[i].size(); ++j) r[rows[0][j]] = rows[i][j];
    out[{r["event_type"], r["field"], r["sink"]}] = r;
  }
  return out;
}

std::string Str(simdjson::dom::element e) {
  std::string_view s;
  return e.get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}

// The fields an input line carries (non-null), as (name, minified value).
std::map<std::string, std::string> InputFields(simdjson::dom::element event) {
  static const std::vector<std::string_view> kFlatEnvelope = {
      "event_id", "event_type", "source_system", "timestamp", "sensitivity",
      "consent_scope", "allowed_recipients", "payload"};
  std::map<std::string, std::string> out;
  auto take = [&](simdjson::dom::object obj, bool skip_envelope) {
    for (auto [key, value] : obj) {
      if (skip_envelope &&
          std::find(kFlatEnvelope.begin(), kFlatEnvelope.end(), key) != kFlatEnvelope.end()) {
        continue;
      }
      if (value.is_null()) continue;
      out[std::string(key)] = simdjson::minify(value);
    }
  };
  if (event["specversion"].error() == simdjson::SUCCESS) {
    take(event["data"].get_object().value(), false);
  } else {
    take(event.get_object().value(), true);
    take(event["payload"].get_object().value(), false);
  }
  return out;
}

class MatrixAgreesWithRun : public ::testing::Test {
 protected:
  // Runs `catalog` on the reference scenario and prints its matrix as CSV.
  void RunBoth(const std::string& catalog) {
    auto args = ReferenceRunArgs(dir_ / "state", dir_ / "out");
    args[2] = catalog;
    Result run = RunLoopgate(args);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    Result csv = RunLoopgate({"matrix", "--config", catalog, "--format", "csv"});
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    matrix_ = CsvMatrix(csv.out);
    Result ledger = RunLoopgate({"ledger", "export", "--state", dir_ / "state"});
    ASSERT_EQ(ledger.exit_code, 0) << ledger.err;
    ledger_ = ledger.out;
  }

  // Checks every allow and deny in the ledger against the matrix; counts forms seen.
  void CheckLedger() {
    const auto events = ReadLines(ReferenceDir() + "/events.ndjson");
    simdjson::dom::parser entry_parser, event_parser, out_parser;
    std::istringstream in(ledger_);
    for (std::string line; std::getline(in, line);) {
      simdjson::dom::element e;
      ASSERT_EQ(entry_parser.parse(line).get(e), simdjson::SUCCESS);
      const std::string decision = Str(e["decision"]);
      if (decision != "allow" && decision != "deny") continue;
      const std::string type = Str(e["type"]), sink = Str(e["sink"]);
      const std::string event_id = Str(e["event_id"]);
      SCOPED_TRACE(event_id + " -> " + sink);
      ++decisions_;
      // Every decided sink is a candidate in the matrix (any field row of the type says so).
      const auto first = std::find_if(matrix_.begin(), matrix_.end(), [&](const auto& kv) {
        return std::get<0>(kv.first) == type && std::get<2>(kv.first) == sink;
      });
      ASSERT_NE(first, matrix_.end());
      const Row& route = first->second;
      EXPECT_EQ(route.at("candidate"), "true");
      std::vector<std::string> transforms;
      simdjson::dom::array notes = e["transforms"].get_array().value();
      for (simdjson::dom::element t : notes) transforms.push_back(Str(t));
      simdjson::dom::array consent_ids = e["consent_ids"].get_array().value();
      const size_t consents = consent_ids.size();
      const bool consent_required = route.at("consent") != "not required";
      if (decision == "deny") {
        const std::string reason = Str(e["reason"]);
        if (reason.rfind("rule:", 0) == 0) {
          EXPECT_THAT(" " + route.at("deny_rules") + " ", HasSubstr(" " + reason.substr(5) + " "));
        }
        if (reason == "no_consent" || reason.rfind("consent_", 0) == 0 ||
            reason == "jurisdiction") {
          EXPECT_TRUE(consent_required) << reason;
        }
        if (reason == "no_agreement") {
          EXPECT_EQ(route.at("agreement").rfind("required", 0), 0u);
        }
        if (!route.at("denied_by_rule").empty()) {
          EXPECT_EQ(reason, "rule:" + route.at("denied_by_rule"));
          ++never_;
        }
        continue;
      }
      EXPECT_EQ(route.at("denied_by_rule"), "") << "the matrix says no event reaches this sink";
      EXPECT_EQ(consents > 0, consent_required);
      // What the sink received.
      const size_t line_no = static_cast<size_t>(int64_t(e["line"]));
      ASSERT_LE(line_no, events.size());
      simdjson::dom::element input;
      ASSERT_EQ(event_parser.parse(events[line_no - 1]).get(input), simdjson::SUCCESS);
      simdjson::dom::element delivered;
      bool found = false;
      for (const auto& out_line : ReadLines(dir_ / ("out/" + sink + ".ndjson"))) {
        simdjson::dom::element o;
        ASSERT_EQ(out_parser.parse(out_line).get(o), simdjson::SUCCESS);
        if (Str(o["id"]) == event_id) {
          delivered = o["data"].value();
          found = true;
          break;
        }
      }
      ASSERT_TRUE(found) << "no line for the event in " << sink << ".ndjson";
      for (const auto& [field, value] : InputFields(input)) {
        SCOPED_TRACE(field);
        const Row& cell = matrix_.at({type, field, sink});
        const std::string form = cell.at("form");
        std::string note;
        for (const auto& t : transforms) {
          if (t.rfind(field + "=", 0) == 0) note = t.substr(field.size() + 1);
        }
        simdjson::dom::element out_value;
        const bool present = delivered[field].get(out_value) == simdjson::SUCCESS;
        ++forms_[form];
        if (form == "dropped") {
          EXPECT_FALSE(present);
          EXPECT_EQ(note, cell.at("drop"));
          continue;
        }
        if (cell.at("by_value") == "true" && !present) {
          EXPECT_EQ(note, "drop:not_generalizable");
          continue;
        }
        ASSERT_TRUE(present);
        const std::string out_text = Str(out_value);
        if (form == "kept") {
          EXPECT_EQ(note, "");
          EXPECT_EQ(simdjson::minify(out_value), value);
        } else if (form == "token") {
          EXPECT_EQ(out_text.rfind("tok_", 0), 0u) << out_text;
          EXPECT_EQ(out_text.size(), 36u);
          EXPECT_EQ(note.rfind("tokenize:", 0), 0u) << note;
        } else if (form == "year") {
          EXPECT_EQ(note, "generalize");
          EXPECT_EQ("\"" + out_text, value.substr(0, 5));
        } else if (form == "zip3") {
          EXPECT_EQ(note, "generalize");
          EXPECT_EQ(out_text.size(), 3u) << out_text;
        } else if (form == "masked") {
          EXPECT_EQ(note, "mask");
        } else {
          ADD_FAILURE() << "unexpected form '" << form << "'";
        }
        EXPECT_EQ(cell.at("delivered_level").empty(), false);
      }
    }
  }

  TempDir dir_;
  std::map<std::tuple<std::string, std::string, std::string>, Row> matrix_;
  std::string ledger_;
  std::map<std::string, int> forms_;
  int decisions_ = 0;
  int never_ = 0;
};

TEST_F(MatrixAgreesWithRun, OnTheReferenceScenario) {
  ASSERT_NO_FATAL_FAILURE(RunBoth(Catalog()));
  ASSERT_NO_FATAL_FAILURE(CheckLedger());
  // The run exercised each form the reference catalog has, so agreement is not vacuous.
  EXPECT_GE(decisions_, 30);
  EXPECT_GT(forms_["kept"], 10);
  EXPECT_GT(forms_["token"], 2);
  EXPECT_GE(forms_["dropped"], 2);  // first_name and last_name of line 7 at analytics_lake.
  EXPECT_GT(forms_["year"], 0);
  EXPECT_GT(forms_["zip3"], 0);
}

TEST_F(MatrixAgreesWithRun, WhenARuleClosesASinkTheMatrixSaysNever) {
  std::string yaml = ReadFile(Catalog());
  yaml += "\n  - id: freeze-research\n    sinks: [research_warehouse]\n";
  WriteFile(dir_ / "catalog.yaml", yaml);
  ASSERT_NO_FATAL_FAILURE(RunBoth(dir_ / "catalog.yaml"));
  ASSERT_NO_FATAL_FAILURE(CheckLedger());
  EXPECT_GT(never_, 0);  // The reference's research events are denied by the new rule.
  EXPECT_EQ(ReadLines(dir_ / "out/research_warehouse.ndjson").size(), 0u);
  const Row& cell = matrix_.at({"ehr.therapy.started", "patient_mrn", "research_warehouse"});
  EXPECT_EQ(cell.at("denied_by_rule"), "freeze-research");
  EXPECT_EQ(cell.at("form"), "");
  Result md = RunLoopgate({"matrix", "--config", dir_ / "catalog.yaml"});
  EXPECT_THAT(md.out, HasSubstr("never (rule 'freeze-research')"));
}

TEST(MatrixCli, MarkdownIsTheDefaultAndCoversEveryFieldAndSink) {
  Result r = RunLoopgate({"matrix", "--config", Catalog()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("# Data purpose matrix: reference\n", 0), 0u);
  EXPECT_THAT(r.out, HasSubstr("sha256:dfc2a7fa515c92f532171f920a53cdbfb3f471802f9144f69eede6e5"
                               "6f965715"));
  EXPECT_THAT(r.out, HasSubstr("| crm | marketing_automation |"));
  EXPECT_THAT(r.out, HasSubstr("| patient.support.milestone | first_name | string | "
                               "patient_direct_identifier | phi | no | support_hub | - | - | kept "
                               "| dropped (action) | - | - |"));
  Result again = RunLoopgate({"matrix", "--config", Catalog(), "--format", "md"});
  EXPECT_EQ(again.out, r.out);
}

TEST(MatrixCli, HtmlIsOneSelfContainedPage) {
  Result r = RunLoopgate({"matrix", "--config", Catalog(), "--format", "html"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("<!DOCTYPE html>\n", 0), 0u);
  EXPECT_THAT(r.out, HasSubstr("</html>\n"));
  EXPECT_THAT(r.out, HasSubstr("<td>patient_direct_identifier</td>"));
  for (std::string_view banned : {"<script", "<link", "src=", "href=", "@import", "url("}) {
    EXPECT_THAT(r.out, Not(HasSubstr(std::string(banned))));
  }
}

TEST(MatrixCli, ErrorsAreUsageErrors) {
  Result bad_format = RunLoopgate({"matrix", "--config", Catalog(), "--format", "pdf"});
  EXPECT_EQ(bad_format.exit_code, 2);
  EXPECT_THAT(bad_format.err, HasSubstr("--format 'pdf' is not one of md, csv, html"));
  const std::string broken = SourceDir() + "/src/lint/testdata/unknown-purpose.yaml";
  Result bad_catalog = RunLoopgate({"matrix", "--config", broken});
  EXPECT_EQ(bad_catalog.exit_code, 2);
  EXPECT_THAT(bad_catalog.err,
              HasSubstr(broken + ":10:15: event type 'visit.done': unknown purpose"));
  EXPECT_EQ(bad_catalog.out, "");
}

}  // namespace
}  // namespace loopgate::testing
