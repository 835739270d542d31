// The shapes the GPU checks (tests/kernels_*/gpu_check_{dense,sparse}.cu)
// compare with the CPU references and the kernel benchmarks
// (bench/bench_kernels_{dense,sparse}.cu) time: one list per op, read by both, so a
// shape added for a check is benchmarked and one added for a benchmark is
// checked (test cases double as benchmark cases). `big` cases are left out by
// --quick in both programs. Prefill attention cases longer than
// kAttentionCheckRows query tokens are checked on their last
// kAttentionCheckRows queries (the CPU reference of a 32K prefill would take
// minutes); they are timed whole.
#pragma once

#include <cstdint>
#include <vector>

namespace foresight::testing::cases {

// MiniCPM4.1-8B, the model the kernels are tuned for.
inline constexpr int kHidden = 4096, kHeads = 32, kKvHeads = 2, kHeadDim = 128;
inline constexpr int kInter = 16384, kVocab = 73448;
inline constexpr int kQkvf = (kHeads + 3 * kKvHeads) * kHeadDim;  // fused Q, K, V, Forecast rows

// y [rows, out] (+)= x [rows, in] W^T, W [out, in].
struct GemmCase {
  const char* name;
  int rows, in, out;
  bool accumulate = false;  // y starts random (cuBLAS beta = 1); else the check poisons it
  int pad = 0;              // extra elements per row of x, w and y (ldx = in + pad, ...)
  int offset = 0;           // base pointers this many elements into their allocation (1: 2-byte aligned)
  bool big = false;         // left out by --quick
};

// The projections of a decode batch (rows 1-128) and of a prefill chunk (4096),
// odd sizes (no vector path) and strided / misaligned operands.
inline std::vector<GemmCase> gemm_cases(bool quick) {
  std::vector<GemmCase> v;
  const std::vector<int> rows = quick ? std::vector<int>{1, 3} : std::vector<int>{1, 3, 16, 64, 128, 4096};
  for (int r : rows) {
    v.push_back({"gemm qkv+forecast", r, kHidden, kQkvf, false, 0, 0, r > 128});
    v.push_back({"gemm o_proj +res", r, kHidden, kHidden, true, 0, 0, true});
    v.push_back({"gemm gate+up", r, kHidden, 2 * kInter, false, 0, 0, true});
    v.push_back({"gemm down +res", r, kInter, kHidden, true, 0, 0, true});
    v.push_back({"gemm odd", r, 77, 131});
    v.push_back({"gemm odd +acc", r, 77, 131, true});
  }
  for (int r : {16, 128, 4096}) v.push_back({"gemm lm_head", r, kHidden, kVocab, false, 0, 0, true});
  v.push_back({"gemm pad3 off1", 3, 77, 131, false, 3, 1});
  v.push_back({"gemm pad3 off1 +acc", 3, 77, 131, true, 3, 1});
  v.push_back({"gemm qkv pad8 +acc", 64, kHidden, kQkvf, true, 8, 0, true});
  if (quick) std::erase_if(v, [](const GemmCase& c) { return c.big; });
  return v;
}

inline constexpr std::int64_t kAttentionCheckRows = 256;

// Causal prefill attention of `chunk` queries after a cached prefix of `start`
// tokens; pad: extra elements per token row of q, k/v and o.
struct PrefillAttentionCase {
  std::int64_t start, chunk;
  int nh, nkv, d;
  int pad = 0;
  bool big = false;  // left out by --quick
};

inline std::vector<PrefillAttentionCase> prefill_attention_cases(bool quick) {
  const int NH = kHeads, NKV = kKvHeads, D = kHeadDim;
  std::vector<PrefillAttentionCase> v = {
      {0, 1, NH, NKV, D}, {0, 64, 4, 2, D}, {0, 100, 4, 1, D}, {37, 1, 4, 2, D}, {0, 77, 4, 2, 64},
      {20, 150, 4, 2, D, 3 * 128},
      // MiniCPM heads (cuDNN's shapes): whole prefill, and later chunks (offset causal mask)
      {0, 128, NH, NKV, D}, {128, 64, NH, NKV, D}, {192, 100, NH, NKV, D},
      // prefill chunks of the runtime (--prefill-chunk 4096, 8192)
      {0, 4096, NH, NKV, D}, {0, 8192, NH, NKV, D}};
  const std::vector<PrefillAttentionCase> big = {
      {0, 1000, 4, 2, D}, {768, 256, NH, NKV, D}, {0, 2048, 2, 1, D}, {1500, 129, 8, 2, D}, {0, 333, 8, 8, 64},
      {0, 1000, NH, NKV, D}, {3968, 128, NH, NKV, D}, {1000, 300, NH, NKV, D}, {0, 512, NH, NKV, D, 3 * 128},
      {2048, 512, NH, NKV, D, 3 * 128},
      {28672, 4096, NH, NKV, D},  // last chunk of a chunked 32K prefill
      {0, 32768, NH, NKV, D}};    // the whole 32K prefill in one call
  if (!quick)
    for (PrefillAttentionCase c : big) {
      c.big = true;
      v.push_back(c);
    }
  return v;
}

// Decode attention of one query per sequence: sparse over k_blocks selected
// 64-token blocks in slots plus the tail slot, and dense over a contiguous
// cache of k_blocks * 64 + 37 tokens. splits 0: default_decode_splits.
struct DecodeAttentionCase {
  int batch, n_heads, kv_heads, d, k_blocks, splits;
  const char* why = "";  // what the case exercises
  bool big = false;      // left out by --quick
};

inline std::vector<DecodeAttentionCase> decode_attention_cases(bool quick) {
  std::vector<DecodeAttentionCase> v = {
      {2, 8, 2, 64, 9, 3},
      {2, 32, 2, 128, 5, 0},
      {16, 32, 2, 128, 12, 12, "384 CTAs: the 3-CTAs-per-SM kernel"},
      {1, 16, 1, 64, 200, 1, "50 tiles per warp: slots beyond the 32 prefetched"},
      {2, 32, 2, 128, 2, 8, "more splits than tiles: empty splits"},
      {3, 32, 4, 64, 7, 5, "group of 8 (rows 8..15 of the mma tile zero); flat falls back"},
      {3, 32, 4, 64, 7, 0, "flat grid, 96 CTAs of one tile"},
      {64, 32, 2, 64, 2, 0, "flat grid: 132 CTAs spanning 2-3 short rows each"}};
  const std::vector<DecodeAttentionCase> big = {
      {16, 32, 2, 128, 96, 0, "MiniCPM4.1-8B top-k 96, batch 16"},
      {16, 32, 2, 128, 96, 1},
      {16, 32, 2, 128, 96, 12},
      {4, 32, 8, 128, 40, 7, "Llama-style group of 4"},
      {3, 16, 1, 64, 30, 0},
      {16, 32, 2, 128, 512, 0, "32K tokens per sequence (dense: 32805)"}};
  if (!quick)
    for (DecodeAttentionCase c : big) {
      c.big = true;
      v.push_back(c);
    }
  return v;
}

}  // namespace foresight::testing::cases
