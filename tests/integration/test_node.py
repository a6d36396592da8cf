"""The node as a user meets it: the library cache across restarts, the
control socket, the CLI's help, errors and exit codes."""

import json
import os
import signal
import stat
import subprocess

from conftest import WARREN, make_file, md5_file, wait_until


def test_restart_rehashes_nothing_unchanged(net):
    n = net.node("lib", start=False)
    md5s = {}
    for i in range(100):
        sub = os.path.join(n.share, "d%d" % (i % 7))
        os.makedirs(sub, exist_ok=True)
        md5s[make_file(os.path.join(sub, "f%03d.bin" % i), 1000 + i * 37, seed=i)] = i
    n.start()
    lib = n.status()["library"]
    assert lib["files"] == 100 and lib["hashed_files"] == 100 and lib["cached_files"] == 0
    assert n.stop() == 0

    n.start()
    lib = n.status()["library"]
    assert lib["files"] == 100
    assert lib["hashed_files"] == 0, lib
    assert lib["cached_files"] == 100
    listed = {f["md5"] for f in n.call("share.ls")["result"]["files"]}
    assert listed == set(md5s)

    # One changed file is rehashed, alone.
    assert n.stop() == 0
    with open(os.path.join(n.share, "d0", "f000.bin"), "ab") as f:
        f.write(b"more")
    n.start()
    lib = n.status()["library"]
    assert lib["hashed_files"] == 1 and lib["cached_files"] == 99


def test_library_skips_hidden_and_part_and_flags_long_names(net):
    n = net.node("lib", start=False)
    make_file(os.path.join(n.share, "visible.txt"), 10)
    make_file(os.path.join(n.share, ".hidden"), 10)
    make_file(os.path.join(n.share, "half.bin.part"), 10)
    os.makedirs(os.path.join(n.share, ".git"))
    make_file(os.path.join(n.share, ".git", "config"), 10)
    long_name = "L" * 120 + ".txt"
    make_file(os.path.join(n.share, long_name), 10, seed=2)
    n.start()
    files = {f["name"]: f for f in n.call("share.ls")["result"]["files"]}
    assert set(files) == {"visible.txt", long_name}
    assert files[long_name]["name_too_long"] is True
    assert files["visible.txt"]["name_too_long"] is False
    assert n.status()["library"]["name_too_long"] == 1
    out = n.cli("share", "ls", check=0).stdout
    assert "!" + long_name in out and "2 files" in out


def test_library_notices_changes_while_running(net):
    n = net.node("live")
    md5 = make_file(os.path.join(n.share, "new.bin"), 5000, seed=7)
    wait_until(lambda: any(f["md5"] == md5 for f in n.call("share.ls")["result"]["files"]),
               30, "new file noticed")
    os.unlink(os.path.join(n.share, "new.bin"))
    wait_until(lambda: n.call("share.ls")["result"]["files"] == [], 30, "removal noticed")


def test_downloaded_file_becomes_shared(net):
    src = net.node("src")
    md5 = make_file(os.path.join(src.share, "s.bin"), 20000, seed=3)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst")
    dst.cli("get", md5, "--from", src.addr, "--name", "s.bin", check=0)
    wait_until(lambda: any(f["md5"] == md5 for f in dst.call("share.ls")["result"]["files"]),
               30, "downloaded file shared")


def test_control_socket_mode_and_protocol(net):
    n = net.node("ctl")
    assert stat.S_IMODE(os.stat(n.sock).st_mode) == 0o600
    c = n.ctl()
    c.sock.sendall(b"this is not json\n")
    r = c.recv()
    assert r["ok"] is False and "bad request" in r["error"]
    r = c.call("no.such.op")
    assert r["ok"] is False and "unknown op" in r["error"]
    r = c.call("status")
    assert r["ok"] and r["result"]["proto"] == 1
    c.sock.sendall(b"x" * 70000)  # a line over the limit: disconnected
    try:
        while True:
            c.recv()
    except (EOFError, OSError):
        pass
    c.close()
    assert n.status()["library"]["ready"]


def test_second_node_on_same_socket_refused(net):
    a = net.node("a")
    from conftest import Node
    b = Node(net.tmp, "b")
    b.sock = a.sock
    b.expect_exit = 1
    p = subprocess.run([WARREN, "node", "--listen", b.addr, "--share", b.share,
                        "--data-dir", b.data, "--socket", a.sock],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "already running" in p.stderr
    assert a.status()["library"]["ready"]


def test_faults_refused_on_non_loopback(tmp_path):
    env = dict(os.environ, WARREN_TEST_FAULTS="stall")
    p = subprocess.run([WARREN, "node", "--listen", "[::]:0", "--share", str(tmp_path / "s"),
                        "--data-dir", str(tmp_path / "d"), "--socket", str(tmp_path / "sock")],
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 1
    assert "WARREN_TEST_FAULTS" in p.stderr and "non-loopback" in p.stderr


def test_status_cli(net):
    n = net.node("st")
    out = n.cli("status", check=0).stdout
    assert n.addr in out and "shared" in out and "uploads" in out
    js = json.loads(n.cli("status", "--json", check=0).stdout)
    assert js["listen"] == [n.addr]


def test_cli_help_and_exit_codes(tmp_path):
    def run(*a):
        return subprocess.run([WARREN] + list(a), capture_output=True, text=True, timeout=30)

    assert run().returncode == 2
    assert run("--version").stdout.startswith("warren ")
    listed = run("help").stdout
    cmds = ["node", "directory", "introducer", "lab", "ls", "search", "get", "status",
            "peers", "share", "downloads", "pause", "resume", "cancel", "stop", "help"]
    for cmd in cmds:
        assert "\n  %s " % cmd in listed, cmd
        p = run(cmd, "--help")
        assert p.returncode == 0 and "SYNOPSIS" in p.stdout, cmd
        p = run("help", cmd)
        assert p.returncode == 0 and "DESCRIPTION" in p.stdout, cmd
        assert "EXIT STATUS" in p.stdout, cmd
    # Every client command takes --json; without a node it fails (1),
    # it is no usage error (2).
    nosock = str(tmp_path / "nope.sock")
    for args in (["ls"], ["ls", "--all"], ["search", "x"], ["get", "0" * 32], ["status"],
                 ["peers"], ["share", "ls"], ["share", "add", __file__], ["downloads"],
                 ["pause", "1"], ["resume", "1"], ["cancel", "1"], ["stop"]):
        p = run(*args, "--json", "--socket", nosock)
        assert p.returncode == 1 and "is 'warren node' running?" in p.stderr, (args, p.stderr)
    # help --json: one command, or all of them.
    one = json.loads(run("help", "--json", "get").stdout)
    assert one["name"] == "get" and "MD5" in one["help"]
    assert [c["name"] for c in json.loads(run("help", "--json").stdout)] == cmds
    for args in (["pause"], ["pause", "x"], ["get"], ["search"], ["share", "frob"],
                 ["ls", "--bogus"], ["peers", "extra"], ["lab", "chord", "--nodes", "x"]):
        p = run(*args)
        assert p.returncode == 2 and "usage:" in p.stderr, (args, p.stderr)
    assert run("frobnicate").returncode == 2
    assert run("help", "frobnicate").returncode == 2
    assert run("node", "--upload-slots", "zero").returncode == 2
    assert run("node", "--listen", "nonsense").returncode == 2
    assert run("status", "extra").returncode == 2
    p = run("status", "--socket", str(tmp_path / "nope.sock"))
    assert p.returncode == 1 and "is 'warren node' running?" in p.stderr


def test_config_file(net, tmp_path):
    from conftest import Node, free_port, next_ipv4
    ip = next_ipv4()
    port = free_port(ip)
    conf = tmp_path / "w.conf"
    share = tmp_path / "confshare"
    share.mkdir()
    md5 = make_file(str(share / "c.bin"), 777, seed=8)
    conf.write_text("[node]\nlisten = %s:%d\nshare = %s\nupload_slots = 3\n" % (ip, port, share))
    n = Node(net.tmp, "conf", ip=ip, port=port, share=str(share), args=["--config", str(conf)])
    n.start()
    st = n.status()
    assert st["uploads"]["slots"] == 3
    assert st["library"]["files"] == 1
    assert n.call("share.ls")["result"]["files"][0]["md5"] == md5
    assert n.stop() == 0
    conf.write_text("[node]\nupload_slots = -1\n")
    p = subprocess.run([WARREN, "node", "--config", str(conf)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "upload_slots" in p.stderr and "line 2" in p.stderr


def test_xdg_defaults_and_overlay_sections_from_the_config_file(tmp_path):
    """No path given: the node reads $XDG_CONFIG_HOME/warren/warren.conf,
    keeps its state under $XDG_DATA_HOME/warren and its socket under
    $XDG_RUNTIME_DIR/warren; the file's [node] overlay list and the
    overlays' own sections are honoured."""
    from conftest import Ctl, free_port, next_ipv4
    home = tmp_path / "home"
    cfg, data, run = home / "config", home / "data", home / "run"
    (cfg / "warren").mkdir(parents=True)
    run.mkdir(mode=0o700)
    ip = next_ipv4()
    main, gport, ring = free_port(ip), free_port(ip), free_port(ip)
    while len({main, gport, ring}) < 3:
        gport, ring = free_port(ip), free_port(ip)
    (cfg / "warren" / "warren.conf").write_text(
        "[node]\nlisten = %s:%d\noverlay = gnutella, chord\n\n"
        "[gnutella]\nlisten = %s:%d\nquer_ttl = 3\n\n"
        "[chord]\nlisten = %s:%d\nsuccessors = 4\n" % (ip, main, ip, gport, ip, ring))
    env = dict(os.environ, XDG_CONFIG_HOME=str(cfg), XDG_DATA_HOME=str(data),
               XDG_RUNTIME_DIR=str(run), HOME=str(home))
    env.pop("WARREN_SOCKET", None)
    share = data / "warren" / "shared"
    p = subprocess.Popen([WARREN, "node"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    sock = run / "warren" / "node.sock"
    try:
        def up():
            assert p.poll() is None, p.stderr.read()
            return sock.exists()
        wait_until(up, 20, "the default control socket")
        c = Ctl(str(sock))
        try:
            st = c.call("status")["result"]
        finally:
            c.close()
        assert st["share_dir"] == str(share) and share.is_dir()
        ovs = {o["name"]: o for o in st["overlays"]}
        assert sorted(ovs) == ["chord", "gnutella"]
        assert ovs["gnutella"]["port"] == gport
        assert ovs["chord"]["port"] == ring and ovs["chord"]["successor_list_max"] == 4
        # The CLI finds the same socket by itself.
        q = subprocess.run([WARREN, "status", "--json"], env=env, capture_output=True,
                           text=True, timeout=30)
        assert q.returncode == 0 and json.loads(q.stdout)["share_dir"] == str(share)
        assert (data / "warren" / "node.db").exists()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0


def test_daemon_logs_as_json_lines(tmp_path):
    """--json on the daemons: every log line is one JSON object."""
    from conftest import free_port, next_ipv4
    ip = next_ipv4()
    p = subprocess.Popen([WARREN, "introducer", "--json", "--listen", "%s:%d" % (ip, free_port(ip)),
                          "--data-dir", str(tmp_path / "intro")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    head = []
    for line in p.stderr:  # up to the line that says it listens
        head.append(line)
        if "introducer on" in line:
            break
    p.send_signal(signal.SIGTERM)
    rest = p.stderr.read()
    assert p.wait(30) == 0, head + [rest]
    lines = [json.loads(l) for l in (head + rest.splitlines()) if l.strip()]
    assert len(lines) >= 3, lines
    assert all(set(l) >= {"time", "level", "msg"} for l in lines), lines
    assert lines[0]["time"].endswith("Z") and lines[0]["level"] == "info"
    assert any("introducer on" in l["msg"] for l in lines), lines


def test_server_config_files_errors(tmp_path):
    """directory and introducer read their own [section] of --config FILE
    (other sections are left to other programs); a bad value names the
    file and line, a missing file says so: usage errors (2)."""
    conf = tmp_path / "w.conf"
    conf.write_text("[node]\nupload_slots = 3\n[directory]\nmax_results = 0\n"
                    "[introducer]\ncheck_interval = 0\n")
    for cmd, key, line in (("directory", "max_results", 4), ("introducer", "check_interval", 6)):
        p = subprocess.run([WARREN, cmd, "--config", str(conf)], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2, (cmd, p.stderr)
        assert "%s line %d" % (conf, line) in p.stderr and key in p.stderr, (cmd, p.stderr)
        p = subprocess.run([WARREN, cmd, "--config", str(tmp_path / "none.conf")],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and "cannot read config file" in p.stderr, (cmd, p.stderr)
