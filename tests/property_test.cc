// Properties over random catalogs and random events (routing.md section 4):
//   1. no delivered field is ever above its sink's maximum level;
//   2. no field the catalog does not declare is ever delivered.
// The expected level of a delivered field comes from the spec's rules (tokenize and generalize
// make it pseudonymous; otherwise its class level), not from the transformer's code.

#include <map>
#include <random>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/strings.h"
#include "event/event.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "transform/transform.h"

namespace loopgate {
namespace {

using catalog::Action;
using catalog::Level;

const char* kLevels[] = {"non_phi", "pseudonymous", "phi"};
const char* kTypes[] = {"string", "integer", "number", "boolean", "date", "datetime", "enum"};
const char* kActions[] = {"keep", "drop", "tokenize", "generalize", "mask"};

struct World {
  std::string yaml;
  int event_types = 0;
};

World RandomCatalog(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  World w;
  std::string& y = w.yaml;
  y = "format: loopgate.catalog/v1\npurposes:\n  p0: {}\n  p1: {}\n  p2: {}\nclasses:\n";
  const int classes = 3 + pick(6);
  for (int c = 0; c < classes; ++c) {
    common::StrAppend(&y, "  c", c, ": {level: ", kLevels[pick(3)], "}\n");
  }
  y += "event_types:\n";
  w.event_types = 1 + pick(4);
  for (int t = 0; t < w.event_types; ++t) {
    common::StrAppend(&y, "  t", t, ":\n    sources: [s]\n    subject: {type: person, field: f0}\n",
                      "    purposes: [p", t % 3, ", p", (t + 1 + pick(2)) % 3, "]\n    fields:\n",
                      "      f0: {type: string, class: c", pick(classes), ", required: true}\n");
    const int fields = 1 + pick(7);
    for (int f = 1; f <= fields; ++f) {
      const char* type = kTypes[pick(7)];
      common::StrAppend(&y, "      f", f, ": {type: ", type, ", class: c", pick(classes));
      if (std::string(type) == "enum") y += ", values: [a, b, c]";
      y += "}\n";
    }
  }
  y += "sinks:\n";
  const int sinks = 1 + pick(5);
  for (int s = 0; s < sinks; ++s) {
    common::StrAppend(&y, "  k", s, ":\n    purpose: p", pick(3), "\n    max_level: ",
                      kLevels[pick(3)], "\n    token_domain: d", pick(2), "\n    actions: {");
    bool first = true;
    for (int c = 0; c < classes; ++c) {
      if (pick(2) == 0) continue;
      common::StrAppend(&y, first ? "" : ", ", "c", c, ": ", kActions[pick(5)]);
      first = false;
    }
    y += "}\n";
  }
  return w;
}

std::string RandomValue(std::mt19937& rng, const catalog::Field& f) {
  const unsigned r = rng() % 20;
  if (r == 0) return "null";
  if (r == 1) return "{\"nested\": [1, 2]}";  // Usually the wrong type.
  switch (f.type) {
    case catalog::FieldType::kString: {
      static const char* kStrings[] = {"\"02139\"", "\"03601-1234\"", "\"1984-07-12\"", "\"x\"",
                                       "\"h\u00e9llo w\u00f6rld\"", "\"2026-04-01T10:00:00+02:00\""};
      return kStrings[rng() % 6];
    }
    case catalog::FieldType::kInteger: return std::to_string(static_cast<int>(rng() % 100000));
    case catalog::FieldType::kNumber: return "3.25";
    case catalog::FieldType::kBoolean: return rng() % 2 ? "true" : "false";
    case catalog::FieldType::kDate: return "\"1950-02-03\"";
    case catalog::FieldType::kDatetime: return "\"2026-04-20T07:30:00Z\"";
    case catalog::FieldType::kEnum: return rng() % 2 ? "\"a\"" : "\"c\"";
  }
  return "null";
}

TEST(Property, DeliveredFieldsAreDeclaredAndNeverAboveTheSinkLevel) {
  std::mt19937 rng(424242);
  auto keys = transform::KeyStore::LoadString(
      "{\"d0\": {\"key_id\": \"k0\", \"secret_hex\": \"00112233445566778899aabbccddeeff\"},"
      " \"d1\": {\"key_id\": \"k1\", \"secret_hex\": \"ffeeddccbbaa99887766554433221100\"}}",
      "keys");
  ASSERT_TRUE(keys.ok());
  int delivered_fields = 0, checked_events = 0;
  for (int round = 0; round < 300; ++round) {
    World w = RandomCatalog(rng);
    auto loaded = catalog::LoadString(w.yaml, "random.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.status().message() << "\n" << w.yaml;
    const catalog::Catalog& cat = **loaded;
    auto transformer = transform::Transformer::Create(cat, *keys);
    ASSERT_TRUE(transformer.ok()) << transformer.status().message();
    event::Intake intake(cat);
    simdjson::dom::parser parser;
    for (int i = 0; i < 40; ++i) {
      const catalog::EventType& type = cat.event_types[rng() % cat.event_types.size()];
      std::string line = "{\"event_type\": \"" + type.id +
                         "\", \"source_system\": \"s\", \"timestamp\": \"2026-04-01T00:00:00Z\", "
                         "\"payload\": {";
      bool first = true;
      for (const auto& f : type.fields) {
        if (rng() % 4 == 0 && !f.required) continue;
        line += (first ? "\"" : ", \"") + f.name + "\": " + RandomValue(rng, f);
        first = false;
      }
      if (rng() % 5 == 0) line += ", \"undeclared\": \"secret\"";
      line += "}}";
      const size_t size = line.size();
      line.append(64, ' ');
      event::Event ev;
      event::Rejection rejection;
      if (!intake.Process(std::string_view(line.data(), size), &ev, &rejection)) continue;
      ++checked_events;
      for (uint32_t si = 0; si < cat.sinks.size(); ++si) {
        const catalog::Sink& sink = cat.sinks[si];
        std::string data;
        std::vector<std::string> applied;
        (*transformer)->Apply(ev, si, &data, &applied);
        simdjson::dom::object out;
        ASSERT_EQ(parser.parse(data).get(out), simdjson::SUCCESS) << data;
        for (auto [name, value] : out) {
          const int fi = type.FindField(name);
          ASSERT_GE(fi, 0) << "undeclared field '" << name << "' delivered to " << sink.id;
          const catalog::Field& f = type.fields[static_cast<size_t>(fi)];
          const auto& action = sink.actions[f.class_index];
          const bool pseudonymized =
              action && (*action == Action::kTokenize || *action == Action::kGeneralize);
          const Level level = pseudonymized ? Level::kPseudonymous : cat.classes[f.class_index].level;
          EXPECT_LE(level, sink.max_level)
              << "field '" << name << "' at " << catalog::LevelName(level) << " reached sink "
              << sink.id << " (max " << catalog::LevelName(sink.max_level) << ")\n" << w.yaml;
          ++delivered_fields;
        }
      }
    }
  }
  // The generator must exercise the property, not skip it.
  EXPECT_GT(checked_events, 2000);
  EXPECT_GT(delivered_fields, 5000);
}

}  // namespace
}  // namespace loopgate
