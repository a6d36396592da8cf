"""`warren share add`: files from outside the shared folder are copied (or
hard-linked) into it, hashed and published; names never replace a file
and never leave the folder. The last test shares a file on one gnutella
node and finds and downloads it from another."""

import json
import os
import re

from conftest import make_file, md5_file, wait_until


def listed(node):
    """{name: file} of `warren share ls --json`."""
    p = node.cli("share", "ls", "--json", check=0)
    return {f["name"]: f for f in json.loads(p.stdout)["files"]}


def snapshot(top):
    """Every path under top (relative) but the nodes' databases, to see
    that nothing else appeared."""
    out = set()
    for d, dirs, files in os.walk(top):
        for x in dirs + files:
            rel = os.path.relpath(os.path.join(d, x), top)
            if rel.split(os.sep)[1:2] != ["data"]:
                out.add(rel)
    return out


def leftovers(node):
    """Temporary copies left in the shared folder."""
    return [f for f in os.listdir(node.share) if f.startswith(".")]


def outside(net, name, size, seed=0):
    """A file in a folder of its own, outside every shared folder."""
    d = os.path.join(net.tmp, "outside")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    return path, make_file(path, size, seed=seed)


def test_copy_from_outside_is_listed_with_its_md5_and_original_untouched(net):
    n = net.node("a")
    src, md5 = outside(net, "Holiday Photos.tar", 700000, seed=1)
    before = os.stat(src)

    p = n.cli("share", "add", src, check=0)
    assert p.stdout.strip() == "shared Holiday Photos.tar (%s, 683.6 KiB)" % md5, p.stdout

    files = listed(n)
    assert set(files) == {"Holiday Photos.tar"}
    f = files["Holiday Photos.tar"]
    assert f["md5"] == md5 and f["size"] == 700000
    dest = os.path.join(n.share, "Holiday Photos.tar")
    assert f["path"] == os.path.realpath(dest)
    assert md5_file(dest) == md5
    # A copy: its own inode; the original is where it was, unchanged.
    after = os.stat(src)
    assert os.stat(dest).st_ino != after.st_ino
    assert (after.st_ino, after.st_size, after.st_mtime_ns, after.st_nlink) == \
        (before.st_ino, before.st_size, before.st_mtime_ns, 1)
    assert md5_file(src) == md5
    assert leftovers(n) == []


def test_relative_path_and_json_output(net):
    n = net.node("a")
    src, md5 = outside(net, "notes.txt", 1234, seed=2)
    p = n.cli("share", "add", "--json", os.path.relpath(src), check=0)
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    o = json.loads(lines[0])
    assert o["ok"] is True and o["file"] == os.path.relpath(src)
    r = o["result"]
    assert r["md5"] == md5 and r["size"] == 1234 and r["mode"] == "copy"
    assert r["name"] == "notes.txt" and r["path"] == os.path.join(os.path.realpath(n.share), "notes.txt")


def test_name_collision_never_replaces(net):
    n = net.node("a", start=False)
    old_md5 = make_file(os.path.join(n.share, "report.pdf"), 5000, seed=3)
    n.start()
    src, md5 = outside(net, "report.pdf", 6000, seed=4)

    p = n.cli("share", "add", src, check=0)
    assert p.stdout.startswith("shared report (1).pdf (%s," % md5), p.stdout
    p = n.cli("share", "add", src, "--name", "report.pdf", check=0)
    assert p.stdout.startswith("shared report (2).pdf (%s," % md5), p.stdout
    # Without an extension the number goes at the end.
    p = n.cli("share", "add", src, "--name", "README", check=0)
    p = n.cli("share", "add", src, "--name", "README", check=0)
    assert p.stdout.startswith("shared README (1) (%s," % md5), p.stdout

    assert md5_file(os.path.join(n.share, "report.pdf")) == old_md5
    files = listed(n)
    assert {k: v["md5"] for k, v in files.items()} == {
        "report.pdf": old_md5, "report (1).pdf": md5, "report (2).pdf": md5,
        "README": md5, "README (1)": md5}
    assert leftovers(n) == []


def test_link_shares_the_same_inode(net):
    n = net.node("a")
    # Same file system as the shared folder: both under the test's tmp.
    src, md5 = outside(net, "big.iso", 300000, seed=5)
    p = n.cli("share", "add", "--link", src, "--json", check=0)
    r = json.loads(p.stdout)["result"]
    assert r["mode"] == "link" and r["md5"] == md5
    dest = os.path.join(n.share, "big.iso")
    assert os.stat(dest).st_ino == os.stat(src).st_ino
    assert os.stat(src).st_nlink == 2
    assert listed(n)["big.iso"]["md5"] == md5
    # A link to a taken name gets the next one, like a copy.
    p = n.cli("share", "add", "--link", src, check=0)
    assert p.stdout.startswith("shared big (1).iso (%s," % md5)
    assert os.stat(os.path.join(n.share, "big (1).iso")).st_ino == os.stat(src).st_ino


def test_missing_file_and_folder_fail_with_a_clear_message(net):
    n = net.node("a")
    missing = os.path.join(net.tmp, "no", "such.bin")
    p = n.cli("share", "add", missing, check=1)
    assert "warren: no such file: %s" % missing in p.stderr, p.stderr
    assert p.stdout == ""

    folder = os.path.join(net.tmp, "a folder")
    os.makedirs(folder)
    make_file(os.path.join(folder, "inside.txt"), 10)
    p = n.cli("share", "add", folder, check=1)
    assert "is a folder, not a file" in p.stderr, p.stderr
    assert listed(n) == {} and os.listdir(n.share) == []

    # The node checks too (a client may skip the CLI's checks).
    r = n.call("share.add", path=missing)
    assert not r["ok"] and "no such file" in r["error"], r
    r = n.call("share.add", path="relative/path.txt")
    assert not r["ok"] and "absolute" in r["error"], r
    r = n.call("share.add", path=folder, mode="move")
    assert not r["ok"] and "mode" in r["error"], r
    r = n.call("share.add", path="/dev/null")
    assert not r["ok"] and "not a regular file" in r["error"], r


def test_unreadable_file_is_refused(net):
    if os.geteuid() == 0:
        # root reads everything: the access check cannot fail.
        import pytest
        pytest.skip("running as root")
    n = net.node("a")
    src, _ = outside(net, "secret.txt", 100)
    os.chmod(src, 0)
    p = n.cli("share", "add", src, check=1)
    assert "cannot read" in p.stderr and "permission denied" in p.stderr, p.stderr
    assert os.listdir(n.share) == []


def test_bad_names_are_refused_and_nothing_leaves_the_folder(net):
    n = net.node("a")
    src, md5 = outside(net, "x", 100, seed=6)
    before = snapshot(net.tmp)
    for name in ("../x", "a/b", "/etc/x", "..", ".", ""):
        p = n.cli("share", "add", "--name", name, src)
        assert p.returncode in (1, 2), (name, p.returncode, p.stderr)
        assert p.stderr.startswith("warren: "), p.stderr
    # Names the library would not share are refused too.
    for name in (".hidden", "movie.part"):
        p = n.cli("share", "add", "--name", name, src, check=1)
        assert "library does not share" in p.stderr, p.stderr
    for name in ("a\x01b", "tab\there", "x" * 256):
        r = n.call("share.add", path=src, name=name)
        assert not r["ok"] and "bad name" in r["error"], (name, r)
    # A source whose own name is hidden needs --name.
    hidden, _ = outside(net, ".profile", 50, seed=7)
    p = n.cli("share", "add", hidden, check=1)
    assert "give another name" in p.stderr, p.stderr
    assert snapshot(net.tmp) - before == {os.path.join("outside", ".profile")}
    assert listed(n) == {}
    p = n.cli("share", "add", hidden, "--name", "profile.txt", check=0)
    assert "shared profile.txt (" in p.stdout
    # --name with several FILEs is a usage error.
    p = n.cli("share", "add", "--name", "y", src, hidden, check=2)
    assert "usage:" in p.stderr
    assert set(listed(n)) == {"profile.txt"}


def test_several_files_in_one_call_go_on_after_a_failure(net):
    n = net.node("a")
    a, md5a = outside(net, "one.bin", 10000, seed=8)
    b, md5b = outside(net, "two.bin", 20000, seed=9)
    p = n.cli("share", "add", a, b, check=0)
    lines = p.stdout.splitlines()
    assert len(lines) == 2, p.stdout
    assert lines[0].startswith("shared one.bin (%s," % md5a)
    assert lines[1].startswith("shared two.bin (%s," % md5b)

    c, md5c = outside(net, "three.bin", 30000, seed=10)
    missing = os.path.join(net.tmp, "gone.bin")
    p = n.cli("share", "add", missing, c, check=1)
    assert "no such file: %s" % missing in p.stderr
    assert p.stdout.startswith("shared three.bin (%s," % md5c), p.stdout
    assert {k: v["md5"] for k, v in listed(n).items()} == {
        "one.bin": md5a, "two.bin": md5b, "three.bin": md5c}


def test_file_already_in_the_shared_folder_is_left_in_place(net):
    n = net.node("a", start=False)
    os.makedirs(os.path.join(n.share, "sub"))
    inside = os.path.join(n.share, "sub", "here.txt")
    md5 = make_file(inside, 4000, seed=11)
    n.start()
    p = n.cli("share", "add", "--json", inside, check=0)
    r = json.loads(p.stdout)["result"]
    assert r["mode"] == "in_place" and r["md5"] == md5
    assert r["path"] == os.path.realpath(inside)
    assert sorted(os.listdir(n.share)) == ["sub"]
    assert list(listed(n)) == ["here.txt"]
    # A hidden file in the folder stays unshared: say so.
    hidden = os.path.join(n.share, ".cache.txt")
    make_file(hidden, 10)
    p = n.cli("share", "add", hidden, check=1)
    assert "skips it" in p.stderr, p.stderr


def test_client_gone_and_node_stopping_leave_no_temporary_file(net):
    n = net.node("a")
    src, md5 = outside(net, "video.mkv", 2000000, seed=12)
    # A client that leaves before the answer: the file is still shared.
    c = n.ctl()
    c.send({"op": "share.add", "path": src})
    c.close()
    wait_until(lambda: listed(n).get("video.mkv", {}).get("md5") == md5, 30,
               "video.mkv shared after its client left")
    assert leftovers(n) == []

    # A node stopped during a copy removes the temporary copy (or, if the
    # copy won the race, keeps the whole file); it exits cleanly. The
    # source is sparse, so its copy (real zeros) takes a while.
    big = os.path.join(net.tmp, "outside", "huge.bin")
    with open(big, "wb") as f:
        f.truncate(256 << 20)
    c = n.ctl()
    c.send({"op": "share.add", "path": big})
    wait_until(lambda: leftovers(n) or os.path.exists(os.path.join(n.share, "huge.bin")),
               30, "the copy to start")
    c2 = n.ctl()
    c2.send({"op": "stop"})
    assert n.proc.wait(60) == 0
    c.close()
    c2.close()
    assert leftovers(n) == []
    if os.path.exists(os.path.join(n.share, "huge.bin")):
        assert os.path.getsize(os.path.join(n.share, "huge.bin")) == 256 << 20
    else:
        assert "huge.bin: the node is stopping" in n.read_log()


def test_shared_file_is_found_and_downloaded_over_gnutella(net):
    a = net.node("ga", start=False)
    b = net.node("gb", start=False, env={"XDG_CACHE_HOME": os.path.join(net.tmp, "cache")})
    a.args += ["--overlay", "gnutella", "--neighbour", b.addr]
    b.args += ["--overlay", "gnutella", "--neighbour", a.addr]
    a.start()
    b.start()

    def linked():
        for node in (a, b):
            peers = node.call("peers")["result"]["overlays"][0]["peers"]
            if not any(p["state"] == "up" for p in peers):
                return False
        return True
    wait_until(linked, 30, "the two gnutella nodes to see each other")

    src, md5 = outside(net, "Field_Recording_42.flac", 900000, seed=14)
    p = a.cli("share", "add", src, check=0)
    assert "(%s," % md5 in p.stdout

    hits = []

    def found():
        p = b.cli("search", "--json", "--window", "1", "recording_42", check=0)
        hits[:] = [m["hit"] for m in map(json.loads, p.stdout.splitlines())
                   if m.get("event") == "hit"]
        return hits
    wait_until(found, 30, "B to find the file A shared")
    assert [(h["md5"], h["name"]) for h in hits] == [(md5, "Field_Recording_42.flac")]
    assert hits[0]["source"]["label"] == a.addr

    p = b.cli("get", md5, check=0)
    assert "MD5 verified" in p.stdout, p.stdout
    got = os.path.join(b.share, "Field_Recording_42.flac")
    assert md5_file(got) == md5
    # B shares what it downloaded in turn.
    wait_until(lambda: re.search(r"\b%s\b" % md5, b.cli("share", "ls", check=0).stdout),
               30, "B to share the downloaded file")
