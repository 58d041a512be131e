#pragma once
// The decision for one event and one candidate sink (routing.md sections 2 and 3): deny rules,
// the producer's restriction, institution agreements, then consent. The first failing check
// is the reason.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "consent/consent.h"
#include "event/event.h"

namespace loopgate::policy {

// Why a candidate sink was denied, in the order the checks run.
enum class DenyReason : uint8_t {
  kRule,                     // A catalog deny rule matched ("rule:<id>").
  kNotInAllowedRecipients,   // The producer's allowed_recipients leave this sink out.
  kNoAgreement,              // The type requires an agreement and none covers the source.
  kAgreementPurpose,         // No covering agreement allows the sink's purpose.
  kAgreementAggregateOnly,   // Individual-level sink, but the purpose is allowed only in aggregate.
  kNoConsent,                // No current consent record, or none in effect at the event time.
  kConsentRevoked,           // Every current consent record is revoked.
  kConsentExpired,           // Consent in effect had expired (by event time or as_of).
  kConsentChannel,           // No consent covers the sink's channel.
  kJurisdiction,             // No consent is in one of the sink's jurisdictions.
};
std::string_view DenyReasonName(DenyReason reason);

struct Decision {
  bool allowed = false;
  DenyReason reason = DenyReason::kNoConsent;
  uint32_t rule_index = 0;  // With kRule: into Catalog::rules.
  // With allowed: the consent versions the decision rests on (empty when none was required).
  std::vector<const consent::ConsentRecord*> cited;

  // "rule:<id>" or the reason code; empty when allowed.
  std::string ReasonText(const catalog::Catalog& catalog) const;
};

// What a candidate sink asks of events of one type, known from the catalog alone: the checks
// Decide runs, in its order, with everything that does not depend on the event settled.
// `loopgate matrix` and `loopgate lint` report it; Decide reads the same catalog fields.
struct Requirements {
  // Deny rules that may match (Catalog::rules indices), in the order they are checked.
  std::vector<uint32_t> rules;
  // A rule that matches every event of the type (no field condition, and every source the type
  // accepts is among its sources): the sink is never reached. Into Catalog::rules, or -1.
  int denied_by_rule = -1;
  // Agreements (routing.md 3.3). When the event's source has agreements in force, one of them
  // must allow the sink's purpose, and at individual level if `individual` (the sink's
  // granularity). When it has none, the sink is denied only if `agreement_required` (the type's
  // requires_agreement).
  bool agreement_required = false;
  bool individual = true;
  // Consent (routing.md 3.4): the subject must have consented to the sink's purpose, under the
  // sink's channel and jurisdictions, when the sink requires consent for the type's subject type.
  bool consent_required = false;
};

// Requirements of candidate `candidate` (an index into type.candidate_sinks).
Requirements RequirementsFor(const catalog::Catalog& catalog, const catalog::EventType& type,
                             size_t candidate);
// The consent checks of routing.md section 3.4, steps 1 to 6, on `current`: the current version
// of every consent for one subject and purpose, as ConsentView::Current returns them. A sink's
// `channel` and `jurisdictions` narrow the set (nullopt and {} for none). Returns true and sets
// `cited` to the versions the decision rests on (pointers into `current`), or false with
// `reason`. The engine decides with this; `consent show` reports with it.
bool CheckConsentVersions(const std::vector<consent::ConsentRecord>& current,
                          common::Instant event_time, common::Instant as_of,
                          const std::optional<std::string>& channel,
                          const std::vector<std::string>& jurisdictions,
                          std::vector<const consent::ConsentRecord*>* cited, DenyReason* reason);

// A subject's consent for one purpose as an event at `as_of` would meet it, at a sink that
// names no channel and no jurisdictions (those can only narrow it further).
enum class ConsentState : uint8_t {
  kGranted,          // In force: such a sink is allowed, citing `in_force`.
  kNotYetEffective,  // Granted, but effective only after as_of: no_consent.
  kExpired,          // Granted and effective, but expired: consent_expired.
  kRevoked,          // Every current version is a revocation: consent_revoked.
  kNone,             // No current version (none known by as_of, or moved to another purpose or
                     // subject by a later version): no_consent.
};
std::string_view ConsentStateName(ConsentState state);

struct PurposeConsent {
  ConsentState state = ConsentState::kNone;
  std::vector<const consent::ConsentRecord*> in_force;  // Pointers into `current`.
};
// `current` as CheckConsentVersions takes it.
PurposeConsent ConsentStateAt(const std::vector<consent::ConsentRecord>& current,
                              common::Instant as_of);
// The event's subject id as consent records name it: the subject field's string, or for a
// non-string value its RFC 8785 text (written into `scratch`). Empty when the field is absent,
// null or the empty string: the event has no subject, and a sink that requires consent denies
// it no_consent.
std::string_view SubjectId(const event::Event& event, std::string* scratch);

// Decides candidate sinks for events of one catalog, with registries viewed as of `as_of`.
// Not thread-safe (the consent view caches).
class Engine {
 public:
  Engine(const catalog::Catalog& catalog, consent::ConsentView& consents,
         const consent::AgreementView& agreements, common::Instant as_of);

  // Decides candidate `candidate` (an index into event.type_def->candidate_sinks).
  // Errors: only from the state store.
  absl::Status Decide(const event::Event& event, size_t candidate, Decision* decision);

  // Prefetches what deciding the event's candidate sinks will look up first (the consent
  // view's entries), so the cache misses overlap with work done before Decide. Changes nothing.
  void Prefetch(const event::Event& event);

 private:
  bool RuleMatches(const catalog::CompiledRule& rule, const event::Event& event) const;
  bool CheckAgreements(const event::Event& event, const catalog::Sink& sink, Decision* d) const;
  absl::Status CheckConsent(const event::Event& event, const catalog::Sink& sink, Decision* d);

  const catalog::Catalog& catalog_;
  consent::ConsentView& consents_;
  const consent::AgreementView& agreements_;
  common::Instant as_of_;
  std::string subject_scratch_;
};

}  // namespace loopgate::policy
