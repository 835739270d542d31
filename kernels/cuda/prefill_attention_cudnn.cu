// Causal prefill attention through cuDNN's fused flash-attention engine (the
// cuDNN 9 backend graph API, C only), and the dispatcher between it and the
// mma.sync kernel (see foresight/kernels/prefill_attention.hpp).
//
// The operation graph is the SDPA-forward pattern the runtime-fusion engine
// recognises (as documented under "Fused Flash Attention fprop"):
//   S = Q . K^T (fp32) ; S *= scale ;
//   causal mask: row = gen_index(S, axis 2) [+ s_kv - s_q when start > 0,
//   i.e. the diagonal aligned bottom-right], col = gen_index(S, axis 3),
//   S = row >= col ? S : -inf ;
//   softmax: M = max_j S, E = exp(S - M), Z = sum_j E, (stats = M + log Z,
//   virtual), P = E / Z (bf16) ; O = P . V.
// Q [1, n_heads, chunk, d], K^T [1, n_kv_heads, d, start + chunk] and V use
// the caller's token strides (BSHD layout); GQA is the matmul's broadcast
// over heads. One plan per shape is built (engine heuristics, mode A, first
// config that finalises) and cached; executions take a stream-ordered
// workspace.
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/switches.hpp"

#ifdef FORESIGHT_HAVE_CUDNN
#include <cudnn.h>
#endif

namespace foresight::kernels {
namespace {

enum class Choice { kAuto, kMma, kCudnn };

// FORESIGHT_PREFILL_ATTENTION=mma|cudnn forces one implementation; unset or
// empty lets the dispatcher pick.
Choice env_choice() {
  const auto v = kernel_switch("FORESIGHT_PREFILL_ATTENTION");
  if (!v || v->empty() || *v == "auto") return Choice::kAuto;
  if (*v == "mma") return Choice::kMma;
  if (*v == "cudnn") return Choice::kCudnn;
  throw std::invalid_argument("FORESIGHT_PREFILL_ATTENTION='" + *v +
                              "': expected 'auto', 'mma' or 'cudnn' (or unset for automatic choice)");
}

#ifdef FORESIGHT_HAVE_CUDNN

std::string status_text(cudnnStatus_t s) {
  std::string text = cudnnGetErrorString(s);
  char last[512] = {0};
  cudnnGetLastErrorString(last, sizeof(last));
  if (last[0] != '\0') text += std::string(" (") + last + ")";
  return text;
}

// Build-time failures make the shape unsupported (fallback); these carry why.
struct Unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw Unsupported(std::string(what) + ": " + status_text(s));
}

// Owning backend descriptor.
class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) {
    check(cudnnBackendCreateDescriptor(type, &d_), "cudnnBackendCreateDescriptor");
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  Desc(Desc&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  Desc& operator=(Desc&& o) noexcept {
    if (this != &o) {
      if (d_) cudnnBackendDestroyDescriptor(d_);
      d_ = o.d_;
      o.d_ = nullptr;
    }
    return *this;
  }
  ~Desc() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  cudnnBackendDescriptor_t get() const { return d_; }
  template <class T>
  Desc& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T& value) {
    check(cudnnBackendSetAttribute(d_, name, type, 1, &value), "cudnnBackendSetAttribute");
    return *this;
  }
  Desc& set_desc(cudnnBackendAttributeName_t name, const Desc& value) {
    cudnnBackendDescriptor_t v = value.get();
    return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, v);
  }
  Desc& finalize(const char* what) {
    check(cudnnBackendFinalize(d_), what);
    return *this;
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

using Dims = std::vector<std::int64_t>;

// Unique ids of the tensors the caller supplies at execution.
enum Uid : std::int64_t { kQ = 1, kK, kV, kO, kScale, kNegInf, kSkv, kSq, kFirstVirtual = 100 };

struct GraphBuilder {
  std::int64_t next_virtual = kFirstVirtual;
  std::deque<Desc> tensors, ops;  // a deque: references to earlier tensors stay valid

  const Desc& tensor(std::int64_t uid, cudnnDataType_t type, const Dims& dims, const Dims& strides,
                     bool is_virtual, bool by_value = false) {
    Desc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    const std::int64_t alignment = 16;
    t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, uid)
        .set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, type)
        .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, alignment);
    check(cudnnBackendSetAttribute(t.get(), CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64,
                                   static_cast<std::int64_t>(dims.size()), dims.data()),
          "tensor dims");
    check(cudnnBackendSetAttribute(t.get(), CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64,
                                   static_cast<std::int64_t>(strides.size()), strides.data()),
          "tensor strides");
    if (is_virtual) t.set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, true);
    if (by_value) t.set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, true);
    t.finalize("tensor descriptor");
    tensors.push_back(std::move(t));
    return tensors.back();
  }
  const Desc& virt(cudnnDataType_t type, const Dims& dims, const Dims& strides) {
    return tensor(next_virtual++, type, dims, strides, true);
  }
  const Desc& scalar(std::int64_t uid, cudnnDataType_t type) {
    return tensor(uid, type, {1, 1, 1, 1}, {1, 1, 1, 1}, false, true);
  }

  // y = mode(x[, b[, t]]) computed in `prec`.
  void pointwise(cudnnPointwiseMode_t mode, cudnnDataType_t prec, const Desc& x, const Desc* b, const Desc* t,
                 const Desc& y, std::int64_t axis = -1) {
    Desc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, mode)
        .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, prec);
    if (axis >= 0) pw.set(CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, axis);
    pw.finalize("pointwise descriptor");
    Desc op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw).set_desc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
    if (b) op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b);
    if (t) op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, *t);
    op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y).finalize("pointwise operation");
    ops.push_back(std::move(op));
  }
  void reduction(cudnnReduceTensorOp_t mode, const Desc& x, const Desc& y) {
    Desc red(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    red.set(CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, mode)
        .set(CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT)
        .finalize("reduction descriptor");
    Desc op(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    op.set_desc(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x)
        .set_desc(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y)
        .set_desc(CUDNN_ATTR_OPERATION_REDUCTION_DESC, red)
        .finalize("reduction operation");
    ops.push_back(std::move(op));
  }
  void matmul(const Desc& a, const Desc& b, const Desc& c) {
    Desc mm(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    mm.set(CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT).finalize("matmul descriptor");
    Desc op(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    op.set_desc(CUDNN_ATTR_OPERATION_MATMUL_ADESC, a)
        .set_desc(CUDNN_ATTR_OPERATION_MATMUL_BDESC, b)
        .set_desc(CUDNN_ATTR_OPERATION_MATMUL_CDESC, c)
        .set_desc(CUDNN_ATTR_OPERATION_MATMUL_DESC, mm)
        .finalize("matmul operation");
    ops.push_back(std::move(op));
  }
};

// An execution plan and every descriptor it was built from (kept alive with it).
struct Plan {
  GraphBuilder g;
  std::deque<Desc> keep;
  Desc plan{CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR};
  std::int64_t workspace_bytes = 0;
  bool bottom_right = false;
};

// The graph above for one shape; throws Unsupported when no engine takes it.
std::unique_ptr<Plan> build_plan(cudnnHandle_t handle, const PrefillAttentionParams& p) {
  const std::int64_t hq = p.n_heads, hk = p.n_kv_heads, d = p.head_dim, sq = p.chunk, skv = p.start + p.chunk;
  auto plan = std::make_unique<Plan>();
  GraphBuilder& g = plan->g;
  const Desc& q = g.tensor(kQ, CUDNN_DATA_BFLOAT16, {1, hq, sq, d}, {sq * p.q_token_stride, d, p.q_token_stride, 1},
                           false);
  const Desc& kt = g.tensor(kK, CUDNN_DATA_BFLOAT16, {1, hk, d, skv}, {skv * p.kv_token_stride, d, 1, p.kv_token_stride},
                            false);
  const Desc& v = g.tensor(kV, CUDNN_DATA_BFLOAT16, {1, hk, skv, d}, {skv * p.kv_token_stride, d, p.kv_token_stride, 1},
                           false);
  const Desc& o = g.tensor(kO, CUDNN_DATA_BFLOAT16, {1, hq, sq, d}, {sq * p.o_token_stride, d, p.o_token_stride, 1},
                           false);
  const Desc& scale = g.scalar(kScale, CUDNN_DATA_FLOAT);
  const Desc& neg_inf = g.scalar(kNegInf, CUDNN_DATA_FLOAT);
  const Dims s_dims{1, hq, sq, skv}, s_strides{hq * sq * skv, sq * skv, skv, 1};
  const Dims r_dims{1, hq, sq, 1}, r_strides{hq * sq, sq, 1, 1};

  const Desc& s1 = g.virt(CUDNN_DATA_FLOAT, s_dims, s_strides);
  g.matmul(q, kt, s1);
  const Desc& s2 = g.virt(CUDNN_DATA_FLOAT, s_dims, s_strides);
  g.pointwise(CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, s1, &scale, nullptr, s2);

  const Desc* row = &g.virt(CUDNN_DATA_INT32, s_dims, s_strides);
  g.pointwise(CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, s2, nullptr, nullptr, *row, 2);
  const bool bottom_right = p.start > 0;
  if (bottom_right) {  // row + s_kv - s_q: query i sits at position start + i
    const Desc& skv_t = g.scalar(kSkv, CUDNN_DATA_INT32);
    const Desc& sq_t = g.scalar(kSq, CUDNN_DATA_INT32);
    const Desc& r1 = g.virt(CUDNN_DATA_INT32, s_dims, s_strides);
    g.pointwise(CUDNN_POINTWISE_ADD, CUDNN_DATA_INT32, *row, &skv_t, nullptr, r1);
    const Desc& r2 = g.virt(CUDNN_DATA_INT32, s_dims, s_strides);
    g.pointwise(CUDNN_POINTWISE_SUB, CUDNN_DATA_INT32, r1, &sq_t, nullptr, r2);
    row = &r2;
  }
  const Desc& col = g.virt(CUDNN_DATA_INT32, s_dims, s_strides);
  g.pointwise(CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, s2, nullptr, nullptr, col, 3);
  const Desc& keep = g.virt(CUDNN_DATA_BOOLEAN, s_dims, s_strides);
  g.pointwise(CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, *row, &col, nullptr, keep);
  const Desc& s3 = g.virt(CUDNN_DATA_FLOAT, s_dims, s_strides);
  g.pointwise(CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, s2, &neg_inf, &keep, s3);

  const Desc& m = g.virt(CUDNN_DATA_FLOAT, r_dims, r_strides);
  g.reduction(CUDNN_REDUCE_TENSOR_MAX, s3, m);
  const Desc& s4 = g.virt(CUDNN_DATA_FLOAT, s_dims, s_strides);
  g.pointwise(CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, s3, &m, nullptr, s4);
  const Desc& e = g.virt(CUDNN_DATA_FLOAT, s_dims, s_strides);
  g.pointwise(CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, s4, nullptr, nullptr, e);
  const Desc& z = g.virt(CUDNN_DATA_FLOAT, r_dims, r_strides);
  g.reduction(CUDNN_REDUCE_TENSOR_ADD, e, z);
  const Desc& log_z = g.virt(CUDNN_DATA_FLOAT, r_dims, r_strides);
  g.pointwise(CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, z, nullptr, nullptr, log_z);
  const Desc& stats = g.virt(CUDNN_DATA_FLOAT, r_dims, r_strides);
  g.pointwise(CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, m, &log_z, nullptr, stats);
  const Desc& prob = g.virt(CUDNN_DATA_BFLOAT16, s_dims, s_strides);
  g.pointwise(CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, e, &z, nullptr, prob);
  g.matmul(prob, v, o);

  std::vector<cudnnBackendDescriptor_t> raw_ops;
  for (const Desc& op : g.ops) raw_ops.push_back(op.get());
  Desc& graph = plan->keep.emplace_back(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  check(cudnnBackendSetAttribute(graph.get(), CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 static_cast<std::int64_t>(raw_ops.size()), raw_ops.data()),
        "operation graph ops");
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, handle).finalize("operation graph");

  std::string why = "no engine config";
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    try {
      Desc& heur = plan->keep.emplace_back(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
      heur.set_desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph)
          .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, mode)
          .finalize("engine heuristics");
      std::int64_t count = 0;
      check(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                     &count, nullptr),
            "heuristics result count");
      std::vector<cudnnBackendDescriptor_t> raw_configs;
      for (std::int64_t i = 0; i < count; ++i) {
        raw_configs.push_back(plan->keep.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR).get());
      }
      std::int64_t got = 0;
      check(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                                     &got, raw_configs.data()),
            "heuristics results");
      for (std::int64_t i = 0; i < got; ++i) {
        plan->bottom_right = bottom_right;
        try {
          plan->plan = Desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
          plan->plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, handle)
              .set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, raw_configs[i])
              .finalize("execution plan");
          std::int64_t n = 0;
          check(cudnnBackendGetAttribute(plan->plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                         1, &n, &plan->workspace_bytes),
                "workspace size");
          return plan;
        } catch (const Unsupported& e) {
          why = e.what();
        }
      }
    } catch (const Unsupported& e) {
      why = e.what();
    }
  }
  throw Unsupported(why);
}

// Plans are per device; a shape cuDNN rejected is remembered as nullptr.
using PlanKey = std::tuple<int, bool, std::int64_t, std::int64_t, int, int, int, std::int64_t, std::int64_t,
                           std::int64_t>;

class CudnnState {
 public:
  static CudnnState& instance() {
    static CudnnState s;
    return s;
  }
  // Returns nullptr (and the reason) where cuDNN cannot run p.
  Plan* plan_for(const PrefillAttentionParams& p, cudnnHandle_t* handle_out, std::string* why) {
    if (cudnnGetVersion() < 90000) {
      *why = "cuDNN runtime " + std::to_string(cudnnGetVersion()) + " < 9.0";
      return nullptr;
    }
    // Before 9.6 the bottom-right causal mask needs both lengths multiples of 64.
    if (p.start > 0 && cudnnGetVersion() < 90600 && (p.chunk % 64 != 0 || (p.start + p.chunk) % 64 != 0)) {
      *why = "offset causal mask needs chunk and start + chunk multiples of 64 before cuDNN 9.6";
      return nullptr;
    }
    int device = 0;
    FORESIGHT_CUDA_CHECK(cudaGetDevice(&device));
    auto h = handles_.find(device);
    if (h == handles_.end()) {
      cudnnHandle_t handle = nullptr;
      const cudnnStatus_t s = cudnnCreate(&handle);
      if (s != CUDNN_STATUS_SUCCESS) {
        *why = "cudnnCreate: " + status_text(s);
        return nullptr;
      }
      h = handles_.emplace(device, handle).first;
    }
    *handle_out = h->second;
    const PlanKey key{device, p.start > 0, p.start + p.chunk, p.chunk, p.n_heads, p.n_kv_heads, p.head_dim,
                      p.q_token_stride, p.kv_token_stride, p.o_token_stride};
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      std::unique_ptr<Plan> plan;
      std::string reason;
      try {
        plan = build_plan(h->second, p);
      } catch (const Unsupported& e) {
        reason = e.what();
      }
      it = plans_.emplace(key, Entry{std::move(plan), reason}).first;
    }
    *why = it->second.why;
    return it->second.plan.get();
  }
  std::mutex& mutex() { return mutex_; }

 private:
  struct Entry {
    std::unique_ptr<Plan> plan;
    std::string why;
  };
  std::mutex mutex_;
  std::map<int, cudnnHandle_t> handles_;  // kept for the process lifetime
  std::map<PlanKey, Entry> plans_;
};

// Shape checks that need no cuDNN call; "" when fine.
std::string precheck(const PrefillAttentionParams& p) {
  if (p.head_dim % 8 != 0 || p.head_dim > 128) return "head_dim must be a multiple of 8 and <= 128";
  if (p.q_token_stride % 8 != 0 || p.kv_token_stride % 8 != 0 || p.o_token_stride % 8 != 0) {
    return "token strides must be multiples of 8 elements";
  }
  if (!cuda_detail::aligned16(p.q) || !cuda_detail::aligned16(p.k) || !cuda_detail::aligned16(p.v) ||
      !cuda_detail::aligned16(p.o)) {
    return "q, k, v and o must be 16-byte aligned";
  }
  if (p.start + p.chunk > std::numeric_limits<std::int32_t>::max()) return "start + chunk must fit in int32";
  return "";
}

#endif  // FORESIGHT_HAVE_CUDNN

}  // namespace

bool prefill_attention_cudnn(const PrefillAttentionParams& params, cudaStream_t stream, std::string* why_not) {
  const PrefillAttentionParams p = detail::validated(params);
  std::string local;
  std::string& why = why_not ? *why_not : local;
#ifndef FORESIGHT_HAVE_CUDNN
  (void)p;
  (void)stream;
  why = "built without cuDNN";
  return false;
#else
  if (p.chunk == 0) return true;
  why = precheck(p);
  if (!why.empty()) return false;
  CudnnState& state = CudnnState::instance();
  std::lock_guard<std::mutex> lock(state.mutex());
  cudnnHandle_t handle = nullptr;
  Plan* plan = state.plan_for(p, &handle, &why);
  if (plan == nullptr) return false;

  void* workspace = nullptr;
  if (plan->workspace_bytes > 0) {
    FORESIGHT_CUDA_CHECK(cudaMallocAsync(&workspace, static_cast<std::size_t>(plan->workspace_bytes), stream));
  }
  float scale = p.scale;
  float neg_inf = cudnnGetVersion() < 91000 ? std::numeric_limits<float>::lowest()
                                            : -std::numeric_limits<float>::infinity();
  std::int32_t skv = static_cast<std::int32_t>(p.start + p.chunk), sq = static_cast<std::int32_t>(p.chunk);
  std::vector<std::int64_t> uids = {kQ, kK, kV, kO, kScale, kNegInf};
  std::vector<void*> ptrs = {const_cast<bf16*>(p.q), const_cast<bf16*>(p.k), const_cast<bf16*>(p.v), p.o, &scale,
                             &neg_inf};
  if (plan->bottom_right) {
    uids.insert(uids.end(), {kSkv, kSq});
    ptrs.insert(ptrs.end(), {&skv, &sq});
  }
  try {
    Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    check(cudnnBackendSetAttribute(pack.get(), CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64,
                                   static_cast<std::int64_t>(uids.size()), uids.data()),
          "variant pack ids");
    check(cudnnBackendSetAttribute(pack.get(), CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                                   static_cast<std::int64_t>(ptrs.size()), ptrs.data()),
          "variant pack pointers");
    pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, workspace).finalize("variant pack");
    check(cudnnSetStream(handle, stream), "cudnnSetStream");
    check(cudnnBackendExecute(handle, plan->plan.get(), pack.get()), "cudnnBackendExecute");
  } catch (const Unsupported& e) {
    if (workspace) cudaFreeAsync(workspace, stream);
    throw std::runtime_error(std::string("prefill_attention (cuDNN): ") + e.what());
  }
  if (workspace) FORESIGHT_CUDA_CHECK(cudaFreeAsync(workspace, stream));
  return true;
#endif
}

int prefill_attention_cudnn_version() {
#ifdef FORESIGHT_HAVE_CUDNN
  return static_cast<int>(cudnnGetVersion());
#else
  return 0;
#endif
}

const char* prefill_attention_cuda(const PrefillAttentionParams& p, cudaStream_t stream) {
  const Choice choice = env_choice();
  if (choice != Choice::kMma) {
    std::string why;
    if (prefill_attention_cudnn(p, stream, &why)) return "cudnn";
    if (choice == Choice::kCudnn) {
      throw std::runtime_error("prefill_attention: FORESIGHT_PREFILL_ATTENTION=cudnn but cuDNN cannot run this shape: " +
                               why);
    }
  }
  prefill_attention_mma(p, stream);
  return "mma";
}

}  // namespace foresight::kernels
