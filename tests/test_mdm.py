"saat_nb.mdm (02_mdm): patches, the descent network, its loss; it learns on a few real faces."
import numpy as np, pytest, torch
from saat_nb.mdm import MDM, extract_patches, descent_loss, mean_shape, set_mean_shape
from saat_nb.core import set_seed
from saat_nb.data import face_dataset


def test_patches_are_centred_bilinear_and_detached():
    img = torch.rand(1, 3, 16, 16, requires_grad=True)
    pts = torch.tensor([[[7.0, 9.0]]], requires_grad=True)
    p = extract_patches(img, pts, 5)
    assert p.shape == (1, 1, 3, 5, 5) and torch.allclose(p[0, 0], img[0, :, 7:12, 5:10])
    p.sum().backward()
    assert pts.grad is None and img.grad is not None                    # no gradient to the positions


def test_steps_start_at_the_mean_shape_and_the_arch_rebuilds():
    m = MDM(64, 68, 14, 3, 32, 8)
    with pytest.raises(ValueError, match='initial shape'): m(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match='patch'): MDM(patch=8)
    with pytest.raises(ValueError, match='no landmark scheme'): MDM(n_points=29)
    set_mean_shape(m, torch.full((68, 2), 30.))
    out = m(torch.rand(2, 3, 64, 64))
    assert len(out) == 3 and all(torch.allclose(o, torch.full((2, 68, 2), 30.)) for o in out)
    m2 = MDM(**{k: v for k, v in m.arch.items() if k != 'kind'}); m2.load_state_dict(m.state_dict())
    assert torch.equal(m2.init_shape, m.init_shape)
    with pytest.raises(ValueError, match='98-point|68-point'): set_mean_shape(m, torch.zeros(98, 2))


def test_descent_loss_is_nme_summed_over_steps():
    g = torch.rand(2, 98, 2) * 40; g[:, 60], g[:, 72] = torch.tensor([0., 0.]), torch.tensor([40., 0.])   # WFLW's eye corners
    assert torch.allclose(descent_loss([g + 4, g + 4, g], g, 'none'), torch.full((2,), 2 * np.sqrt(32) / 40))
    with pytest.raises(ValueError, match='empty'): descent_loss([], g)


def test_mdm_learns_on_four_faces(data_dir):
    set_seed(0)
    ds = face_dataset(data_dir, 'smoke', 'valid', n=4)
    x, _, y = (torch.stack([ds[i][k] for i in range(4)]) for k in range(3))
    m = set_mean_shape(MDM(64, 68, 14, 4, 64, 8), mean_shape(y))
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    first = float(descent_loss(m(x), y))
    for _ in range(30):
        loss = descent_loss(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
    assert float(descent_loss(m(x), y)) < 0.8 * first


def test_checkpoint_and_prediction_take_an_mdm(tmp_path, data_dir):
    "load_detector rebuilds an MDM from its arch (kind 'mdm'); predict_landmarks reads its points, flip mirrored back."
    from saat_nb.checkpoint import load_detector
    from saat_nb.hourglass import predict_landmarks
    from saat_nb.landmarks import flip_perm, mirror_points
    set_seed(0)
    m = set_mean_shape(MDM(64, 68, 14, 2, 32, 8), face_dataset(data_dir, 'smoke', 'valid', n=4)[0][2][None])
    torch.nn.init.normal_(m.reg.weight, std=0.01)                      # not the mean shape alone
    torch.save({'format': 'saat_nb/1', 'arch': m.arch, 'preset': {}, 'step': 0, 'detector': m.state_dict(), 'meta': {}}, tmp_path / 'm.pth')
    m2, ck = load_detector(tmp_path / 'm.pth')
    x = torch.rand(2, 3, 64, 64)
    assert isinstance(m2, MDM) and torch.allclose(predict_landmarks(m2, x), m.eval()(x)[-1], atol=1e-6)
    p, pm = predict_landmarks(m2, x, flip=True), predict_landmarks(m2, x.flip(-1), flip=True)
    assert torch.allclose(p, mirror_points(pm, 64), atol=1e-4)       # flip-averaging is mirror-consistent
    q = pm[:, torch.tensor(flip_perm(68))].clone(); q[..., 0] = 63 - q[..., 0]
    assert torch.allclose(p, q, atol=1e-4)                             # flip-averaging is mirror-consistent
    torch.save({**torch.load(tmp_path / 'm.pth'), 'arch': {**m.arch, 'kind': 'rnn'}}, tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match="unknown detector kind 'rnn'"): load_detector(tmp_path / 'bad.pth')


def test_one_training_loop_for_mdm_and_saat_on_it(data_dir, tmp_path):
    "SAAT on MDM is the same Learner and callback: L, L_F and L̃ read MDM's points; the run folder rebuilds an MDM."
    import json
    from saat_nb.train import train_run
    from saat_nb.checkpoint import load_detector, export_detector
    from saat_nb.losses import fool_loss, detector_error
    from saat_nb.runs import read_log
    torch.set_num_threads(1)
    d = train_run('mdm_smoke', data_dir, tmp_path / 'saat', saat=True, progress=False)
    log = read_log(d)
    assert len(log['L']) == 6 and all(np.isfinite(log[k]).all() for k in ('L', 'L_adv', 'L_F', 'L_A', 'L_R', 'L_D'))
    assert (log['L_adv'] > 0).any() and (log['skipped'] == 0).all()
    m, ck = load_detector(export_detector(d / 'final.pth'))
    assert isinstance(m, MDM) and torch.isfinite(m.init_shape).all() and ck['step'] == 6
    nme = json.loads((d / 'metrics.json').read_text())['valid']['nme']
    assert 0 < nme < 100
    # L_F on points: the NME of the last step, and larger errors are rewarded less (the attacker lowers L_F)
    g = torch.rand(2, 68, 2) * 40 + 10
    assert fool_loss([g + 9, g + 1], g) > fool_loss([g + 1, g + 5], g)
    assert torch.allclose(detector_error([g + 1], g, reduction='none'), descent_loss(g + 1, g, 'none'))
