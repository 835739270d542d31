// GPU check: the CUDA backend decodes the same tokens as the CPU backend on a
// small model with GPU-supported shapes (head_dim 128, 64-token blocks), in
// every implemented mode. Exit 77 without a GPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "foresight/runtime/engine.hpp"
#include "foresight/runtime/selection_source.hpp"
#include "gpu_present.hpp"

using namespace foresight;
using namespace foresight::runtime;

namespace {
config::ModelConfig small_model() {
  config::ModelConfig m;
  m.name = "gpu-check";
  m.n_layers = 3; m.hidden = 256; m.n_heads = 8; m.n_kv_heads = 2; m.head_dim = 128;
  m.intermediate = 512; m.vocab = 1000; m.max_context = 8192;
  m.sparse.topk_blocks = 6; m.sparse.window_blocks = 2;
  return m;
}

struct Out {
  std::vector<std::vector<std::int32_t>> tokens;
  std::vector<float> logits;
  std::vector<std::vector<float>> step_logits;  // [step][batch * vocab]
  std::vector<std::uint32_t> selections;  // every recorded selection row
  std::string trace_problem;              // empty: the decode ops' times are consistent
  std::size_t patterns = 0;               // sparse prefill: /prefill_patterns records
};

// Decode steps 1.. replay a CUDA graph whose op events are graph nodes: every
// step must have the same ops, each inside its step's span, and the ops of
// the main stream must not overlap.
std::string check_trace_times(const trace::Trace& t) {
  std::vector<std::size_t> per_step;
  for (const auto& s : t.steps) {
    if (s.phase != trace::Phase::decode) continue;
    std::size_t n = 0;
    std::int64_t main_end = s.start_ns;
    for (const auto& o : t.ops) {
      if (o.phase != trace::Phase::decode || o.step != s.step) continue;
      ++n;
      if (o.start_ns < s.start_ns || o.end_ns > s.end_ns || o.end_ns < o.start_ns) {
        return "step " + std::to_string(s.step) + ": an op lies outside the step span";
      }
      if (o.stream == 0) {
        if (o.start_ns < main_end) return "step " + std::to_string(s.step) + ": main-stream ops overlap";
        main_end = o.end_ns;
      }
    }
    per_step.push_back(n);
  }
  for (std::size_t i = 2; i < per_step.size(); ++i) {
    if (per_step[i] != per_step[1]) return "decode steps have different op counts";
  }
  // Gather ops carry the bytes the cache loaded, in replayed steps too.
  for (const auto& s : t.steps) {
    if (s.phase != trace::Phase::decode) continue;
    std::uint64_t gathered = 0, loaded = 0;
    for (const auto& o : t.ops) {
      const auto& name = t.stages.at(o.stage);
      if (o.phase == trace::Phase::decode && o.step == s.step && (name == "h2d_gather" || name == "d2d_gather"))
        gathered += o.bytes;
    }
    for (const auto& c : t.cache) loaded += c.step == s.step ? c.loaded_bytes : 0;
    if (gathered != loaded) {
      return "step " + std::to_string(s.step) + ": gather ops carry " + std::to_string(gathered) +
             " bytes, the cache loaded " + std::to_string(loaded);
    }
  }
  return {};
}

struct Prefill {
  config::PrefillAttention attention = config::PrefillAttention::dense;
  double recall = 0.95;
};

Out decode(Backend& be, config::Mode mode, std::int64_t topk, bool synthetic, std::int64_t cache_blocks,
           bool workload, Prefill prefill = {}) {
  auto m = small_model();
  if (config::mode_traits(mode).selects_tokens()) m.dsa.topk_tokens = topk;  // DSA: topk counts tokens
  auto w = make_synthetic_weights(m, 4);
  MemoryTraceSink sink({}, static_cast<std::uint32_t>(topk));
  Recorder rec(be, &sink);
  config::RunConfig run;
  run.mode = mode;
  run.batch = 3;
  run.topk_blocks = topk;
  run.seed = 5;
  run.context_tokens = {1020, 333, 70};
  run.decode_steps = 8;
  run.warmup_steps = 0;
  std::unique_ptr<ExternalSelections> sel;
  if (workload) sel = make_workload_selections(m, run);
  EngineOptions o;
  o.mode = mode;
  o.context_tokens = run.context_tokens;  // the first crosses a block boundary while decoding
  o.max_steps = 8;
  o.topk_blocks = topk;
  o.cache_blocks = cache_blocks;
  o.selections = sel.get();
  o.synthetic_prefill = synthetic;
  o.prefill_chunk_tokens = 256;
  o.prefill_attention = prefill.attention;
  o.prefill_recall = prefill.recall;
  o.kernels = config::kernel_options_from_env();  // the host gather's kernel (FORESIGHT_KV_GATHER)
  if (config::prefill_is_sparse(prefill.attention)) o.prefill_chunk_tokens = 1024;  // one chunk per prompt
  DecodeEngine e(m, w, be, rec, o);
  std::mt19937_64 rng(9);
  std::vector<std::vector<std::int32_t>> prompts;
  for (auto c : o.context_tokens) {
    std::vector<std::int32_t> p(static_cast<std::size_t>(c));
    for (auto& t : p) t = static_cast<std::int32_t>(rng() % 1000);
    prompts.push_back(p);
  }
  e.prefill(prompts);
  Out r;
  for (int s = 0; s < 8; ++s) {
    r.tokens.push_back(e.step());
    r.step_logits.push_back(e.last_logits());
  }
  r.logits = e.last_logits();
  rec.close(trace::RunStatus::complete);
  r.selections = config::mode_traits(mode).selects_tokens() ? sink.trace().token_ids : sink.trace().selection_blocks;
  r.trace_problem = check_trace_times(sink.trace());
  r.patterns = sink.trace().prefill_patterns.size();
  return r;
}
}  // namespace

// Usage: gpu_check_runtime [--only N]   (N: run only case N, e.g. under compute-sanitizer)
int main(int argc, char** argv) {
  const int only = argc == 3 && std::string(argv[1]) == "--only" ? std::atoi(argv[2]) : -1;
  testing::require_gpu_or_skip("gpu_check_runtime");
  auto cpu = make_cpu_backend();
  auto gpu = make_backend("cuda", config::kernel_options_from_env());
  int failures = 0;
  using config::Mode;
  int case_index = 0;
  // Synthetic prefill fills the KV with i.i.d. values, so block scores are
  // near-ties and CPU/GPU rounding can flip a selection: those cases use the
  // workload model's selections (workload = true) to compare everything else
  // exactly, and the model-selected synthetic cases are reported, not judged.
  // Sparse prefill: at recall 1 every head keeps full coverage (judged); below
  // it the CPU and GPU estimates (cuBLAS vs CPU projections) may pick other
  // patterns near a threshold, so those cases are reported, not judged.
  using PA = config::PrefillAttention;
  struct Case {
    Mode mode; std::int64_t topk; bool synthetic; std::int64_t cache_blocks = 0; bool workload = false;
    Prefill prefill = {};
  };
  for (const Case c : {Case{Mode::dense, 6, false}, Case{Mode::sparse, 6, false}, Case{Mode::sparse, 20, false},
                       Case{Mode::sparda_no_offload, 6, false}, Case{Mode::sparse, 6, true, 0, true},
                       Case{Mode::sparse_offload, 6, false}, Case{Mode::sparda_no_prefetch, 6, false},
                       Case{Mode::sparda, 6, false}, Case{Mode::sparda, 6, true, 0, true},
                       Case{Mode::sparda, 6, false, 10}, Case{Mode::sparda, 6, false, 10, true},
                       Case{Mode::sparse_offload, 6, true, 0, true}, Case{Mode::dense, 6, true},
                       Case{Mode::sparse, 6, true}, Case{Mode::sparda, 6, true},
                       Case{Mode::sparse, 20, true}, Case{Mode::sparse, 20, true, 0, true},
                       Case{Mode::sparse, 6, false, 0, true}, Case{Mode::sparse, 6, true, 10, true},
                       // DSA (topk in tokens): every token selected, then 256 of up to 1027.
                       Case{Mode::dsa, 2048, false}, Case{Mode::dsa, 256, false}, Case{Mode::dsa_offload, 256, false},
                       Case{Mode::dense, 6, false, 0, false, {PA::dynamic_sparse, 1.0}},
                       Case{Mode::sparda, 6, false, 0, true, {PA::dynamic_sparse, 1.0}},
                       Case{Mode::dense, 6, false, 0, false, {PA::dynamic_sparse, 0.8}},
                       Case{Mode::sparse, 6, false, 0, true, {PA::triangular, 0.9}},
                       Case{Mode::dense, 6, false, 0, false, {PA::interval_slash, 0.9}}}) {
    if (only >= 0 && case_index++ != only) continue;
    const auto a = decode(*cpu, c.mode, c.topk, c.synthetic, c.cache_blocks, c.workload, c.prefill);
    const auto b = decode(*gpu, c.mode, c.topk, c.synthetic, c.cache_blocks, c.workload, c.prefill);
    double maxd = 0, maxa = 0;
    for (std::size_t i = 0; i < a.logits.size(); ++i) {
      maxd = std::max(maxd, static_cast<double>(std::fabs(a.logits[i] - b.logits[i])));
      maxa = std::max(maxa, static_cast<double>(std::fabs(a.logits[i])));
    }
    std::size_t same = 0, total = 0;
    int first_step = -1, first_seq = -1;
    bool tie = false;  // the first different token followed a (near-)tie of the two best logits
    for (std::size_t s = 0; s < a.tokens.size(); ++s)
      for (std::size_t q = 0; q < a.tokens[s].size(); ++q) {
        ++total;
        same += a.tokens[s][q] == b.tokens[s][q];
        if (a.tokens[s][q] != b.tokens[s][q] && first_step < 0) {
          first_step = static_cast<int>(s);
          first_seq = static_cast<int>(q);
        }
      }
    if (first_step >= 0) {
      // Where the first tokens differ, how far apart were the two best
      // logits? A gap within bf16 rounding is a near-tie, not a wrong value.
      auto gap = [&](const Out& o) {
        const auto& lg = o.step_logits[static_cast<std::size_t>(first_step)];
        const std::size_t vocab = lg.size() / o.tokens[0].size();
        float best = -1e30f, second = -1e30f;
        for (std::size_t v = 0; v < vocab; ++v) {
          const float x = lg[static_cast<std::size_t>(first_seq) * vocab + v];
          if (x > best) { second = best; best = x; } else if (x > second) { second = x; }
        }
        return best - second;
      };
      const float ga = gap(a), gb = gap(b);
      tie = std::min(ga, gb) <= 1.f / 64;  // two bf16 ulps at |logit| ~ 1
      std::printf("  first different token: step %d, sequence %d; top-2 logit gap there: cpu %.5f, cuda %.5f%s\n",
                  first_step, first_seq, static_cast<double>(ga), static_cast<double>(gb),
                  tie ? " (a tie: the sequences legitimately diverge from here)" : "");
    }
    const bool sparse_prefill = config::prefill_is_sparse(c.prefill.attention);
    const bool judged = !(c.synthetic && !c.workload && c.mode != Mode::dense) &&
                        !(sparse_prefill && c.prefill.recall < 1.0);
    // A DSA top-k below the context ranks indexer scores computed from keys
    // projected by cuBLAS on one side and the CPU GEMM on the other: bf16
    // rounding moves near-equal scores across the threshold, so its token
    // selections are reported, and the case is judged on the tokens.
    const bool selection_judged = judged && !(config::mode_traits(c.mode).selects_tokens() && c.topk < 1027);
    if (!b.trace_problem.empty()) std::printf("  cuda trace: %s\n", b.trace_problem.c_str());
    const bool ok = b.trace_problem.empty() && (same == total || tie) && a.selections.size() == b.selections.size() &&
                    a.patterns == b.patterns && (!sparse_prefill || a.patterns > 0) &&
                    (!selection_judged || tie || a.selections == b.selections);
    std::size_t sel_same = 0;
    for (std::size_t i = 0; i < std::min(a.selections.size(), b.selections.size()); ++i)
      sel_same += a.selections[i] == b.selections[i];
    if (sparse_prefill)
      std::printf("  prefill %s recall %.2f: %zu pattern records (cpu), %zu (cuda)\n",
                  config::to_string(c.prefill.attention), c.prefill.recall, a.patterns, b.patterns);
    std::printf("%-18s topk %2lld cache %2lld %s %s: tokens %zu/%zu equal, selections %zu/%zu equal, last logits "
                "max|diff| %.4g (max|logit| %.4g) %s\n",
                config::to_string(c.mode), static_cast<long long>(c.topk), static_cast<long long>(c.cache_blocks),
                c.synthetic ? "synthetic" : "real     ", c.workload ? "workload" : "model   ", same, total, sel_same,
                a.selections.size(), maxd, maxa, !judged ? "INFO" : !ok ? "FAIL" : tie ? "OK (tie)" : "OK");
    failures += ((ok || !judged) && b.trace_problem.empty()) ? 0 : 1;
  }
  return failures == 0 ? 0 : 1;
}
