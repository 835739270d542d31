// Synthetic weights, safetensors parsing (good and malformed files) and HF
// checkpoint loading, single-file and sharded.
#include <algorithm>
#include <cmath>
#include <fstream>

#include "catch.hpp"
#include "foresight/runtime/weights.hpp"
#include "tiny_model.hpp"

using namespace foresight;
using namespace foresight::runtime;
using Catch::Matchers::Contains;

namespace {
bool same_bits(const std::vector<bf16>& a, const std::vector<bf16>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) if (a[i].bits != b[i].bits) return false;
  return true;
}
void write_raw(const std::filesystem::path& p, const std::string& header, std::size_t data_bytes) {
  std::ofstream out(p, std::ios::binary);
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header;
  out << std::string(data_bytes, '\0');
}
}  // namespace

TEST_CASE("synthetic weights are seeded and scaled like an init") {
  auto m = testing::tiny_model();
  auto a = make_synthetic_weights(m, 7), b = make_synthetic_weights(m, 7), c = make_synthetic_weights(m, 8);
  REQUIRE(a.layers.size() == 3);
  REQUIRE(a.layers[0].wqkvf.size() == static_cast<std::size_t>((4 + 3 * 2) * 16 * 64));
  REQUIRE(a.layers[1].w_gate_up.size() == static_cast<std::size_t>(2 * 128 * 64));
  CHECK(a.layers[2].wqkvf[5].bits == b.layers[2].wqkvf[5].bits);
  CHECK(a.layers[2].wqkvf[5].bits != c.layers[2].wqkvf[5].bits);
  double sum2 = 0;
  for (auto x : a.layers[1].w_down) sum2 += bf16_to_float(x) * bf16_to_float(x);
  const double std = std::sqrt(sum2 / static_cast<double>(a.layers[1].w_down.size()));
  CHECK(std > 0.018);
  CHECK(std < 0.022);
  CHECK(bf16_to_float(a.layers[0].attn_norm[3]) == 1.0f);
  CHECK(a.bytes() == 2 * (256 * 64 * 2 + 64 + 16 * 2 * 64 +
                          3 * (2 * 64 + 10 * 16 * 64 + 64 * 64 + 3 * 128 * 64)));
}

TEST_CASE("synthetic weights are identical for any thread count") {
  auto m = testing::tiny_model();
  m.vocab = 1100;
  m.hidden = 1000;  // embed 1.1 Mi elements: more than one 1 Mi-element fill chunk
  m.n_heads = 2; m.n_kv_heads = 1; m.head_dim = 16; m.intermediate = 40; m.n_layers = 2;
  const auto one = make_synthetic_weights(m, 11, 1), three = make_synthetic_weights(m, 11, 3),
             all = make_synthetic_weights(m, 11);
  for (const auto* w : {&three, &all}) {
    CHECK(same_bits(one.embed, w->embed));
    CHECK(same_bits(one.lm_head, w->lm_head));
    CHECK(same_bits(one.layer0_selector, w->layer0_selector));
    CHECK(same_bits(one.final_norm, w->final_norm));
    for (std::size_t l = 0; l < one.layers.size(); ++l) {
      CHECK(same_bits(one.layers[l].wqkvf, w->layers[l].wqkvf));
      CHECK(same_bits(one.layers[l].wo, w->layers[l].wo));
      CHECK(same_bits(one.layers[l].w_gate_up, w->layers[l].w_gate_up));
      CHECK(same_bits(one.layers[l].w_down, w->layers[l].w_down));
      CHECK(same_bits(one.layers[l].attn_norm, w->layers[l].attn_norm));
    }
  }
  CHECK(one.bytes() == three.bytes());
}

TEST_CASE("synthetic element i depends only on (seed, tensor, i)") {
  // A longer embedding (more vocab rows) starts with the shorter one, element
  // for element, including sizes that are not a multiple of 4.
  auto m = testing::tiny_model();
  m.hidden = 65;
  m.n_heads = 5; m.n_kv_heads = 5; m.head_dim = 13;
  m.vocab = 33;
  auto big = m;
  big.vocab = 40;
  const auto a = make_synthetic_weights(m, 5, 2), b = make_synthetic_weights(big, 5, 1);
  REQUIRE(a.embed.size() == 33u * 65u);
  const std::vector<bf16> prefix(b.embed.begin(), b.embed.begin() + static_cast<std::ptrdiff_t>(a.embed.size()));
  CHECK(same_bits(a.embed, prefix));
  CHECK(same_bits(a.layers[2].w_down, b.layers[2].w_down));  // other tensors unchanged
}

TEST_CASE("synthetic weights: different seeds differ, statistics of normal(0, 0.02)") {
  auto m = testing::tiny_model();
  m.vocab = 4096;
  m.hidden = 256;  // embed 1 Mi samples
  const auto a = make_synthetic_weights(m, 21), b = make_synthetic_weights(m, 22);
  std::size_t same = 0;
  for (std::size_t i = 0; i < a.embed.size(); ++i) same += a.embed[i].bits == b.embed[i].bits;
  CHECK(same < a.embed.size() / 50);  // equal bf16 by chance only
  CHECK_FALSE(same_bits(a.layers[0].wqkvf, b.layers[0].wqkvf));
  CHECK_FALSE(same_bits(a.embed, a.lm_head));  // tensors are independent streams
  double sum = 0, sum2 = 0, sum4 = 0, max_abs = 0;
  std::size_t within_1sd = 0;
  for (auto x : a.embed) {
    const double v = bf16_to_float(x);
    sum += v; sum2 += v * v; sum4 += v * v * v * v;
    max_abs = std::max(max_abs, std::abs(v));
    within_1sd += std::abs(v) < 0.02;
  }
  const auto n = static_cast<double>(a.embed.size());
  const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
  CHECK(std::abs(mean) < 1e-4);                                 // 5 sigma of the mean: 1e-4
  CHECK(sd == Approx(0.02).epsilon(0.005));
  CHECK(sum4 / n / (sd * sd * sd * sd) == Approx(3.0).epsilon(0.02));  // normal kurtosis
  CHECK(within_1sd / n == Approx(0.6827).epsilon(0.01));
  CHECK(max_abs > 3.5 * 0.02);  // tails reach past 3.5 sigma ...
  CHECK(max_abs < 4.5 * 0.02);  // ... and stop at the 16-bit quantile (4.3 sigma)
  for (const auto& L : a.layers) {
    for (auto x : L.ffn_norm) REQUIRE(x.bits == float_to_bf16(1.f).bits);
  }
}

TEST_CASE("weights can be released after upload") {
  auto w = make_synthetic_weights(testing::tiny_model(), 1);
  REQUIRE(w.bytes() > 0);
  w.release();
  CHECK(w.bytes() == 0);
  CHECK(w.layers.empty());
  CHECK(w.embed.capacity() == 0);
  CHECK(w.lm_head.capacity() == 0);
}

TEST_CASE("checkpoint round trip, single file and sharded, with a Forecast file") {
  auto m = testing::tiny_model();
  auto w = make_synthetic_weights(m, 3);
  for (int shards : {1, 3}) {
    auto dir = testing::fresh_dir("ckpt" + std::to_string(shards));
    save_checkpoint(dir, m, w, shards);
    save_forecast(dir / "forecast.safetensors", m, w);
    auto r = load_checkpoint(dir, m, /*seed=*/99);  // different seed: Forecast rows differ
    CHECK(r.embed.size() == w.embed.size());
    CHECK(r.layers[2].w_down[17].bits == w.layers[2].w_down[17].bits);
    const std::size_t f0 = static_cast<std::size_t>((4 + 2 * 2) * 16 * 64);  // first Forecast element
    CHECK(r.layers[1].wqkvf[f0 - 1].bits == w.layers[1].wqkvf[f0 - 1].bits);
    CHECK(r.layers[1].wqkvf[f0].bits != w.layers[1].wqkvf[f0].bits);
    load_forecast(dir / "forecast.safetensors", m, r);
    CHECK(same_bits(r.layers[1].wqkvf, w.layers[1].wqkvf));
    CHECK(same_bits(r.layer0_selector, w.layer0_selector));
    CHECK(same_bits(r.lm_head, w.lm_head));
  }
}

TEST_CASE("checkpoint shape mismatch names the file and tensor") {
  auto m = testing::tiny_model();
  auto dir = testing::fresh_dir("ckpt_shape");
  save_checkpoint(dir, m, make_synthetic_weights(m, 1));
  auto other = m;
  other.n_kv_heads = 1;  // expects k_proj [16, 64]; the file has [32, 64]
  REQUIRE_THROWS_WITH(load_checkpoint(dir, other, 1),
                      Contains("model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight' "
                               "has shape [32, 64], expected [16, 64]"));
}

TEST_CASE("missing tensor and missing files are reported") {
  auto m = testing::tiny_model();
  auto dir = testing::fresh_dir("ckpt_missing");
  auto more = m;
  more.n_layers = 2;
  save_checkpoint(dir, more, make_synthetic_weights(more, 1));
  REQUIRE_THROWS_WITH(load_checkpoint(dir, m, 1),
                      Contains("tensor 'model.layers.2.input_layernorm.weight' is missing"));
  REQUIRE_THROWS_WITH(load_checkpoint(testing::fresh_dir("empty"), m, 1),
                      Contains("neither model.safetensors nor model.safetensors.index.json"));
}

TEST_CASE("malformed safetensors files fail with clear errors") {
  auto dir = testing::fresh_dir("malformed");
  SECTION("truncated before the header length") {
    std::ofstream(dir / "a.safetensors") << "abc";
    REQUIRE_THROWS_WITH(SafetensorsFile(dir / "a.safetensors"), Contains("truncated"));
  }
  SECTION("header longer than the file") {
    write_raw(dir / "b.safetensors", "{}", 0);
    std::filesystem::resize_file(dir / "b.safetensors", 9);
    REQUIRE_THROWS_WITH(SafetensorsFile(dir / "b.safetensors"), Contains("truncated: header length 2"));
  }
  SECTION("bad JSON") {
    write_raw(dir / "c.safetensors", "{\"x\": [1,", 0);
    REQUIRE_THROWS_WITH(SafetensorsFile(dir / "c.safetensors"), Contains("header is not valid JSON"));
  }
  SECTION("offsets outside the file") {
    write_raw(dir / "d.safetensors",
              R"({"w": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [0, 32]}})", 16);
    REQUIRE_THROWS_WITH(SafetensorsFile(dir / "d.safetensors"),
                        Contains("tensor 'w': data_offsets [0, 32] lie outside the 16 data bytes"));
  }
  SECTION("size not matching the shape") {
    write_raw(dir / "e.safetensors",
              R"({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 32]}})", 32);
    REQUIRE_THROWS_WITH(SafetensorsFile(dir / "e.safetensors"), Contains("shape [4, 4] of F32 needs 64"));
  }
  SECTION("unsupported dtype") {
    write_raw(dir / "f.safetensors",
              R"({"w": {"dtype": "I8", "shape": [4], "data_offsets": [0, 4]}})", 4);
    REQUIRE_THROWS_WITH(SafetensorsFile(dir / "f.safetensors"), Contains("dtype 'I8' is not supported"));
  }
  SECTION("truncated data of a real checkpoint") {
    auto m = testing::tiny_model();
    save_checkpoint(dir / "t", m, make_synthetic_weights(m, 1));
    auto f = dir / "t" / "model.safetensors";
    std::filesystem::resize_file(f, std::filesystem::file_size(f) - 100);
    REQUIRE_THROWS_WITH(load_checkpoint(dir / "t", m, 1), Contains("lie outside"));
  }
}

TEST_CASE("F32 and F16 tensors convert to bf16") {
  auto dir = testing::fresh_dir("dtypes");
  {
    std::ofstream out(dir / "x.safetensors", std::ios::binary);
    std::string h = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                    R"( "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]}})";
    std::uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << h;
    float a[2] = {1.5f, -3.25f};
    std::uint16_t b[2] = {0x3C00, 0xC500};  // 1.0, -5.0
    out.write(reinterpret_cast<const char*>(a), 8);
    out.write(reinterpret_cast<const char*>(b), 4);
  }
  SafetensorsFile f(dir / "x.safetensors");
  bf16 out[2];
  f.read_bf16("a", {2}, out);
  CHECK(bf16_to_float(out[0]) == 1.5f);
  CHECK(bf16_to_float(out[1]) == -3.25f);
  f.read_bf16("b", {2}, out);
  CHECK(bf16_to_float(out[0]) == 1.0f);
  CHECK(bf16_to_float(out[1]) == -5.0f);
  REQUIRE_THROWS_WITH(f.read_bf16("b", {3}, out), Contains("tensor 'b' has shape [2], expected [3]"));
}
