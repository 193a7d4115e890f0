"""What an agency keeps on its own disk: private files and folders (``bus.state.private``),
the one way every store opens and uses SQLite (``bus.state.sqlite``), and its local store
(:class:`LocalStore`: its chains, the chains it read, what it dealt with, its ledger and
the receipts it is owed)."""

from __future__ import annotations

from bus.state.store import ChainHead, LedgerEntry, LocalStore, PendingReceipt, ReceiptNote, Seen

__all__ = ["ChainHead", "LedgerEntry", "LocalStore", "PendingReceipt", "ReceiptNote", "Seen"]
