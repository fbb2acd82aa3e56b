"""`music_lookup`: MusicBrainz recordings for music videos, against a local fake MusicBrainz and Cover Art
Archive: the match and its MBIDs, ISRC and cover, the cache, one request a second across jobs, 503 retried,
400 refused, and the lookup as a follow-up of `video_info`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from jobcommon import JobClient, JobStatus
from metadata.music_titles import artist_and_song
from metadata.musicbrainz import best_recording, search_query
from tests.cluster import Cluster
from tests.support.fake_musicbrainz import FakeMusicBrainz, KnownRecording
from tests.support.httpserver import MediaServer

DARK = KnownRecording("Dark Artist", "Dark Song", "d" * 8 + "-1111-1111-1111-" + "1" * 12, "a1", "dark-1", "")
ELSEWHERE = KnownRecording(
    "Far Artist", "Far Song", "f" * 8 + "-2222-2222-2222-" + "2" * 12, "a2", "evil-1", ""
)
DAFT = KnownRecording(
    artist="Daft Punk",
    title="One More Time",
    recording_id="6f2c4b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c",
    artist_id="056e4f3e-d505-4dad-8ec1-d04f521cbb56",
    release_id="48117b90-a16e-34ca-a514-19c702df1158",
    isrc="GBDUW0000059",
)
UA = "mediajobs-tests/1.0 ( tests@example.org )"


@pytest.mark.parametrize(
    ("title", "uploader", "expected"),
    [
        ("Daft Punk - One More Time (Official Video)", None, ("Daft Punk", "One More Time", False)),
        ("Daft Punk – One More Time [HD Remastered]", "x", ("Daft Punk", "One More Time", False)),
        ("Daft Punk - One More Time | Official Video", None, ("Daft Punk", "One More Time", False)),
        ("Daft Punk - One More Time - YouTube", None, ("Daft Punk", "One More Time", False)),
        (
            "Daft Punk - One More Time (Official Video) (1)",
            None,
            ("Daft Punk", "One More Time", False),
        ),  # yt-dlp
        ("One More Time (Official Music Video)", "DaftPunkVEVO", ("Daft Punk", "One More Time", True)),
        ("One More Time ft. Romanthony", "Daft Punk - Topic", ("Daft Punk", "One More Time", True)),
        ('"One More Time"', None, (None, "One More Time", False)),
    ],
)
def test_artist_and_song_are_read_from_a_music_videos_title(
    title: str, uploader: str | None, expected: tuple[str | None, str, bool]
) -> None:
    guess = artist_and_song(title, uploader)
    assert (guess.artist, guess.song, guess.from_uploader) == expected


def test_the_search_escapes_lucene_and_picks_the_first_official_release() -> None:
    assert search_query('AC/DC "Live"', "T.N.T.") == 'recording:"T.N.T." AND artist:"AC\\/DC \\"Live\\""'
    assert search_query(None, "a:b") == 'recording:"a\\:b"'
    fake = FakeMusicBrainz(known=[DAFT])
    status, answer = fake.answer(search_query("daft punk", "one more time"))
    assert status == 200
    found = best_recording(answer, 85)
    assert found is not None
    assert found.release is not None
    assert (found.id, found.release.id, found.isrcs, found.length_s) == (
        DAFT.recording_id,
        DAFT.release_id,
        [DAFT.isrc],
        320.357,
    )
    assert best_recording(fake.answer(search_query(None, "Nobody Knows This"))[1], 85) is None


@pytest.fixture
def musicbrainz() -> Iterator[FakeMusicBrainz]:
    fake = FakeMusicBrainz(known=[DAFT, DARK, ELSEWHERE]).start()
    yield fake
    fake.stop()


@pytest.fixture
async def metadata(cluster: Cluster, musicbrainz: FakeMusicBrainz) -> AsyncIterator[JobClient]:
    cluster.start(
        "metadata",
        MUSICBRAINZ_URL=f"{musicbrainz.base_url}/ws/2",
        COVERART_URL=musicbrainz.base_url,
        MUSICBRAINZ_USER_AGENT=UA,
    )
    async with JobClient(cluster.settings) as client:
        yield client


async def test_a_lookup_finds_the_recording_saves_the_cover_and_is_cached(
    metadata: JobClient, musicbrainz: FakeMusicBrainz, cluster: Cluster
) -> None:
    made = await metadata.submit(
        {"job_type": "music_lookup", "artist": "Daft Punk", "title": "One More Time"}
    )
    job = await metadata.wait(made.job.task_id, timeout=60)
    assert job.status == JobStatus.SUCCEEDED, (job.error, cluster.logs()[-3000:])
    result = job.result or {}
    assert result["matched"] is True
    assert result["cached"] is False
    recording = result["recording"]
    assert (recording["id"], recording["isrcs"], recording["score"]) == (DAFT.recording_id, [DAFT.isrc], 100)
    assert recording["artists"] == [{"name": "Daft Punk", "id": DAFT.artist_id}]
    assert recording["release"]["id"] == DAFT.release_id  # the official release, not the earlier bootleg
    cover = cluster.media_root / result["path"]
    assert cover.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG, fetched through the archive's redirect
    assert {s.user_agent for s in musicbrainz.searches()} == {UA}
    again = await metadata.submit(
        {"job_type": "music_lookup", "artist": "daft punk ", "title": "one more time"}
    )
    cached = await metadata.wait(again.job.task_id, timeout=60)
    assert (cached.result or {})["cached"] is True
    assert len(musicbrainz.searches()) == 1  # the second asked MusicBrainz nothing
    nothing = await metadata.submit(
        {"job_type": "music_lookup", "title": "Nobody Knows This", "cover": False}
    )
    unmatched = await metadata.wait(nothing.job.task_id, timeout=60)
    assert unmatched.status == JobStatus.SUCCEEDED
    assert (unmatched.result or {})["matched"] is False


async def test_lookups_keep_to_one_request_a_second_503_is_retried_and_400_fails(
    metadata: JobClient, musicbrainz: FakeMusicBrainz, cluster: Cluster
) -> None:
    musicbrainz.busy_next = 1
    titles = ["First Song", "Second Song", "Third Song"]
    made = await metadata.submit_many(
        [{"job_type": "music_lookup", "title": t, "cover": False} for t in titles]
    )
    jobs = [await metadata.wait(m.job.task_id, timeout=60) for m in made]
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED] * 3, cluster.logs()[-3000:]
    assert sorted(j.attempts for j in jobs) == [1, 1, 2]  # the one MusicBrainz answered 503 ran again
    times = [s.at for s in musicbrainz.searches()]
    assert len(times) == 4
    # MusicBrainz's one request a second, across the jobs (turns 1 s apart; a deferred job may start up to
    # an interval after its turn, so single gaps vary, the rate does not)
    assert times[-1] - times[0] >= 2.5, times
    refused = await metadata.submit({"job_type": "music_lookup", "title": "refuse me"})
    failed = await metadata.wait(refused.job.task_id, timeout=60)
    assert failed.status == JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.type == "MusicBrainzRefused"
    assert failed.attempts == 1


async def test_a_lookup_follows_video_info_and_reads_the_artist_from_the_title(
    metadata: JobClient, musicbrainz: FakeMusicBrainz, media_server: MediaServer, cluster: Cluster
) -> None:
    musicbrainz.video_pages["omt"] = (
        "Daft Punk - One More Time (Official Video)",
        media_server.url("clip.mp4"),
    )
    made = await metadata.submit(
        {
            "job_type": "video_info",
            "url": f"{musicbrainz.base_url}/video/omt",
            "then": [{"job_type": "music_lookup"}],
        }
    )
    info = await metadata.wait(made.job.task_id, timeout=60)
    assert info.status == JobStatus.SUCCEEDED, (info.error, cluster.logs()[-3000:])
    (follow_up,) = info.children
    lookup = await metadata.wait(follow_up, timeout=60)
    assert lookup.status == JobStatus.SUCCEEDED, (lookup.error, cluster.logs()[-3000:])
    result = lookup.result or {}
    assert (result["artist"], result["title"], result["matched"]) == ("Daft Punk", "One More Time", True)
    assert await asyncio.to_thread((cluster.media_root / result["path"]).is_file)


async def test_a_cover_the_archive_refuses_or_sends_elsewhere_leaves_the_match_without_one(
    metadata: JobClient, musicbrainz: FakeMusicBrainz, cluster: Cluster
) -> None:
    for known, why in ((DARK, "HTTP 403"), (ELSEWHERE, "not archive.org")):
        made = await metadata.submit(
            {"job_type": "music_lookup", "artist": known.artist, "title": known.title}
        )
        job = await metadata.wait(made.job.task_id, timeout=60)
        assert job.status == JobStatus.SUCCEEDED, (job.error, cluster.logs()[-3000:])
        result = job.result or {}
        assert result["matched"] is True
        assert result["path"] is None
        assert why in result["cover_error"]
    assert len([s for s in musicbrainz.seen() if s.path.startswith("/release/evil-")]) == 1  # not followed
