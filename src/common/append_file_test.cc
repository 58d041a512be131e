#include "common/append_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace loopgate::common {
namespace {

class AppendFileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/append_file_test_" + std::to_string(::getpid()) + "_" +
           testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/f";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Contents() {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  std::string dir_, path_;
};

TEST_F(AppendFileTest, NewFileStagesUntilFlush) {
  auto f = AppendFile::Open(path_, 0);
  ASSERT_TRUE(f.ok()) << f.status();
  (*f)->Append("abc");
  (*f)->Append("de");
  EXPECT_EQ((*f)->position(), 0);
  EXPECT_EQ((*f)->end(), 5);
  EXPECT_EQ(Contents(), "");  // Staged only.
  ASSERT_TRUE((*f)->Flush().ok());
  EXPECT_EQ((*f)->position(), 5);
  EXPECT_EQ(Contents(), "abcde");
}

TEST_F(AppendFileTest, ReopenCutsAnUncommittedTailAndAppendsAfterTheCommittedPart) {
  {
    auto f = AppendFile::Open(path_, 0);
    ASSERT_TRUE(f.ok());
    (*f)->Append("committed|uncommitted");
    ASSERT_TRUE((*f)->Flush().ok());
  }
  auto f = AppendFile::Open(path_, 10);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(Contents(), "committed|");
  (*f)->Append("next");
  ASSERT_TRUE((*f)->Flush().ok());
  EXPECT_EQ(Contents(), "committed|next");
  EXPECT_EQ((*f)->position(), 14);
}

TEST_F(AppendFileTest, ShorterThanCommittedIsDataLoss) {
  {
    std::ofstream out(path_);
    out << "abc";
  }
  auto f = AppendFile::Open(path_, 10);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(f.status().message()).find(path_), std::string::npos);
  EXPECT_EQ(Contents(), "abc");  // Untouched.
}

TEST_F(AppendFileTest, MissingButCommittedIsDataLoss) {
  auto f = AppendFile::Open(path_, 1);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(std::filesystem::exists(path_));  // Not created.
}

TEST_F(AppendFileTest, ReadAtReadsAndNamesAShortFile) {
  {
    std::ofstream out(path_);
    out << "0123456789";
  }
  const int fd = ::open(path_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string out;
  ASSERT_TRUE(ReadAt(fd, 3, 4, "the file", &out).ok());
  EXPECT_EQ(out, "3456");
  const absl::Status s = ReadAt(fd, 8, 4, "the file", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(s.message()).find("the file"), std::string::npos);
  ::close(fd);
}

}  // namespace
}  // namespace loopgate::common
