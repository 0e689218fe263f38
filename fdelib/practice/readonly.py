"""The lessons opened read-only (``fde lab --solutions``): a JupyterLab contents manager.

Every file and folder is reported not writable, so JupyterLab marks an open notebook
"read-only", disables Save and never autosaves; a save, rename or delete that gets through
anyway is refused with a message saying where to practise. The server imports this module
by name (``--ServerApp.contents_manager_class``); nothing else in fdelib imports it.
"""

from __future__ import annotations

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web

REFUSED = (
    "These are the lessons with their solutions, opened read-only (`fde lab --solutions`): "
    "practise in your copies instead, `fde lab`."
)


class ReadOnlyLessons(AsyncLargeFileManager):
    """Files served as they are, none of them writable."""

    async def get(self, path, content=True, type=None, format=None, require_hash=False):
        model = await super().get(path, content=content, type=type, format=format, require_hash=require_hash)
        model["writable"] = False
        if model.get("type") == "directory" and model.get("content"):
            for entry in model["content"]:
                entry["writable"] = False
        return model

    async def save(self, model, path=""):
        raise web.HTTPError(403, REFUSED)

    async def delete_file(self, path):
        raise web.HTTPError(403, REFUSED)

    async def rename_file(self, old_path, new_path):
        raise web.HTTPError(403, REFUSED)
