// Chrome trace-event JSON export (opens in ui.perfetto.dev): one process, one
// thread track per stream, one complete ("X") slice per op.
#include <fmt/core.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "foresight/common/files.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::trace {
namespace {
constexpr int kPid = 1;
double to_us(std::int64_t ns) { return static_cast<double>(ns) / 1000.0; }

// Calls `emit` with every trace event in order: metadata, then one slice per op.
template <class Emit>
void for_each_event(const Trace& t, Emit&& emit) {
  using nlohmann::json;
  emit(json{
      {"ph", "M"},
      {"pid", kPid},
      {"name", "process_name"},
      {"args",
       {{"name", fmt::format("foresight {} {} ({})", t.header.model.name,
                             config::to_string(t.header.run.mode), t.header.hardware.name)}}}});
  for (std::size_t s = 0; s < t.streams.size(); ++s) {
    const int tid = static_cast<int>(s) + 1;
    emit(json{
        {"ph", "M"},
        {"pid", kPid},
        {"tid", tid},
        {"name", "thread_name"},
        {"args",
         {{"name", fmt::format("{} ({})", t.streams[s].name, to_string(t.streams[s].kind))}}}});
    emit(json{{"ph", "M"},
              {"pid", kPid},
              {"tid", tid},
              {"name", "thread_sort_index"},
              {"args", {{"sort_index", tid}}}});
  }
  for (const Op& op : t.ops) {
    const std::string& stage = op.stage < t.stages.size() ? t.stages[op.stage] : "?";
    json args = {{"op", op.id},         {"step", op.step},
                 {"seq", op.seq},       {"bytes", op.bytes},
                 {"flops", op.flops},   {"engine", to_string(op.engine)},
                 {"chunks", op.chunks}, {"phase", to_string(op.phase)}};
    if (op.ctas) args["ctas"] = op.ctas;
    if (op.dep_count) {
      json deps = json::array();
      for (std::uint64_t k = op.dep_offset; k < op.dep_offset + op.dep_count && k < t.deps.size();
           ++k)
        deps.push_back(t.deps[k]);
      args["deps"] = std::move(deps);
    }
    emit(json{{"ph", "X"},
              {"pid", kPid},
              {"tid", static_cast<int>(op.stream) + 1},
              {"name", op.layer >= 0 ? fmt::format("{} L{}", stage, op.layer) : stage},
              {"cat", to_string(op.kind)},
              {"ts", to_us(op.start_ns)},
              {"dur", to_us(op.end_ns - op.start_ns)},
              {"args", std::move(args)}});
  }
}

nlohmann::json other_data(const Trace& t) {
  return {{"schema_version", t.header.schema_version},
          {"tool_version", t.header.tool_version},
          {"status", to_string(t.header.status)},
          {"clock", t.header.clock}};
}

}  // namespace

nlohmann::json to_perfetto(const Trace& t) {
  nlohmann::json events = nlohmann::json::array();
  for_each_event(t, [&](nlohmann::json e) { events.push_back(std::move(e)); });
  return {
      {"traceEvents", std::move(events)}, {"displayTimeUnit", "ns"}, {"otherData", other_data(t)}};
}

void write_perfetto(const Trace& t, const std::filesystem::path& out) {
  common::write_file_atomic(out, [&](std::ostream& f) {
    // Streams one event at a time: memory stays bounded on long traces.
    f << "{\"displayTimeUnit\":\"ns\",\"otherData\":" << other_data(t).dump()
      << ",\"traceEvents\":[";
    bool first = true;
    for_each_event(t, [&](const nlohmann::json& e) {
      f << (first ? "\n" : ",\n") << e.dump();
      first = false;
    });
    f << "\n]}\n";
  });
}

}  // namespace foresight::trace
