"""The wake-up bus of a SQLite file (store/wakebus.py): datagrams between processes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine

from framecast.db.wakebus import WAKE_DIR_SUFFIX, WakeBus


class Heard:
    """A handler that records what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.event = threading.Event()

    def __call__(self, channel: str, payload: str) -> None:
        self.messages.append((channel, payload))
        self.event.set()

    def wait(self, n: int, timeout_s: float = 5.0) -> list[tuple[str, str]]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages


def test_a_bus_belongs_to_a_sqlite_file_only(tmp_path: Path) -> None:
    bus = WakeBus.for_engine(create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    assert bus is not None and bus.directory == tmp_path / f"db.sqlite{WAKE_DIR_SUFFIX}"
    assert WakeBus.for_engine(create_engine("sqlite://")) is None
    assert WakeBus.for_engine(create_engine("sqlite:///:memory:")) is None
    assert WakeBus.for_engine(create_engine("postgresql+psycopg://u@h/db")) is None


def test_every_listener_but_the_sender_hears_a_message(tmp_path: Path) -> None:
    directory = tmp_path / "db-wake"
    sender, first, second = WakeBus(directory), WakeBus(directory), WakeBus(directory)
    heard_first, heard_second, heard_sender = Heard(), Heard(), Heard()
    try:
        first.listen(heard_first)
        second.listen(heard_second)
        sender.listen(heard_sender)   # its own messages are raised locally, not sent to it
        assert len(os.listdir(directory)) == 3
        sender.send("framecast_tasks", "motion")
        sender.send("framecast_cancel", "cgt-1")
        expected = [("framecast_tasks", "motion"), ("framecast_cancel", "cgt-1")]
        assert heard_first.wait(2) == expected
        assert heard_second.wait(2) == expected
        time.sleep(0.2)
        assert heard_sender.messages == []
    finally:
        for bus in (sender, first, second):
            bus.close()
    assert os.listdir(directory) == []   # each closed bus removed its marker


def test_a_sender_removes_the_marker_of_a_process_that_is_gone(tmp_path: Path) -> None:
    directory = tmp_path / "db-wake"
    directory.mkdir()
    (directory / "999999-deadbeef0000").touch()   # a crashed process's marker
    sender = WakeBus(directory)
    try:
        sender.send("framecast_tasks", "motion")   # refused: nobody has that socket
    finally:
        sender.close()
    assert os.listdir(directory) == []


def test_a_full_listener_never_blocks_the_sender(tmp_path: Path) -> None:
    directory = tmp_path / "db-wake"
    stuck = WakeBus(directory)
    blocked = threading.Event()

    def never_returns(_channel: str, _payload: str) -> None:
        blocked.wait(10)

    sender = WakeBus(directory)
    try:
        stuck.listen(never_returns)
        started = time.monotonic()
        for _ in range(500):
            sender.send("framecast_tasks", "motion")
        assert time.monotonic() - started < 1.0
        assert len(os.listdir(directory)) == 1   # a full queue is not a dead process
    finally:
        blocked.set()
        sender.close()
        stuck.close()
