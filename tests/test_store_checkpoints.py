"""Checkpoints (`checkpoints`): checked on load, caught by `verify` when forged, and kept up to
date at the cost of what changed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from store_kit import CONFIG, board_state

from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.store import DurableSwitchboard, Store, StoreCorruptError
from handoff_fsm.adapters.store import checkpoint_codec as codec
from handoff_fsm.adapters.store.checkpoints import (
    LiveCheckpoint,
    digest_of,
    row_hash,
    write_marker,
)
from handoff_fsm.adapters.store.maintenance import verify
from handoff_fsm.events import (
    CustomerMessage,
    Presence,
    PresenceStatus,
    RemoveParticipant,
    Start,
    Tick,
)


def _store(path: Path, conversations: int = 3) -> None:
    with DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=1000) as board:
        for n in range(conversations):
            board.handle(Start(conversation=f"c{n}", queue="q1", variables={"Name": "Ana"}))
        board.handle(CustomerMessage(conversation="c0", text="my card"))


def _forge(path: Path, *, rows: bool = True, digest: bool = True) -> None:
    """Change the customer's name in c0's row, re-hashing as far as asked."""
    db = sqlite3.connect(path)
    (body,) = db.execute("SELECT body FROM state WHERE key = 'c0'").fetchone()
    body = body.replace('"Ana"', '"Eve"')
    hashed = row_hash("conversation", "c0", body) if rows else "0" * 64
    db.execute("UPDATE state SET body = ?, checksum = ? WHERE key = 'c0'", (body, hashed))
    if digest:
        hashes = [h for (h,) in db.execute("SELECT checksum FROM state")]
        seq, chain = db.execute("SELECT seq, chain FROM checkpoints WHERE name = 'live'").fetchone()
        write_marker(db, "live", seq, chain, digest_of(hashes), {}, None)
    db.commit()
    db.close()


def test_a_row_changed_without_its_checksum_is_refused_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _store(path)
    _forge(path, rows=False, digest=False)
    with Store.open(path) as store, pytest.raises(StoreCorruptError) as caught:
        store.restore()
    assert "state row conversation 'c0' does not match its checksum" in str(caught.value)


def test_a_row_changed_with_its_checksum_but_not_the_digest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _store(path)
    _forge(path, digest=False)
    with Store.open(path) as store, pytest.raises(StoreCorruptError, match="do not add up"):
        store.restore()


def test_a_removed_row_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _store(path)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM state WHERE key = 'c2'")
    db.commit()
    db.close()
    with Store.open(path) as store, pytest.raises(StoreCorruptError, match="do not add up"):
        store.restore()


def test_an_edited_but_valid_checkpoint_is_caught_by_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every checksum holds, so restore serves the forged name; only re-deriving the state from
    the log (`store verify`) can tell, and it names the row."""
    path = tmp_path / "s.db"
    _store(path)
    assert main(["store", "verify", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok: steps 1..4")
    _forge(path)
    with Store.open(path, readonly=True) as store:
        assert store.restore().switchboard.context_of("c0").variables["Name"] == "Eve"
        with pytest.raises(StoreCorruptError, match="conversation 'c0' is not the state the log"):
            verify(store)
    assert main(["store", "verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "conversation 'c0' is not the state the log gives" in err


def test_a_checkpoint_of_another_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _store(path)
    db = sqlite3.connect(path)
    seq, digest = db.execute("SELECT seq, digest FROM checkpoints WHERE name = 'live'").fetchone()
    write_marker(db, "live", seq, "f" * 64, digest, {}, None)
    db.commit()
    db.close()
    with Store.open(path) as store, pytest.raises(StoreCorruptError, match="does not follow"):
        store.restore()


def test_a_checkpoint_marker_changed_without_its_checksum_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _store(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE checkpoints SET seq = seq - 1 WHERE name = 'live'")
    db.commit()
    db.close()
    with Store.open(path) as store, pytest.raises(StoreCorruptError, match="its checksum"):
        store.restore()


def test_a_checkpoint_writes_only_the_rows_its_steps_touched(tmp_path: Path) -> None:
    """The cost of a checkpoint is what changed since the last one, not the whole state."""
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=1000) as board:
        for n in range(40):
            board.handle(Start(conversation=f"c{n}", queue="q2"))  # most wait: nobody free
        board.checkpoint()
        live = board._writer.live
        board.handle(CustomerMessage(conversation="c7", text="hello"), now=1)
        writes = live.rows_now(board.switchboard, board.seq)
        keys = sorted((kind, key) for kind, key, *_ in writes.puts)
        assert keys == [("conversation", "c7"), ("globals", "")]
        board.handle(Tick(now=2))
    with Store.open(path) as store:
        reference = store.restore().switchboard
        assert board_state(reference) == board_state(board.switchboard)
        verify(store)


def test_a_live_change_rewrites_every_participant_row_and_drops_a_removed_one(
    tmp_path: Path,
) -> None:
    """Memberships of every member of a queue may move with one live change; a removed
    participant's row goes, or the digest would not be the state's."""
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=1000) as board:
        board.checkpoint()
        live = board._writer.live
        board.handle(Presence(participant="bot-b", status=PresenceStatus.OFFLINE), now=1)
        board.handle(RemoveParticipant(participant="bot-b"), now=2)
        writes = live.rows_now(board.switchboard, board.seq)
        assert sorted(key for kind, key, *_ in writes.puts if kind == "participant") == [
            "bot-a",
            "rep-1",
            "rep-2",
        ]
        assert writes.deletes == [("participant", "bot-b")]
        board.checkpoint()
    with Store.open(path) as store:
        assert board_state(store.restore().switchboard) == board_state(board.switchboard)
        verify(store)


def test_a_restore_that_re_applied_steps_rewrites_every_row_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    board = DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=1000)
    for n in range(5):
        board.handle(Start(conversation=f"c{n}", queue="q1"))
    board.store.close()  # died: steps 2..5 are after the checkpoint
    with Store.open(path) as store:
        live = LiveCheckpoint(store, 1000, stale=True)
        assert live.due
        writes = live.rows_now(store.restore().switchboard, store.head)
        assert {key for kind, key, *_ in writes.puts if kind == "conversation"} == {
            f"c{n}" for n in range(5)
        }
        globals_row = next(b for k, _, _, b, _ in writes.puts if k == "globals")
        assert json.loads(globals_row)["codec"] == codec.CODEC_VERSION
