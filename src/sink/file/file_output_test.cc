#include "sink/file/file_output.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sink/sink.h"

namespace loopgate::sink {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FileOutputTest : public testing::Test {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::absolute(testing::TempDir() + "/loopgate_sink_" + info->test_suite_name() + "_" +
                         info->name() + "_" + std::to_string(::getpid()))
                .lexically_normal()
                .string();
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void Write(const std::string& path, std::string_view text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  static void MustFlush(Output& out) {
    std::string error;
    EXPECT_EQ(out.Flush(&error), FlushStatus::kDelivered) << error;
  }

  std::string root_;
};

TEST_F(FileOutputTest, AppendAndFlushWriteLinesAndAdvancePosition) {
  const std::string path = root_ + "/crm.ndjson";
  auto out = file::OpenFile(path, /*fsync=*/false);
  EXPECT_EQ(out->key(), path);
  ASSERT_TRUE(out->Recover(std::nullopt).ok());
  EXPECT_EQ(out->Position(), 0);

  out->Append("{\"id\":\"a\"}");
  out->Append("{\"id\":\"b\"}");
  // Staged only: nothing reaches the file before Flush().
  EXPECT_EQ(Read(path), "");
  EXPECT_EQ(out->Position(), 0);

  MustFlush(*out);
  EXPECT_EQ(Read(path), "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
  EXPECT_EQ(out->Position(), 22);

  out->Append("c");
  EXPECT_EQ(out->Position(), 22);
  MustFlush(*out);
  EXPECT_EQ(Read(path), "{\"id\":\"a\"}\n{\"id\":\"b\"}\nc\n");
  EXPECT_EQ(out->Position(), 24);
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(path)), out->Position());
}

TEST_F(FileOutputTest, FlushWithFsyncWritesToo) {
  const std::string path = root_ + "/synced.ndjson";
  auto out = file::OpenFile(path, /*fsync=*/true);
  ASSERT_TRUE(out->Recover(std::nullopt).ok());
  out->Append("x");
  MustFlush(*out);
  EXPECT_EQ(Read(path), "x\n");
  EXPECT_EQ(out->Position(), 2);
}

TEST_F(FileOutputTest, FlushWithNothingStagedChangesNothing) {
  const std::string path = root_ + "/empty.ndjson";
  auto out = file::OpenFile(path, false);
  ASSERT_TRUE(out->Recover(std::nullopt).ok());
  MustFlush(*out);
  EXPECT_EQ(out->Position(), 0);
  EXPECT_EQ(Read(path), "");
}

TEST_F(FileOutputTest, RecoverNeverCommittedAppendsAfterExistingContent) {
  const std::string path = root_ + "/existing.ndjson";
  Write(path, "old line\n");
  auto out = file::OpenFile(path, false);
  ASSERT_TRUE(out->Recover(std::nullopt).ok());
  EXPECT_EQ(out->Position(), 9);
  EXPECT_EQ(Read(path), "old line\n");  // Never destroyed.
  out->Append("new");
  MustFlush(*out);
  EXPECT_EQ(Read(path), "old line\nnew\n");
  EXPECT_EQ(out->Position(), 13);
}

TEST_F(FileOutputTest, RecoverNeverCommittedOnMissingFileStartsEmpty) {
  const std::string path = root_ + "/new.ndjson";
  auto out = file::OpenFile(path, false);
  ASSERT_TRUE(out->Recover(std::nullopt).ok());
  EXPECT_EQ(out->Position(), 0);
  EXPECT_TRUE(fs::exists(path));
}

TEST_F(FileOutputTest, RecoverCreatesParentDirectories) {
  const std::string path = root_ + "/a/b/out.ndjson";
  auto out = file::OpenFile(path, false);
  ASSERT_TRUE(out->Recover(std::nullopt).ok());
  out->Append("x");
  MustFlush(*out);
  EXPECT_EQ(Read(path), "x\n");
}

TEST_F(FileOutputTest, RecoverCommittedCutsTheUncommittedTail) {
  const std::string path = root_ + "/tail.ndjson";
  Write(path, "one\ntwo\nhalf-writ");
  auto out = file::OpenFile(path, false);
  ASSERT_TRUE(out->Recover(8).ok());
  EXPECT_EQ(out->Position(), 8);
  EXPECT_EQ(Read(path), "one\ntwo\n");
  out->Append("three");
  MustFlush(*out);
  EXPECT_EQ(Read(path), "one\ntwo\nthree\n");
  EXPECT_EQ(out->Position(), 14);
}

TEST_F(FileOutputTest, RecoverCommittedAtExactSizeKeepsEverything) {
  const std::string path = root_ + "/exact.ndjson";
  Write(path, "one\ntwo\n");
  auto out = file::OpenFile(path, false);
  ASSERT_TRUE(out->Recover(8).ok());
  EXPECT_EQ(out->Position(), 8);
  out->Append("three");
  MustFlush(*out);
  EXPECT_EQ(Read(path), "one\ntwo\nthree\n");
}

TEST_F(FileOutputTest, RecoverAfterACrashRedoesTheUncommittedBatch) {
  const std::string path = root_ + "/crash.ndjson";
  int64_t committed = 0;
  {
    auto out = file::OpenFile(path, false);
    ASSERT_TRUE(out->Recover(std::nullopt).ok());
    out->Append("batch-1");
    MustFlush(*out);
    committed = out->Position();  // The router stores this with its commit.
    out->Append("batch-2");
    MustFlush(*out);  // Durable, but the state commit never happened.
  }
  auto out = file::OpenFile(path, false);
  ASSERT_TRUE(out->Recover(committed).ok());
  out->Append("batch-2");
  MustFlush(*out);
  EXPECT_EQ(Read(path), "batch-1\nbatch-2\n");
}

TEST_F(FileOutputTest, RecoverOnAShorterFileIsDataLossAndLeavesItAlone) {
  const std::string path = root_ + "/short.ndjson";
  Write(path, "ab\n");
  auto out = file::OpenFile(path, false);
  const absl::Status s = out->Recover(10);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(Read(path), "ab\n");
}

TEST_F(FileOutputTest, RecoverCommittedButMissingStartsAtZero) {
  const std::string path = root_ + "/consumed.ndjson";
  auto out = file::OpenFile(path, false);
  ASSERT_TRUE(out->Recover(100).ok());
  EXPECT_EQ(out->Position(), 0);
  out->Append("x");
  MustFlush(*out);
  EXPECT_EQ(Read(path), "x\n");
  EXPECT_EQ(out->Position(), 2);
}

TEST_F(FileOutputTest, PluginsListFileWithItsOptions) {
  std::set<std::string_view> types;
  for (const Plugin& p : Plugins()) {
    EXPECT_TRUE(types.insert(p.type).second) << "duplicate plugin " << p.type;
    EXPECT_NE(p.create, nullptr);
  }
  EXPECT_TRUE(types.count("file"));
  const Plugin* file = FindPlugin("file");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->type, "file");
  std::set<std::string_view> options;
  for (const auto& o : file->options) options.insert(o.name);
  EXPECT_EQ(options, (std::set<std::string_view>{"path", "fsync"}));
  EXPECT_EQ(FindPlugin("kafka"), nullptr);
}

TEST_F(FileOutputTest, ValidateOutputAcceptsTheFileType) {
  catalog::SinkOutput out;
  EXPECT_EQ(ValidateOutput(out), "");
  out.options = {{"path", "x/y.ndjson"}, {"fsync", "false"}};
  EXPECT_EQ(ValidateOutput(out), "");
  out.options = {{"fsync", "true"}};
  EXPECT_EQ(ValidateOutput(out), "");
}

TEST_F(FileOutputTest, ValidateOutputRejectsAnUnknownType) {
  catalog::SinkOutput out;
  out.type = "kafka";
  const std::string msg = ValidateOutput(out);
  EXPECT_THAT(msg, HasSubstr("unknown output type 'kafka'"));
  EXPECT_THAT(msg, HasSubstr("file"));  // Lists what is available.
}

TEST_F(FileOutputTest, ValidateOutputRejectsAnUnknownOption) {
  catalog::SinkOutput out;
  out.options = {{"pth", "x.ndjson"}};
  const std::string msg = ValidateOutput(out);
  EXPECT_THAT(msg, HasSubstr("no option 'pth'"));
  EXPECT_THAT(msg, HasSubstr("path"));
}

TEST_F(FileOutputTest, ValidateOutputRejectsABadBool) {
  for (const char* bad : {"yes", "1", "TRUE", ""}) {
    catalog::SinkOutput out;
    out.options = {{"fsync", bad}};
    EXPECT_THAT(ValidateOutput(out), HasSubstr("must be true or false")) << bad;
  }
}

TEST_F(FileOutputTest, OptionValueFallsBackToTheDeclaredDefault) {
  const Plugin* file = FindPlugin("file");
  ASSERT_NE(file, nullptr);
  catalog::SinkOutput out;
  EXPECT_EQ(OptionValue(out, *file, "fsync"), "true");
  EXPECT_EQ(OptionValue(out, *file, "path"), "");
  out.options = {{"fsync", "false"}};
  EXPECT_EQ(OptionValue(out, *file, "fsync"), "false");
}

TEST_F(FileOutputTest, CreateOutputUsesTheDefaultPathUnderOut) {
  catalog::SinkOutput config;
  OutputContext context{root_ + "/out", "crm"};
  auto out = CreateOutput(config, context);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)->key(), root_ + "/out/crm.ndjson");
  ASSERT_TRUE((*out)->Recover(std::nullopt).ok());
  (*out)->Append("line");
  MustFlush(**out);
  EXPECT_EQ(Read(root_ + "/out/crm.ndjson"), "line\n");
}

TEST_F(FileOutputTest, CreateOutputResolvesARelativePathUnderOut) {
  catalog::SinkOutput config;
  config.options = {{"path", "sub/../lake/data.ndjson"}};
  auto out = CreateOutput(config, OutputContext{root_ + "/out", "lake"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)->key(), root_ + "/out/lake/data.ndjson");
}

TEST_F(FileOutputTest, CreateOutputKeepsAnAbsolutePath) {
  catalog::SinkOutput config;
  config.options = {{"path", root_ + "/elsewhere/x.ndjson"}};
  auto out = CreateOutput(config, OutputContext{root_ + "/out", "x"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)->key(), root_ + "/elsewhere/x.ndjson");
}

TEST_F(FileOutputTest, CreateOutputRejectsAnUnknownType) {
  catalog::SinkOutput config;
  config.type = "kafka";
  auto out = CreateOutput(config, OutputContext{root_, "x"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("kafka"));
}

}  // namespace
}  // namespace loopgate::sink
