"Tests of saat_nb.benchmarks (01c): the WFLW, COFW68 and 300VW readers on the fixtures, their errors, and 98-point training."
import json, shutil
from pathlib import Path
import numpy as np, pytest, torch
from saat_nb.benchmarks import (BENCHMARKS, WFLW_LIST, WFLW_SUBSETS, WFLW_SUBSET_LIST, COFW68_ANNOT, COFW68_BOXES,
                                MissingData, benchmark_items, read_wflw_list, wflw_items, cofw68_items, vw300_items,
                                vw300_absent, video_frames, read_mat, mat_image, cofw68_images)
from saat_nb.data import DatasetError, face_dataset, write_pts
from saat_nb.landmarks import flip_perm, WFLW98

FIX = Path(__file__).resolve().parent / 'fixtures'


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):   # 300VW frames are decoded into a cache: never into ~/.cache during tests
    monkeypatch.setenv('SAAT_CACHE', str(tmp_path / 'cache'))


def test_fixtures_are_tiny_and_in_the_official_layout():
    files = [f for f in FIX.rglob('*') if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 600_000, 'fixtures must stay a few hundred KB'
    for rel in (WFLW_LIST.format('train'), WFLW_LIST.format('test'), WFLW_SUBSET_LIST.format('blur')):
        assert (FIX / 'wflw' / rel).is_file()
    assert (FIX / 'cofw68' / COFW68_BOXES).is_file() and (FIX / 'cofw68' / COFW68_ANNOT.format(1)).is_file()
    assert all((FIX / '300vw' / v / 'vid.avi').is_file() for v in ('001', '114', '203', '410'))


def test_wflw_lines_points_flags_and_subsets():
    lines = (FIX / 'wflw' / WFLW_LIST.format('train')).read_text().splitlines()
    assert all(len(l.split()) == 207 for l in lines)
    sub = (FIX / 'wflw' / WFLW_SUBSET_LIST.format('largepose')).read_text().splitlines()
    assert all(len(l.split()) == 197 for l in sub)                # the subset lists: coordinates and image only
    it = wflw_items(FIX / 'wflw')
    f = it['train'][0]
    assert f.points.shape == (98, 2) and np.allclose(f.points.ravel(), np.array(lines[0].split()[:196], float), atol=1e-5)
    img, pts = f.load()
    assert img.dtype == np.uint8 and img.shape[2] == 3 and (pts >= -5).all() and (pts[:, 0] < img.shape[1] + 5).all()
    names = [t.name for t in it['test']]
    assert len(names) == len(set(names)) and any(n.endswith('#1') for n in names)   # two faces on one image
    for s, flag in WFLW_SUBSETS.items():
        assert [t.name for t in it[f'test_{s}']] == [t.name for t in it['test'] if t.attrs[flag]]


def test_wflw_subsets_come_from_the_flags_without_the_subset_lists(tmp_path):
    shutil.copytree(FIX / 'wflw', tmp_path / 'w')
    shutil.rmtree((tmp_path / 'w' / WFLW_SUBSET_LIST.format('x')).parent)
    a, b = wflw_items(FIX / 'wflw'), wflw_items(tmp_path / 'w')
    assert all([f.name for f in a[f'test_{s}']] == [f.name for f in b[f'test_{s}']] for s in WFLW_SUBSETS)


def test_wflw_subset_face_not_in_the_test_list_is_an_error(tmp_path):
    shutil.copytree(FIX / 'wflw', tmp_path / 'w')
    f = tmp_path / 'w' / WFLW_SUBSET_LIST.format('blur')
    tok = f.read_text().splitlines()[0].split(); tok[0] = str(float(tok[0]) + 3)
    f.write_text(' '.join(tok) + '\n')
    with pytest.raises(DatasetError, match='no face of the test list'): wflw_items(tmp_path / 'w')


def test_wflw_bad_lines_are_all_named(tmp_path):
    good = (FIX / 'wflw' / WFLW_LIST.format('test')).read_text().splitlines()[0].split()
    (tmp_path / 'l.txt').write_text('\n'.join([' '.join(good), ' '.join(good[:100]), ' '.join(['nan'] + good[1:])]))
    with pytest.raises(DatasetError) as e: read_wflw_list(tmp_path / 'l.txt', tmp_path)
    assert '2 bad line(s)' in str(e.value) and 'line 2: 100 fields' in str(e.value) and 'line 3: non-finite' in str(e.value)


def test_missing_data_is_one_screen_naming_each_file(tmp_path):
    for name, b in BENCHMARKS.items():
        with pytest.raises(MissingData) as e: benchmark_items(name, tmp_path, tmp_path)
        s = str(e.value)
        assert f'--protocol {name}' in s and 'missing' in s and 'Nothing was trained' in s and len(s.splitlines()) <= 8
    with pytest.raises(MissingData, match='no such folder'): benchmark_items('wflw', tmp_path / 'nope')


def test_wflw_missing_image_is_named_before_any_work(tmp_path):
    shutil.copytree(FIX / 'wflw', tmp_path / 'w')
    victim = sorted((tmp_path / 'w' / 'WFLW_images').rglob('*.jpg'))[0]; victim.unlink()
    with pytest.raises(MissingData) as e: benchmark_items('wflw', tmp_path / 'w')
    assert victim.name in str(e.value)


def test_cofw68_reads_v73_images_v5_annotations_and_one_based_points():
    faces = cofw68_items(FIX / 'cofw68')['test']
    assert [f.name for f in faces] == ['cofw68/001', 'cofw68/002', 'cofw68/003']
    m = read_mat(FIX / 'cofw68' / COFW68_ANNOT.format(2), ['Points', 'Occ'])
    assert np.allclose(faces[1].points, m['Points'] - 1) and faces[1].attrs['occluded'][48:].all()
    assert not faces[0].attrs['occluded'].any()
    imgs = read_mat(cofw68_images(FIX / 'cofw68'), ['IsT', 'bboxesT'])
    assert imgs['IsT'].shape == (3, 1) and imgs['bboxesT'].shape == (3, 4)          # MATLAB's orientation, from HDF5
    grey = mat_image(cofw68_images(FIX / 'cofw68'), 2)
    assert grey.ndim == 3 and (grey[..., 0] == grey[..., 1]).all()                  # a grey image comes back as RGB
    for f in faces:
        img, pts = f.load(); x0, y0, x1, y1 = f.box
        assert x0 <= pts[:, 0].min() and pts[:, 0].max() <= x1 and pts[:, 0].max() < img.shape[1]


def test_cofw68_missing_annotation_is_named(tmp_path):
    shutil.copytree(FIX / 'cofw68', tmp_path / 'c')
    (tmp_path / 'c' / COFW68_ANNOT.format(3)).unlink()
    with pytest.raises(DatasetError, match='3_points.mat: missing'): cofw68_items(tmp_path / 'c')


def test_300vw_frames_decode_once_and_match_their_pts(tmp_path):
    fr = video_frames(FIX / '300vw', '203')
    assert [f.name for f in fr] == ['300vw/203/000001', '300vw/203/000002', '300vw/203/000003']
    imgs = [f.load()[0] for f in fr]
    assert imgs[0].shape == (96, 96, 3) and not np.array_equal(imgs[0], imgs[2])   # the face moves between frames
    assert abs(fr[2].load()[1][:, 0].mean() - fr[0].load()[1][:, 0].mean()) > 1
    absent = vw300_absent(FIX / '300vw')
    assert len(absent['train']) == 49 and len(absent['cat3']) == 13


def test_300vw_pts_beyond_the_video_is_an_error(tmp_path):
    shutil.copytree(FIX / '300vw' / '114', tmp_path / 'v' / '114')
    write_pts(tmp_path / 'v' / '114' / 'annot' / '000009.pts', np.zeros((68, 2)) + 10)
    with pytest.raises(DatasetError, match='annotates frame 9'): video_frames(tmp_path / 'v', '114')[-1].load()


def test_300vw_trains_on_300w_and_the_training_videos(data_dir):
    it = vw300_items(FIX / '300vw', data_dir)
    assert any(f.name.startswith('helen/trainset/') for f in it['train']) and any(f.name.startswith('300vw/001/') for f in it['train'])
    assert [len(it[c]) for c in ('cat1', 'cat2', 'cat3')] == [3, 3, 3] and it['valid'][0].name.startswith('helen/testset/')


def test_98_point_labels_mirror_left_to_right():
    "On a WFLW face, each mirror pair's first point lies left of its partner: a mirrored face's 60 is the original's 72."
    ds = face_dataset(items=wflw_items(FIX / 'wflw'), split='test', preset='smoke')
    pts = ds.reference_item(0, heatmaps=False)[1].numpy()
    side = np.sign(pts[flip_perm(98), 0] - pts[:, 0])                  # each point vs its mirror partner
    assert (side[[60, 33, 76, 96, 0]] > 0).all() and (side[[72, 46, 82, 97, 32]] < 0).all()
    assert ds.n_points == 98


def test_cofw68_is_scored_not_trained(tmp_path):
    from saat_nb.train import train_run
    with pytest.raises(ValueError, match='trains no detector of its own'):
        train_run('smoke', FIX / 'cofw68', tmp_path / 'r', protocol='cofw68')
