"""Write the tiny test fixtures of the other benchmarks under tests/fixtures/, each in its official release layout.

    python data_prep/make_fixtures.py --data ../shared/data/300w [--out tests/fixtures]

A few of our 300W HELEN faces, cropped small, are written as
- wflw/:   WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{train,test}.txt (207 fields a line),
           WFLW_annotations/list_98pt_test/list_98pt_test_<subset>.txt (197 fields: coordinates and image),
           WFLW_images/<event>/<name>.jpg; 98 points synthesised from the 68 (landmarks.wflw98_from_ibug68);
- cofw68/: COFW68_Data/COFW_test_color.mat (MATLAB v7.3 = HDF5, cell array IsT, phisT, bboxesT),
           COFW68_Data/test_annotations/<i>_points.mat (v5: Points 68x2, Occ), COFW68_Data/cofw68_test_bboxes.mat
           (v5: bboxes [x y w h]); MATLAB 1-based coordinates;
- 300vw/:  <video id>/vid.avi (3 frames, MJPEG) and <video id>/annot/00000k.pts, one training video and one per
           test category.
The flags, occlusions and video ids are made up to exercise every reader path; the numbers a protocol reports on
them mean nothing. Deterministic: running it again writes the same annotations (JPEG/MJPEG bytes may differ
across library versions).
"""
import argparse, shutil, sys
from pathlib import Path
import numpy as np
from PIL import Image

from saat_nb.data import find_faces, load_face, crop_face, write_pts
from saat_nb.landmarks import wflw98_from_ibug68
from saat_nb.benchmarks import (WFLW_LIST, WFLW_SUBSET_LIST, WFLW_SUBSETS, WFLW_ATTRS, WFLW_IMAGES, COFW68_ANNOT,
                                COFW68_BOXES, VW300_TRAIN, VW300_CATEGORIES)

SIZE = 112   # px: the side of each fixture face crop


def small_faces(root, subset: str, n: int, size: int = SIZE):
    "The first `n` faces of a 300W subset, cropped around their landmarks to `size` px -> [(name, image, (68,2) points)]."
    out = []
    for f in find_faces(root, subset)[:n]:
        img, pts = load_face(f)
        crop, q, _ = crop_face(img, pts, size)
        out.append((f.name.split('/')[-1], crop, q.astype(np.float64)))
    return out


def _coords(p) -> list[str]: return [f'{v:.6f}' for v in np.asarray(p).ravel()]


def write_wflw(root, dst: Path):
    "8 training faces, 4 test faces (two of them on one image), subset lists and flags covering every subset."
    faces = small_faces(root, 'helen/trainset', 12)
    imgs = dst / WFLW_IMAGES
    events = ['0--Parade', '51--Dresses']
    lines = {'train': [], 'test': []}
    test_flags = [('pose', 'occlusion'), ('expression', 'blur'), ('illumination', 'makeup'), ('pose', 'expression')]
    rng = np.random.default_rng(0)
    def save(rel, img):
        (imgs / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(imgs / rel, quality=90)
    for i, (name, img, pts) in enumerate(faces[:10]):          # 8 training faces, 2 test faces: one image each
        split = 'train' if i < 8 else 'test'
        rel = f"{events[i % 2]}/{events[i % 2].split('--')[0]}_{name}.jpg"
        save(rel, img)
        flags = rng.integers(0, 2, 6) if split == 'train' else np.array([a in test_flags[i - 8] for a in WFLW_ATTRS], int)
        lines[split].append((rel, wflw98_from_ibug68(pts), flags))
    (n2, a, pa), (_, b, pb) = faces[10], faces[11]            # 2 more test faces side by side on one image (WIDER
    rel = f"51--Dresses/51_{n2}_two.jpg"                       # photos often hold several faces)
    save(rel, np.concatenate([a, b], 1))
    for k, p in enumerate((pa, pb + [SIZE, 0])):
        lines['test'].append((rel, wflw98_from_ibug68(p), np.array([a in test_flags[2 + k] for a in WFLW_ATTRS], int)))
    for split, ls in lines.items():
        f = dst / WFLW_LIST.format(split); f.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        for rel, p98, flags in ls:
            x0, y0 = np.floor(p98.min(0) - 4).astype(int); x1, y1 = np.ceil(p98.max(0) + 4).astype(int)
            rows.append(' '.join(_coords(p98) + [str(v) for v in (x0, y0, x1, y1)] + [str(int(v)) for v in flags] + [rel]))
        f.write_text('\n'.join(rows) + '\n')
    for sub, flag in WFLW_SUBSETS.items():   # the subset lists: coordinates and image only, as LAB's evaluator reads them
        f = dst / WFLW_SUBSET_LIST.format(sub); f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(''.join(' '.join(_coords(p98) + [rel]) + '\n' for rel, p98, flags in lines['test']
                             if flags[WFLW_ATTRS.index(flag)]))


def _matlab_v73(path: Path, arrays: dict, cells: dict):
    "A MATLAB v7.3 file: HDF5 after a 512-byte MATLAB header; arrays stored transposed (column-major), cells as references."
    import h5py
    with h5py.File(path, 'w', userblock_size=512) as f:
        for k, a in arrays.items():
            d = f.create_dataset(k, data=np.asarray(a).T); d.attrs['MATLAB_class'] = np.bytes_('double')
        for k, items in cells.items():
            refs = []
            for j, a in enumerate(items):
                d = f.create_dataset(f'#refs#/{k}{j}', data=np.asarray(a).T, compression='gzip')
                d.attrs['MATLAB_class'] = np.bytes_('uint8'); refs.append(d.ref)
            c = f.create_dataset(k, data=np.array(refs, dtype=h5py.ref_dtype).reshape(1, -1)); c.attrs['MATLAB_class'] = np.bytes_('cell')
    head = b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: saat_nb fixtures HDF5 schema 1.00 .'
    with open(path, 'r+b') as fh: fh.write(head.ljust(116) + b'\x00' * 8 + b'\x00\x02IM'.ljust(4))


def write_cofw68(root, dst: Path):
    "3 test faces (the last one grey): the COFW image file (v7.3), the COFW68 annotations and boxes (v5)."
    from scipy.io import savemat
    faces = small_faces(root, 'helen/testset', 3)
    data = dst / 'COFW68_Data'; (dst / COFW68_ANNOT.format(1)).parent.mkdir(parents=True, exist_ok=True)
    images, boxes, phis = [], [], []
    for i, (name, img, pts) in enumerate(faces):
        images.append(img if i < 2 else np.asarray(Image.fromarray(img).convert('L')))
        occ = np.zeros((68, 1)); occ[48:68] = i == 1                         # face 2: the mouth occluded
        p1 = pts + 1                                                          # MATLAB: 1-based
        savemat(dst / COFW68_ANNOT.format(i + 1), {'Points': p1, 'Occ': occ})
        x0, y0 = p1.min(0) - 3; x1, y1 = p1.max(0) + 3
        boxes.append([x0, y0, x1 - x0, y1 - y0])
        p29 = p1[np.linspace(0, 67, 29).astype(int)]                          # COFW's own 29 points: made up here
        phis.append(np.concatenate([p29[:, 0], p29[:, 1], occ[np.linspace(0, 67, 29).astype(int), 0]]))
    savemat(dst / COFW68_BOXES, {'bboxes': np.array(boxes)})
    _matlab_v73(data / 'COFW_test_color.mat', {'phisT': np.array(phis), 'bboxesT': np.array(boxes)}, {'IsT': images})


def write_300vw(root, dst: Path, n_frames: int = 3, size: int = 96):
    "One 3-frame video per split (training, and each test category), the face moving 2 px a frame."
    import imageio_ffmpeg
    from saat_nb.data import crop_matrix, face_box, apply_matrix, warp_image
    vids = [VW300_TRAIN[0]] + [ids[0] for ids in VW300_CATEGORIES.values()]
    for v, f in zip(vids, find_faces(root, 'helen/trainset')[20:20 + len(vids)]):
        img, pts = load_face(f)
        d = dst / v; (d / 'annot').mkdir(parents=True, exist_ok=True)
        w = imageio_ffmpeg.write_frames(str(d / 'vid.avi'), (size, size), codec='mjpeg', pix_fmt_in='rgb24',
                                        pix_fmt_out='yuvj420p', quality=8, macro_block_size=16,
                                        ffmpeg_log_level='error')
        w.send(None)
        for k in range(n_frames):
            M = crop_matrix(face_box(pts), size, shift=(0.02 * k, 0.))
            w.send(np.ascontiguousarray(warp_image(img, M, size)))
            write_pts(d / 'annot' / f'{k + 1:06d}.pts', apply_matrix(M, pts))
        w.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', required=True, help='the 300W root (helen/trainset, helen/testset)')
    ap.add_argument('--out', default=str(Path(__file__).resolve().parents[1] / 'tests' / 'fixtures'))
    a = ap.parse_args(argv)
    out = Path(a.out)
    for name, write in (('wflw', write_wflw), ('cofw68', write_cofw68), ('300vw', write_300vw)):
        d = out / name
        if d.exists(): shutil.rmtree(d)
        write(a.data, d)
        size = sum(f.stat().st_size for f in d.rglob('*') if f.is_file())
        print(f"{d}: {sum(1 for f in d.rglob('*') if f.is_file())} files, {size / 1024:.0f} KiB")
    return 0


if __name__ == '__main__':
    sys.exit(main())
