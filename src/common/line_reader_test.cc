#include "common/line_reader.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace loopgate::common {
namespace {

using std::string_literals::operator""s;

constexpr size_t kMiB = 1 << 20;

// An in-memory file holding `content`, positioned at its start.
class MemFile {
 public:
  explicit MemFile(std::string_view content) : fd_(memfd_create("line_reader_test", 0)) {
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(fd_, content.data() + done, content.size() - done);
      if (n <= 0) {
        ADD_FAILURE() << "write failed: " << std::strerror(errno);
        return;
      }
      done += static_cast<size_t>(n);
    }
    EXPECT_EQ(::lseek(fd_, 0, SEEK_SET), 0);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  int fd() const { return fd_; }

 private:
  int fd_;
};

struct OwnedLine {
  std::string text;
  uint64_t number;
  bool oversized;
  uint64_t length;
};

// Reads every line until end of input, copying text (it is only valid until the next call).
std::vector<OwnedLine> ReadAll(LineReader& reader) {
  std::vector<OwnedLine> lines;
  Line line;
  while (true) {
    auto more = reader.Next(&line);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) {
      break;
    }
    lines.push_back({std::string(line.text), line.number, line.oversized, line.length});
  }
  return lines;
}

std::vector<OwnedLine> ReadAll(std::string_view content, size_t max_line_bytes) {
  MemFile file(content);
  LineReader reader(file.fd(), max_line_bytes);
  return ReadAll(reader);
}

TEST(LineReaderTest, EmptyInputHasNoLines) {
  MemFile file("");
  LineReader reader(file.fd(), 1024);
  Line line;
  auto more = reader.Next(&line);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_FALSE(*more);
  // End of input is sticky.
  more = reader.Next(&line);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_FALSE(*more);
  EXPECT_EQ(reader.bytes_read(), 0u);
}

TEST(LineReaderTest, LinesWithTrailingNewline) {
  const auto lines = ReadAll("alpha\nbeta\n", 1024);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "alpha");
  EXPECT_EQ(lines[0].number, 1u);
  EXPECT_EQ(lines[0].length, 5u);
  EXPECT_FALSE(lines[0].oversized);
  EXPECT_EQ(lines[1].text, "beta");
  EXPECT_EQ(lines[1].number, 2u);
  EXPECT_EQ(lines[1].length, 4u);
  EXPECT_FALSE(lines[1].oversized);
}

TEST(LineReaderTest, LastLineWithoutTrailingNewline) {
  const auto lines = ReadAll("alpha\nbeta", 1024);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "alpha");
  EXPECT_EQ(lines[1].text, "beta");
  EXPECT_EQ(lines[1].number, 2u);
  EXPECT_EQ(lines[1].length, 4u);

  const auto single = ReadAll("only", 1024);
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0].text, "only");
  EXPECT_EQ(single[0].number, 1u);
}

TEST(LineReaderTest, BlankLinesAreReturnedEmptyAndCounted) {
  const auto lines = ReadAll("\na\n\n\nb\n\n", 1024);
  ASSERT_EQ(lines.size(), 6u);
  const char* texts[] = {"", "a", "", "", "b", ""};
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(lines[i].text, texts[i]);
    EXPECT_EQ(lines[i].number, i + 1);
    EXPECT_EQ(lines[i].length, std::strlen(texts[i]));
    EXPECT_FALSE(lines[i].oversized);
  }
}

TEST(LineReaderTest, CrlfKeepsTheCarriageReturn) {
  const auto lines = ReadAll("a\r\nbc\r\n\r\n", 1024);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "a\r");
  EXPECT_EQ(lines[0].length, 2u);
  EXPECT_EQ(lines[1].text, "bc\r");
  EXPECT_EQ(lines[2].text, "\r");
  EXPECT_EQ(lines[2].number, 3u);
}

TEST(LineReaderTest, NulBytesArePartOfTheLine) {
  const auto lines = ReadAll("a\0b\n\0\n"s, 1024);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "a\0b"s);
  EXPECT_EQ(lines[1].text, "\0"s);
}

TEST(LineReaderTest, LineOfExactlyMaxBytesIsNotOversized) {
  const std::string exact(16, 'x');
  const auto lines = ReadAll(exact + "\n" + exact, 16);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) {
    EXPECT_FALSE(line.oversized);
    EXPECT_EQ(line.text, exact);
    EXPECT_EQ(line.length, 16u);
  }
}

TEST(LineReaderTest, LongerLineIsOversizedAndTheNextLineIsIntact) {
  // The whole input fits in one read, so the newline is already buffered when the long line is
  // seen: the cap must hold in that case too.
  const auto lines = ReadAll("short\n" + std::string(17, 'x') + "\nnext\n", 16);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "short");
  EXPECT_FALSE(lines[0].oversized);
  EXPECT_TRUE(lines[1].oversized);
  EXPECT_EQ(lines[1].text, "");
  EXPECT_EQ(lines[1].length, 17u);
  EXPECT_EQ(lines[1].number, 2u);
  EXPECT_EQ(lines[2].text, "next");
  EXPECT_FALSE(lines[2].oversized);
  EXPECT_EQ(lines[2].number, 3u);
  EXPECT_EQ(lines[2].length, 4u);
}

TEST(LineReaderTest, OversizedLastLineWithoutNewline) {
  const auto lines = ReadAll("ok\n" + std::string(100, 'y'), 16);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "ok");
  EXPECT_TRUE(lines[1].oversized);
  EXPECT_EQ(lines[1].text, "");
  EXPECT_EQ(lines[1].length, 100u);
  EXPECT_EQ(lines[1].number, 2u);
}

TEST(LineReaderTest, OversizedLineSpanningSeveralReads) {
  const std::string huge(3 * kMiB, 'z');
  const std::string content = "first\n" + huge + "\nafter\n";
  MemFile file(content);
  LineReader reader(file.fd(), kMiB);
  const auto lines = ReadAll(reader);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "first");
  EXPECT_TRUE(lines[1].oversized);
  EXPECT_EQ(lines[1].text, "");
  EXPECT_EQ(lines[1].length, 3 * kMiB);
  EXPECT_EQ(lines[1].number, 2u);
  EXPECT_EQ(lines[2].text, "after");
  EXPECT_FALSE(lines[2].oversized);
  EXPECT_EQ(lines[2].number, 3u);
  EXPECT_EQ(reader.bytes_read(), content.size());
}

TEST(LineReaderTest, SeveralOversizedLinesInARow) {
  const std::string big(kMiB + 10, 'q');
  const auto lines = ReadAll(big + "\n" + big + "\n\nend", kMiB);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(lines[0].oversized);
  EXPECT_EQ(lines[0].length, big.size());
  EXPECT_TRUE(lines[1].oversized);
  EXPECT_EQ(lines[1].length, big.size());
  EXPECT_EQ(lines[1].number, 2u);
  EXPECT_EQ(lines[2].text, "");
  EXPECT_FALSE(lines[2].oversized);
  EXPECT_EQ(lines[3].text, "end");
  EXPECT_EQ(lines[3].number, 4u);
}

// Deterministic line contents of varied lengths (0..max) and bytes, never a newline.
std::vector<std::string> MakeLines(size_t total_bytes, size_t max_len) {
  std::vector<std::string> lines;
  uint32_t state = 12345;
  size_t total = 0;
  while (total < total_bytes) {
    state = state * 1103515245 + 12345;
    size_t len = (state >> 8) % (max_len + 1);
    if (lines.size() % 97 == 0) {
      len = max_len;  // Regularly a line of exactly the cap.
    }
    std::string line(len, '\0');
    for (size_t i = 0; i < len; ++i) {
      char c = static_cast<char>('!' + (i + lines.size()) % 90);
      line[i] = c;
    }
    total += len + 1;
    lines.push_back(std::move(line));
  }
  return lines;
}

TEST(LineReaderTest, ManyLinesAcrossChunkBoundariesComeBackByteExact) {
  const size_t kMax = 3000;
  const auto expected = MakeLines(3 * kMiB + 12345, kMax);
  std::string content;
  for (const auto& line : expected) {
    content += line;
    content += '\n';
  }
  MemFile file(content);
  LineReader reader(file.fd(), kMax);
  const auto lines = ReadAll(reader);
  ASSERT_EQ(lines.size(), expected.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(lines[i].text, expected[i]) << "line " << i + 1;
    ASSERT_EQ(lines[i].number, i + 1);
    ASSERT_EQ(lines[i].length, expected[i].size());
    ASSERT_FALSE(lines[i].oversized);
  }
  EXPECT_EQ(reader.bytes_read(), content.size());
}

TEST(LineReaderTest, PipeWithSmallWritesSplittingLines) {
  // Lines arrive in pieces that split them at arbitrary points, as from a slow producer.
  const auto expected = MakeLines(200000, 500);
  std::string content;
  for (const auto& line : expected) {
    content += line;
    content += '\n';
  }
  content += "tail without newline";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread writer([&] {
    size_t done = 0;
    size_t piece = 1;
    while (done < content.size()) {
      const size_t n = std::min(piece, content.size() - done);
      const ssize_t w = ::write(fds[1], content.data() + done, n);
      if (w <= 0) {
        break;
      }
      done += static_cast<size_t>(w);
      piece = piece % 4093 + 7;
    }
    ::close(fds[1]);
  });
  LineReader reader(fds[0], 500);
  const auto lines = ReadAll(reader);
  writer.join();
  ::close(fds[0]);
  ASSERT_EQ(lines.size(), expected.size() + 1);
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(lines[i].text, expected[i]) << "line " << i + 1;
    ASSERT_EQ(lines[i].number, i + 1);
  }
  EXPECT_EQ(lines.back().text, "tail without newline");
  EXPECT_EQ(reader.bytes_read(), content.size());
}

TEST(LineReaderTest, ReadErrorIsReported) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  // Reading the write end of a pipe fails with EBADF.
  LineReader reader(fds[1], 1024);
  Line line;
  auto more = reader.Next(&line);
  EXPECT_FALSE(more.ok());
  ::close(fds[1]);
}


TEST(LineReaderTest, AnIdlePipeIsReportedAndReadingGoesOn) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  LineReader reader(fds[0], 1 << 20, /*idle_ms=*/20);
  Line line;
  ASSERT_EQ(::write(fds[1], "a\n", 2), 2);
  auto more = reader.Next(&line);
  ASSERT_TRUE(more.ok());
  ASSERT_TRUE(*more);
  EXPECT_EQ(line.text, "a");
  // Nothing more has been written: idle, not the end.
  more = reader.Next(&line);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_TRUE(reader.idle());
  // Input resumes, with a line split across two writes.
  ASSERT_EQ(::write(fds[1], "b", 1), 1);
  more = reader.Next(&line);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_TRUE(reader.idle());
  ASSERT_EQ(::write(fds[1], "c\n", 2), 2);
  more = reader.Next(&line);
  ASSERT_TRUE(more.ok());
  ASSERT_TRUE(*more);
  EXPECT_EQ(line.text, "bc");
  EXPECT_EQ(line.number, 2u);
  ::close(fds[1]);
  more = reader.Next(&line);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_FALSE(reader.idle());  // The real end.
  ::close(fds[0]);
}

}  // namespace
}  // namespace loopgate::common
