#include "policy/policy.h"

#include <algorithm>

#include "common/text.h"
#include "json/json.h"

namespace loopgate::policy {

using catalog::FieldType;
using consent::ConsentRecord;
using consent::ConsentStatus;

std::string_view DenyReasonName(DenyReason reason) {
  switch (reason) {
    case DenyReason::kRule: return "rule";
    case DenyReason::kNotInAllowedRecipients: return "not_in_allowed_recipients";
    case DenyReason::kNoAgreement: return "no_agreement";
    case DenyReason::kAgreementPurpose: return "agreement_purpose";
    case DenyReason::kAgreementAggregateOnly: return "agreement_aggregate_only";
    case DenyReason::kNoConsent: return "no_consent";
    case DenyReason::kConsentRevoked: return "consent_revoked";
    case DenyReason::kConsentExpired: return "consent_expired";
    case DenyReason::kConsentChannel: return "consent_channel";
    case DenyReason::kJurisdiction: return "jurisdiction";
  }
  return "no_consent";
}

std::string_view SubjectId(const event::Event& event, std::string* scratch) {
  const auto* subject = event.Find(event.type_def->subject_field);
  if (subject == nullptr) return {};
  std::string_view id;
  if (subject->get_string().get(id) == simdjson::SUCCESS) return id;
  // A non-string subject id is looked up by its RFC 8785 text.
  scratch->clear();
  (void)json::AppendCanonical(*subject, scratch);
  return *scratch;
}

std::string Decision::ReasonText(const catalog::Catalog& catalog) const {
  if (allowed) return "";
  if (reason == DenyReason::kRule) return "rule:" + catalog.rules[rule_index].id;
  return std::string(DenyReasonName(reason));
}

Engine::Engine(const catalog::Catalog& catalog, consent::ConsentView& consents,
               const consent::AgreementView& agreements, common::Instant as_of)
    : catalog_(catalog), consents_(consents), agreements_(agreements), as_of_(as_of) {}

namespace {

bool Equals(const catalog::Field& field, simdjson::dom::element value,
            const catalog::RuleValue& want) {
  switch (field.type) {
    case FieldType::kInteger:
    case FieldType::kNumber: {
      double d;
      return value.get_double().get(d) == simdjson::SUCCESS && d == want.number;
    }
    case FieldType::kBoolean: {
      bool b;
      return value.get_bool().get(b) == simdjson::SUCCESS && b == want.boolean;
    }
    case FieldType::kDatetime: {
      std::string_view s;
      if (value.get_string().get(s) != simdjson::SUCCESS) return false;
      const auto t = common::ParseRfc3339(s);
      return t && *t == want.instant;
    }
    default: {
      std::string_view s;
      return value.get_string().get(s) == simdjson::SUCCESS && s == want.text;
    }
  }
}

// A consent record still in force at the event time and at as_of.
bool NotExpired(const ConsentRecord& r, common::Instant event_time, common::Instant as_of) {
  return !r.expires_at || (*r.expires_at > event_time && *r.expires_at > as_of);
}

}  // namespace

Requirements RequirementsFor(const catalog::Catalog& catalog, const catalog::EventType& type,
                             size_t candidate) {
  const catalog::Sink& sink = catalog.sinks[type.candidate_sinks[candidate]];
  Requirements r;
  for (const catalog::CompiledRule& rule : type.candidate_rules[candidate]) {
    r.rules.push_back(rule.rule_index);
    // As RuleMatches: a source condition covering every source the type accepts, and no field
    // condition, hold for every event of the type.
    const bool every_source =
        std::all_of(type.sources.begin(), type.sources.end(), [&](const std::string& s) {
          return rule.sources.empty() ||
                 std::find(rule.sources.begin(), rule.sources.end(), s) != rule.sources.end();
        });
    if (r.denied_by_rule < 0 && rule.fields.empty() && every_source) {
      r.denied_by_rule = static_cast<int>(rule.rule_index);
    }
  }
  r.agreement_required = type.requires_agreement;
  r.individual = sink.granularity == catalog::Granularity::kIndividual;
  r.consent_required = sink.RequiresConsentFor(type.subject_type);
  return r;
}

bool CheckConsentVersions(const std::vector<ConsentRecord>& v, common::Instant event_time,
                          common::Instant as_of, const std::optional<std::string>& channel,
                          const std::vector<std::string>& jurisdictions,
                          std::vector<const ConsentRecord*>* cited, DenyReason* reason) {
  cited->clear();
  if (v.empty()) {
    *reason = DenyReason::kNoConsent;
    return false;
  }
  if (std::all_of(v.begin(), v.end(),
                  [](const ConsentRecord& r) { return r.status == ConsentStatus::kRevoked; })) {
    *reason = DenyReason::kConsentRevoked;
    return false;
  }
  // Narrow step by step; each empty set has its own reason.
  for (const auto& r : v) {
    if (r.status == ConsentStatus::kGranted && r.effective_from <= event_time) cited->push_back(&r);
  }
  if (cited->empty()) {
    *reason = DenyReason::kNoConsent;
    return false;
  }
  std::erase_if(*cited, [&](const ConsentRecord* r) { return !NotExpired(*r, event_time, as_of); });
  if (cited->empty()) {
    *reason = DenyReason::kConsentExpired;
    return false;
  }
  if (channel) {
    std::erase_if(*cited,
                  [&](const ConsentRecord* r) { return r->channel && *r->channel != *channel; });
    if (cited->empty()) {
      *reason = DenyReason::kConsentChannel;
      return false;
    }
  }
  if (!jurisdictions.empty()) {
    std::erase_if(*cited, [&](const ConsentRecord* r) {
      return !r->jurisdiction ||
             std::none_of(jurisdictions.begin(), jurisdictions.end(), [&](const std::string& p) {
               return common::GlobMatch(p, *r->jurisdiction);
             });
    });
    if (cited->empty()) {
      *reason = DenyReason::kJurisdiction;
      return false;
    }
  }
  return true;
}

std::string_view ConsentStateName(ConsentState state) {
  switch (state) {
    case ConsentState::kGranted: return "granted";
    case ConsentState::kNotYetEffective: return "not_yet_effective";
    case ConsentState::kExpired: return "expired";
    case ConsentState::kRevoked: return "revoked";
    case ConsentState::kNone: return "none";
  }
  return "none";
}

PurposeConsent ConsentStateAt(const std::vector<ConsentRecord>& current, common::Instant as_of) {
  PurposeConsent out;
  DenyReason reason = DenyReason::kNoConsent;
  if (CheckConsentVersions(current, as_of, as_of, std::nullopt, {}, &out.in_force, &reason)) {
    out.state = ConsentState::kGranted;
    return out;
  }
  switch (reason) {
    case DenyReason::kConsentRevoked:
      out.state = ConsentState::kRevoked;
      break;
    case DenyReason::kConsentExpired:
      out.state = ConsentState::kExpired;
      break;
    default:
      // no_consent: nothing current, or granted versions that take effect only later.
      out.state =
          std::any_of(current.begin(), current.end(),
                      [](const ConsentRecord& r) { return r.status == ConsentStatus::kGranted; })
              ? ConsentState::kNotYetEffective
              : ConsentState::kNone;
  }
  return out;
}

bool Engine::RuleMatches(const catalog::CompiledRule& rule, const event::Event& event) const {
  if (!rule.sources.empty() &&
      std::find(rule.sources.begin(), rule.sources.end(), event.source) == rule.sources.end()) {
    return false;
  }
  for (const auto& cond : rule.fields) {
    const auto* value = event.Find(cond.field_index);
    if (value == nullptr) return false;  // A condition on an absent field does not hold.
    const catalog::Field& field = event.type_def->fields[cond.field_index];
    if (std::none_of(cond.values.begin(), cond.values.end(),
                     [&](const catalog::RuleValue& v) { return Equals(field, *value, v); })) {
      return false;
    }
  }
  return true;
}

bool Engine::CheckAgreements(const event::Event& event, const catalog::Sink& sink,
                             Decision* d) const {
  const std::string& purpose = catalog_.purposes[sink.purpose].id;
  bool any = false, purpose_allowed = false, individual_allowed = false;
  for (const consent::AgreementRecord* a : agreements_.ForSource(event.source)) {
    if (a->effective_from > event.time) continue;
    if (a->expires_at && !(*a->expires_at > event.time && *a->expires_at > as_of_)) continue;
    any = true;
    if (std::find(a->allowed_purposes.begin(), a->allowed_purposes.end(), purpose) ==
        a->allowed_purposes.end()) {
      continue;
    }
    purpose_allowed = true;
    individual_allowed |= a->granularity == consent::Granularity::kIndividual;
  }
  if (!any) {
    if (event.type_def->requires_agreement) {
      d->reason = DenyReason::kNoAgreement;
      return false;
    }
    return true;
  }
  if (!purpose_allowed) {
    d->reason = DenyReason::kAgreementPurpose;
    return false;
  }
  if (sink.granularity == catalog::Granularity::kIndividual && !individual_allowed) {
    d->reason = DenyReason::kAgreementAggregateOnly;
    return false;
  }
  return true;
}

absl::Status Engine::CheckConsent(const event::Event& event, const catalog::Sink& sink,
                                  Decision* d) {
  const catalog::EventType& type = *event.type_def;
  const std::string_view subject_id = SubjectId(event, &subject_scratch_);
  if (subject_id.empty()) {
    d->reason = DenyReason::kNoConsent;  // No subject to hold a consent: fail closed.
    return absl::OkStatus();
  }
  auto current = consents_.Current(type.subject_type, subject_id,
                                   catalog_.purposes[sink.purpose].id);
  if (!current.ok()) return current.status();
  d->allowed = CheckConsentVersions(**current, event.time, as_of_, sink.channel, sink.jurisdictions,
                                    &d->cited, &d->reason);
  return absl::OkStatus();
}

void Engine::Prefetch(const event::Event& event) {
  const catalog::EventType& type = *event.type_def;
  std::string_view subject_id;
  for (uint32_t si : type.candidate_sinks) {
    const catalog::Sink& sink = catalog_.sinks[si];
    if (!sink.RequiresConsentFor(type.subject_type)) continue;
    if (subject_id.empty()) subject_id = SubjectId(event, &subject_scratch_);
    if (subject_id.empty()) return;
    consents_.Prefetch(type.subject_type, subject_id, catalog_.purposes[sink.purpose].id);
  }
}

absl::Status Engine::Decide(const event::Event& event, size_t candidate, Decision* d) {
  const catalog::EventType& type = *event.type_def;
  const catalog::Sink& sink = catalog_.sinks[type.candidate_sinks[candidate]];
  d->allowed = false;
  d->cited.clear();
  for (const auto& rule : type.candidate_rules[candidate]) {
    if (RuleMatches(rule, event)) {
      d->reason = DenyReason::kRule;
      d->rule_index = rule.rule_index;
      return absl::OkStatus();
    }
  }
  if (event.has_allowed_recipients &&
      std::find(event.allowed_recipients.begin(), event.allowed_recipients.end(), sink.id) ==
          event.allowed_recipients.end()) {
    d->reason = DenyReason::kNotInAllowedRecipients;
    return absl::OkStatus();
  }
  if (!CheckAgreements(event, sink, d)) return absl::OkStatus();
  if (!sink.RequiresConsentFor(type.subject_type)) {
    d->allowed = true;
    return absl::OkStatus();
  }
  return CheckConsent(event, sink, d);
}

}  // namespace loopgate::policy
