#pragma once
// `loopgate lint`: what a privacy officer reviewing a catalog change needs to know before it
// routes a single event (docs/governance-tools.md). Everything the catalog loader rejects, the
// loader's warnings (as errors: each is a reference that makes a sink skip consent or a rule
// match nothing), and checks on the compiled catalog: event types no sink can receive, sinks no
// event can reach, tokenization without a key or with a key another domain shares, deny rules
// that never match or are shadowed by an earlier one, actions the level cap undoes, and
// promotional sinks that can receive phi.
//
// Each finding has a position in the catalog file, a severity and a stable check id.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "transform/transform.h"

namespace loopgate::lint {

enum class Severity : uint8_t {
  kError,    // The catalog must not go live like this: `lint` exits 1.
  kWarning,  // A reviewer should look; `lint` still exits 0 (unless --warnings-as-errors).
};
std::string_view SeverityName(Severity severity);  // "error", "warning"

// Check ids, as printed in brackets after each finding (docs/governance-tools.md lists them).
inline constexpr std::string_view kCatalog = "catalog";  // The loader rejects this.
inline constexpr std::string_view kUnknownReference = "unknown-reference";
inline constexpr std::string_view kTypeReachesNoSink = "type-reaches-no-sink";
inline constexpr std::string_view kPurposeWithoutSink = "purpose-without-sink";
inline constexpr std::string_view kSinkUnreachable = "sink-unreachable";
inline constexpr std::string_view kTokenizeWithoutTokenDomain = "tokenize-without-token-domain";
inline constexpr std::string_view kTokenizeWithoutKey = "tokenize-without-key";
inline constexpr std::string_view kTokenDomainsShareKey = "token-domains-share-key";
inline constexpr std::string_view kConsentUnknownSubjectType = "consent-unknown-subject-type";
inline constexpr std::string_view kRuleNeverMatches = "rule-never-matches";
inline constexpr std::string_view kRuleShadowed = "rule-shadowed";
inline constexpr std::string_view kActionUndoneByLevel = "action-undone-by-level";
inline constexpr std::string_view kPromotionalPhi = "promotional-phi";

struct Finding {
  std::string file;
  uint32_t line = 0;    // 1-based; 0 when the finding has no position in the file.
  uint32_t column = 0;  // 1-based; 0 with line 0.
  Severity severity = Severity::kError;
  std::string check;    // One of the check ids above.
  std::string message;  // Names catalog ids, never event data.

  // "file:line:column: error: message [check]" (without ":line:column" when line is 0).
  std::string ToText() const;
};

struct Options {
  // The token keys `run --keys` would use; nullptr when none were given. Then each tokenizing
  // sink is a warning (the key could not be checked) rather than an error.
  const transform::KeyStore* keys = nullptr;
  std::string keys_path;  // Named in messages.
  // Validates sink output options as `run` does (sink::ValidateOutput); may be null.
  catalog::OutputValidator validate_output = nullptr;
};

struct Report {
  std::string file;
  bool loaded = false;         // False: only the loader's errors were checked.
  std::string policy_version;  // Empty unless loaded.
  std::vector<Finding> findings;  // Ordered by position (line, then column), stable.

  int errors() const;
  int warnings() const;
  // "FILE: N errors, M warnings" and, when loaded, the policy version; when not loaded, a note
  // that the checks needing a loadable catalog did not run.
  std::string Summary() const;
  // One JSON object: {"file","loaded","policy_version","errors","warnings","findings":[{"file",
  // "line","column","severity","check","message"}]} (docs/governance-tools.md).
  std::string ToJson() const;
};

// Lints the catalog file at `path`. Errors: NotFound when the file cannot be read; every
// problem with its content is a finding.
absl::StatusOr<Report> LintFile(const std::string& path, const Options& options);
// As LintFile, for catalog text that claims to be `path`.
Report LintString(std::string_view yaml, const std::string& path, const Options& options);

// The checks that need a compiled catalog (the loader's warnings included), unsorted.
std::vector<Finding> CheckCatalog(const catalog::Catalog& catalog, const Options& options);

// Turns one of the loader's `file:line:column: message` lines (an error, or a warning, which
// lint promotes to an error) into an error finding with its check id.
Finding FromLoaderMessage(const std::string& path, std::string_view text);

}  // namespace loopgate::lint
