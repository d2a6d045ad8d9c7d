"Tests of saat_nb.masked: deterministic masks and a readable Masked-300W folder."
import json, shutil
import numpy as np, pytest
from saat_nb.data import find_faces, read_pts, load_face, scan_dataset
from saat_nb.masked import mask_face, make_masked_300w, main

@pytest.fixture(scope='module')
def face(data_dir): return load_face(find_faces(data_dir, 'helen/testset')[0])

def test_mask_is_deterministic_by_seed(face):
    img, pts = face
    a, b = mask_face(img, pts, seed=3), mask_face(img, pts, seed=3)
    assert a.shape == img.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, mask_face(img, pts, seed=4))
    assert not np.array_equal(a, img)
    assert np.array_equal(mask_face(img, pts, seed=np.random.default_rng(3)), a)

def test_mask_covers_lower_face_only(face):
    img, pts = face
    changed = np.abs(mask_face(img, pts, seed=0).astype(int) - img).sum(2) > 0
    p = np.round(pts).astype(int)
    assert all(changed[p[i, 1], p[i, 0]] for i in (33, 51, 57, 62))      # nose tip and mouth
    assert not any(changed[p[i, 1], p[i, 0]] for i in (19, 24, 37, 44))  # brows and eyes

def test_mask_rejects_bad_image(face):
    with pytest.raises(ValueError, match='uint8'): mask_face(face[0].astype(float), face[1])

def test_make_masked_writes_readable_pairs(tmp_path, data_dir):
    src = tmp_path / 'src'; (src / 'helen' / 'testset').mkdir(parents=True)
    for f in find_faces(data_dir, 'helen/testset')[:3]:
        shutil.copy(f.image, src / 'helen' / 'testset'); shutil.copy(f.pts, src / 'helen' / 'testset')
    m1 = make_masked_300w(src, tmp_path / 'out1', seed=2, progress=False)
    main(['--data', str(src), '--out', str(tmp_path / 'out2'), '--seed', '2', '--quiet'])
    rep = scan_dataset(tmp_path / 'out1')
    assert rep.ok and len(rep.faces) == 3 and [f.name for f in rep.faces] == sorted(m1['faces'])
    for f in rep.faces:
        g = src / 'helen' / 'testset' / f.pts.name
        assert np.allclose(read_pts(f.pts), read_pts(g), atol=1e-5)
        assert (tmp_path / 'out2' / 'helen' / 'testset' / f.image.name).read_bytes() == f.image.read_bytes()
    man = json.loads((tmp_path / 'out2' / 'manifest.json').read_text())
    assert man['seed'] == 2 and man['faces'] == m1['faces']
    m3 = make_masked_300w(src, tmp_path / 'out3', seed=3, progress=False)
    assert m3['faces'] != m1['faces']
    with pytest.raises(ValueError, match='inside the source'): make_masked_300w(src, src / 'x', progress=False)
