#include "merkle/check_proof.h"

#include <initializer_list>

#include "common/status.h"
#include "common/strings.h"
#include "json/json.h"
#include "merkle/proof_file.h"
#include "merkle/verifier.h"

namespace loopgate::merkle {
namespace {

using common::StrCat;
using simdjson::dom::element;
using simdjson::dom::object;

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("not a loopgate.proof/v1 proof: ", what));
}

// Checks that `o` has exactly the members `names`.
absl::Status ExactMembers(object o, std::initializer_list<std::string_view> names,
                          std::string_view where) {
  size_t found = 0;
  for (auto field : o) {
    bool known = false;
    for (std::string_view n : names) known = known || field.key == n;
    if (!known) {
      return Malformed(StrCat(where, " has an unknown member \"", field.key, "\""));
    }
    ++found;
  }
  if (found != names.size()) {
    for (std::string_view n : names) {
      if (o[n].error() != simdjson::SUCCESS) {
        return Malformed(StrCat(where, " has no member \"", n, "\""));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string_view> String(object o, std::string_view name, std::string_view where) {
  std::string_view v;
  if (o[name].get_string().get(v) != simdjson::SUCCESS) {
    return Malformed(StrCat(where, " member \"", name, "\" must be a string"));
  }
  return v;
}

absl::StatusOr<uint64_t> Unsigned(object o, std::string_view name, std::string_view where) {
  uint64_t v = 0;
  if (o[name].get_uint64().get(v) != simdjson::SUCCESS) {
    return Malformed(StrCat(where, " member \"", name, "\" must be a non-negative integer"));
  }
  return v;
}

absl::StatusOr<Hash> HexHash(object o, std::string_view name, std::string_view where) {
  ASSIGN_OR_RETURN(std::string_view hex, String(o, name, where));
  const auto h = HashFromHex(hex);
  if (!h) return Malformed(StrCat(where, " member \"", name, "\" must be 64 lowercase hex digits"));
  return *h;
}

absl::StatusOr<std::vector<Hash>> HashList(object o, std::string_view name,
                                           std::string_view where) {
  simdjson::dom::array arr;
  if (o[name].get_array().get(arr) != simdjson::SUCCESS) {
    return Malformed(StrCat(where, " member \"", name, "\" must be an array"));
  }
  std::vector<Hash> out;
  size_t i = 0;
  for (element e : arr) {
    std::string_view hex;
    std::optional<Hash> h;
    if (e.get_string().get(hex) == simdjson::SUCCESS) h = HashFromHex(hex);
    if (!h) {
      return Malformed(StrCat(where, " proof hash ", i,
                              " (counting from 0) is not 64 lowercase "
                              "hex digits"));
    }
    out.push_back(*h);
    ++i;
  }
  return out;
}

// The entry's own claims: which event, which position. (Its format is leaf_hash's to check.)
absl::Status CheckEntryText(std::string_view text, std::string_view event_id, uint64_t index,
                            std::string_view where) {
  json::StrictParser parser;
  std::string canonical;
  auto parsed = parser.ParseCopy(text, &canonical);
  object entry;
  if (!parsed.ok() || parsed->get_object().get(entry) != simdjson::SUCCESS) {
    return Malformed(StrCat(where, ": the entry is not a JSON object"));
  }
  std::string_view id;
  if (entry["event_id"].get_string().get(id) != simdjson::SUCCESS || id != event_id) {
    return absl::DataLossError(
        StrCat(where, ": the entry belongs to ",
               entry["event_id"].is_string() ? StrCat("event '", id, "'") : std::string("no event"),
               ", not to event '", event_id, "' (a proof for a different event)"));
  }
  uint64_t seq = 0;
  if (entry["seq"].get_uint64().get(seq) != simdjson::SUCCESS || seq != index + 1) {
    return absl::DataLossError(StrCat(where, ": the entry's seq is not ", index + 1,
                                      " (leaf index i holds the entry with seq i + 1)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProofReport> CheckInclusion(object root, const crypto::Ed25519PublicKey& key,
                                           const EntryLeafHash& leaf_hash) {
  RETURN_IF_ERROR(
      ExactMembers(root, {"checkpoint", "entries", "event_id", "format", "kind"}, "the proof"));
  ASSIGN_OR_RETURN(std::string_view cp_text, String(root, "checkpoint", "the proof"));
  ASSIGN_OR_RETURN(std::string_view event_id, String(root, "event_id", "the proof"));
  ASSIGN_OR_RETURN(SignedCheckpoint cp, VerifySignedCheckpoint(cp_text, key));
  ProofReport report;
  report.kind = ProofKind::kInclusion;
  report.checkpoint = cp.checkpoint;
  report.event_id = std::string(event_id);

  simdjson::dom::array entries;
  if (root["entries"].get_array().get(entries) != simdjson::SUCCESS || entries.size() == 0) {
    return Malformed("\"entries\" must be a non-empty array");
  }
  size_t n = 0;
  for (element e : entries) {
    ++n;
    std::string where = StrCat("entry ", n, " of ", entries.size());
    object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) {
      return Malformed(StrCat(where, " is not an object"));
    }
    RETURN_IF_ERROR(ExactMembers(o, {"entry", "index", "proof"}, where));
    ASSIGN_OR_RETURN(uint64_t index, Unsigned(o, "index", where));
    where = StrCat(where, " (leaf index ", index, ")");
    ASSIGN_OR_RETURN(std::string_view text, String(o, "entry", where));
    ASSIGN_OR_RETURN(std::vector<Hash> proof, HashList(o, "proof", where));
    if (!report.indexes.empty() && index <= report.indexes.back()) {
      return Malformed(StrCat(where, ": entries must be in increasing index order, each once"));
    }
    if (index >= cp.checkpoint.tree_size) {
      return absl::DataLossError(StrCat(where,
                                        " is not in the tree the checkpoint signs, which has ",
                                        cp.checkpoint.tree_size, " entries"));
    }
    RETURN_IF_ERROR(CheckEntryText(text, event_id, index, where));
    const absl::StatusOr<Hash> leaf = leaf_hash(text);
    if (!leaf.ok()) {
      return absl::DataLossError(StrCat(where, ": ", std::string(leaf.status().message())));
    }
    const absl::Status s =
        VerifyInclusion(*leaf, index, cp.checkpoint.tree_size, proof, cp.checkpoint.root);
    if (!s.ok()) {
      return absl::Status(s.code(), StrCat(where,
                                           " is not proven to be in the tree the "
                                           "checkpoint signs (the entry or its proof was "
                                           "altered): ",
                                           std::string(s.message())));
    }
    report.indexes.push_back(index);
  }
  return report;
}

absl::StatusOr<ProofReport> CheckConsistency(object root, const crypto::Ed25519PublicKey& key) {
  RETURN_IF_ERROR(ExactMembers(root,
                               {"checkpoint", "format", "kind", "new_root", "new_size",
                                "old_checkpoint", "old_root", "old_size", "proof"},
                               "the proof"));
  ASSIGN_OR_RETURN(std::string_view cp_text, String(root, "checkpoint", "the proof"));
  ASSIGN_OR_RETURN(uint64_t new_size, Unsigned(root, "new_size", "the proof"));
  ASSIGN_OR_RETURN(uint64_t old_size, Unsigned(root, "old_size", "the proof"));
  ASSIGN_OR_RETURN(Hash new_root, HexHash(root, "new_root", "the proof"));
  ASSIGN_OR_RETURN(Hash old_root, HexHash(root, "old_root", "the proof"));
  ASSIGN_OR_RETURN(std::vector<Hash> proof, HashList(root, "proof", "the proof"));
  ASSIGN_OR_RETURN(SignedCheckpoint cp, VerifySignedCheckpoint(cp_text, key));
  if (cp.checkpoint.tree_size != new_size || cp.checkpoint.root != new_root) {
    return absl::DataLossError(StrCat("the checkpoint signs a tree of ", cp.checkpoint.tree_size,
                                      " entries with root ", HashHex(cp.checkpoint.root),
                                      ", not the new tree of the proof (", new_size,
                                      " entries, root ", HashHex(new_root), ")"));
  }
  ProofReport report;
  report.kind = ProofKind::kConsistency;
  report.checkpoint = cp.checkpoint;
  report.old_size = old_size;
  report.old_root = old_root;
  if (!root["old_checkpoint"].is_null()) {
    ASSIGN_OR_RETURN(std::string_view old_text, String(root, "old_checkpoint", "the proof"));
    auto old = VerifySignedCheckpoint(old_text, key);
    if (!old.ok()) {
      return absl::Status(old.status().code(),
                          StrCat("old checkpoint: ", std::string(old.status().message())));
    }
    if (old->checkpoint.tree_size != old_size || old->checkpoint.root != old_root) {
      return absl::DataLossError(StrCat(
          "the old checkpoint signs a tree of ", old->checkpoint.tree_size, " entries with root ",
          HashHex(old->checkpoint.root), ", not the old tree of the proof (", old_size,
          " entries, root ", HashHex(old_root), ")"));
    }
    report.has_old_checkpoint = true;
  }
  RETURN_IF_ERROR(VerifyConsistency(old_size, new_size, old_root, new_root, proof));
  return report;
}

}  // namespace

absl::StatusOr<ProofReport> CheckProof(std::string_view file_text,
                                       const crypto::Ed25519PublicKey& public_key,
                                       const EntryLeafHash& leaf_hash) {
  json::StrictParser parser;
  std::string canonical;
  auto parsed = parser.ParseCopy(file_text, &canonical);
  if (!parsed.ok()) {
    return Malformed("the file is not valid JSON (or it has a member twice)");
  }
  object root;
  if (parsed->get_object().get(root) != simdjson::SUCCESS) {
    return Malformed("the file is not a JSON object");
  }
  std::string_view format, kind;
  if (root["format"].get_string().get(format) != simdjson::SUCCESS || format != kProofFormat) {
    return Malformed("\"format\" must be \"loopgate.proof/v1\"");
  }
  if (root["kind"].get_string().get(kind) != simdjson::SUCCESS) {
    return Malformed("\"kind\" must be \"inclusion\" or \"consistency\"");
  }
  if (kind == "inclusion") return CheckInclusion(root, public_key, leaf_hash);
  if (kind == "consistency") return CheckConsistency(root, public_key);
  return Malformed("\"kind\" must be \"inclusion\" or \"consistency\"");
}

}  // namespace loopgate::merkle
