#!/usr/bin/env python3
"""conf_print.py: `ispmaild -n` prints the settings that differ from their
defaults, one `key = value` line each, the top-level keys first and then
each block's, in the order of ispmaild.conf(5) (as postconf -n does); a
file of defaults prints nothing but what it must name. `ispmaild -d` prints
every key with its default (postconf -d), and those lines written back as a
file change nothing. The example configuration passes `ispmaild -t` with
its paths pointed at a temporary directory, and a daemon starts from it."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

HOST = "mail.example.net"


def daemon():
    return os.path.join(T.top_builddir(), "ispmaild")


def run(*args):
    p = subprocess.run([daemon()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def host_lines():
    """The hostname line, unless this machine happens to have that name
    (then it is the default, and not printed)."""
    return [] if socket.gethostname().rstrip(".").lower() == HOST else ['hostname = "%s"' % HOST]


def changed(t, tmp):
    path = write(os.path.join(tmp, "changed.conf"), """
hostname = "%s";
state_dir = "state";
domains = [ "Example.NET", "example.org" ];
user = "vmail";
log_level = "debug";
listen = (
  { service = "smtp"; address = "127.0.0.1"; port = 2525; },
  { service = "metrics"; port = 9100; }
);
relay = {
  customer_networks = [ "192.0.2.0/24", "2001:db8::/32" ];
  trusted_networks = [ "127.0.0.1/32", "::1/128" ];
  plaintext_auth = true;
  smarthost = "[127.0.0.1]:2626";
};
limits = { max_per_ip = 20; max_connections = 200; session_timeout = 0; };
queue = { retry_max = 7200; };
""" % HOST)
    want = host_lines() + [
        'state_dir = "%s/state"' % tmp,
        'domains = [ "example.net", "example.org" ]',
        'listen = ( { service = "smtp"; address = "127.0.0.1"; port = 2525; }, '
        '{ service = "metrics"; address = "127.0.0.1"; port = 9100; } )',
        'log_level = "debug"',
        'relay.customer_networks = [ "192.0.2.0/24", "2001:db8::/32" ]',
        'relay.plaintext_auth = true',
        'relay.smarthost = "[127.0.0.1]:2626"',
        'limits.max_per_ip = 20',
        'limits.session_timeout = 0',
        'queue.retry_max = 7200',
    ]
    rc, out, err = run("-n", "-c", path)
    t.eq((rc, err), (0, ""), "-n: exit 0, nothing on stderr")
    t.eq(out.splitlines(), want, "-n: exactly the settings that differ, top level first, "
         "then relay, limits, queue; keys in table order")


def defaults_only(t, tmp):
    path = write(os.path.join(tmp, "minimal.conf"), 'hostname = "%s";\n' % HOST)
    rc, out, err = run("-n", "-c", path)
    t.eq((rc, out.splitlines(), err), (0, host_lines(), ""),
         "-n of a file naming only the hostname: that line alone")

    # Defaults written out, some in another spelling: still nothing.
    path = write(os.path.join(tmp, "explicit.conf"), """
hostname = "%s";
domains = [ "%s." ];
user = "vmail";
log_level = "info";
listen = (
  { service = "smtp"; port = 25; },
  { service = "submission"; address = "0.0.0.0"; port = 587; },
  { service = "pop3"; address = "::ffff:0.0.0.0"; port = 110; }
);
relay = { trusted_networks = [ "127.0.0.1", "::1" ]; customer_networks = [ ]; };
limits = { max_per_ip = 10; message_size = 26214400L; };
queue = { delivery_timeout = 1200; };
""" % (HOST, HOST.upper()))
    rc, out, err = run("-n", "-c", path)
    t.eq((rc, out.splitlines(), err), (0, host_lines(), ""),
         "-n of a file that spells out defaults: only the hostname")

    # With a tls block the default listeners include smtps and pop3s.
    path = write(os.path.join(tmp, "tls.conf"), """
hostname = "%s";
tls = { certificate = "/c.pem"; private_key = "k.pem"; min_version = "TLSv1.2"; };
listen = (
  { service = "smtp"; port = 25; }, { service = "submission"; port = 587; },
  { service = "smtps"; port = 465; }, { service = "pop3"; port = 110; },
  { service = "pop3s"; port = 995; }
);
""" % HOST)
    rc, out, err = run("-n", "-c", path)
    t.eq((rc, out.splitlines(), err),
         (0, host_lines() + ['tls.certificate = "/c.pem"',
                             'tls.private_key = "%s/k.pem"' % tmp], ""),
         "-n with a tls block: its files; the five classic listeners are its default")


def bad_file(t, tmp):
    path = write(os.path.join(tmp, "bad.conf"),
                 'hostname = "%s";\nlimits = { max_per_ip = 0; };\n' % HOST)
    rc, out, err = run("-n", "-c", path)
    t.eq((rc, out, err),
         (1, "", "ispmaild: %s:2: limits.max_per_ip: must be from 1 to 2147483647, not 0\n"
          % path), "-n of a bad file: exit 1, the error as -t gives it, nothing on stdout")
    t.eq(run("-t", "-c", path)[2], err, "-t gives the same line")
    rc, out, err = run("-n", "-t", "-c", path)
    t.ok(rc == 1 and err.startswith("usage:"), "-n with -t: usage", err)


def defaults(t, tmp):
    rc, out, err = run("-d")
    t.eq((rc, err), (0, ""), "-d: exit 0, nothing on stderr")
    lines = out.splitlines()
    keys = [re.match(r"(\S+) =( |$)", l).group(1) if re.match(r"(\S+) =( |$)", l) else l
            for l in lines]
    t.eq(len(keys), len(set(keys)), "-d: each key once")
    for want in ('limits.max_per_ip = 10', 'limits.session_timeout = 3600',
                 'relay.trusted_networks = [ "127.0.0.1/32", "::1/128" ]',
                 'relay.customer_networks = [ ]', 'relay.plaintext_auth = false',
                 'tls.min_version = "TLSv1.2"', 'tls.certificate =', 'aliases_file =',
                 'log_level = "info"', 'queue.delivery_timeout = 1200', 'dns.nameserver = ""',
                 'listen[].port =', 'listen[].address = "0.0.0.0"',
                 'listen = ( { service = "smtp"; address = "0.0.0.0"; port = 25; }, '
                 '{ service = "submission"; address = "0.0.0.0"; port = 587; }, '
                 '{ service = "pop3"; address = "0.0.0.0"; port = 110; } )'):
        t.ok(want in lines, "-d prints %s" % want, out)

    # Every default with a value, written back as a file: nothing differs.
    # (Not the tls block: present, it must name its files; not the host
    # name and the domains that follow it: this machine's.)
    blocks, top = {}, ['hostname = "%s";' % HOST]
    for line in lines:
        m = re.match(r"([a-z_]+)(?:\.([a-z_]+))? = (.+)$", line)
        if not m or m.group(1) in ("tls", "hostname", "domains"):
            continue
        if m.group(2):
            blocks.setdefault(m.group(1), []).append("  %s = %s;" % (m.group(2), m.group(3)))
        else:
            top.append("%s = %s;" % (m.group(1), m.group(3)))
    text = "\n".join(top + ["%s = {\n%s\n};" % (b, "\n".join(v)) for b, v in blocks.items()])
    path = write(os.path.join(tmp, "defaults.conf"), text + "\n")
    rc, out, err = run("-n", "-c", path)
    t.ok((rc, out.splitlines(), err) == (0, host_lines(), ""),
         "-d's lines read back as a file: -n prints only the hostname",
         "%s\n%s\nthe file:\n%s" % (out, err, text))


def example(t):
    """etc/ispmaild.conf.example with its files, ports and user in a
    temporary directory: -t passes, -n reads it, a daemon starts from it."""
    services = ("smtp", "submission", "smtps", "pop3", "pop3s")
    try:
        srv = T.Server(services=services, tls=True)
    except T.SkipTest as e:
        t.skip("the example configuration", str(e))
        return
    with open(os.path.join(T.top_srcdir(), "etc", "ispmaild.conf.example")) as f:
        text = f.read()

    def render():
        conf = text
        for key in ("state_dir", "maildir_root", "users_file"):
            conf = re.sub(r'^(%s\s*=\s*)"[^"]*"' % key,
                          lambda m: '%s"%s"' % (m.group(1), getattr(srv, key)), conf, flags=re.M)
        for key in ("certificate", "private_key"):
            conf = re.sub(r'^(\s*%s\s*=\s*)"[^"]*"' % key,
                          lambda m: '%s"%s"' % (m.group(1), srv.tree["tls"][key]), conf,
                          flags=re.M)
        for key in ("user", "group"):
            if key in srv.tree:
                conf = re.sub(r'^(%s\s*=\s*)"[^"]*"' % key,
                              lambda m: '%s"%s"' % (m.group(1), srv.tree[key]), conf,
                              flags=re.M)
        conf = re.sub(r'^(\s*)\{ service = "(\w+)";\s*address = "0\.0\.0\.0"; port = \d+;',
                      lambda m: '%s{ service = "%s"; address = "127.0.0.1"; port = %d;'
                      % (m.group(1), m.group(2), srv.ports[m.group(2)]), conf, flags=re.M)
        conf = re.sub(r'^(\s*secret_file\s*=\s*)"[^"]*"',
                      lambda m: '%s"%s"' % (m.group(1), srv.tree["srs"]["secret_file"]),
                      conf, flags=re.M)
        # Never the system resolver: tests talk to loopback only.
        return re.sub(r'nameserver = ""', 'nameserver = "127.0.0.1:9"', conf)

    def write_config():
        write(srv.conf_file, render())
        srv._chown(srv.conf_file)

    srv.write_config = write_config
    with srv:
        write_config()
        t.ok(all(str(p) in render() for p in srv.ports.values()),
             "the example's five listeners moved to free loopback ports")
        # A user in the example's first domain, or -t warns that
        # postmaster@ has nowhere to go.
        srv.add_user("postmaster@example.net", "Pw-post-1")
        os.chmod(srv.users_file, 0o640)     # or -t warns: it holds password hashes
        rc, out, err = run("-t", "-c", srv.conf_file)
        t.eq((rc, out, err), (0, "ispmaild: %s: configuration ok\n" % srv.conf_file, ""),
             "the example passes -t")
        rc, out, err = run("-n", "-c", srv.conf_file)
        t.ok(rc == 0 and 'tls.certificate = "%s"' % srv.tree["tls"]["certificate"] in out
             and "limits." not in out and "queue." not in out,
             "-n of the example: its files and listeners; its limits and queue are the defaults",
             out + err)
        srv.start()
        c = srv.connect("smtp")
        t.ok(c.readline().startswith("220 mail.example.net "), "a daemon started from it greets")
        c.close()
        c = srv.connect("pop3")
        t.ok(c.readline().startswith("+OK"), "and serves POP3")
        c.close()
        srv.finish(t, plan=False)


def main():
    t = T.Tap()
    tmp = tempfile.mkdtemp(prefix="ispmaild-conf-print-")
    try:
        changed(t, tmp)
        defaults_only(t, tmp)
        bad_file(t, tmp)
        defaults(t, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    example(t)
    return t.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
