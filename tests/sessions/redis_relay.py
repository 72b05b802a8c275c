#!/usr/bin/env python3
"""redis_relay.py: more than one machine (issue 18; ispmaild.conf(5) "More
than one machine"): two ispmaild nodes with relay.backend = "redis", one
private redis-server (tests/lib/redis_fixture.py), one shared maildir_root
and users file, each node its own state_dir and queue.

- a POP3 login on node A authorizes relaying on node B at once (and on A):
  the RCPT to a remote address gets past the 553; the key
  <prefix>auth:127.0.0.1 is in Redis with a TTL near authorization_ttl and
  the value "<unix time> <user>"; a customer that never logged in still
  gets the 553 on both;
- the key expiring in Redis (PEXPIRE) or deleted: 553 again on both;
- `ispmailctl relay add|list|del` on either node work on Redis;
- mail delivered by A is listed by B with the same UIDLs and sizes;
- Redis stopped: a POP3 login still works (the failed write logged with
  backend=redis), relaying for a customer not authorized otherwise gets
  451 4.3.0 (never 250, never 553) and the log says why; trusted clients
  still relay and inbound mail to a local user is still accepted; Redis
  started again: the nodes recover without a restart;
- redis.password_file with a Redis that asks for a password (requirepass);
  a wrong one: 451 and the log names the refusal;
- the POP3 lock across nodes: a session holds <prefix>lock:<user> with its
  token (hostname:pid:random) and a life of command_timeout + 5 s, renewed
  by its commands and removed at QUIT; a lock held by another node (the key
  set by hand, as a node with its own disk would) gives [IN-USE]; a session
  whose lock was taken over ends with [IN-USE] at its next command,
  deletes nothing and leaves the other's key alone; kill -9 of a session:
  the mailbox is free again on the other node within the lock's life;
- the outbound rate counters across nodes: with outbound_per_user_hour = 3
  a user relays 2 recipients through A and 1 through B, the 4th (on
  either) gets 451 4.7.1; <prefix>rate:user:<user> is in Redis with a TTL
  of at most two windows; `ispmailctl ratelimit list` on A shows 3 of 3,
  `ratelimit reset` on B lifts it for A;
- the greylist across nodes: an outside client's first tries on A get 450,
  its retry after greylist.delay on B (which never saw it) passes (250); the triple is a key
  <prefix>greylist:<net>\0<sender>\0<rcpt> with a TTL of greylist.expire;
  `ispmailctl greylist list` on B shows it, `greylist flush` on A empties
  Redis of it."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402
import redis_fixture as R  # noqa: E402

USER = "demo@example.test"
PW = "secret"
REMOTE = "friend@remote.example"
TTL = 1800
TEMPFAIL = "451 4.3.0 Temporary lookup failure, try again later"
OTHER = "127.0.0.4"         # a customer that never logs in
BODY = b"Subject: two nodes\r\n\r\nhello from node A\r\n"


def nodes(fx, redis, extra=None):
    """Node A and node B: one Redis, one maildir_root and users file."""
    conf = {"relay.customer_networks": [T.CUSTOMER + "/32", OTHER + "/32"],
            "relay.authorization_ttl": TTL}
    conf.update(redis.conf())
    conf.update(extra or {})
    a = fx.server(services=("smtp", "pop3"), config=conf)
    b = fx.server(services=("smtp", "pop3"), config=conf)
    b.maildir_root = a.maildir_root
    b.users_file = a.users_file
    b.set("maildir_root", a.maildir_root)
    b.set("users_file", a.users_file)
    a.add_user(USER, PW)
    a.start()
    b.start()
    return a, b


def rcpt(srv, source, to=REMOTE):
    """EHLO, MAIL, one RCPT: the RCPT's reply."""
    s = H.Smtp(srv, source=source)
    try:
        s.hello()
        s.cmd("MAIL FROM:<%s>" % USER)
        return s.cmd("RCPT TO:<%s>" % to)
    finally:
        s.quit()


def auth_key(prefix="ispmaild:", addr=T.CUSTOMER):
    return "%sauth:%s" % (prefix, addr)


def two_nodes(t, fx):
    redis = fx.add(R.Redis())
    a, b = nodes(fx, redis)
    t.eq(rcpt(b, T.CUSTOMER), H.FIRST_POP_EHLO, "before any login: 553 on node B")
    H.pop_login(a, USER, PW)
    t.eq(rcpt(b, T.CUSTOMER)[:3], "250", "POP3 login on A: relaying on B at once")
    t.eq(rcpt(a, T.CUSTOMER)[:3], "250", "and on A")
    t.eq(rcpt(b, OTHER), H.FIRST_POP_EHLO, "another customer, never logged in: 553 on B")
    key = auth_key()
    t.eq(redis.keys("*auth:*"), [key], "one authorization in Redis: " + key)
    rc, out, err = b.ctl_run("status")
    t.ok(re.search(r"^shared state: redis, reachable$", out, re.M) and
         re.search(r"^relay table: 1 entries$", out, re.M),
         "ispmailctl status on B: redis reachable, 1 entry", out + err)
    ttl = redis.cmd("TTL", key)
    t.ok(TTL - 60 <= ttl <= TTL, "its TTL is near authorization_ttl (%d)" % TTL, "TTL %r" % ttl)
    val = (redis.cmd("GET", key) or b"").decode()
    m = re.match(r"(\d+) (.*)$", val)
    t.ok(m is not None and abs(int(m.group(1)) - time.time()) < 120 and m.group(2) == USER,
         "value: <unix time> <user>", repr(val))
    t.ok(re.search(r"relay-authorize key=127\.0\.0\.1 user=%s" % re.escape(USER), a.log()),
         "node A logged the authorization")
    rc, out, err = b.ctl_run("relay", "list")
    t.ok(rc == 0 and re.match(r"127\.0\.0\.1 \d{4}-\d\d-\d\dT\S+Z (\d+) %s$" % re.escape(USER),
                              out.strip()), "ispmailctl relay list on B shows it", out + err)
    m = re.match(r"\S+ \S+ (\d+)", out)
    t.ok(m is not None and TTL - 60 <= int(m.group(1)) <= TTL,
         "with the seconds left from Redis", out)
    redis.cmd("PEXPIRE", key, 50)
    time.sleep(0.3)
    t.eq(redis.keys("*auth:*"), [], "Redis expired the key")
    t.eq(rcpt(b, T.CUSTOMER), H.FIRST_POP_EHLO, "expired: 553 on B")
    t.eq(rcpt(a, T.CUSTOMER), H.FIRST_POP_EHLO, "expired: 553 on A")
    H.pop_login(b, USER, PW, source=OTHER)
    t.eq(rcpt(a, OTHER)[:3], "250", "POP3 login on B: relaying on A")
    redis.cmd("DEL", auth_key(addr=OTHER))
    t.eq(rcpt(a, OTHER), H.FIRST_POP_EHLO, "key deleted: 553 on A")
    # ispmailctl relay add / del on one node, seen by the other.
    rc, out, err = a.ctl_run("relay", "add", OTHER)
    t.eq(rc, 0, "ispmailctl relay add on A: exit 0 (%s)" % (out + err).strip())
    t.ok(TTL - 60 <= redis.cmd("TTL", auth_key(addr=OTHER)) <= TTL, "the key has the TTL")
    t.eq(rcpt(b, OTHER)[:3], "250", "relay add on A: relaying on B")
    rc, out, err = b.ctl_run("relay", "list")
    t.ok(re.search(r"^127\.0\.0\.4 \S+ \d+ admin$", out, re.M), "relay list on B: admin", out)
    rc, out, err = b.ctl_run("relay", "del", OTHER)
    t.eq(rc, 0, "ispmailctl relay del on B: exit 0 (%s)" % (out + err).strip())
    t.eq(redis.keys("*auth:*"), [], "the key is gone from Redis")
    t.eq(rcpt(a, OTHER), H.FIRST_POP_EHLO, "relay del on B: 553 on A")
    rc, out, err = a.ctl_run("relay", "del", OTHER)
    t.eq(rc, 1, "relay del of an absent entry: exit 1")
    t.ok(re.search(r"no relay entry for 127\.0\.0\.4", err), "and says so", err)
    # Shared Maildirs: delivered by A, listed by B with the same UIDLs.
    s = H.Smtp(a, source=T.OUTSIDER)
    s.hello()
    r = s.transaction("someone@remote.example", [USER], BODY)
    s.quit()
    t.eq(r[-1][:3], "250", "a message delivered through A")
    lists = []
    for srv in (a, b):
        c = srv.connect("pop3", T.CUSTOMER)
        c.expect(r"\+OK")
        c.command("USER " + USER, r"\+OK")
        c.command("PASS " + PW, r"\+OK")
        c.command("UIDL", r"\+OK")
        uidl = c.read_multiline()
        c.command("LIST", r"\+OK")
        sizes = c.read_multiline()
        c.command("QUIT", r"\+OK")
        c.close()
        lists.append((uidl, sizes))
    t.ok(lists[0] == lists[1] and len(lists[0][0]) == 1,
         "B lists it with A's UIDL and size", repr(lists))


def redis_down(t, fx):
    redis = fx.add(R.Redis())
    a, b = nodes(fx, redis)
    H.pop_login(a, USER, PW)
    t.eq(rcpt(b, T.CUSTOMER)[:3], "250", "Redis up: relaying on B")
    redis.stop()
    mark_a, mark_b = len(a.log()), len(b.log())
    t.eq(rcpt(b, T.CUSTOMER), TEMPFAIL, "Redis down: an authorized customer gets 451 4.3.0")
    t.eq(rcpt(b, OTHER), TEMPFAIL, "a customer never logged in: 451 4.3.0, not 553")
    t.eq(rcpt(b, T.OUTSIDER), TEMPFAIL, "an outside client to a remote address: 451")
    t.eq(rcpt(b, T.TRUSTED)[:3], "250", "a trusted client still relays")
    t.eq(rcpt(b, T.OUTSIDER, USER)[:3], "250", "inbound mail to a local user: accepted")
    log = b.log()[mark_b:]
    t.ok(re.search(r"state backend=redis op=lookup key=127\.0\.0\.1 result=error reason=\"[^\"]+\"",
                   log), "B logs the failed lookup and why", log)
    t.ok(re.search(r"rcpt to=<%s> result=reject code=451 reason=state-error" % re.escape(REMOTE),
                   log), "and the 451 with reason=state-error", log)
    try:
        H.pop_login(a, USER, PW, source=OTHER)
        t.ok(True, "Redis down: a POP3 login on A still works")
    except T.ProtocolError as e:
        t.ok(False, "Redis down: a POP3 login on A still works", str(e))
    log = a.log()[mark_a:]
    t.ok(re.search(r"relay-authorize key=127\.0\.0\.4 result=error backend=redis reason=\"[^\"]+\"",
                   log), "A logs the failed write", log)
    t.ok(a.running() and b.running(), "both nodes still run")
    rc, out, err = b.ctl_run("status")
    t.ok(re.search(r"^shared state: redis, unreachable: connect 127\.0\.0\.1:\d+: .+$", out, re.M),
         "ispmailctl status: redis unreachable, and why", out + err)
    redis.start()
    H.pop_login(a, USER, PW, source=OTHER)
    t.eq(rcpt(b, OTHER)[:3], "250", "Redis back: a new login relays on B, no restart")
    t.eq(rcpt(b, T.CUSTOMER), H.FIRST_POP_EHLO,
         "the authorization Redis lost with its restart: 553 again")


def password(t, fx):
    redis = fx.add(R.Redis(password="s3cret-redis"))
    a, b = nodes(fx, redis, {"redis.prefix": "isp1:"})
    H.pop_login(a, USER, PW)
    t.eq(rcpt(b, T.CUSTOMER)[:3], "250", "requirepass and password_file: relaying on B")
    t.eq(redis.keys("*auth:*"), [auth_key("isp1:")], "the key has the configured prefix")
    t.ok(all(k.startswith("isp1:") for k in redis.keys()), "every key does", repr(redis.keys()))
    wrong = os.path.join(fx.servers[-1].dir, "wrong.pass")
    with open(wrong, "w") as f:
        f.write("not-it\n")
    os.chmod(wrong, 0o644)
    b.set("redis.password_file", wrong)
    b.reload()
    deadline = time.time() + 10 * T.PATIENCE
    got = None
    while time.time() < deadline:
        got = rcpt(b, T.CUSTOMER)
        if got == TEMPFAIL:
            break
        time.sleep(0.2)
    t.eq(got, TEMPFAIL, "a wrong password: 451 4.3.0")
    t.ok(re.search(r"state backend=redis op=lookup key=\S+ result=error reason=\"[^\"]*"
                   r"(WRONGPASS|invalid password|AUTH)", b.log()),
         "the log says Redis refused the password", b.log()[-2000:])


def pop3_open(srv, source=T.CUSTOMER):
    """A POP3 session logged in (the Client), or the -ERR line as a str."""
    c = srv.connect("pop3", source)
    c.expect(r"\+OK")
    c.command("USER " + USER, r"\+OK")
    c.sendline("PASS " + PW)
    line = c.readline()
    if not line.startswith("+OK"):
        c.close()
        return line
    return c


def pop3_lock(t, fx):
    redis = fx.add(R.Redis())
    a, b = nodes(fx, redis, {"limits.command_timeout": 4})
    life = (4 + 5) * 1000
    key = "ispmaild:lock:" + USER
    s = H.Smtp(a, source=T.OUTSIDER)
    s.hello()
    t.eq(s.transaction("x@remote.example", [USER], BODY)[-1][:3], "250", "one message for the user")
    s.quit()
    c = pop3_open(a)
    t.ok(not isinstance(c, str), "POP3 login on A", repr(c))
    if isinstance(c, str):
        return
    val = (redis.cmd("GET", key) or b"").decode()
    t.ok(re.match(r"%s:\d+:[0-9a-f]{16}$" % re.escape(T.HOSTNAME), val),
         "A holds %s: hostname:pid:random" % key, repr(val))
    pttl = redis.cmd("PTTL", key)
    t.ok(0 < pttl <= life, "its life: command_timeout + 5 s", "PTTL %r" % pttl)
    time.sleep(3)
    c.command("NOOP", r"\+OK")
    pttl = redis.cmd("PTTL", key)
    t.ok(pttl > life - 2500, "a command 3 s later renewed it", "PTTL %r" % pttl)
    c.command("QUIT", r"\+OK")
    c.close()
    t.eq(redis.cmd("EXISTS", key), 0, "QUIT removed it")
    # Held by another node: [IN-USE] on A although A's own flock is free.
    redis.cmd("SET", key, "node9:1:0123456789abcdef", "PX", 60000)
    r = pop3_open(a)
    t.ok(isinstance(r, str) and r.startswith("-ERR [IN-USE]"),
         "the lock held elsewhere: -ERR [IN-USE] on A", repr(r))
    t.ok(re.search(r"login user=%s result=in-use where=other-node" % re.escape(USER), a.log()),
         "logged as where=other-node")
    redis.cmd("DEL", key)
    # Taken over while A's session was idle: A ends, deletes nothing.
    c = pop3_open(a)
    t.ok(not isinstance(c, str), "the lock gone: A logs in")
    if isinstance(c, str):
        return
    time.sleep(1.2)
    redis.cmd("SET", key, "node9:1:fedcba9876543210", "XX", "PX", 60000)
    c.sendline("DELE 1")
    line = c.readline()
    t.ok(line is not None and line.startswith("-ERR [IN-USE]"),
         "the lock taken over: the next command gets -ERR [IN-USE]", repr(line))
    c.close()
    t.eq((redis.cmd("GET", key) or b"").decode(), "node9:1:fedcba9876543210",
         "A did not remove the other's lock")
    t.ok(re.search(r"lock user=%s result=lost" % re.escape(USER), a.log()), "A logs the loss")
    f = a.files(USER)
    t.eq(len(f["new"]) + len(f["cur"]), 1, "and deleted nothing")
    redis.cmd("DEL", key)
    # kill -9 of the session on A: B may log in within the lock's life.
    c = pop3_open(a)
    t.ok(not isinstance(c, str), "A logs in again")
    if isinstance(c, str):
        return
    pid = a.session_pid(c)
    t.ok(pid is not None and H.kill_session(pid), "A's session killed (SIGKILL)")
    c.close()
    r = pop3_open(b)
    t.ok(isinstance(r, str) and r.startswith("-ERR [IN-USE]"),
         "at once, B answers [IN-USE] (the dead session's lock lives on)", repr(r))
    deadline = time.time() + life / 1000 + 10 * T.PATIENCE
    while time.time() < deadline:
        r = pop3_open(b)
        if not isinstance(r, str):
            break
        time.sleep(0.5)
    t.ok(not isinstance(r, str), "within the lock's life B opens the mailbox", repr(r))
    if not isinstance(r, str):
        r.command("QUIT", r"\+OK")
        r.close()


def rate_across_nodes(t, fx):
    redis = fx.add(R.Redis())
    a, b = nodes(fx, redis, {"limits.outbound_per_user_hour": 3,
                             "limits.outbound_window": 3600})
    H.pop_login(a, USER, PW)
    got = []
    for srv, to in ((a, "r1@remote.example"), (a, "r2@remote.example"),
                    (b, "r3@remote.example")):
        got.append(rcpt(srv, T.CUSTOMER, to)[:3])
    t.eq(got, ["250", "250", "250"], "3 recipients relayed: 2 on A, 1 on B")
    limited = "451 4.7.1 Sending rate limit exceeded, try again later"
    t.eq(rcpt(b, T.CUSTOMER, "r4@remote.example"), limited, "the 4th on B: 451 4.7.1")
    t.eq(rcpt(a, T.CUSTOMER, "r5@remote.example"), limited, "and on A")
    key = "ispmaild:rate:user:" + USER
    val = (redis.cmd("GET", key) or b"").decode()
    t.ok(re.match(r"\d+ 3 0 \d+$", val), "%s counts 3 (and noted the crossing)" % key, repr(val))
    ttl = redis.cmd("TTL", key)
    t.ok(0 < ttl <= 7200, "its TTL: at most two windows", "TTL %r" % ttl)
    t.eq(len(re.findall(r"ratelimit limit=user user=<%s>" % re.escape(USER), a.log() + b.log())),
         1, "one log line for the crossing, on both nodes together")
    rc, out, err = a.ctl_run("ratelimit", "list")
    t.ok(rc == 0 and re.search(r"^user %s 3 3$" % re.escape(USER), out, re.M),
         "ispmailctl ratelimit list on A: user 3 of 3", out + err)
    rc, out, err = b.ctl_run("ratelimit", "reset", USER)
    t.eq(rc, 0, "ispmailctl ratelimit reset on B (%s)" % (out + err).strip())
    t.eq(rcpt(a, T.CUSTOMER, "r6@remote.example")[:3], "250", "reset on B: A relays again")


def greylist_across_nodes(t, fx):
    redis = fx.add(R.Redis())
    expire = 86400
    a, b = nodes(fx, redis, {"greylist": {"enabled": True, "delay": 2, "expire": expire,
                                          "auto_allow": 0}})
    sender = "list@remote.example"

    def inbound(srv):
        s = H.Smtp(srv, source=T.OUTSIDER)
        try:
            s.hello()
            s.cmd("MAIL FROM:<%s>" % sender)
            return s.cmd("RCPT TO:<%s>" % USER)
        finally:
            s.quit()

    t.eq(inbound(a), "450 4.7.1 Greylisted, try again later", "first try on A: 450")
    keys = redis.keys("ispmaild:greylist:*")
    want = "ispmaild:greylist:127.0.0.0/24\0%s\0%s" % (sender, USER)
    t.eq(keys, [want], "the triple is in Redis")
    ttl = redis.cmd("TTL", want) if keys else None
    t.ok(ttl is not None and expire - 60 <= ttl <= expire, "with the TTL of greylist.expire",
         "TTL %r" % ttl)
    t.eq(inbound(a), "450 4.7.1 Greylisted, try again later", "at once again on A: 450 (early)")
    time.sleep(2.5)
    t.eq(inbound(b)[:3], "250", "after greylist.delay, B's first sight of it: 250")
    rc, out, err = b.ctl_run("greylist", "list")
    t.ok(rc == 0 and re.search(r"^127\.0\.0\.0/24 <%s> <%s> \S+ \S+ 1$"
                               % (re.escape(sender), re.escape(USER)), out, re.M),
         "ispmailctl greylist list on B shows it, one pass", out + err)
    rc, out, err = a.ctl_run("greylist", "flush")
    t.ok(rc == 0 and re.match(r"greylist: 2 entries removed", out),
         "ispmailctl greylist flush on A (%s)" % (out + err).strip())
    t.eq(redis.keys("ispmaild:greylist:*"), [], "Redis holds none any more")


def redis_down_under_load(t, fx):
    redis = fx.add(R.Redis())
    a, b = nodes(fx, redis)
    H.pop_login(a, USER, PW)
    local_ok = relay_ok = refused = other = 0
    for i in range(30):
        if i == 10:
            redis.stop()
        if i == 20:
            redis.start()
            H.pop_login(a, USER, PW)
        inbound = i % 2 == 0    # from outside to the local user; else a customer relays
        s = H.Smtp(b, source=T.OUTSIDER if inbound else T.CUSTOMER)
        try:
            s.hello()
            to = USER if inbound else "far%d@remote.example" % i
            r = s.transaction("x@remote.example" if inbound else USER, [to],
                              b"Subject: load %d\r\n\r\nbody\r\n" % i)
        finally:
            s.quit()
        if r[-1].startswith("250"):
            if to == USER:
                local_ok += 1
            else:
                relay_ok += 1
        elif r[1] == TEMPFAIL and 10 <= i < 20:
            refused += 1
        else:
            other += 1
            t.diag("message %d: %r" % (i, r))
    t.eq(other, 0, "every reply was a 250, or a 451 4.3.0 while Redis was away")
    t.eq(refused, 5, "the 5 relayed messages while Redis was down: 451 4.3.0")
    t.eq(relay_ok, 10, "10 relayed before and after: 250")
    t.eq(local_ok, 15, "the 15 inbound ones, Redis or not: 250")
    f = b.files(USER)
    t.eq(len(f["new"]) + len(f["cur"]), local_ok, "each local 250 is in the Maildir")
    q = H.queue_files(b)
    t.eq(len(q["new"]), relay_ok, "each relayed 250 is in B's queue")
    t.ok(a.running() and b.running(), "both nodes run")


def main():
    fx = X.Frame()
    fx.part(two_nodes)
    fx.part(redis_down)
    fx.part(password)
    fx.part(pop3_lock)
    fx.part(rate_across_nodes)
    fx.part(greylist_across_nodes)
    fx.part(redis_down_under_load)
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
