"""tools/bn_recalibration.py: the diagnostic behind the noD row's explanation in outputs/cpu/results.md.

Its re-estimate puts back BatchNorm statistics that unrealistic inputs pulled off (and nothing else), and its log
summary reads the last quarter of a run's steps."""
import importlib.util, math
from pathlib import Path
import pytest, torch

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('bn_recalibration', REPO / 'tools' / 'bn_recalibration.py')
bn = importlib.util.module_from_spec(spec); spec.loader.exec_module(bn)


def test_recalibrate_bn_undoes_polluted_statistics():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4))
    clean = [(torch.rand(8, 3, 8, 8), 0, 0) for _ in range(4)]
    bn.recalibrate_bn(net, _DS(clean), bs=8)
    ref_mean, ref_var = net[1].running_mean.clone(), net[1].running_var.clone()
    net.train()
    with torch.no_grad(): net(10 * torch.randn(8, 3, 8, 8) + 5)   # one garbage batch in train mode
    assert not torch.allclose(net[1].running_mean, ref_mean, atol=1e-3)
    w = net[0].weight.clone()
    bn.recalibrate_bn(net, _DS(clean), bs=8)
    assert torch.allclose(net[1].running_mean, ref_mean, atol=1e-5) and torch.allclose(net[1].running_var, ref_var, atol=1e-5)
    assert torch.equal(net[0].weight, w) and not net.training   # weights untouched, left in eval mode


class _DS(torch.utils.data.Dataset):
    "Batches of 8 unrolled into items (img, heatmaps, pts), as LandmarkDataset yields them."
    def __init__(self, batches): self.items = [(x[i], 0, 0) for x, _, _ in batches for i in range(len(x))]
    def __len__(self): return len(self.items)
    def __getitem__(self, i): return self.items[i]


def test_log_tail_reads_the_last_quarter(tmp_path):
    (tmp_path / 'log.csv').write_text('step,ssim,beta\n' + ''.join(f'{i},{i / 10},{"nan" if i == 8 else 1}\n' for i in range(1, 9)))
    t = bn.log_tail(tmp_path)
    assert t['ssim'] == pytest.approx((0.7 + 0.8) / 2) and t['beta'] == 1.0   # steps 7-8; a NaN reading is left out
    assert all(math.isnan(v) for v in bn.log_tail(tmp_path / 'none').values())


def test_refuses_a_folder_without_weights_before_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as e: bn.main([str(tmp_path), '--data', str(tmp_path)])
    assert e.value.code == 2 and 'no detector.pth or final.pth' in capsys.readouterr().err
