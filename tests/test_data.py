import pytest
import torch

from noisewalk.data import TensorData, TensorLoader, create_dataset, hflip, list_datasets, random_crop
from noisewalk.errors import InvalidParameterError, UnknownNameError


def test_digits_split_is_fixed_and_stratified(digits):
    assert len(digits.train) == 1437 and len(digits.test) == 360
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert digits.train.x.dtype == torch.uint8 and int(digits.train.x.max()) == 16
    again = create_dataset("digits")
    assert torch.equal(again.test.y, digits.test.y) and torch.equal(again.test.x, digits.test.x)
    counts = torch.bincount(digits.test.y, minlength=10)
    assert int(counts.min()) >= 35  # every class is represented in the test split


def test_normalization_gives_zero_mean_unit_std_on_train(digits):
    x = digits.train.normalize(digits.train.x)
    assert x.dtype == torch.float32
    assert abs(float(x.mean())) < 1e-4 and float(x.std()) == pytest.approx(1.0, rel=1e-3)


def test_loader_visits_every_sample_once_per_epoch(digits):
    loader = TensorLoader(digits.train, 100, shuffle=True, generator=torch.Generator().manual_seed(0))
    labels = torch.cat([yb for _, yb in loader])
    assert len(loader) == 15 and len(labels) == len(digits.train)
    assert torch.equal(torch.sort(labels).values, torch.sort(digits.train.y).values)
    first = [yb for _, yb in TensorLoader(digits.train, 100, shuffle=True, generator=torch.Generator().manual_seed(0))]
    second = [yb for _, yb in TensorLoader(digits.train, 100, shuffle=True, generator=torch.Generator().manual_seed(0))]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))  # seeded order
    dropped = TensorLoader(digits.train, 100, drop_last=True)
    assert len(dropped) == 14 and sum(len(y) for _, y in dropped) == 1400


def test_loader_rejects_bad_batch_size(digits):
    with pytest.raises(InvalidParameterError, match="batch_size"):
        TensorLoader(digits.train, 0)


def test_hflip_flips_about_half_the_batch():
    batch = torch.arange(2000 * 4, dtype=torch.float32).view(2000, 1, 1, 4)
    out = hflip(batch, torch.Generator().manual_seed(0))
    flipped = (out != batch).any(-1).view(-1)
    assert torch.equal(out[flipped], batch[flipped].flip(-1))
    assert 900 < int(flipped.sum()) < 1100


def test_random_crop_shifts_within_padding():
    torch.manual_seed(0)
    img = torch.randn(1, 3, 8, 8)
    batch = img.repeat(500, 1, 1, 1)
    out = random_crop(2)(batch, torch.Generator().manual_seed(1))
    assert out.shape == batch.shape
    padded = torch.nn.functional.pad(img, (2,) * 4)
    windows = {(dy, dx): padded[0, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)}
    found = set()
    for o in out:
        match = [k for k, w in windows.items() if torch.equal(o, w)]
        assert len(match) == 1
        found.add(match[0])
    assert len(found) == 25  # every offset occurs


def test_unknown_dataset_lists_valid_names():
    assert "digits" in list_datasets()
    with pytest.raises(UnknownNameError, match="digits"):
        create_dataset("digitz")


def test_loader_lays_batches_out_channels_last_with_the_same_values():
    x = torch.randint(0, 256, (100, 3, 8, 8), dtype=torch.uint8)
    data = TensorData(x, torch.randint(0, 4, (100,)), list("abcd"), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    kw = {"shuffle": True, "augment": [random_crop(2)]}
    plain = TensorLoader(data, 32, generator=torch.Generator().manual_seed(3), **kw)
    cl = TensorLoader(data, 32, generator=torch.Generator().manual_seed(3), channels_last=True, **kw)
    for (a, ya), (b, yb) in zip(plain, cl, strict=True):
        assert not a.is_contiguous(memory_format=torch.channels_last)
        assert b.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(a, b) and torch.equal(ya, yb)
