#include "seen/seen.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"

namespace loopgate::seen {
namespace {

// --- Encodings (docs/state.md section 7) ---

constexpr uint8_t kRecordMarker = 0xA5;
constexpr size_t kRecordHeader = 7;  // marker, u32 id length, u16 subject length.
constexpr size_t kRecordFixed = kRecordHeader + 32 + 8;
constexpr char kRunMagic[8] = {'L', 'G', 'S', 'E', 'E', 'N', 'R', '1'};
constexpr size_t kRunHeader = 32;   // magic, u64 count, u64 bloom blocks, u64 zero.
constexpr size_t kRunEntry = 16;    // u64 hash, u64 record offset.
constexpr size_t kRunTrailer = 32;  // SHA-256 of everything before it.
constexpr size_t kBloomBlock = 64;  // One cache line: 512 bits.
constexpr size_t kBloomBitsPerKey = 10;
constexpr int kBloomProbes = 6;
constexpr size_t kSparseEvery = 256;  // Entries per sparse-index step (4 KiB of entries).

void PutU64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
void AppendU64(uint64_t v, std::string* out) {
  char b[8];
  PutU64(v, b);
  out->append(b, 8);
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void EncodeRecord(std::string_view id, const crypto::Digest& digest, int64_t first_seq,
                  std::string_view subject, std::string* out) {
  out->clear();
  out->push_back(static_cast<char>(kRecordMarker));
  const uint32_t n = static_cast<uint32_t>(id.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  const uint16_t s = static_cast<uint16_t>(subject.size());
  out->push_back(static_cast<char>(s & 0xFF));
  out->push_back(static_cast<char>(s >> 8));
  out->append(id);
  out->append(reinterpret_cast<const char*>(digest.data()), digest.size());
  AppendU64(static_cast<uint64_t>(first_seq), out);
  out->append(subject);
}

// The size of the record whose first kRecordHeader bytes are `p`; 0 when they are no record.
size_t RecordSize(const char* p) {
  if (static_cast<uint8_t>(p[0]) != kRecordMarker) return 0;
  const uint32_t id = GetU32(p + 1);
  const size_t subject = static_cast<uint8_t>(p[5]) | (size_t{static_cast<uint8_t>(p[6])} << 8);
  return kRecordFixed + id + subject;
}

// A record read in place; views into the buffer it was read from.
struct View {
  std::string_view id;
  const char* digest = nullptr;
  int64_t first_seq = 0;
  std::string_view subject;
};

// Decodes the record at the start of `bytes`, which must hold all of it (RecordSize).
View Decode(std::string_view bytes) {
  View v;
  const size_t id = GetU32(bytes.data() + 1);
  const size_t subject = RecordSize(bytes.data()) - kRecordFixed - id;
  v.id = bytes.substr(kRecordHeader, id);
  v.digest = bytes.data() + kRecordHeader + id;
  v.first_seq = static_cast<int64_t>(GetU64(v.digest + 32));
  v.subject = bytes.substr(kRecordHeader + id + 40, subject);
  return v;
}

void Fill(const View& v, Record* out) {
  out->id.assign(v.id);
  std::memcpy(out->digest.data(), v.digest, 32);
  out->first_seq = v.first_seq;
  out->subject.assign(v.subject);
}

absl::Status Damaged(std::string_view path, uint64_t offset) {
  return absl::DataLossError(common::StrCat(path, ": the seen record at byte ", offset,
                                            " is damaged; the state was edited or corrupted"));
}

}  // namespace

// Reads the records of [from, to) of the log open as `fd`, in order, 1 MiB at a time.
class LogCursor {
 public:
  LogCursor(int fd, std::string path, uint64_t from, uint64_t to)
      : fd_(fd), path_(std::move(path)), at_(from), read_to_(from), to_(to) {}

  // The next record (a view valid until the next call) and its offset; false at the end.
  absl::StatusOr<bool> Next(View* v, uint64_t* offset) {
    if (at_ >= to_) return false;
    while (buf_.size() - pos_ < kRecordHeader ||
           buf_.size() - pos_ < RecordSize(buf_.data() + pos_)) {
      if (buf_.size() - pos_ >= kRecordHeader && RecordSize(buf_.data() + pos_) == 0) break;
      if (read_to_ == to_) return Damaged(path_, at_);  // Cut short inside the committed part.
      buf_.erase(0, pos_);
      pos_ = 0;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(to_ - read_to_, 1 << 20));
      RETURN_IF_ERROR(common::ReadAt(fd_, static_cast<int64_t>(read_to_), want, path_, &chunk_));
      buf_.append(chunk_);
      read_to_ += want;
    }
    const size_t size = RecordSize(buf_.data() + pos_);
    if (size == 0) return Damaged(path_, at_);
    *v = Decode(std::string_view(buf_).substr(pos_, size));
    *offset = at_;
    pos_ += size;
    at_ += size;
    return true;
  }

 private:
  int fd_;
  std::string path_;
  uint64_t at_, read_to_, to_;
  std::string buf_, chunk_;
  size_t pos_ = 0;
};

RecordCursor::RecordCursor(std::unique_ptr<LogCursor> log) : log_(std::move(log)) {}
RecordCursor::~RecordCursor() = default;

absl::StatusOr<bool> RecordCursor::Next(Record* out) {
  if (log_ == nullptr) return false;
  View v;
  uint64_t offset = 0;
  ASSIGN_OR_RETURN(bool more, log_->Next(&v, &offset));
  if (more) Fill(v, out);
  return more;
}

namespace {

// Reads one record at `offset` of a log whose readable part ends at `end`.
absl::Status ReadRecordAt(int fd, std::string_view path, uint64_t offset, uint64_t end,
                          std::string* buf, Record* out) {
  if (offset + kRecordHeader > end) return Damaged(path, offset);
  const size_t first = static_cast<size_t>(std::min<uint64_t>(end - offset, 256));
  RETURN_IF_ERROR(common::ReadAt(fd, static_cast<int64_t>(offset), first, path, buf));
  const size_t size = RecordSize(buf->data());
  if (size == 0 || offset + size > end) return Damaged(path, offset);
  if (size > first) {
    RETURN_IF_ERROR(common::ReadAt(fd, static_cast<int64_t>(offset), size, path, buf));
  }
  Fill(Decode(*buf), out);
  return absl::OkStatus();
}

uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

// The block and bit positions of hash `h` in a blocked bloom filter of `blocks` blocks.
size_t BloomBlock(uint64_t h, size_t blocks) {
  return static_cast<size_t>(((h >> 32) * static_cast<uint64_t>(blocks)) >> 32);
}
uint64_t BloomMix(uint64_t h) { return h * 0x9E3779B97F4A7C15ull; }

std::string RunName(uint64_t number) { return common::StrCat("run-", number); }

void SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Makes every commit in the state's WAL durable (what synchronous=FULL does per commit).
bool SyncWal(const std::string& state_dir) {
  const std::string path = state_dir + "/state.db-wal";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;  // No WAL: everything is in state.db already.
  const bool ok = ::fdatasync(fd) == 0;
  ::close(fd);
  return ok;
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(
          common::StrCat("writing ", path, " failed: ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// The committed state of the store, from `meta`.
struct Meta {
  bool exists = false;  // seen_key is set.
  uint64_t key0 = 0, key1 = 0;
  uint64_t bytes = 0, records = 0, covered = 0, next_file = 1;
  std::vector<std::pair<uint64_t, uint64_t>> runs;  // (file number, entries), oldest first.
};

bool ParseU64(std::string_view s, uint64_t* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

absl::StatusOr<Meta> ReadMeta(store::Database& db) {
  Meta m;
  ASSIGN_OR_RETURN(auto key, db.GetMeta("seen_key"));
  if (!key) return m;
  const absl::Status garbled = absl::DataLossError(
      "the seen store's committed state in meta (seen_*) is garbled; the "
      "state was edited");
  const std::optional<std::string> raw = common::HexDecode(*key);
  if (!raw || raw->size() != 16) return garbled;
  m.exists = true;
  m.key0 = GetU64(raw->data());
  m.key1 = GetU64(raw->data() + 8);
  for (auto [name, out] :
       {std::pair{"seen_bytes", &m.bytes}, std::pair{"seen_records", &m.records},
        std::pair{"seen_covered", &m.covered}, std::pair{"seen_next_file", &m.next_file}}) {
    ASSIGN_OR_RETURN(auto v, db.GetMeta(name));
    if (v && !ParseU64(*v, out)) return garbled;
  }
  ASSIGN_OR_RETURN(auto runs, db.GetMeta("seen_runs"));
  if (runs && !runs->empty()) {
    std::string_view rest = *runs;
    while (!rest.empty()) {
      const size_t space = rest.find(' ');
      const std::string_view item = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      const size_t colon = item.find(':');
      uint64_t number = 0, count = 0;
      if (colon == std::string_view::npos || !ParseU64(item.substr(0, colon), &number) ||
          !ParseU64(item.substr(colon + 1), &count)) {
        return garbled;
      }
      m.runs.emplace_back(number, count);
    }
  }
  if (m.covered > m.bytes) return garbled;
  return m;
}

absl::StatusOr<bool> HasV3Table(store::Database& db) {
  ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                      "name = 'seen'"));
  return q.Step();
}

uint64_t HashId(uint64_t k0, uint64_t k1, int bits, std::string_view id) {
  const uint64_t h = SipHash24(k0, k1, id);
  return bits >= 64 ? h : h & ((uint64_t{1} << bits) - 1);
}

}  // namespace

uint64_t SipHash24(uint64_t k0, uint64_t k1, std::string_view data) {
  uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
  uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
  auto round = [&] {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  };
  const size_t n = data.size();
  const char* p = data.data();
  const char* end = p + (n & ~size_t{7});
  for (; p != end; p += 8) {
    const uint64_t m = GetU64(p);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  uint64_t b = static_cast<uint64_t>(n) << 56;
  for (size_t i = 0; i < (n & 7); ++i) b |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  v3 ^= b;
  round();
  round();
  v0 ^= b;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

// One immutable index run: its entries stay on disk (read with pread), its bloom filter and a
// sparse index (every 256th hash) in memory.
class RunFile {
 public:
  // Opens and checks a run: size, header, order and the SHA-256 trailer. `expected` is the
  // entry count the commit recorded. Errors: NotFound when missing, DataLoss when damaged.
  static absl::StatusOr<std::unique_ptr<RunFile>> Open(const std::string& path, uint64_t number,
                                                       uint64_t expected) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return absl::NotFoundError(common::StrCat(path, " is missing"));
      return absl::InternalError(common::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    }
    std::unique_ptr<RunFile> r(new RunFile(path, number, fd));
    auto damaged = [&](std::string_view what) {
      return absl::DataLossError(common::StrCat(path, ", an index run of the seen store, is ",
                                                "damaged (", what,
                                                "); the state was edited "
                                                "or corrupted"));
    };
    struct stat st;
    if (::fstat(fd, &st) != 0) return absl::InternalError(common::StrCat("cannot stat ", path));
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    std::string buf;
    if (size < kRunHeader + kRunTrailer) return damaged("too short");
    RETURN_IF_ERROR(common::ReadAt(fd, 0, kRunHeader, path, &buf));
    if (std::memcmp(buf.data(), kRunMagic, 8) != 0) return damaged("not a seen run");
    r->count_ = GetU64(buf.data() + 8);
    const uint64_t blocks = GetU64(buf.data() + 16);
    if (r->count_ != expected) return damaged("its entry count is not the committed one");
    if (blocks == 0 || blocks > (uint64_t{1} << 32) ||
        size != kRunHeader + r->count_ * kRunEntry + blocks * kBloomBlock + kRunTrailer) {
      return damaged("its size does not match its header");
    }
    crypto::Sha256Hasher hasher;
    hasher.Update(buf);
    r->bloom_.resize(blocks * (kBloomBlock / 8));
    r->sparse_.reserve(r->count_ / kSparseEvery + 1);
    const uint64_t bloom_at = kRunHeader + r->count_ * kRunEntry;
    uint64_t at = kRunHeader, entry = 0, last = 0;
    while (at < size - kRunTrailer) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(size - kRunTrailer - at, 1 << 20));
      RETURN_IF_ERROR(common::ReadAt(fd, static_cast<int64_t>(at), want, path, &buf));
      hasher.Update(buf);
      for (size_t i = 0; i < want;) {
        const uint64_t pos = at + i;
        if (pos < bloom_at) {  // Entries come in whole 16-byte units (chunks are 1 MiB).
          const uint64_t h = GetU64(buf.data() + i);
          if (entry > 0 && h < last) return damaged("its entries are out of order");
          if (entry % kSparseEvery == 0) r->sparse_.push_back(h);
          last = h;
          ++entry;
          i += kRunEntry;
        } else {
          r->bloom_[(pos - bloom_at) / 8] = GetU64(buf.data() + i);
          i += 8;
        }
      }
      at += want;
    }
    RETURN_IF_ERROR(
        common::ReadAt(fd, static_cast<int64_t>(size - kRunTrailer), kRunTrailer, path, &buf));
    const crypto::Digest sum = hasher.Finish();
    if (std::memcmp(sum.data(), buf.data(), sum.size()) != 0) {
      return damaged("its SHA-256 does not match its content");
    }
    return r;
  }

  ~RunFile() { ::close(fd_); }

  void PrefetchFilter(uint64_t h) const {
    if (!bloom_.empty()) __builtin_prefetch(FilterBlock(h));
  }

  bool MayContain(uint64_t h) const {
    if (bloom_.empty()) return true;  // Dropped (DropFilter): every lookup searches.
    const uint64_t* words = FilterBlock(h);
    const uint64_t m = BloomMix(h);
    for (int i = 0; i < kBloomProbes; ++i) {
      const unsigned bit = static_cast<unsigned>((m >> (9 * i)) & 511);
      if (!(words[bit / 64] >> (bit % 64) & 1)) return false;
    }
    return true;
  }

  // Appends the record offsets of the entries with hash `h`.
  absl::Status Find(uint64_t h, std::vector<uint64_t>* offsets, std::string* buf) const {
    if (count_ == 0 || !MayContain(h)) return absl::OkStatus();
    const size_t b =
        static_cast<size_t>(std::lower_bound(sparse_.begin(), sparse_.end(), h) - sparse_.begin());
    for (uint64_t e = (b == 0 ? 0 : b - 1) * kSparseEvery; e < count_;) {
      const uint64_t n = std::min<uint64_t>(kSparseEvery, count_ - e);
      RETURN_IF_ERROR(Entries(e, n, buf));
      for (uint64_t i = 0; i < n; ++i) {
        const uint64_t eh = GetU64(buf->data() + i * kRunEntry);
        if (eh > h) return absl::OkStatus();
        if (eh == h) offsets->push_back(GetU64(buf->data() + i * kRunEntry + 8));
      }
      e += n;
    }
    return absl::OkStatus();
  }

  // Entries [first, first + n), raw.
  absl::Status Entries(uint64_t first, uint64_t n, std::string* buf) const {
    return common::ReadAt(fd_, static_cast<int64_t>(kRunHeader + first * kRunEntry),
                          static_cast<size_t>(n * kRunEntry), path_, buf);
  }

  // Frees the bloom filter of a run about to be merged away, so a merge never holds the
  // filters of its inputs and of its output at once. Lookups stay correct, only slower.
  void DropFilter() { std::vector<uint64_t>().swap(bloom_); }

  uint64_t count() const { return count_; }
  uint64_t number() const { return number_; }
  const std::string& path() const { return path_; }

 private:
  friend class RunBuilder;
  RunFile(std::string path, uint64_t number, int fd)
      : path_(std::move(path)), number_(number), fd_(fd) {}

  // The filter block (eight words) in which `h` sets and tests its bits.
  const uint64_t* FilterBlock(uint64_t h) const {
    return bloom_.data() + BloomBlock(h, bloom_.size() / 8) * 8;
  }

  std::string path_;
  uint64_t number_;
  int fd_;
  uint64_t count_ = 0;
  std::vector<uint64_t> bloom_;
  std::vector<uint64_t> sparse_;
};

// Writes a run from (hash, offset) pairs added in order, then syncs it.
class RunBuilder {
 public:
  static absl::StatusOr<RunBuilder> Create(std::string path, uint64_t number, uint64_t count) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
      return absl::InternalError(
          common::StrCat("cannot create ", path, ": ", std::strerror(errno)));
    }
    RunBuilder b(std::move(path), number, count, fd);
    std::string header(kRunMagic, 8);
    AppendU64(count, &header);
    AppendU64(b.blocks_, &header);
    AppendU64(0, &header);
    b.Put(header);
    return b;
  }
  RunBuilder(RunBuilder&& o) noexcept
      : path_(std::move(o.path_)),
        number_(o.number_),
        count_(o.count_),
        blocks_(o.blocks_),
        fd_(o.fd_),
        added_(o.added_),
        buf_(std::move(o.buf_)),
        bloom_(std::move(o.bloom_)),
        sparse_(std::move(o.sparse_)) {
    o.fd_ = -1;
  }
  ~RunBuilder() {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Add(uint64_t h, uint64_t offset) {
    if (added_ % kSparseEvery == 0) sparse_.push_back(h);
    ++added_;
    uint64_t* words = bloom_.data() + BloomBlock(h, blocks_) * 8;
    const uint64_t m = BloomMix(h);
    for (int i = 0; i < kBloomProbes; ++i) {
      const unsigned bit = static_cast<unsigned>((m >> (9 * i)) & 511);
      words[bit / 64] |= uint64_t{1} << (bit % 64);
    }
    char e[kRunEntry];
    PutU64(h, e);
    PutU64(offset, e + 8);
    buf_.append(e, kRunEntry);
    if (buf_.size() >= (1 << 20)) return Drain();
    return absl::OkStatus();
  }

  // Writes the bloom filter and the trailer, syncs, and hands the run over for reading.
  absl::StatusOr<std::unique_ptr<RunFile>> Finish() {
    if (added_ != count_) return absl::InternalError("a seen run got the wrong entry count");
    std::string bloom;
    bloom.reserve(bloom_.size() * 8);
    for (uint64_t w : bloom_) AppendU64(w, &bloom);
    Put(bloom);
    RETURN_IF_ERROR(Drain());
    const crypto::Digest sum = hasher_.Finish();
    RETURN_IF_ERROR(WriteAll(
        fd_, std::string_view(reinterpret_cast<const char*>(sum.data()), sum.size()), path_));
    if (::fdatasync(fd_) != 0) {
      return absl::InternalError(
          common::StrCat("syncing ", path_, " failed: ", std::strerror(errno)));
    }
    ::close(fd_);
    fd_ = -1;
    const int rfd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd < 0) return absl::InternalError(common::StrCat("cannot open ", path_));
    std::unique_ptr<RunFile> r(new RunFile(path_, number_, rfd));
    r->count_ = count_;
    r->bloom_ = std::move(bloom_);
    r->sparse_ = std::move(sparse_);
    return r;
  }

 private:
  RunBuilder(std::string path, uint64_t number, uint64_t count, int fd)
      : path_(std::move(path)),
        number_(number),
        count_(count),
        blocks_(std::max<uint64_t>(1, (count * kBloomBitsPerKey + 511) / 512)),
        fd_(fd),
        bloom_(blocks_ * 8, 0) {
    sparse_.reserve(count / kSparseEvery + 1);
  }
  void Put(std::string_view bytes) { buf_.append(bytes); }
  absl::Status Drain() {
    hasher_.Update(buf_);
    RETURN_IF_ERROR(WriteAll(fd_, buf_, path_));
    buf_.clear();
    return absl::OkStatus();
  }

  std::string path_;
  uint64_t number_, count_, blocks_;
  int fd_;
  uint64_t added_ = 0;
  std::string buf_;
  std::vector<uint64_t> bloom_, sparse_;
  crypto::Sha256Hasher hasher_;
};

// --- Writer ---

Writer::Writer(store::Database& db, Options options) : db_(db), options_(options) {}

Writer::~Writer() {
  if (read_fd_ >= 0) ::close(read_fd_);
}

absl::StatusOr<std::unique_ptr<Writer>> Writer::Open(store::Database& db, Options options) {
  if (options.memtable_limit == 0 || options.hash_bits < 1 || options.hash_bits > 64) {
    return absl::InvalidArgumentError("bad seen store options");
  }
  std::unique_ptr<Writer> w(new Writer(db, options));
  RETURN_IF_ERROR(w->Load());
  ASSIGN_OR_RETURN(bool v3, HasV3Table(db));
  ASSIGN_OR_RETURN(auto schema, db.GetMeta("schema"));
  if (v3 || schema == store::kPreviousSchemaName) RETURN_IF_ERROR(w->MigrateV3(v3));
  return w;
}

absl::Status Writer::Load() {
  dir_ = db_.dir() + "/seen";
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::InternalError(common::StrCat("cannot create ", dir_, ": ", ec.message()));
  ASSIGN_OR_RETURN(Meta m, ReadMeta(db_));
  if (!m.exists) {
    ASSIGN_OR_RETURN(std::string key, crypto::RandomBytes(16));
    RETURN_IF_ERROR(db_.SetMeta("seen_key", common::HexEncode(key)));
    m.key0 = GetU64(key.data());
    m.key1 = GetU64(key.data() + 8);
  }
  key0_ = m.key0;
  key1_ = m.key1;
  records_ = static_cast<int64_t>(m.records);
  covered_ = m.covered;
  next_file_ = m.next_file;
  const std::string log_path = dir_ + "/records.log";
  ASSIGN_OR_RETURN(log_, common::AppendFile::Open(log_path, static_cast<int64_t>(m.bytes)));
  read_fd_ = ::open(log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (read_fd_ < 0) return absl::InternalError(common::StrCat("cannot open ", log_path));
  // Run files no commit names: from a batch that never committed, or replaced by a merge whose
  // commit made it to disk (the WAL is synced first, so that commit cannot roll back).
  std::vector<std::string> listed;
  for (const auto& [number, count] : m.runs) listed.push_back(RunName(number));
  std::vector<std::string> stale;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("run-", 0) == 0 &&
        std::find(listed.begin(), listed.end(), name) == listed.end()) {
      stale.push_back(entry.path().string());
    }
  }
  if (!stale.empty() && SyncWal(db_.dir())) {
    for (const std::string& path : stale) ::unlink(path.c_str());
  }
  for (const auto& [number, count] : m.runs) {
    ASSIGN_OR_RETURN(auto run, RunFile::Open(dir_ + "/" + RunName(number), number, count));
    runs_.push_back(std::move(run));
  }
  // The memtable: the committed records no run covers yet. It starts small and doubles at 3/4
  // full, so it ends at about twice memtable_limit slots and a small state costs little.
  MemReset(1024);
  LogCursor tail(read_fd_, log_path, covered_, m.bytes);
  View v;
  uint64_t offset = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool more, tail.Next(&v, &offset));
    if (!more) return absl::OkStatus();
    MemInsert(HashId(key0_, key1_, options_.hash_bits, v.id), offset);
  }
}

absl::Status Writer::MigrateV3(bool table) {
  if (records_ != 0 || !runs_.empty()) {
    return absl::DataLossError(
        common::StrCat("the state in ", db_.dir(),
                       " has both a v3 `seen` table and a seen store; it was "
                       "edited"));
  }
  // ORDER BY first_seq: the log is in acceptance order (the governance report relies on it).
  // The sort may be large, so it spills to a temporary file rather than to memory.
  RETURN_IF_ERROR(db_.Exec("PRAGMA temp_store=FILE"));
  RETURN_IF_ERROR(db_.Begin());
  auto migrate = [&]() -> absl::Status {
    if (!table) return db_.SetMeta("schema", store::kSchemaName);
    ASSIGN_OR_RETURN(auto has_subject,
                     db_.Prepare("SELECT 1 FROM pragma_table_info('seen') WHERE name = 'subject'"));
    ASSIGN_OR_RETURN(bool subject_column, has_subject.Step());
    ASSIGN_OR_RETURN(auto q,
                     db_.Prepare(subject_column ? "SELECT id, digest, first_seq, subject FROM seen "
                                                  "ORDER BY first_seq, id"
                                                : "SELECT id, digest, first_seq, NULL FROM seen "
                                                  "ORDER BY first_seq, id"));
    crypto::Digest digest{};
    int64_t n = 0;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      const std::string_view d = q.Blob(1);
      if (d.size() != digest.size()) {
        return absl::DataLossError("a v3 `seen` row has a digest that is not 32 bytes");
      }
      std::memcpy(digest.data(), d.data(), d.size());
      const std::string_view id = q.Text(0);
      Stage(id, digest, q.Int(2), q.Blob(3), HashId(key0_, key1_, options_.hash_bits, id));
      if (++n % 65536 == 0) RETURN_IF_ERROR(Flush());
    }
    q = store::Statement();
    has_subject = store::Statement();
    RETURN_IF_ERROR(Flush());
    RETURN_IF_ERROR(SaveHead());
    RETURN_IF_ERROR(db_.Exec("DROP TABLE seen"));
    return db_.SetMeta("schema", store::kSchemaName);
  };
  absl::Status s = migrate();
  if (!s.ok()) {
    (void)db_.Rollback();
    (void)db_.Exec("PRAGMA temp_store=MEMORY");
    return s;
  }
  RETURN_IF_ERROR(db_.Commit());
  AfterCommit();
  return db_.Exec("PRAGMA temp_store=MEMORY");
}

void Writer::MemReset(size_t capacity) {
  mem_.assign(capacity, Slot{0, kEmpty});
  mem_count_ = 0;
}

void Writer::MemInsert(uint64_t hash, uint64_t offset) {
  if ((mem_count_ + 1) * 4 > mem_.size() * 3) {  // Over 3/4 full: a batch beyond the limit.
    std::vector<Slot> old;
    old.swap(mem_);
    MemReset(old.size() * 2);
    for (const Slot& s : old) {
      if (s.offset != kEmpty) MemInsert(s.hash, s.offset);
    }
  }
  const size_t mask = mem_.size() - 1;
  size_t i = MemSlot(hash);
  while (mem_[i].offset != kEmpty) i = (i + 1) & mask;
  mem_[i] = Slot{hash, offset};
  ++mem_count_;
}

void Writer::Stage(std::string_view id, const crypto::Digest& digest, int64_t first_seq,
                   std::string_view subject, uint64_t hash) {
  const uint64_t offset = static_cast<uint64_t>(log_->end());
  EncodeRecord(id, digest, first_seq, subject, &record_);
  log_->Append(record_);
  MemInsert(hash, offset);
  ++records_;
}

absl::Status Writer::ReadRecord(uint64_t offset, Record* out) {
  const uint64_t flushed = static_cast<uint64_t>(log_->position());
  if (offset >= flushed) {
    const std::string_view staged = log_->staged();
    const uint64_t at = offset - flushed;
    if (at + kRecordHeader > staged.size()) return Damaged(log_->path(), offset);
    const size_t size = RecordSize(staged.data() + at);
    if (size == 0 || at + size > staged.size()) return Damaged(log_->path(), offset);
    Fill(Decode(staged.substr(at, size)), out);
    return absl::OkStatus();
  }
  return ReadRecordAt(read_fd_, log_->path(), offset, flushed, &scratch_, out);
}

absl::StatusOr<bool> Writer::Insert(std::string_view id, const crypto::Digest& digest,
                                    int64_t first_seq, std::string_view subject,
                                    crypto::Digest* existing) {
  if (subject.size() > 0xFFFF || id.size() > 0xFFFFFFFFu) {
    return absl::InvalidArgumentError("a seen record's id or subject column is too long");
  }
  const uint64_t h = HashId(key0_, key1_, options_.hash_bits, id);
  auto same = [&](uint64_t offset) -> absl::StatusOr<bool> {
    RETURN_IF_ERROR(ReadRecord(offset, &probe_));
    if (probe_.id != id) return false;  // A hash collision: another id.
    *existing = probe_.digest;
    return true;
  };
  const size_t mask = mem_.size() - 1;
  for (size_t i = MemSlot(h); mem_[i].offset != kEmpty; i = (i + 1) & mask) {
    if (mem_[i].hash != h) continue;
    ASSIGN_OR_RETURN(bool found, same(mem_[i].offset));
    if (found) return false;
  }
  if (!runs_.empty()) {
    std::vector<uint64_t> offsets;
    for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
      offsets.clear();
      RETURN_IF_ERROR((*it)->Find(h, &offsets, &scratch_));
      for (uint64_t offset : offsets) {
        ASSIGN_OR_RETURN(bool found, same(offset));
        if (found) return false;
      }
    }
  }
  Stage(id, digest, first_seq, subject, h);
  return true;
}

void Writer::Prefetch(std::string_view id) const {
  const uint64_t h = HashId(key0_, key1_, options_.hash_bits, id);
  __builtin_prefetch(&mem_[MemSlot(h)]);
  for (const auto& run : runs_) run->PrefetchFilter(h);
}

absl::Status Writer::Flush() {
  RETURN_IF_ERROR(log_->Flush());
  if (mem_count_ < options_.memtable_limit) return absl::OkStatus();
  RETURN_IF_ERROR(WriteRun());
  RETURN_IF_ERROR(MergeRuns());
  SyncDir(dir_);  // The new runs' names must be durable before a commit names them.
  return absl::OkStatus();
}

absl::Status Writer::WriteRun() {
  size_t n = 0;
  for (const Slot& s : mem_) {
    if (s.offset != kEmpty) mem_[n++] = s;
  }
  std::sort(mem_.begin(), mem_.begin() + static_cast<std::ptrdiff_t>(n),
            [](const Slot& a, const Slot& b) {
              return a.hash != b.hash ? a.hash < b.hash : a.offset < b.offset;
            });
  const uint64_t number = next_file_++;
  ASSIGN_OR_RETURN(RunBuilder b, RunBuilder::Create(dir_ + "/" + RunName(number), number, n));
  for (size_t i = 0; i < n; ++i) RETURN_IF_ERROR(b.Add(mem_[i].hash, mem_[i].offset));
  ASSIGN_OR_RETURN(auto run, b.Finish());
  runs_.push_back(std::move(run));
  covered_ = static_cast<uint64_t>(log_->position());
  MemReset(mem_.size());
  return absl::OkStatus();
}

absl::Status Writer::MergeRuns() {
  // Size-tiered: the two newest runs merge while the older is under twice the newer, so the
  // sizes fall geometrically and there are about log2(N / memtable_limit) runs at most.
  while (runs_.size() >= 2 && runs_[runs_.size() - 2]->count() < 2 * runs_.back()->count()) {
    RunFile& a = *runs_[runs_.size() - 2];
    RunFile& b = *runs_.back();
    a.DropFilter();
    b.DropFilter();
    const uint64_t number = next_file_++;
    ASSIGN_OR_RETURN(RunBuilder out, RunBuilder::Create(dir_ + "/" + RunName(number), number,
                                                        a.count() + b.count()));
    // Two buffered cursors; ties on the hash go by record offset.
    struct Cursor {
      explicit Cursor(const RunFile& r) : run(r) {}
      const RunFile& run;
      uint64_t next = 0, buffered = 0, at = 0;
      std::string buf;
      absl::StatusOr<bool> Peek(uint64_t* h, uint64_t* off) {
        if (at == buffered) {
          if (next == run.count()) return false;
          const uint64_t n = std::min<uint64_t>(65536, run.count() - next);
          RETURN_IF_ERROR(run.Entries(next, n, &buf));
          next += n;
          buffered = n;
          at = 0;
        }
        *h = GetU64(buf.data() + at * kRunEntry);
        *off = GetU64(buf.data() + at * kRunEntry + 8);
        return true;
      }
    } ca(a), cb(b);
    uint64_t ha = 0, oa = 0, hb = 0, ob = 0;
    while (true) {
      ASSIGN_OR_RETURN(bool more_a, ca.Peek(&ha, &oa));
      ASSIGN_OR_RETURN(bool more_b, cb.Peek(&hb, &ob));
      if (!more_a && !more_b) break;
      const bool take_a = more_a && (!more_b || ha < hb || (ha == hb && oa < ob));
      if (take_a) {
        RETURN_IF_ERROR(out.Add(ha, oa));
        ++ca.at;
      } else {
        RETURN_IF_ERROR(out.Add(hb, ob));
        ++cb.at;
      }
    }
    ASSIGN_OR_RETURN(auto merged, out.Finish());
    dropped_.push_back(a.path());
    dropped_.push_back(b.path());
    runs_.pop_back();
    runs_.back() = std::move(merged);
  }
  return absl::OkStatus();
}

absl::Status Writer::SaveHead() {
  if (log_->end() != log_->position()) {
    return absl::FailedPreconditionError("seen records were not flushed before SaveHead");
  }
  std::string runs;
  for (const auto& r : runs_) {
    if (!runs.empty()) runs.push_back(' ');
    common::StrAppend(&runs, r->number(), ":", r->count());
  }
  RETURN_IF_ERROR(db_.SetMeta("seen_bytes", std::to_string(log_->position())));
  RETURN_IF_ERROR(db_.SetMeta("seen_records", std::to_string(records_)));
  RETURN_IF_ERROR(db_.SetMeta("seen_covered", std::to_string(covered_)));
  RETURN_IF_ERROR(db_.SetMeta("seen_next_file", std::to_string(next_file_)));
  return db_.SetMeta("seen_runs", runs);
}

void Writer::AfterCommit() {
  if (dropped_.empty()) return;
  // The commit that stopped naming them must survive a power loss before they go.
  if (!SyncWal(db_.dir())) return;
  for (const std::string& path : dropped_) ::unlink(path.c_str());
  dropped_.clear();
}

// --- Reader ---

Reader::Reader() = default;

Reader::~Reader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<Reader>> Reader::Open(store::Database& db, Options options) {
  ASSIGN_OR_RETURN(bool v3, HasV3Table(db));
  if (v3) {
    return absl::FailedPreconditionError(common::StrCat(
        "the state in ", db.dir(), " is ",
        "loopgate.state/v3, written by an earlier build; "
        "a `loopgate run` on it (with any input, even an empty file) migrates it to ",
        store::kSchemaName));
  }
  std::unique_ptr<Reader> r(new Reader);
  r->options_ = options;
  // The seen_* keys of one commit: inside the caller's read transaction, or in one of our own.
  const bool own_snapshot = sqlite3_get_autocommit(db.raw()) != 0;
  if (own_snapshot) RETURN_IF_ERROR(db.Exec("BEGIN"));
  auto meta = ReadMeta(db);
  if (own_snapshot) (void)db.Exec("COMMIT");
  if (!meta.ok()) return meta.status();
  const Meta& m = *meta;
  r->key0_ = m.key0;
  r->key1_ = m.key1;
  r->bytes_ = m.bytes;
  r->covered_ = m.covered;
  const std::string dir = db.dir() + "/seen";
  r->log_path_ = dir + "/records.log";
  if (m.bytes > 0) {
    r->fd_ = ::open(r->log_path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (r->fd_ < 0) {
      return absl::DataLossError(
          common::StrCat(r->log_path_, " is missing but ", m.bytes, " bytes of it were committed"));
    }
    struct stat st;
    if (::fstat(r->fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) < m.bytes) {
      return absl::DataLossError(common::StrCat(r->log_path_, " holds fewer bytes than the ",
                                                m.bytes, " committed to it"));
    }
  }
  for (const auto& [number, count] : m.runs) {
    auto run = RunFile::Open(dir + "/" + RunName(number), number, count);
    if (absl::IsNotFound(run.status())) {
      // A run's merge replaced it after this transaction's snapshot was taken.
      return absl::UnavailableError(
          common::StrCat("the seen store in ", dir, " changed while it was being read; try again"));
    }
    if (!run.ok()) return run.status();
    r->runs_.push_back(std::move(*run));
  }
  return r;
}

absl::StatusOr<bool> Reader::Find(std::string_view id, Record* out) {
  if (bytes_ == 0) return false;
  const uint64_t h = HashId(key0_, key1_, options_.hash_bits, id);
  std::vector<uint64_t> offsets;
  std::string buf;
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    offsets.clear();
    RETURN_IF_ERROR((*it)->Find(h, &offsets, &buf));
    for (uint64_t offset : offsets) {
      if (offset >= covered_) return Damaged(log_path_, offset);
      RETURN_IF_ERROR(ReadRecordAt(fd_, log_path_, offset, bytes_, &buf, out));
      if (out->id == id) return true;
    }
  }
  // The records after the runs: what the writer holds in its memtable. Scanned in order.
  LogCursor tail(fd_, log_path_, covered_, bytes_);
  View v;
  uint64_t offset = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool more, tail.Next(&v, &offset));
    if (!more) return false;
    if (v.id == id) {
      Fill(v, out);
      return true;
    }
  }
}

std::unique_ptr<RecordCursor> Reader::Records() const {
  if (bytes_ == 0) return std::unique_ptr<RecordCursor>(new RecordCursor(nullptr));
  return std::unique_ptr<RecordCursor>(
      new RecordCursor(std::make_unique<LogCursor>(fd_, log_path_, 0, bytes_)));
}

absl::Status Reader::ForEach(const std::function<absl::Status(const Record&)>& fn) {
  auto cursor = Records();
  Record r;
  while (true) {
    ASSIGN_OR_RETURN(bool more, cursor->Next(&r));
    if (!more) return absl::OkStatus();
    RETURN_IF_ERROR(fn(r));
  }
}

}  // namespace loopgate::seen
