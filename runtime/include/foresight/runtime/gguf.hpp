// Reading GGUF files (llama.cpp's format, versions 2 and 3), all little-endian:
//   "GGUF" u32 version, u64 tensor_count, u64 metadata_kv_count
//   metadata: string key, u32 value type, value   (string = u64 length + bytes;
//             array = u32 element type, u64 count, elements)
//   tensor infos: string name, u32 n_dims, u64 dims[n_dims] (dims[0] varies
//             fastest, so a HF [out, in] matrix is dims [in, out]), u32 ggml
//             type, u64 offset (from the data section, aligned)
//   data section at the first multiple of general.alignment (default 32)
//             after the tensor infos.
// Every check failure throws WeightsError naming the file and the field or
// tensor (bad magic, truncation, offsets out of range, unknown types, NaN or
// Inf weights); a path that is not a regular file (a FIFO) is never opened.
// The metadata is kept whole (tokenizer.ggml.tokens, merges, ... are arrays
// of strings), so a tokenizer can read it from the same GgufFile.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "foresight/config/model.hpp"
#include "foresight/kernels/bf16.hpp"
#include "foresight/runtime/safetensors.hpp"  // WeightsError

namespace foresight::runtime {

// GGUF metadata value types (numbering of the format).
enum class GgufValueType : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
const char* to_string(GgufValueType t);

// One metadata value. Scalars: integers in `i` (u64 above INT64_MAX are
// refused), floats in `f`, booleans in `i` (0/1), strings in `s`. Arrays:
// `array_type` and one of `ints`, `floats`, `strings` (arrays of arrays are
// refused).
struct GgufValue {
  GgufValueType type = GgufValueType::u32;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  GgufValueType array_type = GgufValueType::u32;
  std::vector<std::int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;

  bool is_integer() const;  // u8..i64 or bool
  bool is_float() const { return type == GgufValueType::f32 || type == GgufValueType::f64; }
  std::size_t array_size() const { return ints.size() + floats.size() + strings.size(); }
};

// ggml tensor types this reader knows (numbering of ggml.h). Dequantizable:
// F32, F16, BF16, Q8_0, Q4_0, Q4_1; others are named in errors.
enum class GgmlType : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15, bf16 = 30,
};
// "F32", "Q4_1", ...; "unknown ggml type 17" for any other number.
std::string ggml_type_name(std::uint32_t type);
// Block size (elements) and bytes per block; false for types not dequantizable here.
bool ggml_block(std::uint32_t type, std::int64_t& block_elems, std::int64_t& block_bytes);
// Dequantizes n elements (a multiple of the block size) of `type` from `src`.
void dequantize(GgmlType type, const std::uint8_t* src, std::int64_t n, float* dst);

struct GgufTensorInfo {
  std::vector<std::int64_t> dims;  // GGUF order: dims[0] varies fastest
  std::uint32_t type = 0;          // GgmlType number
  std::uint64_t begin = 0;         // absolute byte offset in the file
  std::uint64_t bytes = 0;
  std::int64_t elements() const;
};

class GgufFile {
 public:
  // Parses and checks the header, metadata and tensor infos (every tensor
  // inside the file, its size matching dims x type). Data is read on demand.
  explicit GgufFile(std::filesystem::path path);

  const std::filesystem::path& path() const { return path_; }
  std::uint32_t version() const { return version_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::map<std::string, GgufTensorInfo>& tensors() const { return tensors_; }
  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  bool has_tensor(const std::string& name) const { return tensors_.count(name) != 0; }

  // Typed metadata access; throw WeightsError naming the file and key when
  // missing or of another type.
  const GgufValue& at(const std::string& key) const;
  std::int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;  // integer or float
  const std::string& string(const std::string& key) const;
  const std::vector<std::string>& strings(const std::string& key) const;  // array of strings
  const std::vector<std::int64_t>& integers(const std::string& key) const;
  const std::vector<double>& floats(const std::string& key) const;

  // Tensor `name` dequantized to float, checked against `hf_shape` (HF order,
  // slowest first: [out, in] for a matrix, i.e. the GGUF dims reversed).
  // A NaN or Inf element (or one beyond bf16's range) is refused naming its index.
  std::vector<float> read_f32(const std::string& name, const std::vector<std::int64_t>& hf_shape) const;

 private:
  std::filesystem::path path_;
  std::uint32_t version_ = 0;
  std::uint64_t file_bytes_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::map<std::string, GgufTensorInfo> tensors_;
};

// The model config of a Llama-architecture GGUF file (general.architecture
// "llama"; llama.* keys: block_count, embedding_length, feed_forward_length,
// attention.head_count(_kv), attention.key_length, rope.freq_base,
// rope.dimension_count, attention.layer_norm_rms_epsilon, context_length,
// vocab_size or the token embedding's rows; tied when there is no
// output.weight). Keys that change the math and that foresight does not
// implement (RoPE scaling, per-dimension RoPE factors, experts, biases,
// partial rotary) are refused naming the key. Sparse settings: SparseConfig{}
// fitted to the context (config/sparse_fit.hpp).
config::ModelConfig model_from_gguf(const GgufFile& f);

struct Weights;
// The weights of a Llama-architecture GGUF file for model `m` (as
// model_from_gguf gives it): every tensor dequantized to bf16, Q and K rows
// un-permuted back to the HF layout; shapes checked against `m`. The
// Forecast rows and layer 0's selector stay synthetic (seeded by `seed`).
Weights load_gguf(const GgufFile& f, const config::ModelConfig& m, std::uint64_t seed);

}  // namespace foresight::runtime
