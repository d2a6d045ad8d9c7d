"saat_nb.predict: checkpoint loading, landmarks in original pixels, bad inputs, CLI."
import numpy as np
import pytest
import torch
from PIL import Image
from saat_nb.core import set_seed
from saat_nb.data import face_dataset, load_face, face_box, crop_matrix, warp_image, apply_matrix
from saat_nb.hourglass import HourglassNet, predict_landmarks
from saat_nb.losses import heatmap_mse
from saat_nb.predict import Predictor, main, read_image

def _ckpt(net, **over):
    ck = {'format': 'saat_nb/1', 'arch': net.arch, 'preset': {}, 'step': 3, 'detector': net.state_dict(),
          'attacker': None, 'discriminator': None, 'opt': {}, 'rng': {}, 'meta': {'saat': False, 'seed': 0}}
    ck.update(over); return ck

@pytest.fixture(scope='module')
def tiny(data_dir, tmp_path_factory):
    "A width-16 64-px HourglassNet after 3 Adam steps, saved in the DEVELOPERS.md format."
    set_seed(0)
    ds = face_dataset(data_dir, 'smoke', 'valid', n=4)
    net = HourglassNet(1, 16, 64)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, hm, _ = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    for _ in range(3):
        loss = heatmap_mse(net(x), hm, fg_weight=19.); opt.zero_grad(); loss.backward(); opt.step()
    path = tmp_path_factory.mktemp('ck') / 'tiny.pth'
    torch.save(_ckpt(net), path)
    return path, net.eval(), ds

def test_roundtrip_whole_image(tiny):
    path, net, ds = tiny
    p = Predictor.from_checkpoint(path)
    x = ds[0][0]
    img = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)      # a 64x64 crop: identity mapping
    got = p.landmarks(img)
    ref = predict_landmarks(net, torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None] / 255)[0].numpy()
    assert got.shape == (68, 2) and np.allclose(got, ref, atol=1e-4)
    assert np.allclose(p.landmarks(img.astype(np.float32) / 255), got, atol=1e-4)      # float input
    assert np.allclose(p.landmarks(img, flip=True), predict_landmarks(
        net, torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None] / 255, flip=True)[0].numpy(), atol=1e-4)

def test_box_maps_back_to_original_pixels(tiny, tmp_path):
    path, net, ds = tiny
    p = Predictor.from_checkpoint(path)
    photo, gt = load_face(ds.faces[1]); box = face_box(gt)
    pts = p.landmarks(photo, box)
    A = crop_matrix(box, 64)
    crop = torch.from_numpy(warp_image(photo, A, 64).transpose(2, 0, 1).copy()).float()[None] / 255
    assert np.allclose(pts, apply_matrix(np.linalg.inv(A), predict_landmarks(net, crop)[0].numpy()), atol=1e-3)
    f = max(1, int(np.hypot(box[2] - box[0], box[3] - box[1]) / 64)); d = np.array([4 * f, 7 * f])
    moved = np.pad(photo, ((d[1], 0), (d[0], 0), (0, 0)))
    assert np.allclose(p.landmarks(moved, box + np.r_[d, d]), pts + d, atol=1e-3)
    Image.fromarray(photo).save(tmp_path / 'f.png')
    assert np.allclose(p.landmarks(tmp_path / 'f.png', box), pts, atol=1e-3)           # a path works too
    both = p.landmarks_batch([photo, moved], [box, box + np.r_[d, d]])
    assert both.shape == (2, 68, 2) and np.allclose(both[0], pts, atol=1e-3)

def test_grey_and_rgba_converted():
    g = read_image(np.full((6, 5), 0.25))
    assert g.shape == (6, 5, 3) and (g == 64).all()
    rgba = np.zeros((6, 5, 4), np.uint8); rgba[..., 0] = 200; rgba[..., 3] = 7
    assert read_image(rgba).shape == (6, 5, 3) and (read_image(rgba)[..., 0] == 200).all()

@pytest.mark.parametrize('img', [np.zeros((4, 4, 2)), np.full((4, 4, 3), 1.5), np.zeros((4, 4, 3), np.int32), np.zeros(5)])
def test_bad_images(img):
    with pytest.raises(ValueError): read_image(img)

def test_missing_image_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.png'): read_image(tmp_path / 'nope.png')

@pytest.mark.parametrize('box, msg', [((10, 10, 10, 30), 'empty'), ((10, 30, 20, 10), 'empty'),
                                      ((500, 10, 600, 40), 'outside'), ((-50, -50, -10, -10), 'outside')])
def test_bad_boxes(tiny, box, msg):
    p = Predictor.from_checkpoint(tiny[0])
    with pytest.raises(ValueError, match=msg): p.landmarks(np.zeros((100, 120, 3), np.uint8), box)

def test_box_count_mismatch(tiny):
    with pytest.raises(ValueError, match='boxes'): Predictor.from_checkpoint(tiny[0]).landmarks_batch([np.zeros((8, 8, 3))], [])

def test_checkpoint_errors(tiny, tmp_path):
    path, net, _ = tiny
    with pytest.raises(FileNotFoundError, match='missing.pth'): Predictor.from_checkpoint(tmp_path / 'missing.pth')
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='junk.pth'): Predictor.from_checkpoint(tmp_path / 'junk.pth')
    torch.save({'model': net.state_dict()}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match="missing key"): Predictor.from_checkpoint(tmp_path / 'other.pth')
    torch.save(_ckpt(net, arch={**net.arch, 'width': 32}), tmp_path / 'wide.pth')
    with pytest.raises(ValueError, match='mis-shaped'): Predictor.from_checkpoint(tmp_path / 'wide.pth')
    torch.save(_ckpt(net, arch={**net.arch, 'stacks': 2}), tmp_path / 'stacked.pth')
    with pytest.raises(ValueError, match='missing'): Predictor.from_checkpoint(tmp_path / 'stacked.pth')
    torch.save(_ckpt(net, arch={'depth_of_field': 3}), tmp_path / 'badarch.pth')
    with pytest.raises(ValueError, match='rebuild'): Predictor.from_checkpoint(tmp_path / 'badarch.pth')
    torch.save(_ckpt(net, format='other/9'), tmp_path / 'fmt.pth')
    with pytest.raises(ValueError, match='format'): Predictor.from_checkpoint(tmp_path / 'fmt.pth')

def test_cli(tiny, tmp_path, capsys):
    path, _, ds = tiny
    photo, gt = load_face(ds.faces[0]); box = face_box(gt)
    Image.fromarray(photo).save(tmp_path / 'f.png')
    pts = main([str(tmp_path / 'f.png'), '--checkpoint', str(path), '--box', *map(str, box)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 68 and np.allclose(np.loadtxt(lines), pts, atol=0.01)
    main([str(tmp_path / 'f.png'), '--checkpoint', str(path), '--out', str(tmp_path / 'o.png'), '--flip'])
    assert Image.open(tmp_path / 'o.png').size == (photo.shape[1], photo.shape[0])
    with pytest.raises(SystemExit) as e: main([str(tmp_path / 'f.png'), '--checkpoint', str(tmp_path / 'none.pth')])
    assert e.value.code == 2 and 'none.pth' in capsys.readouterr().err
