"Tests of saat_nb.train: the SAAT Learner, its callbacks, the run folder, checkpoints and resume (smoke scale)."
import csv, json, math
import numpy as np
import pytest
import torch
from fastai.callback.core import Callback
from saat_nb.core import get_preset
from saat_nb.data import face_dataloaders
from saat_nb.hourglass import HourglassNet
from saat_nb.data import step_items
from saat_nb.checkpoint import load_checkpoint, CKPT_FORMAT
from saat_nb.runs import ablation_config, read_log
from saat_nb.learner import make_learner, frozen
from saat_nb.train import fit_steps, train_run, main

torch.set_num_threads(1)
FIXED = dict(rot=0., scale=0., shift=0., flip=False, occlusion=0., colour=0.)   # no augmentation: a fixed batch


def smoke(**kw): return get_preset('smoke', **kw)

def learner(data_dir, saat=True, steps=1, seed=0, **ab):
    p = smoke(steps=steps, eval_every=steps, **FIXED)
    learn = make_learner(face_dataloaders(data_dir, p, seed=seed), p, saat=saat, seed=seed, **ab)
    learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
    return learn

def quiet_fit(learn, **kw):
    with learn.no_logging(): fit_steps(learn, **kw)
    return learn

def state(m, params_only=False):
    "Copy of a module's parameters (and buffers unless params_only)."
    src = dict(m.named_parameters()) if params_only else m.state_dict()
    return {k: v.detach().clone() for k, v in src.items()}

def same(a, b, tol=0.): return all(torch.allclose(a[k].float(), b[k].float(), atol=tol, rtol=0) for k in a)

def flat(o) -> list:
    "Leaves (tensors, numbers) of nested dicts/lists, in order."
    if isinstance(o, dict): return [x for k in sorted(o, key=str) for x in flat(o[k])]
    if isinstance(o, (list, tuple)): return [x for v in o for x in flat(v)]
    return [o] if isinstance(o, (torch.Tensor, int, float)) else []

def rows(path):
    with open(path) as f: return list(csv.DictReader(f))


class Kill(Exception): pass

class KillAt(Callback):
    "Simulate a killed process after global step `k`."
    def __init__(self, k): self.k = k
    def after_batch(self):
        if self.training and self.learn.step == self.k: raise Kill(f'killed at step {self.k}')

class Snap(Callback):
    "Snapshots of detector/attacker at `before_batch` (this callback's order) and after the detector's step."
    def __init__(self, order, params_only=False): self.order, self.po, self.snaps = order, params_only, []
    def _snap(self, tag):
        self.snaps.append((tag, state(self.learn.model, self.po), state(self.learn.saat.attacker, True)))
    def before_batch(self):
        if self.training: self._snap('before_batch')
    def before_backward(self): self._snap('before_backward')
    def after_step(self): self._snap('after_step')


def test_step_items_resume_and_errors():
    full = step_items(10, 3, 0, 0, 9)
    assert step_items(10, 3, 0, 4, 5) == full[12:]
    with pytest.raises(ValueError, match='cannot fill one batch'): step_items(2, 3, 0, 0, 1)


def test_ablation_config_defaults_and_errors():
    p = smoke()
    assert ablation_config(p) == dict(beta=None, lam=p.lam, use_s=True, use_lr=True, use_d=True, adv_bn='update')
    with pytest.raises(ValueError, match='adv_bn'): ablation_config(p, adv_bn='freeze')
    with pytest.raises(TypeError, match='unknown ablation'): ablation_config(p, gamma=1)
    with pytest.raises(ValueError, match='beta'): ablation_config(p, beta=2)
    with pytest.raises(ValueError, match='lam'): ablation_config(p, lam=-1)


def test_saat_overfits_four_faces(tmp_path, data_dir):
    "A SAAT run on 4 fixed faces: the clean detector loss of the last steps is well below the first steps'."
    p = smoke(n_train=4, bs=4, steps=20, eval_every=20, **FIXED)
    out = train_run(p, data_dir, tmp_path / 'run', saat=True, progress=False)
    log = read_log(out)
    assert len(log['step']) == 20 and np.isfinite(log['L']).all()
    assert np.isfinite(log['L_F']).all() and np.isfinite(log['beta']).all()
    assert np.isfinite(log['L_adv']).all() and (log['L_adv'] > 0).all()        # L̃ is logged beside L
    assert json.loads((out / 'run.json').read_text())['config']['ablation']['adv_bn'] == 'update'
    early, late = log['L'][:3].mean(), log['L'][-3:].mean()
    assert late < 0.7 * early, (early, late)


@pytest.mark.parametrize('order', ['paper', 'shared'])
def test_each_player_steps_alone(data_dir, order):
    "Attacker step leaves the detector as it was; the detector step leaves the attacker as it was."
    learn = learner(data_dir, update_order=order)
    pre, mid = Snap(order=4, params_only=order == 'shared'), Snap(order=6, params_only=order == 'shared')
    quiet_fit(learn, cbs=[pre, mid])
    det0, att0 = pre.snaps[0][1], pre.snaps[0][2]
    (_, det_bb, att_bb), (_, det_st, att_st) = [s for s in mid.snaps if s[0] != 'before_batch']
    if order == 'paper':   # attacker already stepped in SAAT's before_batch; detector (params + BN buffers) untouched
        assert not same(att0, mid.snaps[0][2]) and same(det0, mid.snaps[0][1])
    else:                  # 'shared': the attacker steps in after_loss, before the detector's backward
        assert not same(att0, att_bb) and same(det0, det_bb)
    assert same(att_bb, att_st) and not same(state(learn.model, True), det0)   # detector step: attacker fixed


def test_resume_matches_unbroken_run(tmp_path, data_dir):
    "Kill at step 5 (checkpoint at 3), resume to 7: weights and logs equal an unbroken 7-step run."
    p = smoke(steps=7)
    a = train_run(p, data_dir, tmp_path / 'a', saat=True, progress=False)
    with pytest.raises(Kill): train_run(p, data_dir, tmp_path / 'b', saat=True, progress=False, cbs=[KillAt(5)])
    assert load_checkpoint(tmp_path / 'b' / 'checkpoint.pth')['step'] == 3
    assert len(rows(tmp_path / 'b' / 'log.csv')) == 4          # the killed run logged past its checkpoint (step 3)
    b = train_run(p, data_dir, tmp_path / 'b', saat=True, progress=False)
    A, B = load_checkpoint(a / 'final.pth'), load_checkpoint(b / 'final.pth')
    assert A['step'] == B['step'] == 7
    for k in ('detector', 'attacker', 'discriminator'):
        assert same(A[k], B[k], 1e-6), k
    for k in ('detector', 'attacker', 'discriminator'):   # optimiser states too
        fa, fb = flat(A['opt'][k]), flat(B['opt'][k])
        assert len(fa) == len(fb) and all(torch.allclose(torch.as_tensor(x).float(), torch.as_tensor(y).float(), atol=1e-6)
                                          for x, y in zip(fa, fb)), k
    la, lb = rows(a / 'log.csv'), rows(b / 'log.csv')
    assert [r['step'] for r in lb] == [str(i) for i in range(1, 8)]
    assert np.allclose([float(r['L']) for r in la], [float(r['L']) for r in lb], atol=1e-6)
    assert rows(a / 'eval.csv') == rows(b / 'eval.csv')


def test_run_folder_checkpoints_and_skip(tmp_path, data_dir, capsys):
    "The CLI baseline run writes the whole run folder; checkpoints load with weights_only; a rerun is skipped."
    out = tmp_path / 'base'
    main(['--preset', 'smoke', '--data', str(data_dir), '--out', str(out), '--baseline'])
    for f in ('run.json', 'log.csv', 'eval.csv', 'checkpoint.pth', 'final.pth', 'results_valid.npz', 'results_test.npz', 'metrics.json'):
        assert (out / f).is_file(), f
    rj = json.loads((out / 'run.json').read_text())
    assert rj['status'] == 'done' and rj['config']['saat'] is False and rj['wall_s'] > 0 and 'machine' in rj
    assert set(json.loads((out / 'metrics.json').read_text())) == {'valid', 'test'}
    assert [r['step'] for r in rows(out / 'eval.csv')] == ['3', '6']
    assert all(r['L_F'] == '' and r['skipped'] == '0' for r in rows(out / 'log.csv'))
    for f in ('checkpoint.pth', 'final.pth'):
        ck = torch.load(out / f, weights_only=True)
        assert ck['format'] == CKPT_FORMAT and ck['step'] == 6 and ck['attacker'] is None and ck['meta']['saat'] is False
        HourglassNet(**ck['arch']).load_state_dict(ck['detector'])
        assert set(ck['opt']) == {'detector', 'attacker', 'discriminator'} and set(ck['rng']) >= {'torch', 'numpy', 'python'}
    capsys.readouterr()
    train_run('smoke', data_dir, out, saat=False, progress=False)
    assert 'skipping' in capsys.readouterr().out
    with pytest.raises(FileExistsError, match='another config'): train_run('smoke', data_dir, out, saat=True, progress=False)


def test_saat_checkpoint_has_all_three(tmp_path, data_dir):
    learn = learner(data_dir)
    quiet_fit(learn, run_dir=tmp_path)
    ck = torch.load(tmp_path / 'checkpoint.pth', weights_only=True)
    assert ck['meta']['saat'] and ck['attacker'] and ck['discriminator'] and ck['opt']['attacker']['state']


@pytest.mark.parametrize('switch', ['use_d', 'use_lr', 'use_s'])
def test_ablation_switches_remove_their_part(data_dir, switch):
    learn = quiet_fit(learner(data_dir, **{switch: False}))
    cb, st = learn.saat, learn.saat.stats
    assert learn.ablation[switch] is False
    if switch == 'use_d':
        assert cb.discriminator is None and cb.opt_dis is None and math.isnan(st['L_D']) and math.isnan(st['L_A'])
        assert set(learn.aux_opts) == {'attacker'}
    if switch == 'use_lr': assert math.isnan(st['L_R']) and math.isfinite(st['L_A'])
    if switch == 'use_s':
        assert cb.attacker.use_s is False and cb.discriminator.use_s is False
        assert cb.attacker.downs[0][0].in_channels == 3 + cb.attacker.noise_ch
    full = quiet_fit(learner(data_dir)).saat.stats
    assert all(math.isfinite(full[k]) for k in ('L_F', 'L_A', 'L_R', 'L_D', 'beta', 'ssim'))


def test_beta_and_lambda_switches(data_dir):
    b0 = quiet_fit(learner(data_dir, beta=0.))
    assert b0.saat.stats['beta'] == 0 and b0.saat.stats['L_adv'] == 0
    b5 = quiet_fit(learner(data_dir, beta=0.5))
    assert b5.saat.stats['beta'] == 0.5 and b5.saat.stats['L_adv'] > 0
    ada = quiet_fit(learner(data_dir)).saat.stats
    assert 0 <= ada['beta'] <= math.log(1.5) + 1e-6
    # L_F = mean 1/(MSE + λ) <= 1/λ; same seed and batch, so the λ=1 run's L_F is the smaller
    lf = {lam: quiet_fit(learner(data_dir, lam=lam)).saat.stats['L_F'] for lam in (0.1, 1.)}
    assert lf[1.] <= 1. and lf[1.] < lf[0.1]


@pytest.mark.parametrize('which,order', [('attacker', 'paper'), ('discriminator', 'paper'), ('attacker', 'shared')])
def test_nan_guard(tmp_path, data_dir, monkeypatch, which, order):
    "A non-finite attacker/D loss: no step for that player, skip logged, detector = baseline detector."
    import saat_nb.learner as T
    learn = learner(data_dir, update_order=order)
    cb = learn.saat
    if which == 'attacker':
        real = cb.attacker_loss
        def nan_loss(*a):
            L, parts = real(*a)
            return L * float('nan'), parts
        cb.attacker_loss = nan_loss
    else:
        real_dl = T.discriminator_loss
        monkeypatch.setattr(T, 'discriminator_loss', lambda r, f: real_dl(r, f) * float('inf'))
    player = cb.attacker if which == 'attacker' else cb.discriminator
    before = state(player, True)
    quiet_fit(learn, run_dir=tmp_path)
    bit = 1 if which == 'attacker' else 2
    assert [int(r['skipped']) for r in rows(tmp_path / 'log.csv')] == [bit]
    assert same(before, state(player, True))
    assert math.isnan(learn.saat.stats['L_adv'])              # no L̃ for this batch
    base = quiet_fit(learner(data_dir, saat=False))
    # the detector stepped on its clean loss only ('shared': its BN buffers did see I_adv's forward)
    assert same(state(base.model, order == 'shared'), state(learn.model, order == 'shared'), 1e-6)


def test_frozen_restores_buffers():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).train()
    s0 = state(m)
    with frozen(m):
        assert not any(p.requires_grad for p in m.parameters())
        m(torch.randn(2, 3, 8, 8))
    assert same(s0, state(m)) and all(p.requires_grad for p in m.parameters())


class NaNAttacker(torch.nn.Module):
    "An attacker whose perturbation is NaN: what a diverged A would give."
    def __init__(self, a): super().__init__(); self.a, self.noise_ch = a, a.noise_ch
    def forward(self, x, S=None, z=None): return self.a(x, S, z) * float('nan')


@pytest.mark.parametrize('order', ['paper', 'shared'])
def test_nan_attacker_output_keeps_every_network_finite(tmp_path, data_dir, order):
    "NaN into A's output: no parameter and no buffer (D's and the detector's BatchNorm statistics) of the three networks turns non-finite."
    learn = learner(data_dir, steps=2, update_order=order)
    learn.saat.attacker = NaNAttacker(learn.saat.attacker)
    quiet_fit(learn, run_dir=tmp_path)
    for name, m in (('detector', learn.model), ('attacker', learn.saat.attacker), ('discriminator', learn.saat.discriminator)):
        bad = [k for k, t in m.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
        assert not bad, f"{name}: non-finite {bad[:4]}"
    assert [int(r['skipped']) for r in rows(tmp_path / 'log.csv')] == [3, 3]
    ck = torch.load(tmp_path / 'checkpoint.pth', weights_only=True)
    assert all(torch.isfinite(t).all() for k in ('detector', 'discriminator') for t in ck[k].values() if t.is_floating_point())


def test_killed_between_evaluations_gets_only_its_evaluation(tmp_path, data_dir, monkeypatch, capsys):
    "A run killed after its validation but before its test evaluation is `evaluating`, not done; the rerun evaluates only the test split."
    import saat_nb.train as T
    from saat_nb.runs import run_state
    real = T.save_results
    def killed_at_test(out, res):
        if res.split == 'test': raise Kill('killed during the test evaluation')
        return real(out, res)
    monkeypatch.setattr(T, 'save_results', killed_at_test)
    out = tmp_path / 'base'
    with pytest.raises(Kill): train_run('smoke', data_dir, out, saat=False, progress=False)
    st = run_state(out)
    assert st.state == 'evaluating' and st.todo == ('test',), st
    monkeypatch.setattr(T, 'save_results', real)
    log = (out / 'log.csv').read_bytes(); valid = (out / 'results_valid.npz').read_bytes()
    main(['--preset', 'smoke', '--data', str(data_dir), '--out', str(out), '--baseline'])
    assert 'evaluating test' in capsys.readouterr().out
    assert run_state(out).state == 'done' and json.loads((out / 'run.json').read_text())['status'] == 'done'
    assert set(json.loads((out / 'metrics.json').read_text())) == {'valid', 'test'}
    assert (out / 'log.csv').read_bytes() == log and (out / 'results_valid.npz').read_bytes() == valid, 'nothing retrained'


def test_committed_run_without_final_is_done(tmp_path, data_dir):
    "A finished run as committed (weights-only detector.pth, no final.pth/checkpoint.pth) is done; without weights and an evaluation it is broken."
    from saat_nb.predict import export_detector
    from saat_nb.runs import run_state, RunBroken
    out = tmp_path / 'base'
    train_run('smoke', data_dir, out, saat=False, progress=False)
    export_detector(out / 'final.pth', out / 'detector.pth')
    (out / 'final.pth').unlink(); (out / 'checkpoint.pth').unlink()
    assert run_state(out).state == 'done'
    m = json.loads((out / 'metrics.json').read_text()); del m['test']; (out / 'metrics.json').write_text(json.dumps(m))
    assert run_state(out).todo == ('test',)
    train_run('smoke', data_dir, out, saat=False, progress=False)       # evaluates with detector.pth
    assert 'test' in json.loads((out / 'metrics.json').read_text()) and not (out / 'final.pth').exists()
    (out / 'results_test.npz').unlink(); (out / 'detector.pth').unlink()
    with pytest.raises(RunBroken, match='retrain'): train_run('smoke', data_dir, out, saat=False, progress=False)


def test_second_process_on_a_run_folder_is_refused(tmp_path, data_dir, capsys):
    "Another live process holds the run folder: refused at once, naming the folder and its PID; once it is dead, taken over with a note."
    import subprocess, sys
    from saat_nb.core import FolderLocked
    out = tmp_path / 'base'
    code = "import sys, time; from saat_nb.core import FolderLock; lock = FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, '-c', code, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        with pytest.raises(FolderLocked, match=rf"{out}.*PID {holder.pid}"): train_run('smoke', data_dir, out, saat=False, progress=False)
        assert not (out / 'log.csv').exists()
    finally: holder.kill(); holder.wait()
    (out / 'checkpoint.pth.tmp').write_bytes(b'')          # a 0-byte temporary of a killed write
    train_run('smoke', data_dir, out, saat=False, progress=False)
    err = capsys.readouterr()
    assert f'PID {holder.pid}' in err.err and 'no longer running' in err.err
    assert 'checkpoint.pth.tmp' in err.out and not list(out.glob('*.tmp')) and not list(out.glob('.*.tmp'))
    assert not (out / '.lock.json').exists(), 'the holder file goes with the lock'


def test_cli_exits_2_on_a_broken_run_folder(tmp_path, data_dir, capsys):
    "python -m saat_nb.train on a folder it cannot trust: one line saying what to do, exit 2, no traceback."
    out = tmp_path / 'base'; out.mkdir(); (out / 'detector.pth').write_bytes(b'x')
    with pytest.raises(SystemExit) as e: main(['--preset', 'smoke', '--data', str(data_dir), '--out', str(out), '--baseline'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'no run.json' in err and '--retrain' in err and 'Traceback' not in err


def test_paper_preset_steps_with_amp_and_channels_last(data_dir):
    "The GPU path without a GPU: two SAAT steps of the paper preset's networks (256 px, width 256) with amp and channels_last, on CPU."
    from saat_nb.core import cpu_bf16_units
    p = get_preset('paper', bs=2, steps=2, eval_every=2, n_train=4, n_valid=2, num_workers=0)
    learn = make_learner(face_dataloaders(data_dir, p, seed=0), p, saat=True)
    learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
    assert learn.amp.enabled == bool(cpu_bf16_units()), learn.amp.why
    seen = []
    h = learn.model.register_forward_hook(lambda m, i, o: seen.append(o[-1].dtype))
    quiet_fit(learn)
    h.remove()
    st = learn.saat.stats
    assert all(math.isfinite(st[k]) for k in ('L_F', 'L_A', 'L_R', 'L_D', 'beta', 'ssim')) and st['skipped'] == 0, st
    want = torch.bfloat16 if learn.amp.enabled else torch.float32
    assert seen and all(d == want for d in seen), seen                    # every detector forward ran in the plan's dtype
    conv = next(m for m in learn.model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    aconv = next(m for m in learn.saat.attacker.modules() if isinstance(m, torch.nn.Conv2d))
    assert aconv.weight.is_contiguous(memory_format=torch.channels_last)
    for m in (learn.model, learn.saat.attacker, learn.saat.discriminator):
        assert all(torch.isfinite(t).all() for t in m.state_dict().values() if t.is_floating_point())
        assert all(t.dtype == torch.float32 for t in m.state_dict().values() if t.is_floating_point()), 'weights stay fp32'


class LossSeen(Callback):
    "Records, after SAAT's after_loss (order 5), the clean L, the AdvBatch's L̃ and the Learner's loss."
    order = 6
    def __init__(self): self.seen = []
    def after_loss(self):
        if self.training:
            a = self.learn.saat.adv
            self.seen.append((self.learn.saat.stats['L'], float(a.L_adv), float(self.learn.loss), a, len(self.learn.yb)))

@pytest.mark.parametrize('order', ['paper', 'shared'])
def test_adversarial_batch_is_one_object_and_its_loss_is_added(data_dir, order):
    "The step's adversarial batch is `SAATCallback.adv`; the Learner's loss is L + L̃; the batch and loss function carry none of it."
    learn, rec = learner(data_dir, update_order=order, beta=0.5), LossSeen()     # fixed β: L̃ > 0 even at step 1
    quiet_fit(learn, cbs=[rec])
    L, L_adv, total, a, n_yb = rec.seen[0]
    assert math.isclose(total, L + L_adv, rel_tol=1e-5) and L_adv > 0
    assert a.x_adv.shape == a.x.shape and a.beta.shape == a.ssim.shape == (a.x.shape[0],)
    assert len(a.preds) == 1 and a.preds[0].shape == a.hm.shape and a.leaf.requires_grad == (order == 'shared')
    assert n_yb == 2 and learn.saat.adv is None                          # nothing smuggled in yb; cleared after the step


class XAt(Callback):
    "The detector's state and the clean batch at the first training step (before SAAT's callback)."
    order = 4
    def __init__(self): self.first = None
    def before_batch(self):
        if self.training and self.first is None: self.first = (self.xb[0].clone(), state(self.learn.model))

@pytest.mark.parametrize('adv_bn', ['update', 'keep'])
def test_adv_bn_switch_decides_whose_statistics_the_detector_keeps(data_dir, adv_bn):
    "adv_bn='keep': the detector's running BN statistics after a SAAT step are those of its clean forward alone."
    learn, at = learner(data_dir, adv_bn=adv_bn), XAt()
    quiet_fit(learn, cbs=[at])
    ref = HourglassNet(learn.preset.stacks, learn.preset.width, learn.preset.size)
    x0, det0 = at.first
    ref.load_state_dict(det0); ref.train()
    with torch.no_grad(): ref(x0)                                        # the clean forward only
    got = {k: v for k, v in learn.model.state_dict().items() if 'running' in k}
    want = {k: v for k, v in ref.state_dict().items() if 'running' in k}
    assert got and same(got, want, 1e-6) == (adv_bn == 'keep')


def test_runs_from_before_adv_bn_keep_their_identity():
    "A committed run's run.json has no adv_bn: it ran with 'update', so its config still matches today's default."
    from saat_nb.runs import config_diff as _config_diff
    ab = ablation_config(smoke())
    old = {'saat': True, 'ablation': {k: v for k, v in ab.items() if k != 'adv_bn'}}
    assert _config_diff(old, {'saat': True, 'ablation': ab}) == []
    assert _config_diff(old, {'saat': True, 'ablation': {**ab, 'adv_bn': 'keep'}}) == ['ablation']


def test_cli_switches_are_train_runs_keywords(tmp_path, data_dir):
    "python -m saat_nb.train spells each switch as train_run's keyword (--beta, --no-use_d, --adv_bn, --update_order) and run.json records them."
    out = main(['--preset', 'smoke', '--steps', '2', '--data', str(data_dir), '--out', str(tmp_path / 'r'), '--beta', '0.5',
                '--no-use_d', '--adv_bn', 'keep', '--update_order', 'shared'])
    cfg = json.loads((out / 'run.json').read_text())['config']
    assert cfg['update_order'] == 'shared' and 'order' not in cfg
    assert {k: cfg['ablation'][k] for k in ('beta', 'use_d', 'adv_bn', 'use_s')} == {'beta': 0.5, 'use_d': False, 'adv_bn': 'keep', 'use_s': True}
    from saat_nb.runs import run_name
    assert run_name(True, 0, {'beta': 0.5, 'use_d': False, 'adv_bn': 'keep'}) == 'abl_beta0.5_noD_keepBN_s0'
