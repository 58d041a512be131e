#include "consent/consent.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "common/line_reader.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"
#include "crypto/crypto.h"
#include "json/json.h"

namespace loopgate::consent {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// Reads a required string member; false with a reason otherwise.
bool RequiredString(object o, std::string_view key, std::string_view* out, std::string* why) {
  element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) {
    *why = common::StrCat("required field '", key, "' is missing");
    return false;
  }
  if (e.get_string().get(*out) != simdjson::SUCCESS || out->empty()) {
    *why = common::StrCat("field '", key, "' must be a non-empty string");
    return false;
  }
  return true;
}

// Optional string: absent and null are nullopt.
bool OptionalString(object o, std::string_view key, std::optional<std::string>* out,
                    std::string* why) {
  element e;
  out->reset();
  if (o.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return true;
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) {
    *why = common::StrCat("field '", key, "' must be a string or null");
    return false;
  }
  *out = std::string(s);
  return true;
}

bool RequiredTime(object o, std::string_view key, common::Instant* out, std::string* why,
                  std::string_view* text = nullptr) {
  std::string_view s;
  if (!RequiredString(o, key, &s, why)) return false;
  auto t = common::ParseRfc3339(s);
  if (!t) {
    *why = common::StrCat("field '", key, "' is not an RFC 3339 date-time");
    return false;
  }
  *out = *t;
  if (text != nullptr) *text = s;
  return true;
}

bool OptionalTime(object o, std::string_view key, std::optional<common::Instant>* out,
                  std::string* why) {
  std::optional<std::string> s;
  if (!OptionalString(o, key, &s, why)) return false;
  out->reset();
  if (!s) return true;
  auto t = common::ParseRfc3339(*s);
  if (!t) {
    *why = common::StrCat("field '", key, "' is not an RFC 3339 date-time");
    return false;
  }
  *out = *t;
  return true;
}

bool StringList(object o, std::string_view key, std::vector<std::string>* out, std::string* why) {
  element e;
  simdjson::dom::array arr;
  if (o.at_key(key).get(e) != simdjson::SUCCESS || e.get_array().get(arr) != simdjson::SUCCESS) {
    *why = common::StrCat("field '", key, "' must be an array of strings");
    return false;
  }
  out->clear();
  for (element item : arr) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS) {
      *why = common::StrCat("field '", key, "' must be an array of strings");
      return false;
    }
    out->emplace_back(s);
  }
  return true;
}

struct ParsedConsent {
  ConsentRecord record;
  std::string subject_type, subject_id, purpose;
  std::string effective_text, expires_text;
};

bool ParseConsent(object o, ParsedConsent* p, std::string* why) {
  std::string_view id, st, sid, purpose, status, eff_text, rec_text;
  if (!RequiredString(o, "consent_id", &id, why) || !RequiredString(o, "subject_type", &st, why) ||
      !RequiredString(o, "subject_id", &sid, why) || !RequiredString(o, "purpose", &purpose, why) ||
      !RequiredString(o, "status", &status, why)) {
    return false;
  }
  if (status != "granted" && status != "revoked") {
    *why = "field 'status' must be granted or revoked";
    return false;
  }
  ConsentRecord& r = p->record;
  r.consent_id = id;
  p->subject_type = st;
  p->subject_id = sid;
  p->purpose = purpose;
  r.status = status == "granted" ? ConsentStatus::kGranted : ConsentStatus::kRevoked;
  if (!RequiredTime(o, "effective_from", &r.effective_from, why, &eff_text) ||
      !OptionalTime(o, "expires_at", &r.expires_at, why) ||
      !OptionalString(o, "channel", &r.channel, why) ||
      !OptionalString(o, "jurisdiction", &r.jurisdiction, why) ||
      !RequiredTime(o, "recorded_at", &r.recorded_at, why, &rec_text)) {
    return false;
  }
  p->effective_text = eff_text;
  r.recorded_at_text = rec_text;
  std::optional<std::string> exp;
  OptionalString(o, "expires_at", &exp, why);
  p->expires_text = exp.value_or("");
  return true;
}

bool ParseAgreement(object o, AgreementRecord* r, std::string* why) {
  std::string_view id, inst, gran;
  if (!RequiredString(o, "agreement_id", &id, why) ||
      !RequiredString(o, "institution", &inst, why) ||
      !StringList(o, "source_systems", &r->source_systems, why) ||
      !StringList(o, "allowed_purposes", &r->allowed_purposes, why) ||
      !RequiredString(o, "granularity", &gran, why)) {
    return false;
  }
  if (gran != "individual" && gran != "aggregate_only") {
    *why = "field 'granularity' must be individual or aggregate_only";
    return false;
  }
  r->agreement_id = id;
  r->institution = inst;
  r->granularity = gran == "individual" ? Granularity::kIndividual : Granularity::kAggregateOnly;
  return RequiredTime(o, "effective_from", &r->effective_from, why) &&
         OptionalTime(o, "expires_at", &r->expires_at, why) &&
         RequiredTime(o, "recorded_at", &r->recorded_at, why);
}

// Which stored version is current: the latest recorded_at, ties to the later import.
template <typename R>
bool Newer(const R& a, const R& b) {
  if (a.recorded_at != b.recorded_at) return a.recorded_at > b.recorded_at;
  return a.seq > b.seq;
}

}  // namespace

std::string_view RegistryName(RegistryKind kind) {
  return kind == RegistryKind::kConsents ? "consent" : "agreement";
}

absl::StatusOr<ImportReport> Import(store::Database& db, RegistryKind kind,
                                    const std::string& path) {
  const int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(common::StrCat(path, ": cannot open the ", RegistryName(kind),
                                            " file"));
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd != STDIN_FILENO) ::close(fd);
    }
  } closer{fd};
  common::LineReader reader(fd, 1 << 20);
  json::StrictParser parser;
  ImportReport report;
  std::string canonical;

  const char* insert_consent =
      "INSERT INTO consents (digest, consent_id, subject_type, subject_id, purpose, status, "
      "effective_from, effective_s, effective_ns, expires_at, expires_s, expires_ns, channel, "
      "jurisdiction, recorded_at, recorded_s, recorded_ns, record) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (digest) DO NOTHING";
  const char* insert_agreement =
      "INSERT INTO agreements (digest, agreement_id, recorded_s, recorded_ns, record) "
      "VALUES (?,?,?,?,?) ON CONFLICT (digest) DO NOTHING";
  auto stmt = db.Prepare(kind == RegistryKind::kConsents ? insert_consent : insert_agreement);
  if (!stmt.ok()) return stmt.status();
  if (auto s = db.Begin(); !s.ok()) return s;

  common::Line line;
  while (true) {
    auto more = reader.Next(&line);
    if (!more.ok()) {
      (void)db.Rollback();
      return more.status();
    }
    if (!*more) break;
    if (line.text.find_first_not_of(" \t\r") == std::string_view::npos && !line.oversized) {
      continue;
    }
    ++report.records;
    auto reject = [&](std::string_view why) {
      ++report.rejected;
      report.errors.push_back(common::StrCat("line ", line.number, ": ", why));
    };
    if (line.oversized) {
      reject("the line is longer than 1 MiB");
      continue;
    }
    auto root = parser.Parse(line.text, &canonical);
    object o;
    if (!root.ok()) {
      reject(std::string(root.status().message()));
      continue;
    }
    if (root->get_object().get(o) != simdjson::SUCCESS) {
      reject("the line is not a JSON object");
      continue;
    }
    const crypto::Digest digest = crypto::Sha256(canonical);
    std::string why;
    if (kind == RegistryKind::kConsents) {
      ParsedConsent p;
      if (!ParseConsent(o, &p, &why)) {
        reject(why);
        continue;
      }
      const ConsentRecord& r = p.record;
      stmt->BindBlob(1, digest.data(), digest.size())
          .Bind(2, r.consent_id)
          .Bind(3, p.subject_type)
          .Bind(4, p.subject_id)
          .Bind(5, p.purpose)
          .Bind(6, r.status == ConsentStatus::kGranted ? "granted" : "revoked")
          .Bind(7, p.effective_text)
          .Bind(8, r.effective_from.seconds)
          .Bind(9, static_cast<int64_t>(r.effective_from.nanos));
      if (r.expires_at) {
        stmt->Bind(10, p.expires_text)
            .Bind(11, r.expires_at->seconds)
            .Bind(12, static_cast<int64_t>(r.expires_at->nanos));
      } else {
        stmt->BindNull(10).BindNull(11).BindNull(12);
      }
      if (r.channel) stmt->Bind(13, *r.channel); else stmt->BindNull(13);
      if (r.jurisdiction) stmt->Bind(14, *r.jurisdiction); else stmt->BindNull(14);
      stmt->Bind(15, r.recorded_at_text)
          .Bind(16, r.recorded_at.seconds)
          .Bind(17, static_cast<int64_t>(r.recorded_at.nanos))
          .Bind(18, canonical);
    } else {
      AgreementRecord r;
      if (!ParseAgreement(o, &r, &why)) {
        reject(why);
        continue;
      }
      stmt->BindBlob(1, digest.data(), digest.size())
          .Bind(2, r.agreement_id)
          .Bind(3, r.recorded_at.seconds)
          .Bind(4, static_cast<int64_t>(r.recorded_at.nanos))
          .Bind(5, canonical);
    }
    if (auto s = stmt->Run(); !s.ok()) {
      (void)db.Rollback();
      return s;
    }
    if (sqlite3_changes(db.raw()) > 0) {
      ++report.added;
    } else {
      ++report.unchanged;
    }
  }
  if (auto s = db.Commit(); !s.ok()) return s;
  return report;
}

absl::StatusOr<std::vector<ConsentVersion>> VersionsForSubject(store::Database& db,
                                                               std::string_view subject_type,
                                                               std::string_view subject_id) {
  auto q = db.Prepare(
      "SELECT consent_id, status, effective_s, effective_ns, expires_s, expires_ns, channel, "
      "jurisdiction, recorded_s, recorded_ns, recorded_at, seq, subject_type, subject_id, "
      "purpose, effective_from, expires_at, record FROM consents "
      "WHERE consent_id IN (SELECT consent_id FROM consents "
      "WHERE subject_type = ?1 AND subject_id = ?2) "
      "ORDER BY consent_id, recorded_s, recorded_ns, seq");
  if (!q.ok()) return q.status();
  q->Bind(1, subject_type).Bind(2, subject_id);
  std::vector<ConsentVersion> out;
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ConsentVersion v;
    ConsentRecord& r = v.record;
    r.consent_id = q->Text(0);
    r.status = q->Text(1) == "granted" ? ConsentStatus::kGranted : ConsentStatus::kRevoked;
    r.effective_from = {q->Int(2), static_cast<int32_t>(q->Int(3))};
    if (!q->IsNull(4)) r.expires_at = common::Instant{q->Int(4), static_cast<int32_t>(q->Int(5))};
    if (!q->IsNull(6)) r.channel = std::string(q->Text(6));
    if (!q->IsNull(7)) r.jurisdiction = std::string(q->Text(7));
    r.recorded_at = {q->Int(8), static_cast<int32_t>(q->Int(9))};
    r.recorded_at_text = q->Text(10);
    r.seq = q->Int(11);
    v.subject_type = q->Text(12);
    v.subject_id = q->Text(13);
    v.purpose = q->Text(14);
    v.effective_from_text = q->Text(15);
    if (!q->IsNull(16)) v.expires_at_text = std::string(q->Text(16));
    v.canonical = q->Text(17);
    out.push_back(std::move(v));
  }
  return out;
}

absl::Status CopyRegistries(store::Database& from, store::Database& to) {
  static constexpr std::string_view kConsentColumns =
      "seq, digest, consent_id, subject_type, subject_id, purpose, status, effective_from, "
      "effective_s, effective_ns, expires_at, expires_s, expires_ns, channel, jurisdiction, "
      "recorded_at, recorded_s, recorded_ns, record";
  static constexpr std::string_view kAgreementColumns =
      "seq, digest, agreement_id, recorded_s, recorded_ns, record";
  if (auto s = to.Begin(); !s.ok()) return s;
  for (const auto& [table, columns, count] :
       {std::tuple{std::string_view("consents"), kConsentColumns, 19},
        std::tuple{std::string_view("agreements"), kAgreementColumns, 6}}) {
    auto read = from.Prepare(common::StrCat("SELECT ", columns, " FROM ", table, " ORDER BY seq"));
    std::string marks = "?";
    for (int i = 1; i < count; ++i) marks += ",?";
    auto write =
        to.Prepare(common::StrCat("INSERT INTO ", table, " (", columns, ") VALUES (", marks, ")"));
    absl::Status s = !read.ok() ? read.status() : write.status();
    while (s.ok()) {
      auto row = read->Step();
      if (!row.ok()) {
        s = row.status();
        break;
      }
      if (!*row) break;
      // Column types are kept as stored: integers, blobs, text and NULLs.
      for (int c = 0; c < count; ++c) {
        switch (read->Type(c)) {
          case SQLITE_NULL:
            write->BindNull(c + 1);
            break;
          case SQLITE_INTEGER:
            write->Bind(c + 1, read->Int(c));
            break;
          case SQLITE_BLOB: {
            const std::string_view b = read->Blob(c);
            write->BindBlob(c + 1, b.data(), b.size());
            break;
          }
          default:
            write->Bind(c + 1, read->Text(c));
            break;
        }
      }
      s = write->Run();
    }
    if (!s.ok()) {
      (void)to.Rollback();
      return s;
    }
  }
  return to.Commit();
}

namespace {
// Keys per cache generation (two are kept): about 15 MiB each.
constexpr size_t kCacheEntries = 1 << 16;
}  // namespace

ConsentView::ConsentView(store::Database& db, common::Instant as_of, int64_t preload_limit)
    : db_(db),
      as_of_(as_of),
      preload_limit_(preload_limit),
      mode_(preload_limit > 0 ? Mode::kUndecided : Mode::kPerSubject) {}

bool ConsentView::BuildKey(std::string_view subject_type, std::string_view subject_id,
                           std::string_view purpose, bool add) {
  // The pair with both lengths (4 bytes each), so no two pairs run together.
  pair_key_.clear();
  for (std::string_view part : {subject_type, purpose}) {
    const auto n = static_cast<uint32_t>(part.size());
    pair_key_.append(reinterpret_cast<const char*>(&n), sizeof(n));
    pair_key_.append(part);
  }
  uint32_t code = 0;
  if (auto it = pairs_.find(pair_key_); it != pairs_.end()) {
    code = it->second;
  } else if (add) {
    code = static_cast<uint32_t>(pairs_.size());
    pairs_.emplace(pair_key_, code);
  } else {
    return false;
  }
  key_.clear();
  key_.append(reinterpret_cast<const char*>(&code), sizeof(code));
  key_.append(subject_id);
  return true;
}

absl::Status ConsentView::Preload() {
  ASSIGN_OR_RETURN(auto count, db_.Prepare("SELECT COUNT(*) FROM consents"));
  ASSIGN_OR_RETURN(bool row, count.Step());
  if (!row || count.Int(0) > preload_limit_) {
    mode_ = Mode::kPerSubject;
    return absl::OkStatus();
  }
  // In consent_id order (the index consents_by_id; byte order, as std::string compares), so
  // one consent's versions come together: its current version (latest recorded_at <= as_of,
  // ties to the later import) is known when the next id begins, and is filed under the
  // (subject, purpose) that version names. A consent counts only for what its current version
  // names, exactly as Current() reads it per subject, and each key's records come out in
  // consent_id order.
  ASSIGN_OR_RETURN(auto q, db_.Prepare(
      "SELECT consent_id, status, effective_s, effective_ns, expires_s, expires_ns, channel, "
      "jurisdiction, recorded_s, recorded_ns, recorded_at, seq, subject_type, subject_id, "
      "purpose FROM consents ORDER BY consent_id"));
  ConsentRecord best;
  std::string best_key;
  bool have = false;
  auto file = [&] {
    if (have) loaded_[best_key].push_back(std::move(best));
    have = false;
  };
  while (true) {
    ASSIGN_OR_RETURN(bool more, q.Step());
    if (!more) break;
    const std::string_view id = q.Text(0);
    if (have && id != best.consent_id) file();
    ConsentRecord r;
    r.recorded_at = {q.Int(8), static_cast<int32_t>(q.Int(9))};
    if (r.recorded_at > as_of_) continue;  // Not yet known as of as_of.
    r.seq = q.Int(11);
    if (have && !Newer(r, best)) continue;
    r.consent_id = id;
    r.status = q.Text(1) == "granted" ? ConsentStatus::kGranted : ConsentStatus::kRevoked;
    r.effective_from = {q.Int(2), static_cast<int32_t>(q.Int(3))};
    if (!q.IsNull(4)) r.expires_at = common::Instant{q.Int(4), static_cast<int32_t>(q.Int(5))};
    if (!q.IsNull(6)) r.channel = std::string(q.Text(6));
    if (!q.IsNull(7)) r.jurisdiction = std::string(q.Text(7));
    r.recorded_at_text = q.Text(10);
    BuildKey(q.Text(12), q.Text(13), q.Text(14), /*add=*/true);
    best = std::move(r);
    best_key = key_;
    have = true;
  }
  file();
  mode_ = Mode::kPreloaded;
  return absl::OkStatus();
}

absl::StatusOr<const std::vector<ConsentRecord>*> ConsentView::Current(
    std::string_view subject_type, std::string_view subject_id, std::string_view purpose) {
  if (mode_ == Mode::kUndecided) RETURN_IF_ERROR(Preload());
  if (mode_ == Mode::kPreloaded) {
    // A pair the registry never named has no consents.
    if (!BuildKey(subject_type, subject_id, purpose, /*add=*/false)) return &none_;
    auto it = loaded_.find(key_);
    return it == loaded_.end() ? &none_ : &it->second;
  }
  BuildKey(subject_type, subject_id, purpose, /*add=*/true);
  if (auto it = cache_.find(key_); it != cache_.end()) return &it->second;
  if (auto it = retired_.find(key_); it != retired_.end()) {
    // Moving the vector keeps its records where they are: pointers to them stay valid.
    auto& slot = cache_[key_];
    slot = std::move(it->second);
    retired_.erase(it);
    return &slot;
  }
  if (!query_) {
    // Every version of every consent that ever named this subject and purpose: a later version
    // of the same consent_id may have moved it to another purpose or subject, and then it no
    // longer counts here (formats.md: a later recorded_at is a new version of that consent).
    auto q = db_.Prepare(
        "SELECT consent_id, status, effective_s, effective_ns, expires_s, expires_ns, channel, "
        "jurisdiction, recorded_s, recorded_ns, recorded_at, seq, "
        "subject_type = ?1 AND subject_id = ?2 AND purpose = ?3 FROM consents "
        "WHERE consent_id IN (SELECT consent_id FROM consents "
        "WHERE subject_type = ?1 AND subject_id = ?2 AND purpose = ?3)");
    if (!q.ok()) return q.status();
    query_ = std::move(*q);
  }
  query_->Bind(1, subject_type).Bind(2, subject_id).Bind(3, purpose);
  // Per consent_id: its current version, and whether that version is for this subject and purpose.
  std::map<std::string, std::pair<ConsentRecord, bool>> current;
  while (true) {
    auto row = query_->Step();
    if (!row.ok()) {
      query_->Reset();
      return row.status();
    }
    if (!*row) break;
    ConsentRecord r;
    r.recorded_at = {query_->Int(8), static_cast<int32_t>(query_->Int(9))};
    if (r.recorded_at > as_of_) continue;  // Not yet known as of as_of.
    r.consent_id = query_->Text(0);
    r.status = query_->Text(1) == "granted" ? ConsentStatus::kGranted : ConsentStatus::kRevoked;
    r.effective_from = {query_->Int(2), static_cast<int32_t>(query_->Int(3))};
    if (!query_->IsNull(4)) {
      r.expires_at = common::Instant{query_->Int(4), static_cast<int32_t>(query_->Int(5))};
    }
    if (!query_->IsNull(6)) r.channel = std::string(query_->Text(6));
    if (!query_->IsNull(7)) r.jurisdiction = std::string(query_->Text(7));
    r.recorded_at_text = query_->Text(10);
    r.seq = query_->Int(11);
    const bool matches = query_->Int(12) != 0;
    auto it = current.find(r.consent_id);
    if (it == current.end()) {
      std::string id = r.consent_id;  // Before `r` is moved into the value.
      current.emplace(std::move(id), std::pair{std::move(r), matches});
    } else if (Newer(r, it->second.first)) {
      it->second = {std::move(r), matches};
    }
  }
  query_->Reset();
  auto& slot = cache_[key_];
  for (auto& [id, version] : current) {
    if (version.second) slot.push_back(std::move(version.first));
  }
  return &slot;
}

void ConsentView::Prefetch(std::string_view subject_type, std::string_view subject_id,
                           std::string_view purpose) {
  if (mode_ != Mode::kPreloaded) return;
  if (BuildKey(subject_type, subject_id, purpose, /*add=*/false)) loaded_.prefetch(key_);
}

void ConsentView::Trim() {
  if (cache_.size() >= kCacheEntries) {
    retired_ = std::move(cache_);
    cache_.clear();
  }
}

absl::StatusOr<AgreementView> AgreementView::Load(store::Database& db, common::Instant as_of) {
  auto q = db.Prepare("SELECT record, seq FROM agreements");
  if (!q.ok()) return q.status();
  json::StrictParser parser;
  std::string canonical, why;
  std::map<std::string, AgreementRecord> current;
  while (true) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto root = parser.ParseCopy(q->Text(0), &canonical);
    object o;
    AgreementRecord r;
    if (!root.ok() || root->get_object().get(o) != simdjson::SUCCESS ||
        !ParseAgreement(o, &r, &why)) {
      return absl::DataLossError("a stored agreement record no longer parses");
    }
    r.seq = q->Int(1);
    if (r.recorded_at > as_of) continue;
    auto it = current.find(r.agreement_id);
    if (it == current.end()) {
      current.emplace(r.agreement_id, std::move(r));
    } else if (Newer(r, it->second)) {
      it->second = std::move(r);
    }
  }
  AgreementView view;
  for (auto& [id, r] : current) view.current_.push_back(std::move(r));
  return view;
}

std::vector<const AgreementRecord*> AgreementView::ForSource(std::string_view source) const {
  std::vector<const AgreementRecord*> out;
  for (const auto& a : current_) {
    if (std::find(a.source_systems.begin(), a.source_systems.end(), source) !=
        a.source_systems.end()) {
      out.push_back(&a);
    }
  }
  return out;
}

}  // namespace loopgate::consent
