#pragma once
// Test only: an entry's hash computed from its exported text by the rule docs/ledger-format.md
// section 5 states, written apart from ledger.cc (no code shared with the writer), so tests can
// check the writer and ledger::EntryHash against the document and play an attacker who
// rehashes an edited entry.

#include <string>
#include <string_view>

namespace loopgate::ledger::testonly {

// The 32 raw bytes of the hash of `entry`, an exported entry's text without its "hash" member:
// SHA-256(0x00 || entry) when its "v" is 2; for v3, SHA-256(0x00 || E || P || be64(seq) || T).
// Empty when the text is not an entry.
std::string DocumentedEntryHash(std::string_view entry);

// The same in lowercase hex; empty when the text is not an entry.
std::string DocumentedEntryHashHex(std::string_view entry);

}  // namespace loopgate::ledger::testonly
