"The attack chain has one owner (saat_nb.attack): training, the explorer and the gallery compute the same S, M, I_adv, SSIM and β."
import ast, math
from pathlib import Path
import pytest
import torch
from saat_nb.core import get_preset, set_seed
from saat_nb.data import face_dataset
from saat_nb.attacker import Attacker, structure_map, semantic_mask
from saat_nb.beta import ssim, beta_weight
from saat_nb.attack import AdvBatch, attack_chain, attack_panels, PANELS

torch.set_num_threads(1)
PKG = Path(__file__).resolve().parents[1] / 'saat_nb'


def test_weigh_has_no_gradient_and_its_bounds():
    "β is a weight, not a gradient path: ln 1.5 for I_adv = I, 0 for an unrelated image (moved from test_beta)."
    x = torch.rand(2, 3, 24, 24, requires_grad=True); hm = torch.ones(2, 68, 24, 24)   # M = 1 everywhere
    a = AdvBatch.start(x, hm); a.x_adv = x * 1
    b = a.weigh()
    assert not b.requires_grad and torch.allclose(b, torch.full((2,), math.log(1.5)), atol=1e-5)
    a.x_adv = torch.rand(2, 3, 24, 24)
    assert (a.weigh() == 0).all() and a.ssim.shape == (2,)
    assert torch.equal(a.weigh(0.1), torch.full((2,), 0.1))


@pytest.fixture(scope='module')
def faces(data_dir):
    p = get_preset('smoke')
    ds = face_dataset(data_dir, p, 'test', n=3)
    x, hm, pts = (torch.stack(t) for t in zip(*[ds[i] for i in range(3)]))
    set_seed(0)
    return p, Attacker(p.size, p.ngf, p.kernel), x, hm, pts


def test_explorer_gallery_and_chain_agree(faces):
    "The explorer's attack and the evaluation gallery return the chain's own tensors: the same I_adv, SSIM and β."
    import matplotlib; matplotlib.use('Agg')
    from saat_nb.explorer import attack
    from saat_nb.evaluate import plot_adversarial_gallery
    from saat_nb.hourglass import HourglassNet
    p, att, x, hm, pts = faces
    det = HourglassNet(p.stacks, p.width, p.size).eval()
    ref = attack_chain(att, x, hm, seed=3)
    M = semantic_mask(hm)
    assert torch.equal(ref.S, structure_map(hm)) and torch.equal(ref.M, M)
    assert torch.equal(ref.beta, beta_weight(ssim(M * x, M * ref.x_adv)))          # eq. 9 on eq. 2's example
    ex = attack(det, att, x, hm, pts, seed=3)['chain']
    fig, g = plot_adversarial_gallery(x, hm, att, det, seed=3, pts=pts)
    for other in (ex, g['chain']):
        assert isinstance(other, AdvBatch)
        assert all(torch.equal(getattr(other, k), getattr(ref, k)) for k in ('S', 'M', 'z', 'pert', 'x_adv', 'ssim', 'beta'))
    assert [ax.get_title() for ax in fig.axes[:4]] == list(PANELS[:4]) and 'SSIM' in fig.axes[4].get_title()
    assert len(attack_panels(ref, 2)) == len(PANELS)


def test_training_runs_the_same_chain(data_dir):
    "SAATCallback's batch is an attack.AdvBatch whose β is eq. 9 of its own I_adv: no second copy of the chain in train."
    from saat_nb.data import face_dataloaders
    from saat_nb.learner import make_learner
    from fastai.callback.core import Callback
    p = get_preset('smoke', steps=1, eval_every=1)
    learn = make_learner(face_dataloaders(data_dir, p, seed=0), p, saat=True)
    seen = []
    class Grab(Callback):
        order = 6
        def after_pred(self):
            if self.training: seen.append(self.learn.saat.adv)
    with learn.no_logging(): learn.fit(1, cbs=[Grab()])
    a = seen[0]
    assert isinstance(a, AdvBatch) and a.beta.shape == (p.bs,)
    assert torch.allclose(a.beta, beta_weight(ssim(a.M * a.x, a.M * a.x_adv)), atol=1e-6)
    assert torch.equal(a.M, semantic_mask(a.hm)) and torch.equal(a.S, structure_map(a.hm))


OWNERS = {'ssim': {'beta', 'attack'}, 'beta_weight': {'beta', 'attack'}, 'adversarial_example': {'attacker', 'attack'},
          'structure_map': {'attacker', 'attack'}, 'semantic_mask': {'attacker', 'attack'}}

def test_each_step_of_the_chain_is_called_by_its_owner_only():
    "No module of the package calls a step of the attack chain itself, except where it is defined and saat_nb.attack."
    calls = {}
    for f in PKG.glob('*.py'):
        if f.name.startswith('_'): continue
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.Call):
                name = getattr(n.func, 'id', getattr(n.func, 'attr', None))
                if name in OWNERS: calls.setdefault(name, set()).add(f.stem)
    bad = {k: sorted(v - OWNERS[k]) for k, v in calls.items() if v - OWNERS[k]}
    assert not bad, f"the attack chain has a second owner: {bad}"
    assert calls['beta_weight'] == {'attack'} and 'attack' in calls['adversarial_example']
