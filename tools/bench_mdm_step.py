"""One MDM training step (forward over the descent steps, `descent_loss`, backward) with `MDM.phi` on NCHW patches
against channels-last ones (what `phi` does), side by side in one process, a few interleaved rounds; the fastest
repeat of each round counts; then a baseline and a SAAT Learner step of the `mdm_cpu` preset on real faces (the
median of 20 steps after 4 of warm-up, the batch part: before_batch to after_batch, data loading aside)
-> outputs/benchmarks/mdm_step.md.

    SAAT_DATA=../shared/data/300w python tools/bench_mdm_step.py [--threads 1] [--rounds 3] [--out outputs/benchmarks/mdm_step.md]

A fixed synthetic batch (random pixels and points) at the `mdm_cpu` preset's shapes: batch 16, 64 px, 68 points,
patch 14, 4 steps, memory 512; bf16 autocast when the CPU has bf16 units (as training), else fp32.
"""
from __future__ import annotations
import argparse, os, sys, time
from pathlib import Path
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def learner_steps(p, data) -> dict:
    "Median batch-part seconds of a baseline and a SAAT Learner step at preset `p` on real faces -> {'baseline', 'SAAT'}."
    import time as _t
    from fastai.callback.core import Callback
    from saat_nb.core import get_preset
    from saat_nb.data import face_dataloaders
    from saat_nb.learner import make_learner
    class Timer(Callback):
        order = 99
        def before_fit(self): self.ts = []
        def before_batch(self): self.t = _t.perf_counter()
        def after_batch(self):
            if self.training: self.ts.append(_t.perf_counter() - self.t)
    out = {}
    for name, saat in (('baseline', False), ('SAAT', True)):
        q = get_preset(p, steps=24, eval_every=24)
        learn = make_learner(face_dataloaders(data, q, seed=0), q, saat=saat)
        learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
        with learn.no_logging(): learn.fit(1, cbs=(tm := Timer()))
        ts = sorted(tm.ts[4:]); out[name] = ts[len(ts) // 2]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'benchmarks' / 'mdm_step.md'))
    ap.add_argument('--data', default=None, help='300W root (default: $SAAT_DATA)')
    a = ap.parse_args(argv)
    import torch, torch.nn.functional as F
    from saat_nb.core import get_preset, device_amp, machine_info
    from saat_nb.mdm import MDM, set_mean_shape, descent_loss
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    p = get_preset('mdm_cpu')
    m = set_mean_shape(MDM(p.size, 68, p.patch, p.descent_steps, p.hidden), torch.rand(68, 2) * 40 + 12)
    torch.nn.init.normal_(m.reg.weight, std=0.01)                      # a moving shape, as after some training
    x, y = torch.rand(p.bs, 3, p.size, p.size), torch.rand(p.bs, 68, 2) * 40 + 12
    plan = device_amp('cpu')
    cl_phi = MDM.phi
    def nchw_phi(self, q):                                             # the same layers on NCHW patches
        f = F.max_pool2d(F.relu(self.conv1(q)), 2); b = F.relu(self.conv2(f)); pb = F.max_pool2d(b, 2)
        k, s = pb.shape[-1], b.shape[-1]; o = (s - k) // 2
        return torch.cat([b[..., o:o + k, o:o + k], pb], 1).flatten(1)
    def step_time(phi, reps=5):
        MDM.phi = phi
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            with plan.autocast(): out = m(x)
            loss = descent_loss(out, y); m.zero_grad(); loss.backward()
            ts.append(time.perf_counter() - t)
        MDM.phi = cl_phi
        return min(ts[1:])
    load0, rows = os.getloadavg(), []
    for r in range(a.rounds):
        t_n, t_c = step_time(nchw_phi), step_time(cl_phi)
        rows.append((r, t_n, t_c))
    learner = learner_steps(p, a.data)
    load1 = os.getloadavg()
    cmd = 'python tools/bench_mdm_step.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    lines = ['# One MDM training step: NCHW patches against channels-last (what `MDM.phi` does)', '',
             f"{time.strftime('%Y-%m-%d')} · `{cmd}` · {plan.why} · machine: {machine_info()} · load average at the "
             f"start {load0[0]:.1f}, at the end {load1[0]:.1f}", '',
             f"Batch {p.bs}, {p.size} px, 68 points, patch {p.patch}, {p.descent_steps} steps, memory {p.hidden}: forward, "
             "descent_loss, backward (no optimiser step). Fastest of 4 repeats per round; the rounds interleave the two.", '',
             '| round | NCHW patches (s/step) | channels-last patches (s/step) | NCHW / channels-last |', '|---|---|---|---|']
    lines += [f"| {r} | {n:.3f} | {c:.3f} | {n / c:.2f} |" for r, n, c in rows]
    lines += ['', f"The whole Learner step at `mdm_cpu` on HELEN training faces ({p.bs} per batch; median of 20 steps, "
              "the batch part only, data loading aside), one after the other in this process:", '',
              '| run | s/step | × baseline | 2500 steps (min) |', '|---|---|---|---|']
    lines += [f"| {k} | {v:.3f} | {v / learner['baseline']:.2f} | {v * p.steps / 60:.0f} |" for k, v in learner.items()]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__': main()
