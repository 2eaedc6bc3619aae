"""Email sources: IMAP mailboxes (``imap.ImapSource``) and local Maildirs (``maildir.MaildirSource``), one parser."""

from ._message import Part, payload_from_bytes

__all__ = ["Part", "payload_from_bytes"]
