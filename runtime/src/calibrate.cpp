// Forecast calibration (see calibrate.hpp).
#include "foresight/runtime/calibrate.hpp"

#include <random>
#include <stdexcept>

#include <Eigen/Dense>

#include "foresight/runtime/engine.hpp"

namespace foresight::runtime {
namespace {

using Mat = Eigen::MatrixXd;

std::vector<std::vector<std::int32_t>> random_prompts(const std::vector<std::int64_t>& ctx, std::int64_t vocab,
                                                      std::uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 23);
  std::vector<std::vector<std::int32_t>> p;
  for (auto c : ctx) {
    std::vector<std::int32_t> v(static_cast<std::size_t>(c));
    for (auto& t : v) t = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(vocab));
    p.push_back(std::move(v));
  }
  return p;
}

// `given`, or seeded random prompts of the option's contexts.
std::vector<std::vector<std::int32_t>> prompts_or_random(const std::vector<std::vector<std::int32_t>>& given,
                                                         const CalibrateOptions& o, std::int64_t vocab,
                                                         std::uint64_t seed) {
  return given.empty() ? random_prompts(o.context_tokens, vocab, seed) : given;
}

std::vector<std::int64_t> lengths(const std::vector<std::vector<std::int32_t>>& prompts) {
  std::vector<std::int64_t> n;
  for (const auto& p : prompts) n.push_back(static_cast<std::int64_t>(p.size()));
  return n;
}

// Recall per layer of a sparda-no-offload decode with the current weights.
std::vector<double> measure_recall(const config::ModelConfig& m, const Weights& w, Backend& be,
                                   const CalibrateOptions& o, std::int64_t topk) {
  Recorder rec(be, nullptr);
  const auto check = prompts_or_random(o.check_prompts, o, m.vocab, o.seed);
  EngineOptions eo;
  eo.mode = config::Mode::sparda_no_offload;
  eo.context_tokens = lengths(check);
  eo.max_steps = o.recall_steps;
  eo.topk_blocks = topk;
  eo.measure_recall = true;
  DecodeEngine e(m, w, be, rec, eo);
  e.prefill(check);
  for (std::int64_t s = 0; s < o.recall_steps; ++s) e.step();
  std::vector<double> r;
  for (const auto& c : e.recall_by_layer()) r.push_back(c.recall());
  return r;
}

}  // namespace

CalibrateResult calibrate_forecast(const config::ModelConfig& m, Weights& w, Backend& be,
                                   const CalibrateOptions& o) {
  const std::int64_t topk = o.topk_blocks > 0 ? o.topk_blocks : m.sparse.topk_blocks;
  const int L = static_cast<int>(m.n_layers), H = static_cast<int>(m.hidden);
  const int nh = static_cast<int>(m.n_heads), nkv = static_cast<int>(m.n_kv_heads), hd = static_cast<int>(m.head_dim);
  const int R = static_cast<int>(qkvf_rows(m)), group = nh / nkv;
  CalibrateResult res;
  res.recall_before = measure_recall(m, w, be, o, topk);

  // Collect X (normalised inputs) and Q (group-mean queries) per layer.
  std::vector<std::vector<double>> X(static_cast<std::size_t>(L)), Y(static_cast<std::size_t>(L));
  {
    Recorder rec(be, nullptr);
    // Other random prompts than the recall check's.
    const auto fit_prompts = prompts_or_random(o.fit_prompts, o, m.vocab, o.seed + 1);
    EngineOptions eo;
    eo.mode = config::Mode::dense;
    eo.context_tokens = lengths(fit_prompts);
    eo.max_steps = 1;
    eo.prefill_tap = [&](int l, int rows, const bf16* xn, const bf16* qkvf) {
      std::vector<bf16> hx(static_cast<std::size_t>(rows) * H), hq(static_cast<std::size_t>(rows) * R);
      be.to_host(hx.data(), xn, hx.size() * sizeof(bf16));
      be.to_host(hq.data(), qkvf, hq.size() * sizeof(bf16));
      auto& x = X[static_cast<std::size_t>(l)];
      auto& y = Y[static_cast<std::size_t>(l)];
      for (int r = 0; r < rows; ++r) {
        for (int i = 0; i < H; ++i) x.push_back(bf16_to_float(hx[static_cast<std::size_t>(r) * H + i]));
        for (int g = 0; g < nkv; ++g) {
          for (int d = 0; d < hd; ++d) {
            double s = 0;
            for (int h = g * group; h < (g + 1) * group; ++h) s += bf16_to_float(hq[static_cast<std::size_t>(r) * R + h * hd + d]);
            y.push_back(s / group);
          }
        }
      }
    };
    DecodeEngine e(m, w, be, rec, eo);
    e.prefill(fit_prompts);
  }

  // Ridge fit: W^T = (X^T X + lambda I)^-1 X^T Y, W [nkv*hd, H].
  auto fit = [&](const std::vector<double>& xs, const std::vector<double>& ys, bf16* dst) {
    const Eigen::Index n = static_cast<Eigen::Index>(xs.size() / static_cast<std::size_t>(H));
    if (n == 0) throw std::invalid_argument("calibrate: no prefill activations (contexts must exceed 1 token)");
    Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> Xm(xs.data(), n, H);
    Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> Ym(ys.data(), n, nkv * hd);
    Mat A = Xm.transpose() * Xm;
    const double reg = o.ridge_lambda * A.diagonal().mean();
    A.diagonal().array() += reg;
    const Mat Wt = A.ldlt().solve(Xm.transpose() * Ym);  // [H, nkv*hd]
    res.fit_rel_error.push_back((Xm * Wt - Ym).norm() / std::max(Ym.norm(), 1e-30));
    for (int r = 0; r < nkv * hd; ++r) {
      for (int i = 0; i < H; ++i) dst[static_cast<std::size_t>(r) * H + i] = float_to_bf16(static_cast<float>(Wt(i, r)));
    }
  };
  const std::size_t f_off = static_cast<std::size_t>(nh + 2 * nkv) * hd * H;
  for (int l = 0; l + 1 < L; ++l) {
    fit(X[static_cast<std::size_t>(l)], Y[static_cast<std::size_t>(l + 1)],
        w.layers[static_cast<std::size_t>(l)].wqkvf.data() + f_off);
  }
  fit(X[0], Y[0], w.layer0_selector.data());
  w.forecast_loaded = true;
  res.recall_after = measure_recall(m, w, be, o, topk);
  return res;
}

}  // namespace foresight::runtime
