// The demo world's year of events (internal/model.h, docs/demo.md).
//
// A discrete-event simulation: one min-heap holds the next time of every process (a patient's
// journey, each background stream), merged with the precomputed campaign schedule, so lines come
// out in time order and memory is bounded by the population, never by the number of events.
// Each line is built in a reused buffer: no allocation per event once the buffers are warm.

#include <algorithm>
#include <array>
#include <cmath>
#include <queue>
#include <string>
#include <vector>

#include "demo/internal/model.h"
#include "demo/json_writer.h"
#include "common/rng.h"
#include "event/event.h"

namespace loopgate::demo::internal {

using common::Mix64;
using common::Rng;
namespace {

using event::QuarantineReason;

// ---------------------------------------------------------------------------------------------
// Rhythm: hour-of-day and day-of-week profiles, holidays and seasons.

enum Stream : uint8_t { kOrganic, kEducation, kEhr, kSafety, kStreamCount };

constexpr double kOfficeHours[24] = {0.35, 0.25, 0.15, 0.10, 0.08, 0.08, 0.10, 0.15,
                                     0.25, 0.35, 0.50, 0.80, 1.20, 1.60, 1.80, 1.70,
                                     1.60, 1.70, 1.80, 1.70, 1.50, 1.10, 0.80, 0.55};
constexpr double kHospitalHours[24] = {0.45, 0.40, 0.35, 0.35, 0.35, 0.40, 0.50, 0.60,
                                       0.70, 0.80, 0.90, 1.10, 1.30, 1.45, 1.50, 1.50,
                                       1.45, 1.40, 1.35, 1.30, 1.15, 0.95, 0.75, 0.55};
constexpr double kOfficeWeek[7] = {1.05, 1.10, 1.10, 1.05, 0.90, 0.22, 0.12};  // Mon..Sun
constexpr double kHospitalWeek[7] = {1.08, 1.08, 1.06, 1.05, 1.00, 0.65, 0.55};
constexpr double kCallCenterWeek[7] = {1.05, 1.05, 1.05, 1.00, 0.95, 0.50, 0.40};

// US holidays of 2026 (day of year) and how much of a normal day's office activity they see.
constexpr std::pair<int, double> kHolidays[] = {
    {0, 0.25},   {18, 0.5},   {46, 0.6},   {144, 0.25}, {183, 0.3}, {249, 0.3},
    {329, 0.25}, {330, 0.55}, {357, 0.5},  {358, 0.2},  {364, 0.5}};

double DayFactor(Stream s, int day) {
  const int weekday = (day + 3) % 7;  // 2026-01-01 is a Thursday.
  double f = s == kEhr ? kHospitalWeek[weekday]
             : s == kSafety ? kCallCenterWeek[weekday]
                            : kOfficeWeek[weekday];
  for (const auto& [d, share] : kHolidays) {
    if (d == day) f *= s == kEhr ? 0.5 + share / 2 : share;
  }
  if (s != kEhr && day >= 212 && day <= 242) f *= 0.85;  // August.
  if (s != kEhr && day >= 354) f *= 0.7;                  // The last days of December.
  if (s == kOrganic && day >= 147 && day <= 152) f *= 1.5;  // A big oncology congress.
  return f;
}

double HourFactor(Stream s, int hour) {
  return s == kEhr ? kHospitalHours[hour] : kOfficeHours[hour];
}

// Piecewise-constant arrival rates per hour of the year, scaled so each stream's expected total
// is its yearly count.
class Rhythm {
 public:
  explicit Rhythm(const Scale& scale) {
    const double totals[kStreamCount] = {scale.organic, scale.education, scale.ehr, scale.safety};
    for (int s = 0; s < kStreamCount; ++s) {
      double sum = 0;
      for (int h = 0; h < kDays * 24; ++h) {
        rate_[s][h] = DayFactor(static_cast<Stream>(s), h / 24) *
                      HourFactor(static_cast<Stream>(s), h % 24);
        sum += rate_[s][h];
      }
      for (int h = 0; h < kDays * 24; ++h) rate_[s][h] *= totals[s] / sum / kHour;
    }
  }

  // The next arrival of stream `s` after `t` (a non-homogeneous Poisson process: exponential
  // waits, restarted at each hour boundary with that hour's rate; exact by memorylessness).
  // Returns PeriodEnd() or later when there is none within the year.
  int64_t Next(Rng& rng, Stream s, int64_t t) const {
    const int64_t start = PeriodStart(), end = PeriodEnd();
    double now = static_cast<double>(t - start);
    while (true) {
      const int hour = static_cast<int>(now / kHour);
      if (hour >= kDays * 24) return end;
      const double hour_end = static_cast<double>(hour + 1) * kHour;
      const double wait = rng.Exponential() / rate_[s][hour];
      if (now + wait < hour_end) {
        const int64_t next = start + static_cast<int64_t>(now + wait);
        return next > t ? next : t + 1;
      }
      now = hour_end;
    }
  }

 private:
  std::array<std::array<double, kDays * 24>, kStreamCount> rate_;
};

// ---------------------------------------------------------------------------------------------
// Tables of values.

constexpr std::string_view kFirstNames[] = {
    "Maria", "James", "Aiko",   "Olu",    "Sam",   "Priya", "Chen",  "Fatima", "Lucas", "Emma",
    "Noah",  "Ava",   "Mateo",  "Zara",   "Ivan",  "Mei",   "Omar",  "Grace",  "Diego", "Hana",
    "Leo",   "Nia",   "Tomasz", "Ingrid"};
constexpr std::string_view kLastNames[] = {
    "Lopez",  "Chen",   "Smith",  "Okafor",  "Novak",    "Rao",    "Garcia", "Kim",
    "Nguyen", "Muller", "Rossi",  "Haddad",  "Johnson",  "Silva",  "Kowalski", "Ali",
    "Brown",  "Sato",   "Dubois", "Petrov",  "Williams", "Moreno", "Cohen",  "Larsen"};
constexpr std::string_view kGenericAssets[] = {
    "asset-moa-video",   "asset-dosing-guide",  "asset-safety-profile", "asset-formulary-kit",
    "asset-case-study",  "asset-congress-recap", "asset-guideline-update", "asset-samples-request"};
constexpr std::string_view kModules[] = {"onboarding-101", "dosing-201", "safety-301",
                                         "reimbursement-110", "biosimilars-220"};
constexpr std::string_view kNarratives[] = {
    "Patient reported dizziness two days after the first dose; called from home.",
    "Caregiver reports a mild rash on both forearms after the refill; no hospital visit.",
    "Nausea and headache for three days, resolved without treatment.",
    "Patient fainted at the pharmacy counter; ambulance called, discharged the same day.",
    "Injection-site swelling for a week; the nurse advised cold compresses.",
    "Reports fatigue and joint pain since the dose was increased last month."};
constexpr std::string_view kUnknownTypes[] = {"hcp.content.viewed", "patient.survey.completed",
                                              "rep.call.logged", "ehr.lab.resulted"};

// ---------------------------------------------------------------------------------------------
// Lines.

enum Category : uint8_t { kCatHcp, kCatPatient, kCatEhr, kCatSafety, kCatEducation };

enum class Style : uint8_t { kFlatId, kFlatDerived, kCloudEvents };

// The envelope of the line being built; the payload is in Simulator::payload_.
struct Envelope {
  std::string_view type, source;
  int64_t time = 0;
  bool millis = false;
  int offset_minutes = 0;
  Style style = Style::kFlatId;
  std::string_view id_prefix;
  std::string_view sensitivity;   // Empty: not declared.
  std::string_view recipients;    // Comma-separated sink ids; empty: not declared.
  std::string_view scope;         // Comma-separated purposes; empty: not declared.
  std::string_view attr_key, attr_value;  // One flat-envelope attribute; empty: none.
};

// What makes a messy line messy (one defect each; the router's first failing check).
struct Defect {
  QuarantineReason reason = QuarantineReason::kMalformedJson;
  bool active = false;
  int variant = 0;
  bool Is(QuarantineReason r) const { return active && reason == r; }
};

class Simulator {
 public:
  Simulator(Population& pop, OutputFile& out)
      : pop_(pop), out_(out), rng_(Mix64(pop.seed) ^ 0x6576656e74730a01ULL), rhythm_(pop.scale) {
    line_.reserve(4096);
    payload_.reserve(2048);
  }

  StreamStats Run(const std::function<void(double, uint64_t)>& progress);

 private:
  enum HeapKind : uint32_t { kJourney = 0, kStreamNext = 1 };
  struct Item {
    int64_t time;
    uint32_t kind;
    uint32_t index;
    bool operator>(const Item& o) const {
      if (time != o.time) return time > o.time;
      if (kind != o.kind) return kind > o.kind;
      return index > o.index;
    }
  };

  // Processes.
  void Journey(uint32_t p, int64_t t);
  void ScheduleFill(uint32_t p, int64_t now);
  void NextOpportunity(uint32_t p);
  void Background(Stream s, int64_t t);
  void Touch(uint32_t hcp, int64_t t);
  void CampaignStart(uint32_t hcp, int64_t t);
  void Module(uint32_t account, int64_t t);

  // Event builders: fill env_ and payload_, then Finish().
  void BuildHcp(uint32_t hcp, std::string_view asset, int channel, int64_t t, const Defect& d);
  void BuildPatient(uint32_t p, std::string_view milestone, int64_t t, const Defect& d);
  void BuildEhr(int hospital, uint32_t mrn, int64_t hcp, std::string_view therapy_code, int64_t t,
                const Defect& d);
  void BuildSafety(uint32_t p, int64_t t, const Defect& d);
  void BuildEducation(uint32_t account, std::string_view module, bool completed, int64_t t,
                      const Defect& d);
  void Assemble(const Defect& d);

  // Emission.
  void EmitValid(std::string_view type);
  void EmitMessy(int64_t t);
  void EmitDuplicate();
  void Write(std::string_view line);
  void Example(std::string_view what);

  // A random whole number of seconds in [0, ms): journey times stay whole seconds, as the support
  // hub writes them, so every figure of the manifest can be recomputed exactly from the lines.
  int64_t Seconds(int64_t ms) {
    return static_cast<int64_t>(rng_.Below(static_cast<uint64_t>(ms / kSecond))) * kSecond;
  }
  uint32_t PickHcp() {
    const double r = rng_.Uniform() * pop_.hcp_activity_cdf.back();
    const auto it = std::upper_bound(pop_.hcp_activity_cdf.begin(), pop_.hcp_activity_cdf.end(), r);
    return static_cast<uint32_t>(std::min<size_t>(it - pop_.hcp_activity_cdf.begin(),
                                                  pop_.hcps.size() - 1));
  }
  uint32_t PickAccount() {
    const auto& cdf = pop_.account_activity_cdf;
    const auto it = std::upper_bound(cdf.begin(), cdf.end(), rng_.Uniform() * cdf.back());
    return static_cast<uint32_t>(std::min<size_t>(it - cdf.begin(), pop_.accounts.size() - 1));
  }
  int PickHospital() {
    const double r = rng_.Uniform();
    return r < kHospitals[0].share ? 0 : r < kHospitals[0].share + kHospitals[1].share ? 1 : 2;
  }

  // Stable per-person attributes, derived from the seed instead of stored.
  uint64_t PersonHash(uint64_t kind, uint64_t index) const {
    return Mix64(pop_.seed * 0x9e3779b97f4a7c15ULL ^ (kind << 56) ^ index);
  }
  void AppendBirthDate(uint64_t h, bool child, std::string* out) {
    const int64_t age_days = child ? 730 + static_cast<int64_t>(h % (15 * 365))
                                   : 9125 + static_cast<int64_t>(h % (60 * 365));
    AppendDate(kEpochDay2026 - age_days, out);
  }
  // A US ZIP in the territory, or a Canadian postal code (which generalization drops).
  bool AppendZip(uint64_t h, int territory, std::string* out) {
    const Territory& t = kTerritories[territory];
    if (t.zip3_count == 0) {
      if ((h >> 20) % 2 == 0) return false;
      static constexpr std::string_view kPostal[] = {"M5V 2T6", "M4C 1B5", "L5B 3C2", "K1P 5J9"};
      out->append(kPostal[(h >> 24) % 4]);
      return true;
    }
    out->append(t.zip3[(h >> 20) % static_cast<uint64_t>(t.zip3_count)]);
    AppendId("", (h >> 28) % 100, 2, out);
    return true;
  }

  Population& pop_;
  OutputFile& out_;
  Rng rng_;
  Rhythm rhythm_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap_;
  StreamStats stats_;
  uint64_t seq_ = 0;
  int64_t now_ = 0;
  int64_t last_education_second_ = 0;

  Envelope env_;
  std::string line_, payload_, scratch_, attr_, id_;
  // Recent valid lines, for duplicates and id conflicts.
  struct Recent {
    std::string line;
    bool explicit_id = false;
  };
  std::array<Recent, 64> recent_;
  uint64_t recent_count_ = 0;
  bool want_example_[5] = {true, true, true, true, true};
};

// ---------------------------------------------------------------------------------------------
// The main loop.

StreamStats Simulator::Run(const std::function<void(double, uint64_t)>& progress) {
  const int64_t start = PeriodStart(), end = PeriodEnd();
  for (uint32_t p = 0; p < pop_.patients.size(); ++p) {
    heap_.push({pop_.patients[p].enrolled, kJourney, p});
  }
  for (int s = 0; s < kStreamCount; ++s) {
    heap_.push({rhythm_.Next(rng_, static_cast<Stream>(s), start), kStreamNext,
                static_cast<uint32_t>(s)});
  }
  size_t next_scheduled = 0;
  const auto& scheduled = pop_.scheduled;
  uint64_t last_report = 0;
  while (true) {
    const bool have_heap = !heap_.empty() && heap_.top().time < end;
    const bool have_sched = next_scheduled < scheduled.size() &&
                            scheduled[next_scheduled].time < end;
    if (!have_heap && !have_sched) break;
    if (have_sched && (!have_heap || scheduled[next_scheduled].time <= heap_.top().time)) {
      const Scheduled& s = scheduled[next_scheduled++];
      now_ = s.time;
      switch (s.kind) {
        case Scheduled::kTouch:
          Touch(s.index, s.time);
          break;
        case Scheduled::kStart:
          CampaignStart(s.index, s.time);
          break;
        case Scheduled::kModule:
          Module(s.index, s.time);
          break;
      }
    } else {
      const Item item = heap_.top();
      heap_.pop();
      now_ = item.time;
      if (item.kind == kJourney) {
        Journey(item.index, item.time);
      } else {
        const Stream s = static_cast<Stream>(item.index);
        Background(s, item.time);
        heap_.push({rhythm_.Next(rng_, s, item.time), kStreamNext, item.index});
      }
    }
    if (progress && stats_.lines - last_report >= 8192) {
      last_report = stats_.lines;
      progress(static_cast<double>(now_ - start) / static_cast<double>(end - start), stats_.lines);
    }
  }
  if (progress) progress(1.0, stats_.lines);
  return std::move(stats_);
}

// ---------------------------------------------------------------------------------------------
// Patient journeys: enrolled, onboarding call, first fill, monthly refill opportunities,
// discontinuation.

enum Stage : uint8_t { kEnrolled, kOnboarding, kFirstFill, kRefill, kDiscontinued, kDone };

void Simulator::Journey(uint32_t p, int64_t t) {
  Patient& pt = pop_.patients[p];
  static constexpr std::string_view kNames[] = {"enrolled", "onboarding_call", "first_fill",
                                                "refill", "discontinued"};
  const Stage stage = static_cast<Stage>(pt.stage);
  if (stage >= kDone) return;
  BuildPatient(p, kNames[stage], t, Defect{});
  if (stage == kEnrolled && want_example_[0] && pop_.fully_consented[p] &&
      env_.style == Style::kFlatId && payload_.find("first_name") != std::string::npos &&
      payload_.find("birth_date") != std::string::npos && pt.program == kPspMain) {
    want_example_[0] = false;
    Example("a patient's enrolment: PHI to support_cases, minimized for analytics_lake");
  }
  EmitValid("patient.support.milestone");
  switch (stage) {
    case kEnrolled:
      if (rng_.Chance(0.9)) {
        const int day = static_cast<int>((t - PeriodStart()) / kDay);
        pt.stage = kOnboarding;
        const int64_t when = DayStart(day + static_cast<int>(rng_.Between(1, 8))) +
                             static_cast<int64_t>(13 + rng_.Below(9)) * kHour + Seconds(kHour);
        heap_.push({when, kJourney, p});
      } else {
        ScheduleFill(p, t);
      }
      break;
    case kOnboarding:
      ScheduleFill(p, t);
      break;
    case kFirstFill:
      pt.first_fill = t;
      pt.next_k = 1;
      NextOpportunity(p);
      break;
    case kRefill:
      ++pt.next_k;
      NextOpportunity(p);
      break;
    default:
      pt.stage = kDone;
      break;
  }
}

void Simulator::ScheduleFill(uint32_t p, int64_t now) {
  Patient& pt = pop_.patients[p];
  if (rng_.Chance(0.88)) {
    int64_t when = pt.enrolled + static_cast<int64_t>(rng_.Between(7, 25)) * kDay + Seconds(kDay);
    if (when <= now) when = now + kHour + Seconds(2 * kDay);
    pt.stage = kFirstFill;
    heap_.push({when, kJourney, p});
  } else if (rng_.Chance(0.5)) {
    int64_t when = pt.enrolled + static_cast<int64_t>(rng_.Between(20, 45)) * kDay + Seconds(kDay);
    if (when <= now) when = now + kDay;
    pt.stage = kDiscontinued;
    heap_.push({when, kJourney, p});
  } else {
    pt.stage = kDone;  // Drops out without a word.
  }
}

void Simulator::NextOpportunity(uint32_t p) {
  Patient& pt = pop_.patients[p];
  const Hcp& hcp = pop_.hcps[pt.hcp];
  const bool in_campaign =
      hcp.campaign >= 0 && kCampaigns[hcp.campaign].outcome == OutcomeKind::kRefill &&
      pt.program == kPspMain;
  const double lift = in_campaign ? kCampaigns[hcp.campaign].lift : 0.0;
  while (true) {
    const int64_t tk = pt.first_fill + static_cast<int64_t>(pt.next_k) * kRefillEvery;
    if (tk + kRefillSlack >= PeriodEnd()) {
      pt.stage = kDone;
      return;
    }
    const bool exposed = in_campaign && hcp.exposed && tk >= hcp.first_exposure;
    const bool refill = rng_.Chance(kRefillBaseline + (exposed ? lift : 0.0));
    if (in_campaign) {
      CampaignTruth& truth = pop_.campaigns[hcp.campaign];
      const int groups[2] = {hcp.arm == Arm::kHoldout ? 0 : 1, exposed ? 2 : 3};
      for (int g : groups) {
        Realized& r = truth.groups[g];
        if ((pt.counted & (1u << g)) == 0) {
          pt.counted |= static_cast<uint8_t>(1u << g);
          ++r.units;
        }
        ++r.opportunities;
        if (refill) ++r.events;
      }
    }
    if (refill) {
      pt.stage = kRefill;
      heap_.push({tk + Seconds(3 * kDay), kJourney, p});
      return;
    }
    if (rng_.Chance(kDiscontinueAfterMiss)) {
      const int64_t when = tk + kDay + Seconds(4 * kDay);
      pt.stage = when < PeriodEnd() ? kDiscontinued : kDone;
      if (pt.stage == kDiscontinued) heap_.push({when, kJourney, p});
      return;
    }
    ++pt.next_k;  // Missed this month; maybe next.
  }
}

// ---------------------------------------------------------------------------------------------
// Background streams and the campaign schedule.

void Simulator::Background(Stream s, int64_t t) {
  switch (s) {
    case kOrganic: {
      const double r = rng_.Uniform();
      BuildHcp(PickHcp(), kGenericAssets[rng_.Below(std::size(kGenericAssets))],
               r < 0.40 ? 0 : r < 0.85 ? 1 : 2, t, Defect{});
      EmitValid("hcp.content.engaged");
      break;
    }
    case kEducation:
      BuildEducation(PickAccount(), kModules[rng_.Below(std::size(kModules))], rng_.Chance(0.72),
                     t, Defect{});
      EmitValid("account.education.completed");
      break;
    case kEhr: {
      const int h = PickHospital();
      const auto& staff = pop_.hcps_by_hospital[h];
      const int64_t hcp = !staff.empty() && rng_.Chance(0.75)
                              ? static_cast<int64_t>(staff[rng_.Below(staff.size())])
                              : -1;
      scratch_.assign("rx-");
      AppendId("", rng_.Between(100, 979), 3, &scratch_);
      const std::string code = scratch_;
      BuildEhr(h, static_cast<uint32_t>(rng_.Below(pop_.scale.mrns[h])), hcp, code, t, Defect{});
      if (h == 1 && want_example_[1] && env_.style == Style::kFlatId) {
        want_example_[1] = false;
        Example("an EHR event under an aggregate-only agreement (mercy_general)");
      }
      EmitValid("ehr.therapy.started");
      break;
    }
    case kSafety: {
      // Reported by a patient already in a programme.
      for (int tries = 0; tries < 4; ++tries) {
        const uint32_t p = static_cast<uint32_t>(rng_.Below(pop_.patients.size()));
        if (pop_.patients[p].enrolled < t) {
          BuildSafety(p, t, Defect{});
          EmitValid("safety.adverse_event.reported");
          break;
        }
      }
      break;
    }
    default:
      break;
  }
}

void Simulator::Touch(uint32_t hcp, int64_t t) {
  const CampaignDef& c = kCampaigns[pop_.hcps[hcp].campaign];
  const int r = static_cast<int>(rng_.Below(100));
  BuildHcp(hcp, c.assets[rng_.Below(static_cast<uint64_t>(c.asset_count))],
           r < c.email_pct ? 0 : r < c.email_pct + c.web_pct ? 1 : 2, t, Defect{});
  if (want_example_[2] && env_.style == Style::kFlatId) {
    want_example_[2] = false;
    Example("a campaign exposure (hcp.content.engaged with a campaign asset)");
  }
  EmitValid("hcp.content.engaged");
}

void Simulator::CampaignStart(uint32_t hcp, int64_t t) {
  const Hcp& h = pop_.hcps[hcp];
  const int hospital = pop_.accounts[h.account].hospital;
  // At St Luke's (the one hospital whose records reach analytics) the patient is one whose
  // analytics consent is clean all year, so every campaign start there is observable; elsewhere
  // any patient of the hospital.
  const auto& clean = pop_.clean_mrns[hospital];
  const uint32_t mrn =
      hospital == 0 && !clean.empty()
          ? clean[rng_.Below(clean.size())]
          : static_cast<uint32_t>(rng_.Below(pop_.scale.mrns[hospital]));
  BuildEhr(hospital, mrn, hcp, kCampaigns[h.campaign].therapy_code, t, Defect{});
  EmitValid("ehr.therapy.started");
}

void Simulator::Module(uint32_t account, int64_t t) {
  BuildEducation(account, "adherence-201", true, t, Defect{});
  EmitValid("account.education.completed");
}

// ---------------------------------------------------------------------------------------------
// Builders.

// channel: 0 email (email_platform), 1 web, 2 rep (web_portal).
void Simulator::BuildHcp(uint32_t hcp, std::string_view asset, int channel, int64_t t,
                         const Defect& d) {
  env_ = Envelope();
  env_.type = "hcp.content.engaged";
  env_.time = t;
  if (channel == 0) {
    env_.source = "email_platform";
    env_.id_prefix = "em-";
  } else {
    env_.source = "web_portal";
    env_.id_prefix = "web-";
    env_.millis = true;
    if (!d.active && rng_.Chance(0.12)) env_.style = Style::kCloudEvents;
  }
  if (rng_.Chance(0.04)) env_.recipients = "crm,analytics_lake";
  if (rng_.Chance(0.10)) env_.scope = "hcp_commercial_engagement,promotional_marketing";
  if (rng_.Chance(0.10)) env_.sensitivity = "non_phi";

  payload_.clear();
  JsonWriter p(&payload_);
  scratch_.clear();
  AppendHcpId(hcp, &scratch_);
  p.Str("hcp_id", scratch_);
  if (rng_.Chance(0.92)) {
    scratch_.clear();
    AppendAccountId(pop_.hcps[hcp].account, &scratch_);
    p.Str("account_id", scratch_);
  }
  if (!d.Is(QuarantineReason::kMissingField)) p.Str("asset_id", asset);
  static constexpr std::string_view kChannels[] = {"email", "web", "rep"};
  if (d.Is(QuarantineReason::kInvalidField) && d.variant % 2 == 0) {
    p.Str("channel", "fax");
  } else {
    p.Str("channel", kChannels[channel]);
  }
  if (d.Is(QuarantineReason::kInvalidField) && d.variant % 2 == 1) {
    p.Str("duration_s", "95");  // A number sent as a string.
  } else if (rng_.Chance(0.65)) {
    p.Int("duration_s", static_cast<int64_t>(5 + rng_.Exponential() * 120));
  }
  if (d.Is(QuarantineReason::kUnknownField)) p.Str("npi_email", "office@example.org");
  p.Close();
  Assemble(d);
}

void Simulator::BuildPatient(uint32_t p, std::string_view milestone, int64_t t, const Defect& d) {
  const Patient& pt = pop_.patients[p];
  const ProgramInfo& program = kPrograms[pt.program];
  const uint64_t h = PersonHash(1, p);
  env_ = Envelope();
  env_.type = "patient.support.milestone";
  env_.source = "support_hub";
  env_.id_prefix = "hub-";
  env_.time = t;
  if (!d.active && rng_.Chance(0.05)) env_.style = Style::kCloudEvents;
  if (d.Is(QuarantineReason::kSensitivityMismatch)) {
    env_.sensitivity = d.variant % 2 ? "pseudonymous" : "non_phi";
  } else if (rng_.Chance(0.15)) {
    env_.sensitivity = "phi";
  }
  if (rng_.Chance(0.10)) env_.scope = "patient_support";

  payload_.clear();
  JsonWriter w(&payload_);
  scratch_.clear();
  AppendPatientId(p, &scratch_);
  w.Str("patient_id", scratch_);
  const bool early = milestone == "enrolled" || milestone == "onboarding_call";
  if (rng_.Chance(early ? 0.85 : 0.15)) {
    w.Str("first_name", kFirstNames[h % std::size(kFirstNames)])
        .Str("last_name", kLastNames[(h >> 8) % std::size(kLastNames)]);
  }
  if (d.Is(QuarantineReason::kInvalidField) && d.variant % 2 == 1) {
    w.Str("birth_date", "1984-02-30");  // No such day.
  } else if (rng_.Chance(0.7)) {
    scratch_.clear();
    AppendBirthDate(h >> 16, pt.program == kPspPeds, &scratch_);
    w.Str("birth_date", scratch_);
  }
  if (rng_.Chance(0.8)) {
    scratch_.clear();
    if (AppendZip(h, pt.territory, &scratch_)) w.Str("zip", scratch_);
  }
  if (!d.Is(QuarantineReason::kMissingField)) w.Str("program_id", program.id);
  if (d.Is(QuarantineReason::kInvalidField) && d.variant % 2 == 0) {
    w.Str("milestone", "graduated");
  } else {
    w.Str("milestone", milestone);
  }
  if (rng_.Chance(0.9)) w.Str("therapy", program.therapy);
  if (d.Is(QuarantineReason::kUnknownField)) w.Str("diagnosis_code", "M05.79");
  w.Close();
  Assemble(d);
}

void Simulator::BuildEhr(int hospital, uint32_t mrn, int64_t hcp, std::string_view therapy_code,
                         int64_t t, const Defect& d) {
  const Hospital& hosp = kHospitals[hospital];
  const uint64_t h = PersonHash(2 + static_cast<uint64_t>(hospital), mrn);
  env_ = Envelope();
  env_.type = "ehr.therapy.started";
  env_.source = hosp.source;
  env_.id_prefix = hosp.id_prefix;
  env_.time = t;
  env_.millis = hospital == 1;
  if (hosp.cloudevents && !d.active) {
    env_.style = Style::kCloudEvents;
    // Local time in the hospital's zone: EDT from 8 March to 1 November 2026, else EST.
    const int day = static_cast<int>((t - PeriodStart()) / kDay);
    env_.offset_minutes = day >= 66 && day < 304 ? -240 : -300;
  }
  if (d.Is(QuarantineReason::kSensitivityMismatch)) env_.sensitivity = "pseudonymous";

  payload_.clear();
  JsonWriter w(&payload_);
  scratch_.clear();
  AppendMrn(hospital, mrn, &scratch_);
  w.Str("patient_mrn", scratch_);
  if (d.Is(QuarantineReason::kInvalidField) && d.variant % 2 == 0) {
    w.Str("birth_date", "1971-13-01");
  } else if (rng_.Chance(0.85)) {
    scratch_.clear();
    AppendBirthDate(h >> 16, false, &scratch_);
    w.Str("birth_date", scratch_);
  }
  if (rng_.Chance(0.85)) {
    scratch_.clear();
    if (AppendZip(h, static_cast<int>(h % (kTerritoryCount - 1)), &scratch_)) {
      w.Str("zip", scratch_);
    }
  }
  if (!d.Is(QuarantineReason::kMissingField)) {
    w.Str("facility_id", hosp.facilities[rng_.Below(3)]);
  }
  const int specialty = hcp >= 0 ? pop_.hcps[static_cast<size_t>(hcp)].specialty
                                 : static_cast<int>(rng_.Below(kSpecialtyCount));
  w.Str("service_line", kSpecialties[specialty].service_line);
  w.Str("therapy_code", therapy_code);
  if (d.Is(QuarantineReason::kInvalidField) && d.variant % 2 == 1) {
    w.Int("prescriber_npi", 1234567893);  // A number where a string is declared.
  } else if (hcp >= 0) {
    scratch_.clear();
    AppendId("", pop_.hcps[static_cast<size_t>(hcp)].npi, 10, &scratch_);
    w.Str("prescriber_npi", scratch_);
  }
  if (d.Is(QuarantineReason::kUnknownField)) w.Str("attending_name", "Dr. Ana Ruiz");
  w.Close();
  Assemble(d);
}

void Simulator::BuildSafety(uint32_t p, int64_t t, const Defect& d) {
  const Patient& pt = pop_.patients[p];
  env_ = Envelope();
  env_.type = "safety.adverse_event.reported";
  env_.time = t;
  if (rng_.Chance(0.55)) {
    env_.source = "support_hub";
    env_.id_prefix = "hub-";
  } else {
    env_.source = "call_center";
    env_.id_prefix = "cc-";
    if (!d.active && rng_.Chance(0.3)) env_.style = Style::kCloudEvents;
  }
  if (d.Is(QuarantineReason::kSensitivityMismatch)) {
    env_.sensitivity = "pseudonymous";
  } else if (rng_.Chance(0.2)) {
    env_.sensitivity = "phi";
  }

  payload_.clear();
  JsonWriter w(&payload_);
  scratch_.clear();
  AppendPatientId(p, &scratch_);
  w.Str("patient_id", scratch_).Str("product", kPrograms[pt.program].therapy);
  if (rng_.Chance(0.7)) w.Str("narrative", kNarratives[rng_.Below(std::size(kNarratives))]);
  if (rng_.Chance(0.75)) {
    scratch_.clear();
    AppendDate(kEpochDay2026 + (t - PeriodStart()) / kDay - rng_.Between(0, 20), &scratch_);
    w.Str("onset_date", scratch_);
  }
  if (d.Is(QuarantineReason::kInvalidField)) {
    w.Str("serious", "yes");
  } else if (!d.Is(QuarantineReason::kMissingField)) {
    w.Bool("serious", rng_.Chance(0.12));
  }
  if (d.Is(QuarantineReason::kUnknownField)) w.Str("reporter_phone", "555-0100");
  w.Close();
  Assemble(d);
}

void Simulator::BuildEducation(uint32_t account, std::string_view module, bool completed,
                               int64_t t, const Defect& d) {
  env_ = Envelope();
  env_.type = "account.education.completed";
  env_.source = "learning_portal";
  // The learning portal sends the producers' own flat event, without an id: the router derives
  // one from the content. Its clock has whole seconds, and two completions never share one, so
  // no two of its events are the same content.
  env_.style = d.active ? Style::kFlatId : Style::kFlatDerived;
  env_.id_prefix = "lrn-";
  int64_t second = t / kSecond;
  if (!d.active) {
    if (second <= last_education_second_) second = last_education_second_ + 1;
    last_education_second_ = second;
  }
  env_.time = second * kSecond;
  if (rng_.Chance(0.3)) env_.sensitivity = "non_phi";
  if (rng_.Chance(0.25)) env_.recipients = "crm,analytics_lake";
  if (rng_.Chance(0.25)) env_.scope = "hcp_commercial_engagement";

  payload_.clear();
  JsonWriter w(&payload_);
  attr_.clear();
  AppendAccountId(account, &attr_);
  if (rng_.Chance(0.45)) {
    env_.attr_key = "account_id";  // As the producers write it: beside the payload.
    env_.attr_value = attr_;
  } else {
    w.Str("account_id", attr_);
  }
  if (!d.Is(QuarantineReason::kMissingField)) w.Str("module_id", module);
  w.Str("completion_status", d.Is(QuarantineReason::kInvalidField) ? "in_progress"
                             : completed                            ? "completed"
                                                                    : "started");
  if (d.Is(QuarantineReason::kUnknownField)) w.Str("learner_email", "learner@example.org");
  w.Close();
  Assemble(d);
}

// Builds line_ from env_ and payload_, with an envelope-level defect if `d` names one.
void Simulator::Assemble(const Defect& d) {
  line_.clear();
  std::string_view type = env_.type, source = env_.source;
  if (d.Is(QuarantineReason::kUnknownEventType)) {
    type = kUnknownTypes[static_cast<size_t>(d.variant) % std::size(kUnknownTypes)];
  }
  if (d.Is(QuarantineReason::kUnexpectedSource)) {
    source = type == "hcp.content.engaged"         ? "crm_sync"
             : type == "patient.support.milestone" ? "call_center"
             : type == "ehr.therapy.started"       ? "ehr_riverside"
                                                   : "web_portal";
  }
  auto time_value = [&](std::string* out) {
    out->push_back('"');
    AppendTime(env_.time, env_.millis, env_.offset_minutes, out);
    out->push_back('"');
  };
  JsonWriter w(&line_);
  if (env_.style == Style::kCloudEvents) {
    id_.assign(env_.id_prefix);
    AppendId("", ++seq_, 10, &id_);
    w.Str("specversion", "1.0").Str("id", id_).Str("type", type).Str("source", source);
    w.Key("time");
    time_value(&line_);
    w.Str("datacontenttype", "application/json");
    if (!env_.sensitivity.empty()) w.Str("sensitivity", env_.sensitivity);
    if (!env_.scope.empty()) w.Str("consentscope", env_.scope);
    if (!env_.recipients.empty()) w.Str("allowedrecipients", env_.recipients);
    w.Raw("data", payload_);
    w.Close();
    return;
  }
  if (env_.style == Style::kFlatId) {
    id_.assign(env_.id_prefix);
    AppendId("", ++seq_, 10, &id_);
    w.Str("event_id", id_);
  } else {
    id_.clear();
  }
  w.Str("event_type", type).Str("source_system", source);
  if (!env_.attr_key.empty()) w.Str(env_.attr_key, env_.attr_value);
  if (d.Is(QuarantineReason::kInvalidEnvelope)) {
    switch (d.variant % 3) {
      case 0:
        break;  // No timestamp at all.
      case 1:
        w.Str("timestamp", "2026-02-30T10:00:00Z");  // No such day.
        break;
      default:
        w.Str("timestamp", "03/14/2026 10:00");  // Not RFC 3339.
        break;
    }
  } else {
    w.Key("timestamp");
    time_value(&line_);
  }
  if (!env_.sensitivity.empty()) w.Str("sensitivity", env_.sensitivity);
  auto list = [&](std::string_view key, std::string_view items) {
    w.Key(key);
    line_.push_back('[');
    size_t start = 0;
    while (true) {
      const size_t comma = items.find(',', start);
      line_.push_back('"');
      line_.append(items.substr(start, comma - start));
      line_.push_back('"');
      if (comma == std::string_view::npos) break;
      line_.append(", ");
      start = comma + 1;
    }
    line_.push_back(']');
  };
  if (!env_.scope.empty()) list("consent_scope", env_.scope);
  if (!env_.recipients.empty()) list("allowed_recipients", env_.recipients);
  w.Raw("payload", payload_);
  w.Close();
  if (d.Is(QuarantineReason::kMalformedJson)) {
    switch (d.variant % 4) {
      case 0:
      case 1:  // Cut short, as by a crashed producer: never a complete object. The cut falls
               // in the second half, so no two cut lines are the same text.
        line_.resize(line_.size() / 2 + rng_.Below(line_.size() / 2 - 1));
        break;
      case 2:  // A key twice.
        line_.insert(1, "\"event_type\": \"hcp.content.engaged\", ");
        break;
      default:  // Trailing content.
        line_.append(" }");
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Emission.

void Simulator::Write(std::string_view line) {
  out_.Write(line);
  out_.Write("\n");
  ++stats_.lines;
}

void Simulator::Example(std::string_view what) {
  stats_.examples.emplace_back(std::string(what), id_);
}

void Simulator::EmitValid(std::string_view type) {
  Write(line_);
  ++stats_.valid;
  ++stats_.by_type[std::string(type)];
  switch (env_.style) {
    case Style::kFlatId:
      ++stats_.flat_with_id;
      break;
    case Style::kFlatDerived:
      ++stats_.flat_derived_id;
      break;
    case Style::kCloudEvents:
      ++stats_.cloudevents;
      break;
  }
  Recent& r = recent_[recent_count_++ % recent_.size()];
  r.line.assign(line_);
  r.explicit_id = env_.style != Style::kFlatDerived;
  // Producers' retries and bugs follow real traffic.
  if (rng_.Chance(kMessyPerValid)) EmitMessy(now_);
  if (rng_.Chance(kDuplicatePerValid)) EmitDuplicate();
}

void Simulator::EmitDuplicate() {
  const Recent& r = recent_[rng_.Below(std::min<uint64_t>(recent_count_, recent_.size()))];
  if (rng_.Chance(0.7)) {
    Write(r.line);  // The same bytes again.
  } else {
    // The same content re-serialized without the spaces after separators: still the same
    // event (RFC 8785 form). A separator is a ',' or ':' right after the end of a value or key
    // ('"', ']', '}', a digit, or the last letter of true, false or null); generated strings
    // never hold such a pair before a space.
    scratch_.clear();
    const std::string& s = r.line;
    for (size_t i = 0; i < s.size(); ++i) {
      scratch_.push_back(s[i]);
      if ((s[i] == ',' || s[i] == ':') && i + 1 < s.size() && s[i + 1] == ' ' && i > 0 &&
          (s[i - 1] == '"' || s[i - 1] == ']' || s[i - 1] == '}' ||
           (s[i - 1] >= '0' && s[i - 1] <= '9') || s[i - 1] == 'e' || s[i - 1] == 'l')) {
        ++i;  // Skip the space.
      }
    }
    Write(scratch_);
  }
  ++stats_.duplicates;
}

void Simulator::EmitMessy(int64_t t) {
  static constexpr std::pair<QuarantineReason, double> kWeights[] = {
      {QuarantineReason::kMalformedJson, 0.15},     {QuarantineReason::kInvalidEnvelope, 0.10},
      {QuarantineReason::kUnknownEventType, 0.08},  {QuarantineReason::kUnexpectedSource, 0.08},
      {QuarantineReason::kMissingField, 0.12},      {QuarantineReason::kInvalidField, 0.15},
      {QuarantineReason::kUnknownField, 0.14},      {QuarantineReason::kSensitivityMismatch, 0.10},
      {QuarantineReason::kIdConflict, 0.08}};
  double r = rng_.Uniform();
  Defect d;
  d.active = true;
  d.reason = QuarantineReason::kIdConflict;
  for (const auto& [reason, w] : kWeights) {
    if (r < w) {
      d.reason = reason;
      break;
    }
    r -= w;
  }
  d.variant = static_cast<int>(rng_.Below(12));
  t += static_cast<int64_t>(rng_.Below(10 * kSecond));

  if (d.reason == QuarantineReason::kIdConflict) {
    // A recent accepted id sent again with other content (its time changed by 10 seconds): a
    // producer that reuses ids.
    const uint64_t filled = std::min<uint64_t>(recent_count_, recent_.size());
    const uint64_t from = rng_.Below(filled);
    for (uint64_t i = 0; i < filled; ++i) {
      Recent& rec = recent_[(from + i) % filled];
      if (!rec.explicit_id) continue;
      rec.explicit_id = false;  // Each conflicting line is new text: none is a repeat.
      scratch_.assign(rec.line);
      size_t at = scratch_.find("\"timestamp\": \"");
      at = at == std::string::npos ? scratch_.find("\"time\": \"") + 9 : at + 14;
      char& tens = scratch_[at + 17];  // YYYY-MM-DDTHH:MM:S^S
      tens = static_cast<char>('0' + (tens - '0' + 1) % 6);
      Write(scratch_);
      ++stats_.messy[static_cast<int>(d.reason)];
      return;
    }
    d.reason = QuarantineReason::kUnknownField;  // No accepted id yet: another defect instead.
  }

  // Which kinds of event can carry the defect.
  Category cat;
  const uint64_t pick = rng_.Below(100);
  if (d.reason == QuarantineReason::kSensitivityMismatch) {
    cat = pick < 50 ? kCatPatient : pick < 80 ? kCatEhr : kCatSafety;
  } else {
    cat = pick < 35   ? kCatHcp
          : pick < 60 ? kCatPatient
          : pick < 78 ? kCatEhr
          : pick < 88 ? kCatSafety
                      : kCatEducation;
  }
  switch (cat) {
    case kCatHcp:
      BuildHcp(PickHcp(), kGenericAssets[rng_.Below(std::size(kGenericAssets))],
               static_cast<int>(rng_.Below(3)), t, d);
      break;
    case kCatPatient: {
      static constexpr std::string_view kMilestones[] = {"enrolled", "onboarding_call",
                                                         "first_fill", "refill"};
      BuildPatient(static_cast<uint32_t>(rng_.Below(pop_.patients.size())),
                   kMilestones[rng_.Below(4)], t, d);
      break;
    }
    case kCatEhr: {
      const int h = PickHospital();
      BuildEhr(h, static_cast<uint32_t>(rng_.Below(pop_.scale.mrns[h])), PickHcp(), "rx-512", t,
               d);
      break;
    }
    case kCatSafety:
      BuildSafety(static_cast<uint32_t>(rng_.Below(pop_.patients.size())), t, d);
      break;
    case kCatEducation:
      BuildEducation(PickAccount(), kModules[rng_.Below(std::size(kModules))], true, t, d);
      break;
  }
  if (d.reason == QuarantineReason::kUnknownField && want_example_[3]) {
    want_example_[3] = false;
    Example("a quarantined line (an undeclared field)");
  }
  Write(line_);
  ++stats_.messy[static_cast<int>(d.reason)];
}

}  // namespace

StreamStats Simulate(Population& pop, OutputFile& events,
                     const std::function<void(double, uint64_t)>& progress) {
  auto sim = std::make_unique<Simulator>(pop, events);  // The rhythm tables are large.
  return sim->Run(progress);
}

}  // namespace loopgate::demo::internal
