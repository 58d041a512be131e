#include "crypto/crypto.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace loopgate::crypto {
namespace {

// SHA-256 known answers from FIPS 180-2 appendix B (also in NIST's SHA examples).
constexpr char kSha256Empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kSha256Abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kTwoBlockMessage[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr char kSha256TwoBlock[] =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr char kSha256MillionA[] =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

std::string MacHex(std::string_view key, std::string_view message) {
  auto hmac = HmacSha256::Create(key);
  EXPECT_TRUE(hmac.ok()) << hmac.status();
  if (!hmac.ok()) {
    return "";
  }
  return ToHex((*hmac)->Mac(message));
}

TEST(Sha256Test, Fips180Vectors) {
  EXPECT_EQ(ToHex(Sha256("")), kSha256Empty);
  EXPECT_EQ(ToHex(Sha256("abc")), kSha256Abc);
  EXPECT_EQ(ToHex(Sha256(kTwoBlockMessage)), kSha256TwoBlock);
  EXPECT_EQ(ToHex(Sha256(std::string(1000000, 'a'))), kSha256MillionA);
}

TEST(Sha256Test, RepeatedCallsAreIndependent) {
  // The one-shot function reuses a per-thread context; no state may carry over.
  EXPECT_EQ(ToHex(Sha256("abc")), kSha256Abc);
  EXPECT_EQ(ToHex(Sha256("")), kSha256Empty);
  EXPECT_EQ(ToHex(Sha256("abc")), kSha256Abc);
}

TEST(Sha256Test, BinaryInputIncludingNul) {
  const std::string with_nul("ab\0c", 4);
  EXPECT_NE(Sha256(with_nul), Sha256("ab"));
  EXPECT_NE(Sha256(with_nul), Sha256("abc"));
  EXPECT_EQ(Sha256(with_nul), Sha256(std::string_view("ab\0c", 4)));
}

TEST(Sha256HasherTest, PiecesEqualOneShot) {
  const std::string message = std::string(kTwoBlockMessage) + std::string(200, 'x');
  const Digest expected = Sha256(message);
  for (size_t split = 0; split <= message.size(); split += 7) {
    Sha256Hasher hasher;
    hasher.Update(message.substr(0, split));
    hasher.Update(message.substr(split));
    ASSERT_EQ(hasher.Finish(), expected) << "split at " << split;
  }
  Sha256Hasher bytewise;
  for (char c : message) {
    bytewise.Update(std::string_view(&c, 1));
  }
  EXPECT_EQ(bytewise.Finish(), expected);
}

TEST(Sha256HasherTest, KnownAnswers) {
  Sha256Hasher hasher;
  EXPECT_EQ(ToHex(hasher.Finish()), kSha256Empty);
  hasher.Update("a");
  hasher.Update("");
  hasher.Update("bc");
  EXPECT_EQ(ToHex(hasher.Finish()), kSha256Abc);
  for (int i = 0; i < 1000; ++i) {
    hasher.Update(std::string(1000, 'a'));
  }
  EXPECT_EQ(ToHex(hasher.Finish()), kSha256MillionA);
}

TEST(Sha256HasherTest, ReusableAfterFinish) {
  Sha256Hasher hasher;
  hasher.Update("something else entirely");
  (void)hasher.Finish();
  hasher.Update("abc");
  EXPECT_EQ(ToHex(hasher.Finish()), kSha256Abc);
  // Finish with nothing fed since the last Finish is the empty message.
  EXPECT_EQ(ToHex(hasher.Finish()), kSha256Empty);
}

TEST(Sha256HasherTest, ResumingFromAPrefixEqualsHashingTheWhole) {
  // Prefixes shorter than, equal to and longer than one block, so the resumed state carries
  // buffered bytes as well as chaining values.
  for (size_t length : {0u, 5u, 63u, 64u, 65u, 130u}) {
    const std::string prefix(length, 'p');
    Sha256Hasher base;
    base.Update(prefix);
    Sha256Hasher resumed;
    resumed.Update("state to be replaced");
    for (std::string_view tail : {"", "abc", "a longer tail of several words"}) {
      resumed.Resume(base);
      resumed.Update(tail);
      ASSERT_EQ(resumed.Finish(), Sha256(prefix + std::string(tail))) << length << " " << tail;
    }
    // The prefix hasher is unchanged by being resumed from.
    EXPECT_EQ(base.Finish(), Sha256(prefix));
  }
}

TEST(ToHexTest, LowercaseSixtyFourDigits) {
  Digest d{};
  for (size_t i = 0; i < d.size(); ++i) {
    d[i] = static_cast<uint8_t>(0xA0 + i);  // a0 .. bf
  }
  d[0] = 0x00;
  d[1] = 0xFF;
  d[2] = 0x0A;
  d[3] = 0xB7;
  const std::string hex = ToHex(d);
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.substr(0, 8), "00ff0ab7");
  EXPECT_EQ(hex.substr(8, 8), "a4a5a6a7");
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
}

// HMAC-SHA256 test cases from RFC 4231 section 4 (case 5, truncated output, is covered by
// comparing the first 128 bits).
TEST(RandomBytesTest, LengthAndTwoDrawsDiffer) {
  auto a = RandomBytes(32);
  auto b = RandomBytes(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);  // 2^-256 to fail by chance.
  auto none = RandomBytes(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(HmacSha256Test, Rfc4231Case1) {
  EXPECT_EQ(MacHex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(HmacSha256Test, Rfc4231Case2KeyShorterThanOutput) {
  EXPECT_EQ(MacHex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256Test, Rfc4231Case3) {
  EXPECT_EQ(MacHex(std::string(20, '\xaa'), std::string(50, '\xdd')),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

TEST(HmacSha256Test, Rfc4231Case4) {
  std::string key;
  for (int b = 0x01; b <= 0x19; ++b) {
    key.push_back(static_cast<char>(b));
  }
  EXPECT_EQ(MacHex(key, std::string(50, '\xcd')),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

TEST(HmacSha256Test, Rfc4231Case5Truncated) {
  EXPECT_EQ(MacHex(std::string(20, '\x0c'), "Test With Truncation").substr(0, 32),
            "a3b6167473100ee06e0c796c2955552b");
}

TEST(HmacSha256Test, Rfc4231Case6KeyLongerThanBlock) {
  EXPECT_EQ(
      MacHex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, Rfc4231Case7KeyAndDataLongerThanBlock) {
  EXPECT_EQ(MacHex(std::string(131, '\xaa'),
                   "This is a test using a larger than block-size key and a larger than "
                   "block-size data. The key needs to be hashed before being used by the HMAC "
                   "algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(HmacSha256Test, KeysAtTheBlockSizeBoundary) {
  // Expected values from Python: hmac.new(bytes(range(1, 65)), b"boundary", "sha256") and
  // the same with range(1, 66). A 64-byte key is used as is; a 65-byte key is hashed first.
  std::string key64, key65;
  for (int b = 1; b <= 64; ++b) {
    key64.push_back(static_cast<char>(b));
  }
  key65 = key64 + static_cast<char>(65);
  EXPECT_EQ(MacHex(key64, "boundary"),
            "20e157b67c75aeee5e0b8630309fb95665e6402ff6304e236f097f114a3a9f14");
  EXPECT_EQ(MacHex(key65, "boundary"),
            "fea39c27054259e1fba72c4728b630ba2ab15ea79caf6c7b8233dec683954e89");
}

TEST(HmacSha256Test, EmptyMessage) {
  // Python: hmac.new(b"k", b"", "sha256").hexdigest().
  EXPECT_EQ(MacHex("k", ""), "8bb990c40a7d61cb97597a942125025be50ac8beb74436e3735b98893a7f6620");
}

TEST(HmacSha256Test, RepeatedMacsAreIndependent) {
  auto hmac = HmacSha256::Create("Jefe");
  ASSERT_TRUE(hmac.ok()) << hmac.status();
  const Digest first = (*hmac)->Mac("what do ya want for nothing?");
  const Digest other = (*hmac)->Mac("a different message");
  const Digest again = (*hmac)->Mac("what do ya want for nothing?");
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  EXPECT_EQ(ToHex(again), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256Test, DifferentKeysGiveDifferentMacs) {
  EXPECT_NE(MacHex("key-a", "message"), MacHex("key-b", "message"));
  // Keys are zero-padded to the block size, but a key and the same key plus a trailing NUL
  // are the same HMAC key by definition (RFC 2104); a different byte is not.
  EXPECT_EQ(MacHex("key", "message"), MacHex(std::string("key\0", 4), "message"));
  EXPECT_NE(MacHex("key", "message"), MacHex("key\x01", "message"));
}

TEST(HmacSha256Test, EmptyKeyIsRejected) {
  auto hmac = HmacSha256::Create("");
  ASSERT_FALSE(hmac.ok());
  EXPECT_EQ(hmac.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loopgate::crypto
