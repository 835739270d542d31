// Trace reader: loads every dataset of a schema v1 or v2 file, converting HDF5
// failures into TraceError, then validates the whole trace (trace_validate.cpp).
#include <fmt/core.h>

#include <new>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "foresight/config/load.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/token_codec.hpp"
#include "trace_types.hpp"

namespace foresight::trace {
namespace {

struct Reader {
  std::string where;
  h5::Handle file;
  bool unclosed = false;  // status_reason says the writer never closed the file

  h5::Handle open_dataset(const char* name) const {
    // Check each path component so a missing group reads as a missing dataset.
    std::string partial;
    std::string path = name;
    for (std::size_t pos = 1; pos != std::string::npos;) {
      pos = path.find('/', pos + 1);
      partial = path.substr(0, pos);
      if (!h5::link_exists(file, partial.c_str()))
        throw TraceError(fmt::format("{}: missing dataset {}{}", where, name,
                                     unclosed ? " (the writer never closed this file: the run "
                                                "was interrupted)"
                                              : ""));
    }
    return h5::owned(H5Dopen2(file, name, H5P_DEFAULT), where, std::string("open ") + name);
  }

  // Reads a 1-D table of compound rows of C++ type T.
  template <class T>
  std::vector<T> table(const char* name, const h5::CompoundTypes& t) const {
    h5::Handle ds = open_dataset(name);
    h5::require_fields(ds, t, where, name);
    const h5::Shape s = h5::shape_with_rank(ds, 1, where, name);
    std::vector<T> rows(s.rows);
    h5::read_all(ds, t.mem, rows.data(), rows.size(), where + ": " + name);
    return rows;
  }

  std::string status_string(const char* name) const {
    return h5::read_attr_string(file, name, where);
  }

  nlohmann::json config_json(const char* group) const {
    if (!h5::link_exists(file, "/config") || !h5::link_exists(file, group))
      throw TraceError(fmt::format("{}: missing group {}", where, group));
    h5::Handle g = h5::owned(H5Gopen2(file, group, H5P_DEFAULT), where, group);
    const std::string text = h5::read_attr_string(g, "json", where + ": " + group);
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw TraceError(fmt::format("{}: {}.json: invalid JSON: {}", where, group, e.what()));
    }
  }

  void header(Header& h) {
    h.schema_version = static_cast<int>(h5::read_attr_int(file, "schema_version", where));
    if (h.schema_version < kOldestSchemaVersion || h.schema_version > kSchemaVersion)
      throw TraceError(fmt::format("{}: schema_version {} is not supported (this build reads {} to {})", where,
                                   h.schema_version, kOldestSchemaVersion, kSchemaVersion));
    h.tool_version = status_string("tool_version");
    h.created_utc = status_string("created_utc");
    h.clock = status_string("clock");
    const std::string status = status_string("status");
    if (status == "complete")
      h.status = RunStatus::complete;
    else if (status == "truncated")
      h.status = RunStatus::truncated;
    else
      throw TraceError(
          fmt::format("{}: attribute status: '{}' is neither 'complete' nor "
                      "'truncated'",
                      where, status));
    h.status_reason = status_string("status_reason");
    // The reason TraceWriter stamps at creation (before 2026-12-05: "writer did not close ...").
    unclosed = h.status == RunStatus::truncated && (h.status_reason.rfind("writer did not close", 0) == 0 ||
                                                    h.status_reason.rfind("the run ended without closing", 0) == 0);
    try {
      h.model = config::model_from_json(config_json("/config/model"), where + ": /config/model");
      h.hardware =
          config::hardware_from_json(config_json("/config/hardware"), where + ": /config/hardware");
      h.run = config::run_from_json(config_json("/config/run"), where + ": /config/run");
    } catch (const config::ConfigError& e) {
      throw TraceError(e.what());
    }
  }

  void names(Trace& t) const {
    h5::Handle ds = open_dataset(h5::kStages);
    h5::Handle ftype = h5::owned(H5Dget_type(ds), where, h5::kStages);
    if (H5Tget_class(ftype) != H5T_STRING)
      throw TraceError(fmt::format("{}: {} is not a string dataset", where, h5::kStages));
    h5::Handle mtype = h5::fixed_string_type(h5::kNameLen, where);
    if (!h5::reads_exactly(ftype, mtype))
      throw TraceError(fmt::format("{}: {} holds {}, expected {}", where, h5::kStages,
                                   h5::type_name(ftype), h5::type_name(mtype)));
    const h5::Shape s = h5::shape_with_rank(ds, 1, where, h5::kStages);
    std::vector<h5::NameRow> rows(s.rows);
    h5::read_all(ds, mtype, rows.data(), rows.size(), where + ": " + h5::kStages);
    for (const auto& r : rows) t.stages.push_back(h5::get_name(r.name));
    for (const auto& r : table<h5::StreamRow>(h5::kStreams, h5::stream_types()))
      t.streams.push_back({h5::get_name(r.name), static_cast<StreamKind>(r.kind)});
  }

  void selections(Trace& t, bool load) const {
    const std::string name = h5::kSelBlocks;
    h5::Handle ds = open_dataset(h5::kSelBlocks);
    const h5::Shape s = h5::shape_with_rank(ds, 2, where, name);
    h5::Handle ftype = h5::owned(H5Dget_type(ds), where, name);
    const std::size_t size = H5Tget_size(ftype);
    if (H5Tget_class(ftype) != H5T_INTEGER || H5Tget_sign(ftype) != H5T_SGN_NONE ||
        (size != 2 && size != 4))
      throw TraceError(fmt::format("{}: {} must hold uint16 or uint32 ids (it holds {})", where,
                                   name, h5::type_name(ftype)));
    if (s.width > 65535)  // as the writer: keys' count is a uint16
      throw TraceError(fmt::format("{}: {} is {} ids wide, more than 65535", where, name, s.width));
    t.selection_width = static_cast<std::uint32_t>(s.width);
    if (!load) return;
    t.selection_keys = table<SelectionKey>(h5::kSelKeys, h5::key_types());
    if (t.selection_keys.size() != s.rows)
      throw TraceError(fmt::format("{}: {} has {} rows but {} has {}", where, name, s.rows,
                                   h5::kSelKeys, t.selection_keys.size()));
    t.selection_blocks.resize(s.rows * s.width);
    h5::read_all(ds, H5T_NATIVE_UINT32, t.selection_blocks.data(), t.selection_blocks.size(),
                 where + ": " + name);
    if (size == 2)
      for (auto& b : t.selection_blocks)
        if (b == 0xFFFF) b = Trace::kNoBlock;
  }

  // /token_selections (schema v2; absent in v1 files: no token selections).
  void token_selections(Trace& t, int schema_version) const {
    if (schema_version < 2) return;
    t.token_keys = table<SelectionKey>(h5::kTokKeys, h5::key_types());
    h5::Handle ds = open_dataset(h5::kTokIds);
    h5::Handle ftype = h5::owned(H5Dget_type(ds), where, h5::kTokIds);
    if (!h5::reads_exactly(ftype, H5T_NATIVE_UINT8))
      throw TraceError(fmt::format("{}: {} holds {}, expected uint8", where, h5::kTokIds, h5::type_name(ftype)));
    const h5::Shape s = h5::shape_with_rank(ds, 1, where, h5::kTokIds);
    std::vector<std::uint8_t> bytes(s.rows);
    h5::read_all(ds, H5T_NATIVE_UINT8, bytes.data(), bytes.size(), where + ": " + h5::kTokIds);
    std::size_t total = 0;
    for (const auto& k : t.token_keys) total += k.count;
    if (total > bytes.size())
      throw TraceError(fmt::format("{}: {} count {} ids in all, more than the {} bytes of {} can hold", where,
                                   h5::kTokKeys, total, bytes.size(), h5::kTokIds));
    t.token_ids.reserve(total);
    std::size_t pos = 0;
    const std::string w = where + ": " + h5::kTokIds;
    for (std::size_t r = 0; r < t.token_keys.size(); ++r)
      pos = decode_token_row(bytes, pos, t.token_keys[r].count, t.token_ids, w, r);
    if (pos != bytes.size())
      throw TraceError(fmt::format("{}: {} bytes left over after the last row", w, bytes.size() - pos));
  }

  // /op_deps: 1-D unsigned integers (uint64 in files this project writes).
  void deps(Trace& t) const {
    h5::Handle ds = open_dataset(h5::kOpDeps);
    h5::Handle ftype = h5::owned(H5Dget_type(ds), where, h5::kOpDeps);
    if (!h5::reads_exactly(ftype, H5T_NATIVE_UINT64))
      throw TraceError(fmt::format("{}: {} holds {}, expected uint64", where, h5::kOpDeps,
                                   h5::type_name(ftype)));
    const h5::Shape s = h5::shape_with_rank(ds, 1, where, h5::kOpDeps);
    t.deps.resize(s.rows);
    h5::read_all(ds, H5T_NATIVE_UINT64, t.deps.data(), t.deps.size(), where + ": " + h5::kOpDeps);
  }

  void memory(Trace& t) const {
    for (const auto& r : table<h5::MemoryRow>(h5::kMemory, h5::memory_types()))
      t.memory.push_back(
          {static_cast<MemoryLocation>(r.location), h5::get_name(r.category), r.bytes});
  }
};

// Bytes of a damaged file can end up in messages: keep them printable ASCII.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F)
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

Trace read_unchecked(const std::filesystem::path& path, ReadOptions opts);

// Opens `where` read-only. A file whose writer never closed it (a killed
// run's .partial) still carries HDF5's "open for write" superblock flag,
// which a plain open refuses; the retry ignores that flag as `h5clear -s`
// would, without writing, so the records up to the writer's last checkpoint
// read (TraceWriter::checkpoint) and the metadata checksums still reject
// what a kill tore.
h5::Handle open_read_only(const std::string& where) {
  const hid_t plain = H5Fopen(where.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (plain >= 0) return h5::Handle(plain);
  H5Eclear2(H5E_DEFAULT);
  h5::Handle fapl = h5::owned(H5Pcreate(H5P_FILE_ACCESS), where, "file access");
  hbool_t ignore_flags = 1;
  if (H5Pset(fapl, "clear_status_flags", &ignore_flags) < 0) H5Eclear2(H5E_DEFAULT);  // not in this HDF5
  return h5::owned(H5Fopen(where.c_str(), H5F_ACC_RDONLY, fapl), where, "open (damaged or truncated file?)");
}

}  // namespace

Trace read_trace(const std::filesystem::path& path, ReadOptions opts) {
  try {
    return read_unchecked(path, opts);
  } catch (const TraceError& e) {
    // A "<trace>.partial" that does not read: the writer's last checkpoint
    // never reached the disk, or the kill landed while HDF5 was writing.
    const bool partial = path.extension() == ".partial";
    throw TraceError(printable(e.what()) +
                     (partial ? " [a partial trace: the run that wrote it never closed it (killed or crashed) "
                                "and it cannot be recovered]"
                              : ""));
  }
}

namespace {

Trace read_unchecked(const std::filesystem::path& path, ReadOptions opts) {
  h5::silence_errors();
  Reader r{path.string(), {}};
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw TraceError(fmt::format("{}: no such file", r.where));
  if (H5Fis_hdf5(r.where.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw TraceError(fmt::format("{}: not an HDF5 file (or its superblock is damaged)", r.where));
  }
  Trace t;
  try {
    r.file = open_read_only(r.where);
    r.header(t.header);
    r.names(t);
    t.ops = r.table<Op>(h5::kOps, h5::op_types());
    r.deps(t);
    t.steps = r.table<StepSpan>(h5::kSteps, h5::step_types());
    r.selections(t, opts.load_selections);
    if (opts.load_selections) r.token_selections(t, t.header.schema_version);
    t.cache = r.table<CacheOutcome>(h5::kCache, h5::cache_types());
    r.memory(t);
    if (h5::link_exists(r.file, h5::kPrefillPatterns))  // absent before dynamic sparse prefill
      t.prefill_patterns = r.table<PrefillPattern>(h5::kPrefillPatterns, h5::prefill_pattern_types());
  } catch (const std::bad_alloc&) {
    throw TraceError(fmt::format("{}: a dataset is too large to load (corrupt extent?)", r.where));
  } catch (const std::length_error&) {
    throw TraceError(fmt::format("{}: a dataset is too large to load (corrupt extent?)", r.where));
  }
  validate(t, r.where);
  return t;
}

}  // namespace

}  // namespace foresight::trace
