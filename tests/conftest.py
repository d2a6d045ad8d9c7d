import os
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def data_dir() -> Path:
    "The 300W copy the tests use: $SAAT_DATA, else ../shared/data/300w beside the repo."
    p = Path(os.environ.get('SAAT_DATA', REPO.parent / 'shared' / 'data' / '300w'))
    if not p.is_dir(): pytest.fail(f"test data not found at {p}: set SAAT_DATA or put 300W at ../shared/data/300w")
    return p
