#include "crypto/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "common/text.h"

namespace loopgate::crypto {
namespace {

// Fetched once: EVP_sha256() would re-resolve the provider on every init under OpenSSL 3.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) {
      // Without SHA-256 no hash, token or ledger entry could be trusted: stop at once.
      std::fprintf(stderr, "loopgate: OpenSSL provides no SHA-256 implementation\n");
      std::abort();
    }
    return fetched;
  }();
  return md;
}

struct CtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_MD_CTX, CtxDeleter>;

Ctx NewCtx() { return Ctx(EVP_MD_CTX_new()); }

}  // namespace

Digest Sha256(std::string_view data) {
  thread_local Ctx ctx = NewCtx();
  Digest out;
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx.get(), Sha256Md(), nullptr);
  EVP_DigestUpdate(ctx.get(), data.data(), data.size());
  EVP_DigestFinal_ex(ctx.get(), out.data(), &len);
  return out;
}

struct Sha256Hasher::Impl {
  Ctx ctx = NewCtx();
};

Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {
  EVP_DigestInit_ex(impl_->ctx.get(), Sha256Md(), nullptr);
}
Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(std::string_view data) {
  EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size());
}

Digest Sha256Hasher::Finish() {
  Digest out;
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &len);
  EVP_DigestInit_ex(impl_->ctx.get(), Sha256Md(), nullptr);
  return out;
}

std::string ToHex(const Digest& d) {
  return common::HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

void AppendHex(const Digest& d, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t at = out->size();
  out->resize(at + 2 * d.size());
  char* p = out->data() + at;
  for (unsigned char b : d) {
    *p++ = kHex[b >> 4];
    *p++ = kHex[b & 0xF];
  }
}

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("the random number generator failed");
  }
  return out;
}

struct HmacSha256::Impl {
  Ctx inner = NewCtx();    // SHA-256 state after absorbing key XOR ipad.
  Ctx outer = NewCtx();    // SHA-256 state after absorbing key XOR opad.
  Ctx scratch = NewCtx();  // Per-call working copy.
};

HmacSha256::HmacSha256() : impl_(std::make_unique<Impl>()) {}

HmacSha256::~HmacSha256() {
  // The keyed states are the key in disguise; EVP_MD_CTX_free cleanses them.
}

absl::StatusOr<std::unique_ptr<HmacSha256>> HmacSha256::Create(std::string_view key) {
  if (key.empty()) {
    return absl::InvalidArgumentError("an HMAC key must not be empty");
  }
  constexpr size_t kBlock = 64;
  uint8_t block[kBlock] = {};
  if (key.size() > kBlock) {
    const Digest d = Sha256(key);
    std::copy(d.begin(), d.end(), block);
  } else {
    std::copy(key.begin(), key.end(), block);
  }
  uint8_t pad[kBlock];
  std::unique_ptr<HmacSha256> h(new HmacSha256());
  for (size_t i = 0; i < kBlock; ++i) pad[i] = block[i] ^ 0x36;
  EVP_DigestInit_ex(h->impl_->inner.get(), Sha256Md(), nullptr);
  EVP_DigestUpdate(h->impl_->inner.get(), pad, kBlock);
  for (size_t i = 0; i < kBlock; ++i) pad[i] = block[i] ^ 0x5c;
  EVP_DigestInit_ex(h->impl_->outer.get(), Sha256Md(), nullptr);
  EVP_DigestUpdate(h->impl_->outer.get(), pad, kBlock);
  OPENSSL_cleanse(block, kBlock);
  OPENSSL_cleanse(pad, kBlock);
  return h;
}

Digest HmacSha256::Mac(std::string_view message) const {
  Digest inner_digest, out;
  unsigned int len = 0;
  EVP_MD_CTX* s = impl_->scratch.get();
  EVP_MD_CTX_copy_ex(s, impl_->inner.get());
  EVP_DigestUpdate(s, message.data(), message.size());
  EVP_DigestFinal_ex(s, inner_digest.data(), &len);
  EVP_MD_CTX_copy_ex(s, impl_->outer.get());
  EVP_DigestUpdate(s, inner_digest.data(), inner_digest.size());
  EVP_DigestFinal_ex(s, out.data(), &len);
  return out;
}

}  // namespace loopgate::crypto
