// safetensors parser and writer (format in safetensors.hpp).
#include "foresight/runtime/safetensors.hpp"

#include <cstring>
#include <fstream>

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

}  // namespace

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

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::parse_error& e) {
    throw WeightsError(fmt::format("{}: header is not valid JSON: {}", file, e.what()));
  }
  if (!j.is_object()) throw WeightsError(fmt::format("{}: header is not a JSON object", file));

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
      t.shape.push_back(d.get<std::int64_t>());
      numel *= d.get<std::uint64_t>();
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
