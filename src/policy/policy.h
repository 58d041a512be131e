#pragma once
// The decision for one event and one candidate sink (routing.md sections 2 and 3): deny rules,
// the producer's restriction, institution agreements, then consent. The first failing check
// is the reason.

#include <cstdint>
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
