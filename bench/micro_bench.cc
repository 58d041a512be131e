// Micro-benchmarks of the per-event stages of `loopgate run` (docs/performance.md):
//
//   BM_IssueScaleReference  The yardstick issue 2 gives for its targets ("parsing an event with
//                           simdjson and computing two HMACs and one SHA-256 costs ~0.6 µs
//                           here"): a simdjson DOM parse of a reference line, HMAC-SHA256 of
//                           two of its values with precomputed keys, SHA-256 of the line. It
//                           says how this machine compares with the issue's.
//   BM_ParseValidate        event::Intake::Process (strict parse, RFC 8785 canonical form,
//                           SHA-256 content digest, envelope and field checks) per line.
//   BM_DecideAllSinks       policy::Engine::Decide over every candidate sink of one event, with
//                           the reference consents and agreements imported into a temporary
//                           state, as of 2026-06-30T00:00:00Z; consent view cache warm (the
//                           steady state), and _ColdCache where every consent check queries
//                           SQLite (a view reading per subject meeting a subject and purpose
//                           for the first time; a run preloads registries of up to 250,000
//                           versions and never does). _LargeRegistry decides 50,000
//                           events naming random subjects of a 170,000-version registry read
//                           whole, as a run reads it.
//   BM_Transform            transform::Transformer::Apply for one sink and event.
//   BM_LedgerAppend         ledger::Writer::Append, committing every 8192 entries as the router
//                           does (Flush + SaveHead + COMMIT + BEGIN IMMEDIATE inside the timed
//                           loop).
//   BM_SeenInsert           The identity check and insert of one new event id, committing every
//                           8192 as the router does (flush and sync, meta, COMMIT), for 1M
//                           random UUID-like ids: /store is seen::Writer (src/seen), /sqlite
//                           the `seen` table of loopgate.state/v3 (INSERT ... ON CONFLICT DO
//                           NOTHING), for comparison. Read the CPU column: the syncs wait.
//   BM_Attribution*         Multi-touch attribution (docs/attribution.md) over 1M unit journeys
//                           generated with the channel mix of ChannelAttribution's Data.csv
//                           (bench/journey_gen.h, seed 1), held in memory as the analytics sink
//                           would hand them over: _Aggregate1M merges them into a PathSet,
//                           _MarkovOrder1_1M aggregates and runs the order-1 Markov model (fit,
//                           base solve, one solve per removed channel), _Markov/order:k runs
//                           the model on the aggregated set, _Heuristics1M the five rule-based
//                           models, _Shapley12 exact Shapley values over Data.csv's 12 channels.
//
// The ledger's Merkle tree (src/merkle, docs/ledger-format.md section 9), per entry of about 680
// bytes (the analytics_lake allow of ledger-format.md section 3):
//   BM_ChainHash            SHA-256 of the entry: what the hash chain already pays.
//   BM_MerkleLeafHash       SHA-256(0x00 || entry): the extra pass a leaf costs.
//   BM_CompactRangeAppend   CompactRange::Append of a leaf hash (node hashes only).
//   BM_MerkleAppend         leaf hash + compact range + FileNodeStore, synced every 8192
//                           entries: everything the tree adds to an append.
//   BM_SignCheckpoint       building and signing a loopgate.checkpoint/v1 (once per run).
// And on a FileNodeStore of 10M leaves, built once in $TMPDIR (about 640 MB, a few seconds;
// page cache warm):
//   BM_InclusionProof_10M   InclusionProof for a random leaf.
//   BM_ConsistencyProof_10M ConsistencyProof from a random size.
//   BM_ProveEvent_10M       BuildInclusionProofFile for a random event's 3 entries: the root
//                           check against the checkpoint, the leaves, the proofs, the JSON.
//   BM_VerifyInclusion      VerifyInclusion of a proof in the 10M tree (24 hashes).
//   BM_CheckProofFile       CheckProof of BM_ProveEvent_10M's file: JSON, Ed25519, 3 proofs.
//   BM_LiftStudy            A whole lift study over 10M synthetic analytics rows (already in
//                           memory): analytics::LiftAccumulator over every row (one dimension,
//                           7 values), then the lift of every cell and of the total. One
//                           iteration is the whole study; the rows are generated once, untimed.
//
// Inputs: examples/reference/catalog.yaml and ../shared/scenarios/reference/. Temporary state
// lives under $TMPDIR (default /tmp) and is removed at exit.

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "attribution/markov.h"
#include "attribution/models.h"
#include "attribution/paths.h"
#include "bench/journey_gen.h"
#include "analytics/accumulator.h"
#include "analytics/lift.h"
#include "benchmark/benchmark.h"
#include "catalog/catalog.h"
#include "common/rng.h"
#include "common/line_reader.h"
#include "common/text.h"
#include "common/time.h"
#include "consent/consent.h"
#include "crypto/crypto.h"
#include "event/event.h"
#include "ledger/ledger.h"
#include "merkle/check_proof.h"
#include "merkle/checkpoint.h"
#include "merkle/node_store.h"
#include "merkle/proof_file.h"
#include "merkle/prover.h"
#include "merkle/verifier.h"
#include "policy/policy.h"
#include "seen/seen.h"
#include "simdjson.h"
#include "sink/sink.h"
#include "store/store.h"
#include "transform/transform.h"

namespace loopgate::bench {
namespace {

constexpr std::string_view kAsOf = "2026-06-30T00:00:00Z";

std::string SourcePath(std::string_view rel) { return std::string(LOOPGATE_SOURCE_DIR "/") += rel; }
std::string ReferencePath(std::string_view file) {
  return std::string(LOOPGATE_SHARED_DIR "/scenarios/reference/") += file;
}

[[noreturn]] void Die(std::string_view what, const absl::Status& s) {
  std::fprintf(stderr, "loopgate_micro_bench: %.*s: %s\n", static_cast<int>(what.size()),
               what.data(), std::string(s.message()).c_str());
  std::exit(1);
}

template <typename T>
T Check(std::string_view what, absl::StatusOr<T> v) {
  if (!v.ok()) Die(what, v.status());
  return std::move(*v);
}

void Check(std::string_view what, const absl::Status& s) {
  if (!s.ok()) Die(what, s);
}

// A scratch directory, removed with everything in it when destroyed.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                          "/loopgate-micro-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::fprintf(stderr, "loopgate_micro_bench: mkdtemp failed\n");
      std::exit(1);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An input line followed by the readable padding Intake::Process needs (as LineReader gives).
class PaddedLine {
 public:
  explicit PaddedLine(std::string_view text) : size_(text.size()) {
    buf_.reserve(text.size() + common::kLinePadding);
    buf_.append(text);
    buf_.append(common::kLinePadding, ' ');
  }
  std::string_view text() const { return std::string_view(buf_.data(), size_); }

 private:
  std::string buf_;
  size_t size_;
};

// What every benchmark shares: the catalog, the keys and the reference lines.
struct Env {
  std::unique_ptr<catalog::Catalog> catalog;
  transform::KeyStore keys;
  std::vector<PaddedLine> lines;  // Every non-blank line of events.ndjson.
  std::vector<size_t> valid;      // Indexes of the lines that pass intake.
  std::vector<size_t> unique;     // Of those, the first with each id (what the router decides).

  static Env& Get() {
    static Env* env = [] {
      auto* e = new Env;
      e->catalog = Check("catalog", catalog::LoadFile(SourcePath("examples/reference/catalog.yaml"),
                                                      &sink::ValidateOutput));
      e->keys = Check("keys", transform::KeyStore::LoadFile(ReferencePath("keys.json")));
      std::ifstream in(ReferencePath("events.ndjson"));
      for (std::string line; std::getline(in, line);) {
        if (!line.empty()) e->lines.emplace_back(line);
      }
      event::Intake intake(*e->catalog);
      event::Event ev;
      event::Rejection rej;
      std::vector<std::string> ids;
      for (size_t i = 0; i < e->lines.size(); ++i) {
        if (!intake.Process(e->lines[i].text(), &ev, &rej)) continue;
        e->valid.push_back(i);
        if (std::find(ids.begin(), ids.end(), ev.id) == ids.end()) {
          ids.push_back(ev.id);
          e->unique.push_back(i);
        }
      }
      if (e->lines.empty() || e->valid.empty()) {
        std::fprintf(stderr, "loopgate_micro_bench: no reference events\n");
        std::exit(1);
      }
      return e;
    }();
    return *env;
  }
};

Env& Get() { return Env::Get(); }

// Intake over the reference lines, round robin. One iteration = one line.
void RunIntake(benchmark::State& state, const std::vector<size_t>& which) {
  Env& env = Get();
  event::Intake intake(*env.catalog);
  event::Event ev;
  event::Rejection rej;
  size_t i = 0, bytes = 0, accepted = 0;
  for (auto _ : state) {
    const std::string_view text = env.lines[which[i]].text();
    const bool ok = intake.Process(text, &ev, &rej);
    benchmark::DoNotOptimize(ok);
    accepted += ok;
    bytes += text.size();
    if (++i == which.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["accepted"] =
      benchmark::Counter(static_cast<double>(accepted), benchmark::Counter::kAvgIterations);
}

// Issue 2's yardstick over the valid reference lines, round robin. One iteration = one line:
// parse (simdjson DOM, parser reused), HMAC of event_type and of source_system (keyed states
// precomputed, as a run holds them), SHA-256 of the line.
void BM_IssueScaleReference(benchmark::State& state) {
  Env& env = Get();
  simdjson::dom::parser parser;
  auto hmac_a = Check("hmac", crypto::HmacSha256::Create("yardstick key a"));
  auto hmac_b = Check("hmac", crypto::HmacSha256::Create("yardstick key b"));
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string_view text = env.lines[env.valid[i]].text();
    simdjson::dom::element doc;
    if (parser.parse(text.data(), text.size(), false).get(doc) != simdjson::SUCCESS) {
      state.SkipWithError("a reference line does not parse");
      break;
    }
    std::string_view type, source;
    if (doc["event_type"].get(type) != simdjson::SUCCESS) type = {};
    if (doc["source_system"].get(source) != simdjson::SUCCESS) source = {};
    benchmark::DoNotOptimize(hmac_a->Mac(type));
    benchmark::DoNotOptimize(hmac_b->Mac(source));
    benchmark::DoNotOptimize(crypto::Sha256(text));
    bytes += text.size();
    if (++i == env.valid.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

// The valid reference events (ids as the router sees them).
void BM_ParseValidate(benchmark::State& state) { RunIntake(state, Get().valid); }

// All 30 reference lines, including the ones intake quarantines.
void BM_ParseValidate_AllLines(benchmark::State& state) {
  std::vector<size_t> all(Get().lines.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  RunIntake(state, all);
}

// A temporary state with the reference consents and agreements, and the decision engine on it.
// The events are parsed once, each by its own Intake, so their DOM views stay valid.
struct DecideFixture {
  TempDir dir;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<consent::AgreementView> agreements;
  std::unique_ptr<consent::ConsentView> consents;
  std::unique_ptr<policy::Engine> engine;
  std::unique_ptr<transform::Transformer> transformer;
  std::vector<std::unique_ptr<event::Intake>> intakes;
  std::vector<std::unique_ptr<event::Event>> events;  // One per Env::unique line.

  DecideFixture() {
    Env& env = Env::Get();
    const common::Instant as_of = *common::ParseRfc3339(kAsOf);
    db = Check("state", store::Database::Open(dir.path() + "/state"));
    Check("consents", consent::Import(*db, consent::RegistryKind::kConsents,
                                      ReferencePath("consents.ndjson"))
                          .status());
    Check("agreements", consent::Import(*db, consent::RegistryKind::kAgreements,
                                        ReferencePath("agreements.ndjson"))
                            .status());
    agreements = std::make_unique<consent::AgreementView>(
        Check("agreement view", consent::AgreementView::Load(*db, as_of)));
    consents = std::make_unique<consent::ConsentView>(*db, as_of);
    engine = std::make_unique<policy::Engine>(*env.catalog, *consents, *agreements, as_of);
    transformer = Check("transformer", transform::Transformer::Create(*env.catalog, env.keys));
    for (size_t li : env.unique) {
      auto intake = std::make_unique<event::Intake>(*env.catalog);
      auto ev = std::make_unique<event::Event>();
      event::Rejection rej;
      if (!intake->Process(env.lines[li].text(), ev.get(), &rej)) std::exit(1);
      intakes.push_back(std::move(intake));
      events.push_back(std::move(ev));
    }
  }

  // Built on first use; destroyed (and its directory removed) at exit.
  static DecideFixture& Get() {
    static DecideFixture f;
    return f;
  }

  const event::Event* Find(std::string_view id) const {
    for (const auto& e : events) {
      if (e->id == id) return e.get();
    }
    std::fprintf(stderr, "loopgate_micro_bench: no reference event %.*s\n",
                 static_cast<int>(id.size()), id.data());
    std::exit(1);
  }
};

// Decides every candidate sink of the events in `which` (round robin) with `engine`, trimming
// its consent view between events as the router does. One iteration = one event, all of its
// candidate sinks.
void RunDecide(benchmark::State& state, policy::Engine& engine, consent::ConsentView& consents,
               const std::vector<const event::Event*>& which) {
  policy::Decision d;
  size_t i = 0, decisions = 0, allowed = 0;
  for (auto _ : state) {
    const event::Event& ev = *which[i];
    const size_t n = ev.type_def->candidate_sinks.size();
    for (size_t c = 0; c < n; ++c) {
      if (auto s = engine.Decide(ev, c, &d); !s.ok()) {
        state.SkipWithError("Decide failed");
        return;
      }
      allowed += d.allowed;
    }
    consents.Trim();
    decisions += n;
    if (++i == which.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["sinks_per_event"] =
      benchmark::Counter(static_cast<double>(decisions), benchmark::Counter::kAvgIterations);
  state.counters["allowed_per_event"] =
      benchmark::Counter(static_cast<double>(allowed), benchmark::Counter::kAvgIterations);
}

void BM_DecideAllSinks(benchmark::State& state) {
  std::vector<const event::Event*> all;
  for (const auto& e : DecideFixture::Get().events) all.push_back(e.get());
  DecideFixture& f = DecideFixture::Get();
  RunDecide(state, *f.engine, *f.consents, all);
}

// As BM_DecideAllSinks, but every event meets an empty consent cache, so each consent check is
// a SQLite query (the first sight of a subject and purpose in a view reading per subject). Building the fresh view
// and preparing its statement happen with the timer paused.
void BM_DecideAllSinks_ColdCache(benchmark::State& state) {
  DecideFixture& f = DecideFixture::Get();
  const common::Instant as_of = *common::ParseRfc3339(kAsOf);
  policy::Decision d;
  size_t i = 0, decisions = 0;
  // unique_ptr rather than optional: GCC 12 at -O3 misreports optional's payload as
  // maybe-uninitialized.
  std::unique_ptr<consent::ConsentView> view;
  std::unique_ptr<policy::Engine> engine;
  for (auto _ : state) {
    state.PauseTiming();
    engine.reset();  // Tear-down of the previous view is not timed either.
    view = std::make_unique<consent::ConsentView>(*f.db, as_of);
    (void)view->Current("hcp", "warm-up", "prepare");  // Prepares the statement.
    engine = std::make_unique<policy::Engine>(*Get().catalog, *view, *f.agreements, as_of);
    const event::Event& ev = *f.events[i];
    const size_t n = ev.type_def->candidate_sinks.size();
    state.ResumeTiming();
    for (size_t c = 0; c < n; ++c) {
      if (auto s = engine->Decide(ev, c, &d); !s.ok()) {
        state.SkipWithError("Decide failed");
        return;
      }
    }
    decisions += n;
    if (++i == f.events.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["sinks_per_event"] =
      benchmark::Counter(static_cast<double>(decisions), benchmark::Counter::kAvgIterations);
}

// The reference registry copied for kCopies subjects per reference subject (hcp-001 becomes
// hcp-001-0 ... hcp-001-9999, likewise its consents), 170,000 versions in all, read whole by a
// preloaded view as a run reads it; and kEvents reference events, each rewritten to name one
// random copy of its subjects. Decisions then meet a registry larger than the caches, with
// every subject's answer somewhere else in memory, as in a long run.
struct LargeRegistryFixture {
  static constexpr int kCopies = 10'000;
  static constexpr int kEvents = 50'000;
  TempDir dir;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<consent::AgreementView> agreements;
  std::unique_ptr<consent::ConsentView> consents;
  std::unique_ptr<policy::Engine> engine;
  std::vector<PaddedLine> lines;
  std::vector<std::unique_ptr<event::Intake>> intakes;
  std::vector<std::unique_ptr<event::Event>> events;

  // Every quoted occurrence of a reference subject id in `text`, suffixed with "-<copy>".
  static std::string Rewrite(std::string text, const std::vector<std::string>& subjects,
                             int copy) {
    for (const std::string& id : subjects) {
      const std::string from = "\"" + id + "\"";
      const std::string to = "\"" + id + "-" + std::to_string(copy) + "\"";
      for (size_t at = text.find(from); at != std::string::npos;
           at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
      }
    }
    return text;
  }

  LargeRegistryFixture() {
    Env& env = Env::Get();
    const common::Instant as_of = *common::ParseRfc3339(kAsOf);
    db = Check("state", store::Database::Open(dir.path() + "/state"));
    std::vector<std::string> reference, subjects;
    {
      std::ifstream in(ReferencePath("consents.ndjson"));
      for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        reference.push_back(line);
        const size_t key = line.find("\"subject_id\": \"");
        if (key == std::string::npos) continue;
        const size_t from = key + 15, to = line.find('"', from);
        const std::string id = line.substr(from, to - from);
        if (std::find(subjects.begin(), subjects.end(), id) == subjects.end()) {
          subjects.push_back(id);
        }
      }
    }
    const std::string registry = dir.path() + "/consents.ndjson";
    {
      std::ofstream out(registry);
      for (int copy = 0; copy < kCopies; ++copy) {
        for (const std::string& line : reference) {
          std::string text = Rewrite(line, subjects, copy);
          const size_t id = text.find("\"consent_id\": \"");
          if (id != std::string::npos) {
            text.insert(text.find('"', id + 15), "-" + std::to_string(copy));
          }
          out << text << "\n";
        }
      }
    }
    Check("consents", consent::Import(*db, consent::RegistryKind::kConsents, registry).status());
    Check("agreements", consent::Import(*db, consent::RegistryKind::kAgreements,
                                        ReferencePath("agreements.ndjson"))
                            .status());
    agreements = std::make_unique<consent::AgreementView>(
        Check("agreement view", consent::AgreementView::Load(*db, as_of)));
    consents = std::make_unique<consent::ConsentView>(*db, as_of, int64_t{1} << 40);
    engine = std::make_unique<policy::Engine>(*env.catalog, *consents, *agreements, as_of);
    common::Rng rng(1);
    lines.reserve(kEvents);
    for (int i = 0; i < kEvents; ++i) {
      const PaddedLine& source = env.lines[env.unique[rng.Below(env.unique.size())]];
      lines.emplace_back(Rewrite(std::string(source.text()), subjects,
                                 static_cast<int>(rng.Below(kCopies))));
    }
    for (const PaddedLine& line : lines) {
      auto intake = std::make_unique<event::Intake>(*env.catalog);
      auto ev = std::make_unique<event::Event>();
      event::Rejection rej;
      if (!intake->Process(line.text(), ev.get(), &rej)) {
        std::fprintf(stderr, "loopgate_micro_bench: a rewritten reference event was rejected\n");
        std::exit(1);
      }
      intakes.push_back(std::move(intake));
      events.push_back(std::move(ev));
    }
    // The registry is read on the first question, not in the timed loop.
    (void)consents->Current("hcp", "warm-up", "prepare");
    if (!consents->preloaded()) std::exit(1);
  }

  static LargeRegistryFixture& Get() {
    static LargeRegistryFixture f;
    return f;
  }
};

// Decides every candidate sink of LargeRegistryFixture's events, round robin.
void BM_DecideAllSinks_LargeRegistry(benchmark::State& state) {
  LargeRegistryFixture& f = LargeRegistryFixture::Get();
  std::vector<const event::Event*> all;
  for (const auto& e : f.events) all.push_back(e.get());
  RunDecide(state, *f.engine, *f.consents, all);
}

void BM_Transform(benchmark::State& state, std::string sink, std::string event_id) {
  DecideFixture& f = DecideFixture::Get();
  const event::Event& ev = *f.Find(event_id);
  const int si = Get().catalog->FindSink(sink);
  if (si < 0) {
    state.SkipWithError("no such sink");
    return;
  }
  std::string data;
  std::vector<std::string> applied;
  for (auto _ : state) {
    applied.clear();
    f.transformer->Apply(ev, static_cast<uint32_t>(si), &data, &applied);
    benchmark::DoNotOptimize(data.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(data.size() > 0 ? std::to_string(applied.size()) + " fields transformed" : "");
}

// Appends ledger entries shaped like an allow for analytics_lake (one consent cited, four
// transform notes, a delivered digest), committing every `state.range(0)` entries.
void BM_LedgerAppend(benchmark::State& state) {
  const int64_t batch = state.range(0);
  TempDir dir;
  auto db = Check("state", store::Database::Open(dir.path() + "/state"));
  auto writer = Check("ledger", ledger::Writer::Open(*db, Get().catalog->policy_version));
  ledger::EntryFacts facts;
  facts.sink = "analytics_lake";
  facts.outcome = ledger::Outcome::kAllow;
  facts.consent_ids = {"c-p1a"};
  facts.consent_versions = {"2026-01-01T00:00:05Z"};
  facts.transforms = {"birth_date=generalize", "first_name=drop", "last_name=drop",
                      "patient_id=tokenize:ak-2026-1", "zip=generalize"};
  facts.delivered = "sha256:5f1d2a9c3b7e4f60a1b2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6e7f809";
  facts.type = "patient.support.milestone";
  facts.source = "support_hub";
  facts.time = "2026-03-10T13:45:00Z";
  facts.run = 1;
  std::string event_id;
  Check("begin", db->Begin());
  int64_t n = 0;
  for (auto _ : state) {
    event_id = "evt-" + std::to_string(n);
    facts.event_id = event_id;
    facts.line = static_cast<uint64_t>(n);
    auto seq = writer->Append(facts);
    if (!seq.ok()) {
      state.SkipWithError("Append failed");
      return;
    }
    if (++n % batch == 0) {
      Check("flush", writer->Flush());
      Check("save head", writer->SaveHead());
      Check("commit", db->Commit());
      Check("begin", db->Begin());
    }
  }
  Check("flush", writer->Flush());
  Check("save head", writer->SaveHead());
  Check("commit", db->Commit());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// 1M new random ids (36-character UUID-like text), committed in batches of 8192; the
// subject column is 17 bytes, as for a patient event with two consent-requiring candidates.
void BM_SeenInsert(benchmark::State& state, bool sqlite) {
  TempDir dir;
  auto db = Check("state", store::Database::Open(dir.path() + "/state"));
  std::unique_ptr<seen::Writer> writer;
  store::Statement insert;
  if (sqlite) {
    Check("table", db->Exec("CREATE TABLE v3_seen (id TEXT PRIMARY KEY, digest BLOB NOT NULL, "
                            "first_seq INTEGER NOT NULL, subject BLOB) WITHOUT ROWID"));
    insert = Check("prepare", db->Prepare("INSERT INTO v3_seen (id, digest, first_seq, subject) "
                                          "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"));
  } else {
    writer = Check("seen", seen::Writer::Open(*db));
  }
  common::Rng rng(1);
  const std::string subject(17, 's');
  std::string id;
  crypto::Digest digest{}, existing{};
  auto commit = [&] {
    if (!sqlite) Check("flush", writer->Flush());
    if (!sqlite) Check("save", writer->SaveHead());
    Check("commit", db->Commit());
    if (!sqlite) writer->AfterCommit();
  };
  Check("begin", db->Begin());
  int64_t n = 0;
  for (auto _ : state) {
    const uint64_t a = rng.Next(), b = rng.Next();
    id = common::HexEncode(std::string_view(reinterpret_cast<const char*>(&a), 8)) + "-" +
         common::HexEncode(std::string_view(reinterpret_cast<const char*>(&b), 8)) + "-0000";
    std::memcpy(digest.data(), &a, 8);
    ++n;
    if (sqlite) {
      insert.Bind(1, id).BindBlob(2, digest.data(), digest.size()).Bind(3, n);
      insert.BindBlob(4, subject.data(), subject.size());
      Check("insert", insert.Run());
    } else {
      auto inserted = writer->Insert(id, digest, n, subject, &existing);
      if (!inserted.ok() || !*inserted) {
        state.SkipWithError("Insert failed");
        return;
      }
    }
    if (n % 8192 == 0) {
      commit();
      Check("begin", db->Begin());
    }
  }
  commit();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The analytics_lake allow of docs/ledger-format.md section 3: a typical entry, 682 bytes.
constexpr std::string_view kEntry =
    R"({"consent_ids":["c-p1a"],"consent_scope":null,"consent_versions":["2026-01-01T00:00:05Z"],)"
    R"("decision":"allow","delivered":"sha256:214436ef2a7e8b50fda89bc32262abc0d37b602b0566c17382acfc)"
    R"(762c948e88","detail":null,"event_id":"evt-0007","line":7,"policy_version":"sha256:dfc2a7fa51)"
    R"(5c92f532171f920a53cdbfb3f471802f9144f69eede6e56f965715","prev_hash":"b697adb1927effa41b30a7)"
    R"(7940f095061f112420be7958256ceff1dabfc665bf","reason":null,"run":1,"seq":19,"sink":"analytics)"
    R"(_lake","source":"support_hub","time":"2026-03-10T13:45:00Z","transforms":["birth_date=genera)"
    R"(lize","first_name=drop","last_name=drop","patient_id=tokenize:ak-2026-1","zip=generalize"],)"
    R"("type":"patient.support.milestone","v":1})";

void BM_ChainHash(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypto::Sha256(kEntry));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kEntry.size()));
}

void BM_MerkleLeafHash(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(merkle::LeafHash(kEntry));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kEntry.size()));
}

void BM_CompactRangeAppend(benchmark::State& state) {
  merkle::CompactRange range;
  const merkle::Hash leaf = merkle::LeafHash(kEntry);
  for (auto _ : state) {
    range.Append(leaf);
  }
  benchmark::DoNotOptimize(range.Root());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_MerkleAppend(benchmark::State& state) {
  TempDir dir;
  auto store = Check("node store", merkle::FileNodeStore::Open(dir.path() + "/nodes"));
  merkle::CompactRange range;
  int64_t n = 0;
  for (auto _ : state) {
    Check("append", merkle::AppendLeaf(range, *store, merkle::LeafHash(kEntry)));
    if (++n % 8192 == 0) Check("sync", store->Sync());
  }
  Check("sync", store->Sync());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

const crypto::Ed25519PrivateKey& SigningKey() {
  static auto* key = Check("key", crypto::Ed25519PrivateKey::Generate()).release();
  return *key;
}

merkle::Checkpoint CheckpointOf(uint64_t size, const merkle::Hash& root) {
  merkle::Checkpoint c;
  c.tree_size = size;
  c.root = root;
  c.time = *common::ParseRfc3339(kAsOf);
  c.policy_version = "sha256:dfc2a7fa515c92f532171f920a53cdbfb3f471802f9144f69eede6e56f965715";
  return c;
}

void BM_SignCheckpoint(benchmark::State& state) {
  const merkle::Checkpoint c = CheckpointOf(10'000'000, merkle::LeafHash(kEntry));
  for (auto _ : state) {
    benchmark::DoNotOptimize(Check("sign", merkle::SignCheckpoint(c, SigningKey())));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// A FileNodeStore of 10M leaves, built on first use. Leaf i is a minimal entry with seq i + 1,
// of event evt-<i / 3>: every three consecutive entries are one event's.
struct BigTree {
  static constexpr uint64_t kLeaves = 10'000'000;
  TempDir dir;
  std::unique_ptr<merkle::FileNodeStore> store;
  std::string checkpoint;  // Signed, for the whole tree.

  BigTree() {
    auto s = Check("node store", merkle::FileNodeStore::Open(dir.path() + "/nodes"));
    merkle::CompactRange range;
    for (uint64_t i = 0; i < kLeaves; ++i) {
      Check("append", merkle::AppendLeaf(range, *s, merkle::LeafHash(Text(i))));
    }
    Check("sync", s->Sync());
    s.reset();  // Reopened: every read goes to the files.
    store = Check("node store", merkle::FileNodeStore::Open(dir.path() + "/nodes"));
    checkpoint = Check("sign", merkle::SignCheckpoint(CheckpointOf(kLeaves, range.Root()),
                                                      SigningKey()))
                     .Text();
  }
  static std::string Text(uint64_t i) {
    return R"({"event_id":"evt-)" + std::to_string(i / 3) + R"(","seq":)" + std::to_string(i + 1) +
           R"(,"v":1})";
  }
  static std::string EventId(uint64_t i) { return "evt-" + std::to_string(i / 3); }
  static BigTree& Get() {
    static BigTree t;
    return t;
  }
};

void BM_InclusionProof_10M(benchmark::State& state) {
  BigTree& t = BigTree::Get();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    const uint64_t index = rng() % BigTree::kLeaves;
    benchmark::DoNotOptimize(
        Check("prove", merkle::InclusionProof(*t.store, index, BigTree::kLeaves)));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ConsistencyProof_10M(benchmark::State& state) {
  BigTree& t = BigTree::Get();
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    const uint64_t old_size = 1 + rng() % (BigTree::kLeaves - 1);
    benchmark::DoNotOptimize(
        Check("prove", merkle::ConsistencyProof(*t.store, old_size, BigTree::kLeaves)));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The proof file of event `event` (leaves 3 * event .. 3 * event + 2).
std::string ProveEvent(BigTree& t, uint64_t event) {
  std::vector<merkle::ProvenEntry> entries;
  for (uint64_t i = 3 * event; i < 3 * event + 3; ++i) {
    entries.push_back({i, BigTree::Text(i), merkle::LeafHash(BigTree::Text(i))});
  }
  return Check("prove", merkle::BuildInclusionProofFile(*t.store, BigTree::EventId(3 * event),
                                                        entries, t.checkpoint));
}

void BM_ProveEvent_10M(benchmark::State& state) {
  BigTree& t = BigTree::Get();
  std::mt19937_64 rng(3);
  size_t bytes = 0;
  for (auto _ : state) {
    bytes += ProveEvent(t, rng() % (BigTree::kLeaves / 3)).size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

void BM_VerifyInclusion(benchmark::State& state) {
  BigTree& t = BigTree::Get();
  const uint64_t index = 7'654'321;
  const auto proof = Check("prove", merkle::InclusionProof(*t.store, index, BigTree::kLeaves));
  const merkle::Hash root = Check("root", merkle::RootAt(*t.store, BigTree::kLeaves));
  const merkle::Hash leaf = merkle::LeafHash(BigTree::Text(index));
  for (auto _ : state) {
    Check("verify", merkle::VerifyInclusion(leaf, index, BigTree::kLeaves, proof, root));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::to_string(proof.size()) + " hashes");
}

void BM_CheckProofFile(benchmark::State& state) {
  BigTree& t = BigTree::Get();
  const std::string file = ProveEvent(t, 2'551'440);
  for (auto _ : state) {
    // BigTree's texts are hashed whole, as v2 entries are.
    benchmark::DoNotOptimize(Check(
        "check", merkle::CheckProof(file, SigningKey().public_key(),
                                    [](std::string_view text) -> absl::StatusOr<merkle::Hash> {
                                      return merkle::LeafHash(text);
                                    })));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::to_string(file.size()) + " bytes");
}

// ---- Attribution ----

// 1M generated unit journeys, flat (touchpoints back to back), built on first use.
struct JourneysFixture {
  static constexpr size_t kJourneys = 1000000;
  attribution::ChannelTable channels;
  std::vector<attribution::ChannelId> touchpoints;
  std::vector<size_t> offsets{0};
  std::vector<uint8_t> converted;
  std::vector<double> value;
  attribution::PathSet aggregated;  // The same journeys, aggregated once.
  attribution::PathSet data_csv;    // channelattribution_Data.csv as is.

  static JourneysFixture& Get() {
    static JourneysFixture* f = [] {
      auto* f = new JourneysFixture;
      const std::string csv =
          LOOPGATE_SHARED_DIR "/corpora/attribution/channelattribution_Data.csv";
      auto gen = Check("journeys", JourneyGenerator::FromFile(csv, 1));
      f->channels = gen.channels();
      std::vector<attribution::ChannelId> t;
      for (size_t j = 0; j < kJourneys; ++j) {
        bool conv = false;
        double v = 0;
        gen.Next(&t, &conv, &v);
        f->touchpoints.insert(f->touchpoints.end(), t.begin(), t.end());
        f->offsets.push_back(f->touchpoints.size());
        f->converted.push_back(conv ? 1 : 0);
        f->value.push_back(v);
      }
      f->aggregated = f->Aggregate();
      f->data_csv = Check("Data.csv", attribution::ReadPathsFile(csv));
      return f;
    }();
    return *f;
  }

  attribution::PathSet Aggregate() const {
    attribution::PathAggregator agg(channels);
    for (size_t j = 0; j + 1 < offsets.size(); ++j) {
      const std::span<const attribution::ChannelId> path(touchpoints.data() + offsets[j],
                                                         offsets[j + 1] - offsets[j]);
      Check("add", agg.Add(path, converted[j], value[j], 1 - converted[j]));
    }
    return agg.Finish();
  }
};

void SetJourneyCounters(benchmark::State& state, const attribution::PathSet& paths) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * paths.total_journeys()));
  state.counters["distinct_paths"] = static_cast<double>(paths.size());
  state.counters["touchpoints_per_journey"] =
      static_cast<double>(JourneysFixture::Get().touchpoints.size()) /
      static_cast<double>(JourneysFixture::kJourneys);
}

void BM_AttributionAggregate1M(benchmark::State& state) {
  const JourneysFixture& f = JourneysFixture::Get();
  for (auto _ : state) {
    attribution::PathSet paths = f.Aggregate();
    benchmark::DoNotOptimize(paths.size());
  }
  SetJourneyCounters(state, f.aggregated);
}

void BM_AttributionMarkovOrder1_1M(benchmark::State& state) {
  const JourneysFixture& f = JourneysFixture::Get();
  double p = 0;
  for (auto _ : state) {
    attribution::PathSet paths = f.Aggregate();
    auto m = Check("markov", attribution::Markov(paths, 1));
    p = m.conversion_probability;
    benchmark::DoNotOptimize(m.attribution.data());
  }
  SetJourneyCounters(state, f.aggregated);
  state.counters["conversion_probability"] = p;
}

void BM_AttributionMarkov(benchmark::State& state) {
  const JourneysFixture& f = JourneysFixture::Get();
  const int order = static_cast<int>(state.range(0));
  attribution::MarkovResult m;
  for (auto _ : state) {
    m = Check("markov", attribution::Markov(f.aggregated, order));
    benchmark::DoNotOptimize(m.attribution.data());
  }
  SetJourneyCounters(state, f.aggregated);
  state.counters["states"] = static_cast<double>(m.states);
  state.counters["sweeps"] = static_cast<double>(m.sweeps);
  state.counters["error_bound"] = m.error_bound;
}

void BM_AttributionHeuristics1M(benchmark::State& state) {
  const JourneysFixture& f = JourneysFixture::Get();
  for (auto _ : state) {
    benchmark::DoNotOptimize(attribution::FirstTouch(f.aggregated).data());
    benchmark::DoNotOptimize(attribution::LastTouch(f.aggregated).data());
    benchmark::DoNotOptimize(attribution::Linear(f.aggregated).data());
    benchmark::DoNotOptimize(attribution::PositionBased(f.aggregated).data());
    benchmark::DoNotOptimize(Check("decay", attribution::TimeDecay(f.aggregated, 1.0)).data());
  }
  SetJourneyCounters(state, f.aggregated);
}

void BM_AttributionShapley12(benchmark::State& state) {
  const JourneysFixture& f = JourneysFixture::Get();
  const attribution::PathSet& paths = state.range(0) == 0 ? f.data_csv : f.aggregated;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Check("shapley", attribution::Shapley(paths)).data());
  }
  state.SetLabel(state.range(0) == 0 ? "Data.csv" : "1M generated");
  state.counters["channels"] = static_cast<double>(paths.channels().size());
  state.counters["distinct_paths"] = static_cast<double>(paths.size());
}

// --- A lift study (src/analytics) ---

// Rows as a reader of the analytics sink would hand them over: a 64-bit unit hash, the arm, the
// outcome and one dimension value. 10% of units are in the holdout; the outcome rate is 12%
// exposed, 10% holdout. A unit's arm and segment follow from its hash, so its repeated rows agree.
struct StudyRows {
  std::vector<uint64_t> unit;
  std::vector<uint8_t> flags;  // Bit 0: holdout; bit 1: outcome.
  std::vector<uint8_t> segment;
};

constexpr std::string_view kSegments[] = {"1) $0 - $100",   "2) $100 - $200", "3) $200 - $350",
                                          "4) $350 - $500", "5) $500 - $750", "6) $750 - $1,000",
                                          "7) $1,000 +"};


const StudyRows& Rows(uint64_t n, uint64_t distinct) {
  static std::map<std::pair<uint64_t, uint64_t>, StudyRows> cache;
  auto [it, inserted] = cache.try_emplace({n, distinct});
  StudyRows& r = it->second;
  if (!inserted) return r;
  r.unit.resize(n);
  r.flags.resize(n);
  r.segment.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    // splitmix64 is a bijection: n distinct inputs give n distinct hashes.
    const uint64_t u = common::Mix64(distinct == n ? i : common::Mix64(~i) % distinct);
    const bool holdout = u % 10 == 0;
    const uint64_t draw = common::Mix64(i ^ 0x5deece66dULL) % 100;
    const bool outcome = draw < (holdout ? 10u : 12u);
    r.unit[i] = u;
    r.flags[i] = static_cast<uint8_t>((holdout ? 1 : 0) | (outcome ? 2 : 0));
    r.segment[i] = static_cast<uint8_t>((u >> 32) % std::size(kSegments));
  }
  return r;
}

struct StudyConfig {
  analytics::UnitDedup dedup = analytics::UnitDedup::kByUnitHash;
  uint64_t rows = 10'000'000;
  uint64_t distinct = 10'000'000;
  bool batched = true;  // AddRows over batches of 4096 rows, or Add() row by row.
};

void BM_LiftStudy(benchmark::State& state, StudyConfig config) {
  const StudyRows& rows = Rows(config.rows, config.distinct);
  uint64_t units = 0, memory = 0;
  std::vector<analytics::LiftRow> batch(4096);
  for (auto _ : state) {
    analytics::AccumulatorOptions options;
    options.dedup = config.dedup;
    options.dimensions = {"history_segment"};
    auto acc = Check("accumulator", analytics::LiftAccumulator::Create(options));
    for (uint64_t i = 0; i < config.rows;) {
      // What a reader of the analytics sink does: fill a batch of rows, hand it over.
      size_t filled = 0;
      for (; filled < batch.size() && i < config.rows; ++filled, ++i) {
        analytics::LiftRow& r = batch[filled];
        r.unit_hash = rows.unit[i];
        r.arm = (rows.flags[i] & 1) ? analytics::Arm::kHoldout : analytics::Arm::kExposed;
        r.outcome = (rows.flags[i] & 2) != 0;
        r.dimension_values[0] = kSegments[rows.segment[i]];
      }
      absl::Status s;
      if (config.batched) {
        s = acc.AddRows(std::span<const analytics::LiftRow>(batch.data(), filled));
      } else {
        for (size_t j = 0; j < filled && s.ok(); ++j) {
          const analytics::LiftRow& r = batch[j];
          s = acc.Add(r.unit_hash, r.arm, r.outcome,
                      std::span<const std::string_view>(r.dimension_values.data(), 1));
        }
      }
      if (!s.ok()) {
        state.SkipWithError("Add failed");
        return;
      }
    }
    for (const analytics::LiftCell& cell : acc.Cells()) {
      auto lift = analytics::CellLift(cell, analytics::Evidence::kRandomizedHoldout);
      benchmark::DoNotOptimize(lift);
    }
    auto total = analytics::CellLift(acc.Total(), analytics::Evidence::kRandomizedHoldout);
    benchmark::DoNotOptimize(total);
    units = acc.stats().units;
    memory = acc.stats().memory_bytes;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * config.rows));
  state.counters["units"] = static_cast<double>(units);
  state.counters["table_MiB"] = static_cast<double>(memory) / (1 << 20);
}

void Register() {
  Env& env = Env::Get();
  benchmark::RegisterBenchmark("BM_IssueScaleReference", BM_IssueScaleReference);
  benchmark::RegisterBenchmark("BM_ParseValidate", BM_ParseValidate);
  benchmark::RegisterBenchmark("BM_ParseValidate_AllLines", BM_ParseValidate_AllLines);
  benchmark::RegisterBenchmark("BM_DecideAllSinks", BM_DecideAllSinks);
  benchmark::RegisterBenchmark("BM_DecideAllSinks_ColdCache", BM_DecideAllSinks_ColdCache);
  benchmark::RegisterBenchmark("BM_DecideAllSinks_LargeRegistry", BM_DecideAllSinks_LargeRegistry);
  // The same, one event at a time: the target is per event, so the slowest one matters.
  DecideFixture& f = DecideFixture::Get();
  for (const auto& e : f.events) {
    const event::Event* ev = e.get();
    std::string name = "BM_DecideAllSinks/" + ev->id.substr(0, 16);
    benchmark::RegisterBenchmark(name.c_str(), [ev](benchmark::State& state) {
      RunDecide(state, *DecideFixture::Get().engine, *DecideFixture::Get().consents, {ev});
      state.SetLabel(std::string(ev->type));
    });
  }
  benchmark::RegisterBenchmark("BM_Transform/analytics_lake/evt-0007", BM_Transform,
                               std::string("analytics_lake"), std::string("evt-0007"));
  benchmark::RegisterBenchmark("BM_Transform/analytics_lake/evt-0013", BM_Transform,
                               std::string("analytics_lake"), std::string("evt-0013"));
  benchmark::RegisterBenchmark("BM_Transform/support_cases/evt-0007", BM_Transform,
                               std::string("support_cases"), std::string("evt-0007"));
  benchmark::RegisterBenchmark("BM_LedgerAppend", BM_LedgerAppend)->Arg(8192)->ArgName("batch");
  benchmark::RegisterBenchmark("BM_SeenInsert/store/ids:1M", BM_SeenInsert, false)
      ->Iterations(1'000'000);
  benchmark::RegisterBenchmark("BM_SeenInsert/sqlite/ids:1M", BM_SeenInsert, true)
      ->Iterations(1'000'000);
  benchmark::RegisterBenchmark("BM_ChainHash", BM_ChainHash);
  benchmark::RegisterBenchmark("BM_MerkleLeafHash", BM_MerkleLeafHash);
  benchmark::RegisterBenchmark("BM_CompactRangeAppend", BM_CompactRangeAppend);
  benchmark::RegisterBenchmark("BM_MerkleAppend", BM_MerkleAppend);
  benchmark::RegisterBenchmark("BM_SignCheckpoint", BM_SignCheckpoint);
  benchmark::RegisterBenchmark("BM_InclusionProof_10M", BM_InclusionProof_10M);
  benchmark::RegisterBenchmark("BM_ConsistencyProof_10M", BM_ConsistencyProof_10M);
  benchmark::RegisterBenchmark("BM_ProveEvent_10M", BM_ProveEvent_10M);
  benchmark::RegisterBenchmark("BM_VerifyInclusion", BM_VerifyInclusion);
  benchmark::RegisterBenchmark("BM_CheckProofFile", BM_CheckProofFile);
  benchmark::RegisterBenchmark("BM_AttributionAggregate1M", BM_AttributionAggregate1M)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_AttributionMarkovOrder1_1M", BM_AttributionMarkovOrder1_1M)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_AttributionMarkov", BM_AttributionMarkov)
      ->DenseRange(1, attribution::kMaxMarkovOrder)
      ->ArgName("order")
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_AttributionHeuristics1M", BM_AttributionHeuristics1M)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_AttributionShapley12", BM_AttributionShapley12)
      ->Arg(0)
      ->Arg(1)
      ->ArgName("input")
      ->Unit(benchmark::kMicrosecond);
  {
    using analytics::UnitDedup;
    const std::pair<const char*, StudyConfig> studies[] = {
        {"BM_LiftStudy/by_hash/rows:10M/units:10M", {}},
        {"BM_LiftStudy/by_hash/rows:10M/units:10M/row_by_row", {.batched = false}},
        {"BM_LiftStudy/by_hash/rows:10M/units:2M", {.distinct = 2'000'000}},
        {"BM_LiftStudy/one_row_per_unit/rows:10M", {.dedup = UnitDedup::kOneRowPerUnit}},
    };
    for (const auto& [name, config] : studies) {
      benchmark::RegisterBenchmark(name, BM_LiftStudy, config)
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
    }
  }
  (void)env;
}

}  // namespace
}  // namespace loopgate::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  loopgate::bench::Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
