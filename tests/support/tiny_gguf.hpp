// TinyGguf: GGUF v3 files written byte by byte for tests (metadata entries
// and tensor infos as given, zero data), under FORESIGHT_TEST_TMP.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace foresight::test {

// A small GGUF v3 file: metadata entries (type, encoded value) and tensor
// infos as given, then `data_bytes` zero bytes of data. The default has one
// string entry and one F32 tensor 't' of 32 elements.
struct TinyGguf {
  struct Kv {
    std::string key;
    std::uint32_t type;
    std::string value;  // encoded
  };
  struct Tensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    std::uint32_t type;
    std::uint64_t offset;
  };
  std::string magic = "GGUF";
  std::uint32_t version = 3;
  std::vector<Kv> kvs = {{"general.architecture", 8, str("llama")}};
  std::vector<Tensor> tensors = {{"t", {32}, 0, 0}};
  std::size_t data_bytes = 128;
  std::size_t cut = 0;  // bytes dropped from the end

  static std::string u32(std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
  static std::string u64(std::uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
  static std::string f32(float v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
  static std::string str(const std::string& t) { return u64(t.size()) + t; }

  std::string bytes() const {
    std::string s = magic + u32(version) + u64(tensors.size()) + u64(kvs.size());
    for (const auto& kv : kvs) s += str(kv.key) + u32(kv.type) + kv.value;
    for (const auto& t : tensors) {
      s += str(t.name) + u32(static_cast<std::uint32_t>(t.dims.size()));
      for (auto d : t.dims) s += u64(d);
      s += u32(t.type) + u64(t.offset);
    }
    while (s.size() % 32) s.push_back('\0');
    s += std::string(data_bytes, '\0');
    return s.substr(0, s.size() - cut);
  }
  std::filesystem::path write(const std::string& name) const {
    const auto p = std::filesystem::path(FORESIGHT_TEST_TMP) / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes();
    return p;
  }
};

// An array metadata value of strings (GGUF type 9 of type 8).
inline std::string gguf_string_array(const std::vector<std::string>& items) {
  std::string s = TinyGguf::u32(8) + TinyGguf::u64(items.size());
  for (const auto& t : items) s += TinyGguf::str(t);
  return s;
}

}  // namespace foresight::test
