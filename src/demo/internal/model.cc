// The demo world's tables and population (internal/model.h).

#include "demo/internal/model.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "common/strings.h"
#include "demo/json_writer.h"
#include "common/rng.h"

namespace loopgate::demo::internal {

using common::Mix64;
using common::Rng;

const SpecialtyInfo kSpecialties[kSpecialtyCount] = {
    {"oncology", "oncology", 0.20},
    {"cardiology", "cardiology", 0.24},
    {"neurology", "neurology", 0.14},
    {"rheumatology", "rheumatology", 0.16},
    {"primary_care", "internal_medicine", 0.26},
};

// 102 and 790 are among HIPAA Safe Harbor's restricted ZIP3s: they generalize to "000".
const Territory kTerritories[kTerritoryCount] = {
    {"terr-bos", "US-MA", {"021", "024", "017"}, 3, 1.0},
    {"terr-nyc", "US-NY", {"100", "102", "112"}, 3, 1.3},
    {"terr-alb", "US-NY", {"122", "120", "128"}, 3, 0.5},
    {"terr-phl", "US-PA", {"191", "190", "180"}, 3, 0.9},
    {"terr-atl", "US-GA", {"303", "300", "301"}, 3, 0.8},
    {"terr-mia", "US-FL", {"331", "330", "334"}, 3, 0.9},
    {"terr-chi", "US-IL", {"606", "604", "600"}, 3, 1.1},
    {"terr-dal", "US-TX", {"752", "750", "790"}, 3, 0.9},
    {"terr-hou", "US-TX", {"770", "773", "775"}, 3, 0.8},
    {"terr-den", "US-CO", {"802", "800", "805"}, 3, 0.6},
    {"terr-sfo", "US-CA", {"941", "945", "950"}, 3, 1.0},
    {"terr-sea", "US-WA", {"981", "980", "984"}, 3, 0.7},
    {"terr-tor", "CA-ON", {}, 0, 0.35},  // Outside the US: no `US-*` consent matches.
};

const Hospital kHospitals[kHospitalCount] = {
    {"st_lukes", "ehr_st_lukes", "stl-", "SL", {"stl-main", "stl-north", "stl-cancer-center"},
     false, "individual", 0.45},
    {"mercy_general", "ehr_mercy", "mgh-", "MG", {"mgh-main", "mgh-heart-institute", "mgh-east"},
     false, "aggregate_only", 0.30},
    {"county_health", "ehr_county", "cty-", "CH", {"cty-central", "cty-westside", "cty-clinic-9"},
     true, "none", 0.25},
};

const ProgramInfo kPrograms[kProgramCount] = {
    {"psp-main", "drug-x", kRheumatology, 0.78},
    {"psp-onc", "drug-y", kOncology, 0.14},
    {"psp-peds", "drug-z", kPrimaryCare, 0.08},  // Excluded from analytics by a catalog rule.
};

const CampaignDef kCampaigns[kCampaignCount] = {
    {"cmp-onc-launch", "Oncology launch of rx-onc-117", kOncology, 32, 119,
     OutcomeKind::kTherapyStart, "rx-onc-117", 6, 0.10, 0.08,
     {"asset-onc117-moa-video", "asset-onc117-dosing-guide", "asset-onc117-case-study"}, 3, 40, 40,
     7.0, ""},
    {"cmp-cardio-email", "Cardiology email series for rx-card-204", kCardiology, 123, 211,
     OutcomeKind::kTherapyStart, "rx-card-204", 6, 0.12, 0.04,
     {"asset-card204-outcomes-email", "asset-card204-webinar", ""}, 2, 75, 20, 6.0, ""},
    // True zero effect: its exposure changes nothing.
    {"cmp-neuro-webinar", "Neurology webinar series for rx-neu-330", kNeurology, 214, 288,
     OutcomeKind::kTherapyStart, "rx-neu-330", 6, 0.09, 0.0,
     {"asset-neu330-webinar", "asset-neu330-slide-kit", ""}, 2, 25, 65, 5.0, ""},
    {"cmp-rheum-adherence", "Rheumatology adherence programme for drug-x", kRheumatology, 60, 333,
     OutcomeKind::kRefill, "", 0, kRefillBaseline, 0.10,
     {"asset-drugx-adherence-guide", "asset-drugx-patient-kit", "asset-drugx-refill-reminder"}, 3,
     50, 30, 6.0, "adherence-201"},
};

Scale ScaleFor(Size size) {
  switch (size) {
    case Size::kSmall:
      return {160, 1000, 2400, {1800, 1400, 1100}, 21000, 3000, 4500, 1200};
    case Size::kMedium:
      return {1000, 6000, 20000, {16000, 12000, 10000}, 600000, 70000, 90000, 30000};
    case Size::kLarge:
      return {3000, 18000, 60000, {48000, 36000, 30000}, 6900000, 800000, 1000000, 330000};
  }
  return {};
}

int64_t PeriodStart() { return DayStart(0); }
int64_t PeriodEnd() { return DayStart(kDays); }

void AppendHcpId(uint32_t hcp, std::string* out) { AppendId("hcp-", hcp, 6, out); }
void AppendPatientId(uint32_t patient, std::string* out) { AppendId("pt-", patient, 6, out); }
void AppendAccountId(uint32_t account, std::string* out) {
  // Account 0 is the one the catalog's no-contact rule names.
  if (account == 0) {
    out->append("acct_nocontact_01");
  } else {
    AppendId("acct_", account, 5, out);
  }
}
void AppendMrn(int hospital, uint32_t index, std::string* out) {
  AppendId(kHospitals[hospital].mrn_prefix, index, 7, out);
}

// ---------------------------------------------------------------------------------------------
// OutputFile.

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status OutputFile::Open(const std::string& path) {
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return absl::InternalError(common::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  buffer_.reserve(1 << 20);
  return absl::OkStatus();
}

void OutputFile::Write(std::string_view text) {
  buffer_.append(text);
  bytes_ += text.size();
  lines_ += static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n'));
  if (buffer_.size() >= (1 << 20)) Drain();
}

void OutputFile::Drain() {
  hasher_.Update(buffer_);
  size_t done = 0;
  while (!failed_ && done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed_ = true;
      break;
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

absl::Status OutputFile::Close() {
  Drain();
  sha256_hex_ = crypto::ToHex(hasher_.Finish());
  const int rc = ::close(fd_);
  fd_ = -1;
  if (failed_ || rc != 0) {
    return absl::InternalError(common::StrCat("writing ", path_, " failed"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Population.

namespace {

// US office hours seen in UTC: the profile of people at work.
constexpr double kOfficeHours[24] = {0.35, 0.25, 0.15, 0.10, 0.08, 0.08, 0.10, 0.15,
                                     0.25, 0.35, 0.50, 0.80, 1.20, 1.60, 1.80, 1.70,
                                     1.60, 1.70, 1.80, 1.70, 1.50, 1.10, 0.80, 0.55};

size_t PickWeighted(Rng& rng, const double* weights, size_t n) {
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += weights[i];
  double r = rng.Uniform() * total;
  for (size_t i = 0; i < n; ++i) {
    if (r < weights[i]) return i;
    r -= weights[i];
  }
  return n - 1;
}

bool Weekend(int day) { return (day + 3) % 7 >= 5; }  // 2026-01-01 is a Thursday.

// A time on `day` during office hours.
int64_t OfficeTime(Rng& rng, int day) {
  const size_t hour = PickWeighted(rng, kOfficeHours, 24);
  return DayStart(day) + static_cast<int64_t>(hour) * kHour +
         static_cast<int64_t>(rng.Below(3600)) * kSecond;
}

// A working day in [from, to] (a weekend day only when the range has nothing else nearby).
int WorkingDay(Rng& rng, int from, int to) {
  int day = static_cast<int>(rng.Between(from, to));
  for (int tries = 0; tries < 6 && Weekend(day); ++tries) {
    day = static_cast<int>(rng.Between(from, to));
  }
  return day;
}

class ConsentWriter {
 public:
  ConsentWriter(OutputFile& out, uint64_t* count) : out_(out), count_(count) {}

  struct Record {
    Record(std::string_view prefix, std::string_view suffix, std::string_view type,
           std::string_view subject, std::string_view purpose)
        : id_prefix(prefix), id_suffix(suffix), subject_type(type), subject_id(subject),
          purpose(purpose) {}
    std::string_view id_prefix;
    std::string_view id_suffix;
    std::string_view subject_type;
    std::string_view subject_id;
    std::string_view purpose;
    int64_t effective = 0;
    int64_t expires = -1;  // -1: null
    std::string_view channel;       // Empty: null.
    std::string_view jurisdiction;  // Empty: null.
    std::string_view notice;
    std::string_view capture;
    std::string_view source;
  };

  void Write(const Record& r, bool revoked, int64_t recorded, std::string_view capture) {
    line_.clear();
    id_.assign(r.id_prefix).append(r.id_suffix);
    JsonWriter w(&line_);
    w.Str("consent_id", id_)
        .Str("subject_type", r.subject_type)
        .Str("subject_id", r.subject_id)
        .Str("purpose", r.purpose)
        .Str("status", revoked ? "revoked" : "granted");
    Time(w, "effective_from", r.effective);
    if (r.expires >= 0) {
      Time(w, "expires_at", r.expires);
    } else {
      w.Null("expires_at");
    }
    if (r.channel.empty()) {
      w.Null("channel");
    } else {
      w.Str("channel", r.channel);
    }
    if (r.jurisdiction.empty()) {
      w.Null("jurisdiction");
    } else {
      w.Str("jurisdiction", r.jurisdiction);
    }
    w.Str("notice_version", r.notice).Str("capture_channel", capture).Str("source_system", r.source);
    Time(w, "recorded_at", recorded);
    w.Close();
    line_.push_back('\n');
    out_.Write(line_);
    ++*count_;
  }

 private:
  void Time(JsonWriter& w, std::string_view key, int64_t ms) {
    w.Key(key);
    line_.push_back('"');
    AppendTime(ms, false, 0, &line_);
    line_.push_back('"');
  }

  OutputFile& out_;
  uint64_t* count_;
  std::string line_, id_;
};

// What became of a consent by the end of the period.
struct ConsentFate {
  bool exists = false;
  bool in_force = false;  // Granted, recorded, not expired and not revoked at the period's end.
  int64_t effective = 0;
};

// Writes one consent's versions: a grant, perhaps a revocation, perhaps a re-grant.
// `expiry_in_year` of grants expire within the year, `revoke` are revoked within it.
ConsentFate WriteConsent(Rng& rng, ConsentWriter& w, ConsentWriter::Record r, int64_t recorded,
                         double expiry_in_year, double expiry_later, double revoke) {
  ConsentFate fate;
  fate.exists = true;
  fate.effective = r.effective;
  const int64_t end = PeriodEnd();
  const double e = rng.Uniform();
  if (e < expiry_in_year) {
    const int64_t from = std::max(r.effective, PeriodStart()) + 20 * kDay;
    if (from < end - kDay) r.expires = from + static_cast<int64_t>(rng.Below(end - kDay - from));
  } else if (e < expiry_in_year + expiry_later) {
    r.expires = end + static_cast<int64_t>(rng.Between(30, 540)) * kDay;
  }
  // Now and then a record reaches the registry only after the period's end (a paper form keyed
  // in late): as of the end of the year it is not yet known.
  if (rng.Chance(0.01)) recorded = end + static_cast<int64_t>(rng.Between(2, 20)) * kDay;
  w.Write(r, false, recorded, r.capture);
  fate.in_force = recorded <= end && (r.expires < 0 || r.expires > end);
  if (recorded < end && rng.Chance(revoke)) {
    const int64_t from = std::max(recorded, PeriodStart()) + kHour;
    if (from < end) {
      const int64_t revoked = from + static_cast<int64_t>(rng.Below(end - from));
      static constexpr std::string_view kWays[] = {"email_unsubscribe", "web_form", "rep_tablet",
                                                   "call_center"};
      w.Write(r, true, revoked, kWays[rng.Below(4)]);
      fate.in_force = false;
      // A fifth of revocations are later reversed by a new grant under the same consent id.
      const int64_t regrant = revoked + static_cast<int64_t>(rng.Between(20, 90)) * kDay;
      if (rng.Chance(0.2) && regrant < end) {
        r.effective = regrant;
        w.Write(r, false, regrant + static_cast<int64_t>(rng.Below(kHour)), r.capture);
        fate.in_force = r.expires < 0 || r.expires > end;
        fate.effective = regrant;
      }
    }
  }
  return fate;
}

// When a long-standing consent was given: mostly before the period, some during it.
int64_t EffectiveFrom(Rng& rng, double before_share) {
  if (rng.Chance(before_share)) {
    return PeriodStart() - static_cast<int64_t>(rng.Between(10, 900)) * kDay -
           static_cast<int64_t>(rng.Below(kDay));
  }
  return OfficeTime(rng, WorkingDay(rng, 0, kDays - 30));
}

std::string_view Jurisdiction(Rng& rng, int territory) {
  if (rng.Chance(0.02)) return "";  // Not captured: matches no jurisdiction pattern.
  return kTerritories[territory].jurisdiction;
}

int PickTerritory(Rng& rng) {
  double w[kTerritoryCount];
  for (int i = 0; i < kTerritoryCount; ++i) w[i] = kTerritories[i].weight;
  return static_cast<int>(PickWeighted(rng, w, kTerritoryCount));
}

std::vector<double> Cdf(const std::vector<double>& weights) {
  std::vector<double> cdf(weights.size());
  double sum = 0;
  for (size_t i = 0; i < weights.size(); ++i) cdf[i] = (sum += weights[i]);
  return cdf;
}

// An NPI: 10 digits, the last a Luhn check digit over "80840" + the first nine (CMS's rule).
uint64_t MakeNpi(uint32_t index, uint64_t seed) {
  const uint64_t base = 100000000 + (static_cast<uint64_t>(index) * 7919 + seed % 1000003) %
                                        900000000;  // 9 digits, unique per index.
  const std::string digits = "80840" + std::to_string(base);
  int sum = 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    int d = digits[digits.size() - 1 - i] - '0';
    if (i % 2 == 0) {  // Doubled: these are the check digit's neighbours.
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return base * 10 + static_cast<uint64_t>((10 - sum % 10) % 10);
}

}  // namespace

absl::Status BuildPopulation(Size size, uint64_t seed, OutputFile& consents, Population* pop) {
  Rng rng(Mix64(seed) ^ 0x706f70756c617465ULL);
  pop->seed = seed;
  pop->scale = ScaleFor(size);
  const Scale& s = pop->scale;
  ConsentWriter cw(consents, &pop->consent_records);

  // Accounts: a hospital affiliation each, sizes skewed (a few large practices, many small).
  std::vector<double> account_weight(s.accounts);
  pop->accounts.resize(s.accounts);
  for (uint32_t a = 0; a < s.accounts; ++a) {
    Account& acct = pop->accounts[a];
    acct.territory = static_cast<uint16_t>(PickTerritory(rng));
    double hw[kHospitalCount];
    for (int h = 0; h < kHospitalCount; ++h) hw[h] = kHospitals[h].share;
    acct.hospital = static_cast<uint8_t>(PickWeighted(rng, hw, kHospitalCount));
    account_weight[a] = a == 0 ? 0.5 : 0.3 + rng.Exponential() * rng.Exponential();
  }
  const std::vector<double> account_cdf = Cdf(account_weight);

  // HCPs.
  std::string id, subject;
  pop->hcps.resize(s.hcps);
  std::vector<double> activity(s.hcps);
  std::vector<double> account_hcps(s.accounts, 0.0);
  for (uint32_t i = 0; i < s.hcps; ++i) {
    Hcp& h = pop->hcps[i];
    const double r = rng.Uniform() * account_cdf.back();
    h.account = static_cast<uint32_t>(std::upper_bound(account_cdf.begin(), account_cdf.end(), r) -
                                      account_cdf.begin());
    if (h.account >= s.accounts) h.account = s.accounts - 1;
    double sw[kSpecialtyCount];
    for (int k = 0; k < kSpecialtyCount; ++k) sw[k] = kSpecialties[k].share;
    h.specialty = static_cast<uint8_t>(PickWeighted(rng, sw, kSpecialtyCount));
    h.npi = MakeNpi(i, seed);
    // Engagement is skewed: a few HCPs read everything, most rarely.
    activity[i] = 0.1 + rng.Exponential() * rng.Exponential();
    account_hcps[h.account] += 1;
    pop->hcps_by_hospital[pop->accounts[h.account].hospital].push_back(i);
    pop->hcps_by_specialty[h.specialty].push_back(i);
  }
  pop->hcp_activity_cdf = Cdf(activity);
  for (uint32_t a = 0; a < s.accounts; ++a) account_hcps[a] += 0.5;
  pop->account_activity_cdf = Cdf(account_hcps);

  // HCP consents: commercial engagement (crm) and promotional marketing, by channel.
  static constexpr std::string_view kHcpCapture[] = {"rep_tablet", "web_form", "congress_booth",
                                                     "paper"};
  for (uint32_t i = 0; i < s.hcps; ++i) {
    const int territory = pop->accounts[pop->hcps[i].account].territory;
    id.clear();
    AppendId("", i, 6, &id);
    subject.clear();
    AppendHcpId(i, &subject);
    if (rng.Chance(0.90)) {
      ConsentWriter::Record r("c-hce-", id, "hcp", subject, "hcp_commercial_engagement");
      r.effective = EffectiveFrom(rng, 0.72);
      r.jurisdiction = Jurisdiction(rng, territory);
      r.notice = "hcp-notice-v2";
      r.capture = kHcpCapture[rng.Below(4)];
      r.source = "consent_portal";
      WriteConsent(rng, cw, r, r.effective + static_cast<int64_t>(rng.Below(36 * kHour)), 0.06,
                   0.08, 0.06);
    }
    if (rng.Chance(0.62)) {
      ConsentWriter::Record r("c-hpm-", id, "hcp", subject, "promotional_marketing");
      r.effective = EffectiveFrom(rng, 0.65);
      const double c = rng.Uniform();
      r.channel = c < 0.62 ? "email" : c < 0.82 ? "web" : "";
      r.jurisdiction = Jurisdiction(rng, territory);
      r.notice = "hcp-notice-v2";
      r.capture = kHcpCapture[rng.Below(4)];
      r.source = "consent_portal";
      WriteConsent(rng, cw, r, r.effective + static_cast<int64_t>(rng.Below(36 * kHour)), 0.05,
                   0.10, 0.08);
    }
  }

  // Campaign arms, exposures and the therapy starts they plant.
  for (int c = 0; c < kCampaignCount; ++c) {
    const CampaignDef& def = kCampaigns[c];
    CampaignTruth& truth = pop->campaigns[c];
    std::vector<bool> module_account(s.accounts, false);
    for (uint32_t i : pop->hcps_by_specialty[def.specialty]) {
      Hcp& h = pop->hcps[i];
      h.campaign = static_cast<int8_t>(c);
      h.arm = rng.Chance(kTreatmentShare) ? Arm::kTreatment : Arm::kHoldout;
      ++truth.hcps[static_cast<int>(h.arm)];
      if (h.arm == Arm::kTreatment && rng.Chance(kExposureRate)) {
        h.exposed = true;
        ++truth.exposed;
        const int first_day = WorkingDay(rng, def.start_day, def.start_day + kFirstExposureDays - 1);
        h.first_exposure = OfficeTime(rng, first_day);
        pop->scheduled.push_back({h.first_exposure, Scheduled::kTouch, i});
        const int touches =
            1 + std::min(23, static_cast<int>(rng.Exponential() * (def.touches_mean - 1)));
        for (int t = 1; t < touches; ++t) {
          int64_t when = OfficeTime(rng, WorkingDay(rng, first_day, def.end_day));
          if (when <= h.first_exposure) when = h.first_exposure + static_cast<int64_t>(
                                                                      rng.Between(kHour, 2 * kDay));
          pop->scheduled.push_back({when, Scheduled::kTouch, i});
        }
        truth.touches += static_cast<uint64_t>(touches);
        module_account[h.account] = true;
      }
      if (def.outcome == OutcomeKind::kTherapyStart) {
        const int group = h.arm == Arm::kHoldout ? 0 : h.exposed ? 1 : 2;
        const double p = def.baseline + (h.exposed ? def.lift : 0.0);
        Realized& g = truth.groups[group];
        ++g.units;
        for (int e = 0; e < def.eligible_per_hcp; ++e) {
          ++g.opportunities;
          const int day = static_cast<int>(rng.Between(def.start_day + kFirstExposureDays,
                                                       def.end_day + kDecisionTailDays));
          const int64_t when = DayStart(day) + static_cast<int64_t>(rng.Below(kDay));
          if (rng.Chance(p)) {
            ++g.events;
            pop->scheduled.push_back({when, Scheduled::kStart, i});
          }
        }
      }
    }
    if (!def.account_module.empty()) {
      for (uint32_t a = 0; a < s.accounts; ++a) {
        if (!module_account[a]) continue;
        pop->scheduled.push_back(
            {OfficeTime(rng, WorkingDay(rng, def.start_day + kFirstExposureDays, def.end_day)),
             Scheduled::kModule, a});
        ++truth.account_modules;
      }
    }
  }
  std::sort(pop->scheduled.begin(), pop->scheduled.end());

  // Patients in support programmes, each treated by an HCP of the programme's specialty, enrolled
  // at some point of the year (all journeys start within it, so every figure is observable).
  pop->patients.resize(s.patients);
  pop->fully_consented.assign(s.patients, false);
  static constexpr std::string_view kPatientCapture[] = {"web_form", "call_center", "paper"};
  for (uint32_t i = 0; i < s.patients; ++i) {
    Patient& p = pop->patients[i];
    double pw[kProgramCount];
    for (int k = 0; k < kProgramCount; ++k) pw[k] = kPrograms[k].share;
    p.program = static_cast<uint8_t>(PickWeighted(rng, pw, kProgramCount));
    const auto& treating = pop->hcps_by_specialty[kPrograms[p.program].specialty];
    p.hcp = treating.empty() ? 0 : treating[rng.Below(treating.size())];
    // Patients mostly live near their HCP's practice.
    p.territory = static_cast<uint8_t>(rng.Chance(0.85)
                                           ? pop->accounts[pop->hcps[p.hcp].account].territory
                                           : PickTerritory(rng));
    p.enrolled = OfficeTime(rng, WorkingDay(rng, 0, kDays - 31));

    id.clear();
    AppendId("", i, 6, &id);
    subject.clear();
    AppendPatientId(i, &subject);
    ConsentFate support, analytics;
    if (rng.Chance(0.97)) {
      ConsentWriter::Record r("c-pps-", id, "patient", subject, "patient_support");
      // Usually signed just before enrolment; sometimes the form arrives a day or two late.
      r.effective = rng.Chance(0.05) ? p.enrolled + static_cast<int64_t>(rng.Between(2, 40)) * kHour
                                     : p.enrolled - static_cast<int64_t>(rng.Between(1, 30)) *
                                                        kMinute;
      r.jurisdiction = Jurisdiction(rng, p.territory);
      r.notice = p.program == kPspPeds ? "psp-peds-notice-v1" : "psp-notice-v3";
      r.capture = kPatientCapture[rng.Below(3)];
      r.source = "support_hub";
      support = WriteConsent(rng, cw, r, r.effective + static_cast<int64_t>(rng.Below(10 * kMinute)),
                             0.02, 0.90, 0.04);
    }
    if (rng.Chance(0.72)) {
      ConsentWriter::Record r("c-paa-", id, "patient", subject, "aggregate_analytics");
      r.effective = p.enrolled - static_cast<int64_t>(rng.Between(1, 30)) * kMinute;
      r.jurisdiction = Jurisdiction(rng, p.territory);
      r.notice = "psp-notice-v3";
      r.capture = kPatientCapture[rng.Below(3)];
      r.source = "support_hub";
      analytics = WriteConsent(rng, cw, r,
                               r.effective + static_cast<int64_t>(rng.Below(10 * kMinute)), 0.05,
                               0.10, 0.06);
    }
    pop->fully_consented[i] = support.in_force && support.effective <= p.enrolled &&
                              analytics.in_force && analytics.effective <= p.enrolled &&
                              kTerritories[p.territory].zip3_count > 0;
  }

  // Hospital patients (record numbers): admission consents for analytics and research.
  for (int h = 0; h < kHospitalCount; ++h) {
    for (uint32_t j = 0; j < s.mrns[h]; ++j) {
      subject.clear();
      AppendMrn(h, j, &subject);
      const int territory = PickTerritory(rng);
      if (rng.Chance(0.78)) {
        ConsentWriter::Record r("c-ma-", subject, "patient", subject, "aggregate_analytics");
        r.effective = EffectiveFrom(rng, 0.8);
        r.jurisdiction = Jurisdiction(rng, territory);
        r.notice = "ehr-notice-v1";
        r.capture = "admission_form";
        r.source = kHospitals[h].source;
        const ConsentFate fate = WriteConsent(
            rng, cw, r, r.effective + static_cast<int64_t>(rng.Below(2 * kHour)), 0.03, 0.05, 0.03);
        if (fate.in_force && fate.effective < PeriodStart() &&
            r.jurisdiction.substr(0, 3) == "US-") {
          pop->clean_mrns[h].push_back(j);
        }
      }
      if (rng.Chance(0.60)) {
        ConsentWriter::Record r("c-mr-", subject, "patient", subject, "research");
        r.effective = EffectiveFrom(rng, 0.8);
        r.jurisdiction = Jurisdiction(rng, territory);
        r.notice = "research-icf-v2";
        r.capture = "admission_form";
        r.source = kHospitals[h].source;
        WriteConsent(rng, cw, r, r.effective + static_cast<int64_t>(rng.Below(2 * kHour)), 0.03,
                     0.05, 0.03);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace loopgate::demo::internal
