// Byte-level BPE tokenizer from GGUF metadata (see tokenizer.hpp).
#include "foresight/runtime/tokenizer.hpp"

#include <array>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <fmt/core.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "foresight/runtime/gguf.hpp"

namespace foresight::runtime {
namespace {

// Character classes of the GPT-2 pattern.
enum class CharClass { letter, number, space, other };

// Unicode's White_Space property (PropList.txt, unchanged since Unicode 6.3),
// written out so that only ICU's built-in general-category table is linked
// (libicuuc.a without its 30 MB data library).
bool white_space(UChar32 c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

CharClass classify(UChar32 c) {
  if (c < 0) return CharClass::other;  // an invalid UTF-8 byte
  if (white_space(c)) return CharClass::space;
  switch (u_charType(c)) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER: case U_OTHER_LETTER:
      return CharClass::letter;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER:
      return CharClass::number;
    default:
      return CharClass::other;
  }
}

// One code point of the text: its value (-1: invalid byte), class and bytes [begin, end).
struct CodePoint {
  UChar32 c;
  CharClass cls;
  std::size_t begin, end;
};

std::vector<CodePoint> code_points(std::string_view text) {
  std::vector<CodePoint> out;
  const auto* s = reinterpret_cast<const std::uint8_t*>(text.data());
  const auto n = static_cast<std::int32_t>(text.size());
  std::int32_t i = 0;
  while (i < n) {
    const std::int32_t begin = i;
    UChar32 c = 0;
    U8_NEXT(s, i, n, c);  // c < 0 on an ill-formed sequence (i past it)
    if (c < 0) i = begin + 1;  // one byte per invalid symbol: nothing is dropped
    out.push_back({c, classify(c), static_cast<std::size_t>(begin), static_cast<std::size_t>(i)});
  }
  return out;
}

// End (exclusive) of the GPT-2 pattern's match at cps[i], within [i, end).
std::size_t gpt2_match(const std::vector<CodePoint>& cps, std::size_t i, std::size_t end) {
  auto is = [&](std::size_t j, char ch) { return j < end && cps[j].c == ch; };
  if (is(i, '\'')) {
    if (is(i + 1, 's') || is(i + 1, 't') || is(i + 1, 'm') || is(i + 1, 'd')) return i + 2;
    if ((is(i + 1, 'r') && is(i + 2, 'e')) || (is(i + 1, 'v') && is(i + 2, 'e')) ||
        (is(i + 1, 'l') && is(i + 2, 'l')))
      return i + 3;
  }
  // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional space, then a run of one class.
  const std::size_t first = is(i, ' ') && i + 1 < end && cps[i + 1].cls != CharClass::space ? i + 1 : i;
  const CharClass cls = cps[first].cls;
  std::size_t j = first;
  if (cls != CharClass::space) {
    while (j < end && cps[j].cls == cls) ++j;
    return j;
  }
  // "\s+(?!\S)|\s+": a whitespace run, leaving its last character to the
  // next token when a non-space follows and the run is longer than one.
  while (j < end && cps[j].cls == CharClass::space) ++j;
  if (j == end || j - i == 1) return j;
  return j - 1;
}

// The pre-tokenizer's pieces of `text` (views into it).
std::vector<std::string_view> pre_tokenize(std::string_view text, bool split_digits) {
  const std::vector<CodePoint> cps = code_points(text);
  std::vector<std::string_view> pieces;
  auto emit = [&](std::size_t a, std::size_t b) {
    pieces.push_back(text.substr(cps[a].begin, cps[b - 1].end - cps[a].begin));
  };
  std::size_t seg = 0;
  while (seg < cps.size()) {
    // A segment: one digit (smollm), or a run without digits.
    std::size_t seg_end = seg + 1;
    if (!split_digits || cps[seg].cls != CharClass::number) {
      while (seg_end < cps.size() && !(split_digits && cps[seg_end].cls == CharClass::number)) ++seg_end;
    }
    for (std::size_t i = seg; i < seg_end;) {
      const std::size_t j = gpt2_match(cps, i, seg_end);
      emit(i, j);
      i = j;
    }
    seg = seg_end;
  }
  return pieces;
}

std::string utf8_of(UChar32 c) {
  std::array<std::uint8_t, 4> buf{};
  std::int32_t n = 0;
  [[maybe_unused]] UBool error = false;  // c is a valid code point here
  U8_APPEND(buf.data(), n, 4, c, error);
  return std::string(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(n));
}

}  // namespace

struct Tokenizer::Impl {
  std::vector<std::string> tokens;                   // id -> byte-level symbol string
  std::unordered_map<std::string, std::int32_t> ids;  // symbol string -> id
  std::unordered_map<std::string, std::int32_t> merge_rank;  // "a b" -> rank
  std::array<std::string, 256> byte_symbol;          // byte -> its printable code point (UTF-8)
  std::unordered_map<UChar32, std::uint8_t> symbol_byte;
  bool split_digits = false, add_bos = false;
  std::int32_t bos = -1, eos = -1;
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache;  // piece -> ids

  // GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
  // others to U+0100 onwards in byte order.
  void build_byte_alphabet() {
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const UChar32 c = printable ? b : 256 + next++;
      byte_symbol[static_cast<std::size_t>(b)] = utf8_of(c);
      symbol_byte[c] = static_cast<std::uint8_t>(b);
    }
  }

  std::vector<std::int32_t> bpe(std::string_view piece) const {
    std::vector<std::string> sym;
    for (unsigned char b : piece) sym.push_back(byte_symbol[b]);
    while (sym.size() > 1) {
      std::int32_t best = INT32_MAX;
      std::size_t at = 0;
      for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
        const auto it = merge_rank.find(sym[i] + ' ' + sym[i + 1]);
        if (it != merge_rank.end() && it->second < best) best = it->second, at = i;
      }
      if (best == INT32_MAX) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    std::vector<std::int32_t> out;
    for (const auto& s : sym) {
      const auto it = ids.find(s);
      if (it == ids.end()) throw std::runtime_error(fmt::format("tokenizer: symbol '{}' is not in the vocabulary", s));
      out.push_back(it->second);
    }
    return out;
  }

  std::vector<std::int32_t> piece_ids(std::string_view piece) const {
    const std::string key(piece);
    {
      std::lock_guard lock(cache_mutex);
      if (const auto it = cache.find(key); it != cache.end()) return it->second;
    }
    auto v = bpe(piece);
    std::lock_guard lock(cache_mutex);
    cache.emplace(key, v);
    return v;
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_gguf(const GgufFile& f) {
  const std::string file = f.path().string();
  auto fail = [&](const std::string& key, const std::string& why) {
    return WeightsError(fmt::format("{}: {}: {}", file, key, why));
  };
  const std::string& model = f.string("tokenizer.ggml.model");
  if (model != "gpt2")
    throw fail("tokenizer.ggml.model", fmt::format("'{}' is not supported (only the byte-level BPE 'gpt2')", model));
  const std::string pre = f.has("tokenizer.ggml.pre") ? f.string("tokenizer.ggml.pre") : "gpt2";
  if (pre != "gpt2" && pre != "default" && pre != "smollm")
    throw fail("tokenizer.ggml.pre", fmt::format("pre-tokenizer '{}' is not supported (gpt2, smollm)", pre));
  auto impl = std::make_unique<Impl>();
  impl->split_digits = pre == "smollm";
  impl->tokens = f.strings("tokenizer.ggml.tokens");
  if (impl->tokens.empty()) throw fail("tokenizer.ggml.tokens", "is empty");
  for (std::size_t i = 0; i < impl->tokens.size(); ++i)
    impl->ids.emplace(impl->tokens[i], static_cast<std::int32_t>(i));
  const auto& merges = f.strings("tokenizer.ggml.merges");
  for (std::size_t r = 0; r < merges.size(); ++r) {
    if (merges[r].find(' ') == std::string::npos)
      throw fail("tokenizer.ggml.merges", fmt::format("entry {} '{}' is not 'a b'", r, merges[r]));
    impl->merge_rank.emplace(merges[r], static_cast<std::int32_t>(r));
  }
  const auto n = static_cast<std::int64_t>(impl->tokens.size());
  auto token_id = [&](const std::string& key) -> std::int32_t {
    if (!f.has(key)) return -1;
    const std::int64_t v = f.integer(key);
    if (v < 0 || v >= n) throw fail(key, fmt::format("{} is outside the vocabulary of {} tokens", v, n));
    return static_cast<std::int32_t>(v);
  };
  impl->bos = token_id("tokenizer.ggml.bos_token_id");
  impl->eos = token_id("tokenizer.ggml.eos_token_id");
  if (f.has("tokenizer.ggml.add_bos_token")) {
    const GgufValue& v = f.at("tokenizer.ggml.add_bos_token");
    if (v.type != GgufValueType::boolean) throw fail("tokenizer.ggml.add_bos_token", "must be a boolean");
    impl->add_bos = v.i != 0;
  }
  if (impl->add_bos && impl->bos < 0) throw fail("tokenizer.ggml.bos_token_id", "missing but add_bos_token is set");
  impl->build_byte_alphabet();
  return Tokenizer(std::move(impl));
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<std::int32_t> out;
  if (impl_->add_bos) out.push_back(impl_->bos);
  for (std::string_view piece : pre_tokenize(text, impl_->split_digits)) {
    const auto ids = impl_->piece_ids(piece);
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::string out;
  for (std::int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) throw std::out_of_range(fmt::format("tokenizer: id {} outside the vocabulary", id));
    const std::string& sym = impl_->tokens[static_cast<std::size_t>(id)];
    for (const CodePoint& cp : code_points(sym)) {
      const auto it = cp.c < 0 ? impl_->symbol_byte.end() : impl_->symbol_byte.find(cp.c);
      if (it != impl_->symbol_byte.end()) out.push_back(static_cast<char>(it->second));
      else out.append(sym, cp.begin, cp.end - cp.begin);  // not a byte symbol: kept as written
    }
  }
  return out;
}

std::int64_t Tokenizer::vocab_size() const { return static_cast<std::int64_t>(impl_->tokens.size()); }
std::int32_t Tokenizer::eos_id() const { return impl_->eos; }
std::int32_t Tokenizer::bos_id() const { return impl_->bos; }
bool Tokenizer::adds_bos() const { return impl_->add_bos; }

}  // namespace foresight::runtime
