// Synthetic weights, safetensors parsing (good and malformed files) and HF
// checkpoint loading, single-file and sharded.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>

#include <sys/stat.h>
#include <sys/types.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

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
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const WeightsError& e) {
    return e.what();
  }
  return "(no WeightsError)";
}
// A safetensors file with one tensor "w" of `dtype` and shape [n] whose data
// is `data` (n x element size bytes).
void write_one(const std::filesystem::path& p, const char* dtype, std::size_t n, const void* data,
               std::size_t elem) {
  write_raw(p,
            fmt::format(R"({{"w": {{"dtype": "{}", "shape": [{}], "data_offsets": [0, {}]}}}})",
                        dtype, n, n * elem),
            0);
  std::ofstream(p, std::ios::binary | std::ios::app)
      .write(static_cast<const char*>(data), static_cast<std::streamsize>(n * elem));
}
// Rewrites entry `tensor` of dir's weight_map to `file`.
void set_weight_map(const std::filesystem::path& dir, const std::string& tensor,
                    const std::string& file) {
  const auto index = dir / "model.safetensors.index.json";
  nlohmann::json j = nlohmann::json::parse(std::ifstream(index));
  j["weight_map"][tensor] = file;
  std::ofstream(index) << j.dump(2);
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
  SECTION("a number beyond double (fuzz_safetensors: was an uncaught json out_of_range)") {
    write_raw(dir / "f.safetensors", "{\"x\": 36E0704}", 0);
    REQUIRE_THROWS_AS(SafetensorsFile(dir / "f.safetensors"), WeightsError);
    REQUIRE_THROWS_WITH(SafetensorsFile(dir / "f.safetensors"), Contains("header is not valid JSON"));
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

// Issue #16: a checkpoint index must not make us open files outside the
// checkpoint directory.
TEST_CASE("shard index entries that leave the checkpoint directory are refused") {
  auto m = testing::tiny_model();
  const auto w = make_synthetic_weights(m, 4);
  const auto base = testing::fresh_dir("index_escape");
  const std::string t = "model.layers.1.mlp.down_proj.weight";
  auto fresh = [&](const std::string& name) {
    const auto dir = base / name;
    save_checkpoint(dir, m, w, 3);
    return dir;
  };
  {
    const auto dir = fresh("dotdot");
    set_weight_map(dir, t, "../../../../../../../../../etc/passwd");
    const auto e = error_of([&] { load_checkpoint(dir, m, 1); });
    CHECK_THAT(
        e, Contains(
               (dir / "model.safetensors.index.json").string() + ": weight_map['" + t +
               "'] = '../../../../../../../../../etc/passwd': resolves to /etc/passwd, outside the "
               "checkpoint directory"));
  }
  {
    // A sibling folder's real shard: valid safetensors, still refused.
    const auto dir = fresh("sibling");
    fresh("other");
    set_weight_map(dir, t, "../other/model-00002-of-00003.safetensors");
    CHECK_THAT(error_of([&] { load_checkpoint(dir, m, 1); }),
               Contains("outside the checkpoint directory"));
  }
  {
    const auto dir = fresh("absolute");
    set_weight_map(dir, t, "/etc/passwd");
    CHECK_THAT(error_of([&] { load_checkpoint(dir, m, 1); }),
               Contains("weight_map['" + t + "'] = '/etc/passwd': is an absolute path"));
  }
  {
    // A symlink inside the folder that points out of it.
    const auto dir = fresh("symlink");
    const auto other = fresh("target");
    std::filesystem::create_symlink(other / "model-00002-of-00003.safetensors",
                                    dir / "evil.safetensors");
    set_weight_map(dir, t, "evil.safetensors");
    CHECK_THAT(
        error_of([&] { load_checkpoint(dir, m, 1); }),
        Contains(
            "weight_map['" + t + "'] = 'evil.safetensors': resolves to " +
            std::filesystem::weakly_canonical(other / "model-00002-of-00003.safetensors").string() +
            ", outside the checkpoint directory"));
  }
  {
    // "sub/../x" that stays inside, and a symlink inside pointing inside, load.
    const auto dir = fresh("inside");
    std::filesystem::create_directories(dir / "sub");
    std::filesystem::rename(dir / "model-00002-of-00003.safetensors",
                            dir / "sub" / "shard2.safetensors");
    std::filesystem::create_symlink("sub/shard2.safetensors", dir / "link.safetensors");
    const auto index = dir / "model.safetensors.index.json";
    nlohmann::json j = nlohmann::json::parse(std::ifstream(index));
    for (auto& [k, v] : j["weight_map"].items())
      if (v == "model-00002-of-00003.safetensors")
        v = k == t ? "link.safetensors" : "sub/../sub/shard2.safetensors";
    std::ofstream(index) << j.dump(2);
    const auto r = load_checkpoint(dir, m, 1);
    CHECK(same_bits(r.layers[1].w_down, w.layers[1].w_down));
  }
  {
    // The Hugging Face hub cache: snapshots/<rev>/ holds symlinks into ../../blobs/.
    const auto repo = base / "models--org--tiny";
    const auto snap = repo / "snapshots" / "abc123";
    const auto src = fresh("hub_src");
    std::filesystem::create_directories(snap);
    std::filesystem::create_directories(repo / "blobs");
    int k = 0;
    for (const auto& e : std::filesystem::directory_iterator(src)) {
      const auto blob = repo / "blobs" / ("sha" + std::to_string(k++));
      std::filesystem::copy_file(e.path(), blob);
      std::filesystem::create_symlink(std::filesystem::path("../../blobs") / blob.filename(),
                                      snap / e.path().filename());
    }
    const auto r = load_checkpoint(snap, m, 1);
    CHECK(same_bits(r.layers[1].w_down, w.layers[1].w_down));
    // ... but an entry naming ../../blobs/ itself is still refused.
    set_weight_map(snap, t, "../../blobs/sha0");
    CHECK_THAT(error_of([&] { load_checkpoint(snap, m, 1); }),
               Contains("outside the checkpoint directory"));
  }
}

// Issue #16: a FIFO named model.safetensors made `run` block forever in open().
TEST_CASE("a FIFO or other non-regular file is refused, never opened") {
  auto m = testing::tiny_model();
  const auto dir = testing::fresh_dir("fifo");
  REQUIRE(mkfifo((dir / "model.safetensors").c_str(), 0600) == 0);
  CHECK(error_of([&] { load_checkpoint(dir, m, 1); }) ==
        (dir / "model.safetensors").string() +
            ": is a FIFO (named pipe), not a regular file; refusing to read it");
  std::filesystem::remove(dir / "model.safetensors");
  REQUIRE(mkfifo((dir / "model.safetensors.index.json").c_str(), 0600) == 0);
  CHECK_THAT(error_of([&] { load_checkpoint(dir, m, 1); }),
             Contains("model.safetensors.index.json: is a FIFO (named pipe), not a regular file"));
  REQUIRE(mkfifo((dir / "forecast.safetensors").c_str(), 0600) == 0);
  auto w = make_synthetic_weights(m, 1);
  CHECK_THAT(error_of([&] { load_forecast(dir / "forecast.safetensors", m, w); }),
             Contains("is a FIFO"));
  CHECK_THAT(error_of([&] { SafetensorsFile f(dir); }),
             Contains("is a directory, not a regular file"));
  CHECK_THAT(error_of([&] { SafetensorsFile f("/dev/null"); }), Contains("/dev/null: is a device"));
}

// Issue #16: duplicate names (last won), overlapping data and NaN/Inf
// weights loaded without a word.
TEST_CASE("duplicate tensors, overlapping data and non-finite weights are refused") {
  const auto dir = testing::fresh_dir("st_damage");
  {
    const auto p = dir / "dup.safetensors";
    write_raw(p,
              R"({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]},)"
              R"( "w": {"dtype": "BF16", "shape": [4], "data_offsets": [8, 16]}})",
              16);
    CHECK(error_of([&] { SafetensorsFile f(p); }) ==
          p.string() + ": tensor 'w' appears twice in the header");
  }
  {
    const auto p = dir / "dupkey.safetensors";
    write_raw(
        p,
        R"({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8], "data_offsets": [8, 16]}})",
        16);
    CHECK(error_of([&] { SafetensorsFile f(p); }) ==
          p.string() + ": tensor 'w': key 'data_offsets' appears twice");
  }
  {
    const auto p = dir / "overlap.safetensors";
    write_raw(p,
              R"({"a": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]},)"
              R"( "b": {"dtype": "BF16", "shape": [8], "data_offsets": [8, 24]}})",
              24);
    CHECK(error_of([&] { SafetensorsFile f(p); }) ==
          p.string() + ": tensor 'b': data_offsets [8, 24] overlap those of tensor 'a' [0, 16]");
  }
  {
    // Same range twice, listed in reverse order; empty tensors share offsets freely.
    const auto p = dir / "alias.safetensors";
    write_raw(p,
              R"({"z": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]},)"
              R"( "e": {"dtype": "BF16", "shape": [0], "data_offsets": [0, 0]},)"
              R"( "y": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]}})",
              16);
    CHECK_THAT(error_of([&] { SafetensorsFile f(p); }), Contains("overlap those of tensor"));
    const auto q = dir / "empty.safetensors";
    write_raw(q,
              R"({"z": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]},)"
              R"( "e": {"dtype": "BF16", "shape": [0], "data_offsets": [8, 8]}})",
              16);
    CHECK(error_of([&] { SafetensorsFile f(q); }) == "(no WeightsError)");
  }
  {
    std::uint16_t b[6] = {0x3f80, 0, 0, 0, 0, 0x7fc0};  // 1.0, 0 ... NaN at element 5
    write_one(dir / "nan.safetensors", "BF16", 6, b, 2);
    SafetensorsFile f(dir / "nan.safetensors");
    std::vector<bf16> out(6);
    CHECK(error_of([&] { f.read_bf16("w", {6}, out.data()); }) ==
          (dir / "nan.safetensors").string() + ": tensor 'w': element 5 [5] is not finite (nan)");
  }
  {
    float a[2][3] = {{0.5f, 1.f, 2.f}, {3.f, -std::numeric_limits<float>::infinity(), 0.f}};
    write_raw(dir / "inf.safetensors",
              R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})", 0);
    std::ofstream(dir / "inf.safetensors", std::ios::binary | std::ios::app)
        .write(reinterpret_cast<const char*>(a), 24);
    SafetensorsFile f(dir / "inf.safetensors");
    std::vector<bf16> out(6);
    CHECK(error_of([&] {
            f.read_bf16("w", {2, 3}, out.data());
          }) == (dir / "inf.safetensors").string() +
                    ": tensor 'w': element 4 [1, 1] is not finite (-inf)");
  }
  {
    float a[3] = {0.f, 1.f, std::numeric_limits<float>::max()};  // finite F32, Inf in bf16
    write_one(dir / "big.safetensors", "F32", 3, a, 4);
    SafetensorsFile f(dir / "big.safetensors");
    std::vector<bf16> out(3);
    CHECK_THAT(error_of([&] { f.read_bf16("w", {3}, out.data()); }),
               Contains("tensor 'w': element 2 [2] is not finite (3.4028235e+38 overflows bf16)"));
  }
  {
    std::uint16_t h[2] = {0x3c00, 0x7c00};  // F16 1.0, +Inf
    write_one(dir / "f16.safetensors", "F16", 2, h, 2);
    SafetensorsFile f(dir / "f16.safetensors");
    std::vector<bf16> out(2);
    CHECK_THAT(error_of([&] { f.read_bf16("w", {2}, out.data()); }),
               Contains("element 1 [1] is not finite (inf)"));
  }
  {
    // Through load_checkpoint: a NaN in a real checkpoint names the tensor.
    auto m = testing::tiny_model();
    auto w = make_synthetic_weights(m, 2);
    w.layers[2].wo[77].bits = 0x7f80;  // +Inf
    save_checkpoint(dir / "ckpt", m, w);
    CHECK_THAT(error_of([&] { load_checkpoint(dir / "ckpt", m, 1); }),
               Contains("model.safetensors: tensor 'model.layers.2.self_attn.o_proj.weight': "
                        "element 77 [1, 13] "
                        "is not finite (inf)"));
  }
}
