#include "ledger/entry_hash_testonly.h"

#include <cstdint>
#include <initializer_list>

#include "common/text.h"
#include "crypto/crypto.h"
#include "json/json.h"

namespace loopgate::ledger::testonly {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// The canonical JSON array of the named members of `o`, in that order: each member is written
// out by simdjson and the array put in RFC 8785 form by the JSON module.
bool CanonicalArray(object o, std::initializer_list<std::string_view> names, std::string* out) {
  std::string text = "[";
  for (std::string_view name : names) {
    element e;
    if (o[name].get(e) != simdjson::SUCCESS) return false;
    if (text.size() > 1) text.push_back(',');
    text += simdjson::minify(e);
  }
  text.push_back(']');
  json::StrictParser parser;
  return parser.ParseCopy(text, out).ok();
}

std::string Raw(const crypto::Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

std::string DocumentedEntryHash(std::string_view entry) {
  simdjson::dom::parser parser;
  const std::string padded(entry);
  object o;
  int64_t v = 0;
  if (parser.parse(padded).get_object().get(o) != simdjson::SUCCESS ||
      o["v"].get_int64().get(v) != simdjson::SUCCESS) {
    return "";
  }
  if (v == 2) return Raw(crypto::Sha256(std::string(1, '\0') + padded));
  if (v != 3) return "";
  std::string_view policy, prev_hex, decision;
  uint64_t seq = 0;
  if (o["policy_version"].get_string().get(policy) != simdjson::SUCCESS ||
      o["prev_hash"].get_string().get(prev_hex) != simdjson::SUCCESS ||
      o["decision"].get_string().get(decision) != simdjson::SUCCESS ||
      o["seq"].get_uint64().get(seq) != simdjson::SUCCESS) {
    return "";
  }
  const std::optional<std::string> prev = common::HexDecode(prev_hex);
  std::string facts, tuple, release;
  if (!prev || prev->size() != 32 ||
      !CanonicalArray(o, {"event_id", "type", "source", "time", "line", "run", "consent_scope"},
                      &facts) ||
      !CanonicalArray(o, {"sink", "decision", "reason", "detail", "consent_ids",
                          "consent_versions", "transforms", "delivered"},
                      &tuple)) {
    return "";
  }
  if (decision == "release") {
    object r;
    if (o["release"].get_object().get(r) != simdjson::SUCCESS ||
        !CanonicalArray(r, {"actor", "study", "study_sha256", "mode", "epsilon_nano", "k",
                            "cells_released", "cells_suppressed_primary",
                            "cells_suppressed_complementary", "rows_read", "policy_versions"},
                        &release)) {
      return "";
    }
    tuple.insert(tuple.size() - 1, "," + release);
  }
  const crypto::Digest event = crypto::Sha256(std::string("loopgate.ledger-event/v3", 24) +
                                              std::string(1, '\0') + std::string(policy) +
                                              std::string(1, '\0') + facts);
  std::string leaf(1, '\0');
  leaf += Raw(event);
  leaf += *prev;
  for (int i = 7; i >= 0; --i) leaf.push_back(static_cast<char>((seq >> (8 * i)) & 0xFF));
  leaf += tuple;
  return Raw(crypto::Sha256(leaf));
}

std::string DocumentedEntryHashHex(std::string_view entry) {
  const std::string raw = DocumentedEntryHash(entry);
  return raw.empty() ? "" : common::HexEncode(raw);
}

}  // namespace loopgate::ledger::testonly
