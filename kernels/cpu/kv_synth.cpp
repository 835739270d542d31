// CPU reference for synthetic KV (see kv_synth.hpp): the value definition is
// kv_synth_value() in the header, rounded with float_to_bf16 (RNE), exactly
// as the CUDA kernel does.
#include "foresight/kernels/kv_synth.hpp"

namespace foresight::kernels {

void kv_synth_cpu(const KvSynthParams& p) {
  validate_kv_synth(p);
  for (int g = 0; g < p.kv_heads; ++g)
    for (std::int64_t t = 0; t < p.tokens; ++t) {
      bf16* row = p.dst + g * p.head_stride + t * p.token_stride;
      for (int d = 0; d < p.head_dim; ++d)
        row[d] = float_to_bf16(kv_synth_value(p.seed, g, t, d, p.head_dim, p.stddev));
    }
}

}  // namespace foresight::kernels
