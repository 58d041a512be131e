#include "report/audit.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loopgate::report {
namespace {

namespace fs = std::filesystem;

std::string Digest(std::string_view line) {
  return "sha256:" + crypto::ToHex(crypto::Sha256(line));
}

// Lines as a router would deliver them: distinct, since each names its event.
std::vector<std::string> Lines(int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) {
    out.push_back("{\"id\":\"evt-" + std::to_string(i) + "\",\"data\":{\"x\":" +
                  std::to_string(i * 7) + "}}");
  }
  return out;
}

class AuditTest : public testing::Test {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = testing::TempDir() + "/loopgate_audit_" + info->name() + "_" +
           std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ + "/crm.ndjson";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::vector<std::string>& lines, bool final_newline = true) {
    std::ofstream out(path_, std::ios::binary);
    for (size_t i = 0; i < lines.size(); ++i) {
      out << lines[i];
      if (i + 1 < lines.size() || final_newline) out << '\n';
    }
  }

  // Reconciles path_ against allows for `delivered` (seq = 10 * position), with `committed`.
  Reconciler Run(const std::vector<std::string>& delivered, size_t max_gaps = 100,
                 std::optional<int64_t> committed = std::nullopt) {
    Reconciler r(max_gaps);
    const size_t file = r.AddFile(path_, "crm", committed);
    for (size_t i = 0; i < delivered.size(); ++i) {
      const absl::Status s =
          r.OnAllow(file, static_cast<int64_t>(10 * (i + 1)), "crm", Digest(delivered[i]));
      EXPECT_TRUE(s.ok()) << s;
    }
    const absl::Status s = r.Finish();
    EXPECT_TRUE(s.ok()) << s;
    return r;
  }

  static std::string Describe(const Gap& g) {
    return std::string(GapKindName(g.kind)) + " " + g.sink + " lines " +
           std::to_string(g.line_first) + "-" + std::to_string(g.line_last) + " seqs " +
           std::to_string(g.seq_first) + "-" + std::to_string(g.seq_last) + " x" +
           std::to_string(g.count);
  }
  static std::vector<std::string> Describe(const Reconciler& r) {
    std::vector<std::string> out;
    for (const Gap& g : r.gaps()) out.push_back(Describe(g));
    return out;
  }

  std::string dir_, path_;
};

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST_F(AuditTest, IntactFileHasNoGaps) {
  const auto lines = Lines(3);
  Write(lines);
  Reconciler r = Run(lines);
  EXPECT_THAT(Describe(r), IsEmpty());
  EXPECT_EQ(r.total_gaps(), 0);
  const FileAudit& f = r.files()[0];
  EXPECT_TRUE(f.exists);
  EXPECT_EQ(f.lines, 3);
  EXPECT_EQ(f.allows, 3);
  EXPECT_EQ(f.matched, 3);
  EXPECT_EQ(f.bytes, static_cast<int64_t>(fs::file_size(path_)));
}

TEST_F(AuditTest, DeletedLineIsAMissingLineNamingItsSeq) {
  auto lines = Lines(5);
  auto file = lines;
  file.erase(file.begin() + 1);  // Line 2, the allow at seq 20.
  Write(file);
  Reconciler r = Run(lines);
  EXPECT_THAT(Describe(r), ElementsAre("missing_line crm lines 0-0 seqs 20-20 x1"));
  EXPECT_EQ(r.files()[0].matched, 4);
  EXPECT_EQ(r.files()[0].missing, 1);
  EXPECT_EQ(r.files()[0].unrecorded, 0);
}

TEST_F(AuditTest, ForgedLineIsUnrecordedAtItsLineNumber) {
  auto lines = Lines(4);
  auto file = lines;
  file.insert(file.begin() + 2, "{\"id\":\"forged\",\"data\":{}}");  // Becomes line 3.
  Write(file);
  Reconciler r = Run(lines);
  EXPECT_THAT(Describe(r), ElementsAre("unrecorded_line crm lines 3-3 seqs 0-0 x1"));
  EXPECT_EQ(r.files()[0].matched, 4);
  EXPECT_EQ(r.files()[0].lines, 5);
}

TEST_F(AuditTest, ChangedByteIsAModifiedLineWithItsSeq) {
  auto lines = Lines(4);
  auto file = lines;
  file[2][file[2].size() - 3] ^= 1;  // One byte of line 3.
  Write(file);
  Reconciler r = Run(lines);
  EXPECT_THAT(Describe(r), ElementsAre("modified_line crm lines 3-3 seqs 30-30 x1"));
  const FileAudit& f = r.files()[0];
  EXPECT_EQ(f.matched, 3);
  EXPECT_EQ(f.missing, 1);
  EXPECT_EQ(f.unrecorded, 1);
  EXPECT_EQ(f.modified, 1);
}

TEST_F(AuditTest, AFileCutShortMissesARunOfAllows) {
  const auto lines = Lines(6);
  Write({lines[0], lines[1]});
  Reconciler r = Run(lines);
  EXPECT_THAT(Describe(r), ElementsAre("missing_line crm lines 0-0 seqs 30-60 x4"));
}

TEST_F(AuditTest, AnAbsentFileMissesEveryAllow) {
  Reconciler r = Run(Lines(3));
  EXPECT_FALSE(r.files()[0].exists);
  EXPECT_THAT(Describe(r), ElementsAre("missing_line crm lines 0-0 seqs 10-30 x3"));
}

TEST_F(AuditTest, AnAbsentFileWithoutAllowsIsComplete) {
  Reconciler r = Run({});
  EXPECT_FALSE(r.files()[0].exists);
  EXPECT_EQ(r.total_gaps(), 0);
}

TEST_F(AuditTest, LinesOfAFileNoAllowNamesAreUnrecorded) {
  Write(Lines(3));
  Reconciler r = Run({});
  EXPECT_THAT(Describe(r), ElementsAre("unrecorded_line crm lines 1-3 seqs 0-0 x3"));
}

TEST_F(AuditTest, ACopiedLineIsUnrecordedOnce) {
  auto lines = Lines(3);
  Write({lines[0], lines[1], lines[1], lines[2]});
  Reconciler r = Run(lines);
  EXPECT_EQ(r.files()[0].matched, 3);
  EXPECT_EQ(r.files()[0].unrecorded, 1);
  ASSERT_EQ(r.gaps().size(), 1u);
  EXPECT_EQ(r.gaps()[0].kind, GapKind::kUnrecordedLine);
  // The copy is either line 2 or 3; they are identical, so either accounts for the other.
  EXPECT_TRUE(r.gaps()[0].line_first == 2 || r.gaps()[0].line_first == 3);
}

TEST_F(AuditTest, LinesBeyondTheCommittedPositionAreUncommitted) {
  auto lines = Lines(3);
  Write({lines[0], lines[1], lines[2], "{\"id\":\"evt-4\"}", "{\"id\":\"evt-5\"}"});
  int64_t committed = 0;
  for (const auto& l : lines) committed += static_cast<int64_t>(l.size()) + 1;
  Reconciler r = Run(lines, 100, committed);
  EXPECT_THAT(Describe(r), ElementsAre("uncommitted_line crm lines 4-5 seqs 0-0 x2"));
}

TEST_F(AuditTest, ALastLineWithoutNewlineIsStillALine) {
  const auto lines = Lines(3);
  Write(lines, /*final_newline=*/false);
  Reconciler r = Run(lines);
  EXPECT_EQ(r.total_gaps(), 0);
  EXPECT_EQ(r.files()[0].lines, 3);
}

TEST_F(AuditTest, AnEmptyLineIsUnrecorded) {
  auto lines = Lines(2);
  Write({lines[0], "", lines[1]});
  Reconciler r = Run(lines);
  EXPECT_THAT(Describe(r), ElementsAre("unrecorded_line crm lines 2-2 seqs 0-0 x1"));
}

TEST_F(AuditTest, SwappedLinesStillReconcile) {
  // Completeness is about presence: each line is matched by its digest wherever it is.
  auto lines = Lines(4);
  Write({lines[0], lines[2], lines[1], lines[3]});
  Reconciler r = Run(lines);
  EXPECT_EQ(r.total_gaps(), 0);
  EXPECT_EQ(r.files()[0].matched, 4);
}

TEST_F(AuditTest, SeveralDamagesInOneFileAreEachReported) {
  auto lines = Lines(10);
  auto file = lines;
  file[8][5] ^= 1;                                  // Line 9 changed (seq 90).
  file.erase(file.begin() + 3);                     // Line 4 deleted (seq 40).
  file.insert(file.begin() + 6, "{\"forged\":1}");  // A forged line.
  Write(file);
  Reconciler r = Run(lines);
  // After the deletion, the changed line (the 9th allow) sits at line 9 of the file again
  // because of the forged line before it, so it pairs up as modified.
  EXPECT_THAT(Describe(r), ElementsAre("missing_line crm lines 0-0 seqs 40-40 x1",
                                       "unrecorded_line crm lines 7-7 seqs 0-0 x1",
                                       "modified_line crm lines 9-9 seqs 90-90 x1"));
  EXPECT_EQ(r.files()[0].matched, 8);
}

TEST_F(AuditTest, ManyLinesAfterAnEarlyDeletionAreMatchedOnDisk) {
  // Deleting line 1 of 100,000 puts the whole file in the scratch database.
  const auto lines = Lines(100000);
  Write(std::vector<std::string>(lines.begin() + 1, lines.end()));
  Reconciler r = Run(lines);
  EXPECT_THAT(Describe(r), ElementsAre("missing_line crm lines 0-0 seqs 10-10 x1"));
  EXPECT_EQ(r.files()[0].matched, 99999);
}

TEST_F(AuditTest, GapRecordsAreCappedButCounted) {
  auto lines = Lines(20);
  auto file = lines;
  for (size_t i = 0; i < file.size(); i += 2) file[i] += " ";  // Every other line changed.
  Write(file);
  Reconciler r = Run(lines, /*max_gaps=*/3);
  EXPECT_EQ(r.gaps().size(), 3u);
  EXPECT_EQ(r.total_gaps(), 10);
  EXPECT_EQ(r.files()[0].modified, 10);
}

TEST_F(AuditTest, TwoFilesAreReconciledApart) {
  const auto a = Lines(3);
  Write(a);
  const std::string other = dir_ + "/lake.ndjson";
  std::ofstream(other, std::ios::binary) << "{\"x\":1}\n";
  Reconciler r(100);
  const size_t crm = r.AddFile(path_, "crm", std::nullopt);
  const size_t lake = r.AddFile(other, "lake", std::nullopt);
  EXPECT_EQ(r.AddFile(path_, "crm_v2", std::nullopt), crm);  // Same file, another sink.
  ASSERT_TRUE(r.OnAllow(crm, 1, "crm", Digest(a[0])).ok());
  ASSERT_TRUE(r.OnAllow(lake, 2, "lake", Digest("{\"x\":1}")).ok());
  ASSERT_TRUE(r.OnAllow(crm, 3, "crm", Digest(a[1])).ok());
  ASSERT_TRUE(r.OnAllow(lake, 4, "lake", Digest("{\"x\":2}")).ok());
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_THAT(r.files()[crm].sinks, ElementsAre("crm", "crm_v2"));
  EXPECT_THAT(Describe(r), ElementsAre("unrecorded_line crm,crm_v2 lines 3-3 seqs 0-0 x1",
                                       "missing_line lake lines 0-0 seqs 4-4 x1"));
}

TEST_F(AuditTest, UnmappedAllowsAreGapsWithoutAFile) {
  Reconciler r(100);
  r.OnUnmappedAllow(5, "crm");
  r.OnUnmappedAllow(9, "crm");
  r.OnUnmappedAllow(12, "lake");
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(r.unmapped_allows(), 3);
  EXPECT_THAT(Describe(r), ElementsAre("unmapped_allow crm lines 0-0 seqs 5-9 x2",
                                       "unmapped_allow lake lines 0-0 seqs 12-12 x1"));
}

}  // namespace
}  // namespace loopgate::report
