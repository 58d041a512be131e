// loopgate lint through the real binary: the reference catalog, and one broken catalog per
// finding (src/lint/testdata/*.yaml, each stating its expected findings as "# expect:" lines).

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Catalog() { return SourceDir() + "/examples/reference/catalog.yaml"; }
std::string Keys() { return ReferenceDir() + "/keys.json"; }
std::string Testdata() { return SourceDir() + "/src/lint/testdata"; }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(LintCli, ReferenceCatalogWithItsKeysIsClean) {
  Result r = RunLoopgate({"lint", "--config", Catalog(), "--keys", Keys()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Lines(r.out), std::vector<std::string>{
                              Catalog() + ": 0 errors, 0 warnings (policy version sha256:"
                                          "dfc2a7fa515c92f532171f920a53cdbfb3f471802f9144f69eede6e"
                                          "56f965715)"});
  EXPECT_EQ(r.err, "");
}

TEST(LintCli, WithoutKeysEachTokenizingSinkIsAWarningAndTheExitIsStillZero) {
  Result r = RunLoopgate({"lint", "--config", Catalog()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  // Each warning points at its sink's token_domain line.
  const auto catalog_lines = Lines(ReadFile(Catalog()));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_THAT(lines[i], HasSubstr(": warning: sink '"));
    EXPECT_THAT(lines[i], HasSubstr("keys were not given (--keys)"));
    EXPECT_THAT(lines[i], HasSubstr("[tokenize-without-key]"));
    const std::string where = lines[i].substr(Catalog().size() + 1);
    const size_t line = std::stoul(where);
    ASSERT_LE(line, catalog_lines.size());
    EXPECT_EQ(catalog_lines[line - 1].rfind("    token_domain: ", 0), 0u) << lines[i];
  }
  EXPECT_EQ(lines[3], Catalog() + ": 0 errors, 3 warnings (policy version sha256:dfc2a7fa515c92f5"
                                  "32171f920a53cdbfb3f471802f9144f69eede6e56f965715)");
  Result strict = RunLoopgate({"lint", "--config", Catalog(), "--warnings-as-errors"});
  EXPECT_EQ(strict.exit_code, 1);
}

TEST(LintCli, EveryBrokenCatalogReportsItsFindingsWithFileLineAndColumn) {
  const std::string keys = Testdata() + "/keys.json";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(Testdata())) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    std::vector<std::string> expected;
    bool any_error = false;
    for (const auto& line : Lines(ReadFile(path))) {
      if (line.rfind("# expect: ", 0) != 0) continue;
      std::string want = path + ":" + line.substr(10);
      if (auto at = want.find("KEYS"); at != std::string::npos) want.replace(at, 4, keys);
      any_error |= want.find(": error: ") != std::string::npos;
      expected.push_back(want);
    }
    Result r = RunLoopgate({"lint", "--config", path, "--keys", keys});
    auto lines = Lines(r.out);
    ASSERT_FALSE(lines.empty());
    const std::string summary = lines.back();
    lines.pop_back();
    EXPECT_EQ(lines, expected);
    EXPECT_EQ(r.exit_code, any_error ? 1 : 0) << r.out;
    EXPECT_EQ(summary.rfind(path + ": ", 0), 0u) << summary;
  }
  EXPECT_GE(files, 20);
}

TEST(LintCli, JsonForCi) {
  const std::string path = Testdata() + "/rule-shadowed.yaml";
  Result r = RunLoopgate({"lint", "--config", path, "--json"});
  EXPECT_EQ(r.exit_code, 1);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(r.out).get(root), simdjson::SUCCESS) << r.out;
  EXPECT_EQ(std::string_view(root["file"]), path);
  EXPECT_TRUE(bool(root["loaded"]));
  EXPECT_EQ(int64_t(root["errors"]), 1);
  EXPECT_EQ(int64_t(root["warnings"]), 0);
  simdjson::dom::array findings = root["findings"];
  ASSERT_EQ(findings.size(), 1u);
  simdjson::dom::element f = findings.at(0);
  EXPECT_EQ(std::string_view(f["file"]), path);
  EXPECT_EQ(int64_t(f["line"]), 23);
  EXPECT_EQ(int64_t(f["column"]), 5);
  EXPECT_EQ(std::string_view(f["severity"]), "error");
  EXPECT_EQ(std::string_view(f["check"]), "rule-shadowed");
  EXPECT_THAT(std::string(std::string_view(f["message"])), HasSubstr("rule 'r2'"));
}

TEST(LintCli, JsonForACatalogThatDoesNotLoad) {
  Result r = RunLoopgate({"lint", "--config", Testdata() + "/unknown-key.yaml", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(r.out).get(root), simdjson::SUCCESS) << r.out;
  EXPECT_FALSE(bool(root["loaded"]));
  EXPECT_TRUE(root["policy_version"].is_null());
  EXPECT_EQ(int64_t(root["errors"]), 2);
}

TEST(LintCli, UnreadableInputsAreUsageErrors) {
  TempDir dir;
  Result missing = RunLoopgate({"lint", "--config", dir / "nope.yaml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("cannot open the catalog file"));
  WriteFile(dir / "keys.json", "{\"care\": {\"key_id\": \"k\", \"secret_hex\": \"00\"}}");
  Result bad_keys = RunLoopgate({"lint", "--config", Catalog(), "--keys", dir / "keys.json"});
  EXPECT_EQ(bad_keys.exit_code, 2);
  EXPECT_THAT(bad_keys.err, HasSubstr("token domain 'care'"));
  EXPECT_EQ(bad_keys.out, "");
  Result no_config = RunLoopgate({"lint"});
  EXPECT_EQ(no_config.exit_code, 2);
}

TEST(LintCli, AnEditedReferenceCatalogIsCaughtWhereItWasEdited) {
  // The review scenario: a PR misspells the subject type crm asks consent for.
  TempDir dir;
  std::string yaml = ReadFile(Catalog());
  const std::string from = "consent_required_for: [hcp]\n";
  const size_t at = yaml.find(from);
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, from.size(), "consent_required_for: [hpc]\n");
  WriteFile(dir / "catalog.yaml", yaml);
  const size_t line = static_cast<size_t>(std::count(yaml.begin(), yaml.begin() + at, '\n')) + 1;
  Result r = RunLoopgate({"lint", "--config", dir / "catalog.yaml", "--keys", Keys()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr(dir / "catalog.yaml:" + std::to_string(line) +
                               ":27: error: sink 'crm': consent_required_for names subject type "
                               "'hpc' that no event type has"));
  EXPECT_THAT(r.out, HasSubstr("[consent-unknown-subject-type]"));
  EXPECT_THAT(r.out, HasSubstr(": 1 error, 0 warnings"));
}

TEST(LintCli, HelpListsLintAndMatrix) {
  Result r = RunLoopgate({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("lint"));
  EXPECT_THAT(r.out, HasSubstr("matrix"));
  Result lint = RunLoopgate({"lint", "--help"});
  EXPECT_THAT(lint.out, HasSubstr("--keys"));
  EXPECT_THAT(lint.out, HasSubstr("--json"));
  EXPECT_THAT(lint.out, HasSubstr("--warnings-as-errors"));
}

}  // namespace
}  // namespace loopgate::testing
