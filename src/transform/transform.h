#pragma once
// Minimization for an allowed sink (routing.md section 4): per-class actions, then the level
// cap that no configuration can lift. Also the key store that tokenization draws on.

#include <map>
#include <memory>
#include <string>
#include <string_view>
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

 private:
  std::map<std::string, Key, std::less<>> keys_;
};

// "tok_" + the first 32 hex digits of HMAC-SHA256(key, value bytes).
std::string Token(const crypto::HmacSha256& key, std::string_view bytes);

// Generalizes a value's text: a date or date-time to its year, a US ZIP (5 digits, or ZIP+4)
// to its first three digits or "000" for the Safe Harbor restricted ZIP3s. False when the
// value is neither (the field is then dropped).
bool Generalize(std::string_view text, std::string* out);

// Replaces all but the last four code points with '*'.
std::string Mask(std::string_view text);

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
};

}  // namespace loopgate::transform
