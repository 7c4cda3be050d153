#!/usr/bin/python3
"""PyTorch peer of ortho-train: the same CIFAR ResNet (or the OPT paper's CNN-6 / CNN-9),
data, recipe and JSON lines.

The network mirrors layers/models/resnet_cifar.{h,cpp} and basic_block.{h,cpp}: a 3x3 stem
conv + BN + ReLU, stages of BasicBlocks (He et al. 2016, Fig. 2) with option-B shortcuts
(1x1 conv + BN) where the shape changes, global average pool and fc; Kaiming normal
(fan_out, ReLU) for convolutions, BN weight 1 and bias 0, PyTorch's default for fc.

Recipe: random crop 32 with 4-pixel zero padding, horizontal flip p=0.5, normalize; SGD
(momentum 0.9, weight decay 5e-4 on every parameter), cosine annealing to 0 stepped per
iteration, evaluation after every epoch. Data are the CIFAR-10 binary batches, read with
numpy. Install the dependencies with scripts/install-peer-deps.sh.

Output (stdout, JSON lines), as ortho-train's: one object per epoch
  {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "wall_s",
   "epoch_s", "images_per_s"}
(accuracies are fractions, lr is the epoch's first, wall_s counts the whole run, epoch_s this
epoch's training and evaluation, images_per_s the training rate), then
  {"final": true, "test_accuracy", "test_loss", "epochs", "wall_s", "device"}.

--device cuda[:N] trains on that GPU (batches are prepared on the CPU with numpy, then copied;
timers read after torch.cuda.synchronize()); TF32 stays off for matmuls and cuDNN convolutions
unless --tf32, as in ortho-train (PyTorch's own default lets cuDNN use it).
"""

import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
from torch import nn

RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILE = "test_batch.bin"
DEFAULT_DATA = "data/cifar-10-batches-bin"
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
PADDING = 4
EVAL_BATCH = 500

MODELS = {
    "resnet20": ([16, 32, 64], 3),
    "resnet32": ([16, 32, 64], 5),
    "resnet44": ([16, 32, 64], 7),
    "resnet56": ([16, 32, 64], 9),
    "resnet110": ([16, 32, 64], 18),
    "resnet1202": ([16, 32, 64], 200),
    "resnet18": ([64, 128, 256, 512], 2),
}
# The OPT paper's plain CNNs (layers/models/cnn_cifar.h): stage widths, convs per stage.
CNN_MODELS = {
    "cnn6": ([64, 64, 64], 2),
    "cnn9": ([64, 64, 64], 3),
}


class InputError(Exception):
    """Bad flags or input: the script exits 2 with one line on stderr."""


# ---------------------------------------------------------------- data


def read_cifar_file(path):
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR-10 binary file."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e
    if raw.size == 0 or raw.size % RECORD_BYTES != 0:
        raise InputError(f"{path}: size {raw.size} is not a positive multiple of {RECORD_BYTES}")
    records = raw.reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise InputError(
            f"{path}: label {labels[bad[0]]} at offset {bad[0] * RECORD_BYTES} is not in 0..9")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def load_cifar(data_dir):
    """(train_images, train_labels, test_images, test_labels) from the batch files present."""
    train_paths = [os.path.join(data_dir, f) for f in TRAIN_FILES]
    train_paths = [p for p in train_paths if os.path.exists(p)]
    if not train_paths:
        raise InputError(f"no CIFAR-10 data in {data_dir} (no data_batch_1..5.bin); run "
                         "`bash scripts/download_cifar10.sh` or set ORTHO_CIFAR10_DIR "
                         "(or pass --data DIR)")
    train = [read_cifar_file(p) for p in train_paths]
    test_images, test_labels = read_cifar_file(os.path.join(data_dir, TEST_FILE))
    return (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train]),
            test_images, test_labels)


def normalize(images):
    """uint8 (N, 3, 32, 32) -> normalized float32 tensor."""
    x = images.astype(np.float32) * np.float32(1 / 255)
    x -= MEAN[None, :, None, None]
    x /= STD[None, :, None, None]
    return torch.from_numpy(x)


def augment(images, rng):
    """Random crop 32 from the zero-padded image and horizontal flip p=0.5, vectorized."""
    n = images.shape[0]
    padded = np.pad(images, ((0, 0), (0, 0), (PADDING, PADDING), (PADDING, PADDING)))
    top = rng.integers(0, 2 * PADDING + 1, size=n)
    left = rng.integers(0, 2 * PADDING + 1, size=n)
    flip = rng.random(n) < 0.5
    span = np.arange(32)
    rows = top[:, None] + span
    # A flip reads the crop's columns right to left.
    cols = left[:, None] + np.where(flip[:, None], 31 - span, span)
    return padded[np.arange(n)[:, None, None, None], np.arange(3)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


# ---------------------------------------------------------------- model


def conv(in_channels, out_channels, kernel, stride):
    return nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); option-B shortcut on shape change."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = conv(in_channels, out_channels, 3, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = conv(out_channels, out_channels, 3, 1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(conv(in_channels, out_channels, 1, stride),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + self.shortcut(x))


class ResNetCifar(nn.Sequential):
    """conv1 -> bn1 -> relu -> layer1..layerK -> avgpool -> flatten -> fc, named as in ortho."""

    def __init__(self, widths, blocks_per_stage, num_classes=10):
        super().__init__()
        self.add_module("conv1", conv(3, widths[0], 3, 1))
        self.add_module("bn1", nn.BatchNorm2d(widths[0]))
        self.add_module("relu", nn.ReLU())
        channels = widths[0]
        for s, width in enumerate(widths):
            blocks = []
            for b in range(blocks_per_stage):
                blocks.append(BasicBlock(channels, width, 2 if s > 0 and b == 0 else 1))
                channels = width
            self.add_module(f"layer{s + 1}", nn.Sequential(*blocks))
        self.add_module("avgpool", nn.AdaptiveAvgPool2d(1))
        self.add_module("flatten", nn.Flatten(1))
        self.add_module("fc", nn.Linear(channels, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


class CNNCifar(nn.Sequential):
    """Stages of (3x3 conv, BN, ReLU) x c and a 2x2 max-pool, a 4x4 conv fc6 (no BN, no ReLU),
    flatten and fc, named as in ortho; convolutions N(0, 2 / fan_in), fc PyTorch's default."""

    def __init__(self, widths, convs_per_stage, num_classes=10):
        super().__init__()
        channels = 3
        for s, width in enumerate(widths, 1):
            for i in range(convs_per_stage):
                self.add_module(f"conv{s}_{i}", conv(channels, width, 3, 1))
                self.add_module(f"bn{s}_{i}", nn.BatchNorm2d(width))
                self.add_module(f"relu{s}_{i}", nn.ReLU())
                channels = width
            self.add_module(f"pool{s}", nn.MaxPool2d(2))
        self.add_module("fc6", nn.Conv2d(channels, channels, 4, bias=False))
        self.add_module("flatten", nn.Flatten(1))
        self.add_module("fc", nn.Linear(channels, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")


def build_model(name):
    if name in CNN_MODELS:
        return CNNCifar(*CNN_MODELS[name])
    widths, blocks = MODELS[name]
    return ResNetCifar(widths, blocks)


# ---------------------------------------------------------------- training


def cosine_lr(base_lr, iteration, total):
    """Cosine annealing from base_lr to 0 over `total` iterations (Loshchilov & Hutter 2017)."""
    return 0.5 * base_lr * (1 + math.cos(math.pi * iteration / total))


def synchronize(device):
    """Waits for the work queued on a GPU (CPU ops are synchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(model, optimizer, images, labels, args, rng, first_iteration, total_iterations):
    """One shuffled pass on args.torch_device; returns (mean loss, accuracy, wall seconds)."""
    device = args.torch_device
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    order = rng.permutation(len(labels))
    loss_sum, correct = 0.0, 0
    synchronize(device)
    start = time.perf_counter()
    for i, begin in enumerate(range(0, len(order), args.batch_size)):
        index = order[begin:begin + args.batch_size]
        x = normalize(augment(images[index], rng)).to(device)
        y = torch.from_numpy(labels[index]).to(device)
        lr = cosine_lr(args.lr, first_iteration + i, total_iterations)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(index)
        correct += (logits.argmax(1) == y).sum().item()
    synchronize(device)
    return loss_sum / len(order), correct / len(order), time.perf_counter() - start


@torch.no_grad()
def evaluate(model, images, labels, device):
    """(mean loss, accuracy) in eval mode on `device`, batches of EVAL_BATCH."""
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    loss_sum, correct = 0.0, 0
    for begin in range(0, len(labels), EVAL_BATCH):
        x = normalize(images[begin:begin + EVAL_BATCH]).to(device)
        y = torch.from_numpy(labels[begin:begin + EVAL_BATCH]).to(device)
        logits = model(x)
        loss_sum += loss_fn(logits, y).item()
        correct += (logits.argmax(1) == y).sum().item()
    return loss_sum / len(labels), correct / len(labels)


def emit(record):
    print(json.dumps(record), flush=True)


def parse_device(parser, text):
    """The torch device that --device names ("cpu", "cuda" = "cuda:0", "cuda:N"), as ortho's
    apps read it; parser.error (exit 2) for a malformed name or a GPU PyTorch does not see."""
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        parser.error(f"--device {text}: unknown device (expected cpu, cuda or cuda:N)")
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        parser.error(f"--device {text}: no CUDA device is available to PyTorch "
                     f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})")
    if index >= count:
        parser.error(f"--device {text}: no such CUDA device (PyTorch sees {count})")
    return torch.device("cuda", index)


def set_tf32(allow):
    """TF32 tensor cores for float32 matmuls and cuDNN convolutions on CUDA, as ortho's --tf32.
    Set both explicitly: PyTorch's default lets cuDNN use TF32, ortho's default does not."""
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Trains a CIFAR ResNet in PyTorch with ortho-train's recipe; "
        "prints one JSON object per epoch on stdout.")
    p.add_argument("--model", choices=sorted(MODELS) + sorted(CNN_MODELS), default="resnet20")
    p.add_argument("--data", default=os.environ.get("ORTHO_CIFAR10_DIR") or DEFAULT_DATA,
                   help=f"CIFAR-10 binary directory (default: $ORTHO_CIFAR10_DIR, else "
                   f"{DEFAULT_DATA})")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--tf32", action="store_true",
                   help="let float32 matmuls and convolutions on CUDA use TF32 tensor cores")
    p.add_argument("--subset", type=int, default=0,
                   help="train on the first N training images only (0: all)")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.subset < 0:
        p.error("--subset must be non-negative")
    if args.lr <= 0 or args.momentum < 0 or args.weight_decay < 0:
        p.error("--lr must be positive, --momentum and --weight-decay non-negative")
    args.torch_device = parse_device(p, args.device)
    return args


def run(args):
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    set_tf32(args.tf32)
    torch.manual_seed(args.seed)
    device = args.torch_device
    rng = np.random.default_rng(args.seed)
    train_images, train_labels, test_images, test_labels = load_cifar(args.data)
    if args.subset:
        train_images, train_labels = train_images[:args.subset], train_labels[:args.subset]

    model = build_model(args.model).to(device)  # initialized on the CPU, as ortho's
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay)
    iterations_per_epoch = math.ceil(len(train_labels) / args.batch_size)
    total_iterations = args.epochs * iterations_per_epoch
    wall = 0.0
    for epoch in range(args.epochs):
        first_iteration = epoch * iterations_per_epoch
        synchronize(device)
        start = time.perf_counter()
        train_loss, train_accuracy, train_s = train_epoch(
            model, optimizer, train_images, train_labels, args, rng, first_iteration,
            total_iterations)
        test_loss, test_accuracy = evaluate(model, test_images, test_labels, device)
        synchronize(device)
        epoch_s = time.perf_counter() - start
        wall += epoch_s
        emit({"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_accuracy,
              "test_loss": test_loss, "test_accuracy": test_accuracy,
              "lr": cosine_lr(args.lr, first_iteration, total_iterations), "wall_s": wall,
              "epoch_s": epoch_s, "images_per_s": len(train_labels) / train_s})
    emit({"final": True, "test_accuracy": test_accuracy, "test_loss": test_loss,
          "epochs": args.epochs, "wall_s": wall, "device": str(device)})


def main(argv):
    args = parse_args(argv)
    try:
        run(args)
    except InputError as e:
        print(f"train_pytorch: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
