"""ReplyDeadline: a reply that takes longer in all than its limit is cut off, however often its bytes come."""

from __future__ import annotations

import socket
import threading
import time

from alliancekit.notify.deadline import ReplyDeadline


def _read_all(sock: socket.socket) -> bytes:
    got = b""
    while chunk := sock.recv(1):
        got += chunk
    return got


def _trickle(sock: socket.socket, stop: threading.Event) -> None:
    """A byte every 50 ms until told to stop (or, should the deadline fail, for 20 s, then the end of the
    stream: the test then fails instead of hanging): each byte well within a socket timeout."""
    try:
        for _ in range(400):
            if stop.wait(0.05):
                return
            sock.sendall(b"x")
        sock.shutdown(socket.SHUT_WR)
    except OSError:  # the reader cut the connection: what the deadline is for
        pass


def test_a_reply_trickled_past_its_limit_is_cut_off() -> None:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)  # each byte comes well within a socket timeout
    stop = threading.Event()
    sender = threading.Thread(target=_trickle, args=(theirs, stop))
    sender.start()
    try:
        with ReplyDeadline(0.3) as deadline, deadline.reply(ours):
            _read_all(ours)  # returns when the deadline ends the stream
        assert deadline.expired
    finally:
        stop.set()
        sender.join()
        ours.close()
        theirs.close()


def test_a_reply_within_its_limit_is_read_whole_and_the_next_one_gets_a_fresh_limit() -> None:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    try:
        with ReplyDeadline(5) as deadline:
            for _ in range(2):
                theirs.sendall(b"250 ok")
                with deadline.reply(ours):
                    assert ours.recv(6) == b"250 ok"
        assert not deadline.expired
    finally:
        ours.close()
        theirs.close()


def test_with_a_total_every_reply_ends_by_then_however_quick_each_one_is() -> None:
    """Replies each well within ``seconds``: the one that runs past ``total`` is cut off."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    stop = threading.Event()
    try:
        with ReplyDeadline(5, total=0.3) as deadline:
            assert 0 < deadline.left() <= 0.3
            theirs.sendall(b"250 ok")
            with deadline.reply(ours):
                assert ours.recv(6) == b"250 ok"
            sender = threading.Thread(target=_trickle, args=(theirs, stop))
            sender.start()
            with deadline.reply(ours):
                _read_all(ours)
        assert deadline.expired
        assert deadline.left() == 0.001
    finally:
        stop.set()
        sender.join()
        ours.close()
        theirs.close()


def test_a_used_up_total_has_run_out_whichever_timer_fired_first() -> None:
    """A socket given ``left()`` as its timeout can time out a moment before the watchdog cuts it (under
    load, the watchdog's thread waits its turn): the caller must read that as the limit too, not as a
    server that hung up (an SMTP delivery then raised a bare ``SMTPServerDisconnected``, not the
    ``TimeoutError`` it promises). No reply is open here, so the watchdog never marks ``expired``."""
    with ReplyDeadline(60.0, total=60.0) as deadline:
        assert not deadline.ran_out()
    with ReplyDeadline(0.01, total=0.01) as deadline:
        time.sleep(0.05)
        assert not deadline.expired
        assert deadline.ran_out()
        assert deadline.left() == 0.001
