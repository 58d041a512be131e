#include "crypto/ed25519.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/strings.h"
#include "crypto/crypto.h"

namespace loopgate::crypto {
namespace {

using common::StrCat;

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free_all(b); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Never prompt for a passphrase: an encrypted key simply fails to load.
int NoPassphrase(char*, int, int, void*) { return 0; }

// OpenSSL keeps a per-thread error queue; drain it so one failure does not linger into the
// next call's diagnostics.
void ClearOpenSslErrors() { ERR_clear_error(); }

std::shared_ptr<EVP_PKEY> SharePkey(EVP_PKEY* k) {
  return std::shared_ptr<EVP_PKEY>(k, [](EVP_PKEY* p) { EVP_PKEY_free(p); });
}

absl::StatusOr<std::string> RawPublicKey(EVP_PKEY* key) {
  std::string raw(kEd25519PublicKeySize, '\0');
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != kEd25519PublicKeySize) {
    ClearOpenSslErrors();
    return absl::InternalError("OpenSSL could not export the Ed25519 public key");
  }
  return raw;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, std::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) {
      return absl::NotFoundError(StrCat(what, " ", path, " does not exist"));
    }
    return absl::InvalidArgumentError(
        StrCat("cannot read ", what, " ", path, ": ", std::strerror(errno)));
  }
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    text.append(buf, n);
    if (text.size() > (1u << 16)) {
      std::fclose(f);
      return absl::InvalidArgumentError(StrCat(what, " ", path, " is too large to be a key"));
    }
  }
  std::fclose(f);
  return text;
}

}  // namespace

Ed25519PublicKey::~Ed25519PublicKey() = default;

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromPem(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) {
    return absl::InternalError("OpenSSL could not allocate a buffer");
  }
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, &NoPassphrase, nullptr);
  if (key == nullptr) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        "not a PEM public key (expected \"-----BEGIN PUBLIC KEY-----\")");
  }
  Ed25519PublicKey out;
  out.key_ = SharePkey(key);
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError("the public key is not an Ed25519 key");
  }
  auto raw = RawPublicKey(key);
  if (!raw.ok()) return raw.status();
  out.raw_ = std::move(*raw);
  return out;
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromRaw(std::string_view raw) {
  if (raw.size() != kEd25519PublicKeySize) {
    return absl::InvalidArgumentError(
        StrCat("an Ed25519 public key is 32 bytes, not ", raw.size()));
  }
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (key == nullptr) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError("not a valid Ed25519 public key");
  }
  Ed25519PublicKey out;
  out.key_ = SharePkey(key);
  out.raw_ = std::string(raw);
  return out;
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::LoadPemFile(const std::string& path) {
  auto text = ReadSmallFile(path, "public key file");
  if (!text.ok()) return text.status();
  auto key = FromPem(*text);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        StrCat(path, ": ", std::string(key.status().message())));
  }
  return key;
}

std::string Ed25519PublicKey::ToPem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  std::string out;
  if (bio != nullptr && PEM_write_bio_PUBKEY(bio.get(), key_.get()) == 1) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    out.assign(data, static_cast<size_t>(len));
  }
  ClearOpenSslErrors();
  return out;
}

std::string Ed25519PublicKey::KeyId() const { return StrCat("sha256:", ToHex(Sha256(raw_))); }

absl::Status Ed25519PublicKey::Verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != kEd25519SignatureSize) {
    return absl::InvalidArgumentError(
        StrCat("an Ed25519 signature is 64 bytes, not ", signature.size()));
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
    ClearOpenSslErrors();
    return absl::InternalError("OpenSSL could not set up Ed25519 verification");
  }
  const int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ClearOpenSslErrors();
  if (ok != 1) {
    return absl::DataLossError("the Ed25519 signature does not verify with this public key");
  }
  return absl::OkStatus();
}

Ed25519PrivateKey::Ed25519PrivateKey(EVP_PKEY* key, Ed25519PublicKey public_key)
    : key_(key), public_key_(std::move(public_key)) {}

Ed25519PrivateKey::~Ed25519PrivateKey() { EVP_PKEY_free(key_); }  // Cleanses the key.

absl::StatusOr<std::unique_ptr<Ed25519PrivateKey>> Ed25519PrivateKey::Generate() {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* key = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &key) != 1) {
    ClearOpenSslErrors();
    return absl::InternalError("OpenSSL could not generate an Ed25519 key");
  }
  auto raw = RawPublicKey(key);
  if (!raw.ok()) {
    EVP_PKEY_free(key);
    return raw.status();
  }
  auto pub = Ed25519PublicKey::FromRaw(*raw);
  if (!pub.ok()) {
    EVP_PKEY_free(key);
    return pub.status();
  }
  return std::unique_ptr<Ed25519PrivateKey>(new Ed25519PrivateKey(key, std::move(*pub)));
}

absl::StatusOr<std::unique_ptr<Ed25519PrivateKey>> Ed25519PrivateKey::LoadPemFile(
    const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(StrCat("private key file ", path, " does not exist"));
    }
    return absl::InvalidArgumentError(
        StrCat("cannot read private key file ", path, ": ", std::strerror(errno)));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return absl::FailedPreconditionError(
        StrCat("private key file ", path, " has mode ", mode,
               ": others may read it; make it private (chmod 600) or create a new key"));
  }
  Bio bio(BIO_new_file(path.c_str(), "rb"));
  if (bio == nullptr) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(StrCat("cannot read private key file ", path));
  }
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr);
  ClearOpenSslErrors();
  if (key == nullptr) {
    return absl::InvalidArgumentError(StrCat(
        path, ": not an unencrypted PEM private key (expected \"-----BEGIN PRIVATE KEY-----\")"));
  }
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError(StrCat(path, ": the private key is not an Ed25519 key"));
  }
  auto raw = RawPublicKey(key);
  absl::StatusOr<Ed25519PublicKey> pub =
      raw.ok() ? Ed25519PublicKey::FromRaw(*raw) : absl::StatusOr<Ed25519PublicKey>(raw.status());
  if (!pub.ok()) {
    EVP_PKEY_free(key);
    return pub.status();
  }
  return std::unique_ptr<Ed25519PrivateKey>(new Ed25519PrivateKey(key, std::move(*pub)));
}

absl::Status Ed25519PrivateKey::WriteNewPemFile(const std::string& path) const {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(StrCat(path, " already exists; it is not overwritten"));
    }
    return absl::InvalidArgumentError(StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  errno = 0;
  // The umask can only have removed bits from 0600; make the mode exactly 0600 regardless.
  bool ok = ::fchmod(fd, 0600) == 0;
  {
    // Straight to the file descriptor: the PEM text never sits in a buffer of ours.
    Bio bio(BIO_new_fd(fd, BIO_NOCLOSE));
    ok = ok && bio != nullptr &&
         PEM_write_bio_PrivateKey(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    ok = ok && BIO_flush(bio.get()) == 1;
  }
  ClearOpenSslErrors();
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return absl::InternalError(StrCat("could not write the private key to ", path,
                                      saved != 0 ? StrCat(": ", std::strerror(saved)) : ""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Ed25519PrivateKey::Sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  std::string sig(kEd25519SignatureSize, '\0');
  size_t len = sig.size();
  const bool ok =
      ctx != nullptr && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_) == 1 &&
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1 &&
      len == kEd25519SignatureSize;
  ClearOpenSslErrors();
  if (!ok) {
    return absl::InternalError("OpenSSL could not make an Ed25519 signature");
  }
  return sig;
}

}  // namespace loopgate::crypto
