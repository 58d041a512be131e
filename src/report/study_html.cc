#include "report/study_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"

namespace loopgate::report {
namespace {

using namespace study;
using common::StrAppend;
using common::StrCat;

// ---- Numbers for people -------------------------------------------------------------------

std::string Fixed(double d, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, d);
  std::string s = buf;
  // Never "-0.0": a value that rounds to zero has no sign.
  if (s.starts_with("-") && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

// Coordinates in SVG: two decimals are well below a pixel.
std::string C(double d) { return Fixed(d, 2); }

std::string Signed(double d, int decimals) {
  std::string s = Fixed(d, decimals);
  if (!s.starts_with("-") && s.find_first_not_of("0.") != std::string::npos) s.insert(0, "+");
  return s;
}

std::string Pct(double fraction, int decimals = 1) { return Fixed(fraction * 100, decimals) + "%"; }

// 0.237 -> "+23.7"
std::string Points(double fraction) { return Signed(fraction * 100, 1); }

std::string PointsCi(const Interval& ci) {
  return StrCat(Points(ci.lower), " to ", Points(ci.upper), " points");
}

std::string SignedPct(double fraction) { return Signed(fraction * 100, 1) + "%"; }

std::string Thousands(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  const size_t lead = digits.size() % 3;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (i - lead) % 3 == 0 && i >= lead) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// A number with up to `decimals` decimals and no trailing zeros: 41 -> "41", 412.5 -> "412.5".
std::string Trim(double d, int decimals) {
  std::string s = Fixed(d, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.ends_with("0")) s.pop_back();
    if (s.ends_with(".")) s.pop_back();
  }
  return s;
}

// Trim with thousands separators: 1200 -> "1,200", 412.5 -> "412.5".
std::string People(double d, int decimals) {
  std::string s = Trim(d, decimals);
  const bool neg = s.starts_with("-");
  const size_t dot = std::min(s.find('.'), s.size());
  std::string out;
  const std::string whole = s.substr(neg ? 1 : 0, dot - (neg ? 1 : 0));
  for (size_t i = 0; i < whole.size(); ++i) {
    if (i > 0 && (whole.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(whole[i]);
  }
  return StrCat(neg ? "-" : "", out, s.substr(dot));
}

std::string PValue(double p) {
  if (p < 0.001) return "&lt; 0.001";
  if (p < 0.01) return Fixed(p, 3);
  return Fixed(p, 2);
}

std::string ConfidenceLabel(double c) { return Trim(c * 100, 1) + "%"; }

// "2026-11-24T10:00:00Z" -> "2026-11-24 10:00 UTC"; anything else is shown as given (escaped).
std::string When(std::string_view t) {
  if (t.size() >= 17 && t[10] == 'T' && t.ends_with("Z")) {
    return StrCat(common::EscapeHtml(t.substr(0, 10)), " ", common::EscapeHtml(t.substr(11, 5)), " UTC");
  }
  return common::EscapeHtml(t);
}

std::string Day(std::string_view t) {
  return t.size() >= 10 && t.size() > 10 && t[10] == 'T' ? common::EscapeHtml(t.substr(0, 10))
                                                          : common::EscapeHtml(t);
}

std::string Esc(std::string_view s) { return common::EscapeHtml(s); }

// ---- Words --------------------------------------------------------------------------------

struct Labels {
  std::string exposed;     // "Exposed" / "Post"
  std::string comparison;  // "Holdout" / "Pre"
  std::string confidence;  // "95%"
};

Labels LabelsFor(const StudyResult& r) {
  Labels l;
  if (r.design == Design::kPrePost) {
    l.exposed = "After (post)";
    l.comparison = "Before (pre)";
  } else {
    l.exposed = "Exposed";
    l.comparison = "Holdout";
  }
  l.confidence = ConfidenceLabel(r.confidence);
  return l;
}

std::string UnitNoun(std::string_view unit, bool plural) {
  if (unit == "hcp") return plural ? "HCPs" : "HCP";
  if (unit == "account") return plural ? "accounts" : "account";
  if (unit == "patient_token") return plural ? "patients" : "patient";
  return plural ? "cohorts" : "cohort";
}

// What a withheld figure says instead of a number.
std::string SuppressedText(Suppression s, int64_t k) {
  switch (s) {
    case Suppression::kPrimary:
    case Suppression::kSmallGroup:
      return StrCat("suppressed (fewer than ", k, ")");
    case Suppression::kComplementary:
      return "suppressed (complementary: would reveal a small cell)";
    case Suppression::kNone:
      break;
  }
  return "";
}

std::string ModelName(std::string_view m) {
  if (m == "first_touch") return "First touch";
  if (m == "last_touch") return "Last touch";
  if (m == "linear") return "Linear";
  if (m == "time_decay") return "Time decay";
  if (m == "position_based") return "Position (40/20/40)";
  if (m == "markov_1") return "Markov 1";
  if (m == "markov_2") return "Markov 2";
  if (m == "markov_3") return "Markov 3";
  if (m == "shapley") return "Shapley";
  return std::string(m);
}

std::string CellLabel(const Cell& c) {
  if (c.key.empty()) return "Overall";
  std::vector<std::string> parts;
  for (const auto& [dim, value] : c.key) parts.push_back(Esc(value));
  return common::StrJoin(parts, " · ");
}

bool ArmShown(const Arm& a) { return a.suppressed == Suppression::kNone && a.rate.has_value(); }

// The reason a cell has no lift to show, or "" when it has one.
std::string CellGap(const Cell& c, int64_t k) {
  if (c.status == CellStatus::kSuppressed || c.exposed.suppressed != Suppression::kNone ||
      c.comparison.suppressed != Suppression::kNone) {
    const bool primary = c.exposed.suppressed == Suppression::kPrimary ||
                         c.comparison.suppressed == Suppression::kPrimary ||
                         (c.exposed.suppressed == Suppression::kNone &&
                          c.comparison.suppressed == Suppression::kNone);
    return SuppressedText(primary ? Suppression::kPrimary : Suppression::kComplementary, k);
  }
  if (!c.absolute_lift) {
    switch (c.status) {
      case CellStatus::kNoUnits: return "not estimable: an arm has no units";
      case CellStatus::kNoVariance: return "not estimable: no variation";
      case CellStatus::kZeroBaseline: return "not estimable: zero baseline";
      default: return "not estimable";
    }
  }
  return "";
}

// ---- Scales -------------------------------------------------------------------------------

double NiceStep(double range, int target) {
  if (!(range > 0)) return 1;
  const double raw = range / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double n = raw / mag;
  const double step = n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10;
  return step * mag;
}

struct Scale {
  double lo = 0, hi = 1;      // Domain.
  double x0 = 0, x1 = 100;    // Range in pixels.
  double step = 0.1;          // Tick spacing in domain units.
  double operator()(double v) const { return x0 + (v - lo) / (hi - lo) * (x1 - x0); }
  std::vector<double> Ticks() const {
    std::vector<double> t;
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-6; v += step) {
      t.push_back(std::abs(v) < step * 1e-6 ? 0 : v);
    }
    return t;
  }
};

Scale MakeScale(double lo, double hi, double x0, double x1, int target) {
  if (!(hi > lo)) {
    lo -= 0.05;
    hi += 0.05;
  }
  Scale s;
  s.step = NiceStep(hi - lo, target);
  s.lo = std::floor(lo / s.step + 1e-9) * s.step;
  s.hi = std::ceil(hi / s.step - 1e-9) * s.step;
  s.x0 = x0;
  s.x1 = x1;
  return s;
}

// ---- Page pieces --------------------------------------------------------------------------

constexpr std::string_view kExposedColor = "#1d4ed8";
constexpr std::string_view kComparisonColor = "#94a3b8";
constexpr std::string_view kComparisonStroke = "#475569";

constexpr std::string_view kCss = R"css(
:root{--ink:#0f172a;--muted:#475569;--faint:#94a3b8;--line:#e2e8f0;--panel:#f8fafc;
--exposed:#1d4ed8;--comparison:#94a3b8;--good:#047857;--bad:#b91c1c;--warn:#b45309;
--warnbg:#fffbeb;--okbg:#ecfdf5}
*{box-sizing:border-box}
html{background:#eef2f7}
body{margin:0;color:var(--ink);font:15px/1.5 "Segoe UI",Roboto,"Helvetica Neue",Arial,
"DejaVu Sans",sans-serif;-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1100px;margin:24px auto;background:#fff;padding:36px 44px 28px;
border-radius:10px;box-shadow:0 1px 3px rgba(15,23,42,.08),0 8px 24px rgba(15,23,42,.06)}
h1{font-size:28px;line-height:1.2;margin:4px 0 12px;letter-spacing:-.01em}
h2{font-size:19px;margin:0 0 4px;letter-spacing:-.005em}
h3{font-size:15px;margin:18px 0 6px}
p{margin:6px 0}
.eyebrow{font-size:12px;text-transform:uppercase;letter-spacing:.08em;color:var(--muted)}
.question{font-size:17px;color:#1e293b;margin:0}
.tag{display:inline-block;font-size:11px;font-weight:600;text-transform:uppercase;
letter-spacing:.06em;color:var(--muted);margin-right:8px}
.answer{margin:22px 0 8px;padding:18px 22px;border-radius:8px;background:#eff6ff;
border-left:6px solid var(--exposed)}
.answer.weak{background:var(--warnbg);border-left-color:var(--warn)}
.answer-text{font-size:21px;line-height:1.4;font-weight:600;margin:2px 0 10px}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12.5px;
font-weight:700;background:var(--okbg);color:var(--good);border:1px solid #a7f3d0}
.badge.weak{background:#fef3c7;color:#92400e;border-color:#fcd34d}
.caveat{display:inline;margin-left:8px;color:#334155;font-size:14px}
.kpis{display:grid;grid-template-columns:repeat(5,1fr);gap:10px;margin:18px 0 6px}
.kpi{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.kpi .k{font-size:12px;color:var(--muted)}
.kpi .v{font-size:22px;font-weight:700;font-variant-numeric:tabular-nums;line-height:1.3}
.kpi .s{font-size:12px;color:var(--muted)}
.sup{color:var(--muted);font-style:italic;font-weight:400}
.kpi .v.sup{font-size:14px;line-height:1.3;padding-top:6px}
section{margin-top:30px;padding-top:18px;border-top:1px solid var(--line);break-inside:avoid}
.lede{color:var(--muted);font-size:14px;margin:0 0 10px}
.warnline{background:var(--warnbg);border:1px solid #fcd34d;border-radius:6px;padding:6px 10px;
font-size:14px;color:#78350f;margin:8px 0}
svg.chart{display:block;width:100%;height:auto;font-family:inherit}
svg.bar{display:block;margin:3px 0 0 auto}
svg.budgetbar{display:block;width:100%;height:10px;margin:6px 0 2px}
svg text{fill:var(--ink);font-size:12px}
svg .ax text{fill:var(--muted);font-size:11px}
svg .ax line{stroke:var(--line)}
svg .zero{stroke:#334155;stroke-dasharray:4 3}
svg .h{font-weight:700;font-size:12px;fill:var(--muted)}
svg .sub{fill:var(--muted);font-size:11px}
svg .st{fill:var(--muted);font-style:italic}
svg .dim{font-weight:700;fill:#334155}
.legend{display:flex;gap:18px;font-size:13px;color:#334155;margin:4px 0 6px;flex-wrap:wrap}
.legend i{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:6px;
vertical-align:-1px}
.legend .e{background:var(--exposed)}
.legend .c{background:var(--comparison);border:1.5px solid #475569}
.legend .l{background:var(--good);border-radius:2px;transform:rotate(45deg);width:10px;height:10px}
table{border-collapse:collapse;width:100%;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
td{white-space:nowrap}
td:first-child,td.sup,td.grp{white-space:normal}
th{font-size:12px;color:var(--muted);font-weight:600;background:var(--panel)}
th.span{text-align:center;color:#334155;border-bottom:2px solid var(--line)}
th:first-child,td:first-child{text-align:left}
td.grp{background:#f1f5f9;font-weight:700;color:#334155;text-align:left}
td.sup{text-align:center}
.note{font-size:12.5px;color:var(--muted)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-top:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 14px;background:#fff}
.card .k{font-size:12.5px;color:var(--muted);font-weight:600}
.card .v{font-size:26px;font-weight:700;font-variant-numeric:tabular-nums}
.card .s{font-size:12.5px;color:#334155}
.card .n{font-size:12px;color:var(--muted);margin-top:6px}
.card .v.sup{font-size:15px;line-height:1.4;padding:6px 0 2px}
.card.alert{border-color:#fca5a5;background:#fef2f2}
.facts{display:grid;grid-template-columns:190px 1fr;gap:4px 16px;font-size:14px;margin:8px 0}
.facts dt{color:var(--muted)}
.facts dd{margin:0;overflow-wrap:anywhere}
code,.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
footer{margin-top:30px;padding-top:12px;border-top:1px solid var(--line);font-size:12px;
color:var(--muted)}
@media (max-width:800px){main{padding:20px}.kpis{grid-template-columns:repeat(2,1fr)}
.cards{grid-template-columns:repeat(2,1fr)}.grid2{grid-template-columns:1fr}}
@media print{html{background:#fff}main{box-shadow:none;margin:0;max-width:none;padding:0}
body{font-size:10.5pt}section{break-inside:avoid;page-break-inside:avoid}
.answer-text{font-size:15pt}@page{margin:14mm}}
)css";

void Header(const StudyResult& r, std::string* out) {
  StrAppend(out, "<header>\n<div class=\"eyebrow\">Loopgate study report · ", Esc(r.id),
            "</div>\n<h1>", Esc(r.title), "</h1>\n<p class=\"question\"><span class=\"tag\">"
            "Question</span>", Esc(r.question), "</p>\n</header>\n");
}

void Answer(const StudyResult& r, std::string* out) {
  const bool weak = r.evidence == Design::kPrePost;
  StrAppend(out, "<section class=\"answer", weak ? " weak" : "", "\" id=\"answer\">\n",
            "<div class=\"tag\">Answer</div>\n<p class=\"answer-text\">", Esc(r.answer), "</p>\n");
  if (weak) {
    StrAppend(out, "<span class=\"badge weak\">Weaker evidence: pre/post, no holdout</span>");
  } else {
    StrAppend(out, "<span class=\"badge\">Randomized holdout</span>");
  }
  StrAppend(out, "<p class=\"caveat\">", Esc(r.caveat), "</p>\n</section>\n");
}

void Kpi(std::string_view label, std::string_view value, std::string_view sub, bool suppressed,
         std::string* out) {
  StrAppend(out, "<div class=\"kpi\"><div class=\"k\">", label, "</div><div class=\"v",
            suppressed ? " sup" : "", "\">", value, "</div><div class=\"s\">", sub,
            "</div></div>\n");
}

void ArmKpi(const std::string& label, const Arm& a, const StudyResult& r, const Labels& l,
            std::string* out) {
  if (a.suppressed != Suppression::kNone) {
    Kpi(StrCat(label, " rate"), SuppressedText(a.suppressed, r.k), "", true, out);
  } else if (!a.rate) {
    Kpi(StrCat(label, " rate"), "no units", "", true, out);
  } else {
    std::string sub = StrCat(Thousands(*a.outcomes), " of ", Thousands(*a.units), " ",
                             UnitNoun(r.unit, *a.units != 1));
    if (a.ci) StrAppend(&sub, "<br>", l.confidence, " CI ", Pct(a.ci->lower), " to ", Pct(a.ci->upper));
    Kpi(StrCat(label, " rate"), Pct(*a.rate), sub, false, out);
  }
}

void Kpis(const StudyResult& r, const Labels& l, std::string* out) {
  const Cell& c = r.overall;
  StrAppend(out, "<div class=\"kpis\">\n");
  ArmKpi(l.exposed, c.exposed, r, l, out);
  ArmKpi(l.comparison, c.comparison, r, l, out);
  const std::string gap = CellGap(c, r.k);
  const bool sup = gap.starts_with("suppressed");
  if (c.absolute_lift) {
    Kpi("Absolute lift", StrCat(Points(c.absolute_lift->estimate), " pts"),
        c.absolute_lift->ci ? StrCat(l.confidence, " CI ", PointsCi(*c.absolute_lift->ci)) : "",
        false, out);
  } else {
    Kpi("Absolute lift", gap.empty() ? "not estimable" : gap, "", true, out);
  }
  if (c.relative_lift) {
    Kpi("Relative lift", SignedPct(c.relative_lift->estimate),
        c.relative_lift->ci ? StrCat(l.confidence, " CI ", SignedPct(c.relative_lift->ci->lower),
                                     " to ", SignedPct(c.relative_lift->ci->upper))
                            : "",
        false, out);
  } else {
    Kpi("Relative lift",
        sup ? gap : c.status == CellStatus::kZeroBaseline ? "not estimable (zero baseline)"
                                                           : "not estimable",
        "", true, out);
  }
  if (c.p_value) {
    Kpi("p-value", PValue(*c.p_value), "two-sided z-test", false, out);
  } else {
    Kpi("p-value", sup ? gap : "not estimable", "", true, out);
  }
  StrAppend(out, "</div>\n");
}

// One row of the forest plot.
struct ForestRow {
  enum Kind { kGroup, kCell } kind = kCell;
  std::string label;  // Escaped.
  const Cell* cell = nullptr;
  bool overall = false;
};

void ForestPlot(const StudyResult& r, const Labels& l, std::string* out) {
  std::vector<ForestRow> rows;
  rows.push_back({ForestRow::kCell, "Overall", &r.overall, true});
  for (const Breakdown& b : r.by) {
    rows.push_back({ForestRow::kGroup, StrCat("by ", Esc(b.dimension)), nullptr, false});
    for (const Cell& c : b.cells) rows.push_back({ForestRow::kCell, CellLabel(c), &c, false});
  }
  // Domains over everything shown.
  double rate_hi = 0.05, lift_lo = 0, lift_hi = 0;
  for (const ForestRow& row : rows) {
    if (row.kind != ForestRow::kCell) continue;
    for (const Arm* a : {&row.cell->exposed, &row.cell->comparison}) {
      if (!ArmShown(*a)) continue;
      rate_hi = std::max(rate_hi, a->ci ? a->ci->upper : *a->rate);
    }
    if (CellGap(*row.cell, r.k).empty()) {
      const Estimate& e = *row.cell->absolute_lift;
      lift_lo = std::min({lift_lo, e.estimate, e.ci ? e.ci->lower : e.estimate});
      lift_hi = std::max({lift_hi, e.estimate, e.ci ? e.ci->upper : e.estimate});
    }
  }
  constexpr double kW = 1010, kRateX0 = 200, kRateX1 = 530, kLiftX0 = 605,
                   kLiftX1 = 830, kTextX = 845, kTop = 34, kCellH = 42, kGroupH = 30, kAxisH = 34;
  const Scale rate = MakeScale(0, std::min(1.0, rate_hi), kRateX0, kRateX1, 5);
  const double pad = std::max(0.01, (lift_hi - lift_lo) * 0.06);
  const Scale lift = MakeScale(lift_lo - pad, lift_hi + pad, kLiftX0, kLiftX1, 4);
  double height = kTop + kAxisH;
  for (const ForestRow& row : rows) height += row.kind == ForestRow::kGroup ? kGroupH : kCellH;
  const double bottom = height - kAxisH;

  StrAppend(out, "<svg class=\"chart\" viewBox=\"0 0 ", C(kW), " ", C(height), "\" role=\"img\" aria-label=\"",
            "Outcome rates with ", l.confidence,
            " confidence intervals and the absolute lift, overall and per cell\">\n<defs>"
            "<pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
            "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#f8fafc\"/>"
            "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#e2e8f0\" stroke-width=\"3\"/>"
            "</pattern></defs>\n");
  // Column titles.
  StrAppend(out, "<text class=\"h\" x=\"0\" y=\"16\">Cell</text>",
            "<text class=\"h\" x=\"", C(kRateX0), "\" y=\"16\">Outcome rate (", l.confidence,
            " CI)</text>", "<text class=\"h\" x=\"", C(kLiftX0), "\" y=\"16\">", "Absolute lift, ",
            "points</text>", "<text class=\"h\" x=\"", C(kTextX), "\" y=\"16\">Lift (",
            l.confidence, " CI)</text>\n");
  // Gridlines and axes.
  StrAppend(out, "<g class=\"ax\">");
  for (double t : rate.Ticks()) {
    const double x = rate(t);
    StrAppend(out, "<line x1=\"", C(x), "\" y1=\"", C(kTop - 6), "\" x2=\"", C(x), "\" y2=\"",
              C(bottom), "\"/><text x=\"", C(x), "\" y=\"", C(bottom + 16),
              "\" text-anchor=\"middle\">", Pct(t, 0), "</text>");
  }
  for (double t : lift.Ticks()) {
    const double x = lift(t);
    StrAppend(out, "<line x1=\"", C(x), "\" y1=\"", C(kTop - 6), "\" x2=\"", C(x), "\" y2=\"",
              C(bottom), "\"/><text x=\"", C(x), "\" y=\"", C(bottom + 16),
              "\" text-anchor=\"middle\">", Signed(t * 100, lift.step * 100 < 1 ? 1 : 0),
              "</text>");
  }
  StrAppend(out, "</g>\n<line class=\"zero\" x1=\"", C(lift(0)), "\" y1=\"", C(kTop - 6),
            "\" x2=\"", C(lift(0)), "\" y2=\"", C(bottom), "\"/>\n");

  double y = kTop;
  bool shade = false;
  for (const ForestRow& row : rows) {
    if (row.kind == ForestRow::kGroup) {
      StrAppend(out, "<text class=\"dim\" x=\"0\" y=\"", C(y + 20), "\">", row.label, "</text>\n");
      y += kGroupH;
      shade = false;
      continue;
    }
    const Cell& c = *row.cell;
    const double mid = y + kCellH / 2;
    if (shade || row.overall) {
      StrAppend(out, "<rect x=\"0\" y=\"", C(y), "\" width=\"", C(kW), "\" height=\"", C(kCellH),
                "\" fill=\"", row.overall ? "#eff6ff" : "#f8fafc", "\" opacity=\"0.7\"/>");
    }
    shade = !shade;
    StrAppend(out, "<text x=\"", row.overall ? "6" : "14", "\" y=\"", C(mid - 2), "\"",
              row.overall ? " font-weight=\"700\"" : "", ">", row.label, "</text>");
    // Units under the label, when both arms are released.
    if (c.exposed.units && c.comparison.units) {
      StrAppend(out, "<text class=\"sub\" x=\"", row.overall ? "6" : "14", "\" y=\"", C(mid + 13),
                "\">", Thousands(*c.exposed.units), " vs ", Thousands(*c.comparison.units), " ",
                UnitNoun(r.unit, true), "</text>");
    }
    const std::string gap = CellGap(c, r.k);
    const bool suppressed = gap.starts_with("suppressed");
    if (suppressed && !ArmShown(c.exposed) && !ArmShown(c.comparison)) {
      // One band across both panels: nothing of this cell is released.
      StrAppend(out, "<rect x=\"", C(kRateX0), "\" y=\"", C(y + 7), "\" width=\"",
                C(kLiftX1 - kRateX0), "\" height=\"", C(kCellH - 14),
                "\" fill=\"url(#hatch)\" rx=\"4\"/><text class=\"st\" x=\"",
                C((kRateX0 + kLiftX1) / 2), "\" y=\"", C(mid + 4), "\" text-anchor=\"middle\">",
                gap, "</text><text class=\"st\" x=\"", C(kTextX), "\" y=\"", C(mid + 4),
                "\">suppressed</text>\n");
      y += kCellH;
      continue;
    }
    // Arms: exposed above, comparison below the row's middle.
    const Arm* arms[2] = {&c.exposed, &c.comparison};
    for (int i = 0; i < 2; ++i) {
      const Arm& a = *arms[i];
      const double ay = mid + (i == 0 ? -6 : 6);
      const std::string& name = i == 0 ? l.exposed : l.comparison;
      if (!ArmShown(a)) {
        StrAppend(out, "<text class=\"st\" x=\"", C(kRateX0 + 4), "\" y=\"", C(ay + 4),
                  "\" font-size=\"11\">", name, ": ",
                  a.suppressed != Suppression::kNone ? SuppressedText(a.suppressed, r.k)
                                                     : std::string("no units"),
                  "</text>");
        continue;
      }
      StrAppend(out, "<g><title>", name, ": ", Pct(*a.rate));
      if (a.ci) StrAppend(out, " (", Pct(a.ci->lower), " to ", Pct(a.ci->upper), ")");
      StrAppend(out, ", ", Thousands(*a.outcomes), " of ", Thousands(*a.units), "</title>");
      const std::string_view stroke = i == 0 ? kExposedColor : kComparisonStroke;
      if (a.ci) {
        StrAppend(out, "<line x1=\"", C(rate(a.ci->lower)), "\" y1=\"", C(ay), "\" x2=\"",
                  C(rate(a.ci->upper)), "\" y2=\"", C(ay), "\" stroke=\"", stroke,
                  "\" stroke-width=\"2\"/>");
      }
      if (i == 0) {
        StrAppend(out, "<circle cx=\"", C(rate(*a.rate)), "\" cy=\"", C(ay), "\" r=\"5\" fill=\"",
                  kExposedColor, "\"/>");
      } else {
        StrAppend(out, "<rect x=\"", C(rate(*a.rate) - 4.5), "\" y=\"", C(ay - 4.5),
                  "\" width=\"9\" height=\"9\" fill=\"", kComparisonColor, "\" stroke=\"",
                  kComparisonStroke, "\" stroke-width=\"1.5\"/>");
      }
      StrAppend(out, "</g>");
    }
    // Lift.
    if (!gap.empty()) {
      StrAppend(out, "<text class=\"st\" x=\"", C((kLiftX0 + kLiftX1) / 2), "\" y=\"", C(mid + 4),
                "\" text-anchor=\"middle\" font-size=\"11\">", gap, "</text>");
      StrAppend(out, "<text class=\"st\" x=\"", C(kTextX), "\" y=\"", C(mid + 4), "\">",
                suppressed ? "suppressed" : "not estimable", "</text>\n");
    } else {
      const Estimate& e = *c.absolute_lift;
      const bool clear = e.ci && (e.ci->lower > 0 || e.ci->upper < 0);
      const std::string_view color =
          !clear ? "#64748b" : e.ci->lower > 0 ? "#047857" : "#b91c1c";
      const double x = lift(e.estimate);
      StrAppend(out, "<g><title>Absolute lift ", Points(e.estimate), " points");
      if (e.ci) StrAppend(out, " (", PointsCi(*e.ci), ")");
      StrAppend(out, "</title>");
      if (e.ci) {
        StrAppend(out, "<line x1=\"", C(lift(e.ci->lower)), "\" y1=\"", C(mid), "\" x2=\"",
                  C(lift(e.ci->upper)), "\" y2=\"", C(mid), "\" stroke=\"", color,
                  "\" stroke-width=\"2.5\"/>");
      }
      const double s = row.overall ? 8 : 6;
      StrAppend(out, "<path d=\"M", C(x), " ", C(mid - s), "L", C(x + s), " ", C(mid), "L", C(x),
                " ", C(mid + s), "L", C(x - s), " ", C(mid), "Z\" fill=\"", color, "\"/></g>");
      StrAppend(out, "<text x=\"", C(kTextX), "\" y=\"", C(mid - 2), "\" font-weight=\"700\">",
                Points(e.estimate), " pts</text>");
      if (e.ci) {
        StrAppend(out, "<text class=\"sub\" x=\"", C(kTextX), "\" y=\"", C(mid + 13), "\">",
                  Points(e.ci->lower), " to ", Points(e.ci->upper), "</text>");
      }
      StrAppend(out, "\n");
    }
    y += kCellH;
  }
  StrAppend(out, "</svg>\n");
}

std::string ArmCells(const Arm& a, int64_t k, const Labels& l) {
  if (a.suppressed != Suppression::kNone) {
    return StrCat("<td class=\"sup\" colspan=\"2\">", SuppressedText(a.suppressed, k), "</td>");
  }
  std::string rate = a.rate ? Pct(*a.rate) : "–";
  if (a.ci) StrAppend(&rate, " <span class=\"note\">(", Pct(a.ci->lower), "–", Pct(a.ci->upper), ")</span>");
  (void)l;
  return StrCat("<td>", Thousands(*a.outcomes), " / ", Thousands(*a.units), "</td><td>", rate,
                "</td>");
}

void LiftTable(const StudyResult& r, const Labels& l, std::string* out) {
  StrAppend(out, "<h3>The figures</h3>\n<table>\n<tr><th rowspan=\"2\">Cell</th>"
            "<th colspan=\"2\" class=\"span\">", l.exposed, "</th><th colspan=\"2\" class=\"span\">",
            l.comparison, "</th><th colspan=\"3\" class=\"span\">Lift</th></tr>\n<tr>"
            "<th>outcomes / units</th><th>rate (", l.confidence, " CI)</th><th>outcomes / units"
            "</th><th>rate (", l.confidence, " CI)</th><th>absolute, points (", l.confidence,
            " CI)</th><th>relative</th><th>p</th></tr>\n");
  auto row = [&](const Cell& c, const std::string& label) {
    StrAppend(out, "<tr><td>", label, "</td>", ArmCells(c.exposed, r.k, l),
              ArmCells(c.comparison, r.k, l));
    const std::string gap = CellGap(c, r.k);
    if (!gap.empty() && !c.absolute_lift) {
      StrAppend(out, "<td class=\"sup\" colspan=\"3\">", gap, "</td></tr>\n");
      return;
    }
    StrAppend(out, "<td>", Points(c.absolute_lift->estimate));
    if (c.absolute_lift->ci) {
      StrAppend(out, " <span class=\"note\">(", Points(c.absolute_lift->ci->lower), " to ",
                Points(c.absolute_lift->ci->upper), ")</span>");
    }
    StrAppend(out, "</td><td>",
              c.relative_lift ? SignedPct(c.relative_lift->estimate) : "<span class=\"sup\">n/a</span>",
              "</td><td>", c.p_value ? PValue(*c.p_value) : "<span class=\"sup\">n/a</span>",
              "</td></tr>\n");
  };
  row(r.overall, "<b>Overall</b>");
  for (const Breakdown& b : r.by) {
    StrAppend(out, "<tr><td class=\"grp\" colspan=\"8\">by ", Esc(b.dimension), "</td></tr>\n");
    for (const Cell& c : b.cells) row(c, CellLabel(c));
  }
  StrAppend(out, "</table>\n");
}

void LiftSection(const StudyResult& r, const Labels& l, std::string* out) {
  StrAppend(out, "<section id=\"lift\">\n<h2>Lift</h2>\n<p class=\"lede\">Share of ",
            UnitNoun(r.unit, true), " with the outcome in each arm, with ", l.confidence,
            " Wilson intervals; the absolute lift is the difference in percentage points with its ",
            "Newcombe interval. An interval that does not cross the dashed zero line is a ",
            "difference the data support.</p>\n");
  if (r.evidence == Design::kPrePost) {
    StrAppend(out, "<p class=\"warnline\"><b>Weaker evidence.</b> ", Esc(r.caveat), "</p>\n");
  }
  Kpis(r, l, out);
  bool any_shown = false;
  for (const Cell* c : {&r.overall}) any_shown = any_shown || ArmShown(c->exposed) || ArmShown(c->comparison);
  for (const Breakdown& b : r.by) {
    for (const Cell& c : b.cells) any_shown = any_shown || ArmShown(c.exposed) || ArmShown(c.comparison);
  }
  if (!any_shown) {
    // Axes around nothing would only suggest a scale; the table says what was withheld.
    StrAppend(out, "<p class=\"sup\">No cell has a released rate to chart.</p>\n");
    LiftTable(r, l, out);
    StrAppend(out, "</section>\n");
    return;
  }
  StrAppend(out, "<div class=\"legend\"><span><i class=\"e\"></i>", l.exposed,
            "</span><span><i class=\"c\"></i>", l.comparison,
            "</span><span><i class=\"l\"></i>Absolute lift (green: interval above zero, grey: "
            "crosses zero, red: below zero)</span></div>\n");
  ForestPlot(r, l, out);
  LiftTable(r, l, out);
  StrAppend(out, "</section>\n");
}

void TimeSection(const StudyResult& r, const Labels& l, std::string* out) {
  StrAppend(out, "<section id=\"time\">\n<h2>Time to outcome</h2>\n<p class=\"lede\">Share of ",
            UnitNoun(r.unit, true), " who had the outcome, over time since the start of "
            "follow-up (in ", Esc(r.time_unit), "; one minus the Kaplan–Meier survival curve, so "
            "units followed for a shorter time count fairly). Dashed lines mark the medians: the "
            "time by which half had the outcome.</p>\n");
  if (r.time_groups.empty()) {
    StrAppend(out, "<p class=\"sup\">No time-to-outcome figures were released.</p>\n</section>\n");
    return;
  }
  auto name = [&](const TimeGroup& g) { return g.arm == "exposed" ? l.exposed : l.comparison; };
  double t_max = 0;
  bool any_curve = false;
  for (const TimeGroup& g : r.time_groups) {
    for (const CurvePoint& p : g.curve) t_max = std::max(t_max, p.t);
    any_curve = any_curve || !g.curve.empty();
  }
  if (any_curve) {
    StrAppend(out, "<div class=\"legend\">");
    for (const TimeGroup& g : r.time_groups) {
      StrAppend(out, "<span><i class=\"", g.arm == "exposed" ? "e" : "c", "\"></i>", name(g),
                g.suppressed != Suppression::kNone ? StrCat(": ", SuppressedText(g.suppressed, r.k))
                                                   : std::string(),
                "</span>");
    }
    StrAppend(out, "</div>\n");
    constexpr double kW = 1010, kH = 340, kX0 = 56, kX1 = 990, kY0 = 14, kY1 = 300;
    double share_max = 0.5;  // The median line stays in view.
    for (const TimeGroup& g : r.time_groups) {
      for (const CurvePoint& p : g.curve) share_max = std::max(share_max, 1 - p.survival);
    }
    const Scale x = MakeScale(0, std::max(t_max, 1.0), kX0, kX1, 8);
    // Inverted: 0 at the bottom.
    const Scale y = MakeScale(0, std::min(1.0, share_max + 0.05), kY1, kY0, 5);
    StrAppend(out, "<svg class=\"chart\" viewBox=\"0 0 ", C(kW), " ", C(kH),
              "\" role=\"img\" aria-label=\"Cumulative share with the outcome over time, per "
              "arm\">\n<g class=\"ax\">");
    for (double t : y.Ticks()) {
      StrAppend(out, "<line x1=\"", C(kX0), "\" y1=\"", C(y(t)), "\" x2=\"", C(kX1), "\" y2=\"",
                C(y(t)), "\"/><text x=\"", C(kX0 - 8), "\" y=\"", C(y(t) + 4),
                "\" text-anchor=\"end\">", Pct(t, 0), "</text>");
    }
    for (double t : x.Ticks()) {
      StrAppend(out, "<line x1=\"", C(x(t)), "\" y1=\"", C(kY1), "\" x2=\"", C(x(t)), "\" y2=\"",
                C(kY1 + 5), "\"/><text x=\"", C(x(t)), "\" y=\"", C(kY1 + 19),
                "\" text-anchor=\"middle\">", Trim(t, 1), "</text>");
    }
    StrAppend(out, "</g><line x1=\"", C(kX0), "\" y1=\"", C(kY1), "\" x2=\"", C(kX1), "\" y2=\"",
              C(kY1), "\" stroke=\"#334155\"/><text class=\"sub\" x=\"", C((kX0 + kX1) / 2),
              "\" y=\"", C(kH - 4), "\" text-anchor=\"middle\">", Esc(r.time_unit),
              " since the start of follow-up</text>\n<line x1=\"", C(kX0), "\" y1=\"", C(y(0.5)),
              "\" x2=\"", C(kX1), "\" y2=\"", C(y(0.5)),
              "\" stroke=\"#94a3b8\" stroke-dasharray=\"2 3\"/>\n");
    int label_row = 0;
    for (const TimeGroup& g : r.time_groups) {
      if (g.curve.empty()) continue;
      const bool exposed = g.arm == "exposed";
      const std::string_view color = exposed ? kExposedColor : kComparisonStroke;
      std::string d = StrCat("M", C(x(g.curve.front().t)), " ", C(y(1 - g.curve.front().survival)));
      for (size_t i = 1; i < g.curve.size(); ++i) {
        StrAppend(&d, "H", C(x(g.curve[i].t)), "V", C(y(1 - g.curve[i].survival)));
      }
      StrAppend(&d, "H", C(x(x.hi)));
      StrAppend(out, "<path d=\"", d, "\" fill=\"none\" stroke=\"", color,
                "\" stroke-width=\"2.5\"", exposed ? "" : " stroke-dasharray=\"7 3\"", "/>\n");
      if (g.median && g.median->reached && g.median->estimate) {
        const double mx = x(*g.median->estimate);
        StrAppend(out, "<line x1=\"", C(mx), "\" y1=\"", C(y(0.5)), "\" x2=\"", C(mx), "\" y2=\"",
                  C(kY1), "\" stroke=\"", color, "\" stroke-dasharray=\"4 3\"/><circle cx=\"",
                  C(mx), "\" cy=\"", C(y(0.5)), "\" r=\"4\" fill=\"", color, "\"/><text x=\"",
                  C(mx + 6), "\" y=\"", C(kY1 - 10 - 16 * label_row), "\" fill=\"", color,
                  "\" font-weight=\"700\" paint-order=\"stroke\" stroke=\"#fff\" "
                  "stroke-width=\"4\">median ", Trim(*g.median->estimate, 1), " ",
                  Esc(r.time_unit), "</text>\n");
        ++label_row;
      }
    }
    StrAppend(out, "</svg>\n");
  }
  // Medians and quantiles.
  std::vector<double> ps;
  for (const TimeGroup& g : r.time_groups) {
    for (const Quantile& q : g.quantiles) {
      if (std::find(ps.begin(), ps.end(), q.p) == ps.end()) ps.push_back(q.p);
    }
  }
  std::sort(ps.begin(), ps.end());
  StrAppend(out, "<table>\n<tr><th>Arm</th><th>Units</th><th>With the outcome</th><th>Median (",
            l.confidence, " CI)</th>");
  for (double p : ps) StrAppend(out, "<th>Time to ", Trim(p * 100, 1), "%</th>");
  StrAppend(out, "</tr>\n");
  for (const TimeGroup& g : r.time_groups) {
    StrAppend(out, "<tr><td>", name(g), "</td>");
    if (g.suppressed != Suppression::kNone) {
      StrAppend(out, "<td class=\"sup\" colspan=\"", 3 + ps.size(), "\">",
                SuppressedText(g.suppressed, r.k), "</td></tr>\n");
      continue;
    }
    StrAppend(out, "<td>", Thousands(*g.units), "</td><td>", Thousands(*g.outcomes), "</td><td>");
    if (g.median && g.median->reached && g.median->estimate) {
      StrAppend(out, Trim(*g.median->estimate, 1), " ", Esc(r.time_unit));
      if (g.median->ci) {
        StrAppend(out, " <span class=\"note\">(", Trim(g.median->ci->lower, 1), "–",
                  Trim(g.median->ci->upper, 1), ")</span>");
      }
    } else {
      StrAppend(out, "<span class=\"sup\">not reached</span>");
    }
    StrAppend(out, "</td>");
    for (double p : ps) {
      auto it = std::find_if(g.quantiles.begin(), g.quantiles.end(),
                             [p](const Quantile& q) { return q.p == p; });
      if (it == g.quantiles.end()) {
        StrAppend(out, "<td></td>");
      } else if (it->estimate) {
        StrAppend(out, "<td>", Trim(*it->estimate, 1), "</td>");
      } else {
        StrAppend(out, "<td><span class=\"sup\">not reached</span></td>");
      }
    }
    StrAppend(out, "</tr>\n");
  }
  StrAppend(out, "</table>\n</section>\n");
}

// A small horizontal bar: `share` of `full` pixels.
std::string Bar(double share, double full, std::string_view color) {
  share = std::clamp(share, 0.0, 1.0);
  return StrCat("<svg class=\"bar\" viewBox=\"0 0 ", C(full), " 7\" width=\"", C(full),
                "\" height=\"7\"><rect width=\"", C(full), "\" height=\"7\" rx=\"2\" "
                "fill=\"#eef2f7\"/><rect width=\"", C(std::max(share * full, share > 0 ? 1.0 : 0.0)),
                "\" height=\"7\" rx=\"2\" fill=\"", color, "\"/></svg>");
}

void AttributionSection(const StudyResult& r, std::string* out) {
  StrAppend(out, "<section id=\"attribution\">\n<h2>Attribution by channel</h2>\n<p class=\"lede\">",
            "How each model shares the conversions among the channels that touched the ",
            UnitNoun(r.unit, true), " before it. Heuristic models split each conversion by rule; ",
            "Markov N (a chain of order N) credits a channel with the conversions lost when it is "
            "removed; Shapley ",
            "values average each channel's marginal contribution. Bars show each channel's share "
            "of the model's total.</p>\n");
  StrAppend(out, "<p>");
  if (r.journeys) StrAppend(out, "<b>", Thousands(*r.journeys), "</b> journeys");
  else StrAppend(out, "Journeys: <span class=\"sup\">", SuppressedText(Suppression::kPrimary, r.k), "</span>");
  StrAppend(out, " · ");
  if (r.conversions) StrAppend(out, "<b>", Thousands(*r.conversions), "</b> conversions");
  else StrAppend(out, "conversions <span class=\"sup\">", SuppressedText(Suppression::kPrimary, r.k), "</span>");
  StrAppend(out, "</p>\n");
  if (!r.suppressed_channels.empty()) {
    std::vector<std::string> names;
    for (const auto& c : r.suppressed_channels) names.push_back(Esc(c));
    StrAppend(out, "<p class=\"note\">Withheld channels (fewer than ", r.k,
              " units touched them): ", common::StrJoin(names, ", "), ".</p>\n");
  }
  if (r.models.empty() || r.channels.empty()) {
    StrAppend(out, "<p class=\"sup\">No attribution was released for this study.</p>\n</section>\n");
    return;
  }
  // Totals per model, for shares.
  std::vector<double> totals;
  for (const AttributionModel& m : r.models) {
    double t = 0;
    for (const ChannelCredit& c : m.channels) t += c.conversions.value_or(0);
    totals.push_back(t);
  }
  auto find = [](const AttributionModel& m, const std::string& ch) -> const ChannelCredit* {
    for (const ChannelCredit& c : m.channels) {
      if (c.channel == ch) return &c;
    }
    return nullptr;
  };
  static constexpr std::string_view kPalette[] = {"#1d4ed8", "#0e7490", "#7c3aed", "#b45309",
                                                  "#be185d", "#047857", "#4338ca", "#a16207",
                                                  "#334155"};
  StrAppend(out, "<h3>Attributed conversions, each model side by side</h3>\n<table>\n<tr><th>"
                 "Channel</th>");
  for (const AttributionModel& m : r.models) StrAppend(out, "<th>", ModelName(m.model), "</th>");
  StrAppend(out, "</tr>\n");
  for (const std::string& ch : r.channels) {
    StrAppend(out, "<tr><td><b>", Esc(ch), "</b></td>");
    for (size_t i = 0; i < r.models.size(); ++i) {
      const ChannelCredit* c = find(r.models[i], ch);
      if (c == nullptr || !c->conversions) {
        StrAppend(out, "<td><span class=\"sup\">", c == nullptr ? "–" : "suppressed",
                  "</span></td>");
        continue;
      }
      const double share = totals[i] > 0 ? *c->conversions / totals[i] : 0;
      StrAppend(out, "<td title=\"", Pct(share), " of ", Esc(ModelName(r.models[i].model)),
                "\">", People(*c->conversions, 1), " <span class=\"note\">", Pct(share, 0),
                "</span>", Bar(share, 84, kPalette[i % std::size(kPalette)]), "</td>");
    }
    StrAppend(out, "</tr>\n");
  }
  StrAppend(out, "<tr><td class=\"note\">Total</td>");
  for (double t : totals) StrAppend(out, "<td class=\"note\">", People(t, 1), "</td>");
  StrAppend(out, "</tr>\n</table>\n");

  // Value, when it says something the conversions do not.
  bool value_differs = false;
  for (const AttributionModel& m : r.models) {
    for (const ChannelCredit& c : m.channels) {
      if (c.value && c.conversions && std::abs(*c.value - *c.conversions) > 1e-9) value_differs = true;
    }
  }
  if (value_differs) {
    StrAppend(out, "<h3>Attributed value</h3>\n<table>\n<tr><th>Channel</th>");
    for (const AttributionModel& m : r.models) StrAppend(out, "<th>", ModelName(m.model), "</th>");
    StrAppend(out, "</tr>\n");
    for (const std::string& ch : r.channels) {
      StrAppend(out, "<tr><td><b>", Esc(ch), "</b></td>");
      for (const AttributionModel& m : r.models) {
        const ChannelCredit* c = find(m, ch);
        StrAppend(out, "<td>",
                  c && c->value ? People(*c->value, 2) : std::string("<span class=\"sup\">–</span>"),
                  "</td>");
      }
      StrAppend(out, "</tr>\n");
    }
    StrAppend(out, "</table>\n");
  }

  // Markov removal effects.
  std::vector<const AttributionModel*> markov;
  for (const AttributionModel& m : r.models) {
    if (m.model.starts_with("markov_")) markov.push_back(&m);
  }
  if (!markov.empty()) {
    StrAppend(out, "<h3>Markov removal effects</h3>\n<p class=\"lede\">The share of conversions "
                   "that would be lost if the channel were removed from every journey (exact, "
                   "from the absorbing chain).</p>\n<table>\n<tr><th>Channel</th>");
    for (const AttributionModel* m : markov) {
      StrAppend(out, "<th>", ModelName(m->model), "</th>");
    }
    StrAppend(out, "</tr>\n<tr><td class=\"note\">Base conversion probability</td>");
    for (const AttributionModel* m : markov) {
      StrAppend(out, "<td class=\"note\">",
                m->base_conversion_probability ? Pct(*m->base_conversion_probability, 2)
                                               : std::string("–"),
                "</td>");
    }
    StrAppend(out, "</tr>\n");
    for (const std::string& ch : r.channels) {
      StrAppend(out, "<tr><td><b>", Esc(ch), "</b></td>");
      for (const AttributionModel* m : markov) {
        const ChannelCredit* c = find(*m, ch);
        if (c == nullptr || !c->removal_effect) {
          StrAppend(out, "<td><span class=\"sup\">–</span></td>");
          continue;
        }
        StrAppend(out, "<td>", Pct(*c->removal_effect), Bar(*c->removal_effect, 120, "#7c3aed"),
                  "</td>");
      }
      StrAppend(out, "</tr>\n");
    }
    StrAppend(out, "</table>\n");
  }
  StrAppend(out, "</section>\n");
}

void Fact(std::string_view label, std::string_view value, std::string* out) {
  StrAppend(out, "<dt>", label, "</dt><dd>", value, "</dd>\n");
}

void PrivacySection(const StudyResult& r, std::string* out) {
  StrAppend(out, "<section id=\"privacy\">\n<h2>Disclosure control</h2>\n<p class=\"lede\">",
            "Only aggregates leave the analytics sink. A cell with fewer than k units is "
            "suppressed (primary), and further cells are suppressed where the totals would "
            "otherwise reveal it (complementary). No person-level value is in this report.</p>\n");
  const int64_t withheld = r.suppressed_primary + r.suppressed_complementary;
  StrAppend(out, "<div class=\"cards\">\n");
  StrAppend(out, "<div class=\"card\"><div class=\"k\">Minimum cell size</div><div class=\"v\">k = ",
            r.k, "</div><div class=\"s\">",
            r.k == 11 ? "the CMS cell-size rule" : "set by the study",
            r.suppress_zero ? "; zero cells suppressed too" : "; zero cells released", "</div></div>\n");
  StrAppend(out, "<div class=\"card\"><div class=\"k\">Cells released</div><div class=\"v\">",
            Thousands(r.cells_released), "</div><div class=\"s\">", Thousands(withheld),
            " withheld</div></div>\n");
  StrAppend(out, "<div class=\"card\"><div class=\"k\">Suppressed, primary</div><div class=\"v\">",
            Thousands(r.suppressed_primary), "</div><div class=\"s\">fewer than ", r.k,
            " units</div></div>\n");
  StrAppend(out, "<div class=\"card\"><div class=\"k\">Suppressed, complementary</div><div "
                 "class=\"v\">",
            Thousands(r.suppressed_complementary),
            "</div><div class=\"s\">so a small cell cannot be derived from totals</div></div>\n");
  StrAppend(out, "</div>\n");
  if (r.mode == PrivacyMode::kDifferentialPrivacy) {
    const double spent = r.epsilon_spent.value_or(0), left = r.epsilon_remaining.value_or(0);
    const double total = spent + left;
    StrAppend(out, "<h3>Differential privacy</h3>\n<p>Released counts carry calibrated Laplace "
                   "noise. This run spent <b>ε = ",
              Trim(spent, 3), "</b>; <b>ε = ", Trim(left, 3),
              "</b> of the study's budget remains (further runs are refused once it is spent)."
              "</p>\n<svg class=\"budgetbar\" viewBox=\"0 0 1000 10\" preserveAspectRatio=\"none\">"
              "<rect width=\"1000\" height=\"10\" rx=\"5\" fill=\"#e2e8f0\"/><rect width=\"",
              C(total > 0 ? 1000 * std::clamp(spent / total, 0.0, 1.0) : 0),
              "\" height=\"10\" rx=\"5\" fill=\"#7c3aed\"/></svg>\n<p class=\"note\">Budget used: ",
              total > 0 ? Pct(spent / total) : std::string("0.0%"), " of ε = ", Trim(total, 3),
              ".</p>\n");
  } else {
    StrAppend(out, "<p class=\"note\">Mode: suppression only (no differential-privacy noise); "
                   "released figures are exact counts.</p>\n");
  }
  StrAppend(out, "</section>\n");
}

void RatioCard(std::string_view label, const Ratio& q, const StudyResult& r, bool expect_one,
               std::string* out) {
  const bool alert = expect_one && q.rate && *q.rate < 1.0;
  StrAppend(out, "<div class=\"card", alert ? " alert" : "", "\"><div class=\"k\">", label,
            "</div>");
  if (q.suppressed != Suppression::kNone) {
    StrAppend(out, "<div class=\"v sup\">", SuppressedText(q.suppressed, r.k), "</div>");
  } else {
    StrAppend(out, "<div class=\"v\">",
              q.rate ? Pct(*q.rate) : std::string("<span class=\"sup\">n/a</span>"),
              "</div><div class=\"s\">", Thousands(*q.numerator), " of ",
              Thousands(*q.denominator), "</div>");
  }
  if (alert) StrAppend(out, "<div class=\"s\"><b>Expected 100%.</b></div>");
  StrAppend(out, "<div class=\"n\">", Esc(q.note), "</div></div>\n");
}

void GovernanceSection(const StudyResult& r, std::string* out) {
  StrAppend(out, "<section id=\"governance\">\n<h2>Governance</h2>\n<p class=\"lede\">The "
                 "figures that say whether the measurement itself was sound: consent behind the "
                 "population, people who withdrew, data that could not be matched, and where the "
                 "analytics came from.</p>\n<div class=\"cards\">\n");
  RatioCard("Consent coverage", r.consent_coverage, r, false, out);
  RatioCard("Revocation / opt-out rate", r.revocation_rate, r, false, out);
  RatioCard("Failed match rate", r.failed_match_rate, r, false, out);
  RatioCard("Drawn from minimized data", r.minimized_share, r, true, out);
  StrAppend(out, "</div>\n</section>\n");
}

void RunSection(const StudyResult& r, std::string* out) {
  StrAppend(out, "<section id=\"run\">\n<h2>About this study and run</h2>\n<div class=\"grid2\">"
                 "<dl class=\"facts\">\n");
  Fact("Study", StrCat("<code>", Esc(r.id), "</code>"), out);
  Fact("Design", r.design == Design::kPrePost ? "Pre/post comparison (no holdout)"
                                              : "Randomized holdout",
       out);
  Fact("Unit", r.unit == "patient_token" ? "patient (pseudonymous token)"
                                         : UnitNoun(r.unit, false),
       out);
  Fact("Window", StrCat(Day(r.window_from), " to ", Day(r.window_to)), out);
  Fact("Exposure", Esc(r.exposure), out);
  Fact("Outcome", Esc(r.outcome), out);
  std::vector<std::string> dims;
  for (const auto& d : r.dimensions) dims.push_back(Esc(d));
  Fact("Broken down by", dims.empty() ? "—" : common::StrJoin(dims, ", "), out);
  StrAppend(out, "</dl><dl class=\"facts\">\n");
  Fact("Measured at", When(r.run_at), out);
  Fact("Measured by", Esc(r.run_by), out);
  Fact("Analytics rows read", StrCat(Thousands(r.analytics_rows_read), " from sink <code>",
                                     Esc(r.sink), "</code>"),
       out);
  Fact("Ledger entry", r.ledger_seq ? StrCat("seq ", Thousands(*r.ledger_seq)) : "not recorded",
       out);
  Fact("Study file SHA-256", StrCat("<span class=\"mono\">", Esc(r.file_sha256), "</span>"), out);
  StrAppend(out, "</dl></div>\n</section>\n");
}

}  // namespace


std::string RenderStudyHtml(const StudyResult& r) {
  const Labels l = LabelsFor(r);
  std::string out;
  out.reserve(64 * 1024);
  StrAppend(&out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            // Nothing may be fetched: no script, image, font, frame or connection at all;
            // only the inline style sheet and inline SVG.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"generator\" content=\"loopgate report study\">\n<title>",
            Esc(r.title), " · Study report</title>\n<style>", kCss, "</style>\n</head>\n<body>\n"
            "<main>\n");
  Header(r, &out);
  Answer(r, &out);
  LiftSection(r, l, &out);
  TimeSection(r, l, &out);
  AttributionSection(r, &out);
  PrivacySection(r, &out);
  GovernanceSection(r, &out);
  RunSection(r, &out);
  StrAppend(&out, "<footer>Generated by <code>loopgate report study</code> from a <code>",
            kStudyResultFormat, "</code> result. Every figure is an aggregate that passed "
            "disclosure control (k = ", r.k, "); this page loads nothing from the network.</footer>\n"
            "</main>\n</body>\n</html>\n");
  return out;
}

absl::StatusOr<std::string> RenderStudyHtml(std::string_view result_json) {
  ASSIGN_OR_RETURN(StudyResult r, ParseStudyResult(result_json));
  return RenderStudyHtml(r);
}

}  // namespace loopgate::report
