"saat_nb.detect and the no-box path of saat_nb.predict: detectors, the box map, faces found on real photos."
import json, warnings
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from saat_nb import detect
from saat_nb.detect import BoxMap, BOX_MAPS, fit_box_map, match_face, box_iou, landmark_boxes, detector_available, get_detector
from saat_nb.data import find_faces, load_face, face_box
from saat_nb.metrics import nme

REPO = Path(__file__).resolve().parents[1]
DET = REPO / 'outputs' / 'cpu' / 'saat_s0' / 'detector.pth'
NO_DLIB = detector_available('dlib')
needs_dlib = pytest.mark.skipif(NO_DLIB is not None, reason=f"optional extra not installed: {NO_DLIB}")


def test_box_map_round_trip_and_fit():
    m = BoxMap(0.01, 0.1, 0.98, 0.95)
    d = np.array([[10., 20, 110, 120], [50, 40, 90, 100]])
    l = m(d)
    assert np.allclose(fit_box_map(d, l), m) and np.allclose((l[:, :2] + l[:, 2:]) / 2 - (d[:, :2] + d[:, 2:]) / 2,
                                                            [[1, 10], [0.4, 6]])
    with pytest.raises(ValueError, match='as many landmark boxes'): fit_box_map(d, l[:1])


def test_committed_box_maps_are_the_fitted_ones():
    "BOX_MAPS holds what tools/bench_face_detectors.py fitted on helen/trainset (outputs/benchmarks/face_detectors.json)."
    rec = json.loads((REPO / 'outputs' / 'benchmarks' / 'face_detectors.json').read_text())
    for name, r in rec['detectors'].items():
        if 'unavailable' in r: continue
        assert np.allclose(BOX_MAPS[name], [r['box_map'][k] for k in ('dx', 'dy', 'sx', 'sy')], atol=1e-4), name
    assert detect.DEFAULT_DETECTOR == rec['default']


def test_match_face_picks_the_annotated_one():
    assert match_face(np.zeros((0, 5)), (0, 0, 10, 10)) is None
    assert match_face([[0, 0, 5, 5, 1], [40, 40, 60, 60, 2]], (38, 38, 62, 64)) == 1
    assert box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)


def test_missing_extra_says_how_to_install(monkeypatch):
    def absent(): raise ImportError(f"the 'dlib' face detector needs dlib: {detect.EXTRA}")
    monkeypatch.setitem(detect.DETECTORS, 'dlib', absent); detect._built.cache_clear()
    try:
        assert "saat_nb[detect]" in detector_available('dlib')
        with pytest.raises(ImportError, match=r"saat_nb\[detect\]"): landmark_boxes(np.zeros((8, 8, 3), np.uint8), 'dlib')
    finally: detect._built.cache_clear()
    with pytest.raises(ValueError, match='unknown face detector'): get_detector('mtcnn')


def test_a_callable_is_a_detector():
    img = np.zeros((50, 80, 3), np.uint8)
    b, s = landmark_boxes(img, lambda im: np.array([[10, 10, 30, 30, .2], [40, 5, 70, 45, .9]]))
    assert np.allclose(b[0], [40, 5, 70, 45]) and list(s) == [.9, .2]          # score order, no map for a callable


@needs_dlib
def test_mapped_dlib_boxes_fit_the_landmark_boxes(data_dir):
    "On helen/testset photos the fitted map brings dlib's boxes closer to the landmark boxes than the raw boxes are."
    raw_iou, map_iou = [], []
    for f in find_faces(data_dir, 'helen/testset')[:12]:
        img, pts = load_face(f); g = face_box(pts)
        raw = get_detector('dlib')(img)
        i = match_face(raw, g)
        if i is None: continue
        raw_iou.append(box_iou(raw[i:i + 1, :4], [g])[0, 0]); map_iou.append(box_iou(BOX_MAPS['dlib'](raw[i:i + 1]), [g])[0, 0])
    assert len(raw_iou) >= 10 and np.mean(map_iou) > np.mean(raw_iou) and np.mean(map_iou) > 0.7


@needs_dlib
@pytest.mark.skipif(not DET.is_file(), reason='the committed cpu detector is not here')
def test_no_box_on_an_afw_photo_and_two_faces_side_by_side(data_dir):
    "The issue's acceptance test: points land on the face without a box, and both of two side-by-side faces get points."
    from saat_nb.predict import Predictor, FaceAlignment
    pred = Predictor.from_checkpoint(DET)
    img, gt = load_face(find_faces(data_dir, 'afw')[0])
    r = pred.landmarks(img)
    i = match_face(r.boxes, face_box(gt))
    assert r.source == 'dlib' and i is not None and nme(r.points[i], gt) < 0.15
    a, b = (load_face(f) for f in find_faces(data_dir, 'helen/testset')[:2])
    h = min(a[0].shape[0], b[0].shape[0]); ka, kb = h / a[0].shape[0], h / b[0].shape[0]
    rs = lambda im, k: np.asarray(Image.fromarray(im).resize((round(im.shape[1] * k), h)))
    two = np.concatenate([rs(a[0], ka), rs(b[0], kb)], 1)
    gts = [a[1] * ka, b[1] * kb + [round(a[0].shape[1] * ka), 0]]
    r2 = pred.landmarks(two)
    assert len(r2.points) == 2
    for g in gts:
        j = match_face(r2.boxes, face_box(g))
        assert j is not None and nme(r2.points[j], g) < 0.15
    many = pred.landmarks_many([img, two, np.zeros((64, 64, 3), np.uint8)])   # the batched path: the same faces
    assert [len(m.points) for m in many] == [len(r.points), 2, 0]
    assert all(np.allclose(p, q) for p, q in zip(many[1].points, r2.points))
    fa = FaceAlignment(checkpoint=DET)
    pts = fa.get_landmarks_from_image(two)
    assert isinstance(pts, list) and len(pts) == 2 and pts[0].shape == (68, 2)
    with pytest.warns(UserWarning, match='No faces were detected'):
        assert fa.get_landmarks_from_image(np.zeros((64, 64, 3), np.uint8)) is None
    raw = get_detector('dlib')(two)                               # face-alignment's detected_faces: detector boxes
    assert len(fa.get_landmarks_from_image(two, detected_faces=raw)) == len(raw)
    import torch
    batch = fa.get_landmarks_from_batch(torch.from_numpy(np.stack([img[:200, :200]] * 2).transpose(0, 3, 1, 2).copy()).float())
    assert len(batch) == 2 and (len(batch[0]) == 0 or batch[0].shape[1] == 2)
