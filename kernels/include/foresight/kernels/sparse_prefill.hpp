// Dynamic sparse prefill (SparseAccelerate, arXiv 2412.06198, with a
// MInference-style estimate): per query head one of three causal patterns,
// lowered to a block-sparse layout that the attention kernel runs.
//
// Positions: a whole-prompt prefill (PrefillAttentionParams with start 0):
// query i sits at position i and sees keys j <= i. Blocks are
// kSparsePrefillBlock = 64 tokens on both sides: query block b holds queries
// [64 b, 64 b + 64), key block k keys [64 k, 64 k + 64). Element (i, j) of a
// head is computed iff j <= i and the head's pattern contains it:
//   Triangular{S, W}:            j < S  or  i - j < W           (sink + local band)
//   IntervalSlash{C, O}:         j in C  or  i - j in O          (vertical columns + slash lines)
//   BlockCluster{L, K}:          kb(j) in K  or  qb(i) - kb(j) <= L  (dense tiles)
// Every pattern contains the diagonal i == j (W >= 1, 0 in O, L >= 0), so no
// row is empty. A pattern that contains every causal element gives dense
// causal attention.
//
// Lowering gives each (head, query block) a sorted list of key tiles:
//   - a key block kb (64 consecutive keys). Unmasked: every causal element
//     of the tile is in the pattern. Masked (kTileMasked): the head's element
//     rule decides per element: Triangular: j < S || i - j < W; IntervalSlash:
//     i - j in O && j not in C (columns are computed in gathered tiles).
//   - IntervalSlash only, a gathered tile (kTileGathered | g): the columns
//     C[64 g, 64 g + 64) of the head, K/V rows gathered; element (i, c)
//     computed iff c <= i. Query block b lists the chunks of the columns
//     c <= 64 b + 63.
// Cost ("blocks computed") = number of tiles; dense = Q (Q + 1) / 2 for Q
// query blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/cuda_stream.hpp"
#include "foresight/kernels/prefill_attention.hpp"

namespace foresight::kernels {

inline constexpr int kSparsePrefillBlock = 64;  // tokens per query block and per key block

enum class SparsePatternKind : std::int32_t { triangular = 0, interval_slash = 1, block_cluster = 2 };
const char* sparse_pattern_name(SparsePatternKind kind);  // "triangular", "interval-slash", "block-cluster"

struct TriangularPattern {
  std::int64_t sink_tokens = 0;   // S: keys [0, S) for every query
  std::int64_t local_tokens = 1;  // W >= 1: keys (i - W, i] for query i
};
struct IntervalSlashPattern {
  std::vector<std::int64_t> columns;  // C: key positions, ascending, distinct
  std::vector<std::int64_t> slashes;  // O: offsets i - j >= 0, ascending, distinct, must contain 0
};
struct BlockClusterPattern {
  std::int64_t local_blocks = 0;        // L >= 0: key blocks [qb - L, qb] for query block qb
  std::vector<std::int64_t> key_blocks; // K: key blocks every later query block also sees, ascending, distinct
};
struct HeadPattern {
  SparsePatternKind kind = SparsePatternKind::triangular;
  TriangularPattern triangular;        // used when kind == triangular
  IntervalSlashPattern interval_slash; // used when kind == interval_slash
  BlockClusterPattern block_cluster;   // used when kind == block_cluster
};

// The definition above, element by element (tests use it as the oracle).
bool sparse_prefill_contains(const HeadPattern& pattern, std::int64_t i, std::int64_t j);
// Throws std::invalid_argument (op "sparse_prefill", naming the field) when a
// pattern is malformed for `tokens` keys.
void validate_head_pattern(const HeadPattern& pattern, std::int64_t tokens);

// Tile entry bits: low 28 bits the key block (or the gathered chunk).
inline constexpr std::int32_t kTileGathered = 1 << 28;
inline constexpr std::int32_t kTileMasked = 1 << 29;
inline constexpr std::int32_t kTileIndexMask = (1 << 28) - 1;

// Per head element rule for masked tiles.
enum class SparseRule : std::int32_t { causal = 0, triangular = 1, slash = 2 };
struct SparseHeadRule {
  SparseRule rule = SparseRule::causal;
  std::int32_t sink_tokens = 0;   // triangular
  std::int32_t local_tokens = 0;  // triangular
};

// Lowered layout of all heads of one prefill of `tokens` tokens (host memory).
struct SparsePrefillLayout {
  std::int64_t tokens = 0;
  int n_heads = 0;
  std::int64_t q_blocks = 0;                // ceil(tokens / 64)
  std::int64_t words = 0;                   // ceil(tokens / 64): 64-bit words per head in the bit sets
  std::vector<std::int64_t> tile_offsets;   // [n_heads * q_blocks + 1]: (h, b) owns tiles [off[h Q + b], off[h Q + b + 1])
  std::vector<std::int32_t> tiles;          // tile entries (see above), ascending key block, then gathered chunks
  std::vector<SparseHeadRule> rules;        // [n_heads]
  std::vector<std::int64_t> column_offsets; // [n_heads + 1]: head h's columns are columns[off[h], off[h + 1])
  std::vector<std::int32_t> columns;        // ascending key positions per head
  std::vector<std::uint64_t> column_bits;   // [n_heads, words]: bit j % 64 of word j / 64 set iff j in C
  std::vector<std::uint64_t> slash_bits;    // [n_heads, words]: bit o % 64 of word o / 64 set iff o in O

  std::int64_t blocks_computed(int head) const;  // tiles of one head
  std::int64_t blocks_computed() const { return static_cast<std::int64_t>(tiles.size()); }
};
inline std::int64_t dense_causal_blocks(std::int64_t tokens) {
  const std::int64_t q = (tokens + kSparsePrefillBlock - 1) / kSparsePrefillBlock;
  return q * (q + 1) / 2;
}

// O(tokens / 64 * tiles per block + |C| + |O|) per head. patterns.size() is
// the number of query heads.
SparsePrefillLayout lower_sparse_prefill(std::span<const HeadPattern> patterns, std::int64_t tokens);

// Pointers to a layout, host or device memory (same fields as above).
struct SparsePrefillLayoutView {
  std::int64_t q_blocks = 0, words = 0;
  const std::int64_t* tile_offsets = nullptr;
  const std::int32_t* tiles = nullptr;
  const SparseHeadRule* rules = nullptr;
  const std::int64_t* column_offsets = nullptr;
  const std::int32_t* columns = nullptr;
  const std::uint64_t* column_bits = nullptr;
  const std::uint64_t* slash_bits = nullptr;
};
SparsePrefillLayoutView host_view(const SparsePrefillLayout& layout);

// Block-sparse causal attention: attn as for prefill_attention (start must
// be 0, attn.chunk == the layout's tokens, n_heads == the layout's heads);
// only the layout's elements are computed, softmax over them. bf16 in/out,
// fp32 scores and accumulation. The CPU reference visits a query's elements
// in ascending key order with the arithmetic of prefill_attention_cpu, so a
// full-coverage layout gives its bits exactly.
struct SparsePrefillParams {
  PrefillAttentionParams attn;
  SparsePrefillLayoutView layout;
};
void sparse_prefill_cpu(const SparsePrefillParams& p);

// Estimate: attention of the last n_last queries (positions tokens - n_last
// .. tokens - 1; n_last clipped to tokens) over all their keys, per head,
// summarised as means over those queries (each row sums to 1, so each
// summary sums to 1 per head):
struct SparsePrefillEstimate {
  int n_heads = 0;
  std::int64_t tokens = 0;
  int n_last = 0;
  std::vector<float> key_mass;           // [n_heads, tokens]: at key j
  std::vector<float> offset_mass;        // [n_heads, tokens]: at offset o = i - j
  std::vector<float> block_offset_mass;  // [n_heads, q_blocks]: at key block qb(i) - t
};
SparsePrefillEstimate estimate_sparse_prefill_cpu(const PrefillAttentionParams& attn, int n_last);

// Per head, the pattern (and its parameters) whose estimated recall (mass of
// the estimate inside the pattern) reaches target_recall at the fewest
// blocks; ties go to Triangular, then Block-Cluster, then Interval-Slash.
// Parameters are searched at block granularity (S multiple of 64, W = 64 w + 1,
// columns and slashes taken by mass), and masses are counted so that no
// element of the estimate is counted twice, so `recall` is exact for the
// estimate's queries. Heuristics: absolute parts (columns, Block-Cluster key
// blocks) are not placed in the 256 keys before the estimated queries (they
// would be credited with those queries' local band while costing only the
// last query blocks); Interval-Slash tries bands [0, 64 w + 1), w <= 3, plus
// two far-slash sets taken by mass. Falls back to full coverage (Block-Cluster with
// L = q_blocks - 1, recall 1; of the first allowed kind when Block-Cluster is
// not allowed). Per head: ~6 O(tokens) passes for Interval-Slash, O(q_blocks
// log q_blocks) for Triangular and per Block-Cluster local width (a heap
// over key blocks); heads run on the cpu_threads() pool. 128K tokens x 32
// heads: ~45 ms on one core.
struct SparsePrefillChoice {
  HeadPattern pattern;
  std::int64_t blocks = 0;  // tiles the lowered pattern computes
  double recall = 0;        // estimated
};
// kinds: a mask of the pattern kinds to try (bit 1 << int(kind)); with one
// kind, every head gets that kind (its full-coverage form when the target is
// out of reach), as the benchmark's fixed-pattern rows use.
inline constexpr unsigned kAllSparsePatterns = 7u;
std::vector<SparsePrefillChoice> choose_sparse_prefill(const SparsePrefillEstimate& estimate, double target_recall,
                                                       unsigned kinds = kAllSparsePatterns);

// The GPU estimate splits each head's keys into runs of this many 64-key
// tiles (one CTA each, per 64 estimated rows); its scratch, in floats:
inline constexpr int kSparsePrefillEstimateTilesPerSplit = 16;
inline std::int64_t sparse_prefill_estimate_splits(std::int64_t tokens) {
  const std::int64_t tiles = (tokens + kSparsePrefillBlock - 1) / kSparsePrefillBlock;
  return (tiles + kSparsePrefillEstimateTilesPerSplit - 1) / kSparsePrefillEstimateTilesPerSplit;
}
inline std::int64_t sparse_prefill_estimate_scratch_floats(int n_heads, std::int64_t tokens, int n_last) {
  const std::int64_t rows = std::min<std::int64_t>(n_last, tokens);
  const std::int64_t chunks = (rows + kSparsePrefillBlock - 1) / kSparsePrefillBlock;
  return 2 * kSparsePrefillBlock * n_heads * chunks * sparse_prefill_estimate_splits(tokens);
}

#ifdef FORESIGHT_HAVE_CUDA
// Block-sparse attention on the GPU: p.layout points to device memory (see
// SparsePrefillDeviceLayout). mma.sync bf16 tensor cores, tiles of 64 keys,
// online softmax; head_dim 64 or 128. Variants (same results, bit for bit):
// 0: a CTA per (head, query block of 64 rows); 1: a CTA per (head, two
// adjacent query blocks), each K/V tile read once for both (the union of
// their lists), 32 rows per warp. sparse_prefill_cuda runs the default.
inline constexpr int kSparsePrefillVariants = 2;
inline constexpr int kSparsePrefillDefaultVariant = 1;
void sparse_prefill_cuda(const SparsePrefillParams& p, cudaStream_t stream);
void sparse_prefill_cuda_variant(const SparsePrefillParams& p, int variant, cudaStream_t stream);

// Device copy of a layout (cudaMalloc'd, freed by the destructor).
class SparsePrefillDeviceLayout {
 public:
  SparsePrefillDeviceLayout() = default;
  explicit SparsePrefillDeviceLayout(const SparsePrefillLayout& layout) { upload(layout); }
  ~SparsePrefillDeviceLayout();
  SparsePrefillDeviceLayout(const SparsePrefillDeviceLayout&) = delete;
  SparsePrefillDeviceLayout& operator=(const SparsePrefillDeviceLayout&) = delete;
  void upload(const SparsePrefillLayout& layout);  // synchronous
  SparsePrefillLayoutView view() const { return view_; }

 private:
  void release();
  void* mem_ = nullptr;
  SparsePrefillLayoutView view_;
};

// Estimate on the GPU: key_mass, offset_mass [n_heads, tokens] and
// block_offset_mass [n_heads, q_blocks] (device, fp32) are overwritten;
// scratch holds sparse_prefill_estimate_scratch_floats(n_heads, tokens,
// n_last) floats (per head, row and key split, a partial max and sum).
// Tensor cores (bf16 scores, fp32 accumulation); sums use atomics, so the
// bits vary from run to run (relative error ~1e-6).
void estimate_sparse_prefill_cuda(const PrefillAttentionParams& attn, int n_last, float* key_mass,
                                  float* offset_mass, float* block_offset_mass, float* scratch,
                                  cudaStream_t stream);
#endif

}  // namespace foresight::kernels
