# Every dependency comes from Debian's packages (scripts/setup.sh installs them).
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Eigen3 REQUIRED NO_MODULE)
find_package(Boost REQUIRED)               # Boost.Graph is header-only
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(Threads REQUIRED)

# ICU (libicu-dev): the tokenizer's Unicode general categories. Linked
# statically and only libicuuc (its categories are built in; the 30 MB data
# library is not needed), so the GPU machine, which has no ICU, runs the binary.
find_path(FORESIGHT_ICU_INCLUDE_DIR unicode/uchar.h REQUIRED)
find_library(FORESIGHT_ICUUC_STATIC NAMES libicuuc.a REQUIRED)
add_library(foresight_icu INTERFACE)
target_include_directories(foresight_icu SYSTEM INTERFACE ${FORESIGHT_ICU_INCLUDE_DIR})
target_link_libraries(foresight_icu INTERFACE ${FORESIGHT_ICUUC_STATIC} ${CMAKE_DL_LIBS} Threads::Threads)

# toml++ is used header-only: Debian also ships a shared library, but the GPU
# machine has none, so nothing may link against it.
find_path(TOMLPP_INCLUDE_DIR toml++/toml.h REQUIRED)
add_library(foresight_tomlpp INTERFACE)
target_include_directories(foresight_tomlpp SYSTEM INTERFACE ${TOMLPP_INCLUDE_DIR})
target_compile_definitions(foresight_tomlpp INTERFACE TOML_HEADER_ONLY=1 TOML_ENABLE_FORMATTERS=1)

# Catch2: Debian 12 ships v2 (single header), Ubuntu 24.04 v3. tests/catch.hpp
# hides the difference.
find_package(Catch2 REQUIRED)
if(TARGET Catch2::Catch2WithMain)
  set(FORESIGHT_CATCH_MAIN Catch2::Catch2WithMain)
  set(FORESIGHT_CATCH_V3 1)
else()
  set(FORESIGHT_CATCH_MAIN "")
  set(FORESIGHT_CATCH_V3 0)
endif()

add_library(foresight_hdf5 INTERFACE)
target_include_directories(foresight_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(foresight_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(foresight_hdf5 INTERFACE ${HDF5_DEFINITIONS})
