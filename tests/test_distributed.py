"""Two CPU processes (gloo): a few smoke SAAT steps under fastai's accelerate-driven DDP end with identical weights on both ranks.

`accelerate launch --cpu` starts a single process (multi-process CPU needs mpirun), so the two processes are started
by torchrun with ACCELERATE_USE_CPU=true; inside them accelerate's `Accelerator` (via fastai's `DistributedTrainer`)
sets up the gloo process group and DDP exactly as under `accelerate launch --multi_gpu` on GPUs."""
import importlib.util, os, subprocess, sys, textwrap
from pathlib import Path
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(importlib.util.find_spec('accelerate') is None
                                or not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason='needs accelerate and the gloo backend')

DRIVER = textwrap.dedent('''
    import sys, torch
    from fastai.torch_core import rank_distrib, num_distrib
    from saat_nb.core import get_preset, unwrap
    from saat_nb.data import face_dataloaders
    from saat_nb.learner import make_learner
    from saat_nb.train import fit_steps
    from saat_nb.distributed import distributed
    torch.set_num_threads(1)
    data, out, order = sys.argv[1:4]
    p = get_preset('smoke', steps=4, eval_every=2)
    learn = make_learner(face_dataloaders(data, p, seed=0), p, saat=True, seed=0, update_order=order)
    seen = []
    learn.add_cb(type('Seen', (__import__('fastai.callback.core', fromlist=['Callback']).Callback,),
                      {'before_batch': lambda self: seen.append(self.xb[0].sum().item()) if self.training else None})())
    with learn.no_logging(), distributed(learn): fit_steps(learn)
    cb = learn.saat
    torch.save({'world': num_distrib(), 'detector': {k: v for k, v in unwrap(learn.model).named_parameters()},
                'attacker': dict(unwrap(cb.attacker).named_parameters()),
                'discriminator': dict(unwrap(cb.discriminator).named_parameters()), 'seen': seen, 'step': learn.step},
               f'{out}/rank{rank_distrib()}.pth')
''')


@pytest.mark.parametrize('order', ['paper', 'shared'])
def test_two_ranks_stay_in_sync(tmp_path, data_dir, order):
    (tmp_path / 'driver.py').write_text(DRIVER)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(REPO), 'ACCELERATE_USE_CPU': 'true'}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(29500 + os.getpid() % 1000 + (order == 'shared')),
           str(tmp_path / 'driver.py'), str(data_dir), str(tmp_path), order]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    a, b = (torch.load(tmp_path / f'rank{i}.pth', weights_only=True) for i in (0, 1))
    assert a['world'] == b['world'] == 2 and a['step'] == b['step'] == 4
    assert a['seen'] != b['seen']                          # the ranks trained on different faces ...
    for k in ('detector', 'attacker', 'discriminator'):   # ... and still hold the same weights
        assert a[k].keys() == b[k].keys()
        assert all(torch.allclose(a[k][n], b[k][n], atol=1e-6, rtol=0) for n in a[k]), k
