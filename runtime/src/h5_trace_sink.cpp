// Trace sink over the streaming HDF5 TraceWriter.
#include "foresight/runtime/recorder.hpp"
#include "foresight/trace/writer.hpp"

namespace foresight::runtime {
namespace {

class H5TraceSink final : public TraceSink {
 public:
  H5TraceSink(const std::filesystem::path& path, const trace::Header& header, std::uint32_t width)
      : w_(path, header, width) {}
  std::uint16_t stage(std::string_view name) override { return w_.stage(name); }
  std::uint8_t stream(std::string_view name, trace::StreamKind kind) override { return w_.stream(name, kind); }
  void add_op(const trace::Op& op, std::span<const std::uint64_t> deps) override { w_.add_op(op, deps); }
  void add_step(const trace::StepSpan& s) override { w_.add_step(s); }
  void add_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> blocks) override {
    w_.add_selection(key, blocks);
  }
  void add_token_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> tokens) override {
    w_.add_token_selection(key, tokens);
  }
  void add_cache(const trace::CacheOutcome& c) override { w_.add_cache(c); }
  void add_memory(const trace::MemoryEntry& m) override { w_.add_memory(m); }
  void close(trace::RunStatus status, const std::string& reason) override { w_.close(status, reason); }

 private:
  trace::TraceWriter w_;
};

}  // namespace

std::unique_ptr<TraceSink> make_h5_trace_sink(const std::filesystem::path& path, const trace::Header& header,
                                              std::uint32_t selection_width) {
  return std::make_unique<H5TraceSink>(path, header, selection_width);
}

}  // namespace foresight::runtime
