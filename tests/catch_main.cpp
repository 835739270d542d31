// Catch2 main for v2; with v3 the Catch2WithMain library provides it.
#if !__has_include(<catch2/catch_all.hpp>)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
