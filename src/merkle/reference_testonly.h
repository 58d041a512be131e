#pragma once
// TEST ONLY. A deliberately naive RFC 6962 section 2.1 implementation, written straight from the
// RFC's recursive definitions (MTH, PATH, PROOF/SUBPROOF) over the leaves' data, with no
// shared code beyond SHA-256. It recomputes every subtree from its leaves, so it is slow; it
// exists to cross-check CompactRange, the prover and the verifier on random trees.

#include <cstdint>
#include <string>
#include <vector>

namespace loopgate::merkle::reference {

// Hashes are 32-byte strings.
using Leaves = std::vector<std::string>;  // The leaf data D[0..n-1], not their hashes.

// MTH(D[begin:end]).
std::string Mth(const Leaves& d, uint64_t begin, uint64_t end);

// PATH(m, D[begin:end]), m counted from `begin`. Precondition: m < end - begin.
std::vector<std::string> Path(uint64_t m, const Leaves& d, uint64_t begin, uint64_t end);

// PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true). Precondition: 0 < m <= n.
std::vector<std::string> Proof(uint64_t m, const Leaves& d, uint64_t n);

}  // namespace loopgate::merkle::reference
