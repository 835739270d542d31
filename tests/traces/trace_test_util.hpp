// Helpers for the trace tests: field-by-field comparison of traces and raw
// HDF5 patches that break a valid file in one precise place.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "foresight/trace/schema.hpp"

namespace foresight::testing {

// Directory of the committed samples (traces/samples).
std::filesystem::path samples_dir();
// A fresh, empty scratch directory for one test (under the system temp dir).
std::filesystem::path scratch_dir(const std::string& test_name);

// CHECKs every field of every record (and the configs, via their JSON form).
void require_same_trace(const trace::Trace& a, const trace::Trace& b,
                        bool compare_tool_version = true);

// Raw HDF5 edits of an existing file.
void patch_field(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
                 const char* field, std::int64_t value);
void patch_u64(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
               std::uint64_t value);  // 1-D integer dataset (e.g. /op_deps)
void patch_block(const std::filesystem::path& file, std::uint64_t row, std::uint64_t col,
                 std::uint32_t value);  // /selections/blocks[row, col]
void set_root_attr_int(const std::filesystem::path& file, const char* name, std::int64_t value);
// String attribute `name` of the object at `object` ("/" for the root).
void set_attr_string(const std::filesystem::path& file, const char* object, const char* name,
                     const std::string& value);
void delete_link(const std::filesystem::path& file, const char* path);
// Rewrites compound `dataset` without member `field` (data of the rest kept).
void drop_field(const std::filesystem::path& file, const char* dataset, const char* field);
// Size in bytes of one element of `dataset`'s file type.
std::size_t file_type_size(const std::filesystem::path& file, const char* dataset);

// Valid HDF5, wrong schema: what a careless tool (or h5py) could write.
// Replaces `dataset` by a contiguous one of file type `type` and extent
// `dims` (rank dims.size(); none: a scalar), every byte zero.
void replace_dataset(const std::filesystem::path& file, const char* dataset, hid_t type,
                     const std::vector<hsize_t>& dims);
// Replaces `dataset` by a chunked, extendable one of file type `type` and
// extent `dims` (rank >= 1) whose chunks are never written: a tiny file that
// claims a huge dataset.
void replace_dataset_unwritten(const std::filesystem::path& file, const char* dataset, hid_t type,
                               const std::vector<hsize_t>& dims);
// Rewrites compound `dataset` with member `field` stored as `type` (the
// values converted by HDF5), the other members and the rows kept.
void retype_field(const std::filesystem::path& file, const char* dataset, const char* field,
                  hid_t type);
// Like patch_field, for a floating-point member (NaN, infinities) or an
// unsigned one beyond INT64_MAX.
void patch_field_f64(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
                     const char* field, double value);
void patch_field_u64(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
                     const char* field, std::uint64_t value);

}  // namespace foresight::testing
