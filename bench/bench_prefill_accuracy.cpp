// Accuracy of dynamic sparse prefill on a real model (issue #18), CPU.
//
// A dense prefill of the prompt (one chunk) hands each layer's Q, K, V (RoPE
// applied) to this program, which then does per layer what the runtime's
// sparse prefill does (the last 64 queries' estimate, a pattern per query
// head for each target recall) and measures, on queries sampled evenly over
// the prompt (not only the estimate's last 64):
//   true recall  share of the dense attention mass (softmax over keys <= i)
//                inside the head's pattern, per query, then mean and 10th
//                percentile over the sampled queries
//   output error ||o_sparse - o_dense|| / ||o_dense|| over the sampled
//                queries and all heads of the layer, where o_sparse is the
//                softmax renormalised over the pattern (what the kernel computes)
// Each layer sees the dense prefill's inputs, so errors do not accumulate.
//
//   bench_prefill_accuracy --checkpoint SmolLM2.gguf --prompt-file T.txt
//       --context 4096 --recall 0.95,0.8 --out accuracy.json
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "foresight/config/sparse_prefill.hpp"
#include "foresight/kernels/rope.hpp"
#include "foresight/kernels/sparse_prefill.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/runtime/prompts.hpp"
#include "foresight/runtime/weights.hpp"

using namespace foresight;
using nlohmann::json;

namespace {

struct Shape {
  int nh, nkv, hd, R;
  std::int64_t T;
};

// Per head: true recall of each sampled query; per layer: squared error and norm sums.
struct HeadStats {
  std::vector<double> recall;
  double err2 = 0, ref2 = 0;
};

// Dense softmax over keys <= i of head h (scaled scores); the mass inside
// `pattern` and the two outputs' squared difference and reference norm.
void measure_query(const Shape& s, const std::vector<float>& q, const std::vector<float>& k,
                   const std::vector<float>& v, int h, std::int64_t i, const kernels::HeadPattern& pattern,
                   HeadStats& out, std::vector<double>& p) {
  const int g = h / (s.nh / s.nkv);
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.hd));
  const float* qi = q.data() + (i * s.nh + h) * s.hd;
  double mx = -INFINITY;
  p.assign(static_cast<std::size_t>(i + 1), 0.0);
  for (std::int64_t j = 0; j <= i; ++j) {
    const float* kj = k.data() + (j * s.nkv + g) * s.hd;
    double d = 0;
    for (int e = 0; e < s.hd; ++e) d += static_cast<double>(qi[e]) * kj[e];
    p[static_cast<std::size_t>(j)] = d * scale;
    mx = std::max(mx, d * scale);
  }
  double z = 0;
  for (auto& x : p) z += (x = std::exp(x - mx));
  std::vector<double> od(static_cast<std::size_t>(s.hd), 0.0), os(od.size(), 0.0);
  double in = 0;
  for (std::int64_t j = 0; j <= i; ++j) {
    const double w = p[static_cast<std::size_t>(j)] / z;
    const bool kept = kernels::sparse_prefill_contains(pattern, i, j);
    const float* vj = v.data() + (j * s.nkv + g) * s.hd;
    for (int e = 0; e < s.hd; ++e) {
      od[static_cast<std::size_t>(e)] += w * vj[e];
      if (kept) os[static_cast<std::size_t>(e)] += w * vj[e];
    }
    in += kept ? w : 0.0;
  }
  out.recall.push_back(in);
  for (int e = 0; e < s.hd; ++e) {
    const double d = os[static_cast<std::size_t>(e)] / std::max(in, 1e-30) - od[static_cast<std::size_t>(e)];
    out.err2 += d * d;
    out.ref2 += od[static_cast<std::size_t>(e)] * od[static_cast<std::size_t>(e)];
  }
}

double percentile(std::vector<double> x, double q) {
  if (x.empty()) return NAN;
  std::sort(x.begin(), x.end());
  return x[static_cast<std::size_t>(q * static_cast<double>(x.size() - 1))];
}

// One layer: RoPE, estimate, choose per recall target, measure on `samples` queries.
json layer_report(const Shape& s, std::vector<bf16>& qkv, const std::vector<float>& inv_freq,
                  const std::vector<double>& recalls, int samples) {
  std::vector<std::int32_t> pos(static_cast<std::size_t>(s.T));
  for (std::int64_t i = 0; i < s.T; ++i) pos[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
  kernels::RopeParams r;
  r.q = qkv.data(); r.k = qkv.data() + s.nh * s.hd; r.positions = pos.data(); r.inv_freq = inv_freq.data();
  r.batch = static_cast<int>(s.T); r.n_heads = s.nh; r.n_kv_heads = s.nkv; r.head_dim = s.hd;
  r.q_batch_stride = s.R; r.k_batch_stride = s.R;
  kernels::rope_cpu(r);
  kernels::PrefillAttentionParams a;
  a.q = qkv.data(); a.k = qkv.data() + s.nh * s.hd; a.v = qkv.data() + (s.nh + s.nkv) * s.hd; a.o = qkv.data();
  a.chunk = s.T; a.n_heads = s.nh; a.n_kv_heads = s.nkv; a.head_dim = s.hd;
  a.q_token_stride = s.R; a.kv_token_stride = s.R;
  const auto est = kernels::estimate_sparse_prefill_cpu(a, config::kSparsePrefillQueries);
  // fp32 copies: Q [T, nh, hd], K and V [T, nkv, hd].
  std::vector<float> q(static_cast<std::size_t>(s.T * s.nh * s.hd)), k(static_cast<std::size_t>(s.T * s.nkv * s.hd)),
      v(k.size());
  for (std::int64_t t = 0; t < s.T; ++t) {
    const bf16* row = qkv.data() + t * s.R;
    for (int e = 0; e < s.nh * s.hd; ++e) q[static_cast<std::size_t>(t * s.nh * s.hd + e)] = bf16_to_float(row[e]);
    for (int e = 0; e < s.nkv * s.hd; ++e) {
      k[static_cast<std::size_t>(t * s.nkv * s.hd + e)] = bf16_to_float(row[s.nh * s.hd + e]);
      v[static_cast<std::size_t>(t * s.nkv * s.hd + e)] = bf16_to_float(row[(s.nh + s.nkv) * s.hd + e]);
    }
  }
  json out = json::array();
  for (double target : recalls) {
    const auto choices = kernels::choose_sparse_prefill(est, target);
    std::vector<HeadStats> heads(static_cast<std::size_t>(s.nh));
    std::vector<std::thread> pool;
    for (int h = 0; h < s.nh; ++h)
      pool.emplace_back([&, h] {
        std::vector<double> p;
        for (int n = 0; n < samples; ++n) {
          const std::int64_t i = (s.T - 1) * (n + 1) / samples;  // evenly over the prompt, the last included
          measure_query(s, q, k, v, h, i, choices[static_cast<std::size_t>(h)].pattern, heads[static_cast<std::size_t>(h)], p);
        }
      });
    for (auto& t : pool) t.join();
    json hj = json::array();
    double err2 = 0, ref2 = 0;
    for (int h = 0; h < s.nh; ++h) {
      const auto& c = choices[static_cast<std::size_t>(h)];
      const auto& st = heads[static_cast<std::size_t>(h)];
      double mean = 0;
      for (double x : st.recall) mean += x / static_cast<double>(st.recall.size());
      err2 += st.err2;
      ref2 += st.ref2;
      hj.push_back({{"kind", kernels::sparse_pattern_name(c.pattern.kind)},
                    {"tile_share", static_cast<double>(c.blocks) / static_cast<double>(config::dense_prefill_tiles(s.T))},
                    {"estimated_recall", c.recall}, {"true_recall_mean", mean},
                    {"true_recall_p10", percentile(st.recall, 0.1)}});
    }
    out.push_back({{"target", target}, {"output_rel_error", std::sqrt(err2 / std::max(ref2, 1e-300))}, {"heads", hj}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Accuracy of dynamic sparse prefill on a real model, per layer and head (CPU)"};
  std::string checkpoint, prompt_file, recalls_s = "0.95,0.8", out = "prefill_accuracy.json";
  std::int64_t context = 4096;
  int samples = 128;
  app.add_option("--checkpoint", checkpoint, "GGUF checkpoint (carries its model and tokenizer)")->required();
  app.add_option("--prompt-file", prompt_file, "UTF-8 text, tokenized by the checkpoint's tokenizer")->required();
  app.add_option("--context", context, "Prompt tokens (default 4096)");
  app.add_option("--recall", recalls_s, "Comma list of target recalls (default 0.95,0.8)");
  app.add_option("--samples", samples, "Queries per head measured, evenly over the prompt (default 128)");
  app.add_option("--out", out, "Output JSON (default prefill_accuracy.json)");
  CLI11_PARSE(app, argc, argv);
  std::vector<double> recalls;
  std::stringstream ss(recalls_s);
  for (std::string x; std::getline(ss, x, ',');) recalls.push_back(std::stod(x));

  const auto m = runtime::checkpoint_model(checkpoint);
  const auto w = runtime::load_checkpoint(checkpoint, m, 1);
  auto text = runtime::read_prompt_text(prompt_file, *runtime::checkpoint_tokenizer(checkpoint));
  if (static_cast<std::int64_t>(text.size()) < context) {
    fmt::print(stderr, "{}: {} tokens, --context asks for {}\n", prompt_file, text.size(), context);
    return 2;
  }
  text.resize(static_cast<std::size_t>(context));
  const Shape s{static_cast<int>(m.n_heads), static_cast<int>(m.n_kv_heads), static_cast<int>(m.head_dim),
                static_cast<int>(runtime::qkvf_rows(m)), context - 1};
  const auto inv_freq = kernels::rope_inv_freq(runtime::rope_frequencies(m), s.hd);
  auto be = runtime::make_cpu_backend();
  runtime::Recorder rec(*be, nullptr);
  runtime::EngineOptions eo;
  eo.mode = config::Mode::dense;
  eo.context_tokens = {context};
  eo.prefill_chunk_tokens = context;
  json layers = json::array();
  eo.prefill_tap = [&](int l, int rows, const bf16*, const bf16* qkvf) {
    std::vector<bf16> qkv(static_cast<std::size_t>(rows) * s.R);
    be->to_host(qkv.data(), qkvf, qkv.size() * sizeof(bf16));
    layers.push_back({{"layer", l}, {"by_target", layer_report(s, qkv, inv_freq, recalls, samples)}});
    fmt::print(stderr, "layer {} done\n", l);
  };
  runtime::DecodeEngine e(m, w, *be, rec, eo);
  e.prefill({text});
  const json report{{"checkpoint", checkpoint}, {"prompt_file", prompt_file}, {"context", context},
                    {"samples_per_head", samples}, {"layers", layers}};
  std::ofstream(out) << report.dump(1) << "\n";
  return 0;
}
