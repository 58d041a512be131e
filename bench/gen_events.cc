// loopgate_gen_events: writes N deterministic, realistic events over the reference catalog
// (examples/reference/catalog.yaml) as NDJSON, and optionally the consent records they meet,
// for the end-to-end throughput harness (bench/e2e.sh, docs/performance.md).
//
//   loopgate_gen_events --events N [--out FILE|-] [--consents FILE] [--subjects S] [--seed X]
//
// Same arguments, same bytes: the generator uses its own PRNG (xoshiro256**) and no
// std::*_distribution, whose output differs between standard libraries.
//
// The mix: all five event types of the reference catalog, both envelopes (flat, with and without
// event_id; CloudEvents 1.0, some with an offset time), producer declarations, subjects mostly
// drawn from the consent population (S HCPs, S patients, S/2 EHR record numbers, S/4 accounts)
// and a few outside it; ~2% messy lines (bad enum, unknown field, malformed JSON, a third each)
// and ~1% exact duplicates of a recent valid line. Consents per subject mix grants, channel
// scopes, jurisdictions (US-* and CA-ON), expiries, revocations (some recorded after as_of) and
// grants recorded after as_of. Use the reference agreements with them.
//
// Event times fall in [2026-01-01, 2026-06-30); run with --as-of 2026-06-30T00:00:00Z.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "demo/json_writer.h"
#include "common/rng.h"

namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kBase = 1767225600;           // 2026-01-01T00:00:00Z
constexpr int64_t kAsOf = kBase + 180 * kDay;   // 2026-06-30T00:00:00Z
constexpr int64_t kSpan = 180 * kDay;           // Event times: [kBase, kAsOf).

using loopgate::common::Rng;  // xoshiro256** seeded by splitmix64 (src/common/rng.h).

std::string Id(std::string_view prefix, uint64_t n, int width) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*s%0*llu", static_cast<int>(prefix.size()), prefix.data(),
                width, static_cast<unsigned long long>(n));
  return buf;
}

std::string Time(int64_t seconds) {
  return loopgate::common::FormatRfc3339({seconds, 0});
}

std::string Date(int year, int month, int day) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", year, month, day);
  return buf;
}

// A JSON object in its own string, in the producers' ", " style (src/demo/json_writer.h).
class Obj {
 public:
  Obj() : w_(&s_) {}
  Obj& Str(std::string_view k, std::string_view v) {
    w_.Str(k, v);
    return *this;
  }
  Obj& Null(std::string_view k) {
    w_.Null(k);
    return *this;
  }
  Obj& OptStr(std::string_view k, const std::optional<std::string>& v) {
    return v ? Str(k, *v) : Null(k);
  }
  Obj& Int(std::string_view k, int64_t v) {
    w_.Int(k, v);
    return *this;
  }
  Obj& Bool(std::string_view k, bool v) {
    w_.Bool(k, v);
    return *this;
  }
  Obj& Raw(std::string_view k, std::string_view raw) {
    w_.Raw(k, raw);
    return *this;
  }
  std::string Done() {
    w_.Close();
    return std::move(s_);
  }

 private:
  std::string s_;  // Before w_, which appends to it.
  loopgate::demo::JsonWriter w_;
};

// ---------------------------------------------------------------------------------------------
// Consents.

const char* const kUsStates[] = {"US-MA", "US-NY", "US-CA", "US-TX", "US-FL", "US-WA", "US-IL",
                                 "US-PA"};

std::optional<std::string> Jurisdiction(Rng& rng) {
  const uint64_t r = rng.Below(100);
  if (r < 4) return std::nullopt;  // No jurisdiction: matches no pattern.
  if (r < 12) return std::string("CA-ON");
  return std::string(rng.Pick(kUsStates));
}

struct ConsentSpec {
  std::string id, subject_type, subject_id, purpose;
  std::optional<std::string> channel, jurisdiction;
  std::string notice, capture;
};

class ConsentWriter {
 public:
  ConsentWriter(std::FILE* out, Rng& rng) : out_(out), rng_(rng) {}

  // One consent, as a grant and sometimes a later revocation. `expiry_pct` of grants expire.
  void Emit(const ConsentSpec& c, uint64_t expiry_pct, uint64_t revoke_pct) {
    // Effective from 2025-10 to 2026-02: some begin after the events that meet them.
    const int64_t effective = kBase - 90 * kDay + static_cast<int64_t>(rng_.Below(150 * kDay));
    std::optional<int64_t> expires;
    if (rng_.Percent(expiry_pct)) {
      // Between 2026-02 and 2026-09: some before the event, some between event and as_of.
      expires = kBase + 30 * kDay + static_cast<int64_t>(rng_.Below(240 * kDay));
    }
    int64_t recorded = effective + static_cast<int64_t>(rng_.Below(2 * kDay));
    if (rng_.Percent(3)) recorded = kAsOf + 10 * kDay;  // Not yet known as of as_of.
    Write(c, "granted", effective, expires, recorded);
    if (rng_.Percent(revoke_pct)) {
      // Revoked some time in 2026; about a sixth of revocations come after as_of.
      const int64_t revoked = std::max(recorded + 60, kBase + static_cast<int64_t>(
                                                          rng_.Below(215 * kDay)));
      Write(c, "revoked", effective, expires, revoked);
    }
  }

  uint64_t records() const { return records_; }

 private:
  void Write(const ConsentSpec& c, std::string_view status, int64_t effective,
             std::optional<int64_t> expires, int64_t recorded) {
    std::string line = Obj()
                           .Str("consent_id", c.id)
                           .Str("subject_type", c.subject_type)
                           .Str("subject_id", c.subject_id)
                           .Str("purpose", c.purpose)
                           .Str("status", status)
                           .Str("effective_from", Time(effective))
                           .OptStr("expires_at", expires ? std::optional(Time(*expires))
                                                         : std::nullopt)
                           .OptStr("channel", c.channel)
                           .OptStr("jurisdiction", c.jurisdiction)
                           .Str("notice_version", c.notice)
                           .Str("capture_channel", c.capture)
                           .Str("source_system", "consent_portal")
                           .Str("recorded_at", Time(recorded))
                           .Done();
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), out_);
    ++records_;
  }

  std::FILE* out_;
  Rng& rng_;
  uint64_t records_ = 0;
};

uint64_t WriteConsents(std::FILE* out, uint64_t subjects, uint64_t seed) {
  Rng rng(seed ^ 0xc0115e17ULL);
  ConsentWriter w(out, rng);
  const char* const kCapture[] = {"web_form", "rep_tablet", "call_center", "paper"};
  for (uint64_t i = 0; i < subjects; ++i) {
    const std::string hcp = Id("hcp-", i, 6);
    if (rng.Percent(93)) {
      w.Emit({Id("c-hce-", i, 6), "hcp", hcp, "hcp_commercial_engagement", std::nullopt,
              Jurisdiction(rng), "hcp-notice-v2", rng.Pick(kCapture)},
             12, 6);
    }
    if (rng.Percent(70)) {
      const uint64_t r = rng.Below(100);
      std::optional<std::string> channel;
      if (r < 60) {
        channel = "email";
      } else if (r < 85) {
        channel = "web";
      }
      w.Emit({Id("c-hpm-", i, 6), "hcp", hcp, "promotional_marketing", channel,
              Jurisdiction(rng), "hcp-notice-v2", rng.Pick(kCapture)},
             8, 5);
    }
  }
  for (uint64_t i = 0; i < subjects; ++i) {
    const std::string pt = Id("pt-", i, 6);
    if (rng.Percent(88)) {
      w.Emit({Id("c-pps-", i, 6), "patient", pt, "patient_support", std::nullopt,
              Jurisdiction(rng), "psp-notice-v3", rng.Pick(kCapture)},
             8, 5);
    }
    if (rng.Percent(78)) {
      w.Emit({Id("c-paa-", i, 6), "patient", pt, "aggregate_analytics", std::nullopt,
              Jurisdiction(rng), "psp-notice-v3", rng.Pick(kCapture)},
             6, 5);
      if (rng.Percent(10)) {  // A second consent for the same purpose (e.g. a new notice).
        w.Emit({Id("c-paa2-", i, 6), "patient", pt, "aggregate_analytics", std::nullopt,
                Jurisdiction(rng), "psp-notice-v4", rng.Pick(kCapture)},
               6, 5);
      }
    }
  }
  for (uint64_t i = 0; i < subjects / 2; ++i) {
    const std::string mrn = Id("mrn-", i, 6);
    if (rng.Percent(70)) {
      w.Emit({Id("c-maa-", i, 6), "patient", mrn, "aggregate_analytics", std::nullopt,
              Jurisdiction(rng), "ehr-notice-v1", "paper"},
             6, 4);
    }
    if (rng.Percent(50)) {
      w.Emit({Id("c-mrs-", i, 6), "patient", mrn, "research", std::nullopt, Jurisdiction(rng),
              "research-icf-v2", "paper"},
             10, 4);
    }
  }
  return w.records();
}

// ---------------------------------------------------------------------------------------------
// Events.

enum class Messy { kNone, kBadEnum, kUnknownField };

class EventGen {
 public:
  EventGen(uint64_t subjects, uint64_t seed) : subjects_(subjects), rng_(seed) {}

  // One valid event line, or one with the defect `messy` names.
  std::string Event(uint64_t seq, Messy messy) {
    const uint64_t r = rng_.Below(100);
    if (messy == Messy::kBadEnum) return r < 50 ? Hcp(seq, messy) : Patient(seq, messy);
    if (messy == Messy::kUnknownField) return r < 50 ? Patient(seq, messy) : Hcp(seq, messy);
    if (r < 35) return Hcp(seq, messy);
    if (r < 60) return Patient(seq, messy);
    if (r < 72) return Account(seq);
    if (r < 90) return Ehr(seq);
    return Safety(seq);
  }

  Rng& rng() { return rng_; }

 private:
  // A subject from the population (96%) or outside it (no consent on file).
  std::string Subject(std::string_view prefix, uint64_t population) {
    if (rng_.Percent(4)) return Id(std::string(prefix) + "x", rng_.Below(1000000), 6);
    return Id(prefix, rng_.Below(population), 6);
  }

  int64_t EventTime() { return kBase + static_cast<int64_t>(rng_.Below(kSpan)); }

  std::string BirthDate() {
    return Date(1940 + static_cast<int>(rng_.Below(76)), 1 + static_cast<int>(rng_.Below(12)),
                1 + static_cast<int>(rng_.Below(28)));
  }

  std::string Zip() {
    static const char* const kRestricted[] = {"036", "059", "102", "203", "556", "692", "790",
                                              "821", "878", "884", "890", "893"};
    char buf[8];
    if (rng_.Percent(5)) {
      std::snprintf(buf, sizeof(buf), "%s%02d", rng_.Pick(kRestricted),
                    static_cast<int>(rng_.Below(100)));
    } else {
      std::snprintf(buf, sizeof(buf), "%05d", static_cast<int>(rng_.Below(100000)));
    }
    return buf;
  }

  // Envelope: flat (with event_id, or 5% without: a derived id) or CloudEvents (`ce_pct`%).
  struct Envelope {
    std::string type, source;
    int64_t time = 0;
    std::optional<std::string> sensitivity;
    std::vector<std::string> allowed_recipients;
    std::vector<std::pair<std::string, std::string>> attributes;  // Flat-envelope attributes.
  };

  std::string Wrap(uint64_t seq, const Envelope& e, const std::string& payload, uint64_t ce_pct) {
    if (rng_.Percent(ce_pct)) {
      Obj o;
      o.Str("specversion", "1.0").Str("id", Id("evt-", seq, 10)).Str("type", e.type)
          .Str("source", e.source);
      if (rng_.Percent(20)) {  // The same instant written with a +02:00 offset.
        std::string t = Time(e.time + 7200);
        t.replace(t.size() - 1, 1, "+02:00");
        o.Str("time", t);
      } else {
        o.Str("time", Time(e.time));
      }
      o.Str("datacontenttype", "application/json");
      if (e.sensitivity) o.Str("sensitivity", *e.sensitivity);
      if (!e.allowed_recipients.empty()) {
        std::string list;
        for (const auto& r : e.allowed_recipients) list += (list.empty() ? "" : ",") + r;
        o.Str("allowedrecipients", list);
      }
      return o.Raw("data", payload).Done();
    }
    Obj o;
    if (!rng_.Percent(5)) o.Str("event_id", Id("evt-", seq, 10));
    o.Str("event_type", e.type).Str("source_system", e.source).Str("timestamp", Time(e.time));
    for (const auto& [k, v] : e.attributes) o.Str(k, v);
    if (e.sensitivity) o.Str("sensitivity", *e.sensitivity);
    if (!e.allowed_recipients.empty()) {
      std::string list = "[";
      for (const auto& r : e.allowed_recipients) list += (list.size() > 1 ? ", \"" : "\"") + r + "\"";
      o.Raw("allowed_recipients", list + "]");
    }
    return o.Raw("payload", payload).Done();
  }

  std::string Hcp(uint64_t seq, Messy messy) {
    static const char* const kAssets[] = {"asset-moa-video", "asset-dosing-guide",
                                          "asset-safety-profile", "asset-case-study",
                                          "asset-webinar-2026", "asset-formulary-kit"};
    Envelope e{"hcp.content.engaged", "", EventTime(), {}, {}, {}};
    std::string channel;
    if (rng_.Percent(40)) {
      e.source = "email_platform";
      channel = "email";
    } else {
      e.source = "web_portal";
      channel = rng_.Percent(75) ? "web" : "rep";
    }
    if (messy == Messy::kBadEnum) channel = rng_.Percent(50) ? "fax" : "sms";
    Obj p;
    p.Str("hcp_id", Subject("hcp-", subjects_));
    if (rng_.Percent(70)) {
      p.Str("account_id",
            rng_.Percent(1) ? std::string("acct_nocontact_01") : Id("acct_", rng_.Below(subjects_ / 4 + 1), 5));
    }
    p.Str("asset_id", rng_.Pick(kAssets)).Str("channel", channel);
    if (rng_.Percent(60)) p.Int("duration_s", static_cast<int64_t>(rng_.Below(900)));
    if (messy == Messy::kUnknownField) p.Str("npi_email", "redacted@example.org");
    if (rng_.Percent(5)) e.allowed_recipients = {"crm"};
    return Wrap(seq, e, p.Done(), 6);
  }

  std::string Patient(uint64_t seq, Messy messy) {
    static const char* const kFirst[] = {"Maria", "James", "Aiko", "Olu", "Sam", "Priya"};
    static const char* const kLast[] = {"Lopez", "Chen", "Smith", "Okafor", "Novak", "Rao"};
    static const char* const kMilestones[] = {"enrolled", "onboarding_call", "first_fill",
                                              "refill", "discontinued"};
    static const char* const kTherapies[] = {"drug-x", "drug-y", "drug-z"};
    Envelope e{"patient.support.milestone", "support_hub", EventTime(), {}, {}, {}};
    Obj p;
    p.Str("patient_id", Subject("pt-", subjects_));
    if (rng_.Percent(40)) p.Str("first_name", rng_.Pick(kFirst)).Str("last_name", rng_.Pick(kLast));
    if (rng_.Percent(70)) p.Str("birth_date", BirthDate());
    if (rng_.Percent(80)) p.Str("zip", Zip());
    const uint64_t prog = rng_.Below(100);
    p.Str("program_id", prog < 85 ? "psp-main" : prog < 95 ? "psp-onc" : "psp-peds");
    p.Str("milestone", messy == Messy::kBadEnum ? "graduated" : rng_.Pick(kMilestones));
    if (rng_.Percent(80)) p.Str("therapy", rng_.Pick(kTherapies));
    if (messy == Messy::kUnknownField) p.Str("diagnosis", "C50.9");
    if (rng_.Percent(10)) e.sensitivity = "phi";
    return Wrap(seq, e, p.Done(), 4);
  }

  std::string Account(uint64_t seq) {
    static const char* const kModules[] = {"onboarding-101", "dosing-201", "safety-301",
                                           "reimbursement-110"};
    Envelope e{"account.education.completed", "learning_portal", EventTime(), {}, {}, {}};
    const std::string account = rng_.Percent(1) ? std::string("acct_nocontact_01")
                                                : Id("acct_", rng_.Below(subjects_ / 4 + 1), 5);
    Obj p;
    if (rng_.Percent(50)) {
      e.attributes.emplace_back("account_id", account);  // As the producers' own flat event.
    } else {
      p.Str("account_id", account);
    }
    p.Str("module_id", rng_.Pick(kModules))
        .Str("completion_status", rng_.Percent(70) ? "completed" : "started");
    if (rng_.Percent(30)) e.sensitivity = "non_phi";
    if (rng_.Percent(30)) e.allowed_recipients = {"crm", "analytics_lake"};
    return Wrap(seq, e, p.Done(), 0);
  }

  std::string Ehr(uint64_t seq) {
    static const char* const kLines[] = {"oncology", "cardiology", "neurology", "rheumatology"};
    Envelope e{"ehr.therapy.started", "", EventTime(), {}, {}, {}};
    const uint64_t s = rng_.Below(100);
    e.source = s < 50 ? "ehr_st_lukes" : s < 80 ? "ehr_mercy" : "ehr_county";
    Obj p;
    p.Str("patient_mrn", Subject("mrn-", subjects_ / 2 + 1));
    if (rng_.Percent(80)) p.Str("birth_date", BirthDate());
    if (rng_.Percent(80)) p.Str("zip", Zip());
    p.Str("facility_id", e.source.substr(4) + "-" + std::to_string(1 + rng_.Below(4)))
        .Str("service_line", rng_.Pick(kLines))
        .Str("therapy_code", Id("rx-", rng_.Below(1000), 3));
    if (rng_.Percent(50)) p.Str("prescriber_npi", Id("1", rng_.Below(1000000000), 9));
    return Wrap(seq, e, p.Done(), 0);
  }

  std::string Safety(uint64_t seq) {
    static const char* const kNarratives[] = {
        "Patient reported dizziness two days after first dose; called from home number.",
        "Caregiver reports mild rash on forearms after refill; no hospital visit.",
        "Nausea and headache for three days, resolved without treatment.",
        "Patient fainted at pharmacy counter; ambulance called, discharged same day."};
    static const char* const kProducts[] = {"drug-x", "drug-y", "drug-z"};
    Envelope e{"safety.adverse_event.reported", rng_.Percent(50) ? "support_hub" : "call_center",
               EventTime(), {}, {}, {}};
    Obj p;
    p.Str("patient_id", Subject("pt-", subjects_)).Str("product", rng_.Pick(kProducts));
    if (rng_.Percent(70)) p.Str("narrative", rng_.Pick(kNarratives));
    if (rng_.Percent(60)) {
      p.Str("onset_date", Date(2026, 1 + static_cast<int>(rng_.Below(6)),
                               1 + static_cast<int>(rng_.Below(28))));
    }
    p.Bool("serious", rng_.Percent(15));
    return Wrap(seq, e, p.Done(), 5);
  }

  uint64_t subjects_;
  Rng rng_;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "loopgate_gen_events: %s\n"
               "usage: loopgate_gen_events --events N [--out FILE|-] [--consents FILE]\n"
               "                           [--subjects S (default 10000)] [--seed X (default 1)]\n",
               why);
  std::exit(2);
}

uint64_t ParseCount(const char* flag, const char* text) {
  uint64_t v = 0;
  const char* end = text + std::strlen(text);
  auto r = std::from_chars(text, end, v);
  if (r.ec != std::errc() || r.ptr != end) Usage((std::string(flag) + " needs a number").c_str());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<uint64_t> events;
  uint64_t subjects = 10000, seed = 1;
  std::string out_path = "-", consents_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) Usage("every option takes a value");
    const char* v = argv[++i];
    if (a == "--events") {
      events = ParseCount("--events", v);
    } else if (a == "--subjects") {
      subjects = ParseCount("--subjects", v);
    } else if (a == "--seed") {
      seed = ParseCount("--seed", v);
    } else if (a == "--out") {
      out_path = v;
    } else if (a == "--consents") {
      consents_path = v;
    } else {
      Usage("unknown option");
    }
  }
  if (!events) Usage("--events is required");
  if (subjects < 4) Usage("--subjects must be at least 4");

  if (!consents_path.empty()) {
    std::FILE* c = std::fopen(consents_path.c_str(), "w");
    if (c == nullptr) Usage("cannot open the --consents file");
    const uint64_t n = WriteConsents(c, subjects, seed);
    if (std::fclose(c) != 0) Usage("writing the --consents file failed");
    std::fprintf(stderr, "consents: %llu records for %llu HCPs, %llu patients, %llu EHR MRNs\n",
                 static_cast<unsigned long long>(n), static_cast<unsigned long long>(subjects),
                 static_cast<unsigned long long>(subjects),
                 static_cast<unsigned long long>(subjects / 2));
  }

  std::FILE* out = out_path == "-" ? stdout : std::fopen(out_path.c_str(), "w");
  if (out == nullptr) Usage("cannot open the --out file");
  static char buffer[1 << 20];
  std::setvbuf(out, buffer, _IOFBF, sizeof(buffer));

  EventGen gen(subjects, seed);
  Rng& rng = gen.rng();
  std::vector<std::string> recent(4096);  // Ring of recent valid lines, for duplicates.
  uint64_t recent_count = 0, seq = 0;
  uint64_t counts[5] = {};  // valid, bad enum, unknown field, malformed, duplicate
  uint64_t bytes = 0;
  for (uint64_t n = 0; n < *events; ++n) {
    const uint64_t r = rng.Below(1000);
    std::string line;
    if (r < 20) {  // ~2% messy.
      const uint64_t kind = r % 3;
      if (kind == 0) {
        line = gen.Event(++seq, Messy::kBadEnum);
      } else if (kind == 1) {
        line = gen.Event(++seq, Messy::kUnknownField);
      } else {
        // Cut short: a prefix of an object is never a complete JSON value.
        line = gen.Event(++seq, Messy::kNone);
        line.resize(1 + rng.Below(line.size() - 1));
      }
      ++counts[1 + kind];
    } else if (r < 30 && recent_count > 0) {  // ~1% duplicates of a recent valid line.
      line = recent[rng.Below(std::min<uint64_t>(recent_count, recent.size()))];
      ++counts[4];
    } else {
      line = gen.Event(++seq, Messy::kNone);
      recent[recent_count++ % recent.size()] = line;
      ++counts[0];
    }
    line.push_back('\n');
    bytes += line.size();
    std::fwrite(line.data(), 1, line.size(), out);
  }
  if (std::fflush(out) != 0 || (out != stdout && std::fclose(out) != 0)) {
    std::fprintf(stderr, "loopgate_gen_events: writing the events failed\n");
    return 1;
  }
  std::fprintf(stderr,
               "events: %llu lines, %llu bytes: %llu valid, %llu bad enum, %llu unknown field, "
               "%llu malformed JSON, %llu duplicates\n",
               static_cast<unsigned long long>(*events), static_cast<unsigned long long>(bytes),
               static_cast<unsigned long long>(counts[0]),
               static_cast<unsigned long long>(counts[1]),
               static_cast<unsigned long long>(counts[2]),
               static_cast<unsigned long long>(counts[3]),
               static_cast<unsigned long long>(counts[4]));
  return 0;
}
