#!/usr/bin/python3
"""PyTorch peer of ortho-bench's model mode: a CIFAR ResNet training step and eval forward.

Times, on CPU with --threads N or on a CUDA GPU with --device cuda[:N], a full training step
(zero_grad, forward, cross-entropy, backward, SGD update with momentum 0.9 and weight decay 5e-4)
and an eval-mode forward under no_grad of the network of scripts/train_pytorch.py (the same as
ortho's resnet_cifar) on a random batch of 128, and prints JSON lines with ortho-bench's keys:
  {"bench": "resnet20_train_step" | "resnet20_eval", "device", "tf32", "threads", "batch",
   "ms_per_step", "images_per_s", "min_ms", "cpu_ms", ...}
ms_per_step is the median wall time of --repeats timed runs after warm-up, min_ms the fastest,
cpu_ms the median process CPU time. On a GPU the model runs eagerly (no torch.compile, cuDNN
autotuning off as by default), each timed run starts and ends with torch.cuda.synchronize(),
and TF32 is off for matmuls and convolutions unless --tf32 (PyTorch would otherwise let cuDNN
use it by default, ortho does not). With --ortho PATH it also runs
`PATH --model M --threads N --repeats R --device D [--tf32]`, prints its lines and then
  {"bench": "resnet20_ratio", "train_step_ratio": ortho ms / torch ms, "eval_ratio": ...,
   "train_step_cpu_ratio", "eval_cpu_ratio"}   (above 1: ortho is slower).

On a shared, loaded machine set OMP_WAIT_POLICY=PASSIVE (ortho-bench inherits it): spinning
OpenMP threads that lose their core otherwise dominate multi-threaded timings.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
from train_pytorch import MODELS, build_model, emit, parse_device, set_tf32  # noqa: E402

BATCH = 128
CLASSES = 10
SEED = 0
# Untimed runs before timing: the first step allocates momentum buffers and warms caches.
WARMUP_RUNS = 2


def device_name(device):
    """ortho's spelling of a torch device: "cpu" or "cuda:N"."""
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return device.type


def synchronize(device):
    """Waits for the work queued on a GPU (CPU ops are synchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_seconds(repeats, fn, device):
    """Seconds per run of fn over `repeats` runs after WARMUP_RUNS untimed ones, each from an
    idle device until it has finished the run: median and fastest wall time, and the median
    process CPU time of all threads (which a loaded machine inflates less than wall time)."""
    for _ in range(WARMUP_RUNS):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        synchronize(device)
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - start)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def result_line(bench, args, parameters, seconds):
    median, fastest, cpu = seconds
    return {"bench": bench, "device": device_name(args.torch_device), "tf32": args.tf32,
            "threads": args.threads, "batch": BATCH,
            "ms_per_step": median * 1e3, "images_per_s": BATCH / median, "min_ms": fastest * 1e3,
            "cpu_ms": cpu * 1e3,
            "parameters": parameters, "repeats": args.repeats, "framework": "pytorch",
            "torch_version": torch.__version__}


def bench_torch(args):
    """The train-step and eval lines of PyTorch."""
    device = args.torch_device
    torch.manual_seed(SEED)
    model = build_model(args.model).to(device)
    images = torch.randn(BATCH, 3, 32, 32).to(device)  # drawn on the CPU: the same on any device
    labels = torch.randint(0, CLASSES, (BATCH,)).to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    parameters = sum(p.numel() for p in model.parameters())

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()
        optimizer.step()

    model.train()
    train_s = timed_seconds(args.repeats, train_step, device)
    model.eval()
    with torch.no_grad():
        eval_s = timed_seconds(args.repeats, lambda: model(images), device)
    return [result_line(f"{args.model}_train_step", args, parameters, train_s),
            result_line(f"{args.model}_eval", args, parameters, eval_s)]


def bench_ortho(args):
    """The lines ortho-bench --model prints, parsed."""
    command = [args.ortho, "--model", args.model, "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--device", args.device]
    if args.tf32:
        command.append("--tf32")
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, check=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(f"{' '.join(command)} failed: {e}") from e
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def value_of(lines, bench, key):
    for line in lines:
        if line.get("bench") == bench:
            return line[key]
    raise RuntimeError(f"no '{bench}' line in the output")


def ratio_line(args, torch_lines, ortho_lines):
    """ortho's time over PyTorch's for each bench (above 1: ortho is slower)."""
    ratio = {}
    for name, suffix in (("train_step", "_train_step"), ("eval", "_eval")):
        bench = args.model + suffix
        for key, field in (("ratio", "ms_per_step"), ("cpu_ratio", "cpu_ms")):
            ratio[f"{name}_{key}"] = (value_of(ortho_lines, bench, field) /
                                      value_of(torch_lines, bench, field))
    return {"bench": f"{args.model}_ratio", "device": device_name(args.torch_device),
            "tf32": args.tf32, "threads": args.threads, **ratio}


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Times a CIFAR ResNet training step and eval forward in PyTorch on the CPU "
        "or a CUDA GPU; prints ortho-bench's JSON lines, and with --ortho the ratio to "
        "ortho-bench.")
    p.add_argument("--model", choices=sorted(MODELS), default="resnet20")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="timed runs (the median is reported)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--tf32", action="store_true",
                   help="let float32 matmuls and convolutions on CUDA use TF32 tensor cores "
                   "(off by default, for PyTorch's cuDNN too)")
    p.add_argument("--ortho", metavar="PATH",
                   help="ortho-bench executable to run with the same model, threads, repeats, "
                   "device and --tf32")
    args = p.parse_args(argv)
    if args.threads < 1 or args.repeats < 1:
        p.error("--threads and --repeats must be at least 1")
    args.torch_device = parse_device(p, args.device)
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    set_tf32(args.tf32)
    try:
        torch_lines = bench_torch(args)
        for line in torch_lines:
            emit(line)
        if args.ortho:
            ortho_lines = bench_ortho(args)
            for line in ortho_lines:
                emit(line)
            emit(ratio_line(args, torch_lines, ortho_lines))
    except (RuntimeError, KeyError, ValueError) as e:
        print(f"bench_pytorch: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
