// Delta + LEB128 encoding of token selections (see trace/token_codec.hpp).
#include "foresight/trace/token_codec.hpp"

#include <fmt/core.h>

#include "foresight/trace/reader.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::trace {

namespace {
void put_varint(std::uint32_t v, std::vector<std::uint8_t>& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}
}  // namespace

void encode_token_row(std::span<const std::uint32_t> ids, std::vector<std::uint8_t>& out, const std::string& where) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == Trace::kNoBlock || (i > 0 && ids[i] <= ids[i - 1]))
      throw TraceError(fmt::format("{}: token ids must be strictly ascending and below {} (id {} at {})", where,
                                   Trace::kNoBlock, ids[i], i));
    put_varint(i == 0 ? ids[0] : ids[i] - ids[i - 1] - 1, out);
  }
}

std::size_t decode_token_row(std::span<const std::uint8_t> bytes, std::size_t pos, std::uint32_t count,
                             std::vector<std::uint32_t>& out, const std::string& where, std::size_t row) {
  std::uint64_t prev = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint64_t v = 0;
    int shift = 0;
    for (;;) {
      if (pos >= bytes.size())
        throw TraceError(fmt::format("{}: row {}: the encoded ids end after {} of {} ids", where, row, i, count));
      if (shift > 28)
        throw TraceError(fmt::format("{}: row {}: id {} is encoded in more than 5 bytes", where, row, i));
      const std::uint8_t b = bytes[pos++];
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    const std::uint64_t id = i == 0 ? v : prev + v + 1;
    if (id >= Trace::kNoBlock)
      throw TraceError(fmt::format("{}: row {}: token id {} is out of range", where, row, id));
    out.push_back(static_cast<std::uint32_t>(id));
    prev = id;
  }
  return pos;
}

}  // namespace foresight::trace
