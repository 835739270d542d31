#!/usr/bin/env python3
"""Reference timings for causal prefill attention from PyTorch's fused SDPA
backends (FlashAttention-2 and cuDNN), at the shapes bench_kernels_dense uses
(MiniCPM4.1-8B: 32 query heads, 2 KV heads, head_dim 128), so the foresight
kernel can be compared with what the GPU's libraries reach. Needs torch with
CUDA (present on the lent GPU machines, not a foresight dependency).

Usage: python3 bench/sdpa_reference.py [--csv PATH]
FLOPs: 4 * head_dim * n_heads * (chunk * start + chunk * (chunk + 1) / 2),
the same formula as prefill_attention_flops().
"""
import argparse
import sys

TENSOR_TFLOPS = 790.0  # measured dense bf16 GEMM ceiling, as in the C++ benchmark


def flops(start, chunk, n_heads, head_dim):
    return 4.0 * head_dim * n_heads * (chunk * start + chunk * (chunk + 1) / 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", help="also write the rows as CSV to this path (default: none)")
    args = ap.parse_args()
    try:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError as e:
        print(f"SKIPPED: torch not available ({e})")
        return 77
    if not torch.cuda.is_available():
        print("SKIPPED: no CUDA device")
        return 77
    nh, nkv, d = 32, 2, 128
    rows = []
    print(f"device: {torch.cuda.get_device_name()}")
    print(f"{'backend':<10} {'chunk':>6} {'ms':>9} {'TFLOP/s':>8} {'% of 790':>8}")
    for chunk in (4096, 8192, 32768):
        q = torch.randn(1, nh, chunk, d, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, nh, chunk, d, device="cuda", dtype=torch.bfloat16)  # GQA expanded: same math
        v = torch.randn(1, nh, chunk, d, device="cuda", dtype=torch.bfloat16)
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    run = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
                    for _ in range(3):
                        run()
                    times = []
                    for _ in range(10):
                        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        a.record()
                        run()
                        b.record()
                        b.synchronize()
                        times.append(a.elapsed_time(b))
            except RuntimeError as e:
                print(f"{name:<10} {chunk:>6} unavailable: {str(e).splitlines()[0][:60]}")
                continue
            ms = sorted(times)[len(times) // 2]
            tf = flops(0, chunk, nh, d) / (ms * 1e-3) / 1e12
            rows.append((name, chunk, ms, tf))
            print(f"{name:<10} {chunk:>6} {ms:>9.3f} {tf:>8.1f} {100 * tf / TENSOR_TFLOPS:>7.1f}%")
        del q, k, v
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("backend,chunk,ms,tflops\n")
            for r in rows:
                f.write(f"{r[0]},{r[1]},{r[2]:.4f},{r[3]:.2f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
