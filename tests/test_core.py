import json
import pytest
from saat_nb.core import get_preset, data_root, PRESETS, Preset

def test_presets_named_and_overridable():
    assert set(PRESETS) == {'smoke', 'cpu', 'paper', 'mdm_smoke', 'mdm_cpu'}
    assert {n for n, p in PRESETS.items() if p.detector == 'mdm'} == {'mdm_smoke', 'mdm_cpu'}
    assert get_preset('cpu', steps=3).steps == 3
    with pytest.raises(KeyError): get_preset('huge')
    with pytest.raises(TypeError): get_preset('cpu', not_a_field=1)

def test_preset_from_dict_inverts_to_dict():
    "Preset.from_dict(to_dict()) is the preset again, also after JSON (deviations come back a tuple); get_preset takes the dict too."
    for name in PRESETS:
        p = get_preset(name, steps=11, n_valid=3)
        d = json.loads(json.dumps(p.to_dict()))
        assert isinstance(d['deviations'], list) and Preset.from_dict(d) == p and get_preset(d) == p
        assert isinstance(Preset.from_dict(d).deviations, tuple) and get_preset(d, steps=2).steps == 2
    d = PRESETS['smoke'].to_dict()
    with pytest.raises(TypeError, match=r"unknown field\(s\) \['depth'\]"): Preset.from_dict({**d, 'depth': 3})
    with pytest.raises(TypeError, match=r"missing field\(s\) \['steps'\]"): Preset.from_dict({k: v for k, v in d.items() if k != 'steps'})
    with pytest.raises(TypeError, match='dict'): Preset.from_dict('smoke')

def test_paper_preset_is_the_papers():
    p = get_preset('paper')
    assert (p.size, p.width, p.bs, p.steps, p.lr_det, p.lr_att, p.lr_dis, p.decay, p.lam, p.fg_weight) == \
           (256, 256, 8, 200_000, 2e-4, 1e-4, 1e-4, 0.97, 0.1, 0.)

def test_data_root_errors(tmp_path, monkeypatch):
    monkeypatch.delenv('SAAT_DATA', raising=False)
    with pytest.raises(FileNotFoundError, match='SAAT_DATA'): data_root()
    with pytest.raises(FileNotFoundError, match='nope'): data_root(tmp_path / 'nope')
    monkeypatch.setenv('SAAT_DATA', str(tmp_path))
    assert data_root() == tmp_path
