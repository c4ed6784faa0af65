"""The record schema a reader sees: declared fields, other metrics in ``extra``, JSON flat and unchanged;
the one averaging rule, the one exception line and the report number format."""

from __future__ import annotations

import json
import math
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from codecbench.analysis.curves import CurvePoint, point_of
from codecbench.core.averaging import mean_over_images
from codecbench.core.errors import DecodeError, ResultsError, error_text
from codecbench.core.metrics import METRICS, Metric, register_metric
from codecbench.core.records import METRIC_FIELDS, Record, record_keys
from codecbench.core.results import read_results
from codecbench.render.fmt import formatted, number

REPO = Path(__file__).resolve().parents[1]


def _record(**values) -> Record:
    base = dict(codec="jpeg", spec="jpeg:quality=50", setting=50, dataset="t", image="a", width=10, height=10,
                bytes=100, bpp=8.0)
    return Record.build(**{**base, **values})


def test_the_built_in_fields_are_declared_with_their_types():
    hints = typing.get_type_hints(Record)
    for name in (*METRIC_FIELDS, "bpp", "enc_s", "dec_s", "payload_bpp"):
        assert hints[name] == float | None, name
    assert hints["extra"] == dict[str, float | None]
    assert hints["width"] is int and hints["jobs"] == int | None and hints["versions"] == dict[str, str]


def test_registering_a_metric_changes_the_json_keys_not_the_class():
    before = [f.name for f in fields(Record)]
    with METRICS.restoring():
        register_metric(Metric("test_metric", "T", "", lambda a, b: {"test_metric": 1.0}, default=False))
        assert [f.name for f in fields(Record)] == before
        assert "test_metric" in record_keys()
        record = _record(test_metric=0.25)
        assert record.extra == {"test_metric": 0.25}
        assert Record.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert "test_metric" not in record_keys()


def test_an_opt_in_metric_is_a_top_level_json_key_and_reads_back_into_extra():
    record = _record(psnr=30.0, vif=0.5, fsim=None)
    obj = record.to_json()
    assert "extra" not in obj
    assert (obj["psnr"], obj["vif"], obj["fsim"]) == (30.0, 0.5, None)
    assert list(obj) == list(record_keys())
    back = Record.from_json(json.loads(json.dumps(obj)))
    assert back == record, "a write and a read give the same record"
    assert back.extra == {"vif": 0.5}, "only measured values are kept in extra"
    assert (back.metric("vif"), back.metric("fsim"), back.metric("psnr"), back.metric("bpp")) == (0.5, None, 30.0, 8.0)


def test_an_opt_in_metric_value_is_checked_as_a_field_is():
    with pytest.raises(ResultsError, match="field 'vif' must be a number or null"):
        Record.from_json({**_record().to_json(), "vif": "high"})
    with pytest.raises(ResultsError, match="field 'fsim' is 2, outside"):
        Record.from_json({**_record().to_json(), "fsim": 2})


def test_a_name_that_is_neither_field_nor_metric_is_refused():
    with pytest.raises(TypeError, match="no field or metric 'psnr_typo'"):
        _record(psnr_typo=1.0)
    with pytest.raises(TypeError, match="are fields of Record"):
        Record(codec="j", spec="j", setting=None, dataset="d", image="i", width=1, height=1, extra={"psnr": 1.0})


@pytest.mark.parametrize("name", ["kodak-comcnn.json", "kodak-gray.json"])
def test_committed_records_write_back_key_for_key(name):
    """Every key of a committed record is written back with its value, in its place; keys the file lacks
    (metrics and fields added since) are written as null."""
    path = REPO / "reports" / "results" / name
    stored = json.loads(path.read_text())["records"]
    _, records = read_results(path)
    assert len(records) == len(stored)
    for record, original in zip(records, stored):
        written = record.to_json()
        assert [k for k in written if k in original] == list(original)
        assert {k: written[k] for k in original} == original
        assert all(written[k] in (None, False) for k in written if k not in original)


def test_a_curve_point_keeps_opt_in_metric_means_in_extra():
    records = [_record(psnr=30.0 + i, vif=0.25 * i, image=f"i{i}") for i in (1, 3)]
    point = point_of(records)
    assert (point.psnr, point.get("psnr"), point.get("vif")) == (32.0, 32.0, 0.5)
    assert point.extra == {"vif": 0.5} and "vif" not in {f.name for f in fields(CurvePoint)}
    assert point.get("fsim") is None
    with pytest.raises(KeyError):
        point.get("nonsense")


@pytest.mark.parametrize("values, expected", [
    ([1.0, 2.0], 1.5), ([4], 4.0), ([], None), ([1.0, None], None), ([1.0, math.inf], None), ([math.nan], None),
])
def test_one_averaging_rule(values, expected):
    assert mean_over_images(values) == expected


@pytest.mark.parametrize("exc, text", [
    (DecodeError("truncated\nat byte 7"), "DecodeError: truncated"), (ValueError(""), "ValueError"),
    (RuntimeError("\n  worker died\n"), "RuntimeError: worker died"),
])
def test_error_text_is_one_line(exc, text):
    assert error_text(exc) == text


def test_report_numbers_show_missing_values_as_a_dash():
    assert (number(None, 2), number(0.5, 1, 100.0), number(1 / 3, 4)) == ("—", "50.0", "0.3333")
    assert (formatted(None, ".2f"), formatted(None, ".2f", "n/a"), formatted(0.125, "+.1%")) == ("—", "n/a", "+12.5%")
