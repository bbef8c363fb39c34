"""PyTorch inference baseline for the serving-engine table of `npm run bench -- engine`.

The same MNIST CNN and ResNet-50 as engine_pytorch.py, in eval mode without gradients, at
batch 1 and 64. Prints one JSON object: {"threads", "torch", "blas", "runs": [{"model",
"batch", "p50Ms"}]}.
Usage: python3 engine_pytorch_infer.py [threads] [seconds-per-measurement] [model:batch,...]
(the third argument keeps only those runs, e.g. `resnet50:1` for the split benchmark).
"""
import json
import statistics
import sys
import time

import torch

from engine_pytorch import THREADS, blas_name, mnist_cnn, resnet50

SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
ONLY = set(sys.argv[3].split(",")) if len(sys.argv) > 3 else None


def p50(run, budget_s: float, min_runs: int) -> float:
    run()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget_s and len(times) < 50):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    models = {"mnist-cnn": (mnist_cnn().eval(), (1, 28, 28)), "resnet50": (resnet50().eval(), (3, 224, 224))}
    runs = []
    with torch.no_grad():
        for name, (net, shape) in models.items():
            for batch in (1, 64):
                if ONLY is not None and f"{name}:{batch}" not in ONLY:
                    continue
                x = torch.randn(batch, *shape)
                min_runs = 2 if name == "resnet50" and batch == 64 else 10
                runs.append({"model": name, "batch": batch, "p50Ms": p50(lambda: net(x).softmax(1), SECONDS, min_runs)})
    print(json.dumps({"threads": THREADS, "torch": torch.__version__, "blas": blas_name(), "runs": runs}))


if __name__ == "__main__":
    main()
