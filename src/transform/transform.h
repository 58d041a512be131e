#pragma once
// Minimization for an allowed sink (routing.md section 4): per-class actions, then the level
// cap that no configuration can lift. Also the key store that tokenization draws on.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "crypto/crypto.h"
#include "event/event.h"

namespace loopgate::transform {

// Token keys by domain, loaded from a keys file (formats.md "Token keys"). Secrets live only in
// the HMAC states inside; nothing here can print them.
class KeyStore {
 public:
  // Errors: NotFound for a missing file; InvalidArgument naming the domain for a bad entry
  // (never the secret).
  static absl::StatusOr<KeyStore> LoadFile(const std::string& path);
  static absl::StatusOr<KeyStore> LoadString(std::string_view json, const std::string& path);

  struct Key {
    std::string key_id;
    std::unique_ptr<crypto::HmacSha256> hmac;
  };
  // nullptr when the domain has no key.
  const Key* Find(std::string_view domain) const;
  bool empty() const { return keys_.empty(); }

  // Pairs of token domains whose secrets are the same bytes, in name order. Their tokens can be
  // joined, which separate domains exist to prevent (routing.md section 4): `run` warns and
  // `lint` reports it for the domains a catalog tokenizes under.
  const std::vector<std::pair<std::string, std::string>>& domains_sharing_a_secret() const {
    return shared_;
  }

 private:
  std::map<std::string, Key, std::less<>> keys_;
  std::vector<std::pair<std::string, std::string>> shared_;
};

// The pairs of keys.domains_sharing_a_secret() that sinks of `catalog` both tokenize under:
// those sinks' tokens can be joined although their domains differ.
std::vector<std::pair<std::string, std::string>> JoinableTokenDomains(
    const catalog::Catalog& catalog, const KeyStore& keys);

// "tok_" + the first 32 hex digits of HMAC-SHA256(key, value bytes).
std::string Token(const crypto::HmacSha256& key, std::string_view bytes);

// Generalizes a value's text: a date or date-time to its year, a US ZIP (5 digits, or ZIP+4)
// to its first three digits or "000" for the Safe Harbor restricted ZIP3s. False when the
// value is neither (the field is then dropped).
bool Generalize(std::string_view text, std::string* out);

// Replaces all but the last four code points with '*'.
std::string Mask(std::string_view text);

// The action a sink takes on fields of a class: the one its `actions` configure, or, when none is
// configured, keep if the class's level is at most the sink's max_level and drop otherwise.
struct ClassAction {
  catalog::Action action = catalog::Action::kDrop;
  bool configured = false;  // False: chosen by level.
};
ClassAction ActionFor(const catalog::Catalog& catalog, const catalog::Sink& sink,
                      uint32_t class_index);

// A value's level after `action`: pseudonymous after tokenize or generalize, otherwise the
// class's level. A value above the sink's max_level is then dropped (the cap).
catalog::Level LevelAfter(catalog::Action action, catalog::Level class_level);

// The form in which a sink receives a field.
enum class Form : uint8_t {
  kKept,     // The value as sent (in RFC 8785 form).
  kToken,    // "tok_" + 32 hex digits under the sink's token domain.
  kYear,     // A date or date-time cut to its year.
  kZip3,     // A US ZIP cut to its first three digits ("000" for Safe Harbor's restricted ones).
  kMasked,   // All but the last four characters replaced by '*'.
  kDropped,  // Not delivered.
};
std::string_view FormName(Form form);  // kept, token, year, zip3, masked, dropped

// Why a field is dropped; the names are the ledger notes Apply writes (docs/ledger-format.md).
enum class DropCause : uint8_t {
  kNone,              // Not dropped.
  kAction,            // The sink's actions say drop ("drop").
  kLevel,             // Above the sink's max_level, by default or after the action ("drop:level").
  kNotGeneralizable,  // generalize of a value that is neither a date nor a US ZIP.
};
std::string_view DropCauseName(DropCause cause);  // "", drop, drop:level, drop:not_generalizable

// What a sink delivers for a field, from the catalog alone: the steps Apply takes, with the
// value left open. Only generalize depends on the value, and only for string and enum fields.
struct FieldPlan {
  ClassAction action;
  Form form = Form::kDropped;
  DropCause drop = DropCause::kNone;  // With kDropped.
  catalog::Level level = catalog::Level::kPhi;  // The delivered value's level, unless dropped.
  // generalize of a string or enum field: `form` is what a US ZIP becomes (or a date, for an
  // enum with no ZIP among its values); a date-shaped value becomes its year and any other value
  // is dropped (drop:not_generalizable).
  bool by_value = false;
};
FieldPlan PlanField(const catalog::Catalog& catalog, const catalog::Sink& sink,
                    const catalog::Field& field);
// The line a sink receives (formats.md "Sink delivery"): {"id","type","source","time","data"}
// with `data` the transformed payload that Transformer::Apply wrote, replacing `out`. The
// ledger's `delivered` digest is the SHA-256 of this line.
void DeliveryLine(const event::Event& event, std::string_view data, std::string* out);

// Prepares each sink's per-class plan once, then transforms events for it. Not thread-safe.
class Transformer {
 public:
  // Errors: FailedPrecondition when a sink tokenizes under a domain `keys` lacks.
  static absl::StatusOr<std::unique_ptr<Transformer>> Create(const catalog::Catalog& catalog,
                                                             const KeyStore& keys);

  // Writes the sink's view of `event` as a canonical JSON object into `data` and appends one
  // "field=action" note per field that was not kept as is to `applied` (docs/ledger-format.md).
  void Apply(const event::Event& event, uint32_t sink_index, std::string* data,
             std::vector<std::string>* applied);

 private:
  Transformer(const catalog::Catalog& catalog) : catalog_(catalog) {}

  const catalog::Catalog& catalog_;
  // Per sink: the key for its token domain (or nullptr).
  std::vector<const KeyStore::Key*> sink_keys_;
  std::vector<const event::FieldValue*> order_;
  std::string scratch_;
  std::string general_;
};

}  // namespace loopgate::transform
