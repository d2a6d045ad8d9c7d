"Hand-computed values and edge cases for saat_nb.losses (eqs. 1, 3-7)."
import math
import pytest
import torch
from saat_nb.losses import (heatmap_mse, fool_loss, attacker_gan_loss, discriminator_loss,
                            reconstruction_loss, attacker_total_loss)


@pytest.fixture
def pt():
    "1x2x2x2 prediction/target: squared errors 1 and 4 over 8 pixels -> MSE 0.625."
    t = torch.zeros(1, 2, 2, 2); p = t.clone(); p[0, 0, 0, 0] = 1; p[0, 1, 1, 0] = 2
    return p, t


def test_heatmap_mse_hand_value(pt):
    p, t = pt
    assert heatmap_mse(p, t).item() == pytest.approx(0.625)
    assert heatmap_mse(t, t).item() == 0


def test_heatmap_mse_fg_weight(pt):
    p, t = pt
    t2 = torch.zeros_like(t); t2[0, 0, 0, 0] = 0.5          # weight 1 + 2*0.5 = 2 on the first error
    p2 = t2 + (p - t)
    assert heatmap_mse(p2, t2, fg_weight=2.).item() == pytest.approx((2 * 1 + 4) / 8)
    assert heatmap_mse(p2, t2, fg_weight=0.).item() == pytest.approx(0.625)


def test_heatmap_mse_stacks_and_per_sample(pt):
    p, t = pt
    assert heatmap_mse([p, t], t).item() == pytest.approx(0.625)
    assert heatmap_mse([p, p], t).item() == pytest.approx(1.25)
    per = heatmap_mse(torch.cat([p, t]), torch.cat([t, t]), reduction='none')
    assert per.shape == (2,) and torch.allclose(per, torch.tensor([0.625, 0.]))


def test_heatmap_mse_bad_input(pt):
    p, t = pt
    with pytest.raises(ValueError, match='shape'): heatmap_mse(p[:, :1], t)
    with pytest.raises(ValueError, match='empty'): heatmap_mse([], t)
    with pytest.raises(ValueError, match='reduction'): heatmap_mse(p, t, reduction='sum')


def test_fool_loss_hand_values(pt):
    p, t = pt
    assert fool_loss(p, t, lam=0.1).item() == pytest.approx(1 / 0.725, rel=1e-6)
    both = fool_loss(torch.cat([p, t]), torch.cat([t, t]), lam=0.1).item()
    assert both == pytest.approx((1 / 0.725 + 1 / 0.1) / 2, rel=1e-6)   # per sample, then mean
    assert fool_loss(t, t, lam=0.5).item() == pytest.approx(2.0)
    assert fool_loss([t, p], t, lam=0.1).item() == pytest.approx(1 / 0.725, rel=1e-6)   # last stack only
    assert fool_loss(p, t, lam=0.1, fg_weight=1.).item() == pytest.approx(1 / 0.725, rel=1e-6)  # target 0 -> no weight


def test_loss_errors_name_the_called_function(pt):
    "A bad input to fool_loss (or attacker_total_loss, through it) says fool_loss, not its helper's heatmap_mse."
    p, t = pt
    for bad in ([], p[:, :1]):
        with pytest.raises(ValueError, match=r'^fool_loss: '): fool_loss(bad, t)
        with pytest.raises(ValueError, match=r'^heatmap_mse: '): heatmap_mse(bad, t)
    with pytest.raises(ValueError, match=r'^fool_loss: '): attacker_total_loss(p[:, :1], t, use_gan=False, use_rec=False)


def test_fool_loss_lambda_zero(pt):
    p, t = pt
    assert fool_loss(p, t, lam=0.).item() == pytest.approx(1 / 0.625, rel=1e-6)
    z = fool_loss(t, t, lam=0.).item()
    assert math.isfinite(z) and z > 1e6
    with pytest.raises(ValueError): fool_loss(p, t, lam=-1.)


def test_fool_loss_gradient_rewards_error(pt):
    p, t = pt
    x = p.clone().requires_grad_(); fool_loss(x, t).backward()
    assert x.grad[0, 0, 0, 0] < 0 and x.grad[0, 1, 1, 0] < 0


def test_gan_losses_hand_values():
    l = torch.tensor([[0.], [2.]]); s = torch.sigmoid(l)
    assert attacker_gan_loss(l, saturating=True).item() == pytest.approx(torch.log(1 - s).mean().item(), rel=1e-6)
    assert attacker_gan_loss(l).item() == pytest.approx(-torch.log(s).mean().item(), rel=1e-6)
    assert discriminator_loss(torch.zeros(3, 1), torch.zeros(3, 1)).item() == pytest.approx(2 * math.log(2), rel=1e-6)
    real, fake = torch.tensor([1.]), torch.tensor([-1.])
    want = -math.log(1 / (1 + math.exp(-1))) - math.log(1 - 1 / (1 + math.exp(1)))
    assert discriminator_loss(real, fake).item() == pytest.approx(want, rel=1e-6)


def test_gan_losses_any_shape_and_stable():
    patch = torch.randn(2, 1, 5, 5)
    assert attacker_gan_loss(patch).shape == () and discriminator_loss(patch, patch).shape == ()
    big = torch.tensor([60., -60.])
    for v in [attacker_gan_loss(big, saturating=True), attacker_gan_loss(big), discriminator_loss(big, big)]:
        assert math.isfinite(v.item())
    assert attacker_gan_loss(torch.tensor([60.]), saturating=True).item() == pytest.approx(-60, rel=1e-4)


def test_reconstruction_loss_hand_value():
    i0 = torch.zeros(1, 2, 2, 2); ia = i0.clone(); ia[0, :, 0, 0] = 0.5; ia[0, :, 1, 1] = -1
    m = torch.full((1, 1, 2, 2), 0.1); m[0, 0, 0, 0] = 1
    assert reconstruction_loss(i0, ia, m).item() == pytest.approx(1.2 / 8, rel=1e-6)
    assert reconstruction_loss(ia, ia, m).item() == 0
    with pytest.raises(ValueError, match='mask'): reconstruction_loss(i0, ia, m[..., :1])
    with pytest.raises(ValueError, match='img_adv'): reconstruction_loss(i0, ia[:, :1], m)


def test_attacker_total_loss_parts_and_switches(pt):
    p, t = pt
    l = torch.tensor([[0.5]]); img = torch.rand(1, 3, 4, 4); adv = img + 0.1; m = torch.ones(1, 1, 4, 4)
    tot, parts = attacker_total_loss(p, t, l, img, adv, m, lam=0.1)
    assert set(parts) == {'L_F', 'L_A', 'L_R'} and all(isinstance(v, float) for v in parts.values())
    assert parts['L_R'] == pytest.approx(0.1, rel=1e-5)
    assert tot.item() == pytest.approx(1 / 0.725 + attacker_gan_loss(l).item() + 0.1, rel=1e-5)
    t2, p2 = attacker_total_loss(p, t, use_gan=False, use_rec=False)
    assert t2.item() == pytest.approx(1 / 0.725, rel=1e-6) and p2['L_A'] == 0 and p2['L_R'] == 0
    with pytest.raises(ValueError, match='d_fake_logits'): attacker_total_loss(p, t, use_rec=False)
    with pytest.raises(ValueError, match='mask'): attacker_total_loss(p, t, l)
