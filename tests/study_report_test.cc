// loopgate report study through the real binary, and the page it writes opened in a real browser:
// headless Chromium (Debian's `chromium`, installed by scripts/deps.sh) takes a screenshot with
// every network request made impossible, its PNG is decoded here and must be drawn (the
// requested size, not blank, the charts' colours present); the DOM Chromium builds must carry
// the answer sentence; and Chromium's own network log must show no request from the page, even
// with the page's Content-Security-Policy taken out (a control page with one remote image shows
// that the log would catch one).

#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "simdjson.h"
#include "gtest/gtest.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Fixture(const std::string& name) {
  return SourceDir() + "/src/report/testdata/" + name;
}

// ---- The command -----------------------------------------------------------------------------

TEST(StudyReportCli, WritesTheSelfContainedPage) {
  TempDir dir;
  const Result r = RunLoopgate(
      {"report", "study", "--result", Fixture("randomized_dp.json"), "--html", dir / "r.html"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("study report written to " + (dir / "r.html")));
  const std::string html = ReadFile(dir / "r.html");
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("Oncology launch: therapy starts"));
  EXPECT_THAT(html, HasSubstr("Content-Security-Policy"));
  EXPECT_FALSE(std::filesystem::exists(dir / "r.html.tmp"));
  EXPECT_TRUE(r.out.empty());
}

TEST(StudyReportCli, JsonPrintsTheValidatedResult) {
  TempDir dir;
  const Result r = RunLoopgate({"report", "study", "--result", Fixture("pre_post.json"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string want = ReadFile(Fixture("pre_post.json"));
  if (!want.ends_with("\n")) want += "\n";
  EXPECT_EQ(r.out, want);
  // Both at once: the page to the file, the JSON to stdout.
  const Result both = RunLoopgate({"report", "study", "--result", Fixture("pre_post.json"),
                                   "--json", "--html", dir / "p.html"});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.out, want);
  EXPECT_THAT(ReadFile(dir / "p.html"), HasSubstr("Weaker evidence"));
  // --html - writes the page to stdout.
  const Result stdout_page =
      RunLoopgate({"report", "study", "--result", Fixture("pre_post.json"), "--html", "-"});
  ASSERT_EQ(stdout_page.exit_code, 0) << stdout_page.err;
  EXPECT_TRUE(stdout_page.out.starts_with("<!DOCTYPE html>"));
}

TEST(StudyReportCli, AnInvalidResultIsAUsageErrorNamingTheMemberAndWritesNothing) {
  TempDir dir;
  std::string json = ReadFile(Fixture("randomized_dp.json"));
  const std::string from = "\"cells_released\": 24,";
  ASSERT_NE(json.find(from), std::string::npos);
  json.replace(json.find(from), from.size(), "");
  WriteFile(dir / "bad.json", json);
  const Result r = RunLoopgate(
      {"report", "study", "--result", dir / "bad.json", "--html", dir / "r.html", "--json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "loopgate: " + (dir / "bad.json") +
                       ": study result: privacy.cells_released: missing\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "r.html"));
  EXPECT_TRUE(r.out.empty());
}

TEST(StudyReportCli, UsageErrors) {
  TempDir dir;
  Result r = RunLoopgate({"report", "study", "--result", Fixture("pre_post.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("give --html OUT, --json, or both"));
  r = RunLoopgate({"report", "study", "--result", dir / "absent.json", "--json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read " + (dir / "absent.json")));
  r = RunLoopgate({"report", "study", "--result", Fixture("pre_post.json"), "--json", "--html", "-"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunLoopgate({"report", "study", "--html", dir / "x.html"});
  EXPECT_EQ(r.exit_code, 2);  // --result is required
  r = RunLoopgate({"report", "study", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--result"));
  EXPECT_THAT(r.out, HasSubstr("--html"));
  EXPECT_THAT(r.out, HasSubstr("--json"));
}

// ---- The browser -----------------------------------------------------------------------------

// Runs a shell command, returning its stdout and exit status.
std::string Shell(const std::string& command, int* status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) {
    *status = -1;
    return out;
  }
  std::array<char, 65536> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = ::pclose(p);
  return out;
}

std::string ChromiumPath() {
  int status = 0;
  std::string path = Shell("command -v chromium 2>/dev/null", &status);
  while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
  return status == 0 ? path : "";
}

#define REQUIRE_CHROMIUM()                                                                     \
  const std::string chromium = ChromiumPath();                                                 \
  if (chromium.empty()) {                                                                      \
    GTEST_SKIP() << "chromium is not installed (scripts/deps.sh installs it; CI runs this)"; \
  }

// Headless Chromium that cannot reach any network: every host name fails to resolve and every
// connection would go to a proxy on the discard port of localhost, where nothing listens. The
// browser's own background traffic (updates, sync, ...) is switched off as far as flags allow.
std::string Browser(const std::string& chromium, const std::string& profile) {
  return chromium +
         " --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run"
         " --disable-background-networking --disable-component-update --disable-sync"
         " --disable-default-apps --disable-extensions --disable-breakpad"
         " --host-resolver-rules='MAP * ~NOTFOUND' --proxy-server='socks5://127.0.0.1:9'"
         " --user-data-dir='" + profile + "'";
}

struct Image {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
};

uint32_t Be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

// Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes), undoing the five
// row filters of the PNG specification section 9. False on anything else.
bool DecodePng(const std::string& png, Image* img) {
  if (png.size() < 33 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return false;
  std::string idat;
  int channels = 0;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t len = Be32(png, at);
    const std::string type = png.substr(at + 4, 4);
    if (at + 12 + len > png.size()) return false;
    if (type == "IHDR") {
      img->width = Be32(png, at + 8);
      img->height = Be32(png, at + 12);
      const int depth = uint8_t(png[at + 16]), color = uint8_t(png[at + 17]);
      const int interlace = uint8_t(png[at + 20]);
      if (depth != 8 || interlace != 0 || (color != 2 && color != 6)) return false;
      channels = color == 2 ? 3 : 4;
    } else if (type == "IDAT") {
      idat.append(png, at + 8, len);
    }
    at += 12 + len;
  }
  if (channels == 0 || img->width == 0 || img->height == 0) return false;
  const size_t stride = size_t(img->width) * channels;
  std::vector<uint8_t> raw((stride + 1) * img->height);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()),
                 idat.size()) != Z_OK ||
      raw_len != raw.size()) {
    return false;
  }
  std::vector<uint8_t> prev(stride, 0), line(stride);
  img->rgb.resize(size_t(img->width) * img->height * 3);
  for (uint32_t y = 0; y < img->height; ++y) {
    const uint8_t* in = &raw[y * (stride + 1)];
    const int filter = in[0];
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= size_t(channels) ? line[x - channels] : 0;
      const int b = prev[x];
      const int c = x >= size_t(channels) ? prev[x - channels] : 0;
      int pred = 0;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: return false;
      }
      line[x] = uint8_t(in[1 + x] + pred);
    }
    for (uint32_t x = 0; x < img->width; ++x) {
      for (int k = 0; k < 3; ++k) img->rgb[(size_t(y) * img->width + x) * 3 + k] = line[x * channels + k];
    }
    std::swap(prev, line);
  }
  return true;
}

TEST(StudyReportBrowser, ChromiumDrawsThePageWithoutTheNetwork) {
  REQUIRE_CHROMIUM();
  TempDir dir;
  ASSERT_EQ(RunLoopgate({"report", "study", "--result", Fixture("randomized_dp.json"), "--html",
                         dir / "report.html"})
                .exit_code,
            0);
  int status = 0;
  Shell("timeout 120 " + Browser(chromium, dir / "profile") +
            " --window-size=1280,2400 --screenshot='" + (dir / "shot.png") + "' 'file://" +
            (dir / "report.html") + "' >/dev/null 2>&1",
        &status);
  ASSERT_TRUE(std::filesystem::exists(dir / "shot.png")) << "chromium exit status " << status;
  Image img;
  ASSERT_TRUE(DecodePng(ReadFile(dir / "shot.png"), &img));
  EXPECT_EQ(img.width, 1280u);
  EXPECT_EQ(img.height, 2400u);

  // Not blank: many colours, real contrast, a good share of the page inked, and the charts'
  // colours (the exposed arm's blue #1d4ed8, the lift's green #047857) drawn.
  std::set<uint32_t> colours;
  double sum = 0, sum2 = 0;
  size_t inked = 0, blue = 0, green = 0;
  const size_t n = size_t(img.width) * img.height;
  for (size_t i = 0; i < n; ++i) {
    const int r = img.rgb[i * 3], g = img.rgb[i * 3 + 1], b = img.rgb[i * 3 + 2];
    colours.insert(uint32_t(r) << 16 | uint32_t(g) << 8 | uint32_t(b));
    const double lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    sum += lum;
    sum2 += lum * lum;
    if (lum < 160) ++inked;
    if (std::abs(r - 0x1d) < 12 && std::abs(g - 0x4e) < 12 && std::abs(b - 0xd8) < 12) ++blue;
    if (std::abs(r - 0x04) < 12 && std::abs(g - 0x78) < 12 && std::abs(b - 0x57) < 12) ++green;
  }
  const double mean = sum / n, stddev = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
  EXPECT_GT(colours.size(), 200u);
  EXPECT_GT(stddev, 15.0);
  EXPECT_GT(inked, n / 100);  // text and lines: at least 1% dark pixels
  EXPECT_GT(blue, 500u);
  EXPECT_GT(green, 100u);
}

// What Chromium's serializer makes of a text node: & < > escaped.
std::string DomText(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out.push_back(c);
  }
  return out;
}

TEST(StudyReportBrowser, TheBrowsersDomCarriesTheAnswer) {
  REQUIRE_CHROMIUM();
  TempDir dir;
  ASSERT_EQ(RunLoopgate({"report", "study", "--result", Fixture("pre_post.json"), "--html",
                         dir / "report.html"})
                .exit_code,
            0);
  int status = 0;
  const std::string dom = Shell("timeout 120 " + Browser(chromium, dir / "profile") +
                                    " --dump-dom 'file://" + (dir / "report.html") +
                                    "' 2>/dev/null",
                                &status);
  ASSERT_EQ(status, 0);
  // The fixture's answer sentence, as Chromium parsed it.
  EXPECT_THAT(dom, HasSubstr(DomText(
                       "After the programme started, 41.4% of patients refilled within 90 days "
                       "against 32.5% before: +8.9 points (95% CI +4.3 to +13.4), p < 0.001. "
                       "Pre/post comparison: weaker evidence.")));
  EXPECT_THAT(dom, HasSubstr("Weaker evidence: pre/post, no holdout"));
  EXPECT_THAT(dom, HasSubstr("<svg class=\"chart\""));
}

// Not a fixture: the demo world measured now, rendered, and read back from Chromium's DOM.
TEST(StudyReportBrowser, AStudyMeasuredOnTheDemoWorldReadsInTheBrowser) {
  REQUIRE_CHROMIUM();
  TempDir dir;
  const Result demo = RunLoopgate({"demo", "--size", "small", "--dir", dir / "demo"});
  ASSERT_EQ(demo.exit_code, 0) << demo.err;
  const Result r = RunLoopgate(
      {"report", "study", "--study", dir / "demo/world/studies/cmp-rheum-adherence.yaml",
       "--state", dir / "demo/state", "--html", dir / "report.html", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element result = parser.parse(r.out);
  const std::string answer(result["answer"].get_string().value());
  const std::string question(result["study"]["question"].get_string().value());
  int status = 0;
  const std::string dom = Shell("timeout 120 " + Browser(chromium, dir / "profile") +
                                    " --dump-dom 'file://" + (dir / "report.html") +
                                    "' 2>/dev/null",
                                &status);
  ASSERT_EQ(status, 0);
  EXPECT_THAT(dom, HasSubstr(DomText(answer)));
  EXPECT_THAT(dom, HasSubstr(DomText(question)));
  EXPECT_THAT(dom, HasSubstr("<svg class=\"chart\""));
}

// Requests the page itself made, from Chromium's network log: the browser's own background
// requests carry no page origin, the page's carry its file:// origin in their isolation key.
size_t PageRequests(const std::string& chromium, const TempDir& dir, const std::string& page) {
  const std::string log = dir / (std::filesystem::path(page).filename().string() + ".netlog");
  int status = 0;
  Shell("timeout 120 " + Browser(chromium, dir / "profile") + " --log-net-log='" + log +
            "' --dump-dom 'file://" + page + "' >/dev/null 2>&1",
        &status);
  EXPECT_TRUE(std::filesystem::exists(log)) << "chromium exit status " << status;
  const std::string text = ReadFile(log);
  const std::string key = "\"network_isolation_key\":\"file://";
  size_t count = 0;
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) ++count;
  return count;
}

TEST(StudyReportBrowser, ThePageRequestsNothingEvenWithoutItsPolicy) {
  REQUIRE_CHROMIUM();
  TempDir dir;
  ASSERT_EQ(RunLoopgate({"report", "study", "--result", Fixture("randomized_dp.json"), "--html",
                         dir / "report.html"})
                .exit_code,
            0);
  // Without the Content-Security-Policy, any reference to the network would be fetched.
  std::string html = ReadFile(dir / "report.html");
  const size_t csp = html.find("<meta http-equiv=\"Content-Security-Policy\"");
  ASSERT_NE(csp, std::string::npos);
  html.erase(csp, html.find('>', csp) + 1 - csp);
  WriteFile(dir / "no-policy.html", html);
  EXPECT_EQ(PageRequests(chromium, dir, dir / "no-policy.html"), 0u);

  // The control: a page with one remote image is caught by the same count.
  WriteFile(dir / "control.html",
            "<!DOCTYPE html><html><body><p>control</p>"
            "<img src=\"http://example.invalid/logo.png\"></body></html>");
  EXPECT_GE(PageRequests(chromium, dir, dir / "control.html"), 1u);
}

}  // namespace
}  // namespace loopgate::testing
