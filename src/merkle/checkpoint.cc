#include "merkle/checkpoint.h"

#include <charconv>
#include <vector>

#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"

namespace loopgate::merkle {
namespace {

using common::StrCat;

constexpr std::string_view kSignaturePrefix = "signature ";

bool IsPolicyVersion(std::string_view v) {
  if (v.empty() || v.size() > 128) return false;
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsKeyId(std::string_view v) {
  return v.size() == 7 + 64 && v.substr(0, 7) == "sha256:" && HashFromHex(v.substr(7));
}

absl::Status BadLine(int line, std::string_view what) {
  return absl::InvalidArgumentError(
      StrCat("not a loopgate.checkpoint/v1 checkpoint: line ", line, " ", what));
}

// The value of line `line` (1-based), which must read "<name> <value>".
absl::StatusOr<std::string_view> Value(const std::vector<std::string_view>& lines, int line,
                                       std::string_view name) {
  const std::string_view l = lines[line - 1];
  if (l.size() <= name.size() + 1 || l.substr(0, name.size()) != name || l[name.size()] != ' ') {
    return BadLine(line, StrCat("must be \"", name, " <value>\""));
  }
  return l.substr(name.size() + 1);
}

absl::StatusOr<Checkpoint> ParseBody(std::string_view body) {
  std::vector<std::string_view> lines;
  size_t at = 0;
  while (at < body.size()) {
    const size_t nl = body.find('\n', at);
    if (nl == std::string_view::npos) {
      return BadLine(static_cast<int>(lines.size()) + 1, "does not end with a line feed");
    }
    lines.push_back(body.substr(at, nl - at));
    at = nl + 1;
  }
  if (lines.size() != 6) {
    return absl::InvalidArgumentError(StrCat(
        "not a loopgate.checkpoint/v1 checkpoint: the body has ", lines.size(), " lines, not 6"));
  }
  if (lines[0] != kCheckpointFormat) {
    return BadLine(1, "must be \"loopgate.checkpoint/v1\"");
  }
  Checkpoint c;
  ASSIGN_OR_RETURN(std::string_view size, Value(lines, 2, "tree_size"));
  const auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), c.tree_size);
  if (ec != std::errc() || end != size.data() + size.size() ||
      (size.size() > 1 && size[0] == '0')) {
    return BadLine(2, "must hold the tree size in decimal");
  }
  ASSIGN_OR_RETURN(std::string_view root, Value(lines, 3, "root_hash"));
  const auto h = HashFromHex(root);
  if (!h) return BadLine(3, "must hold the root hash as 64 lowercase hex digits");
  c.root = *h;
  ASSIGN_OR_RETURN(std::string_view time, Value(lines, 4, "time"));
  const auto t = common::ParseRfc3339(time);
  if (!t || common::FormatRfc3339(*t) != time) {
    return BadLine(4, "must hold the time in RFC 3339 UTC, as YYYY-MM-DDTHH:MM:SSZ");
  }
  c.time = *t;
  ASSIGN_OR_RETURN(std::string_view policy, Value(lines, 5, "policy_version"));
  if (!IsPolicyVersion(policy)) {
    return BadLine(5, "must hold the policy version (1-128 characters of A-Z a-z 0-9 _ . : -)");
  }
  c.policy_version = std::string(policy);
  ASSIGN_OR_RETURN(std::string_view key_id, Value(lines, 6, "key_id"));
  if (!IsKeyId(key_id)) {
    return BadLine(6, "must hold the key id as sha256:<64 lowercase hex digits>");
  }
  c.key_id = std::string(key_id);
  return c;
}

}  // namespace

std::string SignedCheckpoint::Text() const {
  return StrCat(body, "\n", kSignaturePrefix, common::Base64Encode(signature), "\n");
}

absl::StatusOr<std::string> CheckpointBody(const Checkpoint& c) {
  if (!IsPolicyVersion(c.policy_version)) {
    return absl::InvalidArgumentError(
        "a checkpoint's policy version must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  }
  if (!IsKeyId(c.key_id)) {
    return absl::InvalidArgumentError("a checkpoint's key id must be sha256:<64 hex digits>");
  }
  return StrCat(kCheckpointFormat, "\n",                       //
                "tree_size ", c.tree_size, "\n",               //
                "root_hash ", HashHex(c.root), "\n",           //
                "time ", common::FormatRfc3339(c.time), "\n",  //
                "policy_version ", c.policy_version, "\n",     //
                "key_id ", c.key_id, "\n");
}

absl::StatusOr<SignedCheckpoint> SignCheckpoint(Checkpoint c,
                                                const crypto::Ed25519PrivateKey& key) {
  c.key_id = key.public_key().KeyId();
  SignedCheckpoint out;
  ASSIGN_OR_RETURN(out.body, CheckpointBody(c));
  ASSIGN_OR_RETURN(out.signature, key.Sign(out.body));
  out.checkpoint = std::move(c);
  return out;
}

absl::StatusOr<SignedCheckpoint> ParseSignedCheckpoint(std::string_view text) {
  const size_t split = text.find("\n\n");
  if (split == std::string_view::npos) {
    return absl::InvalidArgumentError(
        "not a signed loopgate.checkpoint/v1 checkpoint: no empty line before the signature");
  }
  SignedCheckpoint out;
  out.body = std::string(text.substr(0, split + 1));
  ASSIGN_OR_RETURN(out.checkpoint, ParseBody(out.body));
  const std::string_view sig_line = text.substr(split + 2);
  if (sig_line.size() < kSignaturePrefix.size() + 1 ||
      sig_line.substr(0, kSignaturePrefix.size()) != kSignaturePrefix || sig_line.back() != '\n') {
    return absl::InvalidArgumentError(
        "not a signed loopgate.checkpoint/v1 checkpoint: the last line must be "
        "\"signature <base64>\" followed by a line feed");
  }
  const auto sig = common::Base64Decode(
      sig_line.substr(kSignaturePrefix.size(), sig_line.size() - kSignaturePrefix.size() - 1));
  if (!sig || sig->size() != crypto::kEd25519SignatureSize) {
    return absl::InvalidArgumentError(
        "not a signed loopgate.checkpoint/v1 checkpoint: the signature must be 64 bytes in "
        "base64");
  }
  out.signature = *sig;
  return out;
}

absl::StatusOr<SignedCheckpoint> VerifySignedCheckpoint(std::string_view text,
                                                        const crypto::Ed25519PublicKey& key) {
  ASSIGN_OR_RETURN(SignedCheckpoint signed_cp, ParseSignedCheckpoint(text));
  const std::string want = key.KeyId();
  if (signed_cp.checkpoint.key_id != want) {
    return absl::DataLossError(StrCat("the checkpoint names signing key ",
                                      signed_cp.checkpoint.key_id, ", not the public key given (",
                                      want, ")"));
  }
  if (!key.Verify(signed_cp.body, signed_cp.signature).ok()) {
    return absl::DataLossError(
        StrCat("the checkpoint's signature does not verify with the public key given (", want,
               "): the checkpoint was altered after it was signed, or forged"));
  }
  return signed_cp;
}

}  // namespace loopgate::merkle
