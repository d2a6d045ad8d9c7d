import math, numpy as np, pytest, torch
from saat_nb.data import render_heatmaps
from saat_nb.attacker import structure_map, semantic_mask, Attacker, Discriminator, adversarial_example
from saat_nb.hourglass import count_params


def attacker_params(size, ngf, k, cin):
    "pix2pix U-Net by formula: log2(size) levels, widths ngf*(1,2,4,8,8..), BN except first/innermost down and output."
    n = int(math.log2(size)); c = [ngf * min(2 ** i, 8) for i in range(n)]
    down = sum((cin if i == 0 else c[i - 1]) * c[i] * k * k + (2 * c[i] if 0 < i < n - 1 else c[i]) for i in range(n))
    up = sum((c[j] if j == n - 1 else 2 * c[j]) * (c[j - 1] if j else 3) * k * k + (2 * c[j - 1] if j else 3) for j in range(n))
    return down + up


def test_attacker_param_count_by_hand():
    # size 8 -> 3 levels, widths 2,4,8, input 3+1+1 channels, kernel 4:
    # down 5*2*16+2, 2*4*16+BN 8, 4*8*16+8 ; up 8*4*16+BN 8, 8*2*16+BN 4, 4*3*16+3
    assert count_params(Attacker(8, 2, 4)) == 162 + 136 + 520 + 520 + 260 + 195 == 1793


@pytest.mark.parametrize('size,ngf,k,use_s,noise', [(64, 4, 4, True, 1), (128, 4, 5, False, 1), (256, 8, 5, True, 2)])
def test_attacker_param_count_formula(size, ngf, k, use_s, noise):
    with torch.device('meta'): A = Attacker(size, ngf, k, noise_ch=noise, use_s=use_s)
    assert count_params(A) == attacker_params(size, ngf, k, 3 + int(use_s) + noise)


def test_discriminator_param_count_by_hand():
    # 5x5 convs 4->2 (+bias), 2->4 (+BN), 4->8 (+BN), 8->16 (+BN); linear 16*2*2 -> 1
    assert count_params(Discriminator(16, 2)) == 202 + 208 + 816 + 3232 + 65
    assert count_params(Discriminator(16, 2, use_s=False)) == 4523 - 50


def hm_batch(B, size, seed=0):
    "(B,68,size,size) Gaussian heatmaps at random points."
    pts = np.random.default_rng(seed).uniform(0, size - 1, (B, 68, 2))
    return torch.from_numpy(np.stack([render_heatmaps(p, size, 2.) for p in pts]))


@pytest.mark.parametrize('size', [64, 128, 256])
@pytest.mark.parametrize('kernel', [4, 5])
def test_shapes_and_range(size, kernel):
    A, D = Attacker(size, 4, kernel, scale=0.3).eval(), Discriminator(size, 4)
    img = torch.rand(2, 3, size, size); S = structure_map(hm_batch(2, size))
    with torch.no_grad():
        p = A(img, S)
        assert p.shape == (2, 3, size, size) and p.abs().max() <= 0.3
        assert D(adversarial_example(img, p), S).shape == (2, 1)
        assert Discriminator(size, 4, kind='patch')(img, S).shape[:2] == (2, 1)
    assert A.levels == int(math.log2(size))


def test_with_and_without_s():
    img = torch.rand(3, 3, 64, 64); S = structure_map(hm_batch(3, 64))
    A1, A0 = Attacker(64, 4, use_s=True).eval(), Attacker(64, 4, use_s=False).eval()
    z = torch.randn(3, 1, 64, 64)
    with torch.no_grad():
        assert A0(img).shape == A1(img, S).shape == (3, 3, 64, 64)
        assert torch.equal(A0(img, z=z), A0(img, S, z=z))               # S is ignored without S
        assert not torch.equal(A1(img, S, z=z), A1(img, torch.zeros_like(S), z=z))
        assert torch.equal(A1(img, S, z=z), A1(img, S, z=z))            # deterministic given z (eval)
        assert not torch.equal(A1(img, S), A1(img, S))                  # fresh noise otherwise
        assert Discriminator(64, 4, use_s=False)(img).shape == (3, 1)
    with pytest.raises(ValueError, match='structure map'): A1(img)
    with pytest.raises(ValueError, match='structure map'): Discriminator(64, 4)(img)
    with pytest.raises(ValueError, match='divisible'): A1(torch.rand(1, 3, 48, 48), torch.rand(1, 1, 48, 48))
    hm = hm_batch(3, 64)
    with pytest.raises(ValueError, match=r'pass structure_map\(heatmaps\)'): A1(img, hm)          # (B,68,H,W), not S
    with pytest.raises(ValueError, match=r'\(3, 1, 64, 64\).*got \(3, 1, 32, 32\)'): A1(img, S[..., :32, :32])
    with pytest.raises(ValueError, match=r'got \(2, 1, 64, 64\)'): A1(img, S[:2])
    with pytest.raises(ValueError, match=r'got \(3, 64, 64\)'): A1(img, S[:, 0])
    with pytest.raises(ValueError): Attacker(64, 4, kernel=3)
    with pytest.raises(ValueError): Discriminator(64, 4, kind='wgan')


@pytest.mark.parametrize('kernel', [4, 5])
def test_attacker_gradients_reach_every_parameter(kernel):
    torch.manual_seed(0)
    A = Attacker(32, 4, kernel).train()
    out = A(torch.rand(4, 3, 32, 32), structure_map(hm_batch(4, 32)))
    (out * torch.randn_like(out)).sum().backward()
    for name, p in A.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kind', ['dcgan', 'patch'])
def test_discriminator_gradients_reach_every_parameter(kind):
    torch.manual_seed(0)
    D = Discriminator(32, 4, kind=kind).train()
    img = torch.rand(4, 3, 32, 32, requires_grad=True)
    out = D(img, structure_map(hm_batch(4, 32)))
    (out * torch.randn_like(out)).sum().backward()
    for name, p in D.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert img.grad.abs().sum() > 0


def test_structure_map_and_mask():
    hm = hm_batch(2, 64)
    S = structure_map(hm)
    assert S.shape == (2, 1, 64, 64) and S.min() >= 0 and S.max() <= 1
    assert torch.equal(S, hm.max(1, keepdim=True).values.clamp(0, 1))
    assert structure_map(hm * 3).max() == 1                            # clamped to [0, 1]
    M = semantic_mask(hm)
    assert set(M.unique().tolist()) <= {torch.tensor(0.1).item(), 1.0} and (M == 1).any() and (M < 1).any()
    assert torch.equal(M == 1, S > 0.1)
    assert torch.equal(semantic_mask(hm, threshold=0.5, bg=0.) == 1, S > 0.5)
    with pytest.raises(ValueError): structure_map(hm[0])


def test_adversarial_example_clamps():
    img = torch.tensor([0., .5, 1.]).view(1, 3, 1, 1)
    pert = torch.tensor([-.3, .2, .4]).view(1, 3, 1, 1)
    assert adversarial_example(img, pert).flatten().tolist() == pytest.approx([0., .7, 1.])
