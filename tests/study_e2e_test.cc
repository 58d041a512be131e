// loopgate measure through the binary, on the demo world (docs/study.md, docs/demo.md section 4):
// the planted effects are recovered, every released count passes k, the sink's purpose is
// checked, and a differential-privacy budget is refused once spent.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "e2e_util.h"
#include "simdjson.h"

namespace loopgate::testing {
namespace {

constexpr const char* kCampaigns[] = {"cmp-onc-launch", "cmp-cardio-email", "cmp-neuro-webinar",
                                      "cmp-rheum-adherence"};

struct Truth {
  double exposed = 0, holdout = 0, lift = 0;
};

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

Truth ManifestTruth(const std::string& manifest, const std::string& campaign) {
  simdjson::dom::parser p;
  simdjson::dom::element m = p.parse(ReadFile(manifest));
  for (simdjson::dom::element c : m["campaigns"].get_array()) {
    if (std::string_view(c["id"].get_string().value()) != campaign) continue;
    simdjson::dom::element t = c["outcome"]["measured_truth"];
    return {t["exposed_rate"].get_double().value(), t["holdout_rate"].get_double().value(),
            t["lift"].get_double().value()};
  }
  ADD_FAILURE() << "no campaign " << campaign << " in the manifest";
  return {};
}

// Every count in the result that is not null is 0 or at least k (no small cell is released).
void ExpectNoSmallCounts(simdjson::dom::element e, int64_t k, const std::string& where) {
  if (e.is_object()) {
    for (auto [key, v] : e.get_object()) {
      const std::string name(key);
      if ((name == "units" || name == "outcomes" || name == "numerator" ||
           name == "denominator") &&
          v.is_int64()) {
        const int64_t n = v.get_int64().value();
        EXPECT_TRUE(n == 0 || n >= k) << where << "." << name << " = " << n;
      }
      ExpectNoSmallCounts(v, k, where + "." + name);
    }
  } else if (e.is_array()) {
    for (simdjson::dom::element v : e.get_array()) ExpectNoSmallCounts(v, k, where + "[]");
  }
}

// Time to outcome and attribution count the same units as the overall lift table: they are
// released only where that table released the arms, so no suppressed count can be derived by
// combining them (e.g. an arm's units from time to outcome, minus a released cell).
void ExpectNothingReleasedBesideASuppressedArm(simdjson::dom::element res) {
  simdjson::dom::element overall = res["lift"]["overall"];
  const bool arm_released[2] = {!overall["exposed"]["units"].is_null(),
                                !overall["comparison"]["units"].is_null()};
  size_t a = 0;
  for (simdjson::dom::element g : res["time_to_outcome"]["groups"].get_array()) {
    if (a < 2 && !arm_released[a]) {
      EXPECT_TRUE(g["units"].is_null()) << "time to outcome of arm " << a << " released beside "
                                        << "its suppressed lift row";
    }
    ++a;
  }
  if (!arm_released[0] || !arm_released[1]) {
    EXPECT_EQ(res["attribution"]["journeys"].get_int64().value(), 0)
        << "attribution released beside a suppressed lift arm";
  }
}

class DemoWorld {
 public:
  explicit DemoWorld(const std::string& size) {
    const Result r = RunLoopgate({"demo", "--size", size, "--dir", dir_.path()});
    ok_ = r.exit_code == 0;
    if (!ok_) error_ = r.err;
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string study(const std::string& c) const { return dir_ / ("world/studies/" + c + ".yaml"); }
  std::string state() const { return dir_ / "state"; }
  std::string manifest() const { return dir_ / "world/manifest.json"; }
  std::string path(const std::string& p) const { return dir_ / p; }

 private:
  TempDir dir_;
  bool ok_ = false;
  std::string error_;
};

// Writes a variant of one of the demo's study files as world/studies/<name>.yaml: each edit
// replaces the first occurrence of its text, which must be there. Returns the path.
std::string StudyVariant(const DemoWorld& world, const std::string& campaign,
                         const std::string& name,
                         const std::vector<std::pair<std::string, std::string>>& edits) {
  std::string yaml = ReadFile(world.study(campaign));
  for (const auto& [from, to] : edits) {
    const size_t at = yaml.find(from);
    EXPECT_NE(at, std::string::npos) << "no '" << from << "' in " << campaign;
    if (at != std::string::npos) yaml.replace(at, from.size(), to);
  }
  const std::string path = world.path("world/studies/" + name + ".yaml");
  WriteFile(path, yaml);
  return path;
}

// hcp_master.csv's rows without the header, split at commas:
// hcp_id, npi, specialty, account, territory, campaign, arm, hospital.
std::vector<std::vector<std::string>> HcpMaster(const DemoWorld& world) {
  std::vector<std::vector<std::string>> out;
  const std::vector<std::string> rows = ReadLines(world.path("world/hcp_master.csv"));
  EXPECT_FALSE(rows.empty());
  for (size_t i = 1; i < rows.size(); ++i) {
    std::vector<std::string> c;
    std::stringstream line(rows[i]);
    for (std::string cell; std::getline(line, cell, ',');) c.push_back(cell);
    EXPECT_EQ(c.size(), 8u) << rows[i];
    if (c.size() == 8) out.push_back(std::move(c));
  }
  return out;
}

void CheckPlantedEffects(const DemoWorld& world, bool require_estimable) {
  for (const char* campaign : kCampaigns) {
    SCOPED_TRACE(campaign);
    const Result r = RunLoopgate({"measure", "--study", world.study(campaign), "--state",
                                  world.state(), "--json", "--actor", "e2e"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    simdjson::dom::parser p;
    simdjson::dom::element res = p.parse(r.out);
    EXPECT_EQ(std::string_view(res["format"].get_string().value()), "loopgate.study-result/v1");
    EXPECT_EQ(std::string_view(res["run"]["by"].get_string().value()), "e2e");
    // The release is in the ledger: its entry names the study and the digest of exactly the
    // result printed, and the result names its entry.
    ASSERT_TRUE(res["run"]["ledger_seq"].is_int64()) << "run.ledger_seq is not set";
    const int64_t seq = res["run"]["ledger_seq"].get_int64().value();
    std::string printed = r.out;
    if (!printed.empty() && printed.back() == '\n') printed.pop_back();
    const std::string digest = "sha256:" + crypto::ToHex(crypto::Sha256(printed));
    const Result listed = RunLoopgate({"ledger", "releases", "--state", world.state(), "--study",
                                       campaign, "--json"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    bool found = false;
    simdjson::dom::parser lp;
    for (const std::string& line : SplitLines(listed.out)) {
      simdjson::dom::element rel = lp.parse(line);
      if (rel["seq"].get_int64().value() != seq) continue;
      found = true;
      EXPECT_EQ(std::string_view(rel["result_sha256"].get_string().value()), digest);
      EXPECT_EQ(std::string_view(rel["actor"].get_string().value()), "e2e");
      EXPECT_EQ(std::string_view(rel["study"].get_string().value()), campaign);
    }
    EXPECT_TRUE(found) << "no release entry " << seq << " for " << campaign;
    ExpectNoSmallCounts(res, 11, "result");
    ExpectNothingReleasedBesideASuppressedArm(res);
    // Each point of a time-to-outcome curve after t = 0 stands for at least k outcomes since
    // the previous one, so a curve has at most outcomes / k of them.
    for (simdjson::dom::element g : res["time_to_outcome"]["groups"].get_array()) {
      const size_t points = g["curve"].get_array().size();
      if (g["outcomes"].is_null()) {
        EXPECT_EQ(points, 0u);
        continue;
      }
      const int64_t outcomes = g["outcomes"].get_int64().value();
      if (points > 0) {
        EXPECT_LE(static_cast<int64_t>(points - 1), outcomes / 11);
      }
    }
    const simdjson::dom::element overall = res["lift"]["overall"];
    const Truth truth = ManifestTruth(world.manifest(), campaign);
    if (overall["absolute_lift"].is_null()) {
      EXPECT_FALSE(require_estimable) << "overall lift not released";
      continue;
    }
    const double lo = overall["absolute_lift"]["ci"].at(0).get_double().value();
    const double hi = overall["absolute_lift"]["ci"].at(1).get_double().value();
    EXPECT_LE(lo, truth.lift) << "true lift below the 95% interval";
    EXPECT_GE(hi, truth.lift) << "true lift above the 95% interval";
    const double p_value = overall["p_value"].get_double().value();
    if (!require_estimable) continue;
    if (truth.lift == 0) {
      EXPECT_GE(p_value, 0.05) << "a planted zero effect reported as significant";
    } else {
      EXPECT_LT(p_value, 0.05) << "a real effect not found";
    }
  }
}

TEST(StudyE2E, SmallWorldStudiesRunAndReleaseNoSmallCell) {
  DemoWorld world("small");
  ASSERT_TRUE(world.ok()) << world.error();
  CheckPlantedEffects(world, /*require_estimable=*/false);
  // Four releases later the ledger still verifies.
  const Result verify = RunLoopgate({"ledger", "verify", "--state", world.state()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // report study --study measures now: one more release, and the page carries its answer.
  const std::string page = world.path("rheum.html");
  const Result report = RunLoopgate({"report", "study", "--study",
                                     world.study("cmp-rheum-adherence"), "--state", world.state(),
                                     "--html", page, "--json", "--actor", "report-e2e"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  simdjson::dom::parser p;
  simdjson::dom::element res = p.parse(report.out);
  const std::string answer(res["answer"].get_string().value());
  const std::string html = ReadFile(page);
  EXPECT_NE(html.find(answer.substr(0, 40)), std::string::npos) << "the page lacks the answer";
  const int64_t seq = res["run"]["ledger_seq"].get_int64().value();
  const Result listed = RunLoopgate({"ledger", "releases", "--state", world.state(), "--study",
                                     "cmp-rheum-adherence", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const std::vector<std::string> lines = SplitLines(listed.out);
  ASSERT_EQ(lines.size(), 2u) << "measure, then report study --study: two releases";
  simdjson::dom::element last = p.parse(lines.back());
  EXPECT_EQ(last["seq"].get_int64().value(), seq);
  EXPECT_EQ(std::string_view(last["actor"].get_string().value()), "report-e2e");
}

// An account-unit study: accounts of the population, an account with HCPs in both arms left
// out (docs/study.md section 3.1). The holdout's units are counted here from hcp_master.csv alone.
TEST(StudyE2E, AccountUnitsComeFromTheReferenceData) {
  DemoWorld world("small");
  ASSERT_TRUE(world.ok()) << world.error();
  const std::string study = StudyVariant(
      world, "cmp-onc-launch", "onc-by-account",
      {{"unit: hcp", "unit: account"},
       {"id: cmp-onc-launch", "id: onc-by-account"},
       // Every hospital's accounts, so the holdout has enough of them to be released.
       {"where: {campaign: cmp-onc-launch, hospital: st_lukes}", "where: {campaign: cmp-onc-launch}"},
       // A small world has few accounts with outcomes: a smaller k (as a study may set)
       // releases them.
       {"privacy: {k: 11}", "privacy: {k: 2}"}});

  // Accounts of the population (the oncology campaign's HCPs) whose HCPs are all holdout.
  std::map<std::string, std::set<std::string>> arms_of_account;
  for (const std::vector<std::string>& c : HcpMaster(world)) {
    if (c[5] == "cmp-onc-launch") arms_of_account[c[3]].insert(c[6]);
  }
  int64_t holdout_accounts = 0;
  for (const auto& [account, arms] : arms_of_account) {
    holdout_accounts += arms.size() == 1 && *arms.begin() == "holdout";
  }
  ASSERT_GE(holdout_accounts, 2) << "the small world should have holdout accounts";

  const Result r = RunLoopgate({"measure", "--study", study, "--state", world.state(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser p;
  simdjson::dom::element res = p.parse(r.out);
  EXPECT_EQ(std::string_view(res["study"]["unit"].get_string().value()), "account");
  EXPECT_EQ(res["privacy"]["k"].get_int64().value(), 2);
  ExpectNoSmallCounts(res, 2, "result");
  ExpectNothingReleasedBesideASuppressedArm(res);
  simdjson::dom::element holdout = res["lift"]["overall"]["comparison"];
  ASSERT_TRUE(holdout["units"].is_int64()) << "the holdout's accounts were not released";
  EXPECT_EQ(holdout["units"].get_int64().value(), holdout_accounts);
}

// Pre/post without a holdout: the same exposed HCPs before the campaign and during it,
// labelled as weaker evidence in the result and its answer.
TEST(StudyE2E, PrePostComparesTheSameUnitsAndSaysItIsWeakerEvidence) {
  DemoWorld world("small");
  ASSERT_TRUE(world.ok()) << world.error();
  const std::string study = StudyVariant(
      world, "cmp-onc-launch", "onc-pre-post",
      {{"id: cmp-onc-launch", "id: onc-pre-post"},
       {"design: randomized_holdout", "design: pre_post"},
       {"to: \"2026-06-30T00:00:00Z\"}",
        "to: \"2026-06-30T00:00:00Z\", pre_from: \"2025-10-01T00:00:00Z\", pre_to: "
        "\"2026-02-02T00:00:00Z\"}"},
       {"  assignment: {column: arm, exposed: treatment, holdout: holdout}\n", ""},
       {"  compare: exposed_vs_holdout\n", ""},
       {"where: {campaign: cmp-onc-launch, hospital: st_lukes}",
        "where: {campaign: cmp-onc-launch, hospital: st_lukes, arm: treatment}"}});
  const Result r = RunLoopgate({"measure", "--study", study, "--state", world.state(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser p;
  simdjson::dom::element res = p.parse(r.out);
  EXPECT_EQ(std::string_view(res["study"]["design"].get_string().value()), "pre_post");
  EXPECT_EQ(std::string_view(res["lift"]["evidence"].get_string().value()), "pre_post");
  EXPECT_NE(std::string_view(res["lift"]["caveat"].get_string().value()).find("weaker evidence"),
            std::string_view::npos);
  ExpectNoSmallCounts(res, 11, "result");
  simdjson::dom::element overall = res["lift"]["overall"];
  ASSERT_TRUE(overall["exposed"]["units"].is_int64()) << r.out;
  // The same units in both periods.
  EXPECT_EQ(overall["exposed"]["units"].get_int64().value(),
            overall["comparison"]["units"].get_int64().value());
  const std::string answer(res["answer"].get_string().value());
  EXPECT_NE(answer.find("Pre/post: weaker evidence."), std::string::npos) << answer;
}

// A deterministic hash split instead of an arm column: a unit is in the holdout when the first
// 8 bytes of SHA-256("salt:key"), as a fraction of 2^64, are below the share (docs/study.md
// section 2). The holdout is counted here from hcp_master.csv and SHA-256 alone.
TEST(StudyE2E, HashSplitHoldoutIsTheUnitsWhoseDigestFallsBelowTheShare) {
  DemoWorld world("small");
  ASSERT_TRUE(world.ok()) << world.error();
  const std::string study = StudyVariant(
      world, "cmp-onc-launch", "onc-hash-split",
      {{"id: cmp-onc-launch", "id: onc-hash-split"},
       {"{column: arm, exposed: treatment, holdout: holdout}",
        "{hash_salt: e2e-2026, holdout_share: 0.3}"},
       {"privacy: {k: 11}", "privacy: {k: 2}"}});

  int64_t holdout = 0;
  for (const std::vector<std::string>& c : HcpMaster(world)) {
    if (c[5] != "cmp-onc-launch" || c[7] != "st_lukes") continue;
    const crypto::Digest d = crypto::Sha256("e2e-2026:" + c[0]);
    uint64_t x = 0;
    for (int b = 0; b < 8; ++b) x = (x << 8) | d[b];
    holdout += static_cast<double>(x) / 18446744073709551616.0 < 0.3;
  }
  ASSERT_GE(holdout, 2);

  const Result r = RunLoopgate({"measure", "--study", study, "--state", world.state(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser p;
  simdjson::dom::element res = p.parse(r.out);
  ExpectNoSmallCounts(res, 2, "result");
  ExpectNothingReleasedBesideASuppressedArm(res);
  simdjson::dom::element comparison = res["lift"]["overall"]["comparison"];
  ASSERT_TRUE(comparison["units"].is_int64()) << "the holdout was not released";
  EXPECT_EQ(comparison["units"].get_int64().value(), holdout);
}

TEST(StudyE2E, MediumWorldPlantedEffectsAreRecovered) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the medium demo world takes minutes under AddressSanitizer; "
                  "SmallWorldStudiesRunAndReleaseNoSmallCell runs everywhere";
#else
  DemoWorld world("medium");
  ASSERT_TRUE(world.ok()) << world.error();
  CheckPlantedEffects(world, /*require_estimable=*/true);
#endif
}

TEST(StudyE2E, RefusesASinkWithoutAnAnalyticsPurposeAndSpentBudgets) {
  DemoWorld world("small");
  ASSERT_TRUE(world.ok()) << world.error();
  const std::string base = ReadFile(world.study("cmp-rheum-adherence"));

  // support_cases (purpose patient_support) received the same events, unminimized: refused.
  std::string wrong = base;
  wrong.replace(wrong.find("sink: analytics_lake"), 20, "sink: support_cases");
  WriteFile(world.path("world/studies/wrong-sink.yaml"), wrong);
  Result r = RunLoopgate({"measure", "--study", world.path("world/studies/wrong-sink.yaml"),
                          "--state", world.state(), "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not an analytics purpose"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  // Differential privacy: a budget of 1.5 covers one run of epsilon 1, not two.
  std::string dp = base;
  dp.replace(dp.find("privacy: {k: 11}"), 16,
             "privacy: {k: 11, differential_privacy: {epsilon: 1.0, budget: 1.5}}");
  WriteFile(world.path("world/studies/dp.yaml"), dp);
  r = RunLoopgate({"measure", "--study", world.path("world/studies/dp.yaml"), "--state",
                   world.state(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser p;
  simdjson::dom::element res = p.parse(r.out);
  EXPECT_EQ(std::string_view(res["privacy"]["mode"].get_string().value()), "differential_privacy");
  EXPECT_NEAR(res["privacy"]["epsilon_spent"].get_double().value(), 1.0, 1e-9);
  EXPECT_NEAR(res["privacy"]["epsilon_remaining"].get_double().value(), 0.5, 1e-9);
  r = RunLoopgate({"measure", "--study", world.path("world/studies/dp.yaml"), "--state",
                   world.state(), "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("privacy budget"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "") << "nothing may be released once the budget is spent";

  // A study file error names its line and exits 2.
  WriteFile(world.path("world/studies/bad.yaml"), base + "colour: blue\n");
  r = RunLoopgate({"measure", "--study", world.path("world/studies/bad.yaml"), "--state",
                   world.state()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown key 'colour'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace loopgate::testing
