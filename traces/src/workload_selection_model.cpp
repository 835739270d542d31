// Workload model (see foresight/workload/selection_model.hpp and
// docs/workload-model.md for the semantics).
#include "foresight/workload/selection_model.hpp"
#include "foresight/workload/splitmix64.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace foresight::workload {

struct SelectionModel::Rng : SplitMix64 {
  std::uint64_t below(std::uint64_t n) {  // [0, n), n >= 1
    return std::min<std::uint64_t>(n - 1, static_cast<std::uint64_t>(uniform() * n));
  }
  std::int64_t stochastic_round(double x) {
    const double f = std::floor(x);
    return static_cast<std::int64_t>(f) + (uniform() < x - f ? 1 : 0);
  }
  static Rng seeded(std::uint64_t seed, std::initializer_list<std::uint64_t> keys) {
    Rng r{seed};
    for (std::uint64_t k : keys) r.state = Rng{r.next() ^ k}.next();
    return r;
  }
};

namespace {
using Sel = std::vector<std::uint32_t>;
void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("workload model: " + what);
}
constexpr std::uint64_t kPermKey = 0x7065726d;  // "perm"
constexpr int kMaxTries = 64;                   // Zipf rejections before a rank scan
}  // namespace

SelectionModel::SelectionModel(const SelectionModelParams& p, std::int64_t n_layers,
                               std::int64_t n_kv_heads, std::vector<std::int64_t> context_tokens)
    : p_(p), n_layers_(n_layers), n_kv_heads_(n_kv_heads), context_(std::move(context_tokens)) {
  require(p.topk_blocks >= 1, "topk_blocks must be >= 1");
  require(p.sink_blocks >= 0, "sink_blocks must be >= 0");
  require(p.window_blocks >= 0, "window_blocks must be >= 0");
  require(p.block_tokens >= 1, "block_tokens must be >= 1");
  const auto& l = p.locality;
  require(l.reuse >= 0 && l.reuse <= 1, "workload.reuse must be in [0, 1]");
  require(l.cross_layer >= 0 && l.cross_layer <= 1, "workload.cross_layer must be in [0, 1]");
  require(l.zipf_s >= 0 && std::isfinite(l.zipf_s), "workload.zipf_s must be >= 0 and finite");
  require(n_layers >= 1, "n_layers must be >= 1");
  require(n_kv_heads >= 1, "n_kv_heads must be >= 1");
  require(!context_.empty(), "context_tokens must name at least one sequence");
  for (std::size_t s = 0; s < context_.size(); ++s)
    require(context_[s] >= 0 && context_[s] < (std::int64_t{1} << 40),
            "context_tokens[" + std::to_string(s) + "] must be in [0, 2^40)");
  const std::size_t n_streams = static_cast<std::size_t>(n_layers * n_kv_heads) * context_.size();
  sel_.resize(n_streams);
  last_step_.assign(n_streams, -1);
  perm_.resize(context_.size());
  for (std::size_t s = 0; s < context_.size(); ++s) {
    auto& perm = perm_[s];
    perm.resize(static_cast<std::size_t>(n_blocks(static_cast<std::int32_t>(s), 0)));
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<std::uint32_t>(i);
    Rng rng = Rng::seeded(p.seed, {kPermKey, s});
    for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  }
}

std::int64_t SelectionModel::n_blocks(std::int32_t seq, std::int32_t step) const {
  const std::int64_t tokens = context_.at(static_cast<std::size_t>(seq)) + step + 1;
  return (tokens + p_.block_tokens - 1) / p_.block_tokens;
}

bool SelectionModel::forced(std::int32_t seq, std::int32_t step, std::uint32_t block) const {
  const std::int64_t n = n_blocks(seq, step);
  if (n <= p_.topk_blocks) return block < n;
  const std::int64_t s = std::min(p_.sink_blocks, p_.topk_blocks);
  const std::int64_t w = std::min(p_.window_blocks, p_.topk_blocks - s);
  return block < s || (block >= n - w && block < n);
}

std::size_t SelectionModel::stream_index(std::int32_t layer, std::int32_t seq,
                                         std::int32_t kv_head) const {
  return (static_cast<std::size_t>(layer) * context_.size() + static_cast<std::size_t>(seq)) *
             static_cast<std::size_t>(n_kv_heads_) +
         static_cast<std::size_t>(kv_head);
}

std::uint32_t SelectionModel::rank_to_block(std::int32_t seq, std::uint64_t rank) const {
  const auto& perm = perm_[static_cast<std::size_t>(seq)];
  return rank < perm.size() ? perm[rank] : static_cast<std::uint32_t>(rank);
}

void SelectionModel::extend_zipf(std::int64_t n) {
  double sum = zipf_cdf_.empty() ? 0.0 : zipf_cdf_.back();
  for (std::int64_t i = static_cast<std::int64_t>(zipf_cdf_.size()); i < n; ++i) {
    sum += std::pow(static_cast<double>(i + 1), -p_.locality.zipf_s);
    zipf_cdf_.push_back(sum);
  }
}

const std::vector<std::uint32_t>& SelectionModel::next(std::int32_t step, std::int32_t layer,
                                                       std::int32_t seq, std::int32_t kv_head) {
  require(step >= 0, "step must be >= 0, got " + std::to_string(step));
  require(layer >= 0 && layer < n_layers_, "layer " + std::to_string(layer) + " out of range");
  require(seq >= 0 && seq < static_cast<std::int64_t>(context_.size()),
          "seq " + std::to_string(seq) + " out of range");
  require(kv_head >= 0 && kv_head < n_kv_heads_,
          "kv_head " + std::to_string(kv_head) + " out of range");
  const std::size_t idx = stream_index(layer, seq, kv_head);
  const std::string where = "(layer " + std::to_string(layer) + ", seq " + std::to_string(seq) +
                            ", kv_head " + std::to_string(kv_head) + ")";
  if (last_step_[idx] != step - 1)
    throw std::logic_error("workload model: stream " + where + " asked for step " +
                           std::to_string(step) + " after step " +
                           std::to_string(last_step_[idx]));
  const std::size_t above = layer > 0 ? stream_index(layer - 1, seq, kv_head) : idx;
  if (layer > 0 && last_step_[above] != step)
    throw std::logic_error("workload model: stream " + where + " step " + std::to_string(step) +
                           " asked before layer " + std::to_string(layer - 1) + "'s");

  const std::int64_t n = n_blocks(seq, step);
  out_.clear();
  if (n <= p_.topk_blocks) {
    for (std::int64_t b = 0; b < n; ++b) out_.push_back(static_cast<std::uint32_t>(b));
  } else {
    const std::int64_t s = std::min(p_.sink_blocks, p_.topk_blocks);
    const std::int64_t w = std::min(p_.window_blocks, p_.topk_blocks - s);
    const std::int64_t lo = s, hi = n - w;  // candidates of the free picks
    std::int64_t free_picks = p_.topk_blocks - s - w;
    Rng rng = Rng::seeded(p_.seed, {static_cast<std::uint64_t>(step),
                                    static_cast<std::uint64_t>(layer),
                                    static_cast<std::uint64_t>(seq),
                                    static_cast<std::uint64_t>(kv_head)});
    if (static_cast<std::int64_t>(mark_.size()) < n) mark_.resize(static_cast<std::size_t>(n), 0);
    stamp_ += 4;  // marks this call: +1 in layer l-1's selection, +2 previous, +3 picked
    auto mark = [this](std::uint32_t b) -> std::uint64_t {
      return mark_[b] > stamp_ ? mark_[b] - stamp_ : 0;
    };
    auto pick = [&](std::uint32_t b) {
      mark_[b] = stamp_ + 3;
      out_.push_back(b);
    };
    auto candidate = [&](std::uint32_t b) { return b >= lo && b < hi; };
    // Picks `count` uniformly from pool_[first, end) (partial Fisher-Yates).
    auto pick_from_pool = [&](std::size_t first, std::size_t end, std::int64_t count) {
      for (std::size_t i = first; i < first + static_cast<std::size_t>(count); ++i) {
        std::swap(pool_[i], pool_[i + rng.below(end - i)]);
        pick(pool_[i]);
      }
    };
    for (std::int64_t b = 0; b < s; ++b) out_.push_back(static_cast<std::uint32_t>(b));
    for (std::int64_t b = hi; b < n; ++b) out_.push_back(static_cast<std::uint32_t>(b));

    pool_.clear();  // kept from the previous step
    for (std::uint32_t b : sel_[idx]) {
      mark_[b] = stamp_ + 2;
      if (candidate(b)) pool_.push_back(b);
    }
    const std::int64_t kept = std::min<std::int64_t>(
        static_cast<std::int64_t>(pool_.size()),
        rng.stochastic_round(p_.locality.reuse * static_cast<double>(free_picks)));
    // Blocks layer l-1 also selects at this step are kept first: a block that
    // matters to both layers stays selected in both.
    std::size_t shared = 0;
    if (layer > 0) {
      const Sel& up = sel_[above];
      shared = static_cast<std::size_t>(
          std::stable_partition(pool_.begin(), pool_.end(),
                                [&up](std::uint32_t b) {
                                  return std::binary_search(up.begin(), up.end(), b);
                                }) -
          pool_.begin());
    }
    const auto kept_shared = std::min<std::int64_t>(kept, static_cast<std::int64_t>(shared));
    pick_from_pool(0, shared, kept_shared);
    pick_from_pool(shared, pool_.size(), kept - kept_shared);
    free_picks -= kept;

    if (layer > 0) {  // copied from layer l-1 at this step
      pool_.clear();
      for (std::uint32_t b : sel_[above])
        if (mark(b) == 0) {
          mark_[b] = stamp_ + 1;
          if (candidate(b)) pool_.push_back(b);
        }
      const std::int64_t copies = std::min<std::int64_t>(
          static_cast<std::int64_t>(pool_.size()),
          rng.stochastic_round(p_.locality.cross_layer * static_cast<double>(free_picks)));
      pick_from_pool(0, pool_.size(), copies);
      free_picks -= copies;
    }

    if (free_picks > 0 && static_cast<std::int64_t>(zipf_cdf_.size()) < n) extend_zipf(n);
    const auto cdf_end = zipf_cdf_.begin() + n;
    for (; free_picks > 0; --free_picks) {  // Zipf over the popularity ranks
      bool done = false;
      for (int t = 0; t < kMaxTries && !done; ++t) {
        const double u = rng.uniform() * zipf_cdf_[static_cast<std::size_t>(n - 1)];
        const auto rank = std::min<std::int64_t>(
            n - 1, std::upper_bound(zipf_cdf_.begin(), cdf_end, u) - zipf_cdf_.begin());
        const std::uint32_t b = rank_to_block(seq, static_cast<std::uint64_t>(rank));
        if (candidate(b) && mark(b) == 0) {
          pick(b);
          done = true;
        }
      }
      // Too many rejections: the most popular admissible block, relaxing the
      // exclusions (layer l-1's, then the previous selection's) if none is left.
      for (std::uint64_t level = 0; level < 3 && !done; ++level)
        for (std::int64_t rank = 0; rank < n && !done; ++rank) {
          const std::uint32_t b = rank_to_block(seq, static_cast<std::uint64_t>(rank));
          if (candidate(b) && mark(b) <= level) {
            pick(b);
            done = true;
          }
        }
      if (!done) throw std::logic_error("workload model: no candidate block left (bug)");
    }
  }
  std::sort(out_.begin(), out_.end());
  std::swap(sel_[idx], out_);
  last_step_[idx] = step;
  return sel_[idx];
}

}  // namespace foresight::workload
