import numpy as np, pytest, torch
from saat_nb.hourglass import (HourglassNet, Bottleneck, auto_depth, decode_heatmaps, flip_heatmaps,
                               predict_landmarks, count_params)
from saat_nb.data import render_heatmaps
from saat_nb.landmarks import flip_perm
FLIP_PERM = flip_perm(68)


def bn(c): return 2 * c

def bottleneck_params(ci, co):
    m = co // 2
    return ci * m + bn(m) + 9 * m * m + bn(m) + m * co + bn(co) + (0 if ci == co else ci * co + co)

def hourglass_params(d, w):
    inner = hourglass_params(d - 1, w) if d > 1 else bottleneck_params(w, 2 * w)
    return bottleneck_params(w, 2 * w) + bottleneck_params(w, w) + bottleneck_params(2 * w, 2 * w) + inner

def net_params(stacks, w, K, d):
    "The stated architecture, counted by formula."
    stem = 3 * (w // 4) * 49 + bn(w // 4) + bottleneck_params(w // 4, w // 2) + 2 * bottleneck_params(w // 2, w // 2) \
        + bottleneck_params(w // 2, w)
    head = (2 * w * 2 * w + bn(2 * w)) + (2 * w * w + bn(w)) + (w * K + K)
    ups = 2 * (K * K * 4 + bn(K)) + (K * K + bn(K)) + (K * K + K)
    remap = (w * w + w) + (K * w + w)
    return stem + stacks * (hourglass_params(d, w) + head + ups) + (stacks - 1) * remap


def test_bottleneck_count_by_hand():
    assert count_params(Bottleneck(2, 4)) == (4 + 4) + (36 + 4) + (8 + 8) + (8 + 4)


@pytest.mark.parametrize('stacks,width,size,K', [(1, 8, 64, 68), (2, 8, 64, 5), (4, 16, 128, 68), (1, 256, 256, 68)])
def test_param_count_matches_architecture(stacks, width, size, K):
    with torch.device('meta'): net = HourglassNet(stacks, width, size, n_points=K)
    assert count_params(net) == net_params(stacks, width, K, auto_depth(size))


@pytest.mark.parametrize('size', [64, 128, 256])
@pytest.mark.parametrize('stacks', [1, 2])
def test_output_shapes(size, stacks):
    net = HourglassNet(stacks, 8, size).eval()
    with torch.no_grad(): out = net(torch.rand(2, 3, size, size))
    assert isinstance(out, list) and len(out) == stacks
    assert all(o.shape == (2, 68, size, size) for o in out)


def test_depth_and_bad_input():
    assert [auto_depth(s) for s in (32, 64, 128, 256, 512)] == [2, 3, 4, 4, 4]
    assert HourglassNet(1, 8, 256).depth == 4
    with pytest.raises(ValueError, match='divisible'): HourglassNet(1, 8, 64)(torch.rand(1, 3, 60, 60))
    with pytest.raises(ValueError): HourglassNet(1, 10, 64)
    with pytest.raises(ValueError): auto_depth(8)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = HourglassNet(2, 8, 64).train()
    out = net(torch.rand(2, 3, 64, 64))
    sum((o * torch.randn_like(o)).sum() for o in out).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_arch_rebuilds_from_checkpoint(tmp_path):
    net = HourglassNet(2, 8, 64, n_points=68).eval()
    torch.save({'arch': net.arch, 'detector': net.state_dict()}, tmp_path / 'c.pth')
    ck = torch.load(tmp_path / 'c.pth', weights_only=True)
    assert ck['arch'] == {'stacks': 2, 'width': 8, 'size': 64, 'n_points': 68}
    net2 = HourglassNet(**ck['arch']).eval(); net2.load_state_dict(ck['detector'])
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad(): assert torch.equal(net(x)[-1], net2(x)[-1])


@pytest.mark.parametrize('method', ['argmax', 'authors'])
def test_decode_subpixel_gaussian(method):
    rng = np.random.default_rng(0)
    pts = rng.uniform(5, 59, (68, 2)).astype(np.float32)
    hm = torch.from_numpy(render_heatmaps(pts, 64, 1.5))[None]
    got = decode_heatmaps(hm, method)
    assert got.shape == (1, 68, 2)
    assert (got[0] - torch.from_numpy(pts)).abs().max() <= 0.5 + 1e-6


def test_decode_quarter_shift_and_scaling():
    hm = torch.zeros(1, 1, 8, 8); hm[0, 0, 3, 4] = 1.; hm[0, 0, 3, 5] = .5; hm[0, 0, 2, 4] = .3
    assert decode_heatmaps(hm).tolist() == [[[4.25, 2.75]]]
    assert decode_heatmaps(hm, 'authors').tolist() == [[[4.0, 3.0]]]
    assert decode_heatmaps(hm, in_size=32).tolist() == [[[(4.25 + .5) * 4 - .5, (2.75 + .5) * 4 - .5]]]
    with pytest.raises(ValueError, match='unknown'): decode_heatmaps(hm, 'mean')
    with pytest.raises(ValueError): decode_heatmaps(hm[0])


def test_flip_heatmaps_permutes_and_mirrors():
    pts = np.random.default_rng(1).uniform(4, 28, (68, 2)).astype(np.float32)
    mir = pts[FLIP_PERM].copy(); mir[:, 0] = 31 - mir[:, 0]                 # landmarks of the mirrored face
    hm_mirror_face = torch.from_numpy(render_heatmaps(mir, 32, 1.))[None]
    back = flip_heatmaps(hm_mirror_face)
    assert torch.allclose(back, torch.from_numpy(render_heatmaps(pts, 32, 1.))[None], atol=1e-6)
    assert torch.equal(flip_heatmaps(flip_heatmaps(back)), back)
    with pytest.raises(ValueError): flip_heatmaps(torch.zeros(1, 5, 8, 8))


def test_flip_averaging_is_mirror_consistent():
    torch.manual_seed(0)
    net = HourglassNet(1, 8, 64).train()
    x = torch.rand(1, 3, 64, 64)
    sym = (x + x.flip(-1)) / 2
    with torch.no_grad():
        avg = (net.eval()(sym)[-1] + flip_heatmaps(net(sym.flip(-1))[-1])) / 2
    assert torch.allclose(flip_heatmaps(avg), avg, atol=1e-5)   # symmetric image -> symmetric averaged heatmaps
    net.train()
    p, pm = predict_landmarks(net, x, flip=True)[0], predict_landmarks(net, x.flip(-1), flip=True)[0]
    assert net.training                                      # mode restored
    q = pm[torch.tensor(FLIP_PERM)].clone(); q[:, 0] = 63 - q[:, 0]
    assert (q - p).abs().max() <= 0.5 + 1e-6
    assert not torch.equal(predict_landmarks(net, x), predict_landmarks(net, x.flip(-1)))


def _trained_like(net):
    "Non-trivial BatchNorm statistics and affine terms, as after training."
    for b in net.modules():
        if isinstance(b, torch.nn.BatchNorm2d):
            b.running_mean.uniform_(-.5, .5); b.running_var.uniform_(.5, 2); b.weight.data.uniform_(.5, 1.5); b.bias.data.uniform_(-.2, .2)
    return net.eval()


@pytest.mark.parametrize('stacks', [1, 2])
def test_inference_copy_same_heatmaps_in_fp32(stacks):
    from saat_nb.hourglass import inference_copy, fold_batchnorm
    torch.manual_seed(0)
    net = _trained_like(HourglassNet(stacks, 16, 64))
    x = torch.rand(3, 3, 64, 64)
    fast, b16 = inference_copy(net), inference_copy(net, torch.bfloat16)
    with torch.no_grad():
        ref, got, half = net(x), fast(x), b16(x)
    assert len(got) == stacks and all(g.shape == (3, 68, 64, 64) and g.dtype == torch.float32 for g in got)
    for r, g in zip(ref, got): assert torch.allclose(g, r, atol=1e-5, rtol=1e-4)
    assert half[-1].dtype == torch.bfloat16 and not torch.equal(half[-1].float(), ref[-1])
    assert (half[-1].float() - ref[-1]).abs().max() < 0.1 * ref[-1].abs().max()
    # an untrained net's heatmaps are nearly flat, so rounding can flip an argmax here; real faces: tests/test_predict.py
    assert (predict_landmarks(fast, x) == predict_landmarks(net, x)).all(-1).float().mean() > 0.9
    assert fast.size == 64 and fast.arch == net.arch and any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_pixel_upsampler_equals_transposed_convs():
    from saat_nb.hourglass import PixelUpsampler, fold_batchnorm
    torch.manual_seed(1)
    ups = fold_batchnorm(_trained_like(HourglassNet(1, 16, 64))).ups[0]
    h = torch.randn(2, 68, 3, 5)                                                    # not square: rows and columns kept apart
    with torch.no_grad(): a, b = ups(h), PixelUpsampler(ups)(h)
    assert b.shape == (2, 68, 12, 20) and torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match='fold_batchnorm'): PixelUpsampler(HourglassNet(1, 16, 64).ups[0])
