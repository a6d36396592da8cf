"""`warren directory`, course directory protocol (course.md §5, §10.1):
byte-exact exchanges written from the spec, persistence across kill -9,
liveness probes, bounded connections."""

import os
import signal
import socket
import subprocess
import time

from conftest import (WARREN, Collector, free_port, ipp2p, next_ipv4, request,
                      wait_until)

REP = b"0f53217fc7c8e7f89e8a8558e64a7083"
HOL = b"e2c78d5e95c4fc1ec8841be424e905d6"


class Directory:
    def __init__(self, tmp, *args):
        self.ip = next_ipv4()
        self.port = free_port(self.ip)
        self.addr = "%s:%d" % (self.ip, self.port)
        # Its own beer2beer port too, unless the test gives --b2b-listen:
        # the default [::]:8888 would be shared by every directory.
        self.b2b_port = free_port(self.ip)
        self.b2b_addr = "%s:%d" % (self.ip, self.b2b_port)
        self.data = os.path.join(tmp, "dir")
        self.log_path = os.path.join(tmp, "directory.log")
        self.args = list(args)
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        extra = [] if "--b2b-listen" in self.args else ["--b2b-listen", self.b2b_addr]
        self.proc = subprocess.Popen(
            [WARREN, "directory", "--listen", self.addr, "--data-dir", self.data,
             "--log-level", "debug"] + extra + self.args, stdout=log, stderr=subprocess.STDOUT)

        def up():
            assert self.proc.poll() is None, self.read_log()
            try:
                socket.create_connection((self.ip, self.port), 1).close()
                return True
            except OSError:
                return False
        wait_until(up, 20, "directory listening")
        return self

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def req(self, msg, src=None):
        return request(self.addr, msg, src_ip=src)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(20) == 0
        log = self.read_log()
        assert "AddressSanitizer" not in log and "runtime error:" not in log, log[-4000:]


def login(d, ip, port=3000):
    r = d.req(b"LOGI" + ipp2p(ip) + b"%05d" % port, src=ip)
    assert r[:4] == b"ALGI" and len(r) == 20 and r[4:] != b"0" * 16, r
    return r[4:]


def test_every_message_byte_exact(tmp_path):
    d = Directory(str(tmp_path)).start()
    try:
        p1, p2 = next_ipv4(), next_ipv4()
        s1 = login(d, p1)
        assert login(d, p1) == s1                       # same node, same session
        s2 = login(d, p2, 6000)
        assert s2 != s1
        # ADDF -> AADD #copy (owners after the add).
        assert d.req(b"ADDF" + s1 + REP + b"Annual_Report.pdf".ljust(100)) == b"AADD001"
        assert d.req(b"ADDF" + s2 + REP + b"annual report.pdf".ljust(100)) == b"AADD002"
        assert d.req(b"ADDF" + s1 + REP + b"Annual_Report.pdf".ljust(100)) == b"AADD002"
        assert d.req(b"ADDF" + s2 + HOL + b"Holiday_Video.mp4".ljust(100)) == b"AADD001"
        # FIND -> AFIN with every owner, sorted by name; the last name wins.
        id1 = ipp2p(p1) + b"03000"
        id2 = ipp2p(p2) + b"06000"
        afin = d.req(b"FIND" + s1 + b"report".ljust(20))
        assert afin[:7] == b"AFIN001" and len(afin) == 7 + 135 + 2 * 60
        assert afin[7:142] == REP + b"Annual_Report.pdf".ljust(100) + b"002"
        assert sorted([afin[142:202], afin[202:262]]) == sorted([id1, id2])
        assert d.req(b"FIND" + s1 + b"nothing".ljust(20)) == b"AFIN000"
        assert d.req(b"FIND" + s1 + b"*".ljust(20))[:7] == b"AFIN002"
        # DREG -> ADRE counter per md5; unknown md5 -> 00000.
        assert d.req(b"DREG" + s1 + REP) == b"ADRE00001"
        assert d.req(b"DREG" + s2 + REP) == b"ADRE00002"
        assert d.req(b"DREG" + s1 + b"1" * 32) == b"ADRE00000"
        # DELF -> owners left; not owned -> 999.
        assert d.req(b"DELF" + s1 + HOL) == b"ADEL999"
        assert d.req(b"DELF" + s1 + b"2" * 32) == b"ADEL999"
        assert d.req(b"DELF" + s1 + REP) == b"ADEL001"
        # LOGO -> #delete = links removed; then the session is dead.
        assert d.req(b"LOGO" + s2) == b"ALGO002"
        assert d.req(b"FIND" + s1 + b"*".ljust(20)) == b"AFIN000"
        assert d.req(b"LOGO" + s2) == b"Unauthorized: unknown SessionID."
        assert d.req(b"ADDF" + s2 + REP + b"x".ljust(100)) == b"Unauthorized: unknown SessionID."
        assert d.req(b"LOGO" + s1) == b"ALGO000"
        # Malformed: LOGI with a bad port, ADDF with an empty name, a
        # request one byte too long, an unknown kind.
        assert d.req(b"LOGI" + ipp2p(p1) + b"00000") == b"ALGI" + b"0" * 16
        s3 = login(d, p1)
        assert d.req(b"ADDF" + s3 + REP + b" " * 100) == \
            b"Invalid request: wrong length or malformed field."
        assert d.req(b"DREG" + s3 + REP + b"\n") == \
            b"Invalid request: wrong length or malformed field."
        assert d.req(b"XXXX" + s3) == b""
        # Searches per second per address are bounded (default 10, burst 20).
        replies = [d.req(b"FIND" + s3 + b"x".ljust(20), src=p1) for _ in range(40)]
        assert b"AFIN000" in replies
        assert b"Busy: too many searches, try again later." in replies
    finally:
        d.stop()


def test_state_survives_kill_9(tmp_path):
    d = Directory(str(tmp_path), "--probe-interval", "3600").start()
    p1 = next_ipv4()
    s1 = login(d, p1)
    for i in range(200):
        md5 = b"%032x" % i
        assert d.req(b"ADDF" + s1 + md5 + (b"file-%03d.bin" % i).ljust(100))[:4] == b"AADD"
    assert d.req(b"DREG" + s1 + b"%032x" % 7) == b"ADRE00001"
    d.proc.kill()
    d.proc.wait()
    d.start()
    try:
        # The session, its 200 files and the counter are back.
        assert login(d, p1) == s1
        afin = d.req(b"FIND" + s1 + b"file-".ljust(20))
        assert afin[:7] == b"AFIN100"           # max_results (default 100)
        assert d.req(b"DREG" + s1 + b"%032x" % 7) == b"ADRE00002"
        assert d.req(b"LOGO" + s1) == b"ALGO200"
    finally:
        d.stop()


def test_silent_peer_is_probed_and_dropped(tmp_path):
    d = Directory(str(tmp_path), "--probe-interval", "0.5", "--probe-fails", "2",
                  "--connect-timeout", "1", "--search-rate", "0").start()
    try:
        alive_ip, dead_ip = next_ipv4(), next_ipv4()
        alive = Collector(alive_ip)     # answers connections on its port
        try:
            sa = login(d, alive_ip, alive.port)
            sd = login(d, dead_ip, free_port(dead_ip))  # nobody listens
            assert d.req(b"ADDF" + sa + REP + b"kept.pdf".ljust(100)) == b"AADD001"
            assert d.req(b"ADDF" + sd + HOL + b"gone.mp4".ljust(100)) == b"AADD001"

            def dropped():
                return d.req(b"FIND" + sa + b"gone".ljust(20)) == b"AFIN000"
            wait_until(dropped, 20, "the dead peer dropped")
            assert d.req(b"FIND" + sa + b"kept".ljust(20))[:7] == b"AFIN001"
            assert d.req(b"LOGO" + sd) == b"Unauthorized: unknown SessionID."
            assert "does not answer" in d.read_log()
        finally:
            alive.close()
    finally:
        d.stop()


def test_idle_connections_do_not_lock_others_out(tmp_path):
    d = Directory(str(tmp_path), "--max-connections", "256",
                  "--request-timeout", "30").start()
    socks = []
    try:
        # 2,000 connections that send nothing, from one address.
        src = next_ipv4()
        for _ in range(2000):
            s = socket.socket()
            s.bind((src, 0))
            s.setblocking(False)
            try:
                s.connect((d.ip, d.port))
            except BlockingIOError:
                pass
            socks.append(s)
        time.sleep(0.2)  # let the accept queue fill (not a sync: bounded below)
        other = next_ipv4()
        t0 = time.monotonic()
        s1 = login(d, other)
        assert d.req(b"FIND" + s1 + b"x".ljust(20)) == b"AFIN000"
        assert time.monotonic() - t0 < 5
        assert d.proc.poll() is None
    finally:
        for s in socks:
            s.close()
        d.stop()
