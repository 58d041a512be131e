// The command line as users meet it: configuration errors, registries, explain, export.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;

std::string Catalog() { return SourceDir() + "/examples/reference/catalog.yaml"; }

TEST(Cli, CatalogErrorNamesFileLineColumnAndWritesNothing) {
  TempDir dir;
  std::string yaml = ReadFile(Catalog());
  const size_t at = yaml.find("max_level: pseudonymous");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, 9, "max_levle");
  WriteFile(dir / "bad.yaml", yaml);
  // Line and column of the typo, 1-based.
  const size_t line = static_cast<size_t>(std::count(yaml.begin(), yaml.begin() + at, '\n')) + 1;
  const size_t column = at - yaml.rfind('\n', at);
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[2] = dir / "bad.yaml";
  Result r = RunLoopgate(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(dir / "bad.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
                       ": unknown key 'max_levle'"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "state"));
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(Cli, ReferencesNoEventTypeHasAreWarnedAboutAndTheRunGoesOn) {
  TempDir dir;
  std::string yaml = ReadFile(Catalog());
  yaml += "  - id: typo\n    sources: [web_portl]\n";  // Appended to the rules list.
  WriteFile(dir / "catalog.yaml", yaml);
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[2] = dir / "catalog.yaml";
  Result r = RunLoopgate(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + dir / "catalog.yaml:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rule 'typo': no event type accepts source 'web_portl'"), std::string::npos)
      << r.err;
  EXPECT_NE(ReadFile(dir / "out/crm.ndjson").find("\"evt-0002\""), std::string::npos);
}

TEST(Cli, MissingTokenKeyIsAConfigErrorAndWritesNothing) {
  TempDir dir;
  WriteFile(dir / "keys.json", "{\"analytics\": {\"key_id\": \"k\", \"secret_hex\": \"" +
                                   std::string(64, 'a') + "\"}}");
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[10] = dir / "keys.json";  // --keys
  Result r = RunLoopgate(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("token domain 'marketing'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(std::string(64, 'a')), std::string::npos) << "a secret leaked";
  EXPECT_FALSE(fs::exists(dir / "state"));
}

TEST(Cli, TokenDomainsSharingASecretAreWarnedAboutAndTheRunGoesOn) {
  TempDir dir;
  const std::string shared(64, 'b');
  WriteFile(dir / "keys.json",
            "{\"marketing\": {\"key_id\": \"m\", \"secret_hex\": \"" + shared +
                "\"}, \"analytics\": {\"key_id\": \"a\", \"secret_hex\": \"" +
                std::string(64, 'c') + "\"}, \"research\": {\"key_id\": \"r\", "
                "\"secret_hex\": \"" + std::string(64, 'B') + "\"}}");
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[10] = dir / "keys.json";  // --keys
  Result r = RunLoopgate(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: token domains 'marketing' and 'research' in " +
                       std::string(dir / "keys.json") + " have the same secret"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("'analytics'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(shared), std::string::npos) << "a secret leaked";
  EXPECT_EQ(r.err.find(std::string(64, 'B')), std::string::npos) << "a secret leaked";
}

TEST(Cli, BadAsOfIsAUsageError) {
  TempDir dir;
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args.back() = "yesterday";
  Result r = RunLoopgate(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--as-of"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "state"));
}

TEST(Cli, BadConsentRecordsAreRejectedByLineAndGoodOnesLoad) {
  TempDir dir;
  std::string consents = ReadFile(ReferenceDir() + "/consents.ndjson");
  consents = "{\"consent_id\": \"c-x\", \"subject_type\": \"hcp\"}\nnot json\n" + consents +
             "{\"consent_id\": \"c-y\", \"subject_type\": \"hcp\", \"subject_id\": \"h\", "
             "\"purpose\": \"p\", \"status\": \"maybe\", \"effective_from\": "
             "\"2026-01-01T00:00:00Z\", \"recorded_at\": \"2026-01-01T00:00:00Z\"}\n";
  WriteFile(dir / "consents.ndjson", consents);
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[6] = dir / "consents.ndjson";
  Result r = RunLoopgate(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("consents.ndjson:1: required field 'subject_id' is missing"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("consents.ndjson:2: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("consents.ndjson:22: field 'status' must be granted or revoked"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("19 new"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warning: 3 registry records were rejected"), std::string::npos) << r.err;
  // The good records took effect: evt-0002 reached crm under c-h1.
  EXPECT_NE(ReadFile(dir / "out/crm.ndjson").find("\"evt-0002\""), std::string::npos);

  // With --strict-registries the same input stops before routing anything.
  TempDir strict;
  args = ReferenceRunArgs(strict / "state", strict / "out");
  args[6] = dir / "consents.ndjson";
  args.push_back("--strict-registries");
  Result stopped = RunLoopgate(args);
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.err.find("routing did not start"), std::string::npos) << stopped.err;
  EXPECT_FALSE(fs::exists(strict / "out/crm.ndjson"));
}

// routing.md section 5: each quarantine is a decision, so each bad line of a run gets its
// record and its ledger entry, copies included. Running the same input again under the same
// policy records nothing twice (the k-th copy is already recorded); under another policy the
// lines are decided again and recorded again.
TEST(Cli, EveryCopyOfABadLineIsQuarantinedOnceAndARerunRecordsNothingTwice) {
  TempDir dir;
  const std::string bad = "{\"bad json";
  WriteFile(dir / "events.ndjson", bad + "\n" + bad + "\n" + "\n" + bad + "\n");
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[4] = dir / "events.ndjson";
  args.push_back("--json");
  simdjson::dom::parser parser;
  struct Summary {
    int64_t quarantined = -1, ledger_entries = -1;
    std::string policy_version;
  };
  auto run = [&] {
    const Result r = RunLoopgate(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    simdjson::dom::element e = parser.parse(r.out);
    return Summary{int64_t(e["quarantined"]), int64_t(e["ledger_entries"]),
                   std::string(std::string_view(e["policy_version"]))};
  };
  auto record_lines = [&] {
    std::vector<int64_t> lines;
    for (const auto& l : ReadLines(dir / "out/quarantine.ndjson")) {
      simdjson::dom::element e = parser.parse(l);
      EXPECT_EQ(std::string_view(e["reason"]), "malformed_json");
      lines.push_back(int64_t(e["line"]));
    }
    return lines;
  };

  const Summary first = run();
  EXPECT_EQ(first.quarantined, 3);
  EXPECT_EQ(first.ledger_entries, 3);
  EXPECT_EQ(record_lines(), (std::vector<int64_t>{1, 2, 4}));

  // The same input, the same policy: counted, not recorded again.
  const Summary again = run();
  EXPECT_EQ(again.quarantined, 3);
  EXPECT_EQ(again.ledger_entries, 0);
  EXPECT_EQ(record_lines(), (std::vector<int64_t>{1, 2, 4}));

  // One more copy than before: only the new copy is recorded.
  WriteFile(dir / "events.ndjson", bad + "\n" + bad + "\n" + bad + "\n" + bad + "\n");
  const Summary more = run();
  EXPECT_EQ(more.quarantined, 4);
  EXPECT_EQ(more.ledger_entries, 1);
  EXPECT_EQ(record_lines(), (std::vector<int64_t>{1, 2, 4, 4}));

  // Another policy version decides the lines again.
  std::string catalog = ReadFile(Catalog());
  const std::string research = "research: {description:";
  ASSERT_NE(catalog.find(research), std::string::npos);
  catalog.replace(catalog.find(research), research.size(),
                  "research: {promotional: true, description:");
  WriteFile(dir / "catalog.yaml", catalog);
  args[2] = dir / "catalog.yaml";
  const Summary changed = run();
  EXPECT_NE(changed.policy_version, first.policy_version);
  EXPECT_EQ(changed.ledger_entries, 4);
  EXPECT_EQ(record_lines(), (std::vector<int64_t>{1, 2, 4, 4, 1, 2, 3, 4}));

  Result verify = RunLoopgate({"ledger", "verify", "--state", dir / "state"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
}

TEST(Cli, ConsentImportIsIdempotent) {
  TempDir dir;
  const std::string file = ReferenceDir() + "/consents.ndjson";
  Result first = RunLoopgate({"consent", "import", "--state", dir / "state", file});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("19 new, 0 already known"), std::string::npos) << first.err;
  Result second = RunLoopgate({"consent", "import", "--state", dir / "state", file});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("0 new, 19 already known"), std::string::npos) << second.err;
}

TEST(Cli, EventsFromStdin) {
  TempDir dir;
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[4] = "-";
  args.push_back("--json");
  Result r = RunLoopgate(args, ReferenceDir() + "/events.ndjson");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"events_read\":30"), std::string::npos) << r.out;
}

TEST(Cli, APausedPipeIsDeliveredWithoutWaitingForMoreInput) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[4] = "-";
  args.push_back("--flush-ms");
  args.push_back("100");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[0], 0);
    ::close(fds[1]);
    std::vector<char*> argv;
    std::string bin = Binary();
    argv.push_back(bin.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[0]);
  const std::string event = ReadLines(ReferenceDir() + "/events.ndjson")[1] + "\n";  // evt-0002
  ASSERT_EQ(::write(fds[1], event.data(), event.size()), static_cast<ssize_t>(event.size()));
  // The producer pauses with the pipe still open: the event must reach crm anyway.
  bool delivered = false;
  for (int i = 0; i < 200 && !delivered; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    delivered = ReadFile(dir / "out/crm.ndjson").find("\"evt-0002\"") != std::string::npos;
  }
  EXPECT_TRUE(delivered) << "nothing was delivered while the input was paused";
  ::close(fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Cli, ExplainShowsTheWholeLineage) {
  TempDir dir;
  ASSERT_EQ(RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out")).exit_code, 0);
  Result r = RunLoopgate({"explain", "--state", dir / "state", "evt-0007"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want : {"patient.support.milestone", "support_hub", "2026-03-10T13:45:00Z",
                           "policy sha256:", "support_cases", "analytics_lake", "c-p1s", "c-p1a",
                           "patient_id=tokenize:ak-2026-1", "first_name=drop", "birth_date=generalize",
                           "QUARANTINED (id_conflict)"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
  // The lineage names no payload value.
  EXPECT_EQ(r.out.find("Maria"), std::string::npos);
  Result denied = RunLoopgate({"explain", "--state", dir / "state", "evt-0015"});
  EXPECT_NE(denied.out.find("agreement_aggregate_only"), std::string::npos) << denied.out;
  EXPECT_NE(denied.out.find("agreement_purpose"), std::string::npos) << denied.out;
  Result missing = RunLoopgate({"explain", "--state", dir / "state", "evt-nope"});
  EXPECT_EQ(missing.exit_code, 1);
}

TEST(Cli, ExplainRefusesAnIndexThatPointsAtAnotherEvent) {
  TempDir dir;
  ASSERT_EQ(RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out")).exit_code, 0);
  // Point evt-0003's seen record at evt-0004's ledger row, as an edit of the state could. A
  // record (docs/state.md section 7) holds the id, the 32-byte digest, then first_seq.
  const std::string log = dir / "state/seen/records.log";
  std::string bytes = ReadFile(log);
  const size_t a = bytes.find("evt-0003"), b = bytes.find("evt-0004");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(bytes.compare(a + 40, 8, bytes, b + 40, 8), 0);
  bytes.replace(a + 40, 8, bytes.substr(b + 40, 8));
  std::ofstream(log, std::ios::binary | std::ios::trunc) << bytes;
  Result r = RunLoopgate({"explain", "--state", dir / "state", "evt-0003"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("belongs to another event"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("evt-0004"), std::string::npos) << r.out;
}

// Readers of the seen store alongside a run that writes, merges and deletes its index runs all
// the time (a 16-record in-memory index, batches of 8): explain always finds the committed
// answer, never a half-written or vanished file.
TEST(Cli, ExplainAlongsideARunThatMergesSeenIndexRuns) {
  TempDir dir;
  const std::string state = dir / "state", out = dir / "out";
  ASSERT_EQ(RunLoopgate(ReferenceRunArgs(state, out)).exit_code, 0);
  const Result before = RunLoopgate({"explain", "--state", state, "evt-0003", "--json"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  const std::string line = ReadLines(ReferenceDir() + "/events.ndjson")[1];  // evt-0002
  ASSERT_NE(line.find("\"evt-0002\""), std::string::npos);
  std::string events;
  for (int i = 0; i < 6000; ++i) {
    std::string l = line;
    l.replace(l.find("evt-0002"), 8, "evt-x-" + std::to_string(i));
    events += l + "\n";
  }
  WriteFile(dir / "many.ndjson", events);
  auto args = ReferenceRunArgs(state, out);
  args[4] = dir / "many.ndjson";  // --events
  for (const char* a : {"--batch-events", "8", "--seen-memtable", "16"}) args.push_back(a);
  const pid_t pid = StartLoopgate(args);
  int reads = 0, status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    const Result r = RunLoopgate({"explain", "--state", state, "evt-0003", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, before.out);
    ++reads;
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_GE(reads, 3) << "the run ended before explain could read alongside it";
  const Result last = RunLoopgate({"explain", "--state", state, "evt-x-5999"});
  EXPECT_EQ(last.exit_code, 0) << last.err;
  EXPECT_NE(last.out.find("evt-x-5999"), std::string::npos);
}

TEST(Cli, ExplainSaysWhenAnAcceptedEventHadNoCandidateSink) {
  TempDir dir;
  // A type whose only purpose no sink serves: accepted, blocked, no decision to record.
  std::string yaml = ReadFile(Catalog());
  const std::string purposes = "  safety_monitoring: {description: \"Pharmacovigilance: a "
                               "regulatory obligation\"}\n";
  const size_t at = yaml.find(purposes);
  ASSERT_NE(at, std::string::npos);
  yaml.insert(at + purposes.size(), "  market_research: {}\n");
  const std::string types = "event_types:\n";
  yaml.insert(yaml.find(types) + types.size(),
              "  survey.answered:\n    sources: [web_portal]\n"
              "    subject: {type: hcp, field: hcp_id}\n    purposes: [market_research]\n"
              "    fields: {hcp_id: {type: string, class: hcp_identifier, required: true}}\n");
  WriteFile(dir / "catalog.yaml", yaml);
  WriteFile(dir / "events.ndjson",
            "{\"event_id\": \"evt-s1\", \"event_type\": \"survey.answered\", "
            "\"source_system\": \"web_portal\", \"timestamp\": \"2026-04-01T00:00:00Z\", "
            "\"payload\": {\"hcp_id\": \"hcp-001\"}}\n");
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[2] = dir / "catalog.yaml";
  args[4] = dir / "events.ndjson";
  args.push_back("--json");
  Result r = RunLoopgate(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"blocked\":1"), std::string::npos) << r.out;
  Result explained = RunLoopgate({"explain", "--state", dir / "state", "evt-s1"});
  EXPECT_EQ(explained.exit_code, 0) << explained.err;
  EXPECT_NE(explained.out.find("no sink was a candidate"), std::string::npos) << explained.out;
}

TEST(Cli, LedgerExportHasTheDocumentedFields) {
  TempDir dir;
  ASSERT_EQ(RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out")).exit_code, 0);
  Result r = RunLoopgate({"ledger", "export", "--state", dir / "state"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::stringstream ss(r.out);
  std::string line;
  simdjson::dom::parser parser;
  int n = 0;
  while (std::getline(ss, line)) {
    simdjson::dom::element e = parser.parse(line);
    ++n;
    EXPECT_EQ(int64_t(e["seq"]), n);
    for (const char* key : {"event_id", "sink", "decision", "reason", "consent_ids", "transforms",
                            "policy_version", "prev_hash", "hash"}) {
      EXPECT_EQ(e[key].error(), simdjson::SUCCESS) << key;
    }
    const std::string_view decision = e["decision"];
    EXPECT_TRUE(decision == "allow" || decision == "deny" || decision == "quarantine");
    EXPECT_EQ(e["sink"].is_null(), decision == "quarantine");
    EXPECT_EQ(e["reason"].is_null(), decision == "allow");
  }
  EXPECT_EQ(n, 51);
}

TEST(Cli, OutputsThatWouldShareAFileAreAConfigError) {
  TempDir dir;
  std::string yaml = ReadFile(Catalog());
  const std::string sink = "  safety_db:\n    purpose: safety_monitoring\n";
  const size_t at = yaml.find(sink);
  ASSERT_NE(at, std::string::npos);
  yaml.insert(at + sink.size(), "    output: {type: file, path: quarantine.ndjson}\n");
  WriteFile(dir / "clash.yaml", yaml);
  auto args = ReferenceRunArgs(dir / "state", dir / "out");
  args[2] = dir / "clash.yaml";
  Result r = RunLoopgate(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("sink 'safety_db' and the quarantine would both write"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "state"));
}

TEST(Cli, OneDamagedOutputDoesNotPoisonTheNextRun) {
  TempDir dir;
  ASSERT_EQ(RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out")).exit_code, 0);
  // crm.ndjson was consumed (moved away); analytics_lake.ndjson was cut short by someone.
  fs::remove(dir / "out/crm.ndjson");
  fs::resize_file(dir / "out/analytics_lake.ndjson", 10);
  Result damaged = RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out"));
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_NE(damaged.err.find("analytics_lake.ndjson holds 10 bytes"), std::string::npos)
      << damaged.err;
  // Once the damaged file is moved away too, the next run goes through: crm's restart from
  // zero was committed although the run stopped.
  fs::remove(dir / "out/analytics_lake.ndjson");
  Result next = RunLoopgate(ReferenceRunArgs(dir / "state", dir / "out"));
  EXPECT_EQ(next.exit_code, 0) << next.err;
}

TEST(Cli, LedgerCommandsOnAMissingStateFail) {
  TempDir dir;
  Result r = RunLoopgate({"ledger", "verify", "--state", dir / "nothing"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no Loopgate state"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "nothing"));
}

}  // namespace
}  // namespace loopgate::testing
