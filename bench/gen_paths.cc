// loopgate_gen_paths: writes N generated unit journeys as a paths file, one journey per line
// (`a > b > c;1;value;0` or `a > b;0;0;1`), with the channel mix of a real paths file
// (journey_gen.h), for timing `loopgate attribution` end to end (docs/performance.md).
//
//   loopgate_gen_paths --journeys N [--seed X] [--from FILE] [--out F|-]
//
// --from defaults to ../shared/corpora/attribution/channelattribution_Data.csv. Same arguments,
// same bytes.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/journey_gen.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: loopgate_gen_paths --journeys N [--seed X] [--from FILE] [--out F|-]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t journeys = 0, seed = 1;
  std::string from = LOOPGATE_SHARED_DIR "/corpora/attribution/channelattribution_Data.csv";
  std::string out = "-";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage();
    const char* value = argv[++i];
    if (arg == "--journeys") {
      journeys = std::strtoull(value, nullptr, 10);
    } else if (arg == "--seed") {
      seed = std::strtoull(value, nullptr, 10);
    } else if (arg == "--from") {
      from = value;
    } else if (arg == "--out") {
      out = value;
    } else {
      return Usage();
    }
  }
  if (journeys == 0) return Usage();
  auto gen = loopgate::bench::JourneyGenerator::FromFile(from, seed);
  if (!gen.ok()) {
    std::fprintf(stderr, "loopgate_gen_paths: %s\n", std::string(gen.status().message()).c_str());
    return 1;
  }
  FILE* f = out == "-" ? stdout : std::fopen(out.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "loopgate_gen_paths: cannot write %s\n", out.c_str());
    return 1;
  }
  std::fputs("path;conversions;value;nulls\n", f);
  std::vector<loopgate::attribution::ChannelId> touchpoints;
  std::string line;
  for (uint64_t j = 0; j < journeys; ++j) {
    bool converted = false;
    double value = 0;
    gen->Next(&touchpoints, &converted, &value);
    line.clear();
    for (size_t k = 0; k < touchpoints.size(); ++k) {
      if (k > 0) line += " > ";
      line += gen->channels().name(touchpoints[k]);
    }
    char tail[64];
    std::snprintf(tail, sizeof(tail), converted ? ";1;%.4f;0\n" : ";0;0;1\n", value);
    line += tail;
    std::fwrite(line.data(), 1, line.size(), f);
  }
  if (std::fflush(f) != 0 || (f != stdout && std::fclose(f) != 0)) {
    std::fprintf(stderr, "loopgate_gen_paths: write failed\n");
    return 1;
  }
  return 0;
}
