// loopgate matrix: the data purpose matrix for legal review (docs/governance-tools.md).

#include <cstdio>
#include <string>

#include "catalog/catalog.h"
#include "cli/command.h"
#include "common/strings.h"
#include "matrix/matrix.h"
#include "sink/sink.h"

namespace loopgate::cli {
namespace {

struct MatrixArgs {
  std::string config;
  std::string format = "md";
};

int MatrixCommand(const MatrixArgs& a) {
  const auto format = matrix::ParseFormat(a.format);
  if (!format) {
    return FailConfig(absl::InvalidArgumentError(
        common::StrCat("--format '", a.format, "' is not one of md, csv, html")));
  }
  auto catalog = catalog::LoadFile(a.config, &sink::ValidateOutput);
  if (!catalog.ok()) return FailConfig(catalog.status());
  for (const auto& w : (*catalog)->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const std::string text = matrix::Render(matrix::Build(**catalog), *format);
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    return Fail(absl::UnavailableError("cannot write the matrix to standard output"));
  }
  return kOk;
}

}  // namespace

void AddMatrixCommand(Commands& commands) {
  auto a = std::make_shared<MatrixArgs>();
  auto* cmd = commands.app().add_subcommand(
      "matrix", "Print the data purpose matrix: where each field can go, in which form, and when");
  cmd->add_option("--config", a->config, "Catalog YAML (docs/catalog.md)")->required();
  cmd->add_option("--format", a->format, "md (Markdown), csv or html (one self-contained page)")
      ->default_str("md");
  commands.On(cmd, [a] { return MatrixCommand(*a); });
}

}  // namespace loopgate::cli
