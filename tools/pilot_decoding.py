"""Pilot for issue #16 (a converged cpu preset): how much of the cpu preset's validation NME is the heatmap grid
and its decoding, and how much is the detector?

Scored on helen/testset only (the validation split of the cross protocol); no test or masked set is read.

1. The floor of the grid: the *ground-truth* heatmaps of every validation face, rendered at each input size
   (the cpu preset's sigma scaled with the size), decoded back to points. What a perfect detector would score.
2. The committed cpu-preset detectors (baseline and SAAT, every seed), decoded three ways: the package's
   `argmax` (argmax + quarter-pixel shift), `argmax` with test-time flip, and a local soft-argmax (the
   heatmap-weighted mean of the 3x3 window around the argmax), with and without flip.

    SAAT_DATA=../shared/data/300w python tools/pilot_decoding.py        # ~3 min on 2 cores
Writes outputs/cpu/pilot_converge/decoding.md and decoding.json.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from saat_nb.core import get_preset, data_root, machine_info                     # noqa: E402
from saat_nb.data import find_faces, cap_faces, LandmarkDataset, split_subset     # noqa: E402
from saat_nb.hourglass import decode_heatmaps, flip_heatmaps                      # noqa: E402
from saat_nb.checkpoint import load_detector                                      # noqa: E402
from saat_nb.metrics import nme, markdown_table                                   # noqa: E402


def soft_argmax3(hm: torch.Tensor) -> torch.Tensor:
    "(B,K,H,W) -> (B,K,2): the heatmap-weighted mean of the 3x3 window around each argmax (weights clamped at 0)."
    B, K, H, W = hm.shape
    i = hm.reshape(B, K, -1).argmax(-1)
    y0, x0 = (i // W).clamp(1, H - 2), (i % W).clamp(1, W - 2)
    d = torch.arange(-1, 2)
    ys, xs = y0[..., None, None] + d[:, None], x0[..., None, None] + d[None, :]          # (B,K,3,3)
    w = hm[torch.arange(B)[:, None, None, None], torch.arange(K)[None, :, None, None], ys, xs].clamp_min(0)
    w = w / w.sum((-2, -1), keepdim=True).clamp_min(1e-12)
    return torch.stack([(w * xs).sum((-2, -1)), (w * ys).sum((-2, -1))], -1).float()


def faces(root: Path, n: int | None):
    return cap_faces(find_faces(root, split_subset('valid')), n, 0)


def grid_floor(root: Path, sizes) -> list[dict]:
    rows, base = [], get_preset('cpu')
    for s in sizes:
        p = get_preset('cpu', size=s, sigma=base.sigma * s / base.size)
        ds = LandmarkDataset(faces(root, None), p)
        hm = torch.stack([ds[i][1] for i in range(len(ds))]); pts = torch.stack([ds[i][2] for i in range(len(ds))])
        row = {'input px': s, 'sigma px': round(p.sigma, 2), 'faces': len(ds)}
        for name, dec in (('argmax', lambda h: decode_heatmaps(h, 'argmax')), ('soft-argmax 3x3', soft_argmax3)):
            row[f'GT heatmaps, {name}: NME%'] = 100 * float(nme(dec(hm), pts).mean())
        rows.append(row)
    return rows


@torch.no_grad()
def detectors(root: Path, runs) -> list[dict]:
    rows = []
    for d in runs:
        model, ck = load_detector(d / 'detector.pth')
        p = get_preset(ck['preset'])
        ds = LandmarkDataset(faces(root, p.n_valid), p)
        x = torch.stack([ds[i][0] for i in range(len(ds))]); pts = torch.stack([ds[i][2] for i in range(len(ds))])
        hm = torch.cat([model(x[k:k + 32])[-1].float() for k in range(0, len(x), 32)])
        hf = torch.cat([flip_heatmaps(model(x[k:k + 32].flip(-1))[-1].float()) for k in range(0, len(x), 32)])
        row = {'run': d.name, 'faces': len(ds)}
        for name, h in (('', hm), (' + flip', (hm + hf) / 2)):
            row[f'argmax{name}'] = 100 * float(nme(decode_heatmaps(h, 'argmax'), pts).mean())
            row[f'soft-argmax 3x3{name}'] = 100 * float(nme(soft_argmax3(h), pts).mean())
        committed = json.loads((d / 'metrics.json').read_text())['valid']['nme']
        row['committed valid NME% (argmax)'] = committed
        rows.append(row)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None)
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'cpu' / 'pilot_converge'))
    a = ap.parse_args(argv)
    root, out = data_root(a.data), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    load0, t0 = os.getloadavg(), time.time()
    floor = grid_floor(root, (64, 96, 128, 256))
    runs = [REPO / 'outputs' / 'cpu' / f'{k}_s{s}' for k in ('baseline', 'saat') for s in (0, 1, 2)]
    dets = detectors(root, [d for d in runs if (d / 'detector.pth').is_file()])
    for r in dets: assert abs(r['argmax'] - r['committed valid NME% (argmax)']) < 0.05, r   # the same faces and decoding
    m = machine_info()
    info = {'command': 'SAAT_DATA=../shared/data/300w python tools/pilot_decoding.py', 'date': time.strftime('%Y-%m-%d %H:%M'),
            'machine': m, 'threads': torch.get_num_threads(), 'load_before': load0, 'load_after': os.getloadavg(),
            'wall_s': time.time() - t0, 'split': 'valid (helen/testset) only', 'grid_floor': floor, 'detectors': dets}
    (out / 'decoding.json').write_text(json.dumps(info, indent=1) + '\n')
    md = ["# Pilot for #16: the heatmap grid and its decoding, on helen/testset (validation) only", '',
          f"`{info['command']}` · {info['date']} · {m.get('cpu')}, {m.get('cores')} cores, torch {m.get('torch')} · "
          f"{info['threads']} threads · load {load0[0]:.2f} before, {info['load_after'][0]:.2f} after · {info['wall_s']:.0f} s", '',
          '## The floor of the grid: ground-truth heatmaps decoded back to points', '',
          "What a perfect detector would score at each input size (sigma scaled with the size from the cpu preset's 2 px at 64 px).", '',
          markdown_table(floor), '',
          '## The committed cpu-preset detectors (64 px), decoded four ways', '',
          "`argmax` is the package's decoder (argmax + a quarter-pixel shift toward the higher neighbour), the one every "
          "committed number uses; the last column is the committed number, which the `argmax` column reproduces.", '',
          markdown_table(dets), '']
    (out / 'decoding.md').write_text('\n'.join(md))
    print('\n'.join(md))


if __name__ == '__main__': main()
