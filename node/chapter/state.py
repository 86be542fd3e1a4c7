"""The app's keys for the chapter's parts: its store, its state in force, the closer, the join limiter."""

from __future__ import annotations

from aiohttp import web

from node.chapter.settings import ChapterBox
from storage.chapter import ChapterStore

CHAPTER_STORE = web.AppKey("chapter_store", ChapterStore)
CHAPTER = web.AppKey("chapter", ChapterBox)
