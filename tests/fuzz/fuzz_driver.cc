// A small driver so the fuzz target runs under g++ as a regression test: every line of every
// file named on the command line, each whole file, and a fixed number of seeded mutations of
// each line (byte flips, truncations, insertions, splices) go through LLVMFuzzerTestOneInput.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Feed(const std::string& s) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> lines;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    Feed(ss.str());
    std::string line;
    std::istringstream split(ss.str());
    while (std::getline(split, line)) lines.push_back(line);
  }
  std::mt19937 rng(1124);
  const char* tokens[] = {"{", "}", "[", "]", "\"", ",", ":", "null", "1e999", "-0", "\\u0000",
                          "\xff", "\"payload\":{}", "\"event_id\":1", "NaN", "99999999999999999999"};
  size_t runs = 0;
  for (const std::string& line : lines) {
    Feed(line);
    for (int m = 0; m < 300; ++m) {
      std::string s = line;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !s.empty(); ++e) {
        const size_t at = rng() % s.size();
        switch (rng() % 5) {
          case 0: s[at] = static_cast<char>(rng() % 256); break;
          case 1: s.resize(at); break;
          case 2: s.insert(at, tokens[rng() % (sizeof(tokens) / sizeof(tokens[0]))]); break;
          case 3: s.erase(at, 1 + rng() % 8); break;
          case 4: s.insert(at, lines[rng() % lines.size()].substr(0, 40)); break;
        }
      }
      Feed(s);
      ++runs;
    }
  }
  std::printf("fuzz regression: %zu inputs from %zu seed lines, no invariant broken\n",
              runs + lines.size() + static_cast<size_t>(argc - 1), lines.size());
  return 0;
}
