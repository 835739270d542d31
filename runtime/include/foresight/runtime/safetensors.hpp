// Reading and writing the safetensors format (Hugging Face): an 8-byte
// little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end]}, ...}
// (optional "__metadata__"), then the data; offsets are relative to byte 8 + N.
// Every check failure throws WeightsError naming the file and the tensor:
// besides sizes and offsets, a tensor name given twice, data ranges that
// overlap, and NaN or Inf elements (named by index) are refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "foresight/common/errors.hpp"
#include "foresight/kernels/bf16.hpp"

namespace foresight::runtime {

struct WeightsError : common::InputError {  // bad input: the CLI exits 2
  using common::InputError::InputError;
};

enum class DType { bf16, f16, f32 };
const char* to_string(DType d);
std::int64_t dtype_bytes(DType d);

struct TensorInfo {
  DType dtype = DType::bf16;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // absolute byte offset in the file
  std::uint64_t bytes = 0;
};

// Throws WeightsError naming `path` unless it exists and is a regular file
// (after symlinks): a FIFO, device or socket would block or never end.
void require_regular_file(const std::filesystem::path& path);

// An opened, validated safetensors file. The header is parsed and checked at
// construction (offsets inside the file, sizes matching shape x dtype); the
// data is read on demand.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(std::filesystem::path path);

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }

  // Reads tensor `name`, checks its shape equals `expected_shape`, converts
  // to bf16 (F16 and F32 are rounded to nearest even) into `out`
  // (size = product of the shape). A NaN or Inf element (after conversion:
  // F32 beyond bf16's range counts) is refused naming its index.
  void read_bf16(const std::string& name, const std::vector<std::int64_t>& expected_shape,
                 bf16* out) const;

 private:
  std::filesystem::path path_;
  std::uint64_t file_bytes_ = 0;
  std::map<std::string, TensorInfo> tensors_;
};

// A tensor to write: bf16 data with its shape.
struct TensorToWrite {
  std::string name;
  std::vector<std::int64_t> shape;
  const bf16* data = nullptr;
};

// Writes a BF16 safetensors file (to "<path>.partial", then renamed).
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors);

std::string shape_string(const std::vector<std::int64_t>& shape);  // "[1024, 4096]"

}  // namespace foresight::runtime
