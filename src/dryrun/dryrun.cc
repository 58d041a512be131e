#include "dryrun/dryrun.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <tuple>

#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"
#include "json/json.h"

namespace loopgate::dryrun {

absl::StatusOr<std::unique_ptr<Side>> Side::Create(const catalog::Catalog& catalog,
                                                   const transform::KeyStore& keys,
                                                   consent::ConsentView& consents,
                                                   const consent::AgreementView& agreements,
                                                   common::Instant as_of) {
  std::unique_ptr<Side> side(new Side(catalog, consents, agreements, as_of));
  ASSIGN_OR_RETURN(side->transformer_, transform::Transformer::Create(catalog, keys));
  return side;
}

absl::Status Side::Decide(const common::Line& line, LineResult* out) {
  out->id.clear();
  out->type.clear();
  out->quarantine_reason.clear();
  out->decisions.clear();
  out->outcome = LineOutcome::kQuarantined;
  if (line.oversized) {
    // As the router: a line over the cap is malformed, and nothing of it was read.
    out->quarantine_reason = event::QuarantineReasonName(event::QuarantineReason::kMalformedJson);
    return absl::OkStatus();
  }
  if (!intake_.Process(line.text, &event_, &rejection_)) {
    out->quarantine_reason = event::QuarantineReasonName(rejection_.reason);
    out->id = rejection_.id;
    // The type is producer text until the envelope has been read, and then only a plain
    // identifier is repeated (the ledger's rule for quarantine entries).
    if (rejection_.reason > event::QuarantineReason::kInvalidEnvelope &&
        common::IsPrintableName(event_.type)) {
      out->type = event_.type;
    }
    return absl::OkStatus();
  }
  out->id = event_.id;
  out->type = event_.type;
  auto [seen, inserted] = seen_.try_emplace(event_.id, event_.content_digest);
  if (!inserted) {
    if (seen->second == event_.content_digest) {
      out->outcome = LineOutcome::kDuplicate;
    } else {
      out->quarantine_reason = event::QuarantineReasonName(event::QuarantineReason::kIdConflict);
    }
    return absl::OkStatus();
  }
  out->outcome = LineOutcome::kAccepted;
  const catalog::EventType& type = *event_.type_def;
  out->decisions.resize(type.candidate_sinks.size());
  for (size_t c = 0; c < type.candidate_sinks.size(); ++c) {
    RETURN_IF_ERROR(engine_.Decide(event_, c, &decision_));
    SinkDecision& d = out->decisions[c];
    d.sink = type.candidate_sinks[c];
    d.allowed = decision_.allowed;
    if (d.allowed) {
      transformer_->Apply(event_, d.sink, &data_, &d.transforms);
      transform::DeliveryLine(event_, data_, &line_);
      d.delivered = crypto::Sha256(line_);
    } else {
      d.reason = decision_.ReasonText(catalog_);
    }
  }
  return absl::OkStatus();
}

namespace {

bool IsBlank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

std::string IntakeText(const LineResult& r) {
  switch (r.outcome) {
    case LineOutcome::kAccepted:
      return "accepted";
    case LineOutcome::kDuplicate:
      return "duplicate";
    case LineOutcome::kQuarantined:
      return "quarantine:" + r.quarantine_reason;
  }
  return "";
}

// A side's decision for a sink of the union, as a group's `from` or `to`.
std::string DecisionText(const SinkDecision* d, bool sink_exists) {
  if (d == nullptr) return sink_exists ? "not_candidate" : "no_sink";
  return d->allowed ? "allow" : "deny:" + d->reason;
}

// Groups keyed by (event type, sink position, from, to): std::map keeps the report's order.
using GroupKey = std::tuple<std::string, size_t, std::string, std::string>;
using GroupMap = std::map<GroupKey, Group>;

void Count(GroupMap& groups, GroupKey key, std::string_view sink, const Example& example,
           size_t max_examples) {
  Group& g = groups[key];
  if (g.count == 0) {
    g.type = std::get<0>(key);
    g.sink = sink;
    g.from = std::get<2>(key);
    g.to = std::get<3>(key);
  }
  ++g.count;
  if (g.examples.size() < max_examples) g.examples.push_back(example);
}

std::vector<Group> Flatten(GroupMap& groups) {
  std::vector<Group> out;
  out.reserve(groups.size());
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  return out;
}

}  // namespace

absl::StatusOr<Report> Diff(const catalog::Catalog& old_catalog,
                            const catalog::Catalog& new_catalog, const transform::KeyStore& keys,
                            store::Database& registries, const Options& options) {
  ASSIGN_OR_RETURN(auto agreements, consent::AgreementView::Load(registries, options.as_of));
  consent::ConsentView consents(registries, options.as_of);
  ASSIGN_OR_RETURN(auto old_side,
                   Side::Create(old_catalog, keys, consents, agreements, options.as_of));
  ASSIGN_OR_RETURN(auto new_side,
                   Side::Create(new_catalog, keys, consents, agreements, options.as_of));

  Report report;
  report.old_path = old_catalog.path;
  report.new_path = new_catalog.path;
  report.old_version = old_catalog.policy_version;
  report.new_version = new_catalog.policy_version;
  report.as_of = options.as_of_text;

  // The union of both catalogs' sinks: the old catalog's in its order, then the new-only ones.
  std::vector<std::string> sinks;
  std::vector<int> old_index, new_index;  // Per union position: index in each catalog, or -1.
  std::vector<size_t> old_to_union(old_catalog.sinks.size()),
      new_to_union(new_catalog.sinks.size());
  for (size_t i = 0; i < old_catalog.sinks.size(); ++i) {
    old_to_union[i] = sinks.size();
    sinks.push_back(old_catalog.sinks[i].id);
    old_index.push_back(static_cast<int>(i));
    new_index.push_back(new_catalog.FindSink(old_catalog.sinks[i].id));
    if (new_index.back() < 0) report.sinks_only_old.push_back(old_catalog.sinks[i].id);
  }
  for (size_t i = 0; i < new_catalog.sinks.size(); ++i) {
    const int in_old = old_catalog.FindSink(new_catalog.sinks[i].id);
    if (in_old >= 0) {
      new_to_union[i] = old_to_union[static_cast<size_t>(in_old)];
      continue;
    }
    new_to_union[i] = sinks.size();
    sinks.push_back(new_catalog.sinks[i].id);
    old_index.push_back(-1);
    new_index.push_back(static_cast<int>(i));
    report.sinks_only_new.push_back(new_catalog.sinks[i].id);
  }

  const bool from_stdin = options.events_path == "-";
  const int fd =
      from_stdin ? STDIN_FILENO : ::open(options.events_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        common::StrCat(options.events_path, ": cannot open the events file"));
  }
  struct Closer {
    int fd;
    bool owned;
    ~Closer() {
      if (owned) ::close(fd);
    }
  } closer{fd, !from_stdin};
  common::LineReader reader(fd, options.max_line_bytes);

  GroupMap decision_groups, intake_groups, delivery_groups;
  LineResult a, b;
  std::vector<const SinkDecision*> old_by_sink(sinks.size()), new_by_sink(sinks.size());
  common::Line line;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader.Next(&line));
    if (!more) break;
    if (!line.oversized && IsBlank(line.text)) continue;
    ++report.events_read;
    consents.Trim();  // Between events, as the router does; both sides' records stay valid.
    RETURN_IF_ERROR(old_side->Decide(line, &a));
    RETURN_IF_ERROR(new_side->Decide(line, &b));
    for (const auto& [r, accepted, quarantined, duplicates] :
         {std::tuple{&a, &report.accepted_old, &report.quarantined_old, &report.duplicates_old},
          std::tuple{&b, &report.accepted_new, &report.quarantined_new, &report.duplicates_new}}) {
      switch (r->outcome) {
        case LineOutcome::kAccepted:
          ++*accepted;
          break;
        case LineOutcome::kQuarantined:
          ++*quarantined;
          break;
        case LineOutcome::kDuplicate:
          ++*duplicates;
          break;
      }
    }
    const Example example{a.id.empty() ? b.id : a.id, line.number};
    const std::string& type = a.type.empty() ? b.type : a.type;

    if (a.outcome != b.outcome || a.quarantine_reason != b.quarantine_reason) {
      ++report.intake_changed;
      Count(intake_groups, {type, 0, IntakeText(a), IntakeText(b)}, "", example, options.examples);
      continue;
    }
    if (a.outcome != LineOutcome::kAccepted) continue;

    std::fill(old_by_sink.begin(), old_by_sink.end(), nullptr);
    std::fill(new_by_sink.begin(), new_by_sink.end(), nullptr);
    for (const auto& d : a.decisions) old_by_sink[old_to_union[d.sink]] = &d;
    for (const auto& d : b.decisions) new_by_sink[new_to_union[d.sink]] = &d;
    bool event_changed = false;
    for (size_t u = 0; u < sinks.size(); ++u) {
      const SinkDecision* x = old_by_sink[u];
      const SinkDecision* y = new_by_sink[u];
      if (x == nullptr && y == nullptr) continue;
      ++report.decisions_compared;
      const bool same =
          x != nullptr && y != nullptr && x->allowed == y->allowed && x->reason == y->reason;
      if (!same) {
        ++report.decisions_changed;
        event_changed = true;
        Count(decision_groups,
              {type, u, DecisionText(x, old_index[u] >= 0), DecisionText(y, new_index[u] >= 0)},
              sinks[u], example, options.examples);
        continue;
      }
      if (!x->allowed) continue;
      ++report.deliveries_compared;
      if (x->transforms != y->transforms || x->delivered != y->delivered) {
        ++report.deliveries_changed;
        Count(delivery_groups,
              {type, u, common::StrJoin(x->transforms, ", "), common::StrJoin(y->transforms, ", ")},
              sinks[u], example, options.examples);
      }
    }
    if (event_changed) ++report.events_changed;
  }
  report.decision_changes = Flatten(decision_groups);
  report.intake_changes = Flatten(intake_groups);
  report.delivery_changes = Flatten(delivery_groups);
  return report;
}

namespace {

void AppendNullableString(std::string_view s, std::string* out) {
  if (s.empty()) {
    out->append("null");
  } else {
    json::AppendString(s, out);
  }
}

void AppendStrings(const std::vector<std::string>& items, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out->push_back(',');
    json::AppendString(items[i], out);
  }
  out->push_back(']');
}

void AppendGroups(const std::vector<Group>& groups, bool with_sink, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    if (i > 0) out->push_back(',');
    out->append("{\"type\":");
    AppendNullableString(g.type, out);
    if (with_sink) {
      out->append(",\"sink\":");
      json::AppendString(g.sink, out);
    }
    out->append(",\"from\":");
    json::AppendString(g.from, out);
    out->append(",\"to\":");
    json::AppendString(g.to, out);
    common::StrAppend(out, ",\"count\":", g.count, ",\"examples\":[");
    for (size_t e = 0; e < g.examples.size(); ++e) {
      if (e > 0) out->push_back(',');
      out->append("{\"id\":");
      AppendNullableString(g.examples[e].id, out);
      common::StrAppend(out, ",\"line\":", g.examples[e].line, "}");
    }
    out->append("]}");
  }
  out->push_back(']');
}

std::string ExampleText(const std::vector<Example>& examples) {
  std::vector<std::string> parts;
  for (const auto& e : examples) {
    parts.push_back(e.id.empty() ? common::StrCat("line ", e.line) : e.id);
  }
  return common::StrJoin(parts, ", ");
}

void AppendGroupTable(std::string_view title, const std::vector<Group>& groups, bool with_sink,
                      std::string* out) {
  if (groups.empty()) return;
  common::StrAppend(out, "\n", title, "\n");
  std::vector<std::vector<std::string>> rows;
  if (with_sink) {
    rows.push_back({"event type", "sink", "old", "new", "count", "examples"});
  } else {
    rows.push_back({"event type", "old", "new", "count", "examples"});
  }
  for (const auto& g : groups) {
    std::vector<std::string> row = {g.type.empty() ? "-" : g.type};
    if (with_sink) row.push_back(g.sink);
    row.push_back(g.from.empty() ? "(none)" : g.from);
    row.push_back(g.to.empty() ? "(none)" : g.to);
    row.push_back(common::StrCat(g.count));
    row.push_back(ExampleText(g.examples));
    rows.push_back(std::move(row));
  }
  out->append(common::FormatTable(rows, "  "));
}

}  // namespace

std::string Report::ToJson() const {
  std::string o = "{\"format\":\"loopgate.policy-diff/v1\",\"as_of\":";
  json::AppendString(as_of, &o);
  for (const auto& [name, path, version, accepted, quarantined, duplicates, only] :
       {std::tuple{"old", &old_path, &old_version, accepted_old, quarantined_old, duplicates_old,
                   &sinks_only_old},
        std::tuple{"new", &new_path, &new_version, accepted_new, quarantined_new, duplicates_new,
                   &sinks_only_new}}) {
    common::StrAppend(&o, ",\"", name, "\":{\"catalog\":");
    json::AppendString(*path, &o);
    o.append(",\"policy_version\":");
    json::AppendString(*version, &o);
    common::StrAppend(&o, ",\"accepted\":", accepted, ",\"quarantined\":", quarantined,
                      ",\"duplicates\":", duplicates, ",\"sinks_only_here\":");
    AppendStrings(*only, &o);
    o.push_back('}');
  }
  common::StrAppend(&o, ",\"events_read\":", events_read, ",\"changed\":", changed(),
                    ",\"decisions\":{\"compared\":", decisions_compared,
                    ",\"changed\":", decisions_changed, ",\"events_changed\":", events_changed,
                    ",\"groups\":");
  AppendGroups(decision_changes, true, &o);
  common::StrAppend(&o, "},\"intake\":{\"changed\":", intake_changed, ",\"groups\":");
  AppendGroups(intake_changes, false, &o);
  common::StrAppend(&o, "},\"deliveries\":{\"compared\":", deliveries_compared,
                    ",\"changed\":", deliveries_changed, ",\"groups\":");
  AppendGroups(delivery_changes, true, &o);
  o.append("}}");
  return o;
}

std::string Report::ToText() const {
  std::string o;
  common::StrAppend(&o, "policy diff as of ", as_of, "\n");
  o.append(
      common::FormatTable({{"old", old_path, old_version}, {"new", new_path, new_version}}, "  "));
  if (old_version == new_version) o.append("  (the same policy version)\n");
  common::StrAppend(&o, "events      ", events_read, " read; old: ", accepted_old, " accepted, ",
                    quarantined_old, " quarantined, ", duplicates_old,
                    " duplicates; new: ", accepted_new, " accepted, ", quarantined_new,
                    " quarantined, ", duplicates_new, " duplicates\n");
  common::StrAppend(&o, "decisions   ", decisions_compared, " compared, ", decisions_changed,
                    " changed");
  if (events_changed > 0) {
    common::StrAppend(&o, " (in ", events_changed, events_changed == 1 ? " event)" : " events)");
  }
  o.push_back('\n');
  common::StrAppend(&o, "intake      ", intake_changed, " lines changed\n");
  common::StrAppend(&o, "deliveries  ", deliveries_compared, " compared, ", deliveries_changed,
                    " changed\n");
  if (!sinks_only_old.empty()) {
    common::StrAppend(&o, "sinks only in old: ", common::StrJoin(sinks_only_old, ", "), "\n");
  }
  if (!sinks_only_new.empty()) {
    common::StrAppend(&o, "sinks only in new: ", common::StrJoin(sinks_only_new, ", "), "\n");
  }
  if (!changed()) o.append("no decision, intake outcome or delivery changed\n");
  AppendGroupTable("changed decisions", decision_changes, true, &o);
  AppendGroupTable("changed intake (accepted under one catalog, not under the other)",
                   intake_changes, false, &o);
  AppendGroupTable("changed deliveries (allowed under both; transform notes)", delivery_changes,
                   true, &o);
  return o;
}

}  // namespace loopgate::dryrun
