// safetensors parser and writer (format in safetensors.hpp).
#include "foresight/runtime/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <tuple>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "foresight/common/files.hpp"
#include "half.hpp"

namespace foresight::runtime {
namespace {

DType parse_dtype(const std::string& s, const std::string& where) {
  if (s == "BF16") return DType::bf16;
  if (s == "F16") return DType::f16;
  if (s == "F32") return DType::f32;
  throw WeightsError(fmt::format("{}: dtype '{}' is not supported (BF16, F16 or F32)", where, s));
}

// "[2, 5]": the row-major coordinates of flat element i of `shape`.
std::string coordinates(const std::vector<std::int64_t>& shape, std::uint64_t i) {
  std::vector<std::int64_t> c(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    const auto d = static_cast<std::uint64_t>(shape[k]);
    c[k] = static_cast<std::int64_t>(d ? i % d : 0);
    if (d) i /= d;
  }
  return shape_string(c);
}

// A bf16 is NaN or Inf when its 8 exponent bits are all ones.
bool bf16_finite(bf16 b) { return (b.bits & 0x7f80u) != 0x7f80u; }

// Index of the first non-finite element of out[0, n), or n. The first pass
// only ORs a flag (vectorizes); the index is searched for when it is set.
std::size_t first_non_finite(const bf16* out, std::size_t n) {
  constexpr std::size_t kChunk = 1 << 16;
  for (std::size_t start = 0; start < n; start += kChunk) {
    const std::size_t end = std::min(n, start + kChunk);
    unsigned bad = 0;
    for (std::size_t i = start; i < end; ++i) bad |= (out[i].bits & 0x7f80u) == 0x7f80u;
    if (bad) {
      for (std::size_t i = start; i < end; ++i)
        if (!bf16_finite(out[i])) return i;
    }
  }
  return n;
}

}  // namespace

void require_regular_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);  // follows symlinks
  if (ec || !std::filesystem::exists(st)) {
    throw WeightsError(fmt::format("{}: cannot open: {}", path.string(),
                                   ec ? ec.message() : std::string("no such file")));
  }
  if (!std::filesystem::is_regular_file(st)) {
    const char* kind =
        std::filesystem::is_directory(st) ? "a directory"
        : std::filesystem::is_fifo(st)    ? "a FIFO (named pipe)"
        : std::filesystem::is_socket(st)  ? "a socket"
        : std::filesystem::is_character_file(st) || std::filesystem::is_block_file(st)
            ? "a device"
            : "not a plain file";
    throw WeightsError(
        fmt::format("{}: is {}, not a regular file; refusing to read it", path.string(), kind));
  }
}

const char* to_string(DType d) {
  switch (d) {
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::f32: return "F32";
  }
  return "?";
}

std::int64_t dtype_bytes(DType d) { return d == DType::f32 ? 4 : 2; }

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsFile::SafetensorsFile(std::filesystem::path path) : path_(std::move(path)) {
  const std::string file = path_.string();
  require_regular_file(path_);  // a FIFO would block the open below forever
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw WeightsError(fmt::format("{}: cannot open", file));
  std::error_code ec;
  file_bytes_ = std::filesystem::file_size(path_, ec);
  if (ec) throw WeightsError(fmt::format("{}: cannot stat: {}", file, ec.message()));
  if (file_bytes_ < 8) {
    throw WeightsError(fmt::format("{}: truncated: {} bytes, shorter than the 8-byte header length",
                                   file, file_bytes_));
  }
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > file_bytes_ - 8) {
    throw WeightsError(fmt::format("{}: truncated: header length {} exceeds the {} bytes after it",
                                   file, header_len, file_bytes_ - 8));
  }
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (!in) throw WeightsError(fmt::format("{}: cannot read the header", file));

  // nlohmann keeps the last of duplicate keys silently: record every object's
  // keys while parsing and refuse a repeated tensor name (or a repeated field
  // of one tensor's entry).
  nlohmann::json j;
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::string top_key, duplicate;
  auto on_event = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) {
      keys.emplace_back();
    } else if (ev == E::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == E::key && !keys.empty() && duplicate.empty()) {
      const auto k = parsed.get<std::string>();
      if (!keys.back().insert(k).second) {
        duplicate = keys.size() == 1
                        ? fmt::format("tensor '{}' appears twice in the header", k)
                        : fmt::format("tensor '{}': key '{}' appears twice", top_key, k);
      }
      if (keys.size() == 1) top_key = k;
    }
    return true;
  };
  try {
    j = nlohmann::json::parse(header, on_event);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range 406 (fuzz_safetensors)
    throw WeightsError(fmt::format("{}: header is not valid JSON: {}", file, e.what()));
  }
  if (!j.is_object()) throw WeightsError(fmt::format("{}: header is not a JSON object", file));
  if (!duplicate.empty()) throw WeightsError(fmt::format("{}: {}", file, duplicate));

  const std::uint64_t data_start = 8 + header_len;
  const std::uint64_t data_bytes = file_bytes_ - data_start;
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") continue;
    const std::string where = fmt::format("{}: tensor '{}'", file, name);
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets") || !entry["dtype"].is_string() ||
        !entry["shape"].is_array() || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2) {
      throw WeightsError(where + ": needs \"dtype\" (string), \"shape\" (array) and "
                                 "\"data_offsets\" ([begin, end])");
    }
    TensorInfo t;
    t.dtype = parse_dtype(entry["dtype"].get<std::string>(), where);
    std::uint64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_unsigned()) throw WeightsError(where + ": shape entries must be non-negative integers");
      const auto dim = d.get<std::uint64_t>();
      // Bounded so numel x 4 cannot wrap (a wrapped size could match a small range).
      if (dim > (std::uint64_t{1} << 48) || (dim != 0 && numel > (std::uint64_t{1} << 48) / dim))
        throw WeightsError(fmt::format("{}: shape {} is too large", where, entry["shape"].dump()));
      t.shape.push_back(static_cast<std::int64_t>(dim));
      numel *= dim;
    }
    const auto& off = entry["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      throw WeightsError(where + ": data_offsets must be non-negative integers");
    }
    const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
    if (begin > end || end > data_bytes) {
      throw WeightsError(fmt::format("{}: data_offsets [{}, {}] lie outside the {} data bytes of the file",
                                     where, begin, end, data_bytes));
    }
    const std::uint64_t want = numel * static_cast<std::uint64_t>(dtype_bytes(t.dtype));
    if (end - begin != want) {
      throw WeightsError(fmt::format("{}: data_offsets span {} bytes, but shape {} of {} needs {}",
                                     where, end - begin, shape_string(t.shape),
                                     to_string(t.dtype), want));
    }
    t.begin = data_start + begin;
    t.bytes = want;
    tensors_.emplace(name, std::move(t));
  }
  // Data ranges may not overlap: sorted by begin, each non-empty range starts
  // at or after the end of the one before (a shared byte would make two
  // tensors alias each other's weights).
  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::string>> ranges;
  for (const auto& [name, t] : tensors_)
    if (t.bytes > 0)
      ranges.emplace_back(t.begin - data_start, t.begin - data_start + t.bytes, name);
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t k = 1; k < ranges.size(); ++k) {
    const auto& [pb, pe, pn] = ranges[k - 1];
    const auto& [b, e, n] = ranges[k];
    if (b < pe) {
      throw WeightsError(fmt::format(
          "{}: tensor '{}': data_offsets [{}, {}] overlap those of tensor '{}' [{}, {}]", file, n,
          b, e, pn, pb, pe));
    }
  }
}

void SafetensorsFile::read_bf16(const std::string& name, const std::vector<std::int64_t>& expected_shape,
                                bf16* out) const {
  const std::string file = path_.string();
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw WeightsError(fmt::format("{}: tensor '{}' is missing", file, name));
  const TensorInfo& t = it->second;
  if (t.shape != expected_shape) {
    throw WeightsError(fmt::format("{}: tensor '{}' has shape {}, expected {}", file, name,
                                   shape_string(t.shape), shape_string(expected_shape)));
  }
  require_regular_file(path_);  // replaced since construction?
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw WeightsError(fmt::format("{}: cannot open", file));
  in.seekg(static_cast<std::streamoff>(t.begin));
  const std::size_t n = t.bytes / static_cast<std::uint64_t>(dtype_bytes(t.dtype));
  if (t.dtype == DType::bf16) {
    in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(t.bytes));
  } else {
    std::vector<char> raw(t.bytes);
    in.read(raw.data(), static_cast<std::streamsize>(t.bytes));
    for (std::size_t i = 0; i < n && in; ++i) {
      float f;
      if (t.dtype == DType::f32) {
        std::memcpy(&f, raw.data() + 4 * i, 4);
      } else {
        std::uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        f = half_to_float(h);
      }
      out[i] = float_to_bf16(f);
    }
  }
  if (!in) throw WeightsError(fmt::format("{}: tensor '{}': read failed (file changed?)", file, name));
  // NaN/Inf weights (in the file, or F32 values past bf16's range) would
  // poison every activation downstream without an error: refuse them.
  if (const std::size_t i = first_non_finite(out, n); i < n) {
    std::string value;
    if (t.dtype == DType::f32) {  // a finite F32 that rounded to Inf?
      float f;
      std::ifstream again(path_, std::ios::binary);
      again.seekg(static_cast<std::streamoff>(t.begin + 4 * i));
      again.read(reinterpret_cast<char*>(&f), 4);
      if (again && std::isfinite(f)) value = fmt::format(" ({} overflows bf16)", f);
    }
    if (value.empty()) value = fmt::format(" ({})", bf16_to_float(out[i]));
    throw WeightsError(fmt::format("{}: tensor '{}': element {} {} is not finite{}", file, name, i,
                                   coordinates(t.shape, i), value));
  }
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    std::uint64_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<std::uint64_t>(d);
    header[t.name] = {{"dtype", "BF16"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 2 * numel}}};
    offset += 2 * numel;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // align data to 8 bytes, as HF does
  common::write_file_atomic(path, [&](std::ostream& out) {
    unsigned char len[8];
    std::uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xffu);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& t : tensors) {
      std::uint64_t numel = 1;
      for (auto d : t.shape) numel *= static_cast<std::uint64_t>(d);
      out.write(reinterpret_cast<const char*>(t.data), static_cast<std::streamsize>(2 * numel));
    }
  });
}

}  // namespace foresight::runtime
