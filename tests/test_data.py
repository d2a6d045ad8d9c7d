"Tests of saat_nb.data: .pts IO, file checks, splits, geometry, heatmaps, dataset and loaders."
import numpy as np, pytest, torch
from pathlib import Path
from hypothesis import given, settings, strategies as st
from PIL import Image
from saat_nb.core import get_preset
from saat_nb.landmarks import flip_perm
from saat_nb.data import (read_pts, write_pts, PtsError, DatasetError, find_faces, scan_dataset, ScanReport, Problem,
                          split_items, missing_subsets, crop_face, render_heatmaps, LandmarkDataset,
                          face_dataloaders, face_dataset, augment_params)

FLIP_PERM = flip_perm(68)
PTS = np.random.default_rng(0).uniform(0, 300, (68, 2)).astype(np.float32)

def _write(path, text): Path(path).write_text(text); return Path(path)

def _body(n=68, bad=None): 
    lines = [f"{x+1} {y+1}" for x, y in PTS[:n]]
    if bad is not None: lines[-1] = bad
    return lines

def test_pts_round_trip(tmp_path):
    assert np.allclose(read_pts(write_pts(tmp_path / 'a.pts', PTS)), PTS, atol=1e-5)
    assert 'n_points: 68' in (tmp_path / 'a.pts').read_text()
    # 1-based on disk, 0-based in memory
    _write(tmp_path / 'h.pts', '\n'.join(['1 1'] * 68))
    assert (read_pts(tmp_path / 'h.pts') == 0).all()

@pytest.mark.parametrize('text,msg', [
    ('\n'.join(_body(67)), 'found 67'),
    ('\n'.join(_body(bad='12.0 abc')), "point 68 is not two numbers: '12.0 abc'"),
    ('\n'.join(_body(bad='nan 3')), 'non-finite'),
    ('\n'.join(_body(bad='inf 3')), 'non-finite'),
    ('version: 1\nn_points: 67\n{\n' + '\n'.join(_body()) + '\n}', 'n_points: 67'),
    ('version: 1\nn_points: 68\n{\n' + '\n'.join(_body()), 'closing brace'),
    ('version: 1\nn_points: 68\n' + '\n'.join(_body()), 'opening brace'),
])
def test_bad_pts_names_file_and_problem(tmp_path, text, msg):
    p = _write(tmp_path / 'broken_face.pts', text)
    with pytest.raises(PtsError) as e: read_pts(p)
    assert 'broken_face.pts' in str(e.value) and msg in str(e.value)

def test_flip_perm():
    assert (FLIP_PERM[FLIP_PERM] == np.arange(68)).all()
    assert FLIP_PERM[36] == 45 and FLIP_PERM[45] == 36 and FLIP_PERM[48] == 54 and FLIP_PERM[65] == 67
    assert sorted(FLIP_PERM) == list(range(68))

def _pair(folder, stem, data_dir, truncate=False):
    src = find_faces(data_dir, 'helen/testset')[0]
    data = src.image.read_bytes()
    (folder / f'{stem}.jpg').write_bytes(data[:len(data) // 3] if truncate else data)
    (folder / f'{stem}.pts').write_bytes(src.pts.read_bytes())

def test_unpaired_files_are_errors(tmp_path, data_dir):
    _pair(tmp_path, 'ok', data_dir)
    Image.new('RGB', (8, 8)).save(tmp_path / 'lonely.png')
    with pytest.raises(DatasetError, match='lonely.png'): find_faces(tmp_path)
    (tmp_path / 'lonely.png').unlink(); _write(tmp_path / 'orphan.pts', '\n'.join(_body()))
    with pytest.raises(DatasetError, match='orphan.pts'): find_faces(tmp_path)

@pytest.fixture
def bad_tree(tmp_path, data_dir):
    "A 300W tree: empty helen/trainset, 1 clean afw face, 2 clean helen/testset faces beside 8 broken copies of a third."
    real = find_faces(data_dir, 'helen/testset')[:3]
    root = tmp_path / '300w'; t = root / 'helen' / 'testset'
    for d in (root / 'afw', root / 'helen' / 'trainset', t): d.mkdir(parents=True)
    for f, d in ((real[0], root / 'afw'), (real[0], t), (real[1], t)):
        (d / f.image.name).symlink_to(f.image); (d / f.pts.name).symlink_to(f.pts)
    src, pts = real[2].image.read_bytes(), read_pts(real[2].pts)
    lines = [f"{x + 1} {y + 1}" for x, y in pts]
    def face(stem, body=None, img=src):
        (t / f'{stem}.jpg').write_bytes(img); _write(t / f'{stem}.pts', '\n'.join(lines if body is None else body))
    face('p67', lines[:67]); face('pnan', lines[:-1] + ['nan 4']); face('pword', lines[:-1] + ['4 chin'])
    face('trunc', img=src[:len(src) // 2])
    (t / 'nopts.jpg').write_bytes(src); _write(t / 'orphan.pts', '\n'.join(lines))
    with Image.open(real[2].image) as im: W, H = im.size; im.resize((10, 10)).save(t / 'tiny.jpg')
    write_pts(t / 'tiny.pts', (pts + .5) * [10 / W, 10 / H] - .5)
    face('far'); write_pts(t / 'far.pts', pts + [0, 3 * H])
    return root, [f.name for f in real[:2]] + ['afw/' + real[0].image.stem]

BAD = {'helen/trainset': 'empty', 'p67.pts': 'pts', 'pnan.pts': 'pts', 'pword.pts': 'pts', 'trunc.jpg': 'image',
       'nopts.jpg': 'no_pts', 'orphan.pts': 'no_image', 'tiny.jpg': 'small', 'far.pts': 'outside'}

def test_scan_reports_every_bad_file(bad_tree):
    root, good = bad_tree
    rep = scan_dataset(root)
    assert not rep.ok and sorted(f.name for f in rep.faces) == sorted(good)
    found = {str(p.path.relative_to(root)).removeprefix('helen/testset/'): p.kind for p in rep.problems}
    assert found == BAD, rep.format()
    assert {p.path.name: p.detail for p in rep.problems if p.kind == 'pts'} == {
        'p67.pts': 'expected 68 points, found 67', 'pnan.pts': 'non-finite coordinates (nan/inf) at point(s) [68]',
        'pword.pts': "point 68 is not two numbers: '4 chin'"}
    assert rep.counts == {'afw': {'faces': 1, 'bad': 0}, 'helen/trainset': {'faces': 0, 'bad': 1},
                          'helen/testset': {'faces': 2, 'bad': 8}}
    screen = rep.format('prog')
    assert all(name in screen for name in BAD) and screen.startswith('prog: data check of')
    assert screen.splitlines()[-1].startswith('Nothing was trained') and 'What to do:' in screen
    assert not any(l.endswith('..') for l in screen.splitlines()) and '..' not in '\n'.join(rep.problems)
    with pytest.raises(DatasetError, match='9 bad files'): rep.raise_if_bad()

def test_scan_thresholds_are_parameters(bad_tree):
    root, _ = bad_tree
    kinds = lambda **kw: sorted(p.kind for p in scan_dataset(root, ['helen/testset'], **kw).problems)
    assert kinds(min_size=5).count('small') == 0 and kinds(max_outside=10).count('outside') == 0
    assert kinds().count('small') == 1 and kinds(min_size=4000).count('small') == 4     # tiny, far and the 2 clean faces

@pytest.mark.parametrize('frac', [0.1, 0.5, 0.9, 0.99])
@pytest.mark.parametrize('progressive', [False, True])
def test_truncated_images_are_caught(tmp_path, data_dir, frac, progressive, monkeypatch):
    from PIL import ImageFile
    src = find_faces(data_dir, 'afw')[0]
    full = tmp_path / 'full.jpg'
    Image.open(src.image).save(full, 'JPEG', quality=90, progressive=progressive)
    data = full.read_bytes(); (tmp_path / 'cut.jpg').write_bytes(data[:int(len(data) * frac)])
    (tmp_path / 'full.pts').write_bytes(src.pts.read_bytes()); (tmp_path / 'cut.pts').write_bytes(src.pts.read_bytes())
    monkeypatch.setattr(ImageFile, 'LOAD_TRUNCATED_IMAGES', True)       # a caller's setting does not hide it
    rep = scan_dataset(tmp_path)
    assert [f.name for f in rep.faces] == ['full'] and [(p.path.name, p.kind) for p in rep.problems] == [('cut.jpg', 'image')]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True

def test_many_problems_are_grouped_on_one_screen():
    rep = ScanReport(problems=[Problem(f'/d/helen/trainset/{i}.pts', 'pts', 'expected 68 points, found 67.') for i in range(300)]
                     + [Problem(f'/d/afw/{i}.jpg', 'image', 'truncated image data') for i in range(3)], root=Path('/d'))
    screen = rep.format()
    assert 'malformed .pts: 300' in screen and 'and 295 more' in screen and 'afw/2.jpg: truncated image data' in screen
    assert len(screen.splitlines()) < 30 and '..' not in screen
    assert 'found 67\n' in rep.format(max_problems=None) and len(rep.format(max_problems=None).splitlines()) > 300

def test_check_splits_reads_the_protocols_subsets(bad_tree, tmp_path, monkeypatch):
    from saat_nb.data import check_splits
    root, _ = bad_tree
    rep = check_splits(root, 'cross')
    assert list(rep.counts) == ['helen/trainset', 'helen/testset', 'afw'] and len(rep.bad_files) == 9
    assert rep.splits == {'train': ['helen/trainset'], 'valid': ['helen/testset'], 'test': ['afw']}
    t = check_splits(root, 'cross', 'test')
    assert t.ok and len(t.faces) == 1 and list(t.counts) == ['afw']
    assert [p.kind for p in check_splits(root, 'cross', ['train']).problems] == ['empty']
    assert [p.kind for p in check_splits(tmp_path / 'nowhere').problems] == ['no_root']
    monkeypatch.delenv('SAAT_DATA', raising=False)
    assert [p.kind for p in check_splits(None).problems] == ['no_root']
    assert sorted(str(p.path.relative_to(root)) for p in check_splits(root, 'paper').problems if p.kind == 'missing') == \
        ['ibug', 'lfpw/testset', 'lfpw/trainset']
    with pytest.raises(KeyError, match='valid'): check_splits(root, 'paper', 'valid')

def test_exit_if_bad_prints_the_screen_without_traceback(bad_tree, capsys):
    from saat_nb.data import check_splits, main
    root, _ = bad_tree
    assert check_splits(root, 'cross', 'test').exit_if_bad('x').ok
    with pytest.raises(SystemExit) as e: check_splits(root).exit_if_bad('saat-reproduce')
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith('saat-reproduce: data check of') and 'Traceback' not in err
    assert all(name in err for name in BAD)
    with pytest.raises(SystemExit) as e: main(['--data', str(root)])
    assert e.value.code == 2 and 'trunc.jpg' in capsys.readouterr().err
    assert main(['--data', str(root), '--splits', 'test']) == 0

def test_real_data_scans_clean(data_dir):
    from saat_nb.data import check_splits
    rep = check_splits(data_dir, 'cross')
    assert rep.ok, rep.format()
    assert {s: c['faces'] for s, c in rep.counts.items()} == {'helen/trainset': 870, 'helen/testset': 330, 'afw': 337}
    assert rep.seconds < 60

def test_missing_root_and_subsets(tmp_path, data_dir):
    with pytest.raises(FileNotFoundError, match='nowhere'): split_items(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match='ibug'): find_faces(data_dir, 'ibug')
    with pytest.raises(DatasetError) as e: split_items(data_dir, 'paper')
    assert all(s in str(e.value) for s in ('lfpw/trainset', 'lfpw/testset', 'ibug'))
    assert 'helen' not in str(e.value).split(':')[-1] and 'afw' not in str(e.value).split(':')[-1]
    assert missing_subsets(data_dir) == ['lfpw/trainset', 'lfpw/testset', 'ibug']

def test_cross_split_sizes(data_dir):
    s = split_items(data_dir, 'cross')
    assert {k: len(v) for k, v in s.items()} == {'train': 870, 'valid': 330, 'test': 337}
    assert s['test'][0].name.startswith('afw/') and s['train'] == sorted(s['train'], key=lambda f: f.name)

def _marked(rot, zoom, flip, shift=(0., 0.), size=64, seed=0):
    "Landmark 36 on a bright 3x3 block: distance between the block's centroid in the crop and the mapped point."
    rng = np.random.default_rng(seed)
    img = np.zeros((180, 220, 3), np.uint8)
    pts = rng.uniform([50, 40], [170, 140], (68, 2)).astype(np.float32)
    c = (pts.min(0) + pts.max(0)) / 2                    # keep the marked point well inside every crop
    p = np.round(c + rng.uniform(-30, 30, 2)).astype(int); pts[36] = p
    img[p[1]-1:p[1]+2, p[0]-1:p[0]+2] = 255
    out, q, _ = crop_face(img, pts, size, rot=rot, zoom=zoom, flip=flip, shift=shift)
    g = out[..., 0].astype(float); ys, xs = np.mgrid[:size, :size]
    assert g.sum() > 0
    c = np.array([(g * xs).sum(), (g * ys).sum()]) / g.sum()
    return np.abs(c - q[45 if flip else 36]).max()

@settings(max_examples=40, deadline=None)
@given(rot=st.floats(-30, 30), zoom=st.floats(0.75, 1.25), flip=st.booleans(), seed=st.integers(0, 1000),
       size=st.sampled_from([64, 128]))
def test_coordinates_follow_pixels(rot, zoom, flip, seed, size):
    assert _marked(rot, zoom, flip, size=size, seed=seed) < 0.5   # a half-pixel convention slip gives ~1 px

def test_flip_mirrors_coordinates():
    _, a, _ = crop_face(np.zeros((50, 50, 3), np.uint8), PTS / 6, 64)
    _, b, _ = crop_face(np.zeros((50, 50, 3), np.uint8), PTS / 6, 64, flip=True)
    assert np.allclose(b[:, 0], 63 - a[FLIP_PERM, 0], atol=1e-4) and np.allclose(b[:, 1], a[FLIP_PERM, 1], atol=1e-4)

@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), sigma=st.floats(1.0, 5.1))
def test_heatmap_argmax_recovers_point(seed, sigma):
    pts = np.random.default_rng(seed).uniform(0, 63, (68, 2)).astype(np.float32)
    hm = render_heatmaps(pts, 64, sigma)
    assert hm.shape == (68, 64, 64) and hm.dtype == np.float32 and hm.max() <= 1.0
    am = np.stack(np.unravel_index(hm.reshape(68, -1).argmax(1), (64, 64)), 1)[:, ::-1]
    assert np.abs(am - pts).max() <= 1.0

def test_augmentation_is_reproducible_and_varies(data_dir):
    faces = find_faces(data_dir, 'helen/testset')[:3]
    ds = LandmarkDataset(faces, 'smoke', train=True, seed=1)
    a, b = ds[0], ds[0]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    ds.set_epoch(1); c = ds[0]
    assert not torch.equal(a[2], c[2])
    ds2 = LandmarkDataset(faces, 'smoke', train=True, seed=1, cache=False)
    assert torch.equal(ds2[0][0], a[0])
    p = get_preset('paper')
    assert augment_params(np.random.default_rng(7), p) == augment_params(np.random.default_rng(7), p)

def test_dataset_and_loaders_on_real_data(data_dir):
    p = get_preset('smoke')
    dls = face_dataloaders(data_dir, 'smoke', seed=0, device='cpu')
    x, hm, pts = dls.one_batch()
    assert dls.n_inp == 1
    assert x.shape == (p.bs, 3, p.size, p.size) and hm.shape == (p.bs, 68, p.size, p.size) and pts.shape == (p.bs, 68, 2)
    assert x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert len(dls.train.dataset) == p.n_train and len(dls.valid.dataset) == p.n_valid
    assert len(dls.train) == p.n_train // p.bs
    # the heatmap peaks sit on the points
    am = hm[0].flatten(1).argmax(1)
    assert (torch.stack([am % p.size, am // p.size], 1).float() - pts[0]).abs().max() <= 1
    # same seed, same first training batch
    x2 = face_dataloaders(data_dir, 'smoke', seed=0, device='cpu').one_batch()[0]
    assert torch.equal(x, x2)
    t = face_dataset(data_dir, 'smoke', split='test', n=2)
    assert len(t) == 2 and all(n.startswith('afw/') for n in t.names) and not t.train

def test_loader_heatmaps_match_items_and_fit_a_learner(data_dir):
    from fastai.learner import Learner
    dls = face_dataloaders(data_dir, 'smoke', seed=0, device='cpu')
    x, hm, pts = dls.valid.one_batch()
    ref = [dls.valid.dataset[i] for i in range(len(x))]
    assert torch.allclose(torch.stack([r[1] for r in ref]), hm, atol=1e-6)
    assert torch.equal(torch.stack([r[0] for r in ref]), x) and torch.equal(torch.stack([r[2] for r in ref]), pts)
    seen = {}
    def loss(pred, hm, pts):
        seen['shapes'] = (pred.shape, hm.shape, pts.shape)
        return ((pred - hm) ** 2).mean()
    learn = Learner(dls, torch.nn.Conv2d(3, 68, 3, padding=1), loss_func=loss)
    learn.fit(1, 1e-3)
    p = get_preset('smoke')
    assert seen['shapes'] == ((p.bs, 68, p.size, p.size), (p.bs, 68, p.size, p.size), (p.bs, 68, 2))

def test_face_region_keeps_the_crop_and_is_small(data_dir):
    from saat_nb.data import face_region, load_face
    img, pts = load_face(find_faces(data_dir, 'afw')[0])
    p = get_preset('paper')
    reg, rp = face_region(img, pts, p)
    assert reg.dtype == np.uint8 and reg.shape[0] == reg.shape[1]
    assert np.allclose(crop_face(reg, rp, 64, rot=20, flip=True)[1], crop_face(img, pts, 64, rot=20, flip=True)[1], atol=1e-3)
    # the most extreme augmentation still lands inside the region: corners of the crop map inside it
    from saat_nb.data import crop_matrix, face_box, apply_matrix
    for rot in (-p.rot, p.rot):
        M = crop_matrix(face_box(rp), p.size, rot=rot, zoom=1 - p.scale, shift=(p.shift, -p.shift))
        corners = apply_matrix(np.linalg.inv(M), [[0, 0], [p.size - 1, 0], [0, p.size - 1], [p.size - 1, p.size - 1]])
        assert (corners >= -0.5).all() and (corners <= reg.shape[0] - 0.5).all()

def test_batches_do_not_depend_on_workers(data_dir):
    p0, p2 = get_preset('smoke'), get_preset('smoke', num_workers=2)
    b0 = [b for b in face_dataloaders(data_dir, p0, seed=3, device='cpu').train]
    b2 = [b for b in face_dataloaders(data_dir, p2, seed=3, device='cpu').train]
    assert len(b0) == len(b2) == p0.n_train // p0.bs
    assert all(torch.equal(u, v) for a, b in zip(b0, b2) for u, v in zip(a, b))


# --- the batched augmentation (augment_inputs + augment_batch) against the per-item PIL reference ---

def _reference_and_batched(ds, idx):
    "The per-item PIL items and one batched batch of the same faces at the dataset's current epoch."
    from saat_nb.data import augment_batch
    ref = [ds.reference_item(i, heatmaps=False) for i in idx]
    b = [torch.stack(t) for t in zip(*(ds.item(i, heatmaps=False) for i in idx))]
    return ref, augment_batch(*b, size=ds.preset.size)

@pytest.mark.parametrize('preset', ['cpu', 'paper'])
def test_batched_augmentation_matches_the_pil_reference(data_dir, preset):
    """Same points (float tolerance) and pixels within PIL's quantisation: PIL rounds after the warp and truncates after
    each of its three colour blends (< 1 level each, later blends scale earlier errors by <= 1 + colour), so < 6/255
    per pixel and < 3/255 on average; an additive brightness, a missing clip or a half-pixel shift exceeds both."""
    faces = find_faces(data_dir, 'helen/trainset')[:12]
    ds = LandmarkDataset(faces, preset, train=True, seed=5)
    kinds = set()
    for epoch in range(2):
        ds.set_epoch(epoch)
        ref, (x, q) = _reference_and_batched(ds, range(len(faces)))
        for i, (rx, rq) in enumerate(ref):
            prm = ds.params(i)
            kinds |= {'flip'} if prm['flip'] else set()
            if prm['occlusion']: kinds.add('noise' if prm['occlusion']['noise'] else 'flat')
            np.testing.assert_allclose(q[i].numpy(), rq.numpy(), atol=1e-3)
            d = (x[i] - rx).abs() * 255
            assert d.max() < 6 and d.mean() < 3, (epoch, i, float(d.max()), float(d.mean()))
    assert kinds == {'flip', 'noise', 'flat'}              # every branch was compared

def test_batched_augmentation_extremes_match_the_pil_reference(data_dir):
    "The preset's extreme geometry and colour factors, both occlusion kinds, on one face."
    from saat_nb.data import augment_inputs, augment_batch, augment_face, face_region, load_face, region_side
    p = get_preset('paper', size=96, sigma=1.9)
    reg, pts = face_region(*load_face(find_faces(data_dir, 'afw')[3]), p)
    c = 1 + p.colour
    params = [dict(rot=p.rot, zoom=1 - p.scale, shift=(p.shift, -p.shift), flip=True, colour=[c, 1 / c, c], occlusion=None),
              dict(rot=-p.rot, zoom=1 + p.scale, shift=(-p.shift, p.shift), flip=False, colour=[1 / c, c, 1 / c],
                   occlusion=dict(box=(.1, .5, .45, .3), colour=[250, 3, 40], noise=False, seed=1)),
              dict(rot=3., zoom=1., shift=(0., 0.), flip=True, colour=[c, c, c],
                   occlusion=dict(box=(.55, .0, .45, .45), colour=[0, 0, 0], noise=True, seed=77))]
    b = [torch.stack(t) for t in zip(*(augment_inputs(reg, pts, prm, p.size, region_side(p)) for prm in params))]
    x, q = augment_batch(*b, size=p.size)
    for i, prm in enumerate(params):
        ri, rq = augment_face(reg, pts, p.size, prm)
        np.testing.assert_allclose(q[i].numpy(), rq, atol=1e-3)
        d = (x[i] * 255 - torch.from_numpy(ri.transpose(2, 0, 1).astype(np.float32))).abs()
        assert d.max() < 6 and d.mean() < 3, (i, float(d.max()), float(d.mean()))
    o = params[2]['occlusion']['box']; x0, y0 = int(o[0] * 96), int(o[1] * 96)
    assert torch.allclose(x[2, :, y0:y0 + 9, x0:x0 + 9] * 255, torch.from_numpy(ri[y0:y0 + 9, x0:x0 + 9].transpose(2, 0, 1).astype(np.float32)), atol=1e-3)  # the same noise

@settings(max_examples=25, deadline=None)
@given(rot=st.floats(-30, 30), zoom=st.floats(0.75, 1.25), flip=st.booleans(), seed=st.integers(0, 1000),
       size=st.sampled_from([64, 128]))
def test_batched_coordinates_follow_pixels(rot, zoom, flip, seed, size):
    "The marked-pixel test of `crop_face`, through the batched warp: the point sits on its pixel."
    from saat_nb.data import augment_inputs, augment_batch
    rng = np.random.default_rng(seed)
    img = np.zeros((180, 220, 3), np.uint8)
    pts = rng.uniform([50, 40], [170, 140], (68, 2)).astype(np.float32)
    c = (pts.min(0) + pts.max(0)) / 2
    m = np.round(c + rng.uniform(-30, 30, 2)).astype(int); pts[36] = m
    img[m[1]-1:m[1]+2, m[0]-1:m[0]+2] = 255
    r = augment_inputs(img, pts, dict(rot=rot, zoom=zoom, flip=flip), size, 220)
    x, q = augment_batch(*(t[None] for t in r), size=size)
    g = x[0, 0].double().numpy(); ys, xs = np.mgrid[:size, :size]
    assert g.sum() > 0
    cen = np.array([(g * xs).sum(), (g * ys).sum()]) / g.sum()
    assert np.abs(cen - q[0, 45 if flip else 36].numpy()).max() < 0.5

def test_batched_augmentation_is_deterministic_per_seed_epoch_item(data_dir):
    "An item depends on (seed, epoch, i) only: not on its batch, its position, the cache, or a batch of one vs many."
    from saat_nb.data import augment_batch
    faces = find_faces(data_dir, 'helen/trainset')[:6]
    ds = LandmarkDataset(faces, 'cpu', train=True, seed=3)
    ds.set_epoch(2)
    b = [torch.stack(t) for t in zip(*(ds.item(i, heatmaps=False) for i in range(6)))]
    x, q = augment_batch(*b, size=64)
    x2, q2 = augment_batch(*(t[[4, 1, 0]] for t in b), size=64)
    assert torch.equal(x2, x[[4, 1, 0]]) and torch.equal(q2, q[[4, 1, 0]])
    one = LandmarkDataset(faces, 'cpu', train=True, seed=3, cache=False); one.set_epoch(2)
    img, hm, pts = one.item(4)
    assert torch.equal(img, x[4]) and torch.equal(pts, q[4]) and torch.allclose(hm, render_heatmaps(q[4], 64, 2.0))
    for other in (dict(seed=4, epoch=2), dict(seed=3, epoch=3)):
        o = LandmarkDataset(faces, 'cpu', train=True, seed=other['seed']); o.set_epoch(other['epoch'])
        assert not torch.equal(o.item(4)[2], q[4]) and not torch.equal(o.item(4)[0], x[4])
    assert not torch.equal(q[3], q[4])

def test_training_loader_augments_per_batch_and_keeps_the_contract(data_dir):
    "Training batches come from AugmentBatch (an AddHeatmaps) through the step-indexed StepDL, and equal the items."
    from saat_nb.data import AugmentBatch, AddHeatmaps
    dls = face_dataloaders(data_dir, 'smoke', seed=0, device='cpu')
    tfm = dls.train.after_batch.fs[0]
    assert isinstance(tfm, AugmentBatch) and isinstance(tfm, AddHeatmaps) and not isinstance(dls.valid.after_batch.fs[0], AugmentBatch)
    from fastcore.basics import first
    from saat_nb.data import EpochDL, StepDL, PassView
    assert isinstance(dls.train, StepDL) and isinstance(dls.train.dataset, PassView)
    ds = dls.train.dataset.ds
    x, hm, pts = first(EpochDL(ds, bs=4, shuffle=False, device='cpu', after_batch=ds.batch_tfm()))   # epoch 0, items 0..3
    ref = [ds.item(i) for i in range(4)]
    assert torch.equal(torch.stack([r[0] for r in ref]), x) and torch.equal(torch.stack([r[2] for r in ref]), pts)
    assert torch.allclose(torch.stack([r[1] for r in ref]), hm, atol=1e-6)
