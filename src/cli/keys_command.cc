// loopgate keys init: create the operator's Ed25519 key for signing ledger checkpoints
// (docs/ledger-format.md section 9.1). The private key is written only to its file, never
// printed.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "cli/command.h"
#include "common/strings.h"
#include "crypto/ed25519.h"

namespace loopgate::cli {
namespace {

using common::StrCat;

constexpr char kPrivateName[] = "ledger-signing.key";
constexpr char kPublicName[] = "ledger-signing.pub";

absl::Status WriteNewFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::InternalError(StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return absl::InternalError(StrCat("cannot write ", path, ": ", std::strerror(saved)));
  }
  return absl::OkStatus();
}

int InitCommand(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string private_path = StrCat(dir, "/", kPrivateName);
  const std::string public_path = StrCat(dir, "/", kPublicName);
  std::error_code ec;
  for (const std::string& p : {private_path, public_path}) {
    if (fs::exists(fs::symlink_status(p, ec))) {
      return Fail(absl::AlreadyExistsError(
          StrCat(p,
                 " already exists; a signing key is never overwritten (move the old key "
                 "away first, and keep it: checkpoints it signed still need its public key)")));
    }
  }
  if (!fs::exists(dir, ec)) {
    // Private to the operator; an existing directory is left as it is.
    const fs::path parent = fs::path(dir).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (::mkdir(dir.c_str(), 0700) != 0) {
      return Fail(absl::InternalError(StrCat("cannot create ", dir, ": ", std::strerror(errno))));
    }
  }
  auto key = crypto::Ed25519PrivateKey::Generate();
  if (!key.ok()) return Fail(key.status());
  if (absl::Status s = (*key)->WriteNewPemFile(private_path); !s.ok()) return Fail(s);
  const crypto::Ed25519PublicKey& pub = (*key)->public_key();
  if (absl::Status s = WriteNewFile(public_path, pub.ToPem(), 0644); !s.ok()) {
    ::unlink(private_path.c_str());  // No half-made key pair is left behind.
    return Fail(s);
  }
  std::printf(
      "created an Ed25519 ledger signing key, key id %s\n"
      "  private key: %s (mode 0600: keep it secret and backed up)\n"
      "  public key:  %s (give it to whoever checks proofs)\n",
      pub.KeyId().c_str(), private_path.c_str(), public_path.c_str());
  return kOk;
}

}  // namespace

void AddKeysCommands(Commands& commands) {
  auto dir = std::make_shared<std::string>();
  auto* keys = commands.app().add_subcommand("keys", "Manage the ledger signing key");
  keys->require_subcommand(1);
  auto* init = keys->add_subcommand(
      "init", "Create an Ed25519 key pair for signing ledger checkpoints: DIR/" +
                  std::string(kPrivateName) + " (private, mode 0600) and DIR/" + kPublicName +
                  ". Refuses to overwrite an existing key; never prints the private key");
  init->add_option("--dir", *dir,
                   "Directory for the key files (created with mode 0700 if "
                   "missing)")
      ->required();
  commands.On(init, [dir] { return InitCommand(*dir); });
}

}  // namespace loopgate::cli
