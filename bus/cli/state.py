"""``silian state backup | restore``: an agency's state folder, copied online and put back.

``backup`` works while ``silian serve`` runs (:mod:`bus.state.backup`); ``restore``
verifies the archive first, refuses a folder in use or not empty (unless ``--force``) and
fences the store's chains (:mod:`bus.state.restore`). docs/cli.md says what a restore
does not do: rewind the agency's consumer groups before ``serve`` starts again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agencies import KNOWN_AGENCIES
from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.settings import add_agency_argument, add_state_argument, agency_code, state_dir
from bus.state.backup import Manifest, back_up
from bus.state.restore import Restored, restore

__all__ = ["register"]

_AFTER_RESTORE = (
    "before serve starts: rewind this agency's consumer groups to the earliest offsets "
    "(docs/cli.md, 'After a restore')"
)


def register(sub: Any) -> None:
    state = sub.add_parser("state", help="back up an agency's state folder (online) and restore it")
    s_sub = state.add_subparsers(dest="state_command", metavar="ACTION", required=True)

    backup = s_sub.add_parser(
        "backup",
        help="copy every SQLite database of <state>/<agency>/ into one archive, while serve runs",
        description="Copy every SQLite database of <state>/<agency>/ with SQLite's online "
        "backup (serve may go on writing) into one tar archive with a manifest (sizes, "
        "SHA-256, the ledger's rows, the chain heads). The archive is 0600: it holds "
        "decrypted content. The copy of the store is fenced: it continues no chain.",
    )
    add_agency_argument(backup)
    add_state_argument(backup)
    backup.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="the archive to write (.tar)"
    )
    backup.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(backup)
    backup.set_defaults(func=_backup)

    back = s_sub.add_parser(
        "restore",
        help="verify a backup, then put its databases into <state>/<agency>/ with its "
        "chains fenced",
        description="Verify the archive (every file's size and SHA-256, SQLite's integrity "
        "check), refuse a state folder a process has open or that is not empty (unless "
        "--force: its databases are moved to before-restore-<time>/), then put the "
        "databases in place. The store's publishers start new chains, so nothing already "
        "signed is signed again. Then rewind the agency's consumer groups (docs/cli.md).",
    )
    back.add_argument(
        "--from",
        dest="archive",
        type=Path,
        required=True,
        metavar="FILE",
        help="an archive written by silian state backup",
    )
    add_state_argument(back)
    add_agency_argument(
        back,
        what="the backup must be this agency's (default $SILIAN_AGENCY; neither: the "
        "manifest's agency)",
    )
    back.add_argument(
        "--force",
        action="store_true",
        help="restore into a folder that is not empty: its databases are moved aside",
    )
    back.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(back)
    back.set_defaults(func=_restore)


def _progress(args: argparse.Namespace, verb: str) -> Any:
    if args.quiet:
        return None

    def say(line: str) -> None:
        print(f"silian: state {verb}: {line}", file=sys.stderr, flush=True)

    return say


def _who(code: str) -> str:
    known = KNOWN_AGENCIES.get(code)
    return known.display if known else code


def _backup(args: argparse.Namespace) -> int:
    agency = agency_code(args.agency)
    folder = state_dir(args.state) / agency
    manifest = back_up(folder, args.out, agency=agency, progress=_progress(args, "backup"))
    if args.json:
        emit_json({"archive": str(args.out), **manifest.model_dump(mode="json")})
        return ExitCode.OK
    print(f"state of {_who(agency)} → {args.out} ({manifest.created})")
    for file in manifest.files:
        print(f"  {file.name:<24} {file.kind:<10} {file.size:>12,} B  sha256 {file.sha256}")
    _print_store(manifest)
    if manifest.left_out:
        print(f"  not copied (not SQLite databases): {', '.join(manifest.left_out)}")
    return ExitCode.OK


def _print_store(manifest: Manifest) -> None:
    store = manifest.store
    if store is None:
        print("  no local store in this folder")
        return
    print(f"  ledger: {store.ledger_rows} events; chains: {len(store.chain_heads)}")
    for publisher, base in sorted(store.fenced_publishers.items()):
        print(f"  publisher {publisher}: chains {base}.p* fenced in the copy")


def _restore(args: argparse.Namespace) -> int:
    restored = restore(
        args.archive,
        state_dir(args.state),
        agency=agency_code(args.agency, required=False),
        force=args.force,
        progress=_progress(args, "restore"),
    )
    if not args.quiet:
        print(f"silian: state restore: {_AFTER_RESTORE}", file=sys.stderr)
    if args.json:
        emit_json(_restored_json(args.archive, restored))
        return ExitCode.OK
    manifest = restored.manifest
    print(
        f"state of {_who(manifest.agency)} from {args.archive} ({manifest.created}) "
        f"→ {restored.folder}"
    )
    print(f"  restored: {', '.join(restored.files)}")
    if manifest.store is not None:
        print(f"  ledger: {manifest.store.ledger_rows} events")
    for publisher, base in sorted(restored.fenced.items()):
        print(f"  publisher {publisher}: chains {base}.p* fenced; it starts new chains")
    if restored.moved_aside is not None:
        print(f"  the databases that were there: moved to {restored.moved_aside}")
    if restored.kept:
        print(f"  left as they were: {', '.join(restored.kept)}")
    return ExitCode.OK


def _restored_json(archive: Path, restored: Restored) -> dict[str, Any]:
    manifest = restored.manifest
    return {
        "archive": str(archive),
        "agency": manifest.agency,
        "created": manifest.created,
        "folder": str(restored.folder),
        "files": restored.files,
        "ledger_rows": None if manifest.store is None else manifest.store.ledger_rows,
        "fenced": restored.fenced,
        "moved_aside": None if restored.moved_aside is None else str(restored.moved_aside),
        "kept": restored.kept,
        "next": _AFTER_RESTORE,
    }
