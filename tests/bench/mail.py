"""Benchmark: mail through the lab's mx1.example.test, with and without its filters.

Four runs on the same container (the lab must be running: make lab), in the order 1, 3, 2, 4:
  1. the full pipeline: Postfix with port 25's milters (OpenDKIM, OpenDMARC and SpamAssassin's
     milter; dkimpy-milter only signs and is not among them), into Dovecot: MESSAGES messages
     from mx1.peer.test with Postfix's smtp-source, one in LARGE_SHARE of them of LARGE bytes
     (beyond the milter's scan bound, as spamc's: passed on unscanned, never buffered whole),
     the rest of 2 KB, sent at once by two smtp-source, timed until every one is in alice's
     mailbox (none lost: the delivered count must equal the sent count);
  2. the filtering pipeline: the same messages through the same Postfix and milters, timed
     until the last is accepted (SMTP, the milters and spamd, the queue file). Postfix holds
     them in its queue for the run (an end-of-data restriction, HOLD, then put back), so that
     Dovecot's delivery, which spamc does not make either, stays out of the clock and off the
     CPU while it runs; then they are released, delivered and counted, none lost;
  3. spamc scanning the messages of run 1 straight against the same spamd, as many at once as
     spamd has children: the ceiling that filtering allows on this machine;
  4. the same Postfix into Dovecot with no milter (its milter lists emptied for the run, then
     put back).
SpamAssassin's Bayes database (site-wide, learning automatically) is emptied before each run,
and the benchmark's earlier messages are expunged from alice's mailbox, so that every run, and
every benchmark run, starts from the same state: a database or a Maildir grown by earlier runs
(each delivery lists the Maildir) would make the work, and so the figures, depend on the
history. While a run lasts the harness stays off the measured machine's CPU: it waits for the
deliveries from within the container, counting the Maildir's files, instead of calling
`podman exec` (a heavy process on these same two cores) again and again.
The four runs make a round, and ROUNDS rounds are made; each figure is printed as the
minimum, median and maximum over the rounds, each ratio taken within its round. Target: the
median of the filtering pipeline's ratio to the ceiling (run 2's rate over run 3's) at 0.9 or
better (PASS or MISS). The full pipeline's ratio (run 1's over run 3's) is printed beside it.
Prints figures, passes or fails nothing on a time.

It also prints what the full pipeline could reach at best on these cores: Postfix and
Dovecot's own work (run 4's time) added to spamd's (run 3's), spamc's time over that sum, with
milters that cost nothing; and the full pipeline's rate against that bound, which is what the
milters and their protocol leave of it. Both runs are CPU-bound on the same two cores, so
their times add.
And it prints where each run's CPU went on the receiver: its cgroup's CPU seconds, and those of
each systemd unit (the unit's processes and the children they reaped), read before and after
the run, never during it.

OpenDKIM runs with the production resolver setting for the benchmark: the lab's setting
(opendkim__unreserved_zones, a resolver file that OpenDKIM parses for every message) crashes
it under concurrent mail. The benchmark's messages are unsigned: no key is looked up.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.bench.speed import spread, stamp

RECEIVER = "mx1.example.test"
SENDER = "mx1.peer.test"
MAILBOX = "alice@example.test"
MESSAGES = 1000
SESSIONS = 10
SMALL = 2048
# One message in LARGE_SHARE is of LARGE bytes: large mail must not slow the rest down.
LARGE = 2 * 1024 * 1024
LARGE_SHARE = 10
# The spamassassin role's spamassassin__max_scan_size (default), spamc's own -s default.
SCAN_BOUND = 512000
TARGET = 0.9
# Rounds of the three runs: the machine's speed moves from minute to minute, the median of a
# few rounds less.
ROUNDS = 3
MAILDIR = "/var/vmail/example.test/alice/Maildir"


def sh(container: str, script: str, timeout: int = 900, stdin: str | None = None) -> str:
    """A shell script in a lab container (`stdin` its input); its standard output."""
    done = subprocess.run(
        ["podman", "exec", "-i", container, "bash", "-c", script],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{container}: {script[:80]}: {done.stderr.strip()[-500:]}")
    return done.stdout


# The benchmark's messages, by their subject: "<SUBJECT> <run> <id>".
SUBJECT = "mail-bench"
# alice's messages in INBOX and Junk: one file each in the Maildir's new/ and cur/ (a message
# is moved there, whole, once delivered).
COUNT = (
    f"find {MAILDIR}/new {MAILDIR}/cur {MAILDIR}/.Junk/new {MAILDIR}/.Junk/cur"
    " -maxdepth 1 -type f 2>/dev/null | wc -l"
)


def delivered() -> int:
    """Messages in alice's mailboxes (INBOX and Junk)."""
    return int(sh(RECEIVER, COUNT))


def wait_delivered(count: int, seconds: int = 1800) -> int:
    """Waits, within the receiver, until alice has `count` messages or `seconds` passed; how
    many she has then."""
    loop = (
        f"deadline=$((SECONDS + {seconds}));"
        f' while n=$({COUNT}); [ "$n" -lt {count} ] && [ $SECONDS -lt $deadline ];'
        ' do sleep 0.2; done; echo "$n"'
    )
    return int(sh(RECEIVER, loop, timeout=seconds + 60))


def expunge_bench_mail() -> None:
    """alice's messages of earlier benchmark runs expunged."""
    sh(RECEIVER, f"doveadm expunge -u {MAILBOX} mailbox '*' subject {SUBJECT}")


# The CPU seconds spent so far in the container, by systemd unit: each live process's own and
# its reaped children's, summed by the unit its cgroup names; "all" is the container's cgroup.
# Processes of `podman exec` (the harness's own, spamc's in run 3) belong to no unit: they
# count in "all" only.
CPU_BY_UNIT = r"""
import collections, glob, json, os
tick = os.sysconf("SC_CLK_TCK")
units = collections.Counter()
for stat in glob.glob("/proc/[0-9]*/stat"):
    try:
        fields = open(stat).read().rpartition(")")[2].split()
        cgroup = open(stat[:-4] + "cgroup").read()
    except OSError:
        continue
    paths = dict(line.split(":", 2)[1:] for line in cgroup.splitlines())
    unit = paths.get("name=systemd", paths.get("", "")).rpartition("/")[2]
    if unit.endswith(".service"):
        units[unit[: -len(".service")]] += sum(int(f) for f in fields[11:15]) / tick
units["all"] = int(open("/sys/fs/cgroup/cpuacct/cpuacct.usage").read()) / 1e9
print(json.dumps(units))
"""


def cpu_by_unit() -> dict[str, float]:
    """The receiver's CPU seconds so far, by systemd unit, and "all" (CPU_BY_UNIT)."""
    return dict(json.loads(sh(RECEIVER, "python3 -", stdin=CPU_BY_UNIT)))


def cpu_since(before: dict[str, float]) -> dict[str, float]:
    """The receiver's CPU seconds, by unit, since `before`."""
    after = cpu_by_unit()
    return {unit: after[unit] - before.get(unit, 0.0) for unit in after}


@dataclass(frozen=True)
class Run:
    label: str
    messages: int
    seconds: float
    # The receiver's CPU seconds over the run, by systemd unit and "all" (cpu_by_unit).
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


# The benchmark's envelope sender.
BENCH_SENDER = "bench@peer.test"


def send(subject: str) -> None:
    """MESSAGES messages to MAILBOX by smtp-source from SENDER, one in LARGE_SHARE of LARGE
    bytes; returns once the receiver has accepted the last one (smtp-source fails on any
    refusal)."""
    large = MESSAGES // LARGE_SHARE
    sources = [
        shlex.join(
            [
                "smtp-source",
                *("-m", str(count), "-s", str(sessions), "-l", str(size)),
                *("-f", BENCH_SENDER, "-t", MAILBOX, "-S", subject, "-M", SENDER),
                f"{RECEIVER}:25",
            ]
        )
        for count, sessions, size in (
            (MESSAGES - large, SESSIONS - 1, SMALL),
            (large, 1, LARGE),
        )
    ]
    sh(SENDER, " & ".join(sources) + " & wait -n && wait -n")


def all_delivered(label: str, before: int) -> None:
    """Waits until alice has MESSAGES more messages than `before`; fails if some are lost."""
    count = wait_delivered(before + MESSAGES) - before
    if count != MESSAGES:
        raise RuntimeError(f"{label}: {count} of {MESSAGES} messages delivered: some were lost")


def measured(action: Callable[[], object]) -> tuple[float, dict[str, float]]:
    """`action` done: its seconds, and the receiver's CPU seconds by unit over them."""
    cpu = cpu_by_unit()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    return seconds, cpu_since(cpu)


@contextmanager
def main_cf(settings: dict[str, str]) -> Iterator[None]:
    """Postfix with main.cf's `settings` for a run, then main.cf as it was: a parameter it set
    is set back, one it did not is removed again."""
    names = list(settings)
    # The parameters main.cf sets ("name = value", or "name =" for an empty value).
    own = {
        name.strip(): value.strip()
        for name, _, value in (
            line.partition("=")
            for line in sh(RECEIVER, shlex.join(["postconf", "-n", *names])).splitlines()
        )
    }
    changed = [f"{name}={value}" for name, value in settings.items()]
    sh(RECEIVER, f"{shlex.join(['postconf', '-e', *changed])} && postfix reload")
    try:
        yield
    finally:
        back = []
        if own:
            back.append(shlex.join(["postconf", "-e", *(f"{n}={v}" for n, v in own.items())]))
        if gone := [name for name in names if name not in own]:
            back.append(shlex.join(["postconf", "-X", *gone]))
        sh(RECEIVER, " && ".join([*back, "postfix reload"]))


def through_postfix(label: str, subject: str) -> Run:
    """The messages of `send`, timed until the last is in the mailbox."""
    before = delivered()

    def run() -> None:
        send(subject)
        all_delivered(label, before)

    seconds, cpu = measured(run)
    return Run(label, MESSAGES, seconds, cpu)


# Holds the benchmark's mail in Postfix's queue once it is accepted (after the milters):
# the restriction list that through_filters sets for its run, then puts back.
HOLD_LIST = "smtpd_end_of_data_restrictions"
HOLD = f"check_sender_access inline:{{ {BENCH_SENDER}=HOLD }}"
# Releases the benchmark's held mail (the held queue files to MAILBOX alone, from
# `postqueue -j`; their sender is rewritten by SRS by then) and delivers it.
RELEASE = rf"""
postqueue -j | python3 -c '
import json, sys
for line in sys.stdin:
    entry = json.loads(line)
    to = [recipient["address"] for recipient in entry["recipients"]]
    if entry["queue_name"] == "hold" and to == ["{MAILBOX}"]:
        print(entry["queue_id"])
' | postsuper -H - && postqueue -f
"""


def through_filters(subject: str) -> Run:
    """The messages of `send` through the full pipeline, timed until the last is accepted:
    SMTP, the milters and spamd, the queue file; they are held there (HOLD), then released
    and delivered once the clock has stopped, and counted."""
    label = "Postfix + the 3 milters, held in the queue"
    before = delivered()
    try:
        with main_cf({HOLD_LIST: HOLD}):
            seconds, cpu = measured(lambda: send(subject))
    finally:
        sh(RECEIVER, RELEASE)
    all_delivered(label, before)
    return Run(label, MESSAGES, seconds, cpu)


# main.cf's lists of milters: port 25 takes inbound_milters (master.cf).
MILTER_LISTS = ("smtpd_milters", "non_smtpd_milters", "inbound_milters")


def without_milters(subject: str) -> Run:
    with main_cf(dict.fromkeys(MILTER_LISTS, "")):
        return through_postfix("Postfix into Dovecot, no milter", subject)


def spamc_ceiling(subject: str) -> Run:
    """spamc on the messages that run 1 delivered, as many at once as spamd has children."""
    children = sh(RECEIVER, "grep -o -- '--max-children [0-9]*' /etc/default/spamd").split()[-1]
    files = f"grep -rlF -- {shlex.quote(subject)} {MAILDIR} | head -n {MESSAGES}"
    count = int(sh(RECEIVER, f"{files} | wc -l"))
    # Those above the milter's bound are not scanned there, nor by spamc (its own -s): only
    # the others go to spamd, and the large ones count as passed at no cost, as in run 1.
    within = f"{files} | xargs -r stat -c '%s %n' | awk '$1 <= {SCAN_BOUND} {{print $2}}'"
    scan = f"{within} | xargs -P {children} -I{{}} sh -c 'spamc -x < \"$1\" > /dev/null' _ {{}}"
    seconds, cpu = measured(lambda: sh(RECEIVER, scan))
    return Run(f"spamc straight to spamd ({children} at once)", count, seconds, cpu)


def reset_bayes() -> None:
    """Empty SpamAssassin's Bayes database (bayes_path of local.cf), as its owner would."""
    path = sh(RECEIVER, "sed -n 's/^bayes_path[[:space:]]*//p' /etc/spamassassin/local.cf").strip()
    path = path or "/var/lib/spamassassin/bayes/bayes"
    # sa-learn --clear removes the database and its journal under spamd's lock; when there is
    # no database yet it has nothing to clear and says so, which is no failure here.
    sh(
        RECEIVER,
        "runuser -u debian-spamd -- sa-learn --clear >/dev/null 2>&1 || true;"
        f" rm -f {shlex.quote(path)}_toks {shlex.quote(path)}_seen {shlex.quote(path)}_journal",
    )


@contextmanager
def production_resolver() -> Iterator[None]:
    """OpenDKIM with `Nameservers 127.0.0.1` (the role's default) instead of the lab's file."""
    conf = "/etc/opendkim.conf"
    sh(RECEIVER, f"cp -p {conf} {conf}.bench")
    sh(
        RECEIVER,
        f"sed -i 's|^ResolverConfiguration.*|Nameservers 127.0.0.1|' {conf}"
        f" && opendkim -n -x {conf} && systemctl restart opendkim",
    )
    try:
        yield
    finally:
        sh(RECEIVER, f"mv {conf}.bench {conf} && systemctl restart opendkim")


@dataclass(frozen=True)
class Round:
    """One round of the four runs, in the same minutes."""

    filtering: Run
    full: Run
    plain: Run
    ceiling: Run

    @property
    def filtering_ratio(self) -> float:
        return self.filtering.rate / self.ceiling.rate

    @property
    def ratio(self) -> float:
        return self.full.rate / self.ceiling.rate

    @property
    def bound(self) -> float:
        return self.ceiling.seconds / (self.ceiling.seconds + self.plain.seconds)


def one_round() -> Round:
    full_subject = f"{SUBJECT} full {uuid.uuid4().hex[:8]}"
    expunge_bench_mail()
    reset_bayes()
    full = through_postfix("Postfix + the 3 milters, into Dovecot", full_subject)
    # spamc reads the messages of the full run, which then make way for the next run.
    reset_bayes()
    ceiling = spamc_ceiling(full_subject)
    expunge_bench_mail()
    reset_bayes()
    filtering = through_filters(f"{SUBJECT} held {uuid.uuid4().hex[:8]}")
    expunge_bench_mail()
    reset_bayes()
    plain = without_milters(f"{SUBJECT} plain {uuid.uuid4().hex[:8]}")
    expunge_bench_mail()
    return Round(filtering, full, plain, ceiling)


def main(loop: float) -> None:
    tag = stamp(loop)
    print(
        f"mail through {RECEIVER} (lab), {MESSAGES} messages from {SENDER}, {SESSIONS} sessions,"
        f" one in {LARGE_SHARE} of {LARGE // (1024 * 1024)} MiB, Bayes database emptied before"
        f" each run, {ROUNDS} rounds:"
    )
    with production_resolver():
        rounds = [one_round() for _ in range(ROUNDS)]
    # Each kind of run over the rounds.
    kinds: list[list[Run]] = [
        [r.filtering for r in rounds],
        [r.full for r in rounds],
        [r.plain for r in rounds],
        [r.ceiling for r in rounds],
    ]
    for runs in kinds:
        rates = spread([run.rate for run in runs], "6.1f")
        print(f"  {runs[0].label:<56} msg/s {rates}  {tag}")
    filtering = [r.filtering_ratio for r in rounds]
    verdict = "PASS" if statistics.median(filtering) >= TARGET else "MISS"
    print(
        f"  {'ratio filtering pipeline (held) / spamc to spamd':<56}       "
        f"{spread(filtering, '5.2f')}  target >= {TARGET} (median)  {verdict}  {tag}"
    )
    ratios = spread([r.ratio for r in rounds], "5.2f")
    print(f"  {'ratio full pipeline into Dovecot / spamc to spamd':<56}       {ratios}  {tag}")
    bounds = spread([r.bound for r in rounds], "5.2f")
    print(f"  {'bound: spamc time / (spamc time + no-milter time)':<56}       {bounds}  {tag}")
    shares = spread([r.ratio / r.bound for r in rounds], "5.2f")
    print(f"  {'full pipeline into Dovecot ratio / that bound':<56}       {shares}  {tag}")
    print(f"  CPU seconds on {RECEIVER} by systemd unit, median of the rounds:")
    for runs in kinds:
        print(f"    {runs[0].label}: {cpu_shares(runs)}")


# A unit's share of a run's CPU below which cpu_shares leaves it out.
SHOWN_SHARE = 0.005


def cpu_shares(runs: list[Run]) -> str:
    """The container's CPU seconds over `runs` (median), then each unit's that took at least
    SHOWN_SHARE of them, the other units' together, and the processes' of no unit (the
    harness's, spamc's)."""

    def median(unit: str) -> float:
        return statistics.median(run.cpu.get(unit, 0.0) for run in runs)

    total = median("all")
    seen = {u for run in runs for u in run.cpu if u != "all"}
    units = sorted(seen, key=median, reverse=True)
    shown = [u for u in units if median(u) >= SHOWN_SHARE * total]
    parts = [f"{u} {median(u):.1f}" for u in shown]
    others = sum(median(u) for u in units if u not in shown)
    rest = statistics.median(
        run.cpu["all"] - sum(run.cpu.get(u, 0.0) for u in units) for run in runs
    )
    return f"{total:.1f} s = " + ", ".join(
        [*parts, f"other units {others:.1f}", f"no unit {rest:.1f}"]
    )
