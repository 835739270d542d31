// The compact encoding of token selections in a trace (/token_selections/ids,
// traces/README.md): each row's token ids, strictly ascending, as unsigned
// LEB128 varints of the first id and then of each gap minus one (id[i] -
// id[i-1] - 1), rows concatenated. A top-2048 row over 32K tokens has gaps
// near 16 and costs about one byte per id instead of four.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace foresight::trace {

// Appends the encoding of `ids` (strictly ascending) to `out`. Throws
// TraceError (prefixed by `where`) if they are not strictly ascending.
void encode_token_row(std::span<const std::uint32_t> ids, std::vector<std::uint8_t>& out, const std::string& where);

// Decodes `count` ids starting at bytes[pos], appends them to `out` and
// returns the position after them. Throws TraceError naming `where` and the
// row if the bytes end early, a varint is longer than 5 bytes, or an id
// exceeds 2^32 - 2 (kNoBlock is reserved).
std::size_t decode_token_row(std::span<const std::uint8_t> bytes, std::size_t pos, std::uint32_t count,
                             std::vector<std::uint32_t>& out, const std::string& where, std::size_t row);

}  // namespace foresight::trace
