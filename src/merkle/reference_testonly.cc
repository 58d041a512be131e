#include "merkle/reference_testonly.h"

#include "crypto/crypto.h"

namespace loopgate::merkle::reference {
namespace {

std::string Sha256(const std::string& s) {
  const crypto::Digest d = crypto::Sha256(s);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

// "the largest power of two smaller than n" (RFC 6962 section 2.1), n > 1.
uint64_t K(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

std::vector<std::string> SubProof(uint64_t m, const Leaves& d, uint64_t begin, uint64_t end,
                                  bool b) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (b) return {};
    return {Mth(d, begin, end)};
  }
  const uint64_t k = K(n);
  std::vector<std::string> out;
  if (m <= k) {
    out = SubProof(m, d, begin, begin + k, b);
    out.push_back(Mth(d, begin + k, end));
  } else {
    out = SubProof(m - k, d, begin + k, end, false);
    out.push_back(Mth(d, begin, begin + k));
  }
  return out;
}

}  // namespace

std::string Mth(const Leaves& d, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n == 0) return Sha256("");
  if (n == 1) return Sha256(std::string(1, '\x00') + d[begin]);
  const uint64_t k = K(n);
  return Sha256(std::string(1, '\x01') + Mth(d, begin, begin + k) + Mth(d, begin + k, end));
}

std::vector<std::string> Path(uint64_t m, const Leaves& d, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n == 1) return {};
  const uint64_t k = K(n);
  std::vector<std::string> out;
  if (m < k) {
    out = Path(m, d, begin, begin + k);
    out.push_back(Mth(d, begin + k, end));
  } else {
    out = Path(m - k, d, begin + k, end);
    out.push_back(Mth(d, begin, begin + k));
  }
  return out;
}

std::vector<std::string> Proof(uint64_t m, const Leaves& d, uint64_t n) {
  return SubProof(m, d, 0, n, true);
}

}  // namespace loopgate::merkle::reference
