#!/usr/bin/python3
"""PyTorch peer of ortho-bench's model mode: a CIFAR ResNet training step and eval forward.

Times, on CPU with --threads N, a full training step (zero_grad, forward, cross-entropy,
backward, SGD update with momentum 0.9 and weight decay 5e-4) and an eval-mode forward under
no_grad of the network of scripts/train_pytorch.py (the same as ortho's resnet_cifar) on a
random batch of 128, and prints JSON lines with ortho-bench's keys:
  {"bench": "resnet20_train_step" | "resnet20_eval", "device", "threads", "batch",
   "ms_per_step", "images_per_s", "min_ms", "cpu_ms", ...}
ms_per_step is the median wall time of --repeats timed runs after warm-up, min_ms the fastest,
cpu_ms the median process CPU time. With --ortho PATH it also runs
`PATH --model M --threads N --repeats R`, prints its lines and then
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
from train_pytorch import MODELS, build_model, emit  # noqa: E402

BATCH = 128
CLASSES = 10
SEED = 0
# Untimed runs before timing: the first step allocates momentum buffers and warms caches.
WARMUP_RUNS = 2


def timed_seconds(repeats, fn):
    """Seconds per run of fn over `repeats` runs after WARMUP_RUNS untimed ones: median and
    fastest wall time, and the median process CPU time of all threads (which a loaded
    machine inflates less than wall time)."""
    for _ in range(WARMUP_RUNS):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - start)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def result_line(bench, args, parameters, seconds):
    median, fastest, cpu = seconds
    return {"bench": bench, "device": "cpu", "threads": args.threads, "batch": BATCH,
            "ms_per_step": median * 1e3, "images_per_s": BATCH / median, "min_ms": fastest * 1e3,
            "cpu_ms": cpu * 1e3,
            "parameters": parameters, "repeats": args.repeats, "framework": "pytorch",
            "torch_version": torch.__version__}


def bench_torch(args):
    """The train-step and eval lines of PyTorch."""
    torch.manual_seed(SEED)
    model = build_model(args.model)
    images = torch.randn(BATCH, 3, 32, 32)
    labels = torch.randint(0, CLASSES, (BATCH,))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    parameters = sum(p.numel() for p in model.parameters())

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()
        optimizer.step()

    model.train()
    train_s = timed_seconds(args.repeats, train_step)
    model.eval()
    with torch.no_grad():
        eval_s = timed_seconds(args.repeats, lambda: model(images))
    return [result_line(f"{args.model}_train_step", args, parameters, train_s),
            result_line(f"{args.model}_eval", args, parameters, eval_s)]


def bench_ortho(args):
    """The lines ortho-bench --model prints, parsed."""
    command = [args.ortho, "--model", args.model, "--threads", str(args.threads),
               "--repeats", str(args.repeats)]
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
    return {"bench": f"{args.model}_ratio", "device": "cpu", "threads": args.threads, **ratio}


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Times a CIFAR ResNet training step and eval forward in PyTorch on CPU; "
        "prints ortho-bench's JSON lines, and with --ortho the ratio to ortho-bench.")
    p.add_argument("--model", choices=sorted(MODELS), default="resnet20")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="timed runs (the median is reported)")
    p.add_argument("--ortho", metavar="PATH",
                   help="ortho-bench executable to run with the same model, threads and repeats")
    args = p.parse_args(argv)
    if args.threads < 1 or args.repeats < 1:
        p.error("--threads and --repeats must be at least 1")
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
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
