// cudaStream_t for public kernel headers, which must not include CUDA headers
// (the CPU build never sees them): declared only when CUDA is built.
#pragma once

#ifdef FORESIGHT_HAVE_CUDA
struct CUstream_st;
using cudaStream_t = CUstream_st*;
#endif
