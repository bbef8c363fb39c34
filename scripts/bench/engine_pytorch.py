"""PyTorch baseline for `npm run bench -- engine`: the same MNIST CNN, ResNet-50 and IMDB BiGRU, on CPU.

Prints one JSON object: {"threads", "trainSamplesPerSec", "inferSamplesPerSec", "resnet50P50Ms",
"imdbBigruTrainSamplesPerSec", "blas", "torch"}; "blas" names the BLAS torch really uses ("reference" for the netlib one,
which makes the convolutions oneDNN does not take, e.g. ResNet-50's 1×1 ones at batch 1, slow).
Usage: python3 engine_pytorch.py [threads] [seconds-per-measurement]
"""
import json
import re
import statistics
import sys
import time

import torch
from torch import nn

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 1
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
torch.set_num_threads(THREADS)
torch.manual_seed(0)


def mnist_cnn() -> nn.Module:
    # conv 5x5x16 -> maxpool 2 -> conv 5x5x32 -> maxpool 2 -> dense 10 (valid padding)
    return nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10),
    )


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, project: bool):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width * 4, 1, bias=False), nn.BatchNorm2d(width * 4),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4)) if project else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def resnet50() -> nn.Module:
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            layers.append(Bottleneck(cin, width, stride if b == 0 else 1, b == 0))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


class ImdbBiGru(nn.Module):
    """imdb-bigru: Embedding(10000, 100) -> BiGRU(128, sequences) -> BiGRU(128) -> Dense(1, sigmoid).

    PyTorch's GRU applies the reset gate after the recurrent product (Keras's reset_after=True);
    TF.js's applies it before. The work per step is the same size.
    """

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10000, 100)
        self.gru1 = nn.GRU(100, 128, batch_first=True, bidirectional=True)
        self.gru2 = nn.GRU(256, 128, batch_first=True, bidirectional=True)
        self.out = nn.Linear(256, 1)

    def forward(self, x):
        sequence, _ = self.gru1(self.embedding(x))
        _, last = self.gru2(sequence)
        return torch.sigmoid(self.out(torch.cat([last[0], last[1]], 1)))


def imdb_bigru_train_rate() -> float:
    """Training samples/s at batch 32, 500 tokens (RMSprop, binary cross-entropy, as Kaskade's)."""
    model = ImdbBiGru()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    loss_fn = nn.BCELoss()
    xs, ys = torch.randint(0, 10000, (32, 500)), torch.randint(0, 2, (32, 1)).float()

    def step():
        opt.zero_grad()
        loss_fn(model(xs), ys).backward()
        opt.step()

    return rate(step, 32, warm_up=1, min_runs=2)


def rate(step, samples: int, warm_up: int = 3, min_runs: int = 5) -> float:
    for _ in range(warm_up):
        step()
    n, start = 0, time.perf_counter()
    while n < min_runs or time.perf_counter() - start < SECONDS:
        step()
        n += 1
    return samples * n / (time.perf_counter() - start)


def main() -> None:
    model = mnist_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def train_step():
        opt.zero_grad()
        loss_fn(model(xs), ys).backward()
        opt.step()

    train = rate(train_step, 64)
    model.eval()
    xi = torch.randn(512, 1, 28, 28)

    def infer_step():
        with torch.no_grad():
            model(xi).softmax(1)

    infer = rate(infer_step, 512)
    net = resnet50().eval()
    x1 = torch.randn(1, 3, 224, 224)
    times = []
    with torch.no_grad():
        for _ in range(3):
            net(x1)
        for _ in range(10):
            t = time.perf_counter()
            net(x1).softmax(1)
            times.append((time.perf_counter() - t) * 1000)
    print(json.dumps({
        "threads": THREADS,
        "trainSamplesPerSec": round(train),
        "inferSamplesPerSec": round(infer),
        "resnet50P50Ms": round(statistics.median(times), 1),
        "imdbBigruTrainSamplesPerSec": round(imdb_bigru_train_rate(), 2),
        "blas": blas_name(),
        "torch": torch.__version__,
    }))


def blas_name() -> str:
    """The BLAS torch was built against (BLAS_INFO), or the shared library it loaded for "generic"."""
    match = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    info = match.group(1).lower() if match else "generic"
    if info != "generic":
        return info
    # A generic build calls whichever libblas.so.3 the dynamic linker gave this process.
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            loaded = maps.read().lower()
    except OSError:
        return "generic"
    return next((name for name in ("openblas", "blis", "mkl", "atlas") if name in loaded), "reference")


if __name__ == "__main__":
    main()
