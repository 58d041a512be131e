#pragma once
// Ed25519 signatures (RFC 8032) on OpenSSL's EVP interface, for signing ledger checkpoints.
//
// Key files are PEM, exactly as OpenSSL reads and writes them, so `openssl pkey` and `openssl
// pkeyutl` work on them (docs/ledger-format.md, "Keys"):
//   - private key: unencrypted PKCS #8 (RFC 5958, RFC 8410), "-----BEGIN PRIVATE KEY-----";
//   - public key: SubjectPublicKeyInfo (RFC 8410), "-----BEGIN PUBLIC KEY-----". Its DER is 44
//     bytes: the fixed prefix 30 2a 30 05 06 03 2b 65 70 03 21 00, then the 32-byte key.
// The key id is "sha256:" + the lowercase hex SHA-256 of the 32-byte raw public key.
//
// Private key material stays inside Ed25519PrivateKey (OpenSSL's EVP_PKEY): no accessor returns
// it and it is only ever written to a new file of mode 0600.
//
// Status codes: InvalidArgument for malformed input (not PEM, not an Ed25519 key, a signature
// that is not 64 bytes); DataLoss for a well-formed signature that does not verify; NotFound for
// a missing file; AlreadyExists when a key file would be overwritten; FailedPrecondition for a
// private key file that others may read; Internal when OpenSSL fails.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace loopgate::crypto {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

// An Ed25519 public key. Immutable; thread-safe.
class Ed25519PublicKey {
 public:
  // Parses a PEM SubjectPublicKeyInfo holding an Ed25519 key.
  static absl::StatusOr<Ed25519PublicKey> FromPem(std::string_view pem);
  // From the 32 raw key bytes (RFC 8032 section 5.1.5).
  static absl::StatusOr<Ed25519PublicKey> FromRaw(std::string_view raw);
  // Reads FromPem's format from a file. Errors name the path.
  static absl::StatusOr<Ed25519PublicKey> LoadPemFile(const std::string& path);

  Ed25519PublicKey(const Ed25519PublicKey&) = default;
  Ed25519PublicKey& operator=(const Ed25519PublicKey&) = default;
  Ed25519PublicKey(Ed25519PublicKey&&) = default;
  Ed25519PublicKey& operator=(Ed25519PublicKey&&) = default;
  ~Ed25519PublicKey();

  // The PEM text (ends with a newline).
  std::string ToPem() const;
  // The 32 raw key bytes.
  const std::string& raw() const { return raw_; }
  // "sha256:" + lowercase hex SHA-256 of raw().
  std::string KeyId() const;

  // OK when `signature` is a valid Ed25519 signature of `message` by this key.
  absl::Status Verify(std::string_view message, std::string_view signature) const;

 private:
  Ed25519PublicKey() = default;
  std::shared_ptr<EVP_PKEY> key_;  // Shared between copies; OpenSSL keys are refcounted anyway.
  std::string raw_;
};

// An Ed25519 private key. Not copyable. Sign() is thread-safe.
class Ed25519PrivateKey {
 public:
  // A fresh key from OpenSSL's CSPRNG.
  static absl::StatusOr<std::unique_ptr<Ed25519PrivateKey>> Generate();
  // Reads a PEM PKCS #8 Ed25519 private key file. Refuses (FailedPrecondition) a file that its
  // group or others may read or write, and an encrypted key (no passphrase is ever asked for).
  static absl::StatusOr<std::unique_ptr<Ed25519PrivateKey>> LoadPemFile(const std::string& path);

  Ed25519PrivateKey(const Ed25519PrivateKey&) = delete;
  Ed25519PrivateKey& operator=(const Ed25519PrivateKey&) = delete;
  ~Ed25519PrivateKey();

  // Writes the key as PEM to `path`, which must not exist (AlreadyExists otherwise; nothing is
  // written then). The file is created with mode 0600 and synced before this returns.
  absl::Status WriteNewPemFile(const std::string& path) const;

  const Ed25519PublicKey& public_key() const { return public_key_; }

  // The 64-byte signature of `message` (RFC 8032 Ed25519, pure, no context).
  absl::StatusOr<std::string> Sign(std::string_view message) const;

 private:
  Ed25519PrivateKey(EVP_PKEY* key, Ed25519PublicKey public_key);
  EVP_PKEY* key_;
  Ed25519PublicKey public_key_;
};

}  // namespace loopgate::crypto
