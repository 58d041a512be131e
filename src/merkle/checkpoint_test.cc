#include "merkle/checkpoint.h"

#include <string>

#include "common/text.h"
#include "gtest/gtest.h"

namespace loopgate::merkle {
namespace {

Checkpoint Example() {
  Checkpoint c;
  c.tree_size = 51;
  c.root = LeafHash("root");
  c.time = *common::ParseRfc3339("2026-06-30T12:00:00Z");
  c.policy_version = "sha256:dfc2a7fa515c92f532171f920a53cdbfb3f471802f9144f69eede6e56f965715";
  return c;
}

const crypto::Ed25519PrivateKey& Key() {
  static auto* key = crypto::Ed25519PrivateKey::Generate()->release();
  return *key;
}

TEST(CheckpointTest, BodyIsSixLinesInTheDocumentedForm) {
  Checkpoint c = Example();
  c.key_id = Key().public_key().KeyId();
  auto body = CheckpointBody(c);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body,
            "loopgate.checkpoint/v1\n"
            "tree_size 51\n"
            "root_hash " +
                HashHex(c.root) +
                "\n"
                "time 2026-06-30T12:00:00Z\n"
                "policy_version " +
                c.policy_version +
                "\n"
                "key_id " +
                c.key_id + "\n");
}

TEST(CheckpointTest, SignedTextRoundTripsAndVerifies) {
  auto signed_cp = SignCheckpoint(Example(), Key());
  ASSERT_TRUE(signed_cp.ok()) << signed_cp.status();
  EXPECT_EQ(signed_cp->checkpoint.key_id, Key().public_key().KeyId());
  const std::string text = signed_cp->Text();
  EXPECT_EQ(text.substr(0, signed_cp->body.size()), signed_cp->body);
  EXPECT_EQ(text.substr(signed_cp->body.size()),
            "\nsignature " + common::Base64Encode(signed_cp->signature) + "\n");
  EXPECT_TRUE(Key().public_key().Verify(signed_cp->body, signed_cp->signature).ok());

  auto parsed = ParseSignedCheckpoint(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->checkpoint, signed_cp->checkpoint);
  EXPECT_EQ(parsed->Text(), text);
  auto verified = VerifySignedCheckpoint(text, Key().public_key());
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->checkpoint.tree_size, 51u);
}

TEST(CheckpointTest, FractionalSecondsAreKept) {
  Checkpoint c = Example();
  c.time = *common::ParseRfc3339("2026-06-30T12:00:00.25Z");
  auto signed_cp = SignCheckpoint(c, Key());
  ASSERT_TRUE(signed_cp.ok());
  EXPECT_NE(signed_cp->body.find("time 2026-06-30T12:00:00.25Z\n"), std::string::npos);
  EXPECT_EQ(ParseSignedCheckpoint(signed_cp->Text())->checkpoint.time, c.time);
}

TEST(CheckpointTest, ForgeriesAreCaught) {
  const std::string text = SignCheckpoint(Example(), Key())->Text();
  auto other = *crypto::Ed25519PrivateKey::Generate();

  // The body altered after signing: a bigger tree claimed.
  std::string altered = text;
  altered.replace(altered.find("tree_size 51"), 12, "tree_size 52");
  auto s = VerifySignedCheckpoint(altered, Key().public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("signature does not verify"), std::string::npos) << s;

  // Signed by another key, which it names.
  const std::string by_other = SignCheckpoint(Example(), *other)->Text();
  s = VerifySignedCheckpoint(by_other, Key().public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("names signing key " + other->public_key().KeyId() +
                             ", not the public key given (" + Key().public_key().KeyId() + ")"),
            std::string::npos)
      << s;

  // Signed by another key while naming ours.
  SignedCheckpoint forged = *ParseSignedCheckpoint(text);
  forged.signature = *other->Sign(forged.body);
  s = VerifySignedCheckpoint(forged.Text(), Key().public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("signature does not verify"), std::string::npos) << s;
}

TEST(CheckpointTest, OnlyTheExactFormIsAccepted) {
  const std::string text = SignCheckpoint(Example(), Key())->Text();
  auto rejects = [](std::string t, std::string_view from, std::string_view to,
                    std::string_view message) {
    const size_t at = t.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    t.replace(at, from.size(), to);
    const absl::Status s = ParseSignedCheckpoint(t).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << from << " -> " << to;
    EXPECT_NE(std::string(s.message()).find(message), std::string::npos) << s;
  };
  rejects(text, "loopgate.checkpoint/v1", "loopgate.checkpoint/v2", "line 1");
  rejects(text, "tree_size 51", "tree_size 051", "line 2");
  rejects(text, "tree_size 51", "tree_size -1", "line 2");
  rejects(text, "tree_size 51", "tree_size 99999999999999999999", "line 2");
  rejects(text, "tree_size 51", "tree_size  51", "line 2");
  rejects(text, "root_hash " + HashHex(Example().root),
          "root_hash " + common::HexEncode(std::string(31, 'A')), "line 3");
  std::string upper = HashHex(Example().root);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  rejects(text, HashHex(Example().root), upper, "line 3");
  rejects(text, "time 2026-06-30T12:00:00Z", "time 2026-06-30T14:00:00+02:00", "line 4");
  rejects(text, "time 2026-06-30T12:00:00Z", "time yesterday", "line 4");
  rejects(text, "policy_version sha256:", "policy_version sha 256:", "line 5");
  rejects(text, "key_id sha256:", "key_id md5:", "line 6");
  rejects(text, "tree_size 51\n", "tree_size 51\r\n", "line 2");
  rejects(text, "tree_size 51\n", "", "5 lines, not 6");
  rejects(text, "\n\nsignature", "\nextra 1\n\nsignature", "7 lines, not 6");
  rejects(text, "\n\nsignature", "\nsignature", "no empty line");
  rejects(text, "\nsignature ", "\nsig ", "the last line must be");
  rejects(text, "\nsignature ", "\nsignature AAAA", "64 bytes in base64");
  EXPECT_FALSE(ParseSignedCheckpoint(text.substr(0, text.size() - 1)).ok());  // No final LF.
  EXPECT_FALSE(ParseSignedCheckpoint(text + "\n").ok());
}

TEST(CheckpointTest, PolicyVersionMustBeAPlainToken) {
  Checkpoint c = Example();
  c.policy_version = "v 1";
  EXPECT_EQ(SignCheckpoint(c, Key()).status().code(), absl::StatusCode::kInvalidArgument);
  c.policy_version = "";
  EXPECT_EQ(SignCheckpoint(c, Key()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loopgate::merkle
