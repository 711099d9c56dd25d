"""all_items: every item of a listing, page after page, read only as far as the caller goes."""

from __future__ import annotations

from modules_store import MAX_PAGE_LIMIT, Page, SqlStore, all_items


class Listing:
    """A listing of `size` numbers that records the pages asked for."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.asked: list[tuple[int, int]] = []

    def __call__(self, *, offset: int, limit: int) -> Page[int]:
        self.asked.append((offset, limit))
        items = list(range(offset, min(offset + limit, self.size)))
        return Page(items=items, total=self.size, offset=offset, limit=limit)


def test_every_page_is_read_in_order() -> None:
    listing = Listing(2 * MAX_PAGE_LIMIT + 1)
    assert list(all_items(listing)) == list(range(2 * MAX_PAGE_LIMIT + 1))
    assert listing.asked == [(offset, MAX_PAGE_LIMIT) for offset in (0, MAX_PAGE_LIMIT, 2 * MAX_PAGE_LIMIT)]


def test_an_empty_listing_is_one_call() -> None:
    listing = Listing(0)
    assert list(all_items(listing)) == []
    assert listing.asked == [(0, MAX_PAGE_LIMIT)]


def test_stopping_early_reads_no_further_page() -> None:
    listing = Listing(3 * MAX_PAGE_LIMIT)
    assert next(item for item in all_items(listing) if item == 5) == 5
    assert listing.asked == [(0, MAX_PAGE_LIMIT)]


def test_a_listing_that_shrinks_meanwhile_ends() -> None:
    def shrunk(*, offset: int, limit: int) -> Page[int]:  # claims a total its pages do not hold
        return Page(items=[], total=10, offset=offset, limit=limit)

    assert list(all_items(shrunk)) == []


def test_arguments_and_filters_reach_the_store(store: SqlStore) -> None:
    queued = store.create_job("train")
    store.create_job("calibrate")
    claimed = store.create_job("train")
    assert store.claim_job("w", job_id=claimed.id) is not None
    assert list(all_items(store.list_jobs, status="queued", kind="train")) == [queued]
