#include "crypto/ed25519.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/text.h"
#include "crypto/crypto.h"
#include "gtest/gtest.h"

namespace loopgate::crypto {
namespace {

std::string Unhex(std::string_view hex) { return *common::HexDecode(hex); }

// A fresh directory under the test temp dir, removed at the end of the test.
class KeyDir {
 public:
  KeyDir() {
    path_ = ::testing::TempDir() + "ed25519-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~KeyDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFileWithMode(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary) << content;
  ::chmod(path.c_str(), mode);
}

// The PKCS #8 PEM of a raw RFC 8032 secret key: the DER is the fixed 16-byte Ed25519 prefix
// (RFC 8410 section 7) followed by the 32 secret bytes.
std::string PrivatePem(std::string_view secret_hex) {
  const std::string der = Unhex("302e020100300506032b657004220420") + Unhex(secret_hex);
  return "-----BEGIN PRIVATE KEY-----\n" + common::Base64Encode(der) +
         "\n-----END PRIVATE KEY-----\n";
}

// RFC 8032 section 7.1, TEST 1 and TEST 2.
constexpr char kSecret1[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr char kPublic1[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr char kSig1[] =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
    "6bd25bf5f0595bbe24655141438e7a100b";
constexpr char kSecret2[] = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
constexpr char kPublic2[] = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
constexpr char kSig2[] =
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d"
    "8c387b2eaeb4302aeeb00d291612bb0c00";

TEST(Ed25519Test, Rfc8032VectorsSignAndVerify) {
  KeyDir dir;
  struct Case {
    const char* secret;
    const char* pub;
    std::string message;
    const char* sig;
  };
  for (const Case& c :
       {Case{kSecret1, kPublic1, "", kSig1}, Case{kSecret2, kPublic2, "\x72", kSig2}}) {
    WriteFileWithMode(dir / "k.pem", PrivatePem(c.secret), 0600);
    auto key = Ed25519PrivateKey::LoadPemFile(dir / "k.pem");
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(common::HexEncode((*key)->public_key().raw()), c.pub);
    auto sig = (*key)->Sign(c.message);
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_EQ(common::HexEncode(*sig), c.sig);
    auto pub = Ed25519PublicKey::FromRaw(Unhex(c.pub));
    ASSERT_TRUE(pub.ok()) << pub.status();
    EXPECT_TRUE(pub->Verify(c.message, Unhex(c.sig)).ok());
    std::filesystem::remove(dir / "k.pem");
  }
}

TEST(Ed25519Test, VerifyRejectsAnotherMessageKeyOrAlteredSignature) {
  auto pub1 = *Ed25519PublicKey::FromRaw(Unhex(kPublic1));
  auto pub2 = *Ed25519PublicKey::FromRaw(Unhex(kPublic2));
  const std::string sig1 = Unhex(kSig1);
  EXPECT_EQ(pub1.Verify("x", sig1).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(pub2.Verify("", sig1).code(), absl::StatusCode::kDataLoss);
  std::string altered = sig1;
  altered[10] ^= 1;
  EXPECT_EQ(pub1.Verify("", altered).code(), absl::StatusCode::kDataLoss);
  const absl::Status short_sig = pub1.Verify("", sig1.substr(0, 63));
  EXPECT_EQ(short_sig.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(short_sig.message().find("64 bytes, not 63"), std::string::npos) << short_sig;
}

TEST(Ed25519Test, GeneratedKeysSignAndTheirPublicPemRoundTrips) {
  auto a = Ed25519PrivateKey::Generate();
  auto b = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->public_key().raw(), (*b)->public_key().raw());
  const std::string msg = "loopgate.checkpoint/v1\n";
  auto sig = (*a)->Sign(msg);
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE((*a)->public_key().Verify(msg, *sig).ok());
  EXPECT_FALSE((*b)->public_key().Verify(msg, *sig).ok());

  const std::string pem = (*a)->public_key().ToPem();
  EXPECT_EQ(pem.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u) << pem;
  auto parsed = Ed25519PublicKey::FromPem(pem);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->raw(), (*a)->public_key().raw());
  EXPECT_TRUE(parsed->Verify(msg, *sig).ok());
  // The documented layout: the DER is a fixed 12-byte prefix and the raw key.
  std::string body = pem.substr(27, pem.find("-----END") - 27);
  body.erase(std::remove(body.begin(), body.end(), '\n'), body.end());
  EXPECT_EQ(common::HexEncode(*common::Base64Decode(body)),
            "302a300506032b6570032100" + common::HexEncode((*a)->public_key().raw()));
}

TEST(Ed25519Test, KeyIdIsSha256OfTheRawPublicKey) {
  auto pub = *Ed25519PublicKey::FromRaw(Unhex(kPublic1));
  EXPECT_EQ(pub.KeyId(), "sha256:" + ToHex(Sha256(Unhex(kPublic1))));
  EXPECT_EQ(pub.KeyId().size(), 7u + 64u);
}

TEST(Ed25519Test, WriteNewPemFileIsPrivateRefusesToOverwriteAndLoadsBack) {
  KeyDir dir;
  auto key = *Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key->WriteNewPemFile(dir / "k.pem").ok());
  struct stat st;
  ASSERT_EQ(::stat((dir / "k.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(dir / "k.pem");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "-----BEGIN PRIVATE KEY-----");

  std::ofstream(dir / "other.pem") << "keep me";
  const absl::Status again = key->WriteNewPemFile(dir / "other.pem");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  std::ifstream kept(dir / "other.pem");
  std::string content((std::istreambuf_iterator<char>(kept)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "keep me");

  auto loaded = Ed25519PrivateKey::LoadPemFile(dir / "k.pem");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->public_key().raw(), key->public_key().raw());
  auto sig = (*loaded)->Sign("m");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(key->public_key().Verify("m", *sig).ok());
}

TEST(Ed25519Test, LoadRefusesKeysOthersCanReadAndThingsThatAreNotEd25519Keys) {
  KeyDir dir;
  WriteFileWithMode(dir / "open.pem", PrivatePem(kSecret1), 0644);
  auto open = Ed25519PrivateKey::LoadPemFile(dir / "open.pem");
  EXPECT_EQ(open.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(open.status().message().find("mode 0644"), std::string::npos) << open.status();

  auto missing = Ed25519PrivateKey::LoadPemFile(dir / "nope.pem");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  WriteFileWithMode(dir / "junk.pem", "not a key\n", 0600);
  EXPECT_EQ(Ed25519PrivateKey::LoadPemFile(dir / "junk.pem").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519PublicKey::LoadPemFile(dir / "junk.pem").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519PublicKey::LoadPemFile(dir / "nope.pem").status().code(),
            absl::StatusCode::kNotFound);
  // A private key where a public key is expected is not accepted as one.
  EXPECT_FALSE(Ed25519PublicKey::FromPem(PrivatePem(kSecret1)).ok());
  EXPECT_EQ(Ed25519PublicKey::FromRaw("short").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loopgate::crypto
