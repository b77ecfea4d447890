"""The collation on real PostgreSQL and a real HTTP S3 server: print files hold exactly the letters due, each once;
files split at 500 letters and at the size limit; letters move to sending; a missing PDF fails loudly and keeps its
letter; a re-run sends nothing twice; an interrupted hand-over is settled by the next run."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa

from notify_pipelines.core.calendar import print_deadline
from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines.printing import collate as collate_module
from notify_pipelines.printing import print_files as pf
from notify_pipelines.printing.collate import CollationRefused
from notify_pipelines_tests.conftest import TEST_BUCKETS, TEST_PRINT_BUCKET
from notify_pipelines_tests.printing.helpers import (
    N,
    add_letter,
    bulk_letters,
    collate,
    letter_rows,
    letter_template,
    letters_in_files,
    print_bucket_keys,
    print_files,
    put_pdfs,
)

DAY = dt.date(2021, 6, 15)
T = dt.datetime
ORG = uuid.UUID("0000000a-0000-0000-0000-00000000000a")
NAME = re.compile(r"^2021-06-15/NOTIFY\.2021-06-15\.(1|2|ECONOMY|E|N)\.(\d{3})\.([A-Za-z0-9_-]{20})\."
                  r"([0-9a-f-]{36})\.([0-9a-f-]{36}|NONE)\.ZIP$")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@pytest.fixture
def letters(engine, s3_client):
    """Two services (one in an organisation) with letters of several postages due on DAY, and letters that are not."""
    with engine.begin() as conn:
        with_org = letter_template(conn, organisation_id=ORG, service_id=uuid.UUID(int=1))
        without = letter_template(conn, service_id=uuid.UUID(int=2))
        due = set()
        for i, postage in enumerate(["first", "second", "second", "economy", "europe", "rest-of-world", "second"]):
            for template in (with_org, without):
                due.add(add_letter(conn, template, T(2021, 6, 15, 8, i), postage=postage, billable_units=1 + i % 5))
        due.add(add_letter(conn, with_org, T(2021, 6, 10, 9, 0)))  # an earlier day's, still created
        not_due = {
            add_letter(conn, with_org, T(2021, 6, 15, 16, 30)),  # 17:30 BST: after the deadline
            add_letter(conn, with_org, T(2021, 6, 15, 9, 0), billable_units=0),
            add_letter(conn, with_org, T(2021, 6, 15, 9, 0), key_type="test"),
            add_letter(conn, with_org, T(2021, 6, 15, 9, 0), key_type="team"),
            add_letter(conn, with_org, T(2021, 6, 15, 9, 0), status="delivered"),
        }
    keys = put_pdfs(s3_client, letter_rows(engine))
    return {"due": due, "not_due": not_due, "keys": keys}


def statuses(engine, ids) -> dict[uuid.UUID, tuple]:
    rows = letter_rows(engine, N.id.in_(list(ids)))
    return {r.id: (r.notification_status, r.sent_by, r.sent_at) for r in rows}


def test_print_files_hold_exactly_the_due_letters_each_once(engine, s3_client, letters):
    before = utc_now()
    result = collate(engine, s3_client, DAY)
    after = utc_now()
    files = print_files(s3_client)
    in_files = letters_in_files(files)
    assert Counter(in_files) == Counter(letters["due"])  # each due letter once, nothing else
    # Each PDF is the letter's own file, byte for byte, under its own name.
    for f in files.values():
        for entry in f["manifest"]["letters"]:
            key = letters["keys"][uuid.UUID(entry["id"])]
            assert entry["pdf"] == key.rsplit("/", 1)[1]
            assert f["pdfs"][entry["pdf"]].startswith(f"%PDF-1.4 letter {entry['id']}".encode())
        assert len(f["manifest"]["letters"]) == len(f["pdfs"]) == f["manifest"]["letter_count"]
    # One file per (service, postage): 2 services x 5 postages, the earlier day's letter with its service's second.
    assert len(files) == 10 and len(result.written) == 10
    groups = {(f["manifest"]["service_id"], f["manifest"]["postage"]) for f in files.values()}
    assert len(groups) == 10
    for key, f in files.items():
        match = NAME.match(key)
        assert match, key
        code, sequence, digest, service, org = match.groups()
        assert pf.POSTAGE_FROM_CODE[code] == f["manifest"]["postage"]
        assert service == f["manifest"]["service_id"]
        assert org == (str(ORG) if service == str(uuid.UUID(int=1)) else "NONE")
        assert digest == pf.content_hash([letters["keys"][uuid.UUID(e["id"])] for e in f["manifest"]["letters"]])
        postages = {e["postage"] for e in f["manifest"]["letters"]}
        assert postages == {f["manifest"]["postage"]}
    # Per postage, the day's files are numbered 001, 002, ... across services.
    numbers = Counter((m.group(1), m.group(2)) for m in map(NAME.match, files))
    assert all(count == 1 for count in numbers.values())
    assert {n for (code, n) in numbers if code == "2"} == {"001", "002"}
    # Status, sent_by and sent_at.
    for status, sent_by, sent_at in statuses(engine, letters["due"]).values():
        assert (status, sent_by) == ("sending", "dvla") and before <= sent_at <= after
    assert {s[0] for s in statuses(engine, letters["not_due"]).values()} == {"created", "delivered"}
    assert not [k for k in print_bucket_keys(s3_client) if k.startswith(pf.IN_FLIGHT_PREFIX)]
    # The volumes: letters and sheets per postage.
    sheets = {r.id: r.billable_units for r in letter_rows(engine)}
    assert result.day_volumes.letters == result.due.letters == 15
    assert result.day_volumes.sheets == sum(sheets[i] for i in letters["due"])
    assert result.day_volumes.per_postage["second"]["letters"] == 7
    assert result.due.as_dict() == result.day_volumes.as_dict()
    assert result.missing == []


def test_a_file_is_split_at_500_letters(engine, s3_client):
    with engine.begin() as conn:
        template = letter_template(conn)
        bulk_letters(conn, template, 1001, first=T(2021, 6, 15, 6, 0))
    put_pdfs(s3_client, letter_rows(engine))
    result = collate(engine, s3_client, DAY)
    files = print_files(s3_client)
    assert sorted(len(f["pdfs"]) for f in files.values()) == [1, 500, 500]
    assert sorted(key.split(".")[3] for key in files) == ["001", "002", "003"]
    assert Counter(letters_in_files(files)) == Counter(r.id for r in letter_rows(engine))
    # Letters stay in created_at order across the files.
    ordered = [e["id"] for key in sorted(files) for e in files[key]["manifest"]["letters"]]
    created = {str(r.id): r.created_at for r in letter_rows(engine)}
    assert [created[i] for i in ordered] == sorted(created.values())
    assert {s for s, _, _ in statuses(engine, created).values()} == {"sending"}
    assert result.day_volumes.letters == 1001


def test_a_file_is_split_at_its_size_limit_and_never_exceeds_it(engine, s3_client):
    with engine.begin() as conn:
        template = letter_template(conn)
        bulk_letters(conn, template, 40, first=T(2021, 6, 15, 6, 0))
    put_pdfs(s3_client, letter_rows(engine), size=10_000)
    limit = 64_000  # six 10 kB PDFs and their headers fit, seven do not
    result = collate(engine, s3_client, DAY, max_bytes=limit)
    files = print_files(s3_client)
    assert all(f["size"] <= limit for f in files.values())
    assert sorted(len(f["pdfs"]) for f in files.values()) == [4] + [6] * 6
    assert all(f["size"] == w.zip_bytes for w, f in zip(sorted(result.written, key=lambda w: w.key),
                                                        (files[k] for k in sorted(files))))
    assert Counter(letters_in_files(files)) == Counter(r.id for r in letter_rows(engine))


def test_the_40_mb_limit_is_the_default():
    assert pf.MAX_FILE_BYTES == 40 * 1024 * 1024 and pf.MAX_LETTERS_PER_FILE == 500


def test_a_missing_pdf_keeps_its_letter_created_and_the_rest_go(engine, s3_client, letters):
    lost = sorted(letters["due"])[3]
    s3_client.delete_object(Bucket=TEST_BUCKETS.letters_pdf, Key=letters["keys"][lost])
    result = collate(engine, s3_client, DAY)
    assert [m.id for m in result.missing] == [lost]
    assert result.missing[0].pdf_key == letters["keys"][lost]
    in_files = letters_in_files(print_files(s3_client))
    assert Counter(in_files) == Counter(letters["due"] - {lost})
    assert statuses(engine, [lost])[lost] == ("created", None, None)
    assert {s for s, _, _ in statuses(engine, letters["due"] - {lost}).values()} == {"sending"}

    # Once the PDF is back, a re-run sends that letter alone, in a new file.
    row = letter_rows(engine, N.id == lost)[0]
    s3_client.put_object(Bucket=TEST_BUCKETS.letters_pdf, Key=letters["keys"][lost], Body=b"%PDF-1.4 letter " + str(lost).encode())
    again = collate(engine, s3_client, DAY)
    assert [w.letters for w in again.written] == [1] and again.missing == []
    assert Counter(letters_in_files(print_files(s3_client))) == Counter(letters["due"])
    assert again.day_volumes.letters == 15 and row.notification_status == "created"


def test_a_rerun_sends_nothing_twice(engine, s3_client, letters):
    first = collate(engine, s3_client, DAY)
    keys = print_bucket_keys(s3_client)
    second = collate(engine, s3_client, DAY)
    assert second.written == [] and second.due.letters == 0
    assert print_bucket_keys(s3_client) == keys
    assert second.day_volumes.as_dict() == first.day_volumes.as_dict() and second.day_files == first.day_files


def test_the_run_of_a_day_is_refused_before_its_deadline(engine, s3_client, letters):
    with pytest.raises(CollationRefused, match="has not passed yet"):
        collate(engine, s3_client, DAY, now=lambda: T(2021, 6, 15, 16, 29, 59))
    assert print_bucket_keys(s3_client) == set()
    collate(engine, s3_client, DAY, now=lambda: T(2021, 6, 15, 16, 30))


def test_a_crash_after_the_upload_is_settled_by_the_next_run(engine, s3_client, letters, monkeypatch):
    """The database update of the third file fails after its upload: the run stops. The next run finds the
    marker, sees the ZIP in the bucket, marks its letters sending, and sends no letter twice."""
    calls = []
    real = collate_module.mark_sending

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(collate_module, "mark_sending", crash_on_third)
    with pytest.raises(RuntimeError, match="went away"):
        collate(engine, s3_client, DAY)
    monkeypatch.setattr(collate_module, "mark_sending", real)
    markers = [k for k in print_bucket_keys(s3_client) if k.startswith(pf.IN_FLIGHT_PREFIX)]
    assert len(markers) == 1
    stranded = pf.zip_key_of_in_flight(markers[0])
    stranded_ids = {uuid.UUID(e["id"]) for e in print_files(s3_client)[stranded]["manifest"]["letters"]}
    assert {s for s, _, _ in statuses(engine, stranded_ids).values()} == {"created"}
    uploaded_at = s3_client.head_object(Bucket=TEST_PRINT_BUCKET, Key=stranded)["LastModified"]

    result = collate(engine, s3_client, DAY)
    assert result.settled.completed == [stranded] and result.settled.letters_marked == len(stranded_ids)
    assert Counter(letters_in_files(print_files(s3_client))) == Counter(letters["due"])
    for status, sent_by, sent_at in statuses(engine, stranded_ids).values():
        assert (status, sent_by) == ("sending", "dvla")
        assert sent_at == uploaded_at.replace(tzinfo=None, microsecond=0) or abs(
            (sent_at - uploaded_at.astimezone(dt.timezone.utc).replace(tzinfo=None)).total_seconds()) < 1
    assert not [k for k in print_bucket_keys(s3_client) if k.startswith(pf.IN_FLIGHT_PREFIX)]
    assert result.day_volumes.letters == 15


def test_a_crash_before_the_upload_is_undone_by_the_next_run(engine, s3_client, letters, monkeypatch):
    """The upload of the second file fails: its marker and manifest are there, its ZIP is not. The next run deletes
    the manifest and collates those letters again."""
    calls = []
    real = collate_module.upload_print_file

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("S3 went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(collate_module, "upload_print_file", fail_second)
    with pytest.raises(ConnectionError):
        collate(engine, s3_client, DAY)
    monkeypatch.setattr(collate_module, "upload_print_file", real)
    keys = print_bucket_keys(s3_client)
    orphans = [k for k in keys if k.endswith(pf.MANIFEST_SUFFIX) and pf.zip_key_of_manifest(k) not in keys]
    assert len(orphans) == 1

    result = collate(engine, s3_client, DAY)
    assert result.settled.abandoned == [pf.zip_key_of_manifest(orphans[0])]
    keys = print_bucket_keys(s3_client)
    assert all(pf.zip_key_of_manifest(k) in keys for k in keys if k.endswith(pf.MANIFEST_SUFFIX))
    files = print_files(s3_client)
    assert Counter(letters_in_files(files)) == Counter(letters["due"])
    assert {s for s, _, _ in statuses(engine, letters["due"]).values()} == {"sending"}
    # The same letters in the same place give the same file name: the file that never left is written as it would
    # have been.
    assert pf.zip_key_of_manifest(orphans[0]) in files
    assert len(files) == 10 and result.day_files == 10


def test_a_letter_with_a_folder_after_the_deadline_is_found_at_its_api_key(engine, s3_client):
    """A letter created after 17:30 on the 14th sits in the 15th's PDF folder, and is due on the 15th."""
    with engine.begin() as conn:
        template = letter_template(conn)
        late = add_letter(conn, template, T(2021, 6, 14, 17, 0))  # 18:00 BST
    keys = put_pdfs(s3_client, letter_rows(engine))
    assert keys[late].startswith("2021-06-15/")
    collate(engine, s3_client, DAY)
    assert letters_in_files(print_files(s3_client)) == [late]


def test_pdf_keys_are_the_apis(letters, engine):
    row = letter_rows(engine, N.id == sorted(letters["due"])[0])[0]
    assert letters["keys"][row.id] == letter_pdf_filename(row.reference, row.created_at, row.postage)
    assert collate_module._pdf_key(collate_module.LetterToPrint(
        row.id, row.reference, row.created_at, row.postage, 1, row.service_id, None)) == letters["keys"][row.id]


def test_deadline_used_is_the_days(engine, s3_client, letters):
    result = collate(engine, s3_client, DAY)
    assert result.deadline == print_deadline(DAY) == T(2021, 6, 15, 16, 30)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(N.notification_status == "sending")).scalar() == 15
