// ModelConfig: parameter count, canonical JSON, and range checks.
#include <fmt/format.h>

#include "config_internal.hpp"

namespace foresight::config {

using nlohmann::json;

std::int64_t ModelConfig::weight_params() const {
  // Llama-style decoder: per layer q, k, v, o projections (no bias), gated MLP
  // (gate, up, down), two RMSNorm weights; plus embeddings, final norm and an
  // LM head unless tied. The Forecast projection is counted separately.
  const std::int64_t q = hidden * n_heads * head_dim;
  const std::int64_t kv = 2 * hidden * n_kv_heads * head_dim;
  const std::int64_t o = n_heads * head_dim * hidden;
  const std::int64_t mlp = 3 * hidden * intermediate;
  const std::int64_t per_layer = q + kv + o + mlp + 2 * hidden;
  const std::int64_t embed = vocab * hidden;
  return n_layers * per_layer + embed + (tie_embeddings ? 0 : embed) + hidden;
}

json to_json(const ModelConfig& m) {
  const auto& r = m.rope_scaling;
  const auto& s = m.sparse;
  return json{
      {"name", m.name},
      {"n_layers", m.n_layers},
      {"hidden", m.hidden},
      {"n_heads", m.n_heads},
      {"n_kv_heads", m.n_kv_heads},
      {"head_dim", m.head_dim},
      {"intermediate", m.intermediate},
      {"vocab", m.vocab},
      {"max_context", m.max_context},
      {"rope_theta", m.rope_theta},
      {"rms_eps", m.rms_eps},
      {"tie_embeddings", m.tie_embeddings},
      {"dtype_bytes", m.dtype_bytes},
      {"rope_scaling",
       {{"type", r.type},
        {"factor", r.factor},
        {"low_freq_factor", r.low_freq_factor},
        {"high_freq_factor", r.high_freq_factor},
        {"original_max_position", r.original_max_position}}},
      {"sparse",
       {{"block_tokens", s.block_tokens},
        {"compress_kernel", s.compress_kernel},
        {"compress_stride", s.compress_stride},
        {"topk_blocks", s.topk_blocks},
        {"sink_blocks", s.sink_blocks},
        {"window_blocks", s.window_blocks},
        {"pool_kernel", s.pool_kernel},
        {"pool_stride", s.pool_stride},
        {"pool_padding", s.pool_padding}}},
      {"dsa",
       {{"topk_tokens", m.dsa.topk_tokens},
        {"sink_tokens", m.dsa.sink_tokens},
        {"local_tokens", m.dsa.local_tokens},
        {"indexer_heads", m.dsa.indexer_heads},
        {"indexer_dim", m.dsa.indexer_dim}}},
  };
}

ModelConfig model_from_json(const json& j, const std::string& where) {
  detail::Fields f(j, where, "");
  return detail::model_from_fields(f, "");
}

namespace detail {

ModelConfig model_from_fields(Fields& f, const std::string& fallback_name) {
  ModelConfig m;
  m.name = fallback_name.empty() ? f.string("name") : f.string("name", fallback_name);
  m.n_layers = f.integer("n_layers");
  m.hidden = f.integer("hidden");
  m.n_heads = f.integer("n_heads");
  m.n_kv_heads = f.integer("n_kv_heads");
  if (f.has("head_dim")) {
    m.head_dim = f.integer("head_dim");
  } else {
    // Absent head_dim means hidden / n_heads, which must then divide exactly.
    if (m.n_heads <= 0 || m.hidden % m.n_heads != 0)
      f.fail("head_dim", fmt::format("is missing and hidden ({}) is not divisible by n_heads ({})",
                                     m.hidden, m.n_heads));
    m.head_dim = m.hidden / m.n_heads;
  }
  m.intermediate = f.integer("intermediate");
  m.vocab = f.integer("vocab");
  m.max_context = f.integer("max_context", m.max_context);
  m.rope_theta = f.number("rope_theta", m.rope_theta);
  m.rms_eps = f.number("rms_eps", m.rms_eps);
  m.tie_embeddings = f.boolean("tie_embeddings", m.tie_embeddings);
  m.dtype_bytes = f.integer("dtype_bytes", m.dtype_bytes);

  Fields r = f.table("rope_scaling", false);
  auto& rs = m.rope_scaling;
  rs.type = r.string("type", rs.type);
  rs.factor = r.number("factor", rs.factor);
  rs.low_freq_factor = r.number("low_freq_factor", rs.low_freq_factor);
  rs.high_freq_factor = r.number("high_freq_factor", rs.high_freq_factor);
  rs.original_max_position = r.integer("original_max_position", rs.original_max_position);
  r.finish();
  f.adopt(r);

  Fields s = f.table("sparse", false);
  auto& sp = m.sparse;
  sp.block_tokens = s.integer("block_tokens", sp.block_tokens);
  sp.compress_kernel = s.integer("compress_kernel", sp.compress_kernel);
  sp.compress_stride = s.integer("compress_stride", sp.compress_stride);
  sp.topk_blocks = s.integer("topk_blocks", sp.topk_blocks);
  sp.sink_blocks = s.integer("sink_blocks", sp.sink_blocks);
  sp.window_blocks = s.integer("window_blocks", sp.window_blocks);
  sp.pool_kernel = s.integer("pool_kernel", sp.pool_kernel);
  sp.pool_stride = s.integer("pool_stride", sp.pool_stride);
  sp.pool_padding = s.integer("pool_padding", sp.pool_padding);
  s.finish();
  f.adopt(s);

  Fields d = f.table("dsa", false);
  auto& ds = m.dsa;
  ds.topk_tokens = d.integer("topk_tokens", ds.topk_tokens);
  ds.sink_tokens = d.integer("sink_tokens", ds.sink_tokens);
  ds.local_tokens = d.integer("local_tokens", ds.local_tokens);
  ds.indexer_heads = d.integer("indexer_heads", ds.indexer_heads);
  ds.indexer_dim = d.integer("indexer_dim", ds.indexer_dim);
  d.finish();
  f.adopt(d);

  f.finish();
  validate_model(m, f.where());
  return m;
}

}  // namespace detail
}  // namespace foresight::config
