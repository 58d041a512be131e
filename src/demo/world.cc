#include "demo/world.h"

#include <cmath>
#include <filesystem>

#include <string>
#include <vector>

#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"
#include "crypto/crypto.h"
#include "demo/internal/model.h"
#include "demo/json_writer.h"
#include "event/event.h"
#include "json/json.h"
#include "transform/transform.h"

namespace loopgate::demo {

std::string_view SizeName(Size size) {
  switch (size) {
    case Size::kSmall:
      return "small";
    case Size::kMedium:
      return "medium";
    case Size::kLarge:
      return "large";
  }
  return "?";
}

std::optional<Size> ParseSize(std::string_view name) {
  for (Size s : {Size::kSmall, Size::kMedium, Size::kLarge}) {
    if (SizeName(s) == name) return s;
  }
  return std::nullopt;
}

namespace {

using namespace internal;  // NOLINT: the model's names read best unqualified here.

// Indented JSON for the manifest, which people read.
class Pretty {
 public:
  Pretty& Open(std::string_view key, char bracket) {
    Member(key);
    out_.push_back(bracket);
    first_.push_back(true);
    return *this;
  }
  Pretty& Close(char bracket) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) {
      out_.push_back('\n');
      out_.append(2 * first_.size(), ' ');
    }
    out_.push_back(bracket);
    return *this;
  }
  Pretty& Str(std::string_view key, std::string_view value) {
    Member(key);
    json::AppendString(value, &out_);
    return *this;
  }
  Pretty& Num(std::string_view key, uint64_t value) {
    Member(key);
    common::StrAppend(&out_, value);
    return *this;
  }
  Pretty& Real(std::string_view key, double value) {
    Member(key);
    json::AppendNumber(value, &out_);
    return *this;
  }
  std::string Done() {
    out_.push_back('\n');
    return std::move(out_);
  }

 private:
  void Member(std::string_view key) {
    if (first_.empty()) return;
    if (!first_.back()) out_.push_back(',');
    first_.back() = false;
    out_.push_back('\n');
    out_.append(2 * first_.size(), ' ');
    if (!key.empty()) {
      json::AppendString(key, &out_);
      out_.append(": ");
    }
  }
  std::string out_;
  std::vector<bool> first_;
};

std::string DayText(int day) {
  std::string s;
  AppendDate(kEpochDay2026 + day, &s);
  return s;
}

std::string Path(const std::string& dir, std::string_view name) {
  return common::StrCat(dir, "/", name);
}

// Writes a whole small file and records it.
absl::Status WriteWhole(const std::string& dir, std::string_view name, std::string_view text,
                        std::vector<WorldFile>* files) {
  OutputFile f;
  RETURN_IF_ERROR(f.Open(Path(dir, name)));
  f.Write(text);
  RETURN_IF_ERROR(f.Close());
  files->push_back({std::string(name), f.bytes(), f.lines(), f.sha256_hex()});
  return absl::OkStatus();
}

absl::Status Record(OutputFile& f, std::string_view name, std::vector<WorldFile>* files) {
  RETURN_IF_ERROR(f.Close());
  files->push_back({std::string(name), f.bytes(), f.lines(), f.sha256_hex()});
  return absl::OkStatus();
}

constexpr std::string_view kTokenDomains[] = {"analytics", "marketing", "research"};

// A token key per domain, derived from the seed. Anyone who knows the seed knows the keys: they
// exist so the demo runs without setup, and must never protect real data.
std::string DemoSecretHex(std::string_view domain, uint64_t seed) {
  return crypto::ToHex(crypto::Sha256(common::StrCat(
      "loopgate demo token key, not for real data: ", domain, "/", seed)));
}

std::string KeysJson(uint64_t seed) {
  std::string out = "{\n";
  for (size_t i = 0; i < std::size(kTokenDomains); ++i) {
    common::StrAppend(&out, "  \"", kTokenDomains[i], "\": {\"key_id\": \"demo-only-",
                      kTokenDomains[i], "-seed", seed, "\", \"secret_hex\": \"",
                      DemoSecretHex(kTokenDomains[i], seed), "\"}",
                      i + 1 < std::size(kTokenDomains) ? ",\n" : "\n");
  }
  out.append("}\n");
  return out;
}

// The hospitals' agreements: St Luke's shares individual records for analytics and research,
// Mercy General aggregate-only analytics; County Health has none.
constexpr std::string_view kAgreements =
    R"({"agreement_id": "dsa-stlukes-1", "institution": "st_lukes", "source_systems": ["ehr_st_lukes"], "allowed_purposes": ["aggregate_analytics", "research"], "granularity": "individual", "effective_from": "2025-07-01T00:00:00Z", "expires_at": null, "recorded_at": "2025-06-20T09:00:00Z"}
{"agreement_id": "dsa-mercy-1", "institution": "mercy_general", "source_systems": ["ehr_mercy"], "allowed_purposes": ["aggregate_analytics"], "granularity": "aggregate_only", "effective_from": "2025-09-01T00:00:00Z", "expires_at": null, "recorded_at": "2025-08-15T14:30:00Z"}
)";

absl::Status WriteHcpMaster(const std::string& dir, const Population& pop,
                            std::vector<WorldFile>* files) {
  OutputFile f;
  RETURN_IF_ERROR(f.Open(Path(dir, kHcpMasterFile)));
  f.Write("hcp_id,npi,specialty,account,territory,campaign,arm,hospital\n");
  std::string row;
  for (uint32_t i = 0; i < pop.hcps.size(); ++i) {
    const Hcp& h = pop.hcps[i];
    const Account& a = pop.accounts[h.account];
    row.clear();
    AppendHcpId(i, &row);
    row.push_back(',');
    AppendId("", h.npi, 10, &row);
    common::StrAppend(&row, ",", kSpecialties[h.specialty].name, ",");
    AppendAccountId(h.account, &row);
    common::StrAppend(&row, ",", kTerritories[a.territory].id, ",",
                      h.campaign >= 0 ? kCampaigns[h.campaign].id : "", ",",
                      h.arm == Arm::kTreatment ? "treatment"
                      : h.arm == Arm::kHoldout ? "holdout"
                                               : "",
                      ",", kHospitals[a.hospital].institution, "\n");
    f.Write(row);
  }
  return Record(f, kHcpMasterFile, files);
}

// patient_id never appears here: only its token in the analytics domain, as analytics_lake
// receives it, so a study can link refills to the treating HCP without the identifier.
absl::Status WritePatientLinks(const std::string& dir, const Population& pop,
                               std::vector<WorldFile>* files) {
  auto secret = common::HexDecode(DemoSecretHex("analytics", pop.seed));
  if (!secret) return absl::InternalError("demo key derivation failed");
  ASSIGN_OR_RETURN(auto hmac, crypto::HmacSha256::Create(*secret));
  OutputFile f;
  RETURN_IF_ERROR(f.Open(Path(dir, kPatientLinksFile)));
  f.Write("patient_token,program_id,hcp_id\n");
  std::string row, id;
  for (uint32_t i = 0; i < pop.patients.size(); ++i) {
    id.clear();
    AppendPatientId(i, &id);
    row = transform::Token(*hmac, id);
    common::StrAppend(&row, ",", kPrograms[pop.patients[i].program].id, ",");
    AppendHcpId(pop.patients[i].hcp, &row);
    row.push_back('\n');
    f.Write(row);
  }
  return Record(f, kPatientLinksFile, files);
}

void CampaignJson(int c, const Population& pop, Pretty& m) {
  const CampaignDef& def = kCampaigns[c];
  const CampaignTruth& t = pop.campaigns[c];
  m.Open("", '{')
      .Str("id", def.id)
      .Str("name", def.name)
      .Str("specialty", kSpecialties[def.specialty].name)
      .Str("start", DayText(def.start_day))
      .Str("end", DayText(def.end_day));
  m.Open("randomization", '{')
      .Str("unit", "hcp")
      .Str("population", "every HCP of the specialty")
      .Real("treatment_share", kTreatmentShare)
      .Close('}');
  m.Open("arms", '{');
  m.Open("treatment", '{')
      .Num("hcps", t.hcps[static_cast<int>(Arm::kTreatment)])
      .Num("exposed", t.exposed)
      .Close('}');
  m.Open("holdout", '{').Num("hcps", t.hcps[static_cast<int>(Arm::kHoldout)]).Close('}');
  m.Close('}');
  m.Open("exposure", '{')
      .Str("event_type", "hcp.content.engaged")
      .Str("definition", "an hcp.content.engaged event of the HCP with one of the asset_ids")
      .Open("asset_ids", '[');
  for (int a = 0; a < def.asset_count; ++a) m.Str("", def.assets[a]);
  m.Close(']')
      .Real("exposure_rate", kExposureRate)
      .Str("exposure_rate_of", "treatment-arm HCPs; holdout HCPs are never exposed")
      .Num("first_exposure_within_days", kFirstExposureDays)
      .Num("touches", t.touches);
  if (!def.account_module.empty()) {
    m.Str("account_module", def.account_module)
        .Str("account_module_note",
             "account.education.completed by the accounts of exposed HCPs; it changes no "
             "outcome")
        .Num("account_modules", t.account_modules);
  }
  m.Close('}');
  m.Open("outcome", '{');
  if (def.outcome == OutcomeKind::kTherapyStart) {
    m.Str("kind", "therapy_start")
        .Str("event_type", "ehr.therapy.started")
        .Str("therapy_code", def.therapy_code)
        .Str("link", "prescriber_npi = hcp_master.csv npi")
        .Num("eligible_patients_per_hcp", static_cast<uint64_t>(def.eligible_per_hcp))
        .Open("decision_window", '{')
        .Str("from", DayText(def.start_day + kFirstExposureDays))
        .Str("to", DayText(def.end_day + kDecisionTailDays))
        .Close('}')
        .Real("baseline_rate", def.baseline)
        .Real("true_lift", def.lift)
        .Str("model",
             "each eligible patient of an HCP starts the therapy with probability "
             "baseline_rate, or baseline_rate + true_lift when the HCP is exposed; every "
             "decision falls after the exposed HCP's first exposure")
        ;
    {
      const double n = def.eligible_per_hcp;
      const double exposed = 1 - std::pow(1 - def.baseline - def.lift, n);
      const double holdout = 1 - std::pow(1 - def.baseline, n);
      m.Open("measured_truth", '{')
          .Str("study", common::StrCat("studies/", def.id, ".yaml"))
          .Str("unit", "hcp")
          .Str("population", "HCPs of the campaign at st_lukes (hcp_master.csv hospital)")
          .Str("comparison", "exposed treatment-arm HCPs against the holdout")
          .Str("outcome",
               "at least one start of the therapy_code in analytics_lake, linked by "
               "prescriber_npi, within the decision window")
          .Real("exposed_rate", exposed)
          .Real("holdout_rate", holdout)
          .Real("lift", exposed - holdout)
          .Str("why",
               "1 - (1 - p)^eligible_patients_per_hcp: every campaign start at St Luke's is of "
               "a patient whose analytics consent is clean all year, so all of them arrive")
          .Close('}');
    }
    m.Open("realized", '{');
    static constexpr std::string_view kGroups[] = {"holdout", "treatment_exposed",
                                                   "treatment_not_exposed"};
    for (int g = 0; g < 3; ++g) {
      m.Open(kGroups[g], '{')
          .Num("hcps", t.groups[g].units)
          .Num("eligible_patients", t.groups[g].opportunities)
          .Num("starts", t.groups[g].events)
          .Close('}');
    }
    m.Close('}');
  } else {
    m.Str("kind", "refill")
        .Str("event_type", "patient.support.milestone")
        .Str("milestone", "refill")
        .Str("program_id", kPrograms[kPspMain].id)
        .Str("link",
             "patient_id, tokenized in analytics_lake = patient_links.csv patient_token -> "
             "hcp_id")
        .Str("opportunity",
             "every 30 days after the patient's first_fill (t_k = first_fill + 30k days, "
             "k >= 1), while t_k + 4 days is before the period's end and the patient has not "
             "discontinued; a refill falls in [t_k, t_k + 3 days); after a missed refill a "
             "patient discontinues with probability 0.35")
        .Real("baseline_rate", def.baseline)
        .Real("true_lift", def.lift)
        .Str("model",
             "at each opportunity the refill happens with probability baseline_rate, or "
             "baseline_rate + true_lift when the treating HCP is exposed and t_k is at or after "
             "the HCP's first exposure")
        ;
    m.Open("measured_truth", '{')
        .Str("study", common::StrCat("studies/", def.id, ".yaml"))
        .Str("unit", "patient_token")
        .Str("population",
             "psp-main patients of the campaign's HCPs whose first_fill falls in [start + 21 "
             "days, period end - 34 days), so that every exposed HCP's first exposure precedes "
             "the first refill opportunity and that opportunity is inside the year")
        .Str("comparison", "patients of exposed treatment-arm HCPs against those of the holdout")
        .Str("outcome", "a refill within 34 days of the first fill (the first opportunity)")
        .Real("exposed_rate", def.baseline + def.lift)
        .Real("holdout_rate", def.baseline)
        .Real("lift", def.lift)
        .Str("why",
             "consent thins patients as a whole (a revoked or expired analytics consent stops "
             "all of a patient's events as of the run), independently of arm and outcome")
        .Close('}');
    m.Open("realized", '{');
    static constexpr std::string_view kGroups[] = {"holdout", "treatment", "exposed_opportunities",
                                                   "other_opportunities"};
    for (int g = 0; g < 4; ++g) {
      m.Open(kGroups[g], '{')
          .Num("patients", t.groups[g].units)
          .Num("opportunities", t.groups[g].opportunities)
          .Num("refills", t.groups[g].events)
          .Close('}');
    }
    m.Close('}');
  }
  m.Close('}');
  m.Close('}');
}

std::string ManifestJson(const WorldOptions& o, const Population& pop, const StreamStats& st,
                         const WorldSummary& sum) {
  Pretty m;
  m.Open("", '{')
      .Str("format", kManifestFormat)
      .Str("generator", "loopgate demo")
      .Num("seed", o.seed)
      .Str("size", SizeName(o.size))
      .Str("note",
           "Synthetic data: no real person. keys.json is derived from the seed and is for this "
           "demo only.");
  m.Open("period", '{')
      .Str("from", kPeriodFrom)
      .Str("to", kPeriodTo)
      .Str("as_of", kAsOf)
      .Num("days", kDays)
      .Close('}');

  m.Open("counts", '{')
      .Num("lines", st.lines)
      .Num("valid", st.valid)
      .Num("duplicates", st.duplicates)
      .Num("messy", sum.messy)
      .Open("valid_by_event_type", '{');
  for (const auto& [type, n] : st.by_type) m.Num(type, n);
  m.Close('}')
      .Open("valid_by_envelope", '{')
      .Num("flat_with_event_id", st.flat_with_id)
      .Num("flat_derived_id", st.flat_derived_id)
      .Num("cloudevents", st.cloudevents)
      .Close('}')
      .Num("consent_records", pop.consent_records)
      .Num("agreement_records", 2)
      .Close('}');
  m.Open("messy_by_reason", '{');
  for (const auto& [reason, n] : sum.messy_by_reason) m.Num(reason, n);
  m.Close('}');
  m.Open("expected_run", '{')
      .Str("note", "what `loopgate run` on a fresh state reports for these files")
      .Num("events_read", st.lines)
      .Num("routed_plus_blocked", st.valid)
      .Num("quarantined", sum.messy)
      .Num("duplicates", st.duplicates)
      .Close('}');

  m.Open("population", '{');
  m.Open("territories", '[');
  for (const Territory& t : kTerritories) {
    m.Open("", '{').Str("id", t.id).Str("jurisdiction", t.jurisdiction).Close('}');
  }
  m.Close(']');
  m.Num("accounts", pop.accounts.size())
      .Str("no_contact_account", "acct_nocontact_01")
      .Num("hcps", pop.hcps.size())
      .Open("hcps_by_specialty", '{');
  for (int s = 0; s < kSpecialtyCount; ++s) {
    m.Num(kSpecialties[s].name, pop.hcps_by_specialty[s].size());
  }
  m.Close('}').Num("patients", pop.patients.size()).Open("patients_by_program", '{');
  uint64_t by_program[kProgramCount] = {};
  for (const Patient& p : pop.patients) ++by_program[p.program];
  for (int k = 0; k < kProgramCount; ++k) m.Num(kPrograms[k].id, by_program[k]);
  m.Close('}').Open("hospitals", '[');
  for (int h = 0; h < kHospitalCount; ++h) {
    m.Open("", '{')
        .Str("institution", kHospitals[h].institution)
        .Str("source_system", kHospitals[h].source)
        .Str("agreement", kHospitals[h].agreement)
        .Str("envelope", kHospitals[h].cloudevents ? "cloudevents" : "flat")
        .Num("ehr_patients", pop.scale.mrns[h])
        .Close('}');
  }
  m.Close(']').Close('}');

  m.Open("campaigns", '[');
  for (int c = 0; c < kCampaignCount; ++c) CampaignJson(c, pop, m);
  m.Close(']');

  m.Open("reference_data", '{')
      .Str(kHcpMasterFile,
           "one row per HCP: hcp_id, npi, specialty, account, territory, campaign, arm "
           "(treatment|holdout, empty outside campaigns), hospital (the account's affiliation: "
           "which EHR feed its patients' therapy starts come from)")
      .Str(kPatientLinksFile,
           "one row per support-programme patient: patient_token (the analytics token domain's "
           "token of patient_id, as analytics_lake delivers it), program_id, hcp_id (the "
           "treating HCP)")
      .Close('}');
  m.Open("examples", '[');
  for (const auto& [what, id] : st.examples) {
    m.Open("", '{').Str("shows", what).Str("event_id", id).Close('}');
  }
  m.Close(']');
  m.Open("files", '[');
  for (const WorldFile& f : sum.files) {
    m.Open("", '{')
        .Str("name", f.name)
        .Num("bytes", f.bytes)
        .Num("lines", f.lines)
        .Str("sha256", f.sha256)
        .Close('}');
  }
  m.Close(']');
  m.Close('}');
  return m.Done();
}

std::string DayTime(int day) { return DayText(day) + "T00:00:00Z"; }

// The campaign's study (docs/study.md), on the scale where the truth is known
// (manifest measured_truth).
std::string StudyYaml(int c) {
  const CampaignDef& def = kCampaigns[c];
  std::string assets;
  for (int a = 0; a < def.asset_count; ++a) {
    common::StrAppend(&assets, a == 0 ? "" : ", ", def.assets[a]);
  }
  std::string y = common::StrCat("format: loopgate.study/v1\nid: ", def.id, "\n");
  const std::string common_head = common::StrCat(
      "sink: analytics_lake\n", "exposure:\n  event_type: hcp.content.engaged\n",
      "  where: {asset_id: [", assets, "]}\n", "  link: {field: hcp_id, to: hcp_master}\n");
  const std::string attribution =
      "attribution:\n  touchpoint:\n    event_type: hcp.content.engaged\n"
      "    link: {field: hcp_id, to: hcp_master}\n  channel: channel\n  half_life_days: 7\n"
      "privacy: {k: 11}\n";
  if (def.outcome == OutcomeKind::kTherapyStart) {
    common::StrAppend(
        &y, "title: \"", def.name, ": therapy starts\"\n",
        "question: Did the campaign raise ", def.therapy_code, " starts among its ",
        kSpecialties[def.specialty].name, " HCPs at St Luke's?\n",
        "design: randomized_holdout\nunit: hcp\n",
        "window: {from: \"", DayTime(def.start_day + kFirstExposureDays), "\", to: \"",
        DayTime(def.end_day + kDecisionTailDays + 1), "\"}\n",
        "reference:\n  hcp_master: {file: ../hcp_master.csv, key: hcp_id}\n",
        "population:\n  table: hcp_master\n  where: {campaign: ", def.id,
        ", hospital: st_lukes}\n",
        "  assignment: {column: arm, exposed: treatment, holdout: holdout}\n",
        "  compare: exposed_vs_holdout\n", common_head,
        "outcome:\n  event_type: ehr.therapy.started\n  where: {therapy_code: ", def.therapy_code,
        "}\n  link: {field: prescriber_npi, to: hcp_master.npi}\n",
        "dimensions: [territory]\n", attribution);
  } else {
    common::StrAppend(
        &y, "title: \"", def.name, ": first refill\"\n",
        "question: Did the programme raise refills at the first opportunity among patients of "
        "its HCPs?\n",
        "design: randomized_holdout\nunit: patient_token\n",
        "window: {from: \"", DayTime(def.start_day + kFirstExposureDays), "\", to: \"",
        DayTime(kDays - 34), "\"}\n",
        "reference:\n  hcp_master: {file: ../hcp_master.csv, key: hcp_id}\n",
        "  patient_links: {file: ../patient_links.csv, key: patient_token, population_key: "
        "hcp_id}\n",
        "population:\n  table: hcp_master\n  where: {campaign: ", def.id, "}\n",
        "  assignment: {column: arm, exposed: treatment, holdout: holdout}\n",
        "  compare: exposed_vs_holdout\n", common_head,
        "index:\n  event_type: patient.support.milestone\n",
        "  where: {milestone: first_fill, program_id: psp-main}\n",
        "  link: {field: patient_id, to: patient_links}\n",
        "outcome:\n  event_type: patient.support.milestone\n",
        "  where: {milestone: refill, program_id: psp-main}\n",
        "  link: {field: patient_id, to: patient_links}\n  within_days: 34\n",
        "dimensions: [territory, month]\n", attribution);
  }
  return y;
}

absl::Status WriteStudies(const std::string& dir) {
  const std::string studies = Path(dir, kStudiesDir);
  std::error_code ec;
  std::filesystem::create_directories(studies, ec);
  if (ec) return absl::InternalError(common::StrCat("cannot create ", studies, ": ", ec.message()));
  for (int c = 0; c < kCampaignCount; ++c) {
    std::vector<WorldFile> ignored;
    RETURN_IF_ERROR(WriteWhole(studies, common::StrCat(kCampaigns[c].id, ".yaml"), StudyYaml(c),
                               &ignored));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WorldSummary> GenerateWorld(const WorldOptions& options) {
  WorldSummary sum;
  const std::string& dir = options.dir;
  RETURN_IF_ERROR(WriteWhole(dir, kCatalogFile, ReferenceCatalogYaml(), &sum.files));
  RETURN_IF_ERROR(WriteWhole(dir, kKeysFile, KeysJson(options.seed), &sum.files));
  RETURN_IF_ERROR(WriteWhole(dir, kAgreementsFile, kAgreements, &sum.files));

  Population pop;
  {
    OutputFile consents;
    RETURN_IF_ERROR(consents.Open(Path(dir, kConsentsFile)));
    RETURN_IF_ERROR(BuildPopulation(options.size, options.seed, consents, &pop));
    RETURN_IF_ERROR(Record(consents, kConsentsFile, &sum.files));
  }
  StreamStats stats;
  {
    OutputFile events;
    RETURN_IF_ERROR(events.Open(Path(dir, kEventsFile)));
    stats = Simulate(pop, events, options.progress);
    RETURN_IF_ERROR(Record(events, kEventsFile, &sum.files));
  }
  RETURN_IF_ERROR(WriteHcpMaster(dir, pop, &sum.files));
  RETURN_IF_ERROR(WritePatientLinks(dir, pop, &sum.files));
  RETURN_IF_ERROR(WriteStudies(dir));

  sum.lines = stats.lines;
  sum.valid = stats.valid;
  sum.duplicates = stats.duplicates;
  for (int r = 0; r < static_cast<int>(std::size(stats.messy)); ++r) {
    const auto name = event::QuarantineReasonName(static_cast<event::QuarantineReason>(r));
    sum.messy_by_reason[std::string(name)] = stats.messy[r];
    sum.messy += stats.messy[r];
  }
  sum.consent_records = pop.consent_records;
  sum.agreement_records = 2;
  sum.accounts = pop.accounts.size();
  sum.hcps = pop.hcps.size();
  sum.patients = pop.patients.size();
  for (uint32_t n : pop.scale.mrns) sum.ehr_patients += n;
  sum.territories = kTerritoryCount;
  sum.campaigns = kCampaignCount;
  sum.hospitals = kHospitalCount;
  sum.examples = stats.examples;
  RETURN_IF_ERROR(
      WriteWhole(dir, kManifestFile, ManifestJson(options, pop, stats, sum), &sum.files));
  return sum;
}

}  // namespace loopgate::demo
