#pragma once
// The study report (docs/study-report.md): one self-contained HTML page that a commercial
// analyst and a privacy officer can both read, rendered from a loopgate.study-result/v1 object
// (report/study_result.h) as `loopgate measure` writes it.
//
// The page holds the study's question, the answer in one sentence with the strength of the
// evidence beside it (a pre/post study is labelled weaker evidence, visibly), the lift of each
// arm with its interval as a forest plot (overall and per dimension cell), the time-to-outcome
// curves with their medians, attribution by channel under each model side by side with the
// Markov removal effects, the disclosure control applied, the governance figures and the facts
// of the run.
//
// Self-contained: inline CSS and SVG drawn here; no script, font, image or link to anything
// outside the page, and a Content-Security-Policy that forbids every network load. Every text
// taken from the result (title, question, answer, dimension values, channel names...) is
// HTML-escaped. A suppressed figure is never printed as a number: its place says
// "suppressed (fewer than k units)" or why it was withheld.
//
// Pure functions; thread-safe; deterministic (the same result gives the same bytes).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "report/study_result.h"

namespace loopgate::report {

// Renders a result that ParseStudyResult accepted.
std::string RenderStudyHtml(const study::StudyResult& result);

// Parses and checks `result_json` (ParseStudyResult's errors), then renders it.
absl::StatusOr<std::string> RenderStudyHtml(std::string_view result_json);

}  // namespace loopgate::report
