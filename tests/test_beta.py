"SSIM against scikit-image (random and real faces), beta (eq. 9) and the adaptive loss (eq. 8)."
import math
import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity
from saat_nb.beta import ssim, beta_weight, adaptive_loss
from saat_nb.losses import heatmap_mse


def sk_ssim(a, b):
    return structural_similarity(a.permute(1, 2, 0).double().numpy(), b.permute(1, 2, 0).double().numpy(),
                                 channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0)


def assert_matches_skimage(x, y):
    ours = ssim(x, y)
    theirs = torch.tensor([sk_ssim(a, b) for a, b in zip(x, y)], dtype=ours.dtype)
    assert ours.shape == (x.shape[0],)
    assert (ours - theirs).abs().max().item() < 1e-3, (ours, theirs)


@pytest.mark.parametrize('noise', [0.02, 0.1, 0.4])
def test_ssim_matches_skimage_random(noise):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 33, 45, generator=g)
    y = (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert_matches_skimage(x, y)


@pytest.mark.parametrize('size', [64, 128])
def test_ssim_matches_skimage_real_faces(data_dir, size):
    jpgs = sorted((data_dir / 'helen' / 'testset').glob('*.jpg'))[:3]
    assert jpgs, f'no HELEN test images under {data_dir}'
    x = torch.stack([torch.from_numpy(np.array(Image.open(j).convert('RGB').resize((size, size)))).permute(2, 0, 1)
                     for j in jpgs]).float() / 255
    g = torch.Generator().manual_seed(1)
    y = (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert_matches_skimage(x, y)
    mask = torch.full((len(jpgs), 1, size, size), 0.1); mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    assert_matches_skimage(mask * x, mask * y)


def test_ssim_identity_symmetry_grad():
    x = torch.rand(2, 3, 20, 20); y = torch.rand(2, 3, 20, 20)
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    assert torch.allclose(ssim(x, y), ssim(y, x), atol=1e-6)
    assert (ssim(x, y) < 0.5).all()
    xg = x.clone().requires_grad_(); ssim(xg, y).sum().backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


def test_ssim_bad_input():
    with pytest.raises(ValueError, match='shape|tensors'): ssim(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 21))
    with pytest.raises(ValueError, match='window'): ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_ssim_refuses_integer_images():
    "uint8 images (0..255) are refused, not read as if data_range were 1 (that gives an SSIM near 1 for any pair)."
    x = torch.rand(1, 3, 20, 20); y = torch.rand(1, 3, 20, 20)
    xu, yu = (x * 255).to(torch.uint8), (y * 255).to(torch.uint8)
    for a, b in ((xu, yu), (x, yu), (xu.long(), y)):
        with pytest.raises(TypeError, match=r'ssim: expected float images.*/ 255'): ssim(a, b)
    assert torch.allclose(ssim(xu.float() / 255, yu.float() / 255), ssim(x, y), atol=0.02)   # the advised conversion


def test_beta_weight():
    s = torch.linspace(-1, 1, 401)
    b = beta_weight(s)
    assert (b[s <= 0.5] == 0).all() and (b[s > 0.5] > 0).all() and (b.diff() >= 0).all()
    assert beta_weight(torch.tensor([1.])).item() == pytest.approx(math.log(1.5), rel=1e-6)
    assert beta_weight(torch.tensor([0.9])).item() == pytest.approx(math.log(1.4), rel=1e-6)
    assert torch.isfinite(b).all()


def test_adaptive_loss_hand_value_and_fixed_beta():
    t = torch.zeros(2, 2, 2, 2); p = t.clone(); p[0, 0, 0, 0] = 1; p[1, 1, 1, 0] = 2   # MSE 1/8 and 4/8
    assert adaptive_loss(p, t, torch.tensor([0.4, 0.1])).item() == pytest.approx((0.4 / 8 + 0.1 * 4 / 8) / 2, rel=1e-6)
    for fixed in [1., 0.5, 0.1, 0.]:
        assert adaptive_loss(p, t, fixed).item() == pytest.approx(fixed * heatmap_mse(p, t).item(), rel=1e-6)
    assert adaptive_loss([p, p], t, 1.).item() == pytest.approx(2 * heatmap_mse(p, t).item(), rel=1e-6)
    with pytest.raises(ValueError, match='beta'): adaptive_loss(p, t, torch.ones(3))


def test_adaptive_loss_no_grad_through_beta():
    t = torch.zeros(1, 2, 4, 4); p = torch.rand(1, 2, 4, 4, requires_grad=True)
    beta = torch.tensor([0.3], requires_grad=True)
    adaptive_loss(p, t, beta).backward()
    assert beta.grad is None and p.grad is not None
