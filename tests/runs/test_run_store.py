"""Run store: round trip, uniqueness, resume and refusal, locking, secrets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from runs_helpers import IDENTITY, make_records, to_rows

from confalign.runs import ConfigMismatchError, RunStore, RunStoreError
from confalign.runs.manifest import content_hash, diff_identity, redact


@pytest.fixture
def store(tmp_path: Path):
    with RunStore.create(tmp_path / "run", IDENTITY) as s:
        yield s


def test_round_trip_rows(store: RunStore) -> None:
    rows = to_rows(make_records())
    assert store.write(rows) == 3
    back = store.rows()
    assert back == rows  # dataclass equality ignores extra, so check it on its own
    assert [dict(r.extra) for r in back] == [{"argmax": 1}, {"why": "no number"}, {}]
    assert back[1].method_key == "verbalized/probability/prefill" and back[1].parse_failed
    # numpy values arrive as plain Python ones; a NaN confidence is stored as None
    assert type(back[0].confidence) is float and back[0].probs == (0.1, 0.75, 0.1, 0.05)
    assert type(back[0].example_order) is int and back[2].confidence is None
    assert store.count() == 3 and store.count("mmlu", "choice") == 2
    assert store.datasets() == ["mmlu"]
    assert store.method_keys() == ["choice", "verbalized/probability/prefill"]
    assert store.done("mmlu") == {
        ("q1", "choice"),
        ("q2", "choice"),
        ("q1", store.method_keys()[1]),
    }
    assert [r.method_key for r in store.rows(method_key="choice")] == ["choice", "choice"]
    assert store.rows(dataset="other") == []


def test_frame_types(store: RunStore) -> None:
    store.write(to_rows(make_records()))
    frame = store.frame()
    assert list(frame["example_id"]) == ["q1", "q1", "q2"]
    assert str(frame["correct"].dtype) == "boolean" and frame["correct"].isna().tolist() == [
        False,
        False,
        True,
    ]
    assert frame["confidence"].dtype == np.float64 and np.isnan(frame["confidence"][1])
    assert frame["probs"][0] == [0.1, 0.75, 0.1, 0.05] and frame["probs"][2] is None
    assert frame["parse_failed"].tolist() == [False, True, False]
    assert set(frame["subject"]) == {"math"}


def test_duplicate_row_is_refused_and_batch_rolled_back(store: RunStore) -> None:
    rows = to_rows(make_records())
    store.write(rows[:1])
    with pytest.raises(sqlite3.IntegrityError):
        store.write([rows[2], rows[0]])  # one new row and one duplicate: neither is written
    assert store.count() == 1
    # the same example and method in another dataset is a different row
    store.write(to_rows(make_records()[:1], dataset="other"))
    assert store.count() == 2


def test_resume_with_same_identity_keeps_rows(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create(run, IDENTITY) as s:
        s.write(to_rows(make_records()))
        s.finish("interrupted")
    with RunStore.create(run, {**IDENTITY}) as s:
        assert s.count() == 3
        manifest = s.manifest
        assert manifest["status"] == "running" and manifest["ended_at"] is None
        assert [set(r) for r in manifest["resumed"]] == [{"at", "versions"}]
        s.finish("complete")
    manifest = RunStore.open(run).manifest
    assert manifest["status"] == "complete" and manifest["ended_at"]
    assert set(manifest["versions"]) == {"python", "confalign", "torch", "transformers"}


def test_changed_configuration_is_refused_with_what_differs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.create(run, IDENTITY) as s:
        s.write(to_rows(make_records()))
    changed = {
        **IDENTITY,
        "datasets": [{"name": "mmlu", "size": 30, "limit": 30, "seed": 0}],
        "seed": 1,
    }
    before = (run / "manifest.json").read_text()
    with pytest.raises(ConfigMismatchError) as info:
        RunStore.create(run, changed)
    msg = str(info.value)
    assert "datasets[mmlu].size: 20 → 30" in msg
    assert "datasets[mmlu].limit: 20 → 30" in msg
    assert "seed: 0 → 1" in msg
    assert "\n" not in msg
    assert (run / "manifest.json").read_text() == before
    assert RunStore.open(run).count() == 3


def test_diff_identity_shapes() -> None:
    old = {"a": 1, "b": {"c": [1, 2]}, "ds": [{"name": "x", "n": 1}], "gone": 0}
    new = {"a": 1, "b": {"c": [1, 3]}, "ds": [{"name": "y", "n": 1}], "added": "v"}
    assert diff_identity(old, new) == [
        "b.c: [1, 2] → [1, 3]",
        'ds: ["x"] → ["y"]',
        "gone: 0 → (absent)",
        'added: (absent) → "v"',
    ]
    assert diff_identity(old, old) == []


def test_second_writer_is_refused_but_readers_are_not(store: RunStore) -> None:
    store.write(to_rows(make_records()))
    with pytest.raises(RunStoreError, match="in use by another confalign process"):
        RunStore.create(store.run_dir, IDENTITY)
    with RunStore.open(store.run_dir) as reader:
        assert reader.count() == 3
        with pytest.raises(RunStoreError, match="read-only"):
            reader.write(to_rows(make_records()))


def test_wal_mode_and_synchronous_normal(store: RunStore) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_foreign_or_unwritable_directory_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("x")
    with pytest.raises(RunStoreError, match="not a confalign run directory"):
        RunStore.create(other, IDENTITY)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunStoreError, match="cannot write to output directory"):
        RunStore.create(blocker / "run", IDENTITY)
    with pytest.raises(RunStoreError, match=r"no manifest\.json"):
        RunStore.open(other)


def test_manifest_never_holds_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    identity = {
        **IDENTITY,
        "backend_options": {"api_key": secret, "base_url": f"http://h/v1?key={secret}"},
    }
    run = tmp_path / "run"
    with RunStore.create(run, identity, backend={"headers": {"Authorization": "Bearer x"}}) as s:
        s.update_manifest(note=f"used {secret}")
        s.write(to_rows(make_records()))
    for path in run.iterdir():
        assert secret.encode() not in path.read_bytes(), path.name
    manifest = RunStore.open(run).manifest
    assert manifest["identity"]["backend_options"]["api_key"] == "<redacted>"
    assert manifest["backend"]["headers"]["Authorization"] == "<redacted>"
    assert manifest["identity"]["backend_options"]["base_url"] == "http://h/v1?key=<redacted>"
    # ordinary fields that merely contain "token" survive
    assert redact({"batch_tokens": 4096, "generated_tokens": 3}) == {
        "batch_tokens": 4096,
        "generated_tokens": 3,
    }


def test_content_hash_follows_content_not_location(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "adapter_config.json").write_text('{"r": 16}')
        (tmp_path / name / "sub" / "w.bin").write_bytes(b"\x00\x01")
    assert content_hash(tmp_path / "a") == content_hash(tmp_path / "b")
    (tmp_path / "b" / "sub" / "w.bin").write_bytes(b"\x00\x02")
    assert content_hash(tmp_path / "a") != content_hash(tmp_path / "b")
    assert content_hash("org/hub-adapter") is None and content_hash(None) is None
