#include <cstdio>
#include <cstdlib>
#include <set>

#include "common/strings.h"
#include "sink/file/file_output.h"
#include "sink/sink.h"

namespace loopgate::sink {

const std::vector<Plugin>& Plugins() {
  // The one list of output plugins. Add a plugin here; a duplicate type is a startup error.
  static const std::vector<Plugin> plugins = [] {
    std::vector<Plugin> list = {
        file::Plugin(),
    };
    std::set<std::string_view> types;
    for (const auto& p : list) {
      if (!types.insert(p.type).second) {
        std::fprintf(stderr, "loopgate: output plugin '%.*s' is registered twice\n",
                     static_cast<int>(p.type.size()), p.type.data());
        std::abort();
      }
    }
    return list;
  }();
  return plugins;
}

const Plugin* FindPlugin(std::string_view type) {
  for (const auto& p : Plugins()) {
    if (p.type == type) return &p;
  }
  return nullptr;
}

std::string ValidateOutput(const catalog::SinkOutput& output) {
  const Plugin* plugin = FindPlugin(output.type);
  if (plugin == nullptr) {
    std::vector<std::string_view> types;
    for (const auto& p : Plugins()) types.push_back(p.type);
    return common::StrCat("unknown output type '", output.type, "' (available: ",
                        common::StrJoin(types, ", "), ")");
  }
  for (const auto& [name, value] : output.options) {
    const OptionSpec* spec = nullptr;
    for (const auto& o : plugin->options) {
      if (o.name == name) spec = &o;
    }
    if (spec == nullptr) {
      std::vector<std::string_view> names;
      for (const auto& o : plugin->options) names.push_back(o.name);
      return common::StrCat("output type '", output.type, "' has no option '", name,
                          "' (options: ", common::StrJoin(names, ", "), ")");
    }
    if (spec->type == "bool" && value != "true" && value != "false") {
      return common::StrCat("output option '", name, "' must be true or false");
    }
  }
  return "";
}

std::string OptionValue(const catalog::SinkOutput& config, const Plugin& plugin,
                        std::string_view name) {
  for (const auto& [k, v] : config.options) {
    if (k == name) return v;
  }
  for (const auto& o : plugin.options) {
    if (o.name == name) return std::string(o.default_value);
  }
  return "";
}

absl::StatusOr<std::unique_ptr<Output>> CreateOutput(const catalog::SinkOutput& config,
                                                     const OutputContext& context) {
  const Plugin* plugin = FindPlugin(config.type);
  if (plugin == nullptr) {
    return absl::InvalidArgumentError(ValidateOutput(config));
  }
  return plugin->create(config, context);
}

}  // namespace loopgate::sink
