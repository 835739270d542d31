// GPU check of the fused decode rope + q gather + K/V append: rope_append_cuda
// against rope_cuda + cudaMemcpy2DAsync of q + kv_append_cuda, bit for bit in
// every buffer (QKVF rows, q_out, store K/V, tail-slot K/V, tail_block), all
// poisoned alike (0xFF) before the run. MiniCPM4.1-8B shapes (32 q heads,
// 2 KV heads, head_dim 128); positions up to 131071 (angles ~1.3e5 rad);
// store in GPU memory or mapped pinned host memory; a head_dim-24 case for
// the unfused fallback; one run captured in a CUDA graph. One line per case,
// "N passed, M failed"; exits 77 without a GPU. --quick: a smaller grid.
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "foresight/kernels/rope_append.hpp"
#include "gpu_check_util.cuh"
#include "gpu_present.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {

// Bytes on the GPU or in mapped pinned host memory, filled with 0xFF.
class Raw {
 public:
  Raw(std::size_t bytes, bool host) : bytes_(bytes), host_(host) {
    if (host_) {
      FORESIGHT_CUDA_CHECK(cudaHostAlloc(&ptr_, bytes_, cudaHostAllocMapped));
      std::memset(ptr_, 0xFF, bytes_);
    } else {
      FORESIGHT_CUDA_CHECK(cudaMalloc(&ptr_, bytes_));
      FORESIGHT_CUDA_CHECK(cudaMemset(ptr_, 0xFF, bytes_));
    }
  }
  ~Raw() { host_ ? cudaFreeHost(ptr_) : cudaFree(ptr_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }  // UVA: also the device address of mapped memory
  std::size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_;
  bool host_;
};

__global__ void count_diff(const std::uint16_t* a, const std::uint16_t* b, std::size_t n, unsigned long long* out) {
  unsigned long long local = 0;
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x)
    local += a[i] != b[i];
  if (local) atomicAdd(out, local);
}

double mismatches(const Raw& a, const Raw& b) {
  unsigned long long* d = nullptr;
  FORESIGHT_CUDA_CHECK(cudaMalloc(&d, sizeof(*d)));
  FORESIGHT_CUDA_CHECK(cudaMemset(d, 0, sizeof(*d)));
  count_diff<<<1024, 256>>>(a.as<std::uint16_t>(), b.as<std::uint16_t>(), a.bytes() / 2, d);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  unsigned long long n = 0;
  FORESIGHT_CUDA_CHECK(cudaMemcpy(&n, d, sizeof(n), cudaMemcpyDeviceToHost));
  cudaFree(d);
  return static_cast<double>(n);
}

struct Case {
  int batch = 1;
  bool f = true, slots = true, store = true, q_out = true, host_store = false, graph = false;
  std::int64_t max_tokens = 131072;
  int max_pos = 131071;
  int nh = 32, nkv = 2, d = 128;
};

std::string describe(const Case& c) {
  std::string s = "b" + std::to_string(c.batch) + " d" + std::to_string(c.d) + " pos<=" + std::to_string(c.max_pos);
  if (c.f) s += " +f";
  if (c.slots) s += " +slots";
  if (c.store) s += c.host_store ? " +hoststore" : " +store";
  if (c.q_out) s += " +q_out";
  if (c.graph) s += " graph";
  return s;
}

// One side's buffers (fused or reference).
struct Side {
  Raw qkvf, q_out, store_k, store_v, slots_k, slots_v, tail;
  Side(const Case& c, std::size_t row, std::size_t seqs, int slots_per_row, int block_tokens)
      : qkvf(c.batch * row * 2, false),
        q_out(std::size_t(c.batch) * c.nh * c.d * 2, false),
        store_k(seqs * c.nkv * c.max_tokens * c.d * 2, c.host_store),
        store_v(seqs * c.nkv * c.max_tokens * c.d * 2, c.host_store),
        slots_k(seqs * c.nkv * slots_per_row * block_tokens * c.d * 2, false),
        slots_v(seqs * c.nkv * slots_per_row * block_tokens * c.d * 2, false),
        tail(seqs * c.nkv * 4, false) {}
};

double check(const Case& c, std::uint64_t seed) {
  const std::size_t row = std::size_t(c.nh + 3 * c.nkv) * c.d;
  const int first_seq = 1, slots_per_row = 5, block_tokens = 64;
  const std::size_t seqs = std::size_t(c.batch) + first_seq;
  const auto host_rows = testing::random_bf16(c.batch * row, seed, -2.f, 2.f);
  std::vector<std::int32_t> pos(c.batch);
  for (int b = 0; b < c.batch; ++b) pos[b] = static_cast<std::int32_t>(c.max_pos - (b * 7919LL) % (c.max_pos + 1));
  testing::DeviceBuffer<std::int32_t> dpos(pos);
  testing::DeviceBuffer<float> dinv(rope_inv_freq({RopeFrequencies::Kind::kPlain, 10000.0}, c.d));
  Side fused(c, row, seqs, slots_per_row, block_tokens), ref(c, row, seqs, slots_per_row, block_tokens);
  auto params = [&](Side& s) {
    RopeAppendParams p;
    bf16* x = s.qkvf.as<bf16>();
    FORESIGHT_CUDA_CHECK(cudaMemcpy(x, host_rows.data(), s.qkvf.bytes(), cudaMemcpyHostToDevice));
    const auto R = static_cast<std::int64_t>(row);
    p.rope = {x, x + c.nh * c.d, c.f ? x + (c.nh + 2 * c.nkv) * c.d : nullptr, dpos.get(), dinv.get(),
              c.batch, c.nh, c.nkv, c.d, R, R, R};
    p.q_out = c.q_out ? s.q_out.as<bf16>() : nullptr;
    KvAppendParams& a = p.append;
    a.src = x; a.src_row_stride = R; a.k_offset = c.nh * c.d; a.v_offset = (c.nh + c.nkv) * c.d;
    a.positions = dpos.get(); a.rows = c.batch; a.first_seq = first_seq;
    if (c.store) {
      a.store_k = s.store_k.as<bf16>(); a.store_v = s.store_v.as<bf16>(); a.max_tokens = c.max_tokens;
    }
    if (c.slots) {
      a.slots_k = s.slots_k.as<bf16>(); a.slots_v = s.slots_v.as<bf16>();
      a.slots_per_row = slots_per_row; a.tail_slot = slots_per_row - 1; a.block_tokens = block_tokens;
    }
    a.tail_block = s.tail.as<std::int32_t>();
    a.kv_heads = c.nkv; a.head_dim = c.d;
    return p;
  };
  const RopeAppendParams pr = params(ref), pf = params(fused);
  rope_cuda(pr.rope, nullptr);  // the unfused sequence the decode ran before
  if (pr.q_out) {
    const std::size_t qb = std::size_t(c.nh) * c.d * 2;
    FORESIGHT_CUDA_CHECK(cudaMemcpy2DAsync(pr.q_out, qb, pr.rope.q, row * 2, qb, c.batch, cudaMemcpyDeviceToDevice, nullptr));
  }
  kv_append_cuda(pr.append, nullptr);
  if (c.graph) {
    // The buffers' fill and the reference ran on the legacy stream, which a
    // non-blocking stream does not wait for.
    FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
    cudaStream_t s;
    cudaGraph_t g;
    cudaGraphExec_t e;
    FORESIGHT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    FORESIGHT_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    rope_append_cuda(pf, s);
    FORESIGHT_CUDA_CHECK(cudaStreamEndCapture(s, &g));
    FORESIGHT_CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
    FORESIGHT_CUDA_CHECK(cudaGraphLaunch(e, s));
    FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(s));
    cudaGraphExecDestroy(e);
    cudaGraphDestroy(g);
    cudaStreamDestroy(s);
  } else {
    rope_append_cuda(pf, nullptr);
  }
  FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  return mismatches(fused.qkvf, ref.qkvf) + mismatches(fused.q_out, ref.q_out) +
         mismatches(fused.store_k, ref.store_k) + mismatches(fused.store_v, ref.store_v) +
         mismatches(fused.slots_k, ref.slots_k) + mismatches(fused.slots_v, ref.slots_v) +
         mismatches(fused.tail, ref.tail);
}

}  // namespace

int main(int argc, char** argv) {
  testing::require_gpu_or_skip("gpu_check_rope_append");
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  testing::Tally t;
  std::vector<Case> cases;
  for (int b : quick ? std::vector<int>{1, 4} : std::vector<int>{1, 4, 16, 64}) {
    for (int opt = 0; opt < 4; ++opt) {
      Case c;
      c.batch = b;
      c.f = (opt & 1) != 0;
      c.slots = (opt & 2) != 0;
      if (b > 16 || quick) {  // keep the store small: 64 x 2 x 128K tokens would be 4 GiB per buffer
        c.max_tokens = 8192;
        c.max_pos = 8191;
      }
      cases.push_back(c);
    }
  }
  Case big_no_store;  // 128K positions at batch 64 with slots only
  big_no_store.batch = quick ? 4 : 64;
  big_no_store.store = false;
  cases.push_back(big_no_store);
  Case host;  // write-through to mapped pinned host memory
  host.batch = 4; host.host_store = true; host.max_tokens = 4096; host.max_pos = 4095;
  cases.push_back(host);
  Case no_q = host;
  no_q.host_store = false; no_q.q_out = false; no_q.f = false;
  cases.push_back(no_q);
  Case fallback = host;  // head_dim 24: rows are not 16-byte vectors, so the three unfused calls
  fallback.host_store = false; fallback.d = 24; fallback.nh = 4;
  cases.push_back(fallback);
  Case graph;
  graph.batch = 16; graph.graph = true; graph.max_tokens = 8192; graph.max_pos = 8191;
  cases.push_back(graph);

  std::uint64_t seed = 1;
  for (const Case& c : cases) {
    const std::string shape = describe(c);
    try {
      t.report("rope_append", shape, check(c, seed++), 0);
    } catch (const std::exception& e) {
      t.error("rope_append", shape, e.what());
    }
  }
  return t.finish();
}
