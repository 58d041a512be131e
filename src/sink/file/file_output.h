#pragma once
// The file output plugin: one NDJSON file per sink, `<out>/<sink>.ndjson` unless `path` says
// otherwise. Durable on Flush() (write, then fdatasync unless fsync: false).

#include "sink/sink.h"

namespace loopgate::sink::file {

// The plugin's registration: type "file", its option table and factory.
sink::Plugin Plugin();

// Direct construction, for the quarantine output and tests. `path` is the file to append to.
std::unique_ptr<Output> OpenFile(std::string path, bool fsync);

}  // namespace loopgate::sink::file
