#pragma once
// Sink outputs. A sink stages lines during a batch and makes them durable on Flush(); the
// router then stores the sink's Position() in the same state-store transaction as the ledger
// and seen ids. After a crash, Recover() cuts the output back to the last committed position,
// and the router redoes the uncommitted events: nothing lost, nothing doubled.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"

namespace loopgate::sink {

// The outcome of making staged lines durable.
enum class FlushStatus : uint8_t {
  kDelivered,  // Everything staged is durable.
  kRetry,      // A transient failure; the batch may be flushed again.
  kFailed,     // A permanent failure; the run stops without committing the batch.
};

class Output {
 public:
  virtual ~Output() = default;

  // A stable name for the committed position in the state store (e.g. the file's path).
  virtual const std::string& key() const = 0;

  // Brings the output to `committed` (nullopt: never committed), discarding anything beyond
  // it. Errors: DataLoss when the output holds less than was committed.
  virtual absl::Status Recover(std::optional<int64_t> committed) = 0;

  // Stages one line (without newline). Not durable until Flush().
  virtual void Append(std::string_view line) = 0;

  // Makes staged lines durable. `error` explains kRetry and kFailed.
  virtual FlushStatus Flush(std::string* error) = 0;

  // The durable position after the last successful Flush().
  virtual int64_t Position() const = 0;
};

// One option of an output plugin: declared once, used for validation and for docs.
struct OptionSpec {
  std::string_view name;
  std::string_view type;  // "string" or "bool".
  std::string_view default_value;
  std::string_view help;
};

struct OutputContext {
  std::string out_dir;  // --out
  std::string name;     // The sink id, or "quarantine".
};

struct Plugin {
  std::string_view type;
  std::string_view help;
  std::vector<OptionSpec> options;
  absl::StatusOr<std::unique_ptr<Output>> (*create)(const catalog::SinkOutput& config,
                                                    const OutputContext& context);
};

// Every output plugin, in one explicit list (sink/registry.cc).
const std::vector<Plugin>& Plugins();
const Plugin* FindPlugin(std::string_view type);

// Checks a sink's output block against its plugin's option table. Empty when valid.
std::string ValidateOutput(const catalog::SinkOutput& output);

// Creates the output for a sink (or the quarantine output with type "file").
absl::StatusOr<std::unique_ptr<Output>> CreateOutput(const catalog::SinkOutput& config,
                                                     const OutputContext& context);

// The value of option `name`, or its declared default.
std::string OptionValue(const catalog::SinkOutput& config, const Plugin& plugin,
                        std::string_view name);

}  // namespace loopgate::sink
