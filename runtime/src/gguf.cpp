// GGUF reader and ggml dequantization (format in gguf.hpp).
#include "foresight/runtime/gguf.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include <fmt/core.h>
#include <fmt/format.h>

#include "half.hpp"

namespace foresight::runtime {
namespace {

constexpr std::uint64_t kDefaultAlignment = 32;
constexpr std::uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

// Reads the header sequentially; every read checks the bytes left in the file
// first, so a truncated file is reported (with the field being read), never
// over-read, and lengths cannot make it allocate more than the file holds.
class Cursor {
 public:
  Cursor(const std::filesystem::path& path, std::uint64_t file_bytes)
      : in_(path, std::ios::binary), file_(path.string()), size_(file_bytes) {
    if (!in_) throw WeightsError(fmt::format("{}: cannot open", file_));
  }

  std::uint64_t pos() const { return pos_; }
  std::uint64_t left() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw WeightsError(fmt::format("{}: {}: {}", file_, field, what));
  }

  void bytes(void* dst, std::uint64_t n, const std::string& field) {
    if (n > left())
      fail(field, fmt::format("truncated: needs {} bytes at offset {}, the file has {}", n, pos_, size_));
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!in_) fail(field, "read failed");
    pos_ += n;
  }
  template <class T>
  T scalar(const std::string& field) {
    T v;
    bytes(&v, sizeof v, field);  // little-endian host assumed (x86-64, aarch64)
    return v;
  }
  std::string str(const std::string& field) {
    const auto n = scalar<std::uint64_t>(field + " (string length)");
    if (n > left()) fail(field, fmt::format("string length {} exceeds the {} bytes left in the file", n, left()));
    std::string s(n, '\0');
    bytes(s.data(), n, field);
    return s;
  }

 private:
  std::ifstream in_;
  std::string file_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
};

// Bytes of one scalar of a metadata type; 0 for string/array.
std::uint64_t scalar_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::boolean: return 1;
    case GgufValueType::u16: case GgufValueType::i16: return 2;
    case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::f32: return 4;
    case GgufValueType::u64: case GgufValueType::i64: case GgufValueType::f64: return 8;
    default: return 0;
  }
}

bool known_value_type(std::uint32_t t) { return t <= 12; }

// One scalar (not string/array) into (i, f); returns false for floats.
bool read_scalar(Cursor& c, GgufValueType t, const std::string& field, std::int64_t& i, double& f) {
  switch (t) {
    case GgufValueType::u8: i = c.scalar<std::uint8_t>(field); return true;
    case GgufValueType::i8: i = c.scalar<std::int8_t>(field); return true;
    case GgufValueType::u16: i = c.scalar<std::uint16_t>(field); return true;
    case GgufValueType::i16: i = c.scalar<std::int16_t>(field); return true;
    case GgufValueType::u32: i = c.scalar<std::uint32_t>(field); return true;
    case GgufValueType::i32: i = c.scalar<std::int32_t>(field); return true;
    case GgufValueType::i64: i = c.scalar<std::int64_t>(field); return true;
    case GgufValueType::u64: {
      const auto u = c.scalar<std::uint64_t>(field);
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        c.fail(field, fmt::format("value {} is too large", u));
      i = static_cast<std::int64_t>(u);
      return true;
    }
    case GgufValueType::boolean: {
      const auto b = c.scalar<std::uint8_t>(field);
      if (b > 1) c.fail(field, fmt::format("boolean has byte value {}", b));
      i = b;
      return true;
    }
    case GgufValueType::f32: f = c.scalar<float>(field); return false;
    case GgufValueType::f64: f = c.scalar<double>(field); return false;
    default: c.fail(field, "not a scalar type");
  }
}

GgufValue read_value(Cursor& c, std::uint32_t raw_type, const std::string& field) {
  if (!known_value_type(raw_type)) c.fail(field, fmt::format("unknown metadata value type {}", raw_type));
  GgufValue v;
  v.type = static_cast<GgufValueType>(raw_type);
  if (v.type == GgufValueType::string) {
    v.s = c.str(field);
  } else if (v.type == GgufValueType::array) {
    const auto et = c.scalar<std::uint32_t>(field + " (array type)");
    if (!known_value_type(et)) c.fail(field, fmt::format("unknown array element type {}", et));
    v.array_type = static_cast<GgufValueType>(et);
    if (v.array_type == GgufValueType::array) c.fail(field, "arrays of arrays are not supported");
    const auto n = c.scalar<std::uint64_t>(field + " (array length)");
    const std::uint64_t min_bytes = v.array_type == GgufValueType::string ? 8 : scalar_bytes(v.array_type);
    if (n > c.left() / min_bytes)
      c.fail(field, fmt::format("array of {} elements exceeds the {} bytes left in the file", n, c.left()));
    for (std::uint64_t k = 0; k < n; ++k) {
      if (v.array_type == GgufValueType::string) {
        v.strings.push_back(c.str(field));
      } else {
        std::int64_t i = 0;
        double f = 0;
        if (read_scalar(c, v.array_type, field, i, f)) v.ints.push_back(i); else v.floats.push_back(f);
      }
    }
  } else {
    if (!read_scalar(c, v.type, field, v.i, v.f)) v.i = 0;
  }
  return v;
}

void dequant_q8_0(const std::uint8_t* b, float* y) {
  std::uint16_t d16;
  std::memcpy(&d16, b, 2);
  const float d = half_to_float(d16);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(static_cast<std::int8_t>(b[2 + j]));
}

// Q4_0 / Q4_1: element j of the block is the low nibble of qs[j], element
// j + 16 its high nibble.
void dequant_q4_0(const std::uint8_t* b, float* y) {
  std::uint16_t d16;
  std::memcpy(&d16, b, 2);
  const float d = half_to_float(d16);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((b[2 + j] & 0x0f) - 8);
    y[j + 16] = d * static_cast<float>((b[2 + j] >> 4) - 8);
  }
}

void dequant_q4_1(const std::uint8_t* b, float* y) {
  std::uint16_t d16, m16;
  std::memcpy(&d16, b, 2);
  std::memcpy(&m16, b + 2, 2);
  const float d = half_to_float(d16), m = half_to_float(m16);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(b[4 + j] & 0x0f) + m;
    y[j + 16] = d * static_cast<float>(b[4 + j] >> 4) + m;
  }
}

}  // namespace

const char* to_string(GgufValueType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<std::uint32_t>(t);
  return i < 13 ? names[i] : "?";
}

bool GgufValue::is_integer() const {
  return type != GgufValueType::f32 && type != GgufValueType::f64 && type != GgufValueType::string &&
         type != GgufValueType::array;
}

std::string ggml_type_name(std::uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::f32: return "F32";
    case GgmlType::f16: return "F16";
    case GgmlType::q4_0: return "Q4_0";
    case GgmlType::q4_1: return "Q4_1";
    case GgmlType::q5_0: return "Q5_0";
    case GgmlType::q5_1: return "Q5_1";
    case GgmlType::q8_0: return "Q8_0";
    case GgmlType::q8_1: return "Q8_1";
    case GgmlType::q2_k: return "Q2_K";
    case GgmlType::q3_k: return "Q3_K";
    case GgmlType::q4_k: return "Q4_K";
    case GgmlType::q5_k: return "Q5_K";
    case GgmlType::q6_k: return "Q6_K";
    case GgmlType::q8_k: return "Q8_K";
    case GgmlType::bf16: return "BF16";
  }
  return fmt::format("unknown ggml type {}", type);
}

bool ggml_block(std::uint32_t type, std::int64_t& block_elems, std::int64_t& block_bytes) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::f32: block_elems = 1; block_bytes = 4; return true;
    case GgmlType::f16: case GgmlType::bf16: block_elems = 1; block_bytes = 2; return true;
    case GgmlType::q8_0: block_elems = 32; block_bytes = 34; return true;
    case GgmlType::q4_0: block_elems = 32; block_bytes = 18; return true;
    case GgmlType::q4_1: block_elems = 32; block_bytes = 20; return true;
    default: return false;
  }
}

void dequantize(GgmlType type, const std::uint8_t* src, std::int64_t n, float* dst) {
  switch (type) {
    case GgmlType::f32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
      return;
    case GgmlType::f16:
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = half_to_float(h);
      }
      return;
    case GgmlType::bf16:
      for (std::int64_t i = 0; i < n; ++i) {
        bf16 b;
        std::memcpy(&b.bits, src + 2 * i, 2);
        dst[i] = bf16_to_float(b);
      }
      return;
    case GgmlType::q8_0:
      for (std::int64_t k = 0; k < n / 32; ++k) dequant_q8_0(src + 34 * k, dst + 32 * k);
      return;
    case GgmlType::q4_0:
      for (std::int64_t k = 0; k < n / 32; ++k) dequant_q4_0(src + 18 * k, dst + 32 * k);
      return;
    case GgmlType::q4_1:
      for (std::int64_t k = 0; k < n / 32; ++k) dequant_q4_1(src + 20 * k, dst + 32 * k);
      return;
    default:
      throw WeightsError(fmt::format("dequantize: {} is not supported", ggml_type_name(static_cast<std::uint32_t>(type))));
  }
}

std::int64_t GgufTensorInfo::elements() const {
  std::int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

GgufFile::GgufFile(std::filesystem::path path) : path_(std::move(path)) {
  const std::string file = path_.string();
  require_regular_file(path_);  // a FIFO or device: refused by name, never opened
  std::error_code ec;
  file_bytes_ = std::filesystem::file_size(path_, ec);
  if (ec) throw WeightsError(fmt::format("{}: cannot open: {}", file, ec.message()));
  Cursor c(path_, file_bytes_);
  char magic[4];
  c.bytes(magic, 4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    c.fail("magic", fmt::format("is {:02x} {:02x} {:02x} {:02x}, not \"GGUF\" (not a GGUF file)",
                                static_cast<unsigned char>(magic[0]), static_cast<unsigned char>(magic[1]),
                                static_cast<unsigned char>(magic[2]), static_cast<unsigned char>(magic[3])));
  }
  version_ = c.scalar<std::uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    c.fail("version", fmt::format("is {}; supported: 2, 3", version_));
  const auto n_tensors = c.scalar<std::uint64_t>("tensor_count");
  const auto n_kv = c.scalar<std::uint64_t>("metadata_kv_count");
  // Each entry needs at least 12 (kv) / 24 (tensor) bytes: cap the loops.
  if (n_kv > c.left() / 12) c.fail("metadata_kv_count",
           fmt::format("truncated: {} entries cannot fit in the {} bytes left in the file", n_kv, c.left()));
  for (std::uint64_t k = 0; k < n_kv; ++k) {
    const std::string key = c.str(fmt::format("metadata entry {} key", k));
    const auto t = c.scalar<std::uint32_t>(fmt::format("metadata '{}' type", key));
    GgufValue v = read_value(c, t, fmt::format("metadata '{}'", key));
    if (!metadata_.emplace(key, std::move(v)).second) c.fail(fmt::format("metadata '{}'", key), "appears twice");
  }
  if (n_tensors > c.left() / 24) c.fail("tensor_count",
           fmt::format("truncated: {} tensor infos cannot fit in the {} bytes left in the file", n_tensors, c.left()));
  std::vector<std::pair<std::string, std::uint64_t>> offsets;
  for (std::uint64_t k = 0; k < n_tensors; ++k) {
    const std::string name = c.str(fmt::format("tensor info {} name", k));
    const std::string field = fmt::format("tensor '{}'", name);
    GgufTensorInfo t;
    const auto nd = c.scalar<std::uint32_t>(field + " n_dims");
    if (nd == 0 || nd > kMaxDims) c.fail(field, fmt::format("n_dims is {}; must be 1..{}", nd, kMaxDims));
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < nd; ++d) {
      const auto dim = c.scalar<std::uint64_t>(field + " dims");
      if (dim == 0 || dim > (std::uint64_t{1} << 40) || numel > (std::uint64_t{1} << 48) / dim)
        c.fail(field, fmt::format("dimension {} is {}", d, dim));
      numel *= dim;
      t.dims.push_back(static_cast<std::int64_t>(dim));
    }
    t.type = c.scalar<std::uint32_t>(field + " type");
    const auto off = c.scalar<std::uint64_t>(field + " offset");
    std::int64_t be = 0, bb = 0;
    if (ggml_block(t.type, be, bb)) {
      if (t.dims[0] % be != 0)
        c.fail(field, fmt::format("dims[0] = {} is not a multiple of the {} block size {}", t.dims[0],
                                  ggml_type_name(t.type), be));
      t.bytes = numel / static_cast<std::uint64_t>(be) * static_cast<std::uint64_t>(bb);
    }  // else: an unknown type, refused when the tensor is read
    t.begin = off;  // relative for now
    if (!tensors_.emplace(name, std::move(t)).second) c.fail(field, "appears twice");
  }
  std::uint64_t alignment = kDefaultAlignment;
  if (has("general.alignment")) {
    const auto& a = at("general.alignment");
    if (!a.is_integer() || a.i <= 0 || (a.i & (a.i - 1)) != 0)
      throw WeightsError(fmt::format("{}: metadata 'general.alignment' must be a positive power of two", file));
    alignment = static_cast<std::uint64_t>(a.i);
  }
  const std::uint64_t data_start = (c.pos() + alignment - 1) / alignment * alignment;
  if (data_start > file_bytes_)
    throw WeightsError(fmt::format("{}: truncated: the data section would start at byte {}, the file has {}",
                                   file, data_start, file_bytes_));
  const std::uint64_t data_bytes = file_bytes_ - data_start;
  for (auto& [name, t] : tensors_) {
    if (t.begin % alignment != 0)
      throw WeightsError(fmt::format("{}: tensor '{}' offset {} is not a multiple of the alignment {}", file, name,
                                     t.begin, alignment));
    if (t.begin > data_bytes || t.bytes > data_bytes - t.begin)
      throw WeightsError(fmt::format("{}: tensor '{}' data [{}, {}) lies outside the {} data bytes of the file",
                                     file, name, t.begin, t.begin + t.bytes, data_bytes));
    t.begin += data_start;
  }
}

const GgufValue& GgufFile::at(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) throw WeightsError(fmt::format("{}: metadata '{}' is missing", path_.string(), key));
  return it->second;
}

std::int64_t GgufFile::integer(const std::string& key) const {
  const auto& v = at(key);
  if (!v.is_integer() || v.type == GgufValueType::boolean)
    throw WeightsError(fmt::format("{}: metadata '{}' must be an integer, got {}", path_.string(), key, to_string(v.type)));
  return v.i;
}

double GgufFile::number(const std::string& key) const {
  const auto& v = at(key);
  if (v.is_float()) return v.f;
  if (v.is_integer() && v.type != GgufValueType::boolean) return static_cast<double>(v.i);
  throw WeightsError(fmt::format("{}: metadata '{}' must be a number, got {}", path_.string(), key, to_string(v.type)));
}

const std::string& GgufFile::string(const std::string& key) const {
  const auto& v = at(key);
  if (v.type != GgufValueType::string)
    throw WeightsError(fmt::format("{}: metadata '{}' must be a string, got {}", path_.string(), key, to_string(v.type)));
  return v.s;
}

namespace {
const GgufValue& array_of(const GgufFile& f, const std::string& key, bool (*ok)(GgufValueType), const char* what) {
  const auto& v = f.at(key);
  if (v.type != GgufValueType::array || !ok(v.array_type))
    throw WeightsError(fmt::format("{}: metadata '{}' must be an array of {}", f.path().string(), key, what));
  return v;
}
}  // namespace

const std::vector<std::string>& GgufFile::strings(const std::string& key) const {
  return array_of(*this, key, [](GgufValueType t) { return t == GgufValueType::string; }, "strings").strings;
}

const std::vector<std::int64_t>& GgufFile::integers(const std::string& key) const {
  return array_of(*this, key, [](GgufValueType t) {
    return t != GgufValueType::string && t != GgufValueType::f32 && t != GgufValueType::f64;
  }, "integers").ints;
}

const std::vector<double>& GgufFile::floats(const std::string& key) const {
  return array_of(*this, key, [](GgufValueType t) { return t == GgufValueType::f32 || t == GgufValueType::f64; },
                  "floats").floats;
}

std::vector<float> GgufFile::read_f32(const std::string& name, const std::vector<std::int64_t>& hf_shape) const {
  const std::string file = path_.string();
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw WeightsError(fmt::format("{}: tensor '{}' is missing", file, name));
  const GgufTensorInfo& t = it->second;
  const std::vector<std::int64_t> shape(t.dims.rbegin(), t.dims.rend());
  if (shape != hf_shape) {
    throw WeightsError(fmt::format("{}: tensor '{}' has shape {} (GGUF dims reversed), expected {}", file, name,
                                   shape_string(shape), shape_string(hf_shape)));
  }
  std::int64_t be = 0, bb = 0;
  if (!ggml_block(t.type, be, bb)) {
    throw WeightsError(fmt::format("{}: tensor '{}' has type {}; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1", file,
                                   name, ggml_type_name(t.type)));
  }
  std::vector<std::uint8_t> raw(t.bytes);
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(t.begin));
  in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(t.bytes));
  if (!in) throw WeightsError(fmt::format("{}: tensor '{}': read failed (file changed?)", file, name));
  std::vector<float> out(static_cast<std::size_t>(t.elements()));
  dequantize(static_cast<GgmlType>(t.type), raw.data(), t.elements(), out.data());
  // NaN/Inf weights (or a block scale that makes them, or an F32 beyond bf16's
  // range, where the weights end up) are refused naming the first element.
  unsigned bad = 0;
  for (float x : out) bad |= (float_to_bf16(x).bits & 0x7f80u) == 0x7f80u;
  if (bad) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      if ((float_to_bf16(out[i]).bits & 0x7f80u) == 0x7f80u) {
        throw WeightsError(fmt::format("{}: tensor '{}': element {} ({}) is not finite{}", file,
                                       name, i, out[i], std::isfinite(out[i]) ? " in bf16" : ""));
      }
    }
  }
  return out;
}

}  // namespace foresight::runtime
