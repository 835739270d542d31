// Streaming trace writer: bounded buffers flushed into extendable, chunked,
// compressed HDF5 datasets of "<path>.partial"; close() stamps the status and
// renames the file to <path>.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <system_error>
#include <unordered_map>

#include "foresight/config/load.hpp"
#include "foresight/trace/token_codec.hpp"
#include "foresight/trace/writer.hpp"
#include "trace_types.hpp"

namespace foresight::trace {

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

constexpr std::uint16_t kNoBlock16 = 0xFFFF;

}  // namespace

struct TraceWriter::Impl {
  std::filesystem::path final_path, partial_path;
  std::string where;  // partial file name, prefixes errors
  WriterOptions opts;
  std::uint32_t width = 0;
  bool closed = false;
  std::pair<std::size_t, std::size_t> names_written{0, 0};  // stages, streams in the file

  h5::CompoundTypes op_t = h5::op_types(), step_t = h5::step_types(), key_t = h5::key_types(),
                    cache_t = h5::cache_types(), stream_t = h5::stream_types(),
                    memory_t = h5::memory_types(), pattern_t = h5::prefill_pattern_types();
  h5::Handle file, ops_ds, deps_ds, steps_ds, keys_ds, blocks_ds, cache_ds, memory_ds, tok_keys_ds, tok_ids_ds,
      patterns_ds;
  bool blocks_u16 = true;  // file type of /selections/blocks (upgraded to u32 on demand)

  std::vector<std::string> stages;
  std::unordered_map<std::string, std::uint16_t> stage_index;
  std::vector<Stream> streams;

  std::vector<Op> ops;
  std::vector<std::uint64_t> deps;
  std::vector<StepSpan> steps;
  std::vector<SelectionKey> keys;
  std::vector<std::uint32_t> blocks;  // keys.size() * width
  std::vector<SelectionKey> tok_keys;
  std::vector<std::uint8_t> tok_bytes;  // encoded ids of tok_keys (token_codec.hpp)
  std::vector<CacheOutcome> cache;
  std::vector<h5::MemoryRow> memory;
  std::vector<PrefillPattern> patterns;

  std::uint64_t deps_total = 0;  // entries in deps, written or buffered
  std::uint64_t last_id = 0;
  bool any_op = false;

  h5::Handle table(const char* name, const h5::CompoundTypes& t, hsize_t chunk_rows) {
    h5::DatasetSpec s{t.file, 1, 0, chunk_rows, opts.deflate_level};
    return h5::create_extendable(file, name, s, where);
  }

  h5::Handle blocks_dataset(const char* name, bool u16) {
    if (width == 0) {  // no selections (dense): a fixed empty [0, 0] dataset
      hsize_t dims[2] = {0, 0};
      h5::Handle space = h5::owned(H5Screate_simple(2, dims, nullptr), where, name);
      h5::Handle dcpl = h5::dataset_plist(where);
      return h5::owned(H5Dcreate2(file, name, H5T_STD_U16LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                       where, name);
    }
    const hsize_t chunk_rows = std::max<hsize_t>(1, 32768 / width);
    h5::DatasetSpec s{u16 ? H5T_STD_U16LE : H5T_STD_U32LE, 2, width, chunk_rows,
                      opts.deflate_level};
    return h5::create_extendable(file, name, s, where);
  }

  void write_header(const Header& h) {
    h5::write_attr_int(file, "schema_version", kSchemaVersion, where);  // what this writer writes
    h5::write_attr_string(file, "tool_version",
                          h.tool_version.empty() ? FORESIGHT_VERSION : h.tool_version, where);
    h5::write_attr_string(file, "created_utc", h.created_utc.empty() ? utc_now() : h.created_utc,
                          where);
    h5::write_attr_string(file, "clock", h.clock, where);
    // Until close() stamps it, the file says it is incomplete.
    h5::write_attr_string(file, "status", to_string(RunStatus::truncated), where);
    h5::write_attr_string(file, "status_reason",
                          "the run ended without closing its trace (killed or crashed): the records up to its "
                          "last checkpoint", where);
    h5::Handle cfg = h5::create_group(file, "/config", where);
    const std::pair<const char*, nlohmann::json> parts[] = {
        {"/config/model", config::to_json(h.model)},
        {"/config/hardware", config::to_json(h.hardware)},
        {"/config/run", config::to_json(h.run)}};
    for (const auto& [name, j] : parts) {
      h5::Handle g = h5::create_group(file, name, where);
      h5::write_attr_string(g, "json", j.dump(), where);
    }
  }

  void create_tables() {
    h5::Handle sel = h5::create_group(file, "/selections", where);
    ops_ds = table(h5::kOps, op_t, 4096);
    h5::write_attr_string(ops_ds, "kind_names", "compute,h2d,d2h,d2d,wait,host", where);
    h5::write_attr_string(ops_ds, "engine_names",
                          "none,memcpy_bulk,memcpy_per_block,zero_copy_gather,cpu_memcpy,bulk_copy_gather", where);
    h5::write_attr_string(ops_ds, "phase_names", "prefill,decode", where);
    deps_ds = h5::create_extendable(file, h5::kOpDeps,
                                    {H5T_STD_U64LE, 1, 0, 8192, opts.deflate_level}, where);
    steps_ds = table(h5::kSteps, step_t, 1024);
    h5::write_attr_string(steps_ds, "phase_names", "prefill,decode", where);
    keys_ds = table(h5::kSelKeys, key_t, 8192);
    blocks_ds = blocks_dataset(h5::kSelBlocks, true);
    cache_ds = table(h5::kCache, cache_t, 1024);
    memory_ds = table(h5::kMemory, memory_t, 64);
    patterns_ds = table(h5::kPrefillPatterns, pattern_t, 1024);
    h5::write_attr_string(patterns_ds, "kind_names", "triangular,interval-slash,block-cluster", where);
    h5::create_group(file, h5::kTokGroup, where);
    tok_keys_ds = table(h5::kTokKeys, key_t, 8192);
    tok_ids_ds = h5::create_extendable(file, h5::kTokIds, {H5T_STD_U8LE, 1, 0, 65536, opts.deflate_level}, where);
    h5::write_attr_string(tok_ids_ds, "encoding",
                          "per row (keys order, count ids): unsigned LEB128 varints of the first id, then of "
                          "each gap minus one (ids strictly ascending)", where);
    h5::write_attr_string(memory_ds, "location_names", "gpu,host_pinned", where);
  }

  void flush_ops() {
    h5::append_rows(ops_ds, op_t.mem, ops.data(), ops.size(), where + ": " + h5::kOps);
    ops.clear();
    h5::append_rows(deps_ds, H5T_NATIVE_UINT64, deps.data(), deps.size(),
                    where + ": " + h5::kOpDeps);
    deps.clear();
  }

  void write_blocks(const std::uint32_t* data, hsize_t rows) {
    const std::string w = where + ": " + h5::kSelBlocks;
    if (!blocks_u16) return h5::append_rows(blocks_ds, H5T_NATIVE_UINT32, data, rows, w);
    std::vector<std::uint16_t> narrow(rows * width);
    for (std::size_t i = 0; i < narrow.size(); ++i)
      narrow[i] = data[i] == Trace::kNoBlock ? kNoBlock16 : static_cast<std::uint16_t>(data[i]);
    h5::append_rows(blocks_ds, H5T_NATIVE_UINT16, narrow.data(), rows, w);
  }

  // Rewrites /selections/blocks as uint32 (first id >= 65535 seen).
  void upgrade_blocks() {
    const std::string w = where + ": " + h5::kSelBlocks;
    h5::Handle wide = blocks_dataset("/selections/blocks_u32", false);
    const h5::Shape s = h5::shape_of(blocks_ds, w);
    const hsize_t batch = 65536;
    std::vector<std::uint16_t> in;
    std::vector<std::uint32_t> out;
    for (hsize_t r = 0; r < s.rows; r += batch) {
      const hsize_t n = std::min(batch, s.rows - r);
      in.resize(n * width);
      out.resize(n * width);
      h5::Handle fspace = h5::owned(H5Dget_space(blocks_ds), w, "select");
      hsize_t start[2] = {r, 0}, count[2] = {n, width};
      h5::check_status(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr),
                       w, "select");
      h5::Handle mspace = h5::owned(H5Screate_simple(2, count, nullptr), w, "select");
      h5::check_status(
          H5Dread(blocks_ds, H5T_NATIVE_UINT16, mspace, fspace, H5P_DEFAULT, in.data()), w,
          "read back");
      for (std::size_t i = 0; i < in.size(); ++i)
        out[i] = in[i] == kNoBlock16 ? Trace::kNoBlock : in[i];
      h5::append_rows(wide, H5T_NATIVE_UINT32, out.data(), n, w);
    }
    blocks_ds.reset();
    h5::check_status(H5Ldelete(file, h5::kSelBlocks, H5P_DEFAULT), w, "replace");
    h5::check_status(
        H5Lmove(file, "/selections/blocks_u32", file, h5::kSelBlocks, H5P_DEFAULT, H5P_DEFAULT), w,
        "replace");
    blocks_ds = std::move(wide);
    blocks_u16 = false;
  }

  void flush_selections() {
    h5::append_rows(keys_ds, key_t.mem, keys.data(), keys.size(), where + ": " + h5::kSelKeys);
    write_blocks(blocks.data(), keys.size());
    keys.clear();
    blocks.clear();
  }

  void flush_token_selections() {
    h5::append_rows(tok_keys_ds, key_t.mem, tok_keys.data(), tok_keys.size(), where + ": " + h5::kTokKeys);
    h5::append_rows(tok_ids_ds, H5T_NATIVE_UINT8, tok_bytes.data(), tok_bytes.size(), where + ": " + h5::kTokIds);
    tok_keys.clear();
    tok_bytes.clear();
  }

  void flush_all() {
    flush_ops();
    flush_token_selections();
    h5::append_rows(steps_ds, step_t.mem, steps.data(), steps.size(), where + ": " + h5::kSteps);
    steps.clear();
    flush_selections();
    h5::append_rows(cache_ds, cache_t.mem, cache.data(), cache.size(), where + ": " + h5::kCache);
    cache.clear();
    h5::append_rows(memory_ds, memory_t.mem, memory.data(), memory.size(),
                    where + ": " + h5::kMemory);
    memory.clear();
    h5::append_rows(patterns_ds, pattern_t.mem, patterns.data(), patterns.size(),
                    where + ": " + h5::kPrefillPatterns);
    patterns.clear();
  }

  // /stages and /streams as they are now (replaced when a checkpoint wrote
  // fewer names).
  void write_names() {
    if (names_written == std::pair{stages.size(), streams.size()} && h5::link_exists(file, h5::kStages)) return;
    for (const char* name : {h5::kStages, h5::kStreams}) {
      if (h5::link_exists(file, name)) h5::check_status(H5Ldelete(file, name, H5P_DEFAULT), where, "replace");
    }
    names_written = {stages.size(), streams.size()};
    std::vector<h5::NameRow> names(stages.size());
    for (std::size_t i = 0; i < stages.size(); ++i)
      h5::put_name(names[i].name, stages[i], where + ": " + h5::kStages);
    h5::Handle name_t = h5::fixed_string_type(h5::kNameLen, where);
    h5::Handle st =
        h5::create_extendable(file, h5::kStages, {name_t, 1, 0, 256, opts.deflate_level}, where);
    h5::append_rows(st, name_t, names.data(), names.size(), where + ": " + h5::kStages);
    std::vector<h5::StreamRow> rows(streams.size());
    for (std::size_t i = 0; i < streams.size(); ++i) {
      h5::put_name(rows[i].name, streams[i].name, where + ": " + h5::kStreams);
      rows[i].kind = static_cast<std::uint8_t>(streams[i].kind);
    }
    h5::Handle ss = table(h5::kStreams, stream_t, 64);
    h5::write_attr_string(ss, "kind_names", "compute,copy,host", where);
    h5::append_rows(ss, stream_t.mem, rows.data(), rows.size(), where + ": " + h5::kStreams);
  }

  void require_open(const char* what) const {
    if (closed) throw TraceError(fmt::format("{}: {} after close()", where, what));
  }
};

TraceWriter::TraceWriter(const std::filesystem::path& path, const Header& header,
                         std::uint32_t selection_width, WriterOptions opts)
    : impl_(std::make_unique<Impl>()) {
  h5::silence_errors();
  Impl& m = *impl_;
  m.final_path = path;
  m.partial_path = path;
  m.partial_path += ".partial";
  m.where = m.partial_path.string();
  m.opts = opts;
  m.opts.buffer_records = std::max<std::size_t>(1, opts.buffer_records);
  m.width = selection_width;
  if (selection_width > 0xFFFF)
    throw TraceError(fmt::format("{}: selection width {} exceeds 65535", m.where, selection_width));
  // The HDF5 1.10 file format: its metadata (superblock, object headers,
  // chunk indexes) carries checksums, so damage is reported, not misread.
  h5::Handle fapl = h5::owned(H5Pcreate(H5P_FILE_ACCESS), m.where, "file access");
  h5::check_status(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110), m.where,
                   "file format");
  // No timestamps on the root group either (groups and datasets get none), so
  // the same trace always gives the same bytes.
  h5::Handle fcpl = h5::owned(H5Pcreate(H5P_FILE_CREATE), m.where, "file creation");
  h5::check_status(H5Pset_obj_track_times(fcpl, false), m.where, "file creation");
  m.file = h5::owned(H5Fcreate(m.where.c_str(), H5F_ACC_TRUNC, fcpl, fapl), m.where,
                     "create file");
  m.write_header(header);
  m.create_tables();
}

TraceWriter::~TraceWriter() = default;  // handles close; no rename without close()

std::uint16_t TraceWriter::stage(std::string_view name) {
  Impl& m = *impl_;
  auto it = m.stage_index.find(std::string(name));
  if (it != m.stage_index.end()) return it->second;
  if (name.size() > h5::kNameLen || m.stages.size() >= 0xFFFF)
    throw TraceError(
        fmt::format("{}: stage '{}': name too long or too many stages", m.where, name));
  const auto idx = static_cast<std::uint16_t>(m.stages.size());
  m.stages.emplace_back(name);
  m.stage_index.emplace(std::string(name), idx);
  return idx;
}

std::uint8_t TraceWriter::stream(std::string_view name, StreamKind kind) {
  Impl& m = *impl_;
  for (std::size_t i = 0; i < m.streams.size(); ++i)
    if (m.streams[i].name == name) return static_cast<std::uint8_t>(i);
  if (name.size() > h5::kNameLen || m.streams.size() >= 0xFF)
    throw TraceError(
        fmt::format("{}: stream '{}': name too long or too many streams", m.where, name));
  m.streams.push_back({std::string(name), kind});
  return static_cast<std::uint8_t>(m.streams.size() - 1);
}

void TraceWriter::add_op(Op op, std::span<const std::uint64_t> deps) {
  Impl& m = *impl_;
  m.require_open("add_op");
  if (m.any_op && op.id <= m.last_id)
    throw TraceError(fmt::format("{}: add_op: id {} not greater than previous id {}", m.where,
                                 op.id, m.last_id));
  if (op.end_ns < op.start_ns)
    throw TraceError(fmt::format("{}: add_op: op {} end_ns ({}) < start_ns ({})", m.where, op.id,
                                 op.end_ns, op.start_ns));
  if (op.stage >= m.stages.size() || op.stream >= m.streams.size())
    throw TraceError(
        fmt::format("{}: add_op: op {} has an unknown stage or stream index", m.where, op.id));
  for (std::uint64_t d : deps)
    if (d >= op.id)
      throw TraceError(fmt::format("{}: add_op: op {} depends on later op {}", m.where, op.id, d));
  op.dep_offset = m.deps_total;
  op.dep_count = static_cast<std::uint32_t>(deps.size());
  m.deps.insert(m.deps.end(), deps.begin(), deps.end());
  m.deps_total += deps.size();
  m.last_id = op.id;
  m.any_op = true;
  m.ops.push_back(op);
  if (m.ops.size() >= m.opts.buffer_records || m.deps.size() >= m.opts.buffer_records)
    m.flush_ops();
}

void TraceWriter::add_step(const StepSpan& s) {
  Impl& m = *impl_;
  m.require_open("add_step");
  m.steps.push_back(s);
  if (m.steps.size() >= m.opts.buffer_records) {
    h5::append_rows(m.steps_ds, m.step_t.mem, m.steps.data(), m.steps.size(), m.where);
    m.steps.clear();
  }
}

void TraceWriter::add_selection(SelectionKey key, std::span<const std::uint32_t> blocks) {
  Impl& m = *impl_;
  m.require_open("add_selection");
  if (blocks.size() > m.width)
    throw TraceError(fmt::format("{}: add_selection: {} ids exceed the selection width {}", m.where,
                                 blocks.size(), m.width));
  std::vector<std::uint32_t> ids(blocks.begin(), blocks.end());
  std::sort(ids.begin(), ids.end());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == Trace::kNoBlock || (i > 0 && ids[i] == ids[i - 1]))
      throw TraceError(
          fmt::format("{}: add_selection: block id {} is reserved or repeated", m.where, ids[i]));
  }
  if (m.blocks_u16 && !ids.empty() && ids.back() >= kNoBlock16) m.upgrade_blocks();
  const std::size_t base = m.blocks.size();
  m.blocks.insert(m.blocks.end(), ids.begin(), ids.end());
  m.blocks.resize(base + m.width, Trace::kNoBlock);
  key.count = static_cast<std::uint16_t>(blocks.size());
  m.keys.push_back(key);
  if (m.keys.size() >= m.opts.buffer_records) m.flush_selections();
}

void TraceWriter::add_token_selection(SelectionKey key, std::span<const std::uint32_t> tokens) {
  Impl& m = *impl_;
  m.require_open("add_token_selection");
  if (tokens.size() > 0xFFFF)
    throw TraceError(fmt::format("{}: add_token_selection: {} ids exceed 65535", m.where, tokens.size()));
  encode_token_row(tokens, m.tok_bytes, m.where + ": add_token_selection");
  key.kv_head = 0;
  key.count = static_cast<std::uint16_t>(tokens.size());
  m.tok_keys.push_back(key);
  if (m.tok_keys.size() >= m.opts.buffer_records) m.flush_token_selections();
}

void TraceWriter::add_cache(const CacheOutcome& c) {
  Impl& m = *impl_;
  m.require_open("add_cache");
  m.cache.push_back(c);
  if (m.cache.size() >= m.opts.buffer_records) {
    h5::append_rows(m.cache_ds, m.cache_t.mem, m.cache.data(), m.cache.size(), m.where);
    m.cache.clear();
  }
}

void TraceWriter::add_prefill_pattern(const PrefillPattern& p) {
  Impl& m = *impl_;
  m.require_open("add_prefill_pattern");
  m.patterns.push_back(p);
  if (m.patterns.size() >= m.opts.buffer_records) {
    h5::append_rows(m.patterns_ds, m.pattern_t.mem, m.patterns.data(), m.patterns.size(), m.where);
    m.patterns.clear();
  }
}

void TraceWriter::add_memory(const MemoryEntry& e) {
  Impl& m = *impl_;
  m.require_open("add_memory");
  h5::MemoryRow row{};
  row.location = static_cast<std::uint8_t>(e.location);
  h5::put_name(row.category, e.category, m.where + ": " + h5::kMemory);
  row.bytes = e.bytes;
  m.memory.push_back(row);
  if (m.memory.size() >= m.opts.buffer_records) {
    h5::append_rows(m.memory_ds, m.memory_t.mem, m.memory.data(), m.memory.size(), m.where);
    m.memory.clear();
  }
}

void TraceWriter::checkpoint() {
  Impl& m = *impl_;
  m.require_open("checkpoint");
  m.flush_all();
  m.write_names();
  h5::check_status(H5Fflush(m.file, H5F_SCOPE_GLOBAL), m.where, "flush");
}

void TraceWriter::close(RunStatus status, const std::string& reason) {
  Impl& m = *impl_;
  m.require_open("close");
  m.closed = true;  // even if a step below throws: the file stays ".partial"
  m.flush_all();
  m.write_names();
  h5::write_attr_string(m.file, "status", to_string(status), m.where);
  h5::write_attr_string(m.file, "status_reason", status == RunStatus::complete ? "" : reason,
                        m.where);
  h5::check_status(H5Fflush(m.file, H5F_SCOPE_GLOBAL), m.where, "flush");
  m.ops_ds.reset();
  m.deps_ds.reset();
  m.steps_ds.reset();
  m.keys_ds.reset();
  m.blocks_ds.reset();
  m.cache_ds.reset();
  m.memory_ds.reset();
  m.tok_keys_ds.reset();
  m.tok_ids_ds.reset();
  m.file.reset();
  std::error_code ec;
  std::filesystem::rename(m.partial_path, m.final_path, ec);
  if (ec)
    throw TraceError(
        fmt::format("{}: rename to {} failed: {}", m.where, m.final_path.string(), ec.message()));
}

const std::filesystem::path& TraceWriter::final_path() const { return impl_->final_path; }

}  // namespace foresight::trace
