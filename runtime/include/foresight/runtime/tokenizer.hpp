// Text <-> token ids for checkpoints that carry their vocabulary: GGUF files
// with a GPT-2-style byte-level BPE (tokenizer.ggml.model "gpt2"), as
// SmolLM2, GPT-2 and StarCoder ship it.
//
// encode(text):
//   1. pre-tokenizer (tokenizer.ggml.pre): "smollm" first isolates every
//      \p{N} code point (HF Digits(individual_digits=true)), then, like
//      "gpt2", splits each part with the GPT-2 pattern
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (Unicode classes from ICU: L = Lu Ll Lt Lm Lo, N = Nd Nl No,
//      \s = White_Space);
//   2. each piece's UTF-8 bytes mapped to GPT-2's printable byte alphabet
//      (bytes_to_unicode: space -> U+0120 'Ġ', ...);
//   3. BPE: repeatedly merge the adjacent pair of lowest rank in
//      tokenizer.ggml.merges ("a b" per rank), then look each symbol up in
//      tokenizer.ggml.tokens.
// No normalizer; special tokens (<|im_end|> ...) in the text are plain text,
// and no BOS is added unless tokenizer.ggml.add_bos_token says so. The
// reference is HF `tokenizers` with the same configuration
// (scripts/real-model/make-tokenizer-refs.py, tests/runtime/tokenizer/).
//
// Not handled (refused naming the key): SentencePiece vocabularies
// (tokenizer.ggml.model "llama") and other pre-tokenizer patterns (e.g.
// Llama 3's "llama-bpe").
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace foresight::runtime {

class GgufFile;

class Tokenizer {
 public:
  // Reads tokenizer.ggml.{model, pre, tokens, merges, bos_token_id,
  // eos_token_id, add_bos_token} of `f`; throws WeightsError naming the file
  // and key when one is missing, malformed or not supported.
  static Tokenizer from_gguf(const GgufFile& f);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Token ids of UTF-8 `text` (invalid UTF-8 bytes are encoded as bytes, one
  // symbol each, never dropped). Throws std::runtime_error if a symbol the
  // merges produce is not in the vocabulary (a corrupt file).
  std::vector<std::int32_t> encode(std::string_view text) const;
  // The UTF-8 bytes of `ids` concatenated (decode(encode(t)) == t); ids
  // outside the vocabulary throw std::out_of_range.
  std::string decode(std::span<const std::int32_t> ids) const;

  std::int64_t vocab_size() const;
  std::int32_t eos_id() const;  // -1 when the file names none
  std::int32_t bos_id() const;  // -1 when the file names none
  bool adds_bos() const;        // encode() prepends bos_id()

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace foresight::runtime
