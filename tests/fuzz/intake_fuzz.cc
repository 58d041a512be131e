// Fuzz target: any bytes as one input line through intake and, when accepted, through every
// sink's transformation. Invariants: no crash, a rejection always has a reason and a detail,
// and every transformed record is valid JSON with only declared fields.
//
// Under clang's libFuzzer: cmake -DLOOPGATE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ builds
// `intake_fuzz`. Under g++ it links with fuzz_driver.cc and runs as a regression test.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "event/event.h"
#include "simdjson.h"
#include "transform/transform.h"

namespace {

struct Harness {
  std::unique_ptr<loopgate::catalog::Catalog> catalog;
  loopgate::transform::KeyStore keys;
  std::unique_ptr<loopgate::transform::Transformer> transformer;
  std::unique_ptr<loopgate::event::Intake> intake;
};

Harness& Get() {
  static Harness* h = [] {
    auto* harness = new Harness();
    auto c = loopgate::catalog::LoadFile(LOOPGATE_SOURCE_DIR "/examples/reference/catalog.yaml");
    auto k = loopgate::transform::KeyStore::LoadFile(LOOPGATE_SHARED_DIR
                                                     "/scenarios/reference/keys.json");
    if (!c.ok() || !k.ok()) {
      std::fprintf(stderr, "fuzz harness: cannot load the reference catalog or keys\n");
      std::abort();
    }
    harness->catalog = std::move(*c);
    harness->keys = std::move(*k);
    harness->transformer =
        std::move(*loopgate::transform::Transformer::Create(*harness->catalog, harness->keys));
    harness->intake = std::make_unique<loopgate::event::Intake>(*harness->catalog);
    return harness;
  }();
  return *h;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = Get();
  std::string buffer(reinterpret_cast<const char*>(data), size);
  buffer.append(64, '\0');  // The padding intake may read ahead into.
  loopgate::event::Event ev;
  loopgate::event::Rejection rejection;
  if (!h.intake->Process(std::string_view(buffer.data(), size), &ev, &rejection)) {
    Check(!rejection.detail.empty(), "a rejection without a detail");
    return 0;
  }
  Check(ev.type_def != nullptr && !ev.id.empty(), "an accepted event without type or id");
  simdjson::dom::parser parser;
  std::string out;
  std::vector<std::string> applied;
  for (uint32_t si = 0; si < h.catalog->sinks.size(); ++si) {
    h.transformer->Apply(ev, si, &out, &applied);
    simdjson::dom::object obj;
    Check(parser.parse(out).get(obj) == simdjson::SUCCESS, "a transformed record is not JSON");
    for (auto field : obj) {
      Check(ev.type_def->FindField(field.key) >= 0, "an undeclared field was delivered");
    }
  }
  return 0;
}
