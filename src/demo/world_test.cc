// The demo world: deterministic per seed, every line what the manifest says it is, and the
// planted effects recomputed from the generated lines alone.

#include "demo/world.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/line_reader.h"
#include "common/time.h"
#include "crypto/crypto.h"
#include "event/event.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "transform/transform.h"

namespace loopgate::demo {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A world generated into a fresh directory, removed at the end.
struct Generated {
  Generated(Size size, uint64_t seed) {
    static int counter = 0;
    dir = ::testing::TempDir() + "loopgate-demo-world-" + std::to_string(::getpid()) + "-" +
          std::to_string(counter++);
    fs::remove_all(dir);
    fs::create_directories(dir);
    WorldOptions o;
    o.size = size;
    o.seed = seed;
    o.dir = dir;
    auto s = GenerateWorld(o);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) summary = *s;
  }
  ~Generated() { fs::remove_all(dir); }
  std::string File(std::string_view name) const { return ReadFile(dir + "/" + std::string(name)); }

  std::string dir;
  WorldSummary summary;
};

TEST(World, SameSeedSameBytes) {
  Generated a(Size::kSmall, 42), b(Size::kSmall, 42);
  ASSERT_EQ(a.summary.files.size(), 8u);
  for (const WorldFile& f : a.summary.files) {
    EXPECT_EQ(a.File(f.name), b.File(f.name)) << f.name;
  }
}

TEST(World, OtherSeedOtherWorld) {
  Generated a(Size::kSmall, 1), b(Size::kSmall, 2);
  for (std::string_view name : {kEventsFile, kConsentsFile, kHcpMasterFile, kPatientLinksFile,
                                kKeysFile, kManifestFile}) {
    EXPECT_NE(a.File(name), b.File(name)) << name;
  }
  EXPECT_EQ(a.File(kCatalogFile), b.File(kCatalogFile));
}

TEST(World, EmbeddedCatalogIsTheReferenceCatalog) {
  EXPECT_EQ(ReferenceCatalogYaml(),
            ReadFile(std::string(LOOPGATE_SOURCE_DIR) + "/examples/reference/catalog.yaml"));
}

// One small world shared by the tests that only read it.
class SmallWorld : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world_ = new Generated(Size::kSmall, 7);
    simdjson::dom::parser parser;
    manifest_text_ = new std::string(world_->File(kManifestFile));
    auto doc = parser.parse(*manifest_text_);
    ASSERT_FALSE(doc.error());
  }
  static void TearDownTestSuite() {
    delete world_;
    delete manifest_text_;
  }
  // The manifest, parsed (valid until the next call).
  simdjson::dom::element Manifest() { return parser_.parse(*manifest_text_).value(); }

  static Generated* world_;
  static std::string* manifest_text_;
  simdjson::dom::parser parser_;
};
Generated* SmallWorld::world_ = nullptr;
std::string* SmallWorld::manifest_text_ = nullptr;

uint64_t U(simdjson::dom::element e) { return e.get_uint64().value(); }
simdjson::dom::array Arr(simdjson::dom::element e) { return e.get_array().value(); }
simdjson::dom::object Obj(simdjson::dom::element e) { return e.get_object().value(); }

TEST_F(SmallWorld, ManifestListsEveryFileWithItsHash) {
  simdjson::dom::array files = Arr(Manifest()["files"]);
  std::set<std::string> named;
  for (auto f : files) {
    const std::string name(f["name"].get_string().value());
    named.insert(name);
    const std::string content = world_->File(name);
    EXPECT_EQ(U(f["bytes"]), content.size()) << name;
    EXPECT_EQ(std::string(f["sha256"].get_string().value()),
              crypto::ToHex(crypto::Sha256(content)))
        << name;
  }
  EXPECT_EQ(named, (std::set<std::string>{"catalog.yaml", "keys.json", "agreements.ndjson",
                                          "consents.ndjson", "events.ndjson", "hcp_master.csv",
                                          "patient_links.csv"}));
  EXPECT_EQ(Manifest()["format"].get_string().value(), kManifestFormat);
  EXPECT_EQ(U(Manifest()["seed"]), 7u);
}

TEST_F(SmallWorld, SizeIsAboutFiftyThousandLines) {
  EXPECT_GT(world_->summary.lines, 40000u);
  EXPECT_LT(world_->summary.lines, 60000u);
}

// Every line runs through the router's own intake: valid lines pass, each messy line is
// quarantined for the reason the manifest counts it under, duplicates repeat an accepted id with
// the same content, and every quarantine reason of routing.md occurs.
TEST_F(SmallWorld, EveryLineIsWhatTheManifestSays) {
  auto catalog = catalog::LoadString(ReferenceCatalogYaml(), "catalog.yaml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  event::Intake intake(**catalog);
  event::Event ev;
  event::Rejection rej;
  std::map<std::string, crypto::Digest> seen;
  std::map<std::string, uint64_t> reasons;
  uint64_t lines = 0, valid = 0, duplicates = 0;
  std::string padded;
  for (const std::string& line : Lines(world_->File(kEventsFile))) {
    ++lines;
    padded.assign(line);
    padded.append(common::kLinePadding, '\0');
    if (!intake.Process(std::string_view(padded.data(), line.size()), &ev, &rej)) {
      ++reasons[std::string(event::QuarantineReasonName(rej.reason))];
      continue;
    }
    auto [it, inserted] = seen.emplace(ev.id, ev.content_digest);
    if (inserted) {
      ++valid;
    } else if (it->second == ev.content_digest) {
      ++duplicates;
    } else {
      ++reasons["id_conflict"];
    }
  }
  auto m = Manifest();
  EXPECT_EQ(lines, U(m["counts"]["lines"]));
  EXPECT_EQ(valid, U(m["counts"]["valid"]));
  EXPECT_EQ(duplicates, U(m["counts"]["duplicates"]));
  std::map<std::string, uint64_t> stated;
  for (auto [reason, n] : Obj(m["messy_by_reason"])) {
    stated[std::string(reason)] = U(n);
  }
  EXPECT_EQ(reasons, stated);
  for (int r = 0; r <= static_cast<int>(event::QuarantineReason::kIdConflict); ++r) {
    const std::string name(event::QuarantineReasonName(static_cast<event::QuarantineReason>(r)));
    EXPECT_GT(reasons[name], 0u) << name << " never occurs";
  }
  // A few percent messy, about one percent duplicates.
  const double messy = static_cast<double>(U(m["counts"]["messy"])) / static_cast<double>(lines);
  EXPECT_GT(messy, 0.015);
  EXPECT_LT(messy, 0.05);
  EXPECT_GT(duplicates, lines / 200);
  EXPECT_LT(duplicates, lines / 50);
}

// Every consent and agreement record loads: the run would otherwise route under a registry
// other than the one generated.
TEST_F(SmallWorld, RegistryRecordsAreWellFormed) {
  simdjson::dom::parser parser;
  std::set<std::string> statuses, purposes, channels;
  uint64_t with_expiry = 0, records = 0;
  for (const std::string& line : Lines(world_->File(kConsentsFile))) {
    auto doc = parser.parse(line);
    ASSERT_FALSE(doc.error()) << line;
    ++records;
    statuses.insert(std::string(doc["status"].get_string().value()));
    purposes.insert(std::string(doc["purpose"].get_string().value()));
    if (doc["channel"].is_string()) channels.insert(std::string(doc["channel"].get_string().value()));
    if (doc["expires_at"].is_string()) ++with_expiry;
    for (const char* t : {"effective_from", "recorded_at"}) {
      EXPECT_TRUE(common::ParseRfc3339(doc[t].get_string().value()).has_value()) << line;
    }
  }
  EXPECT_EQ(records, U(Manifest()["counts"]["consent_records"]));
  EXPECT_EQ(statuses, (std::set<std::string>{"granted", "revoked"}));
  EXPECT_EQ(purposes, (std::set<std::string>{"aggregate_analytics", "hcp_commercial_engagement",
                                             "patient_support", "promotional_marketing",
                                             "research"}));
  EXPECT_EQ(channels, (std::set<std::string>{"email", "web"}));
  EXPECT_GT(with_expiry, 0u);
  EXPECT_EQ(Lines(world_->File(kAgreementsFile)).size(), 2u);
}

// NPIs are ten digits with a valid Luhn check digit over the "80840" prefix, and unique.
TEST_F(SmallWorld, HcpMasterHasValidUniqueNpis) {
  const auto rows = Lines(world_->File(kHcpMasterFile));
  ASSERT_EQ(rows[0], "hcp_id,npi,specialty,account,territory,campaign,arm,hospital");
  std::set<std::string> npis;
  for (size_t i = 1; i < rows.size(); ++i) {
    const std::string npi = rows[i].substr(rows[i].find(',') + 1, 10);
    ASSERT_EQ(npi.size(), 10u);
    const std::string digits = "80840" + npi;
    int sum = 0;
    for (size_t k = 0; k < digits.size(); ++k) {
      int d = digits[digits.size() - 1 - k] - '0';
      if (k % 2 == 1) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    EXPECT_EQ(sum % 10, 0) << npi;
    npis.insert(npi);
  }
  EXPECT_EQ(npis.size(), rows.size() - 1);
  EXPECT_EQ(npis.size(), U(Manifest()["population"]["hcps"]));
}

// The valid events of the world, with the fields the checks below need.
struct Ev {
  std::string type;
  int64_t ms = 0;
  std::map<std::string, std::string> f;
};

std::vector<Ev> ValidEvents(const std::string& text) {
  auto catalog = catalog::LoadString(ReferenceCatalogYaml(), "catalog.yaml");
  EXPECT_TRUE(catalog.ok());
  event::Intake intake(**catalog);
  event::Event ev;
  event::Rejection rej;
  std::set<std::string> seen;
  std::vector<Ev> out;
  std::string padded;
  for (const std::string& line : Lines(text)) {
    padded.assign(line);
    padded.append(common::kLinePadding, '\0');
    if (!intake.Process(std::string_view(padded.data(), line.size()), &ev, &rej)) continue;
    if (!seen.insert(ev.id).second) continue;  // Duplicates and conflicts.
    Ev e;
    e.type = std::string(ev.type);
    e.ms = ev.time.seconds * 1000 + ev.time.nanos / 1000000;
    for (const auto& fv : ev.fields) {
      std::string_view s;
      if (fv.value.get_string().get(s) == simdjson::SUCCESS) e.f[std::string(fv.name)] = s;
    }
    out.push_back(std::move(e));
  }
  return out;
}

// The planted effects, recomputed from the lines and the reference data alone, equal the
// manifest's realized counts exactly, and the realized rates sit within sampling error of the
// planted probabilities.
TEST_F(SmallWorld, PlantedEffectsCanBeRecomputedFromTheData) {
  const std::vector<Ev> events = ValidEvents(world_->File(kEventsFile));
  struct HcpRow {
    std::string campaign, arm;
  };
  std::map<std::string, HcpRow> hcps;        // By hcp_id.
  std::map<std::string, std::string> by_npi;  // npi -> hcp_id
  const auto rows = Lines(world_->File(kHcpMasterFile));
  for (size_t i = 1; i < rows.size(); ++i) {
    std::vector<std::string> c;
    std::stringstream ss(rows[i]);
    for (std::string cell; std::getline(ss, cell, ',');) c.push_back(cell);
    c.resize(8);
    hcps[c[0]] = {c[5], c[6]};
    by_npi[c[1]] = c[0];
  }
  auto m = Manifest();
  std::map<std::string, std::set<std::string>> assets;  // campaign -> asset ids
  for (auto c : Arr(m["campaigns"])) {
    for (auto a : Arr(c["exposure"]["asset_ids"])) {
      assets[std::string(c["id"].get_string().value())].insert(
          std::string(a.get_string().value()));
    }
  }
  // Exposure: the first campaign-asset engagement of each HCP.
  std::map<std::string, int64_t> first_exposure;
  for (const Ev& e : events) {
    if (e.type != "hcp.content.engaged") continue;
    const std::string& hcp = e.f.at("hcp_id");
    const auto& campaign_assets = assets[hcps[hcp].campaign];
    if (campaign_assets.count(e.f.at("asset_id")) == 0) continue;
    EXPECT_EQ(hcps[hcp].arm, "treatment") << "a holdout HCP was exposed: " << hcp;
    auto [it, inserted] = first_exposure.emplace(hcp, e.ms);
    if (!inserted) it->second = std::min(it->second, e.ms);
  }

  // Therapy starts, attributed through prescriber_npi.
  std::map<std::string, uint64_t> starts;  // "campaign/group"
  std::map<std::string, std::string> code_campaign;
  for (auto c : Arr(m["campaigns"])) {
    if (c["outcome"]["kind"].get_string().value() == "therapy_start") {
      code_campaign[std::string(c["outcome"]["therapy_code"].get_string().value())] =
          std::string(c["id"].get_string().value());
    }
  }
  for (const Ev& e : events) {
    if (e.type != "ehr.therapy.started") continue;
    auto code = code_campaign.find(e.f.at("therapy_code"));
    if (code == code_campaign.end()) continue;
    const std::string& hcp = by_npi.at(e.f.at("prescriber_npi"));
    ASSERT_EQ(hcps[hcp].campaign, code->second);
    const std::string group = hcps[hcp].arm == "holdout"  ? "holdout"
                              : first_exposure.count(hcp) ? "treatment_exposed"
                                                          : "treatment_not_exposed";
    ++starts[code->second + "/" + group];
  }

  // Refills, attributed through the analytics token of patient_id.
  auto keys = transform::KeyStore::LoadFile(world_->dir + "/keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  const transform::KeyStore::Key* analytics = keys->Find("analytics");
  ASSERT_NE(analytics, nullptr);
  std::map<std::string, std::string> treating;  // token -> hcp_id
  const auto links = Lines(world_->File(kPatientLinksFile));
  for (size_t i = 1; i < links.size(); ++i) {
    const size_t a = links[i].find(','), b = links[i].rfind(',');
    if (links[i].substr(a + 1, b - a - 1) == "psp-main") {
      treating[links[i].substr(0, a)] = links[i].substr(b + 1);
    }
  }
  struct Journey {
    int64_t first_fill = -1, discontinued = -1;
    std::vector<int64_t> refills;
  };
  std::map<std::string, Journey> journeys;  // By token.
  for (const Ev& e : events) {
    if (e.type != "patient.support.milestone" || e.f.at("program_id") != "psp-main") continue;
    Journey& j = journeys[transform::Token(*analytics->hmac, e.f.at("patient_id"))];
    const std::string& milestone = e.f.at("milestone");
    if (milestone == "first_fill") j.first_fill = e.ms;
    if (milestone == "refill") j.refills.push_back(e.ms);
    if (milestone == "discontinued") j.discontinued = e.ms;
  }
  constexpr int64_t kDayMs = 86400000;
  const int64_t period_end = common::ParseRfc3339(kPeriodTo)->seconds * 1000;
  struct Counts {
    std::set<std::string> patients;
    uint64_t opportunities = 0, refills = 0;
  };
  std::map<std::string, Counts> refill_groups;
  for (const auto& [token, j] : journeys) {
    ASSERT_EQ(treating.count(token), 1u) << "a refill patient without a link";
    if (j.first_fill < 0) continue;
    const std::string& hcp = treating[token];
    const auto exposure = first_exposure.find(hcp);
    for (int64_t k = 1;; ++k) {
      const int64_t tk = j.first_fill + k * 30 * kDayMs;
      if (tk + 4 * kDayMs >= period_end || (j.discontinued >= 0 && tk > j.discontinued)) break;
      const bool refilled =
          std::any_of(j.refills.begin(), j.refills.end(),
                      [&](int64_t r) { return r >= tk && r < tk + 3 * kDayMs; });
      const bool exposed = exposure != first_exposure.end() && tk >= exposure->second;
      for (const std::string g : {hcps[hcp].arm == "holdout" ? "holdout" : "treatment",
                                  exposed ? "exposed_opportunities" : "other_opportunities"}) {
        refill_groups[g].patients.insert(token);
        ++refill_groups[g].opportunities;
        refill_groups[g].refills += refilled;
      }
    }
  }

  // Within 5 standard errors of the planted probability (a false alarm about once in 1.7
  // million; the seed is fixed anyway).
  auto near = [](uint64_t events, uint64_t n, double p) {
    const double se = std::sqrt(p * (1 - p) / static_cast<double>(n));
    return std::abs(static_cast<double>(events) / static_cast<double>(n) - p) <= 5 * se;
  };
  int checked = 0;
  for (auto c : Arr(m["campaigns"])) {
    const std::string id(c["id"].get_string().value());
    auto o = c["outcome"];
    const double base = o["baseline_rate"].get_double().value();
    const double lift = o["true_lift"].get_double().value();
    auto realized = o["realized"];
    uint64_t exposed_hcps = 0;
    for (const auto& [hcp, when] : first_exposure) exposed_hcps += hcps[hcp].campaign == id;
    EXPECT_EQ(exposed_hcps, U(c["arms"]["treatment"]["exposed"])) << id;
    if (o["kind"].get_string().value() == "therapy_start") {
      const uint64_t per_hcp = U(o["eligible_patients_per_hcp"]);
      for (const char* g : {"holdout", "treatment_exposed", "treatment_not_exposed"}) {
        const uint64_t n = U(realized[g]["eligible_patients"]);
        EXPECT_EQ(n, U(realized[g]["hcps"]) * per_hcp) << id << " " << g;
        EXPECT_EQ(U(realized[g]["starts"]), starts[id + "/" + g]) << id << " " << g;
        const double p = base + (std::string_view(g) == "treatment_exposed" ? lift : 0.0);
        EXPECT_TRUE(near(starts[id + "/" + g], n, p)) << id << " " << g;
        ++checked;
      }
      EXPECT_EQ(U(realized["treatment_exposed"]["hcps"]), U(c["arms"]["treatment"]["exposed"]));
    } else {
      for (const char* g : {"holdout", "treatment", "exposed_opportunities",
                            "other_opportunities"}) {
        const Counts& got = refill_groups[g];
        EXPECT_EQ(U(realized[g]["patients"]), got.patients.size()) << g;
        EXPECT_EQ(U(realized[g]["opportunities"]), got.opportunities) << g;
        EXPECT_EQ(U(realized[g]["refills"]), got.refills) << g;
        ++checked;
      }
      const Counts& exposed = refill_groups["exposed_opportunities"];
      const Counts& other = refill_groups["other_opportunities"];
      EXPECT_TRUE(near(exposed.refills, exposed.opportunities, base + lift));
      EXPECT_TRUE(near(other.refills, other.opportunities, base));
      EXPECT_GT(exposed.opportunities, 500u);
    }
  }
  EXPECT_EQ(checked, 3 * 3 + 4);
}

// Activity follows the working week and the working day.
TEST_F(SmallWorld, EventsFollowDailyAndWeeklyRhythm) {
  const std::vector<Ev> events = ValidEvents(world_->File(kEventsFile));
  uint64_t weekday = 0, weekend = 0, office = 0, night = 0;
  int64_t previous = 0;
  uint64_t out_of_order = 0;
  for (const Ev& e : events) {
    // Sources that write whole seconds can look a second early.
    if (e.ms < previous - 2000) ++out_of_order;
    previous = std::max(previous, e.ms);
    if (e.type != "hcp.content.engaged") continue;
    const int64_t day = e.ms / 86400000;
    const int weekday_index = static_cast<int>((day + 3) % 7);  // 1970-01-01 was a Thursday.
    (weekday_index >= 5 ? weekend : weekday) += 1;
    const int hour = static_cast<int>(e.ms / 3600000 % 24);
    if (hour >= 13 && hour < 21) ++office;  // 9:00-17:00 US Eastern.
    if (hour >= 4 && hour < 10) ++night;    // Midnight-6:00 US Eastern.
  }
  // Per day: 5 weekdays against 2 weekend days.
  EXPECT_GT(static_cast<double>(weekday) / 5, 3.0 * static_cast<double>(weekend) / 2);
  EXPECT_GT(office, 5 * night);
  // Lines are in time order, but for duplicates and messy lines (not counted here).
  EXPECT_EQ(out_of_order, 0u);
}

TEST(World, SizeNamesRoundTrip) {
  for (Size s : {Size::kSmall, Size::kMedium, Size::kLarge}) {
    EXPECT_EQ(ParseSize(SizeName(s)), s);
  }
  EXPECT_FALSE(ParseSize("huge").has_value());
}

}  // namespace
}  // namespace loopgate::demo
