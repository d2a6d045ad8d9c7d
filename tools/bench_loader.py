"""Training-loader throughput (images/s) on helen/trainset at 128 and 256 px, 0 vs 2 workers.

    SAAT_DATA=../shared/data/300w .venv/bin/python tools/bench_loader.py [--batches 8] [--out outputs/benchmarks/loader.md]

Each configuration builds the loader (with workers, the faces are decoded into the cache in the main process
first, and the forked workers inherit it), runs one warm-up pass over `--batches` batches, then times 3 passes (fresh
augmentations each epoch, cached decodes) and keeps the best. Writes a markdown table with the machine and the command.
"""
import argparse, datetime, os, sys, time
from pathlib import Path
import torch
from saat_nb.core import get_preset, machine_info, data_root
from saat_nb.data import face_dataloaders

def throughput(root, size, workers, batches, bs=16, repeats=3):
    "Images/s of the training loader over `batches` batches, after a warm-up pass, best of `repeats` passes."
    p = get_preset('cpu', size=size, sigma=5.1 * size / 256, bs=bs, num_workers=workers, n_train=bs * batches)
    dl = face_dataloaders(root, p, seed=0, device='cpu').train
    for _ in dl: pass                                           # warm-up: decode + cache
    best = 0.
    for _ in range(repeats):                                    # best of `repeats`: the machine is shared
        t = time.perf_counter(); n = sum(len(b[0]) for b in dl)
        best = max(best, n / (time.perf_counter() - t))
    return best

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None); ap.add_argument('--batches', type=int, default=8)
    ap.add_argument('--out', default='outputs/benchmarks/loader.md')
    a = ap.parse_args(argv)
    root = data_root(a.data)
    rows = [(s, w, throughput(root, s, w, a.batches)) for s in (128, 256) for w in (0, 2)]
    m = machine_info()
    md = ['# Training-loader throughput', '',
          f'{datetime.date.today()} · `{" ".join(["python tools/bench_loader.py", *(argv if argv is not None else sys.argv[1:])])}`', '',
          f'Machine: {m}', '',
          f'helen/trainset, training loader (affine crop + rotation/scale/shift/flip, colour jitter, occlusion, '
          f'68 heatmaps at the input size), batch 16, {a.batches} batches per pass, best of 3 passes after a warm-up pass '
          '(images decoded once and cached; heatmaps rendered per batch by the loader). Machine shared with other jobs '
          f'(load average at the end: {os.getloadavg()[0]:.1f}): treat as indicative.', '',
          '| size (px) | workers | images/s |', '|---|---|---|',
          *(f'| {s} | {w} | {r:.0f} |' for s, w, r in rows), '']
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text('\n'.join(md))
    print('\n'.join(md))

if __name__ == '__main__': main()
