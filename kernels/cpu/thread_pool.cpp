// The CPU references' thread pool (parallel.hpp) and its thread count
// (foresight/kernels/cpu_threads.hpp). Workers sleep on a condition variable
// between calls (no spinning); a call's indices are claimed from one atomic
// counter by the caller and by whichever workers wake in time, so a worker
// that the OS has not scheduled yet never holds the caller up: the caller
// takes the work itself. (libgomp's barrier waited for every thread, and its
// spin-waiting workers made decode steps 28x slower on a loaded 2-core host.)
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "foresight/kernels/cpu_threads.hpp"
#include "parallel.hpp"

namespace foresight::kernels {
namespace {

int all_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// FORESIGHT_CPU_THREADS when set to a positive integer, else every core.
int default_threads() {
  if (const char* env = std::getenv("FORESIGHT_CPU_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return all_cores();
}

std::atomic<int> g_threads{default_threads()};

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // One call at a time; a call made while another runs (or from inside a
  // task) runs inline on its caller.
  void run(std::int64_t n, std::int64_t grain, int threads, detail::IndexFn fn, void* ctx) {
    if (in_task_) return run_inline(n, fn, ctx);
    std::unique_lock<std::mutex> busy(call_mu_, std::try_to_lock);
    if (!busy.owns_lock()) return run_inline(n, fn, ctx);
    open_job(n, grain, threads, fn, ctx);
    work();
    std::unique_lock<std::mutex> lk(mu_);
    open_ = false;  // every index is claimed: late risers stay asleep
    done_.wait(lk, [&] { return active_ == 0; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  static void run_inline(std::int64_t n, detail::IndexFn fn, void* ctx) {
    for (std::int64_t i = 0; i < n; ++i) fn(ctx, i);
  }

  void open_job(std::int64_t n, std::int64_t grain, int threads, detail::IndexFn fn, void* ctx) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      while (static_cast<int>(workers_.size()) < threads - 1) workers_.emplace_back([this] { worker(); });
      fn_ = fn, ctx_ = ctx, n_ = n, grain_ = grain;
      next_.store(0);
      seats_ = threads - 1;
      open_ = true;
      ++generation_;
    }
    wake_.notify_all();
  }

  // Claims runs of grain_ indices until none is left.
  void work() {
    in_task_ = true;
    for (std::int64_t i0; (i0 = next_.fetch_add(grain_)) < n_;) {
      for (std::int64_t i = i0; i < std::min(n_, i0 + grain_); ++i) {
        try {
          fn_(ctx_, i);
        } catch (...) {
          std::lock_guard<std::mutex> lk(mu_);
          if (!error_) error_ = std::current_exception();
        }
      }
    }
    in_task_ = false;
  }

  void worker() {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      wake_.wait(lk, [&] { return stop_ || (open_ && seats_ > 0 && generation_ != seen); });
      if (stop_) return;
      seen = generation_;
      --seats_;
      ++active_;
      lk.unlock();
      work();
      lk.lock();
      if (--active_ == 0) done_.notify_all();
    }
  }

  std::mutex call_mu_;  // held by the caller for a whole run()
  std::mutex mu_;       // guards everything below except next_
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  detail::IndexFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::int64_t n_ = 0, grain_ = 1;
  std::atomic<std::int64_t> next_{0};
  std::uint64_t generation_ = 0;
  int seats_ = 0;   // workers that may still join the open job
  int active_ = 0;  // workers inside work()
  bool open_ = false, stop_ = false;
  std::exception_ptr error_;
  static thread_local bool in_task_;
};
thread_local bool Pool::in_task_ = false;

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int cpu_threads() { return g_threads.load(); }

void set_cpu_threads(int n) { g_threads.store(n > 0 ? n : all_cores()); }

namespace detail {
int pool_threads() { return cpu_threads(); }
void run_on_pool(std::int64_t n, std::int64_t grain, int threads, IndexFn fn, void* ctx) {
  pool().run(n, grain, threads, fn, ctx);
}
}  // namespace detail

}  // namespace foresight::kernels
