// Bad parameters are rejected with std::invalid_argument naming the op,
// before anything is written.
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/argmax.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/key_compress.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/rope.hpp"
#include "foresight/kernels/swiglu.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("invalid parameters name the op and the problem") {
  std::vector<bf16> buf(64);
  CHECK(error_of([&] { rmsnorm_cpu({buf.data(), nullptr, buf.data(), 1, 8}); }).starts_with("rmsnorm:"));
  CHECK(error_of([&] { swiglu_cpu({buf.data(), buf.data(), 1, 0}); }).starts_with("swiglu:"));
  CHECK(error_of([&] { argmax_cpu({buf.data(), nullptr, 1, 8}); }).starts_with("argmax:"));
  CHECK(error_of([&] { gemm_cpu({buf.data(), buf.data(), buf.data(), 2, 4, 4, 3}); }).find("leading") !=
        std::string::npos);
  std::vector<std::int32_t> pos = {0};
  std::vector<float> inv = {1.f};
  CHECK(error_of([&] {
          rope_cpu({buf.data(), buf.data(), nullptr, pos.data(), inv.data(), 1, 1, 1, 3});
        }).find("even") != std::string::npos);
  CHECK(error_of([&] {
          prefill_attention_cpu({buf.data(), buf.data(), buf.data(), buf.data(), 0, 1, 3, 2, 4});
        }).find("divide") != std::string::npos);
  CHECK(error_of([&] { key_compress_prefill_cpu({buf.data(), buf.data(), 40, 0, 1, 1, 0, 0, 16}); })
            .starts_with("key_compress_prefill:"));
  std::vector<std::int32_t> zero = {0};
  KeyCompressDecodeParams d{nullptr, buf.data(), buf.data(), zero.data(), 1, 1, 1};
  CHECK(error_of([&] { key_compress_decode_cpu(d); }).find("token_counts") != std::string::npos);
}

TEST_CASE("llama3 scaling with inverted bands is rejected") {
  RopeFrequencies f{RopeFrequencies::Kind::kLlama3, 500000.0, 8.0, 4.0, 1.0};
  CHECK_THROWS_AS(rope_inv_freq(f, 128), std::invalid_argument);
}
