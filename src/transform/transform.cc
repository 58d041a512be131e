#include "transform/transform.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "common/strings.h"
#include "common/text.h"
#include "common/time.h"
#include "json/json.h"

namespace loopgate::transform {

using catalog::Action;
using catalog::Level;

absl::StatusOr<KeyStore> KeyStore::LoadString(std::string_view text, const std::string& path) {
  json::StrictParser parser;
  std::string canonical;
  auto root = parser.ParseCopy(text, &canonical);
  simdjson::dom::object obj;
  if (!root.ok() || root->get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(common::StrCat(
        path, ": the keys file must be one JSON object of token domain to "
              "{\"key_id\": ..., \"secret_hex\": ...}"));
  }
  KeyStore store;
  // Each domain's secret by its SHA-256, to find domains sharing one without keeping secrets.
  std::map<std::string, crypto::Digest, std::less<>> fingerprints;
  for (auto [domain, value] : obj) {
    std::string_view key_id, secret_hex;
    simdjson::dom::object entry;
    if (value.get_object().get(entry) != simdjson::SUCCESS ||
        entry["key_id"].get_string().get(key_id) != simdjson::SUCCESS ||
        entry["secret_hex"].get_string().get(secret_hex) != simdjson::SUCCESS || key_id.empty()) {
      return absl::InvalidArgumentError(common::StrCat(
          path, ": token domain ", common::QuoteName(domain),
          " needs {\"key_id\": \"...\", \"secret_hex\": \"...\"}"));
    }
    auto secret = common::HexDecode(secret_hex);
    if (!secret || secret->size() < 16) {
      return absl::InvalidArgumentError(common::StrCat(
          path, ": the secret of token domain ", common::QuoteName(domain),
          " must be hex of at least 16 bytes (32 hex digits)"));
    }
    auto hmac = crypto::HmacSha256::Create(*secret);
    fingerprints.emplace(std::string(domain), crypto::Sha256(*secret));
    std::fill(secret->begin(), secret->end(), '\0');
    if (!hmac.ok()) return hmac.status();
    store.keys_.emplace(std::string(domain), Key{std::string(key_id), std::move(*hmac)});
  }
  for (auto a = fingerprints.begin(); a != fingerprints.end(); ++a) {
    for (auto b = std::next(a); b != fingerprints.end(); ++b) {
      if (a->second == b->second) store.shared_.emplace_back(a->first, b->first);
    }
  }
  return store;
}

absl::StatusOr<KeyStore> KeyStore::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(common::StrCat(path, ": cannot open the keys file"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto store = LoadString(text, path);
  std::fill(text.begin(), text.end(), '\0');
  return store;
}

std::vector<std::pair<std::string, std::string>> JoinableTokenDomains(
    const catalog::Catalog& catalog, const KeyStore& keys) {
  std::set<std::string, std::less<>> used;
  for (const catalog::Sink& s : catalog.sinks) {
    const bool tokenizes = std::any_of(s.actions.begin(), s.actions.end(),
                                       [](const auto& a) { return a == Action::kTokenize; });
    if (tokenizes && s.token_domain) used.insert(*s.token_domain);
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& pair : keys.domains_sharing_a_secret()) {
    if (used.count(pair.first) && used.count(pair.second)) out.push_back(pair);
  }
  return out;
}

const KeyStore::Key* KeyStore::Find(std::string_view domain) const {
  auto it = keys_.find(domain);
  return it == keys_.end() ? nullptr : &it->second;
}

// `keep` delivers "the value as is" (routing.md section 4). Strings, booleans and non-integral
// numbers are written in their RFC 8785 form, which keeps their value; an integer is written
// with all of its digits, since RFC 8785 prints numbers as doubles and would change integers
// beyond 2^53 (an `integer` field holds any signed 64-bit value, formats.md).
static void AppendKept(simdjson::dom::element value, std::string* out) {
  switch (value.type()) {
    case simdjson::dom::element_type::INT64:
      common::StrAppend(out, value.get_int64().value_unsafe());
      return;
    case simdjson::dom::element_type::UINT64:
      common::StrAppend(out, value.get_uint64().value_unsafe());
      return;
    default:
      (void)json::AppendCanonical(value, out);
  }
}

std::string Token(const crypto::HmacSha256& key, std::string_view bytes) {
  const crypto::Digest mac = key.Mac(bytes);
  std::string out = "tok_";
  out += common::HexEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), 16));
  return out;
}

bool Generalize(std::string_view text, std::string* out) {
  if (common::IsCalendarDate(text) || (text.size() > 10 && common::ParseRfc3339(text))) {
    out->assign(text.substr(0, 4));
    return true;
  }
  auto digits = [&](size_t from, size_t n) {
    return std::all_of(text.begin() + static_cast<ptrdiff_t>(from),
                       text.begin() + static_cast<ptrdiff_t>(from + n),
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  const bool zip5 = text.size() == 5 && digits(0, 5);
  const bool zip9 = text.size() == 10 && digits(0, 5) && text[5] == '-' && digits(6, 4);
  if (!zip5 && !zip9) return false;
  // HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(B): three-digit ZIPs with 20,000 people or fewer.
  static constexpr std::string_view kRestricted[] = {
      "036", "059", "063", "102", "203", "556", "692", "790", "821",
      "823", "830", "831", "878", "879", "884", "890", "893"};
  const std::string_view zip3 = text.substr(0, 3);
  const bool restricted =
      std::find(std::begin(kRestricted), std::end(kRestricted), zip3) != std::end(kRestricted);
  out->assign(restricted ? std::string_view("000") : zip3);
  return true;
}

std::string Mask(std::string_view text) {
  const size_t count = common::CodePointCount(text);
  if (count <= 4) return std::string(text);
  // Find the byte offset where the last four code points start.
  size_t keep_from = text.size();
  for (size_t seen = 0; seen < 4;) {
    --keep_from;
    if ((static_cast<unsigned char>(text[keep_from]) & 0xC0) != 0x80) ++seen;
  }
  std::string out(count - 4, '*');
  out.append(text.substr(keep_from));
  return out;
}

ClassAction ActionFor(const catalog::Catalog& catalog, const catalog::Sink& sink,
                      uint32_t class_index) {
  const auto& configured = sink.actions[class_index];
  if (configured) return {*configured, true};
  return {catalog.classes[class_index].level <= sink.max_level ? Action::kKeep : Action::kDrop,
          false};
}

Level LevelAfter(Action action, Level class_level) {
  return action == Action::kTokenize || action == Action::kGeneralize ? Level::kPseudonymous
                                                                      : class_level;
}

std::string_view FormName(Form form) {
  switch (form) {
    case Form::kKept: return "kept";
    case Form::kToken: return "token";
    case Form::kYear: return "year";
    case Form::kZip3: return "zip3";
    case Form::kMasked: return "masked";
    case Form::kDropped: return "dropped";
  }
  return "dropped";
}

std::string_view DropCauseName(DropCause cause) {
  switch (cause) {
    case DropCause::kNone: return "";
    case DropCause::kAction: return "drop";
    case DropCause::kLevel: return "drop:level";
    case DropCause::kNotGeneralizable: return "drop:not_generalizable";
  }
  return "";
}

FieldPlan PlanField(const catalog::Catalog& catalog, const catalog::Sink& sink,
                    const catalog::Field& field) {
  FieldPlan plan;
  plan.action = ActionFor(catalog, sink, field.class_index);
  const Level class_level = catalog.classes[field.class_index].level;
  auto drop = [&](DropCause cause) {
    plan.form = Form::kDropped;
    plan.drop = cause;
    plan.by_value = false;
    return plan;
  };
  switch (plan.action.action) {
    case Action::kKeep: plan.form = Form::kKept; break;
    case Action::kDrop:
      return drop(plan.action.configured ? DropCause::kAction : DropCause::kLevel);
    case Action::kTokenize: plan.form = Form::kToken; break;
    case Action::kMask: plan.form = Form::kMasked; break;
    case Action::kGeneralize:
      // Apply generalizes only strings (Generalize); intake has already checked that date and
      // datetime values are dates, so those always become a year.
      switch (field.type) {
        case catalog::FieldType::kDate:
        case catalog::FieldType::kDatetime:
          plan.form = Form::kYear;
          break;
        case catalog::FieldType::kString:
          plan.form = Form::kZip3;
          plan.by_value = true;
          break;
        case catalog::FieldType::kEnum: {
          // The values are known: try each.
          bool zip = false, year = false, other = false;
          for (const auto& v : field.enum_values) {
            std::string out;
            if (!Generalize(v, &out)) {
              other = true;
            } else if (out.size() == 3) {
              zip = true;
            } else {
              year = true;
            }
          }
          if (!zip && !year) return drop(DropCause::kNotGeneralizable);
          plan.form = zip ? Form::kZip3 : Form::kYear;
          plan.by_value = other || (zip && year);
          break;
        }
        default:
          return drop(DropCause::kNotGeneralizable);
      }
      break;
  }
  plan.level = LevelAfter(plan.action.action, class_level);
  if (plan.level > sink.max_level) return drop(DropCause::kLevel);
  return plan;
}

absl::StatusOr<std::unique_ptr<Transformer>> Transformer::Create(const catalog::Catalog& catalog,
                                                                 const KeyStore& keys) {
  std::unique_ptr<Transformer> t(new Transformer(catalog));
  for (const auto& sink : catalog.sinks) {
    const KeyStore::Key* key = nullptr;
    const bool tokenizes = std::any_of(sink.actions.begin(), sink.actions.end(),
                                       [](const auto& a) { return a == Action::kTokenize; });
    if (sink.token_domain) key = keys.Find(*sink.token_domain);
    if (tokenizes && key == nullptr) {
      return absl::FailedPreconditionError(common::StrCat(
          "sink '", sink.id, "' tokenizes under token domain '", *sink.token_domain,
          "' but the keys file has no key for it (pass --keys with that domain)"));
    }
    t->sink_keys_.push_back(key);
  }
  return t;
}

void Transformer::Apply(const event::Event& event, uint32_t sink_index, std::string* data,
                        std::vector<std::string>* applied) {
  const catalog::Sink& sink = catalog_.sinks[sink_index];
  const catalog::EventType& type = *event.type_def;
  order_.clear();
  for (const auto& f : event.fields) order_.push_back(&f);
  std::sort(order_.begin(), order_.end(), [](const event::FieldValue* a, const event::FieldValue* b) {
    return json::Utf16Less(a->name, b->name);
  });
  data->clear();
  data->push_back('{');  // Not assign("{"): GCC 12 at -O3 misreports that as -Wrestrict.
  bool first = true;
  for (const event::FieldValue* f : order_) {
    const catalog::Field& def = type.fields[f->field_index];
    const Level class_level = catalog_.classes[def.class_index].level;
    // The same steps as PlanField, here with the value at hand. The member is written straight
    // into `data` and cut back off when no value goes out.
    const auto [action, configured] = ActionFor(catalog_, sink, def.class_index);
    Level level = class_level;
    auto text_of = [&]() -> std::string_view {
      std::string_view s;
      if (f->value.get_string().get(s) == simdjson::SUCCESS) return s;
      scratch_.clear();
      (void)json::AppendCanonical(f->value, &scratch_);
      return scratch_;
    };
    const size_t member_at = data->size();
    if (!first) data->push_back(',');
    json::AppendString(f->name, data);
    data->push_back(':');
    const size_t value_at = data->size();
    // What `applied` records for the field (empty: kept as is), then a token's key id.
    std::string_view note, note_key_id;
    switch (action) {
      case Action::kKeep:
        AppendKept(f->value, data);
        break;
      case Action::kDrop:
        note = configured ? "drop" : "drop:level";
        break;
      case Action::kTokenize: {
        const KeyStore::Key* key = sink_keys_[sink_index];
        json::AppendString(Token(*key->hmac, text_of()), data);
        level = LevelAfter(action, class_level);
        note = "tokenize:";
        note_key_id = key->key_id;
        break;
      }
      case Action::kGeneralize: {
        std::string_view s;
        general_.clear();
        if (f->value.get_string().get(s) == simdjson::SUCCESS && Generalize(s, &general_)) {
          json::AppendString(general_, data);
          level = LevelAfter(action, class_level);
          note = "generalize";
        } else {
          note = "drop:not_generalizable";
        }
        break;
      }
      case Action::kMask:
        json::AppendString(Mask(text_of()), data);
        note = "mask";
        break;
    }
    bool sent = data->size() > value_at;
    if (sent && level > sink.max_level) {
      sent = false;  // The cap: nothing above the sink's level leaves, whatever the actions.
      note = "drop:level";
      note_key_id = {};
    }
    if (sent) {
      first = false;
    } else {
      data->resize(member_at);
    }
    if (!note.empty()) applied->push_back(common::StrCat(f->name, "=", note, note_key_id));
  }
  data->push_back('}');
}

void DeliveryLine(const event::Event& event, std::string_view data, std::string* out) {
  out->assign("{\"id\":");
  json::AppendString(event.id, out);
  out->append(",\"type\":");
  json::AppendString(event.type, out);
  out->append(",\"source\":");
  json::AppendString(event.source, out);
  out->append(",\"time\":");
  json::AppendString(event.time_text, out);
  out->append(",\"data\":");
  out->append(data);
  out->push_back('}');
}

}  // namespace loopgate::transform
