#include "event/event.h"

#include <algorithm>
#include <charconv>

#include "common/strings.h"
#include "common/line_reader.h"
#include "common/text.h"

namespace loopgate::event {

using catalog::Level;
using common::QuoteName;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

std::string_view QuarantineReasonName(QuarantineReason reason) {
  switch (reason) {
    case QuarantineReason::kMalformedJson: return "malformed_json";
    case QuarantineReason::kInvalidEnvelope: return "invalid_envelope";
    case QuarantineReason::kUnknownEventType: return "unknown_event_type";
    case QuarantineReason::kUnexpectedSource: return "unexpected_source";
    case QuarantineReason::kMissingField: return "missing_field";
    case QuarantineReason::kInvalidField: return "invalid_field";
    case QuarantineReason::kUnknownField: return "unknown_field";
    case QuarantineReason::kSensitivityMismatch: return "sensitivity_mismatch";
    case QuarantineReason::kIdConflict: return "id_conflict";
  }
  return "malformed_json";
}

const element* Event::Find(uint32_t field_index) const {
  for (const auto& f : fields) {
    if (f.field_index == field_index) return &f.value;
  }
  return nullptr;
}

namespace {

bool Reject(Rejection* r, QuarantineReason reason, std::string detail) {
  r->reason = reason;
  r->detail = std::move(detail);
  return false;
}

// Reads a non-empty string member. Returns false when absent, not a string or empty.
bool GetString(object o, std::string_view key, std::string_view* out) {
  element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS || !e.is_string()) return false;
  *out = e.get_string().value_unsafe();
  return !out->empty();
}

// Rewrites integer literals too large for 64 bits as the doubles JSON readers take them for
// (RFC 8785 canonicalizes numbers as IEEE 754 doubles), so a valid RFC 8259 line is not
// rejected by the parser's 64-bit integer limit. Returns false when nothing was rewritten.
bool RewriteBigIntegers(std::string_view in, std::string* out) {
  out->clear();
  bool changed = false;
  size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    if (c == '"') {
      const size_t start = i++;
      while (i < in.size() && in[i] != '"') i += in[i] == '\\' ? 2 : 1;
      i = std::min(i + 1, in.size());
      out->append(in.substr(start, i - start));
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t start = i;
      if (in[i] == '-') ++i;
      while (i < in.size() && in[i] >= '0' && in[i] <= '9') ++i;
      bool integer = true;
      while (i < in.size() && (std::isdigit(static_cast<unsigned char>(in[i])) || in[i] == '.' ||
                               in[i] == 'e' || in[i] == 'E' || in[i] == '+' || in[i] == '-')) {
        integer = false;
        ++i;
      }
      std::string_view token = in.substr(start, i - start);
      // Only a JSON integer (no leading zero, RFC 8259 section 6) outside the parser's 64-bit
      // range is rewritten: anything else must still fail to parse.
      const bool negative = token[0] == '-';
      const std::string_view digits = token.substr(negative ? 1 : 0);
      bool big = false;
      if (integer && !digits.empty() && digits[0] != '0') {
        const char* end = token.data() + token.size();
        if (negative) {
          int64_t v;
          big = std::from_chars(token.data(), end, v).ec == std::errc::result_out_of_range;
        } else {
          uint64_t v;
          big = std::from_chars(token.data(), end, v).ec == std::errc::result_out_of_range;
        }
      }
      if (big) {
        const double d = std::strtod(std::string(token).c_str(), nullptr);
        char buf[40];
        std::snprintf(buf, sizeof(buf), "%.17e", d);
        out->append(buf);
        changed = true;
      } else {
        out->append(token);
      }
      continue;
    }
    out->push_back(c);
    ++i;
  }
  return changed;
}

bool IsStringArray(element e, std::vector<std::string_view>* out) {
  simdjson::dom::array arr;
  if (e.get_array().get(arr) != simdjson::SUCCESS) return false;
  out->clear();
  for (element item : arr) {
    if (!item.is_string()) return false;
    out->push_back(item.get_string().value_unsafe());
  }
  return true;
}

void SplitCommaList(std::string_view s, std::vector<std::string_view>* out) {
  out->clear();
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out->push_back(item);
    start = end + 1;
  }
}

bool ParseSensitivity(element e, Event* ev) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return false;
  auto level = catalog::ParseLevel(s);
  if (!level) return false;
  ev->declared_sensitivity = *level;
  return true;
}

}  // namespace

bool CheckFieldValue(const catalog::Field& field, element value, std::string* why) {
  using catalog::FieldType;
  std::string_view s;
  switch (field.type) {
    case FieldType::kString:
      if (value.is_string()) return true;
      *why = "must be a string";
      return false;
    case FieldType::kInteger:
      if (value.type() == element_type::INT64) return true;
      *why = "must be an integer (no fraction or exponent, within signed 64 bits)";
      return false;
    case FieldType::kNumber:
      if (value.is_number()) return true;
      *why = "must be a number";
      return false;
    case FieldType::kBoolean:
      if (value.is_bool()) return true;
      *why = "must be true or false";
      return false;
    case FieldType::kDate:
      if (value.get_string().get(s) == simdjson::SUCCESS && common::IsCalendarDate(s)) return true;
      *why = "must be a date, YYYY-MM-DD naming a real calendar day";
      return false;
    case FieldType::kDatetime:
      if (value.get_string().get(s) == simdjson::SUCCESS && common::ParseRfc3339(s)) return true;
      *why = "must be an RFC 3339 date-time such as 2026-04-13T14:00:00Z";
      return false;
    case FieldType::kEnum:
      if (value.get_string().get(s) == simdjson::SUCCESS &&
          std::find(field.enum_values.begin(), field.enum_values.end(), s) !=
              field.enum_values.end()) {
        return true;
      }
      *why = common::StrCat("must be one of: ", common::StrJoin(field.enum_values, ", "));
      return false;
  }
  return false;
}

Intake::Intake(const catalog::Catalog& catalog, size_t max_depth)
    : catalog_(catalog), parser_(max_depth) {}

bool Intake::Process(std::string_view line, Event* ev, Rejection* r) {
  r->id.clear();
  ev->fields.clear();
  ev->allowed_recipients.clear();
  ev->consent_scope.clear();
  ev->declared_consent_scope = false;
  ev->declared_sensitivity.reset();
  ev->has_allowed_recipients = false;
  ev->type_def = nullptr;

  auto root = parser_.Parse(line, &ev->canonical);
  if (!root.ok() && RewriteBigIntegers(line, &rewritten_)) {
    root = parser_.ParseCopy(rewritten_, &ev->canonical);
  }
  if (!root.ok()) {
    return Reject(r, QuarantineReason::kMalformedJson, std::string(root.status().message()));
  }
  object obj;
  if (root->get_object().get(obj) != simdjson::SUCCESS) {
    return Reject(r, QuarantineReason::kMalformedJson,
                  "the line is valid JSON but not an object; each line must be one JSON object");
  }
  ev->content_digest = crypto::Sha256(ev->canonical);

  element specversion;
  const bool cloud = obj.at_key("specversion").get(specversion) == simdjson::SUCCESS;
  if (cloud ? !ReadCloudEvents(obj, ev, r) : !ReadFlat(obj, ev, r)) {
    return false;
  }
  r->id = ev->id;

  ev->type_def = catalog_.FindEventType(ev->type);
  if (ev->type_def == nullptr) {
    return Reject(r, QuarantineReason::kUnknownEventType,
                  common::StrCat("event type ", QuoteName(ev->type),
                               " is not in the catalog; add it to event_types or fix the "
                               "producer"));
  }
  const auto& sources = ev->type_def->sources;
  if (std::find(sources.begin(), sources.end(), ev->source) == sources.end()) {
    return Reject(r, QuarantineReason::kUnexpectedSource,
                  common::StrCat("source ", QuoteName(ev->source), " may not send '",
                               ev->type_def->id, "' (allowed sources: ",
                               common::StrJoin(sources, ", "), ")"));
  }
  return CheckFields(ev, r);
}

bool Intake::ReadFlat(object obj, Event* ev, Rejection* r) {
  ev->kind = EnvelopeKind::kFlat;
  element e;
  if (obj.at_key("event_id").get(e) == simdjson::SUCCESS) {
    std::string_view id;
    if (!e.is_string() || (id = e.get_string().value_unsafe()).empty()) {
      return Reject(r, QuarantineReason::kInvalidEnvelope,
                    "event_id must be a non-empty string (or be left out to derive the id from "
                    "the content)");
    }
    ev->id.assign(id);
    ev->id_derived = false;
  } else {
    ev->id = "sha256:" + crypto::ToHex(ev->content_digest);
    ev->id_derived = true;
  }
  r->id = ev->id;
  auto invalid = [&](std::string_view what) {
    return Reject(r, QuarantineReason::kInvalidEnvelope,
                  common::StrCat(what, "; a flat event needs event_type, source_system, timestamp "
                                     "(RFC 3339) and payload (an object)"));
  };
  if (!GetString(obj, "event_type", &ev->type)) {
    return invalid("event_type is missing or not a non-empty string");
  }
  if (!GetString(obj, "source_system", &ev->source)) {
    return invalid("source_system is missing or not a non-empty string");
  }
  if (obj.at_key("timestamp").get(e) != simdjson::SUCCESS) {
    return invalid("timestamp is missing");
  }
  std::optional<common::Instant> t;
  if (e.get_string().get(ev->time_text) != simdjson::SUCCESS ||
      !(t = common::ParseRfc3339(ev->time_text))) {
    return invalid("timestamp is not an RFC 3339 date-time such as 2026-04-13T14:00:00Z");
  }
  ev->time = *t;
  object payload;
  if (obj.at_key("payload").get(e) != simdjson::SUCCESS ||
      e.get_object().get(payload) != simdjson::SUCCESS) {
    return invalid("payload is missing or not an object");
  }
  if (obj.at_key("sensitivity").get(e) == simdjson::SUCCESS && !ParseSensitivity(e, ev)) {
    return invalid("sensitivity must be one of non_phi, pseudonymous, phi");
  }
  if (obj.at_key("consent_scope").get(e) == simdjson::SUCCESS) {
    if (!IsStringArray(e, &ev->consent_scope)) {
      return invalid("consent_scope must be an array of strings");
    }
    ev->declared_consent_scope = true;
  }
  if (obj.at_key("allowed_recipients").get(e) == simdjson::SUCCESS) {
    if (!IsStringArray(e, &ev->allowed_recipients)) {
      return invalid("allowed_recipients must be an array of strings");
    }
    ev->has_allowed_recipients = true;
  }
  raw_fields_.clear();
  for (auto member : payload) raw_fields_.emplace_back(member.key, member.value);
  static constexpr std::string_view kEnvelopeKeys[] = {
      "event_id",    "event_type",    "source_system",     "timestamp",
      "payload",     "sensitivity",   "consent_scope",     "allowed_recipients"};
  const size_t payload_count = raw_fields_.size();
  for (auto member : obj) {
    if (std::find(std::begin(kEnvelopeKeys), std::end(kEnvelopeKeys), member.key) !=
        std::end(kEnvelopeKeys)) {
      continue;
    }
    for (size_t i = 0; i < payload_count; ++i) {
      if (raw_fields_[i].first == member.key) {
        return Reject(r, QuarantineReason::kInvalidEnvelope,
                      common::StrCat("envelope attribute ", QuoteName(member.key),
                                   " is also a key of payload; send it in one place only"));
      }
    }
    raw_fields_.emplace_back(member.key, member.value);
  }
  return true;
}

bool Intake::ReadCloudEvents(object obj, Event* ev, Rejection* r) {
  ev->kind = EnvelopeKind::kCloudEvents;
  ev->id_derived = false;
  auto invalid = [&](std::string_view what) {
    return Reject(r, QuarantineReason::kInvalidEnvelope,
                  common::StrCat(what, "; a CloudEvents 1.0 event needs specversion \"1.0\", id, "
                                     "type, source, time (RFC 3339) and data (an object)"));
  };
  std::string_view id;
  if (GetString(obj, "id", &id)) {
    ev->id.assign(id);
    r->id = ev->id;
  } else {
    ev->id.clear();
  }
  std::string_view version;
  if (!GetString(obj, "specversion", &version) || version != "1.0") {
    return invalid("specversion is not \"1.0\"");
  }
  if (ev->id.empty()) return invalid("id is missing or not a non-empty string");
  if (!GetString(obj, "type", &ev->type)) return invalid("type is missing or not a string");
  if (!GetString(obj, "source", &ev->source)) return invalid("source is missing or not a string");
  element e;
  std::optional<common::Instant> t;
  if (obj.at_key("time").get(e) != simdjson::SUCCESS ||
      e.get_string().get(ev->time_text) != simdjson::SUCCESS ||
      !(t = common::ParseRfc3339(ev->time_text))) {
    return invalid("time is missing or not an RFC 3339 date-time");
  }
  ev->time = *t;
  if (obj.at_key("data_base64").get(e) == simdjson::SUCCESS) {
    return invalid("data_base64 is not accepted (send JSON data)");
  }
  object data;
  if (obj.at_key("data").get(e) != simdjson::SUCCESS ||
      e.get_object().get(data) != simdjson::SUCCESS) {
    return invalid("data is missing or not a JSON object");
  }
  if (obj.at_key("sensitivity").get(e) == simdjson::SUCCESS && !ParseSensitivity(e, ev)) {
    return invalid("the sensitivity extension must be one of non_phi, pseudonymous, phi");
  }
  std::string_view list;
  if (obj.at_key("consentscope").get(e) == simdjson::SUCCESS) {
    if (e.get_string().get(list) != simdjson::SUCCESS) {
      return invalid("the consentscope extension must be a comma-separated string");
    }
    SplitCommaList(list, &ev->consent_scope);
    ev->declared_consent_scope = true;
  }
  if (obj.at_key("allowedrecipients").get(e) == simdjson::SUCCESS) {
    if (e.get_string().get(list) != simdjson::SUCCESS) {
      return invalid("the allowedrecipients extension must be a comma-separated string");
    }
    SplitCommaList(list, &ev->allowed_recipients);
    ev->has_allowed_recipients = true;
  }
  raw_fields_.clear();
  for (auto member : data) raw_fields_.emplace_back(member.key, member.value);
  return true;
}

bool Intake::CheckFields(Event* ev, Rejection* r) {
  const catalog::EventType& type = *ev->type_def;
  present_.assign(type.fields.size(), 0);
  int unknown = -1;
  int invalid = -1;
  std::string invalid_why;
  for (size_t i = 0; i < raw_fields_.size(); ++i) {
    const auto& [name, value] = raw_fields_[i];
    const int fi = type.FindField(name);
    if (fi < 0) {
      if (unknown < 0) unknown = static_cast<int>(i);
      continue;
    }
    if (value.is_null()) continue;  // Null is absent (routing.md: absent and null fields).
    present_[static_cast<size_t>(fi)] = 1;
    if (invalid < 0 && !CheckFieldValue(type.fields[static_cast<size_t>(fi)], value,
                                        &invalid_why)) {
      invalid = fi;
    }
    ev->fields.push_back({name, value, static_cast<uint32_t>(fi)});
  }
  for (size_t fi = 0; fi < type.fields.size(); ++fi) {
    if (type.fields[fi].required && !present_[fi]) {
      return Reject(r, QuarantineReason::kMissingField,
                    common::StrCat("required field '", type.fields[fi].name, "' of '", type.id,
                                 "' is absent or null"));
    }
  }
  if (invalid >= 0) {
    return Reject(r, QuarantineReason::kInvalidField,
                  common::StrCat("field '", type.fields[static_cast<size_t>(invalid)].name,
                               "' of '", type.id, "' ", invalid_why));
  }
  if (unknown >= 0) {
    return Reject(r, QuarantineReason::kUnknownField,
                  common::StrCat("field ", QuoteName(raw_fields_[static_cast<size_t>(unknown)].first),
                               " is not declared for '", type.id,
                               "'; an unclassified field cannot be routed: declare it in the "
                               "catalog with a class, or stop sending it"));
  }
  Level level = Level::kNonPhi;
  const catalog::Field* highest = nullptr;
  for (const auto& f : ev->fields) {
    const catalog::Field& def = type.fields[f.field_index];
    const Level l = catalog_.classes[def.class_index].level;
    if (highest == nullptr || l > level) {
      level = l;
      highest = &def;
    }
  }
  ev->sensitivity = level;
  if (ev->declared_sensitivity && *ev->declared_sensitivity < level) {
    return Reject(r, QuarantineReason::kSensitivityMismatch,
                  common::StrCat("the producer declared sensitivity ",
                               catalog::LevelName(*ev->declared_sensitivity),
                               " but field '", highest->name, "' (class ",
                               catalog_.classes[highest->class_index].id, ") makes the event ",
                               catalog::LevelName(level)));
  }
  return true;
}

}  // namespace loopgate::event
