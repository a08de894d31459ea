"""The job store: claims never overlap, leases run out, dead owners' jobs come back.

Two services sharing one store (each with its own libtorrent session) run
one batch between them; every job is taken by exactly one of them, once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections import Counter
from pathlib import Path

import pytest

from torframes.service import JobOptions, JobStore, ScreenshotService
from torframes.service.jobs import job_key, source_spec
from torframes.service.retry import Backoff
from torframes.service.store import LeaseLost, new_owner, owner_is_dead

PIECE = 16 * 1024


def add_jobs(store: JobStore, count: int, prefix: str = "job") -> list[int]:
    options = JobOptions()
    rows = []
    for i in range(count):
        spec = source_spec(f"magnet:?xt=urn:btih:{i:040x}&dn={prefix}{i}")
        rows.append((job_key(spec, options), spec, options, f"{prefix}-{i}"))
    return [job_id for job_id, _ in store.add(rows)]


def test_threads_on_separate_connections_never_claim_the_same_job(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    ids = add_jobs(JobStore(path), 200)
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()
    # Every thread holds a claim before any goes on, so all eight really race.
    all_started = threading.Barrier(8)

    def claimer(name: str) -> None:
        store = JobStore(path)  # a connection of its own, like another process
        first = True
        while (job := store.claim(name, lease=60)) is not None:
            with lock:
                claimed.append((name, job.id))
            if first:
                all_started.wait(timeout=30)
                first = False
            assert store.finish(job.id, name, job.attempt, outcome="done")
        store.close()

    threads = [threading.Thread(target=claimer, args=(f"owner-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = Counter(job for _, job in claimed)
    assert sorted(jobs) == ids
    assert set(jobs.values()) == {1}
    assert len({owner for owner, _ in claimed}) == 8
    store = JobStore(path)
    assert store.counts() == {"queued": 0, "running": 0, "done": 200, "failed": 0}
    assert all(a["outcome"] == "done" for a in store.attempts())


def owner_like(**changes: object) -> str:
    """This process's owner name with some of its parts changed."""
    names = ("host", "pid", "token", "boot", "namespace", "start")
    parts = dict(zip(names, new_owner().split("|"), strict=True))
    parts.update({name: str(value) for name, value in changes.items()})
    return "|".join(parts[name] for name in names)


def start_time(pid: int) -> str:
    """Field 22 of proc(5) ``/proc/<pid>/stat``: when the process started, in ticks after boot."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]


def test_an_owner_is_dead_only_when_its_pid_names_no_process_this_one_can_see(
    tmp_path: Path,
) -> None:
    """PIDs of another container (same host name, same kernel) or a reused PID mislead no one."""
    gone = 2**22 + 12345  # above any pid this system hands out
    parent = os.getppid()
    assert owner_is_dead(owner_like(pid=gone))
    assert not owner_is_dead(owner_like(pid=parent, start=start_time(parent)))
    # the PID now names another process than the one that held the lease
    assert owner_is_dead(owner_like(pid=parent, start=int(start_time(parent)) + 1))
    # another PID namespace (a container sharing the host name and the kernel):
    # its PIDs say nothing here, whether or not they name a process here
    assert not owner_is_dead(owner_like(pid=gone, namespace="pid:[1]"))
    assert not owner_is_dead(owner_like(pid=parent, namespace="pid:[1]", start=1))
    # another kernel boot (or another machine with the same host name)
    assert not owner_is_dead(owner_like(pid=gone, boot="00000000-0000-0000-0000-000000000000"))
    # an owner name without the identity: only its lease can run out
    assert not owner_is_dead(f"{socket.gethostname()}|{gone}|token")

    # two containers sharing a host name and a store keep each other's live jobs
    store = JobStore(tmp_path / "shared.sqlite")
    [job_id] = add_jobs(store, 1)
    other = owner_like(pid=gone, namespace="pid:[1]")
    assert store.claim(other, lease=3600) is not None
    assert store.claim(new_owner(), lease=60) is None
    row = store.job(job_id)
    assert row is not None
    assert (row["status"], row["lease_owner"]) == ("running", other)
    store.close()


def test_taking_over_dead_owners_jobs_leaves_nothing_behind_in_the_store(tmp_path: Path) -> None:
    """A long-lived store that takes over many dead owners' jobs does not grow in memory."""
    store = JobStore(tmp_path / "jobs.sqlite")
    ids = add_jobs(store, 300)
    me = new_owner()

    def held() -> int:
        return sum(len(v) for v in vars(store).values() if isinstance(v, set | dict | list))

    before = held()
    for i, job_id in enumerate(ids):
        assert store.claim(owner_like(pid=2**22 + i), lease=3600) is not None
        taken = store.claim(me, lease=60)
        assert taken is not None
        assert taken.id == job_id
        assert store.finish(job_id, me, taken.attempt, outcome="done")
    assert held() == before
    store.close()


def test_leases_expire_and_dead_owners_lose_their_jobs_at_once(tmp_path: Path) -> None:
    me = "me|1|z"

    # a live owner on another host: its job stays its own until its lease runs out
    remote = JobStore(tmp_path / "remote.sqlite")
    add_jobs(remote, 1)
    assert remote.claim("elsewhere|1|a", lease=3600) is not None
    assert remote.claim(me, lease=60) is None

    # an owner on this host whose process is gone: its job is taken at once
    dead = JobStore(tmp_path / "dead.sqlite")
    [job_id] = add_jobs(dead, 1)
    dead_owner = owner_like(pid=2**22 + 12345)  # above any pid this system hands out
    assert owner_is_dead(dead_owner)
    assert not owner_is_dead(new_owner())
    assert not owner_is_dead(owner_like(host="elsewhere", pid=2**22 + 12345))
    assert dead.claim(dead_owner, lease=3600) is not None
    taken = dead.claim(me, lease=60)
    assert taken is not None
    assert taken.id == job_id
    assert taken.interrupted
    assert taken.attempt == 2
    assert [a["outcome"] for a in dead.attempts(job_id)] == ["interrupted", None]

    # an owner whose lease ran out comes back: its writes change nothing
    lapsed = JobStore(tmp_path / "lapsed.sqlite")
    [job_id] = add_jobs(lapsed, 1)
    assert lapsed.claim("elsewhere|2|c", lease=-1) is not None
    assert lapsed.claim(me, lease=60) is not None
    with pytest.raises(LeaseLost):
        lapsed.progress(job_id, "elsewhere|2|c", frames=1)
    assert not lapsed.finish(job_id, "elsewhere|2|c", 1, outcome="done")
    assert lapsed.finish(job_id, me, 2, outcome="done")
    assert [a["outcome"] for a in lapsed.attempts(job_id)] == ["interrupted", "done"]
    row = lapsed.job(job_id)
    assert row is not None
    assert row["status"] == "done"


def test_retry_backoff_and_same_torrent_jobs_never_run_together(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    options = [JobOptions(n=1), JobOptions(n=2)]
    spec = source_spec("magnet:?xt=urn:btih:" + "ab" * 20)
    ids = [i for i, _ in store.add([(job_key(spec, o), spec, o, "ab" * 20) for o in options])]
    job = store.claim("a|1|x", lease=60)
    assert job is not None
    assert job.id == ids[0]
    assert store.claim("b|1|y", lease=60) is None  # same torrent: waits for the first
    assert store.finish(job.id, "a|1|x", 1, outcome="retry", error_kind="NoPeers", delay=3600)
    other = store.claim("b|1|y", lease=60)
    assert other is not None
    assert other.id == ids[1]
    assert store.claim("b|1|y", lease=60) is None  # the first waits out its backoff
    due = store.next_due()
    assert due is not None
    row = store.job(ids[0])
    assert row is not None
    assert row["retries"] == 1
    assert row["error_kind"] == "NoPeers"
    # submitting the same source and options again names the same job
    again = store.add([(job_key(spec, options[0]), spec, options[0], "ab" * 20)])
    assert again == [(ids[0], False)]


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(base=2.0, cap=10.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    jittered = Backoff(base=2.0, cap=10.0, jitter=0.5)
    assert all(1.0 <= jittered.delay(1) <= 2.0 for _ in range(50))


def test_job_options_are_checked() -> None:
    assert JobOptions.make(fmt="JPG").fmt == "jpeg"
    with pytest.raises(TypeError, match="unknown job options: colour"):
        JobOptions.make(colour="red")
    for bad in ({"n": -1}, {"strategy": "random"}, {"fmt": "gif"}, {"keyframes": "xls"}):
        with pytest.raises(ValueError):  # noqa: PT011
            JobOptions.make(**bad)
    options = JobOptions.make(times=[1, 2.5], peers=[("127.0.0.1", 6881)], output=Path("x"))
    assert JobOptions.from_json(options.to_json()) == options


@pytest.mark.swarm
async def test_two_services_share_one_store(
    swarm, clip: Path, tmp_path: Path, settings_for
) -> None:
    data = clip.read_bytes()
    seeds = [await swarm.aseed({f"shared-{i}.mp4": data}, piece_size=PIECE) for i in range(16)]
    path = tmp_path / "jobs.sqlite"
    settings = settings_for(service_metadata_concurrency=2)
    first = ScreenshotService(settings, workers=2, store=path, n=1)
    second = ScreenshotService(settings, workers=2, store=path, n=1)
    async with first, second:
        ids = await first.submit_many([s.magnet for s in seeds])
        assert await second.submit_many([s.magnet for s in seeds]) == ids  # the same jobs
        one, two = await asyncio.gather(first.run(), second.run())
        attempts = first.store.attempts()
    assert (one["status"] == "done").all()
    assert one.equals(two)
    owners = Counter(a["owner"] for a in attempts)
    assert set(owners) == {first.owner, second.owner}  # both took some
    assert sorted(a["job_id"] for a in attempts) == ids  # each job once
    for seed in seeds:
        row = one[one["source"] == seed.magnet].iloc[0]
        assert row["attempts"] == 1
        assert seed.wait_uploaded(row["piece_floor"]) == row["piece_floor"]
